"""Planning a file-set: the patient / study / series tree, File IDs and directory records.

Instances are grouped by Patient ID, Study Instance UID and Series Instance UID, ordered by
date and number, and given File IDs ``DICOM/PTnnnnnn/STnnnnnn/SEnnnnnn/IMnnnnnn`` (PS3.10 8.2
and 8.5: upper-case letters, digits and ``_``, at most 8 characters per component and
8 components). Type 1 record keys the instances leave empty are filled in the records by the
rules of :mod:`~izer.dispatch.media.records`, each fill noted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from pydicom.dataset import Dataset

from izer.dispatch.media.dicomdir import RecordNode
from izer.dispatch.media.profiles import MediaProfile
from izer.dispatch.media.records import (
    Filler,
    first_valued,
    leaf_record,
    leaf_record_type,
    patient_record,
    series_record,
    settle_character_set,
    study_record,
)

#: First component of every File ID: the DICOM files live under ``DICOM/`` (IHE PDI).
DICOM_FOLDER = "DICOM"
_REQUIRED_UIDS = ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID")


@dataclass
class PlannedInstance:
    """One instance, where it comes from and where it goes."""

    source: Path
    header: Dataset
    size: int
    file_id: tuple[str, ...] = ()


@dataclass
class _Series:
    instances: list[PlannedInstance] = field(default_factory=list)


@dataclass
class _Study:
    series: dict[str, _Series] = field(default_factory=dict)

    @property
    def headers(self) -> list[Dataset]:
        return [item.header for series in self.series.values() for item in series.instances]


@dataclass
class _Patient:
    patient_id: str
    name: str
    studies: dict[str, _Study] = field(default_factory=dict)

    @property
    def first(self) -> Dataset:
        return next(iter(self.studies.values())).headers[0]


@dataclass
class Plan:
    """The tree of records and the File ID of every instance."""

    roots: list[RecordNode]
    instances: list[PlannedInstance]
    notes: list[str]
    patients: int
    studies: int
    series: int


def _text(header: Dataset, keyword: str) -> str:
    return str(header.get(keyword, "") or "").strip()


def _number(value: object) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def _name(header: Dataset) -> str:
    return _text(header, "PatientName").rstrip("^ ")


def plan_fileset(instances: Sequence[PlannedInstance], profile: MediaProfile) -> Plan:
    """Group, order and name ``instances`` and build their directory records.

    Raises
    ------
    ValueError
        For an instance without its UIDs, the same SOP Instance UID twice, one Patient ID
        with different Patient Names, a study under two patients or a series in two studies.
    """
    patients = _group(instances)
    notes: list[str] = []
    filler = Filler(notes)
    roots: list[RecordNode] = []
    ordered: list[PlannedInstance] = []
    counts = [0, 0]
    invented = 0
    for p_index, patient in enumerate(sorted(patients.values(), key=_patient_order)):
        patient_id = patient.patient_id
        if not patient_id:
            invented += 1
            patient_id = f"IZERPAT{invented:06d}"
            filler.note(
                f"patient {patient.name or '(no name)'}: Patient ID empty; the PATIENT record "
                f"uses {patient_id}"
            )
        patient_node = RecordNode(
            settle_character_set(patient_record(patient.first, patient_id, profile))
        )
        roots.append(patient_node)
        studies = sorted(patient.studies.items(), key=lambda item: _study_order(item[1]))
        for s_index, (study_uid, study) in enumerate(studies):
            counts[0] += 1
            values = _study_values(study_uid, study, s_index + 1, filler)
            study_node = RecordNode(settle_character_set(study_record(study.headers[0], values)))
            patient_node.children.append(study_node)
            numbers = _numbers(
                [(uid, series.instances[0].header) for uid, series in study.series.items()],
                "SeriesNumber",
            )
            series_list = sorted(study.series.items(), key=lambda item: (numbers[item[0]], item[0]))
            for se_index, (series_uid, series) in enumerate(series_list):
                counts[1] += 1
                first = series.instances[0].header
                number = numbers[series_uid]
                if not _text(first, "SeriesNumber"):
                    filler.note(
                        f"series {series_uid}: Series Number empty; the SERIES record uses "
                        f"{number} (after the highest number in its study)"
                    )
                modality = first_valued([i.header for i in series.instances], ("Modality",))
                if not modality:
                    modality = "OT"
                    filler.note(f"series {series_uid}: Modality empty; the SERIES record uses OT")
                series_node = RecordNode(
                    settle_character_set(series_record(first, modality, str(number), profile))
                )
                study_node.children.append(series_node)
                prefix = (DICOM_FOLDER, f"PT{p_index:06d}", f"ST{s_index:06d}", f"SE{se_index:06d}")
                _leaves(series, series_node, prefix, profile, filler, ordered)
    return Plan(roots, ordered, notes, len(roots), counts[0], counts[1])


def _leaves(
    series: _Series,
    node: RecordNode,
    prefix: tuple[str, ...],
    profile: MediaProfile,
    filler: Filler,
    ordered: list[PlannedInstance],
) -> None:
    numbers = _numbers(
        [(i.header.SOPInstanceUID, i.header) for i in series.instances], "InstanceNumber"
    )
    instances = sorted(
        series.instances,
        key=lambda item: (numbers[item.header.SOPInstanceUID], str(item.header.SOPInstanceUID)),
    )
    for index, item in enumerate(instances):
        header = item.header
        number = numbers[header.SOPInstanceUID]
        if not _text(header, "InstanceNumber"):
            filler.note(
                f"instance {header.SOPInstanceUID}: Instance Number empty; its record uses "
                f"{number} (after the highest number in its series)"
            )
        try:
            kind = leaf_record_type(header)
        except ValueError as error:
            raise ValueError(f"{item.source}: {error}") from error
        record = leaf_record(header, kind, str(number), profile, filler)
        item.file_id = (*prefix, f"IM{index:06d}")
        meta = header.file_meta
        record.ReferencedFileID = list(item.file_id)
        record.ReferencedSOPClassUIDInFile = (
            meta.get("MediaStorageSOPClassUID") or header.SOPClassUID
        )
        record.ReferencedSOPInstanceUIDInFile = (
            meta.get("MediaStorageSOPInstanceUID") or header.SOPInstanceUID
        )
        record.ReferencedTransferSyntaxUIDInFile = meta.TransferSyntaxUID
        node.children.append(RecordNode(settle_character_set(record)))
        ordered.append(item)


def _numbers(keyed: list[tuple[str, Dataset]], keyword: str) -> dict[str, int]:
    """The number of each entity: its own, else one after the highest given (in UID order)."""
    given = {key: _number(header.get(keyword, "")) for key, header in keyed}
    highest = max((value for value in given.values() if value is not None), default=0)
    result: dict[str, int] = {}
    for key in sorted(given):
        value = given[key]
        if value is None:
            highest += 1
            value = highest
        result[key] = value
    return result


def _study_values(uid: str, study: _Study, ordinal: int, filler: Filler) -> dict[str, str]:
    headers = study.headers
    values = {
        "StudyDate": first_valued(headers, ("StudyDate",)),
        "StudyTime": first_valued(headers, ("StudyTime",)),
        "StudyID": first_valued(headers, ("StudyID",)),
    }
    if not values["StudyDate"]:
        fallback = ("SeriesDate", "AcquisitionDate", "ContentDate", "InstanceCreationDate")
        values["StudyDate"] = first_valued(headers, fallback) or date.today().strftime("%Y%m%d")
        filler.note(
            f"study {uid}: Study Date empty; the STUDY record uses {values['StudyDate']} (the "
            "first of Series, Acquisition, Content or Instance Creation Date, else today)"
        )
    if not values["StudyTime"]:
        fallback = ("SeriesTime", "AcquisitionTime", "ContentTime", "InstanceCreationTime")
        values["StudyTime"] = first_valued(headers, fallback) or "000000"
        filler.note(
            f"study {uid}: Study Time empty; the STUDY record uses {values['StudyTime']} (the "
            "first of Series, Acquisition, Content or Instance Creation Time, else 000000)"
        )
    if not values["StudyID"]:
        values["StudyID"] = str(ordinal)
        filler.note(
            f"study {uid}: Study ID empty; the STUDY record uses {ordinal}, the study's number "
            "among its patient's studies on this medium"
        )
    return values


def _patient_order(patient: _Patient) -> tuple[bool, str, str]:
    return (not patient.patient_id, patient.patient_id, patient.name)


def _study_order(study: _Study) -> tuple[str, str, str]:
    first = study.headers[0]
    return (_text(first, "StudyDate"), _text(first, "StudyTime"), str(first.StudyInstanceUID))


def _group(instances: Sequence[PlannedInstance]) -> dict[tuple[str, ...], _Patient]:
    patients: dict[tuple[str, ...], _Patient] = {}
    seen: dict[str, Path] = {}
    study_owner: dict[str, tuple[str, ...]] = {}
    series_owner: dict[str, str] = {}
    for item in instances:
        header = item.header
        missing = [keyword for keyword in _REQUIRED_UIDS if not _text(header, keyword)]
        if missing:
            raise ValueError(f"{item.source} has no {', '.join(missing)}; it cannot go on media")
        sop_uid = str(header.SOPInstanceUID)
        if sop_uid in seen:
            raise ValueError(
                f"{seen[sop_uid]} and {item.source} hold the same SOP Instance UID {sop_uid}; "
                "give each instance once"
            )
        seen[sop_uid] = item.source
        patient_id, name = _text(header, "PatientID"), _name(header)
        key = (
            ("id", patient_id) if patient_id else ("name", name, _text(header, "PatientBirthDate"))
        )
        patient = patients.setdefault(key, _Patient(patient_id, name))
        if patient.name != name:
            raise ValueError(
                f"Patient ID {patient_id} has two Patient Names, {patient.name!r} and {name!r} "
                f"({item.source}); reconcile the instances before putting them on one medium"
            )
        study_uid, series_uid = str(header.StudyInstanceUID), str(header.SeriesInstanceUID)
        if study_owner.setdefault(study_uid, key) != key:
            raise ValueError(
                f"study {study_uid} belongs to two patients ({item.source}); reconcile first"
            )
        if series_owner.setdefault(series_uid, study_uid) != study_uid:
            raise ValueError(f"series {series_uid} belongs to two studies ({item.source})")
        study = patient.studies.setdefault(study_uid, _Study())
        study.series.setdefault(series_uid, _Series()).instances.append(item)
    return patients
