"""What a disc, stick or folder holds: its DICOM files by patient, study and series.

A DICOMDIR at the root (PS3.10 8.6, PS3.3 F.3 Basic Directory IOD) says which files belong
to the file-set: those are read and nothing else. Its Referenced File IDs (0004,1500) are
relative to the DICOMDIR's folder, one component per value (PS3.10 8.5); on a disc mounted
with lower-case names or ISO 9660 version suffixes (``;1``) they are found all the same.
Without a DICOMDIR every file below the folder is tried: a DICOM file is a Part-10 file, the
128-byte preamble followed by ``DICM`` (PS3.10 7.1); others (a viewer, README.TXT) are left.

Only headers are read, never Pixel Data. What cannot be used (missing or unreadable files,
a broken DICOMDIR) is reported in :attr:`MediaScan.notes`, in words, never silently.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from izer.model import Patient, Sex

#: Media Storage Directory Storage SOP Class: the DICOMDIR itself (PS3.4 Annex B).
DICOMDIR_CLASS = "1.2.840.10008.1.3.10"
#: The DICOMDIR's file name (PS3.10 8.6).
DICOMDIR_NAME = "DICOMDIR"
#: Offsets linking directory records (PS3.3 F.3.2.2).
_NEXT_OFFSET = "OffsetOfTheNextDirectoryRecord"
_LOWER_OFFSET = "OffsetOfReferencedLowerLevelDirectoryEntity"
_FIRST_OFFSET = "OffsetOfTheFirstDirectoryRecordOfTheRootDirectoryEntity"

#: The attributes a scan reads from each file (plus the File Meta Information).
_TAGS = [
    "SpecificCharacterSet",
    "SOPClassUID",
    "SOPInstanceUID",
    "StudyDate",
    "StudyTime",
    "AccessionNumber",
    "Modality",
    "InstitutionName",
    "StudyDescription",
    "PatientName",
    "PatientID",
    "IssuerOfPatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "StudyID",
]

#: How many file names a note lists before "and N more".
_SHOWN = 5


class MediaError(ValueError):
    """Nothing importable at the path given (the message says what was found instead)."""


@dataclass(frozen=True)
class MediaInstance:
    """One DICOM file of the media, identified by its header."""

    path: Path
    sop_class_uid: str
    sop_instance_uid: str
    series_instance_uid: str
    study_instance_uid: str
    transfer_syntax_uid: str
    modality: str
    size: int


@dataclass(frozen=True)
class MediaStudy:
    """One study on the media, as its files describe it.

    ``patient`` and the study attributes come from its first file; ``files`` are its DICOM
    files (``instances`` the same with their UIDs), ``series`` the number of series and
    ``size`` the bytes of all files. ``missing`` lists the files the DICOMDIR gives for this
    study that are absent or unreadable: such a study is incomplete. ``institution`` is the
    Institution Name (0008,0080) of its first file that has one.
    """

    patient: Patient
    study_uid: str
    study_date: str
    description: str
    accession: str
    modalities: tuple[str, ...]
    files: tuple[Path, ...]
    series: int
    size: int
    study_time: str = ""
    study_id: str = ""
    institution: str = ""
    instances: tuple[MediaInstance, ...] = field(default=(), repr=False)
    missing: tuple[str, ...] = ()

    @property
    def complete(self) -> bool:
        """True when every file the media lists for this study could be read."""
        return not self.missing


@dataclass(frozen=True)
class MediaPatient:
    """A patient of the media (by Patient ID, issuer and name) and their studies."""

    patient: Patient
    studies: tuple[MediaStudy, ...]


class MediaScan(list[MediaStudy]):
    """The studies found (a list, oldest first), with where they came from and the notes.

    Attributes
    ----------
    root
        The folder scanned (the DICOMDIR's folder when there is one).
    dicomdir
        The DICOMDIR read, or ``None`` for a folder scan.
    notes
        What could not be used and why, one sentence each.
    """

    def __init__(
        self,
        studies: Iterable[MediaStudy],
        *,
        root: Path,
        dicomdir: Path | None,
        notes: Iterable[str] = (),
    ) -> None:
        super().__init__(studies)
        self.root = root
        self.dicomdir = dicomdir
        self.notes: tuple[str, ...] = tuple(notes)

    def patients(self) -> list[MediaPatient]:
        """The studies grouped by patient, in the order of their first study."""
        groups: dict[tuple[str, str, str], list[MediaStudy]] = {}
        for study in self:
            key = (study.patient.patient_id, study.patient.issuer, study.patient.name)
            groups.setdefault(key, []).append(study)
        return [MediaPatient(studies[0].patient, tuple(studies)) for studies in groups.values()]

    def study(self, uid_or_number: str) -> MediaStudy:
        """A study by its Study Instance UID or its number in the list (from 1).

        Raises
        ------
        ValueError
            When there is no such study (the message lists the numbers there are).
        """
        text = uid_or_number.strip()
        if text.isdigit() and 1 <= int(text) <= len(self):
            return self[int(text) - 1]
        for study in self:
            if study.study_uid == text:
                return study
        raise ValueError(
            f"no study {text!r} on the media; give its number (1 to {len(self)}) "
            "or its Study Instance UID"
        )


def _text(ds: Dataset, keyword: str) -> str:
    value = ds.get(keyword, "")
    if value is None:
        return ""
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return "\\".join(str(v) for v in value)
    return str(value).strip()


def _sex(value: str) -> Sex:
    try:
        return Sex(value.strip().upper())
    except ValueError:
        return Sex.UNKNOWN


def _is_part10(path: Path) -> bool:
    """A preamble of 128 bytes followed by ``DICM`` (PS3.10 7.1)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:] == b"DICM"


@dataclass(frozen=True)
class _Header:
    instance: MediaInstance
    patient: Patient
    study_date: str
    study_time: str
    study_id: str
    description: str
    accession: str
    institution: str


def read_header(path: Path) -> _Header:
    """Read the identifying attributes of one Part-10 file (no Pixel Data).

    Raises
    ------
    MediaError
        When the file is no Part-10 DICOM file, is a DICOMDIR, or lacks a Study, Series or
        SOP Instance UID.
    """
    if not _is_part10(path):
        raise MediaError(f"{path}: not a DICOM file (no DICM prefix, PS3.10 7.1)")
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=_TAGS)
    except (InvalidDicomError, OSError, ValueError, EOFError, LookupError, struct.error) as exc:
        raise MediaError(f"{path}: unreadable DICOM file ({exc})") from exc
    meta = ds.file_meta
    sop_class = str(ds.get("SOPClassUID", "") or meta.get("MediaStorageSOPClassUID", ""))
    if sop_class == DICOMDIR_CLASS:
        raise MediaError(f"{path}: a DICOMDIR, not an instance")
    uids = {k: _text(ds, k) for k in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")}
    absent = [keyword for keyword, value in uids.items() if not value]
    if absent:
        raise MediaError(f"{path}: no {', '.join(absent)}; it cannot be imported")
    try:
        name = _text(ds, "PatientName")
    except (UnicodeError, ValueError, LookupError) as exc:
        raise MediaError(f"{path}: Patient's Name cannot be decoded ({exc})") from exc
    patient = Patient(
        patient_id=_text(ds, "PatientID"),
        name=name,
        birth_date=_text(ds, "PatientBirthDate"),
        sex=_sex(_text(ds, "PatientSex")),
        issuer=_text(ds, "IssuerOfPatientID"),
    )
    instance = MediaInstance(
        path=path,
        sop_class_uid=sop_class,
        sop_instance_uid=uids["SOPInstanceUID"],
        series_instance_uid=uids["SeriesInstanceUID"],
        study_instance_uid=uids["StudyInstanceUID"],
        transfer_syntax_uid=str(meta.get("TransferSyntaxUID", "")),
        modality=_text(ds, "Modality"),
        size=path.stat().st_size,
    )
    return _Header(
        instance=instance,
        patient=patient,
        study_date=_text(ds, "StudyDate"),
        study_time=_text(ds, "StudyTime"),
        study_id=_text(ds, "StudyID"),
        description=_text(ds, "StudyDescription"),
        accession=_text(ds, "AccessionNumber"),
        institution=_text(ds, "InstitutionName"),
    )


# -- the DICOMDIR ---------------------------------------------------------------------------------


def find_dicomdir(folder: Path) -> Path | None:
    """The DICOMDIR at the root of ``folder`` (any case, with or without ``;1``)."""
    for entry in _entries(folder):
        if _plain_name(entry.name) == DICOMDIR_NAME and entry.is_file():
            return entry
    return None


def _entries(folder: Path) -> list[Path]:
    try:
        return sorted(folder.iterdir())
    except OSError:
        return []


def _plain_name(name: str) -> str:
    """A name as ISO 9660 writes it, compared: upper case, without ``;1`` or a final dot."""
    return name.split(";")[0].rstrip(".").upper()


def resolve_file_id(root: Path, components: Iterable[str]) -> Path | None:
    """The file a Referenced File ID names under ``root``, or ``None`` when it is not there.

    Each component is looked up as written, then ignoring case and ``;1`` suffixes.
    """
    current = root
    for component in components:
        exact = current / component
        if exact.exists():
            current = exact
            continue
        wanted = _plain_name(component)
        found = [entry for entry in _entries(current) if _plain_name(entry.name) == wanted]
        if len(found) != 1:
            return None
        current = found[0]
    return current if current.is_file() else None


@dataclass(frozen=True)
class _Reference:
    """A file the DICOMDIR references, and the study its record sits under (if known)."""

    file_id: tuple[str, ...]
    study_uid: str


def _file_id(record: Dataset) -> tuple[str, ...]:
    value = record.get("ReferencedFileID")
    if value in (None, ""):
        return ()
    if isinstance(value, str):
        return tuple(part for part in value.split("\\") if part)
    return tuple(str(part) for part in value)


def read_dicomdir(path: Path) -> tuple[list[_Reference], list[str]]:
    """The files a DICOMDIR references, with their study, and notes on what is wrong in it.

    The record hierarchy (PS3.3 F.3.2.2) gives each file its STUDY record; when the offsets
    are broken every record with a Referenced File ID is still taken.

    Raises
    ------
    MediaError
        When the DICOMDIR cannot be read, or references no file at all.
    """
    try:
        ds = pydicom.dcmread(path)
    except (InvalidDicomError, OSError, ValueError, EOFError) as exc:
        raise MediaError(f"{path}: the DICOMDIR cannot be read ({exc})") from exc
    records = list(ds.get("DirectoryRecordSequence", None) or [])
    notes: list[str] = []
    parents = _record_parents(ds, records, notes, path)
    references: list[_Reference] = []
    for index, record in enumerate(records):
        file_id = _file_id(record)
        if not file_id:
            continue
        study_uid = ""
        seen: set[int] = set()
        current: int | None = index
        while current is not None and current not in seen:
            seen.add(current)
            if _text(records[current], "DirectoryRecordType") == "STUDY":
                study_uid = _text(records[current], "StudyInstanceUID")
                break
            current = parents.get(current)
        references.append(_Reference(file_id, study_uid))
    if not references:
        raise MediaError(f"{path}: the DICOMDIR references no file (an empty file-set)")
    return references, notes


def _record_parents(
    ds: Dataset, records: list[Dataset], notes: list[str], path: Path
) -> dict[int, int]:
    """Index of each record's parent record, from the offsets (PS3.3 Table F.3-3)."""
    by_offset = {getattr(r, "seq_item_tell", None): i for i, r in enumerate(records)}
    parents: dict[int, int] = {}
    broken = False
    for index, record in enumerate(records):
        lower = _number(record, _LOWER_OFFSET)
        child = by_offset.get(lower)
        if lower and child is None:
            broken = True
        seen: set[int] = set()
        while child is not None and child not in seen:
            seen.add(child)
            parents[child] = index
            following = _number(records[child], _NEXT_OFFSET)
            child = by_offset.get(following) if following else None
            if following and child is None:
                broken = True
    if records and by_offset.get(_number(ds, _FIRST_OFFSET)) is None:
        broken = True
    if broken:
        notes.append(
            f"{path}: the DICOMDIR's record offsets are broken; its files are read all the "
            "same, each by its own header"
        )
    return parents


def _number(ds: Dataset, keyword: str) -> int | None:
    value = ds.get(keyword)
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


# -- scanning ------------------------------------------------------------------------------------


def _listed(paths: list[str]) -> str:
    shown = ", ".join(paths[:_SHOWN])
    return shown + (f" and {len(paths) - _SHOWN} more" if len(paths) > _SHOWN else "")


def _every_file(folder: Path) -> Iterator[Path]:
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            yield path


def scan_media(path: Path) -> MediaScan:
    """List the studies of a disc, stick or folder (see the module documentation).

    ``path`` is a folder (its DICOMDIR is used when it has one), a DICOMDIR, or one DICOM
    file.

    Raises
    ------
    MediaError
        When there is nothing to import: no such path, an empty folder, no DICOM file at
        all, or a DICOMDIR whose files are all missing (the message says which).
    """
    path = Path(path)
    if not path.exists():
        raise MediaError(f"{path}: no such file or folder")
    notes: list[str] = []
    headers: list[_Header] = []
    expected: dict[str, list[str]] = {}  # study UID -> files the DICOMDIR lists but lacks
    dicomdir: Path | None = None
    if path.is_file() and _plain_name(path.name) != DICOMDIR_NAME:
        root = path.parent
        headers.append(read_header(path))
    else:
        root = path if path.is_dir() else path.parent
        dicomdir = path if path.is_file() else find_dicomdir(root)
        if dicomdir is not None:
            _read_file_set(dicomdir, root, headers, expected, notes)
        else:
            _read_folder(root, headers, notes)
    return MediaScan(_studies(headers, expected, notes), root=root, dicomdir=dicomdir, notes=notes)


def _read_file_set(
    dicomdir: Path,
    root: Path,
    headers: list[_Header],
    expected: dict[str, list[str]],
    notes: list[str],
) -> None:
    references, problems = read_dicomdir(dicomdir)
    notes.extend(problems)
    missing: list[str] = []
    unreadable: list[str] = []
    for reference in references:
        shown = "/".join(reference.file_id)
        target = resolve_file_id(root, reference.file_id)
        if target is None:
            missing.append(shown)
            expected.setdefault(reference.study_uid, []).append(shown)
            continue
        try:
            headers.append(read_header(target))
        except MediaError as exc:
            unreadable.append(str(exc))
            expected.setdefault(reference.study_uid, []).append(shown)
    if missing:
        notes.append(
            f"the DICOMDIR references {len(missing)} file(s) that are not on the media: "
            f"{_listed(missing)}"
        )
    notes.extend(unreadable)
    if not headers:
        raise MediaError(
            f"{dicomdir}: none of the {len(references)} file(s) the DICOMDIR references "
            "can be read" + (f"; missing: {_listed(missing)}" if missing else "")
        )


def _read_folder(root: Path, headers: list[_Header], notes: list[str]) -> None:
    files = list(_every_file(root))
    if not files:
        raise MediaError(f"{root}: the folder holds no files")
    other: list[str] = []
    for file in files:
        if not _is_part10(file):
            other.append(file.relative_to(root).as_posix())
            continue
        try:
            headers.append(read_header(file))
        except MediaError as exc:
            if "a DICOMDIR" not in str(exc):
                notes.append(str(exc))
    if other:
        notes.append(f"{len(other)} file(s) are not DICOM and were left: {_listed(other)}")
    if not headers:
        raise MediaError(
            f"{root}: no DICOM file among its {len(files)} file(s) (a DICOM file starts with "
            "a 128-byte preamble and DICM, PS3.10 7.1)"
        )


def _studies(
    headers: list[_Header], expected: dict[str, list[str]], notes: list[str]
) -> list[MediaStudy]:
    groups: dict[str, list[_Header]] = {}
    seen: dict[str, Path] = {}
    doubles: list[str] = []
    for header in headers:
        uid = header.instance.sop_instance_uid
        if uid in seen:
            doubles.append(f"{header.instance.path} (same instance as {seen[uid]})")
            continue
        seen[uid] = header.instance.path
        groups.setdefault(header.instance.study_instance_uid, []).append(header)
    if doubles:
        notes.append(f"{len(doubles)} file(s) hold an instance already read: {_listed(doubles)}")
    unknown = expected.get("", [])
    if unknown:
        notes.append(
            f"{len(unknown)} missing or unreadable file(s) cannot be placed in a study; "
            "every study may be incomplete"
        )
    studies: list[MediaStudy] = []
    for study_uid, members in groups.items():
        first = members[0]
        patients = {(h.patient.patient_id, h.patient.name) for h in members}
        if len(patients) > 1:
            notes.append(
                f"study {study_uid}: its files name {len(patients)} different patients; "
                f"the first file's ({first.patient.name}, {first.patient.patient_id}) is shown"
            )
        modalities = tuple(
            dict.fromkeys(h.instance.modality for h in members if h.instance.modality)
        )
        studies.append(
            MediaStudy(
                patient=first.patient,
                study_uid=study_uid,
                study_date=first.study_date,
                description=first.description,
                accession=first.accession,
                modalities=modalities,
                files=tuple(h.instance.path for h in members),
                series=len({h.instance.series_instance_uid for h in members}),
                size=sum(h.instance.size for h in members),
                study_time=first.study_time,
                study_id=first.study_id,
                institution=next((h.institution for h in members if h.institution), ""),
                instances=tuple(h.instance for h in members),
                missing=tuple(expected.get(study_uid, ())),
            )
        )
    for study_uid, lost in expected.items():
        if study_uid and study_uid not in groups:
            notes.append(
                f"study {study_uid}: all {len(lost)} of its file(s) are missing or unreadable"
            )
    studies.sort(key=lambda s: (s.study_date, s.study_time, s.patient.name, s.study_uid))
    return studies
