"""Building, reading and checking a DICOM file-set: DICOMDIR plus the files it references.

A file-set (PS3.10 Section 8) is built in ``<root>.part`` and renamed to ``<root>`` when
complete, so a failure leaves nothing behind. Instances are copied byte for byte, in chunks
(``copy_file_range`` where the kernel has it), never decoded or read whole into memory; the
DICOMDIR is written last, under a temporary name first.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

from pydicom.uid import generate_uid

from izer.dispatch.media.dicomdir import encode_dicomdir
from izer.dispatch.media.plan import PlannedInstance, plan_fileset
from izer.dispatch.media.profiles import MediaProfile, Medium, choose_profile
from izer.dispatch.media.reading import check_fileset, read_fileset
from izer.dispatch.media.report import (
    DICOMDIR_NAME,
    FileSetEntry,
    FileSetReport,
    conformant_file_id,
    read_header,
)

#: File-set ID (0004,1130): CS, at most 16 characters (PS3.5 6.2).
_FILESET_ID = re.compile(r"[A-Z0-9_ ]{0,16}")
_CHUNK = 16 << 20
_NO_COPY_RANGE = {errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.EPERM}

Progress = Callable[[int, int], None]


def build_fileset(
    instances: Sequence[Path],
    root: Path,
    *,
    medium: Medium = Medium.CD,
    profile: MediaProfile | None = None,
    fileset_id: str = "IZER",
    progress: Progress | None = None,
) -> FileSetReport:
    """Write ``instances`` as a file-set under ``root`` with a DICOMDIR (PS3.10 8, PS3.11).

    Parameters
    ----------
    instances
        Part-10 files; copied byte for byte.
    root
        The file-set's root folder: must not exist, or be empty.
    medium
        Where the file-set goes; decides the automatic profile (:func:`choose_profile`).
    profile
        A profile to claim; every instance must fit it. None: chosen from the content, a
        general file-set (no profile claimed) when none fits.
    fileset_id
        File-set ID (0004,1130): up to 16 of ``A-Z 0-9 _`` and space; it becomes the ISO
        Volume Identifier.
    progress
        Called with (bytes copied, bytes to copy) as the copy goes on.

    Raises
    ------
    ValueError
        For a non-empty root, a bad File-set ID, an unreadable input file, instances the
        asked-for profile refuses (named), or inconsistent patients or studies.
    OSError
        When copying fails; nothing is left behind.
    """
    root = Path(root)
    part = root.with_name(root.name + ".part")
    _check_target(root, part)
    if not _FILESET_ID.fullmatch(fileset_id):
        raise ValueError(
            f"File-set ID {fileset_id!r} must be at most 16 of A-Z, 0-9, _ and space (PS3.10 8)"
        )
    planned = []
    for path in instances:
        header = read_header(Path(path))
        planned.append(PlannedInstance(Path(path), header, Path(path).stat().st_size))
    choice = choose_profile([item.header for item in planned], medium, profile)
    if choice.refused:
        by_uid = {str(item.header.SOPInstanceUID): item.source for item in planned}
        listing = "; ".join(f"{by_uid[uid]}: {why}" for uid, why in choice.refused.items())
        raise ValueError(f"{choice.profile.value} refuses {len(choice.refused)} file(s): {listing}")
    plan = plan_fileset(planned, choice.profile)
    notes = list(plan.notes)
    if notes:
        notes.append(
            "the keys above are filled in the DICOMDIR records only; the files are copied "
            "unchanged, so a tool that takes record keys from the files (DCMTK dcmmkdir) "
            "needs its invent mode (+I) for them"
        )
    if not choice.profile.is_standard:
        notes.insert(0, f"general file-set, no media profile claimed: {choice.reason}")
    try:
        part.mkdir(parents=True)
        _copy_all(plan.instances, part, progress)
        uids = sorted(str(item.header.SOPInstanceUID) for item in plan.instances)
        uid = generate_uid(entropy_srcs=[fileset_id, choice.profile.value, *uids])
        data = encode_dicomdir(plan.roots, fileset_id, str(uid))
        temporary = part / "DICOMDIR.TMP"
        with temporary.open("xb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        temporary.rename(part / DICOMDIR_NAME)
        if root.exists():
            root.rmdir()
        part.rename(root)
    except BaseException:
        shutil.rmtree(part, ignore_errors=True)
        raise
    entries = [
        FileSetEntry(item.source, item.file_id, str(item.header.SOPInstanceUID), item.size)
        for item in plan.instances
    ]
    return FileSetReport(
        root=root,
        profile=choice.profile,
        choice=choice,
        entries=entries,
        dicomdir=root / DICOMDIR_NAME,
        fileset_id=fileset_id,
        notes=notes,
        patients=plan.patients,
        studies=plan.studies,
        series=plan.series,
    )


def _check_target(root: Path, part: Path) -> None:
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise ValueError(f"{root} already exists and is not an empty folder; choose a new one")
    if part.exists():
        raise ValueError(f"{part} is left from an interrupted build; remove it, then build again")


def _copy_all(instances: Sequence[PlannedInstance], part: Path, progress: Progress | None) -> None:
    total = sum(item.size for item in instances)
    done = 0

    def advance(count: int) -> None:
        nonlocal done
        done += count
        if progress is not None:
            progress(done, total)

    if progress is not None:
        progress(0, total)
    for item in instances:
        target = part.joinpath(*item.file_id)
        target.parent.mkdir(parents=True, exist_ok=True)
        copied = copy_file(item.source, target, advance)
        if copied != item.size:
            raise OSError(f"{item.source} changed size while it was copied; build again")


def copy_file(source: Path, target: Path, advance: Callable[[int], None] | None = None) -> int:
    """Copy ``source`` to the new file ``target`` byte for byte, in chunks; the bytes copied.

    Uses ``os.copy_file_range`` (no copy through user space) and falls back to reading and
    writing where the file systems do not support it.
    """
    copied = 0
    with source.open("rb") as reader, target.open("xb") as writer:
        in_kernel = hasattr(os, "copy_file_range")
        while True:
            if in_kernel:
                try:
                    count = os.copy_file_range(reader.fileno(), writer.fileno(), _CHUNK)
                except OSError as error:
                    if error.errno not in _NO_COPY_RANGE:
                        raise
                    in_kernel = False
                    continue
            else:
                chunk = reader.read(_CHUNK)
                writer.write(chunk)
                count = len(chunk)
            if count == 0:
                break
            copied += count
            if advance is not None:
                advance(count)
    return copied


__all__ = [
    "DICOMDIR_NAME",
    "FileSetEntry",
    "FileSetReport",
    "build_fileset",
    "check_fileset",
    "conformant_file_id",
    "copy_file",
    "read_fileset",
    "read_header",
]
