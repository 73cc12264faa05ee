"""Made-up Modality Worklist items written as ``.wl`` files for wlmscpfs and Orthanc."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

#: SOP Class UID of the Modality Worklist Information Model - FIND.
MWL_FIND_UID = "1.2.840.10008.5.1.4.31"


@dataclass(frozen=True)
class WorklistItem:
    """One scheduled procedure step; all values are invented test data."""

    patient_id: str
    accession: str
    patient_name: str
    modality: str = "ES"
    birth_date: str = "19700101"
    sex: str = "O"
    procedure_description: str = "Test endoscopy"
    scheduled_time: str = "090000"


#: Items every started peer set serves (one non-ASCII name, the others Latin).
DEFAULT_WORKLIST_ITEMS: tuple[WorklistItem, ...] = (
    WorklistItem("IZT-0001", "IZACC0001", "Müller^Jürgen", birth_date="19610315", sex="M"),
    WorklistItem("IZT-0002", "IZACC0002", "Doe^Jane", birth_date="19840722", sex="F"),
    WorklistItem(
        "IZT-0003",
        "IZACC0003",
        "Ødegård^Åse Françoise",
        birth_date="19921105",
        sex="F",
        scheduled_time="103000",
    ),
)


def write_worklist_item(
    path: Path,
    patient_id: str,
    accession: str,
    station_aet: str,
    modality: str,
    patient_name: str,
    *,
    birth_date: str = "19700101",
    sex: str = "O",
    scheduled_date: str | None = None,
    scheduled_time: str = "090000",
    procedure_description: str = "Test endoscopy",
    study_instance_uid: str | None = None,
    requested_procedure_id: str | None = None,
    step_id: str | None = None,
    performing_physician: str = "Test^Doctor",
) -> Dataset:
    """Write one worklist item as a DICOM file (UTF-8, Explicit VR Little Endian).

    The attribute set is complete enough for ``wlmscpfs -efr`` and for Orthanc's
    worklist plugin.

    Parameters
    ----------
    path
        Target ``.wl`` file; parent folders are created.
    patient_id, accession, station_aet, modality, patient_name
        Core matching keys; *station_aet* becomes Scheduled Station AE Title.
    birth_date, sex
        Patient demographics.
    scheduled_date, scheduled_time
        ``YYYYMMDD`` (defaults to today) and ``HHMMSS`` of the procedure step.
    procedure_description
        Requested procedure and step description.
    study_instance_uid, requested_procedure_id, step_id
        Generated or derived from *accession* when omitted.
    performing_physician
        Scheduled Performing Physician's Name.

    Returns
    -------
    Dataset
        The dataset that was written.

    """
    step = Dataset()
    step.Modality = modality
    step.ScheduledStationAETitle = station_aet
    step.ScheduledProcedureStepStartDate = scheduled_date or dt.date.today().strftime("%Y%m%d")
    step.ScheduledProcedureStepStartTime = scheduled_time
    step.ScheduledProcedureStepID = step_id or f"SPS{accession}"
    step.ScheduledProcedureStepDescription = procedure_description
    step.ScheduledPerformingPhysicianName = performing_physician

    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.PatientName = patient_name
    ds.PatientID = patient_id
    ds.PatientBirthDate = birth_date
    ds.PatientSex = sex
    ds.AccessionNumber = accession
    ds.ReferencedStudySequence = []
    ds.ReferencedPatientSequence = []
    ds.StudyInstanceUID = study_instance_uid or generate_uid()
    ds.RequestedProcedureID = requested_procedure_id or f"RP{accession}"
    ds.RequestedProcedureDescription = procedure_description
    ds.ScheduledProcedureStepSequence = [step]

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MWL_FIND_UID
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return ds


def write_default_worklist(
    folder: Path,
    station_aet: str,
    items: tuple[WorklistItem, ...] = DEFAULT_WORKLIST_ITEMS,
) -> list[Path]:
    """Write *items* into *folder* as ``<accession>.wl`` files and return their paths."""
    paths = []
    for item in items:
        path = Path(folder) / f"{item.accession}.wl"
        write_worklist_item(
            path,
            item.patient_id,
            item.accession,
            station_aet,
            item.modality,
            item.patient_name,
            birth_date=item.birth_date,
            sex=item.sex,
            scheduled_time=item.scheduled_time,
            procedure_description=item.procedure_description,
        )
        paths.append(path)
    return paths


def write_worklist_item_in(
    path: Path, character_set: str | list[str] | None, **kwargs: object
) -> Dataset:
    """Write one worklist item (as `write_worklist_item`) encoded in ``character_set``.

    ``None`` writes no Specific Character Set at all: pydicom then writes text as Latin-1
    bytes, which is what a careless RIS sends. Returns the dataset that was written.
    """
    ds = write_worklist_item(path, **kwargs)  # type: ignore[arg-type]
    _forget_encoded_text(ds)
    if character_set is None:
        del ds.SpecificCharacterSet
    else:
        ds.SpecificCharacterSet = character_set
    ds.save_as(path, enforce_file_format=True)
    return ds


def _forget_encoded_text(ds: Dataset) -> None:
    """Make pydicom encode text afresh (a read or written PersonName keeps its old bytes)."""
    for element in ds:
        if element.VR == "SQ":
            for item in element.value:
                _forget_encoded_text(item)
        elif element.VR == "PN" and element.value is not None:
            element.value = str(element.value)


def mislabel_character_set(path: Path, written: str, claimed: str) -> None:
    """Rewrite the (0008,0005) value of a written file without re-encoding its text.

    Makes a file whose bytes do not decode in the set it declares; both values must have the
    same length (e.g. ``ISO_IR 100`` written, ``ISO_IR 192`` claimed).
    """
    if len(written) != len(claimed):
        raise ValueError("written and claimed character set terms must have the same length")
    data = Path(path).read_bytes()
    if data.count(written.encode()) != 1:
        raise ValueError(f"{path}: expected {written!r} exactly once")
    Path(path).write_bytes(data.replace(written.encode(), claimed.encode()))


def write_many_worklist_items(
    folder: Path,
    count: int,
    station_aet: str,
    *,
    modality: str = "ES",
    scheduled_date: str | None = None,
    prefix: str = "IZBULK",
) -> list[Path]:
    """Write ``count`` made-up items fast (one template dataset, values changed per file).

    Accessions are ``<prefix><n:06d>``, patient IDs ``<prefix>-<n>``; files ``<accession>.wl``.
    """
    template_path = Path(folder) / f"{prefix}-template.tmp"
    template = write_worklist_item(
        template_path,
        f"{prefix}-0",
        f"{prefix}000000",
        station_aet,
        modality,
        "Bulk^Template",
        scheduled_date=scheduled_date,
    )
    template_path.unlink()
    step = template.ScheduledProcedureStepSequence[0]
    paths = []
    for number in range(1, count + 1):
        accession = f"{prefix}{number:06d}"
        template.PatientID = f"{prefix}-{number}"
        template.PatientName = f"Bulk^Patient {number}"
        template.AccessionNumber = accession
        template.StudyInstanceUID = f"2.25.{int.from_bytes(accession.encode(), 'big')}"
        template.RequestedProcedureID = f"RP{number}"
        template.file_meta.MediaStorageSOPInstanceUID = f"{template.StudyInstanceUID}.1"
        step.ScheduledProcedureStepID = f"SPS{number}"
        step.ScheduledProcedureStepStartTime = f"{8 + number % 10:02d}{number % 60:02d}00"
        path = Path(folder) / f"{accession}.wl"
        template.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths
