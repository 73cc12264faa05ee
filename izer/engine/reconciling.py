"""Patient reconciliation: correct the demographics of the local instances of one study.

An emergency or unscheduled study is captured under a temporary identity and corrected later.
Every instance keeps its SOP Instance UID: a correction of the header is not a new instance
(PS3.3 C.12.1.1.9: errors may be corrected "without changing the SOP Instance UID or creating
a derived Instance", also outside a transfer, e.g. IHE Patient Information Reconciliation).
What was replaced is recorded in one new item of the Original Attributes Sequence (0400,0561)
(PS3.3 C.12.1.1.9, Table C.12.1.1.9-1), earlier items preserved.

Files are rewritten without reading Pixel Data: the header is read up to Pixel Data, changed,
written to a temporary file in the store, and the rest of the original file (Pixel Data and
whatever follows it) is copied after it byte for byte; the copy is checked, then renamed over
the original (:meth:`izer.store.StudyStore.replace_instance`). An instance that fails keeps
its original file.
"""

from __future__ import annotations

import copy
import enum
import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import pydicom
from pydicom import config as pydicom_config
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import DeflatedExplicitVRLittleEndian
from pydicom.valuerep import validate_value

from izer.encode import recipes
from izer.encode.charset import CharacterSetError, check_encodable
from izer.engine.capturing import CAPTURING_STATES
from izer.model import InstanceRecord, Patient, Procedure, Sex
from izer.store import StoreError

if TYPE_CHECKING:
    from izer.engine.core import Engine

#: Where a character set cannot hold a corrected value, the instance moves to UTF-8.
UNIVERSAL_CHARACTER_SET = "ISO_IR 192"

_COPY_CHUNK = 1 << 20


class ModificationReason(enum.StrEnum):
    """Reason for the Attribute Modification (0400,0565), PS3.3 C.12.1.1.9 (Table C.12.1.1.9-1).

    ``COERCE``: replaced to fit the local environment (e.g. a media import taking the local
    Patient ID); ``CORRECT``: replaced because the values were wrong (reconciliation).
    """

    COERCE = "COERCE"
    CORRECT = "CORRECT"

    @classmethod
    def from_text(cls, text: str) -> ModificationReason:
        """``correct`` / ``coerce`` in any case."""
        try:
            return cls(text.strip().upper())
        except ValueError:
            names = ", ".join(member.value.lower() for member in cls)
            raise ValueError(f"unknown modification reason {text!r}; use one of: {names}") from None


@dataclass(frozen=True)
class AttributeChange:
    """One attribute of one instance: its keyword, old value (``None``: absent) and new value
    (``None``: removed)."""

    keyword: str
    old: str | None
    new: str | None


@dataclass(frozen=True)
class InstanceReconciled:
    """An instance rewritten with the corrected demographics.

    ``character_set_from`` is the Specific Character Set it had when it had to move to
    ISO_IR 192 for a new value to fit, otherwise ``None``.
    """

    sop_instance_uid: str
    path: Path
    changes: tuple[AttributeChange, ...]
    character_set_from: str | None = None


@dataclass(frozen=True)
class ReconcileFailure:
    """An instance left as it was, and why."""

    sop_instance_uid: str
    path: Path
    reason: str


@dataclass
class ReconcileReport:
    """What :func:`reconcile_study` did, instance by instance."""

    study_instance_uid: str
    reconciled: list[InstanceReconciled] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: list[ReconcileFailure] = field(default_factory=list)
    procedures: list[Procedure] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no instance failed."""
        return not self.failed


def reconcile_study(
    engine: Engine,
    study_uid: str,
    patient: Patient,
    *,
    accession_number: str | None = None,
    reason: ModificationReason = ModificationReason.CORRECT,
    modifying_system: str = "izer",
    source_of_previous_values: str = "",
) -> ReconcileReport:
    """Give every local instance of ``study_uid`` the demographics of ``patient``.

    Patient's Name, Patient ID, Issuer of Patient ID, Birth Date and Sex (and Accession
    Number when given) are set; the values they replace go into a new Original Attributes
    Sequence item (see :func:`correct_dataset`). Instances already holding these values are
    left alone. The procedures of the study take the new patient too.

    Parameters
    ----------
    source_of_previous_values
        Source of Previous Values (0400,0564), type 2: empty for instances made here.

    Raises
    ------
    ValueError
        Before any file is touched: a value too long or malformed, no such study, or the
        study is being captured (stop or review it first).
    """
    reason = ModificationReason(reason)
    check_correction(patient, accession_number, modifying_system, source_of_previous_values)
    instances = engine.store.instances(study_uid)
    if not instances:
        raise ValueError(f"there is no study {study_uid} in the local store")
    active = engine.procedure
    if active is not None and active.study_uid == study_uid and active.state in CAPTURING_STATES:
        raise ValueError(
            f"study {study_uid} is being captured ({active.state.value}); "
            "review or discontinue it before reconciling"
        )
    report = ReconcileReport(study_uid)
    stamp = modification_datetime()
    for record in instances:
        try:
            outcome = _reconcile_instance(
                engine,
                record,
                patient,
                accession_number,
                reason,
                modifying_system,
                source_of_previous_values,
                stamp,
            )
        except (OSError, StoreError, InvalidDicomError, ValueError, EOFError) as exc:
            report.failed.append(ReconcileFailure(record.sop_instance_uid, record.path, str(exc)))
            continue
        if outcome is None:
            report.unchanged.append(record.sop_instance_uid)
        else:
            report.reconciled.append(outcome)
    report.procedures = engine.store.set_study_patient(
        study_uid, patient, accession_number=accession_number
    )
    _refresh_active_procedure(engine, report.procedures)
    return report


def check_correction(
    patient: Patient,
    accession_number: str | None,
    modifying_system: str,
    source_of_previous_values: str = "",
) -> None:
    """Refuse values that cannot be written (PS3.5 6.2), naming the attribute.

    The character set is not a limit: an instance moves to ISO_IR 192 when needed.
    """
    if not patient.patient_id.strip():
        raise ValueError("PatientID: a reconciled patient needs a Patient ID")
    if not modifying_system.strip():
        raise ValueError("ModifyingSystem: must not be empty (type 1, PS3.3 C.12.1.1.9)")
    recipes.check_identity(patient, accession_number or "", "", UNIVERSAL_CHARACTER_SET)
    for keyword, value in (
        ("IssuerOfPatientID", patient.issuer),
        ("ModifyingSystem", modifying_system),
        ("SourceOfPreviousValues", source_of_previous_values),
    ):
        try:
            validate_value("LO", value, pydicom_config.RAISE)
        except ValueError as exc:
            raise ValueError(f"{keyword} {value!r}: {str(exc).split('. Please see')[0]}") from None
    Sex(patient.sex)


def modification_datetime(now: datetime | None = None) -> str:
    """Attribute Modification DateTime (0400,0562): local time with its UTC offset (DT)."""
    moment = (now or datetime.now()).astimezone()
    return moment.strftime("%Y%m%d%H%M%S.%f%z")


def new_values(patient: Patient, accession_number: str | None) -> dict[str, str]:
    """The attribute values a reconciliation sets, by keyword."""
    values = {
        "PatientName": patient.name,
        "PatientID": patient.patient_id,
        "IssuerOfPatientID": patient.issuer,
        "PatientBirthDate": patient.birth_date,
        "PatientSex": Sex(patient.sex).value,
    }
    if accession_number is not None:
        values["AccessionNumber"] = accession_number
    return values


#: Type 3 attributes: removed (not emptied) when the new value is empty.
_OPTIONAL = frozenset({"IssuerOfPatientID"})


def correct_dataset(
    ds: Dataset,
    values: dict[str, str],
    *,
    reason: ModificationReason,
    modifying_system: str,
    source_of_previous_values: str = "",
    modified_at: str | None = None,
) -> tuple[tuple[AttributeChange, ...], str | None]:
    """Set ``values`` in ``ds`` and record what they replace (PS3.3 C.12.1.1.9).

    One item is appended to the Original Attributes Sequence (0400,0561): the Modified
    Attributes Sequence (0400,0550) with the previous values of exactly the attributes that
    changed (zero length for those that were absent, PS3.3 C.12.1.1.9.1), plus Issuer of
    Patient ID whenever Patient ID changed, as C.12.1.1.9 advises; Attribute Modification
    DateTime, Modifying System, Source of Previous Values and the reason. Instance Coercion
    DateTime (0008,0015) is set to the same time (PS3.3 C.12.1). When the Specific Character
    Set cannot hold a new value, it becomes ISO_IR 192 (every text value then written in
    UTF-8). Nothing is changed when no value differs.

    ``ds`` must have its text values decoded with its original character set
    (:meth:`pydicom.dataset.Dataset.decode`).

    Returns
    -------
    changes, character_set_from
        The changes (empty: ``ds`` untouched), and the former Specific Character Set when
        it had to change.
    """
    changes: list[AttributeChange] = []
    for keyword, value in values.items():
        old = _value_text(ds, keyword)
        new: str | None = value if value or keyword not in _OPTIONAL else None
        if (old or "") == (new or ""):
            continue  # absent and empty are the same value (PS3.5 7.4)
        changes.append(AttributeChange(keyword, old, new))
    if not changes:
        return (), None
    recorded = {change.keyword for change in changes}
    if "PatientID" in recorded:
        recorded.add("IssuerOfPatientID")
    modified = Dataset()
    for keyword in sorted(recorded, key=_tag):
        if keyword in ds:
            modified.add(copy.deepcopy(ds.data_element(keyword)))
        else:
            modified.add(DataElement(_tag(keyword), _vr(keyword), None))
    stamp = modified_at or modification_datetime()
    item = Dataset()
    item.AttributeModificationDateTime = stamp
    item.ModifyingSystem = modifying_system
    item.SourceOfPreviousValues = source_of_previous_values
    item.ReasonForTheAttributeModification = ModificationReason(reason).value
    item.ModifiedAttributesSequence = [modified]
    written = {change.keyword: change.new or "" for change in changes}
    written["ModifyingSystem"] = modifying_system
    written["SourceOfPreviousValues"] = source_of_previous_values
    character_set_from = _switch_character_set_if_needed(ds, written)
    for change in changes:
        if change.new is None:
            del ds[change.keyword]
        else:
            setattr(ds, change.keyword, change.new)
    if "OriginalAttributesSequence" in ds:
        ds.OriginalAttributesSequence.append(item)
    else:
        ds.OriginalAttributesSequence = [item]
    ds.InstanceCoercionDateTime = stamp
    check_encodable(ds)
    return tuple(changes), character_set_from


def _switch_character_set_if_needed(ds: Dataset, values: dict[str, str]) -> str | None:
    """Move ``ds`` to ISO_IR 192 when its set cannot hold a new value; the former set.

    The new values are tried on a scratch data set: checking a Person Name caches its
    encoded form, which must not happen under a set that is then given up.
    """
    probe = Dataset()
    if "SpecificCharacterSet" in ds:
        probe.SpecificCharacterSet = ds.SpecificCharacterSet
    for keyword, value in values.items():
        if value:
            setattr(probe, keyword, value)
    try:
        check_encodable(probe)
    except CharacterSetError:
        former = ds.get("SpecificCharacterSet", "ISO_IR 6")
        ds.SpecificCharacterSet = UNIVERSAL_CHARACTER_SET
        return "\\".join(former) if isinstance(former, list) else str(former)
    return None


def _tag(keyword: str) -> int:
    tag = tag_for_keyword(keyword)
    assert tag is not None, keyword
    return tag


def _vr(keyword: str) -> str:
    return dictionary_VR(_tag(keyword))


def _value_text(ds: Dataset, keyword: str) -> str | None:
    if keyword not in ds:
        return None
    value = ds[keyword].value
    return "" if value is None else str(value)


# -- rewriting one file ---------------------------------------------------------------------------


def _reconcile_instance(
    engine: Engine,
    record: InstanceRecord,
    patient: Patient,
    accession_number: str | None,
    reason: ModificationReason,
    modifying_system: str,
    source: str,
    stamp: str,
) -> InstanceReconciled | None:
    values = new_values(patient, accession_number)
    outcome: list[tuple[tuple[AttributeChange, ...], str | None]] = []

    def edit(header: Dataset) -> bool:
        if header.get("SOPInstanceUID") != record.sop_instance_uid:
            raise StoreError(f"{record.path}: holds another SOP Instance than the index says")
        outcome.append(
            correct_dataset(
                header,
                values,
                reason=reason,
                modifying_system=modifying_system,
                source_of_previous_values=source,
                modified_at=stamp,
            )
        )
        return bool(outcome[0][0])

    def check(ds: Dataset) -> None:
        if ds.get("SOPInstanceUID") != record.sop_instance_uid:
            raise StoreError(f"{temporary}: read back another SOP Instance UID than was written")
        for keyword, value in values.items():
            if (_value_text(ds, keyword) or "") != value:
                raise StoreError(f"{temporary}: {keyword} did not read back as {value!r}")

    temporary = engine.store.scratch_path(f"reconcile-{record.path.name}")
    if not rewrite_header(record.path, temporary, edit, check=check):
        return None
    try:
        engine.store.replace_instance(record.sop_instance_uid, temporary)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    changes, character_set_from = outcome[0]
    return InstanceReconciled(record.sop_instance_uid, record.path, changes, character_set_from)


def rewrite_header(
    source: Path,
    target: Path,
    edit: Callable[[Dataset], bool],
    *,
    check: Callable[[Dataset], None] | None = None,
) -> bool:
    """Write ``source`` to the new file ``target`` with its header changed by ``edit``.

    The header is read up to Pixel Data (nothing of it decoded or decompressed) and its text
    decoded with its own character set; ``edit`` changes it in place and returns whether it
    changed anything (``False``: ``target`` is not written). The header is written to
    ``target``, the rest of ``source`` (Pixel Data and whatever follows it) is copied after it
    byte for byte, and the file is fsync'ed and read back: its header must end where the
    copied bytes start, ``check`` (given the header read back) must pass, and the copied
    bytes must read back the same. A deflated file (one deflate stream) is read and written
    whole. ``target`` is then ready for :meth:`izer.store.StudyStore.replace_instance` or
    :meth:`~izer.store.StudyStore.adopt_file` (make it with
    :meth:`~izer.store.StudyStore.scratch_path`).

    Raises
    ------
    StoreError
        When the copy does not read back as written (``target`` is removed); whatever
        ``edit`` and ``check`` raise, and ``OSError``/``InvalidDicomError`` for an unreadable
        ``source``. ``source`` is never changed.
    """
    with open(source, "rb") as original:
        header = pydicom.dcmread(original, stop_before_pixels=True)
        tail_offset = original.tell()
        deflated = header.file_meta.get("TransferSyntaxUID") == DeflatedExplicitVRLittleEndian
        if deflated:  # the whole data set is one deflate stream: no tail to copy
            original.seek(0)
            header = pydicom.dcmread(original)
            tail_offset = original.seek(0, os.SEEK_END)
        header.decode()
        if not edit(header):
            return False
        try:
            with open(target, "xb") as out:
                header.save_as(out, enforce_file_format=True)
                new_tail_offset = out.tell()
                original.seek(tail_offset)
                digest = _copy(original, out)
                out.flush()
                os.fsync(out.fileno())
            _verify(target, new_tail_offset, digest, check)
        except BaseException:
            target.unlink(missing_ok=True)
            raise
    return True


def _copy(source: BinaryIO, target: BinaryIO) -> str:
    """Copy the rest of ``source`` into ``target``; the digest of what was copied."""
    digest = hashlib.blake2b(digest_size=16)
    while chunk := source.read(_COPY_CHUNK):
        digest.update(chunk)
        target.write(chunk)
    return digest.hexdigest()


def _verify(
    path: Path, tail_offset: int, digest: str, check: Callable[[Dataset], None] | None
) -> None:
    """Read the rewritten file back: its header, ``check``, Pixel Data bytes unchanged."""
    with open(path, "rb") as written:
        ds = pydicom.dcmread(written, stop_before_pixels=True)
        deflated = ds.file_meta.get("TransferSyntaxUID") == DeflatedExplicitVRLittleEndian
        if not deflated and written.tell() != tail_offset:
            raise StoreError(f"{path}: the header does not end where Pixel Data starts")
        if check is not None:
            check(ds)
        written.seek(tail_offset)
        if _copy(written, _Discard()) != digest:
            raise StoreError(f"{path}: Pixel Data did not read back byte for byte")


class _Discard:
    """A binary sink for :func:`_copy` when only the digest matters."""

    def write(self, data: bytes) -> int:
        return len(data)


def _refresh_active_procedure(engine: Engine, procedures: list[Procedure]) -> None:
    """The engine's active procedure takes the new patient (events announce it)."""
    current = engine.procedure
    if current is not None and any(p.procedure_id == current.procedure_id for p in procedures):
        engine.refresh_procedure()


__all__ = [
    "AttributeChange",
    "InstanceReconciled",
    "ModificationReason",
    "ReconcileFailure",
    "ReconcileReport",
    "check_correction",
    "correct_dataset",
    "modification_datetime",
    "new_values",
    "reconcile_study",
    "rewrite_header",
]
