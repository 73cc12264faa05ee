"""Reading a file-set back from its DICOMDIR, and checking it against the files on disk.

The DICOMDIR's records are followed by their offsets from the root (PS3.3 F.3.2.1); a record
offset that points nowhere, a loop, or a DICOMDIR that is not one makes the file-set broken.
A DICOMDIR does not say which media profile it was made for, so the profile of a file-set
read back is inferred from its records.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import MediaStorageDirectoryStorage

from izer.dispatch.media.profiles import (
    KeySet,
    MediaProfile,
    Medium,
    ProfileChoice,
    choose_profile,
)
from izer.dispatch.media.report import (
    DICOMDIR_NAME,
    FileSetEntry,
    FileSetReport,
    conformant_file_id,
    is_part10,
    read_header,
)

#: Media tried, in order, when the profile of a file-set read back is inferred.
_INFER_ORDER = (Medium.CD, Medium.DVD, Medium.BD, Medium.USB)


@dataclass
class _Loaded:
    dicomdir: Path
    dataset: Dataset
    leaves: list[tuple[Dataset, tuple[str, ...]]] = field(default_factory=list)
    patient_ids: list[str] = field(default_factory=list)
    studies: int = 0
    series: int = 0
    orphans: int = 0


def find_dicomdir(root: Path) -> Path:
    """The DICOMDIR at the root of ``root`` (any letter case, as on some mounted discs).

    Raises
    ------
    ValueError
        When ``root`` is not a folder or holds no DICOMDIR.
    """
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"{root} is not a folder")
    exact = root / DICOMDIR_NAME
    if exact.is_file():
        return exact
    for candidate in sorted(root.iterdir()):
        if candidate.is_file() and _plain(candidate.name) == DICOMDIR_NAME:
            return candidate
    raise ValueError(f"{root} has no DICOMDIR; it is not a DICOM file-set")


def _plain(name: str) -> str:
    """An ISO 9660 name without its ``;1`` version and trailing dot, upper-cased."""
    return name.split(";", 1)[0].rstrip(".").upper()


def _load(root: Path) -> _Loaded:
    dicomdir = find_dicomdir(root)
    try:
        ds = dcmread(dicomdir)
        sop_class = ds.file_meta.get("MediaStorageSOPClassUID")
        records = list(ds.get("DirectoryRecordSequence") or [])
    except (InvalidDicomError, OSError, ValueError, EOFError, AttributeError) as error:
        raise ValueError(f"{dicomdir} cannot be read as a DICOMDIR: {error}") from error
    if sop_class != MediaStorageDirectoryStorage:
        raise ValueError(
            f"{dicomdir} is not a DICOMDIR (Media Storage SOP Class {sop_class or 'missing'})"
        )
    if "OffsetOfTheFirstDirectoryRecordOfTheRootDirectoryEntity" not in ds:
        raise ValueError(f"{dicomdir} lacks the offset of its first directory record")
    by_offset = {getattr(record, "seq_item_tell", None): record for record in records}
    loaded = _Loaded(dicomdir, ds)
    visited: set[int] = set()
    first = int(ds.OffsetOfTheFirstDirectoryRecordOfTheRootDirectoryEntity)
    for record in _chain(first, by_offset, visited, dicomdir):
        _collect(record, by_offset, visited, loaded, dicomdir)
    loaded.orphans = sum(
        1
        for record in records
        if getattr(record, "seq_item_tell", None) not in visited
        and int(record.get("RecordInUseFlag", 0xFFFF)) != 0
    )
    return loaded


def _chain(
    offset: int, by_offset: dict[int | None, Dataset], visited: set[int], dicomdir: Path
) -> Iterator[Dataset]:
    while offset:
        record = by_offset.get(offset)
        if record is None:
            raise ValueError(
                f"{dicomdir} is broken: a record offset ({offset}) points to no record"
            )
        if offset in visited:
            raise ValueError(f"{dicomdir} is broken: its record offsets loop at {offset}")
        visited.add(offset)
        yield record
        offset = int(record.get("OffsetOfTheNextDirectoryRecord", 0) or 0)


def _collect(
    record: Dataset,
    by_offset: dict[int | None, Dataset],
    visited: set[int],
    loaded: _Loaded,
    dicomdir: Path,
) -> None:
    if int(record.get("RecordInUseFlag", 0xFFFF)) == 0:
        return  # inactive (PS3.3 F.3.2.2): neither it nor what is below it counts
    kind = str(record.get("DirectoryRecordType", ""))
    if kind == "PATIENT":
        loaded.patient_ids.append(str(record.get("PatientID", "")))
    elif kind == "STUDY":
        loaded.studies += 1
    elif kind == "SERIES":
        loaded.series += 1
    if "ReferencedFileID" in record:
        value = record.ReferencedFileID
        parts = [value] if isinstance(value, str) else list(value)
        loaded.leaves.append((record, tuple(str(part) for part in parts)))
    lower = int(record.get("OffsetOfReferencedLowerLevelDirectoryEntity", 0) or 0)
    for child in _chain(lower, by_offset, visited, dicomdir):
        _collect(child, by_offset, visited, loaded, dicomdir)


def locate(root: Path, file_id: tuple[str, ...]) -> Path | None:
    """The file a File ID names, matching letter case, ``;1`` and trailing dots loosely."""
    path = Path(root).joinpath(*file_id)
    if path.is_file():
        return path
    current = Path(root)
    for part in file_id:
        if not current.is_dir():
            return None
        match = next((c for c in current.iterdir() if _plain(c.name) == part.upper()), None)
        if match is None:
            return None
        current = match
    return current if current.is_file() else None


def read_fileset(root: Path, *, medium: Medium | None = None) -> FileSetReport:
    """Read the file-set at ``root`` back from its DICOMDIR.

    Parameters
    ----------
    medium
        The medium it is on, for inferring its profile; None tries CD, DVD, BD then USB.

    Raises
    ------
    ValueError
        With the reason, when there is no DICOMDIR or it is broken.
    """
    root = Path(root)
    loaded = _load(root)
    entries = []
    notes = []
    for record, file_id in loaded.leaves:
        found = locate(root, file_id)
        if found is None:
            notes.append(f"{'/'.join(file_id)} is referenced but missing")
        entries.append(
            FileSetEntry(
                source=found or root.joinpath(*file_id),
                file_id=file_id,
                sop_instance_uid=str(record.get("ReferencedSOPInstanceUIDInFile", "")),
                size=found.stat().st_size if found else 0,
            )
        )
    if loaded.orphans:
        notes.append(f"{loaded.orphans} record(s) in use but not reachable from the root")
    choice = _infer_profile([record for record, _ in loaded.leaves], medium)
    return FileSetReport(
        root=root,
        profile=choice.profile,
        choice=choice,
        entries=entries,
        dicomdir=loaded.dicomdir,
        fileset_id=str(loaded.dataset.get("FileSetID", "") or ""),
        notes=notes,
        patients=len(loaded.patient_ids),
        studies=loaded.studies,
        series=loaded.series,
    )


def _infer_profile(leaves: list[Dataset], medium: Medium | None) -> ProfileChoice:
    if not leaves:
        return ProfileChoice(MediaProfile.GENERAL, "the DICOMDIR references no files", {})
    headers = []
    for record in leaves:
        header = Dataset()
        header.file_meta = Dataset()
        header.file_meta.TransferSyntaxUID = record.get("ReferencedTransferSyntaxUIDInFile", "")
        header.SOPClassUID = record.get("ReferencedSOPClassUIDInFile", "")
        header.SOPInstanceUID = record.get("ReferencedSOPInstanceUIDInFile", "")
        headers.append(header)
    has_sizes = all(
        "Rows" in record and "Columns" in record
        for record in leaves
        if record.get("DirectoryRecordType") == "IMAGE"
    )
    for candidate in (medium,) if medium is not None else _INFER_ORDER:
        choice = choose_profile(headers, candidate)
        profile = choice.profile
        if profile.is_standard and (profile.keys is KeySet.CD or has_sizes):
            reason = f"inferred from the records (a DICOMDIR names no profile): {choice.reason}"
            return ProfileChoice(profile, reason, {})
    return ProfileChoice(
        MediaProfile.GENERAL, "inferred from the records: no PS3.11 profile fits them", {}
    )


def check_fileset(root: Path) -> list[str]:
    """Problems of the file-set at ``root``; an empty list when it is clean.

    Checked: the DICOMDIR can be read and followed; every referenced file exists under its
    exact File ID, is the instance (SOP Instance UID, transfer syntax) the record says, and
    its File ID is conformant (PS3.10 8.2, 8.5); every DICOM file under ``root`` is
    referenced; no non-DICOM file sits in the DICOM folders; Patient IDs are unique per
    PATIENT record (PS3.11 D.3.3 and the like); no record in use is unreachable.
    """
    root = Path(root)
    try:
        loaded = _load(root)
    except ValueError as error:
        return [str(error)]
    problems: list[str] = []
    referenced: set[Path] = set()
    for record, file_id in loaded.leaves:
        shown = "\\".join(file_id)
        if not conformant_file_id(file_id):
            problems.append(
                f"File ID {shown} is not conformant (1 to 8 components of 1 to 8 of A-Z, 0-9, _)"
            )
        path = root.joinpath(*file_id)
        if not path.is_file():
            problems.append(f"{shown} is referenced by the DICOMDIR but missing")
            continue
        referenced.add(path.resolve())
        problems.extend(_compare(record, path, shown))
    folders = {file_id[0] for _record, file_id in loaded.leaves if len(file_id) > 1}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if path == loaded.dicomdir or path.resolve() in referenced:
            continue
        relative = path.relative_to(root)
        if is_part10(path):
            problems.append(
                f"{relative.as_posix()} is a DICOM file the DICOMDIR does not reference"
            )
        elif relative.parts[0] in folders:
            problems.append(f"{relative.as_posix()} is not DICOM but sits in a DICOM folder")
    duplicates = sorted({pid for pid in loaded.patient_ids if loaded.patient_ids.count(pid) > 1})
    problems.extend(f"Patient ID {pid} has more than one PATIENT record" for pid in duplicates)
    if loaded.orphans:
        problems.append(f"{loaded.orphans} record(s) in use are not reachable from the root")
    return problems


def _compare(record: Dataset, path: Path, shown: str) -> list[str]:
    try:
        header = read_header(path)
    except ValueError as error:
        return [f"{shown}: {error}"]
    problems = []
    pairs = (
        ("ReferencedSOPInstanceUIDInFile", "MediaStorageSOPInstanceUID", "SOP Instance UID"),
        ("ReferencedSOPClassUIDInFile", "MediaStorageSOPClassUID", "SOP Class UID"),
        ("ReferencedTransferSyntaxUIDInFile", "TransferSyntaxUID", "Transfer Syntax UID"),
    )
    for in_record, in_file, label in pairs:
        expected, actual = str(record.get(in_record, "")), str(header.file_meta.get(in_file, ""))
        if expected != actual:
            problems.append(f"{shown}: the record says {label} {expected}, the file {actual}")
    return problems
