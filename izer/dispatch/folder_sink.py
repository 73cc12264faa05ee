"""Folder destination: Part-10 copies into a local folder or NAS share, under safe names.

Each file is written under a temporary name in its final folder, flushed to disk
(``fsync``), read back (its SOP Instance UID must match) and only then given its final
name, without ever replacing an existing file. Names come from header values through a
layout such as ``{PatientID}/{StudyInstanceUID}/{SOPInstanceUID}.dcm``; every value is made
safe for Windows and POSIX file systems (and SMB shares): no path separators or traversal,
no reserved characters or device names, bounded length.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import string
import tempfile
import unicodedata
from collections.abc import Callable, Sequence
from contextlib import suppress
from pathlib import Path

from pydicom import dcmread
from pydicom.datadict import dictionary_VR, keyword_dict
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.multival import MultiValue

from izer.dispatch.errors import DeliveryError

__all__ = ["DEFAULT_LAYOUT", "copy_to_folder", "safe_name", "validate_layout"]

#: One folder per patient and study, the file named after its SOP Instance UID.
DEFAULT_LAYOUT = "{PatientID}/{StudyInstanceUID}/{SOPInstanceUID}.dcm"

#: Longest file or folder name written, in UTF-8 bytes (255 is the common file-system limit;
#: room is left for the temporary prefix and suffix).
MAX_NAME_BYTES = 120
COPY_CHUNK_BYTES = 1 << 20

#: Characters Windows refuses in names, plus both separators.
_FORBIDDEN = re.compile(r'[<>:"/\\|?*\x00-\x1f\x7f]')
#: Windows device names, refused with any extension (CON, CON.txt ...).
_RESERVED = frozenset(
    {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"}
    | {f"COM{c}" for c in "0123456789¹²³"}
    | {f"LPT{c}" for c in "0123456789¹²³"}
)
#: errno values that mean the share or disk may come back (NAS down, disk full).
_TRANSIENT_ERRNOS = frozenset(
    {
        errno.EIO,
        errno.ENOSPC,
        errno.EDQUOT,
        errno.ENOTCONN,
        errno.ESTALE,
        errno.ETIMEDOUT,
        errno.EHOSTDOWN,
        errno.EHOSTUNREACH,
        errno.ENETDOWN,
        errno.ENETUNREACH,
        errno.ECONNRESET,
        errno.ECONNABORTED,
        errno.EAGAIN,
        errno.EBUSY,
        errno.ENOENT,
    }
)
_TEMP_PREFIX = ".izer-"
_TEMP_SUFFIX = ".part"


def safe_name(value: str, *, fallback: str = "_") -> str:
    """A single file or folder name made from a header value, safe on Windows and POSIX.

    Separators, ``<>:"|?*`` and control characters become ``_``; leading dots, spaces
    and trailing dots/spaces go (no ``..``, no hidden files, nothing Windows trims); device
    names such as ``CON`` or ``com1.txt`` get a ``_`` prefix; names longer than
    `MAX_NAME_BYTES` are cut and end with a hash of the whole value, so different long
    values stay different. An empty result becomes ``fallback``.
    """
    text = unicodedata.normalize("NFC", value)
    text = _FORBIDDEN.sub("_", text).strip(". ")
    if not text:
        return fallback
    if text.split(".")[0].rstrip(" ").upper() in _RESERVED:
        text = f"_{text}"
    if len(text.encode("utf-8")) > MAX_NAME_BYTES:
        digest = hashlib.sha256(value.encode("utf-8")).hexdigest()[:12]
        head = text.encode("utf-8")[: MAX_NAME_BYTES - 13].decode("utf-8", errors="ignore")
        text = f"{head.rstrip('. ')}~{digest}"
    return text


def validate_layout(layout: str) -> list[str]:
    """Check a layout and return the header keywords it uses.

    Raises
    ------
    ValueError
        When the layout is empty, absolute, has an empty, ``.`` or ``..`` folder, or names
        something that is not a DICOM keyword (e.g. ``{PatientId}``).
    """
    if not layout.strip():
        raise ValueError("folder layout is empty; e.g. " + DEFAULT_LAYOUT)
    if layout.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", layout):
        raise ValueError(f"folder layout {layout!r} must be relative to the folder")
    keywords: list[str] = []
    for segment in re.split(r"[/\\]", layout):
        if segment.strip() in ("", ".", ".."):
            raise ValueError(
                f"folder layout {layout!r} has an empty, '.' or '..' part; use names such as "
                + DEFAULT_LAYOUT
            )
        try:
            fields = list(string.Formatter().parse(segment))
        except ValueError as exc:
            raise ValueError(f"folder layout {layout!r}: {exc}") from exc
        for _, name, spec, conversion in fields:
            if name is None:
                continue
            if spec or conversion or name not in keyword_dict:
                raise ValueError(
                    f"folder layout {layout!r}: {{{name}}} is not a DICOM keyword "
                    "(write e.g. {PatientID}, {StudyDate}, {SOPInstanceUID})"
                )
            if dictionary_VR(name) == "SQ":
                raise ValueError(f"folder layout {layout!r}: {{{name}}} is a sequence")
            keywords.append(name)
    return keywords


def copy_to_folder(
    folder: Path | str,
    paths: Sequence[Path],
    *,
    layout: str = DEFAULT_LAYOUT,
    progress: Callable[[int, int], None] | None = None,
) -> list[Path]:
    """Copy Part-10 files into ``folder`` under names built from their headers.

    Parameters
    ----------
    folder
        Existing destination folder (local or a mounted share); never created here, so an
        unmounted share is not mistaken for an empty folder.
    paths
        Part-10 files to copy, in order.
    layout
        Relative path pattern of ``{Keyword}`` fields (see `validate_layout`); each value
        goes through `safe_name`; missing or empty values become ``_``.
    progress
        Called as ``progress(bytes_done, bytes_total)`` while copying.

    Returns
    -------
    list[Path]
        The final path of each file. A file already there with identical content counts
        as copied (sending twice is harmless).

    Raises
    ------
    DeliveryError
        Missing folder, I/O errors of a share (EIO, ENOSPC, ESTALE ...) are transient;
        a different file under the same name, a name that would leave the folder, a source
        that is not Part-10, permission or read-only errors are permanent. Files copied
        before the failing one stay (each is complete); the failing one leaves nothing.
    ValueError
        When ``layout`` is invalid.
    """
    validate_layout(layout)
    if not str(folder).strip():
        raise DeliveryError("folder destination has no folder configured", transient=False)
    root = Path(folder)
    _check_folder(root)
    root_resolved = root.resolve()
    total = sum(_source_size(Path(p), root) for p in paths)
    done = 0
    results = []
    for source in map(Path, paths):
        header = _read_header(source, root)
        relative = _relative_path(header, layout)
        target = root / relative
        results.append(_copy_one(source, target, root, root_resolved, header.SOPInstanceUID))
        done += _source_size(source, root)
        if progress is not None:
            progress(done, total)
    return results


# --------------------------------------------------------------------------- steps


def _check_folder(root: Path) -> None:
    try:
        if not root.exists():
            raise DeliveryError(
                f"folder destination {root} does not exist (is the share mounted?)",
                transient=True,
            )
        if not root.is_dir():
            raise DeliveryError(f"folder destination {root} is not a folder", transient=False)
    except OSError as exc:
        raise _os_error(exc, f"cannot reach folder destination {root}") from exc


def _source_size(source: Path, root: Path) -> int:
    try:
        return source.stat().st_size
    except OSError as exc:
        raise DeliveryError(
            f"{root}: cannot read source file {source} ({exc.strerror or exc})",
            transient=False,
        ) from exc


def _read_header(source: Path, root: Path) -> Dataset:
    """The header (no pixels) of a Part-10 source file; it must have a SOP Instance UID."""
    try:
        header = dcmread(source, stop_before_pixels=True)
    except (InvalidDicomError, ValueError, EOFError) as exc:
        raise DeliveryError(
            f"{root}: {source} is not a DICOM Part-10 file ({exc})", transient=False
        ) from exc
    except OSError as exc:
        raise DeliveryError(
            f"{root}: cannot read source file {source} ({exc.strerror or exc})",
            transient=False,
        ) from exc
    if not str(header.get("SOPInstanceUID", "") or ""):
        raise DeliveryError(f"{root}: {source} has no SOP Instance UID", transient=False)
    return header


def _relative_path(header: Dataset, layout: str) -> Path:
    """The layout filled with safe header values, one safe name per folder level."""
    names = []
    for segment in re.split(r"[/\\]", layout):
        pieces = []
        for literal, name, _, _ in string.Formatter().parse(segment):
            pieces.append(literal)
            if name is not None:
                pieces.append(safe_name(_header_text(header, name)))
        names.append(safe_name("".join(pieces)))
    return Path(*names)


def _header_text(header: Dataset, keyword: str) -> str:
    value = header.get(keyword)
    if value is None or value == "":
        return ""
    if isinstance(value, MultiValue | list | tuple):
        return "-".join(str(v) for v in value)
    return str(value)


def _copy_one(source: Path, target: Path, root: Path, root_resolved: Path, sop_uid: str) -> Path:
    where = f"{root}: {target.relative_to(root)}"
    _check_inside(target.parent, root, root_resolved, where)  # before creating anything
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _os_error(exc, f"{where}: cannot create its folder") from exc
    _check_inside(target.parent, root, root_resolved, where)
    if target.is_symlink():
        raise DeliveryError(f"{where}: refused, a link already has that name", transient=False)
    if target.exists():
        return _existing(source, target, where)
    temp = _write_temp(source, target, where)
    try:
        _verify(temp, sop_uid, source, where)
        _publish(temp, target, source, where)
    finally:
        with suppress(FileNotFoundError):
            temp.unlink()
    _sync_folder(target.parent)
    return target


def _check_inside(folder: Path, root: Path, root_resolved: Path, where: str) -> None:
    """Refuse a folder that links out of the destination (links already in the share)."""
    resolved = folder.resolve()
    if resolved != root_resolved and root_resolved not in resolved.parents:
        raise DeliveryError(
            f"{where}: refused, the folder leads outside {root} (a link?)", transient=False
        )


def _existing(source: Path, target: Path, where: str) -> Path:
    """An already present file: success when identical, a permanent error otherwise."""
    try:
        same = _same_content(source, target)
    except OSError as exc:
        raise _os_error(exc, f"{where}: cannot compare with the file already there") from exc
    if not same:
        raise DeliveryError(
            f"{where}: a different file already has this name; move it away or change the "
            "folder layout (nothing was overwritten)",
            transient=False,
        )
    return target


def _write_temp(source: Path, target: Path, where: str) -> Path:
    """Copy ``source`` next to ``target`` under a hidden temporary name, fsync'ed."""
    try:
        handle, name = tempfile.mkstemp(prefix=_TEMP_PREFIX, suffix=_TEMP_SUFFIX, dir=target.parent)
    except OSError as exc:
        raise _os_error(exc, f"{where}: cannot write") from exc
    temp = Path(name)
    try:
        with os.fdopen(handle, "wb") as out, source.open("rb") as src:
            while chunk := src.read(COPY_CHUNK_BYTES):
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
    except OSError as exc:
        with suppress(OSError):
            temp.unlink()
        raise _os_error(exc, f"{where}: writing failed") from exc
    return temp


def _verify(temp: Path, sop_uid: str, source: Path, where: str) -> None:
    """The copy must have the source's size and, read back, its SOP Instance UID."""
    try:
        size_ok = temp.stat().st_size == source.stat().st_size
        header = dcmread(temp, stop_before_pixels=True, specific_tags=["SOPInstanceUID"])
    except (InvalidDicomError, ValueError, EOFError) as exc:
        raise DeliveryError(
            f"{where}: the copy does not read back as DICOM ({exc})", transient=True
        ) from exc
    except OSError as exc:
        raise _os_error(exc, f"{where}: reading the copy back failed") from exc
    read_back = str(header.get("SOPInstanceUID", "") or "")
    if not size_ok or read_back != sop_uid:
        raise DeliveryError(
            f"{where}: the copy read back differs from the source (SOP Instance UID "
            f"{read_back or 'missing'}, expected {sop_uid})",
            transient=True,
        )


def _publish(temp: Path, target: Path, source: Path, where: str) -> None:
    """Give the verified copy its final name without replacing anything already there."""
    try:
        os.link(temp, target)
        return
    except FileExistsError:
        _existing(source, target, where)  # appeared meanwhile: same content is fine
        return
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
            raise _os_error(exc, f"{where}: cannot name the copy") from exc
    # No hard links on this file system (FAT, some SMB mounts): rename if still free.
    if target.exists():
        _existing(source, target, where)
        return
    try:
        os.replace(temp, target)
    except OSError as exc:
        raise _os_error(exc, f"{where}: cannot name the copy") from exc


def _same_content(a: Path, b: Path) -> bool:
    if a.stat().st_size != b.stat().st_size:
        return False
    with a.open("rb") as fa, b.open("rb") as fb:
        while True:
            chunk_a, chunk_b = fa.read(COPY_CHUNK_BYTES), fb.read(COPY_CHUNK_BYTES)
            if chunk_a != chunk_b:
                return False
            if not chunk_a:
                return True


def _sync_folder(folder: Path) -> None:
    """Make the new name durable (POSIX); shares and Windows may not allow it."""
    with suppress(OSError, AttributeError):
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _os_error(exc: OSError, what: str) -> DeliveryError:
    """A DeliveryError naming the OS reason; share and disk-full problems are transient."""
    reason = exc.strerror or str(exc)
    if exc.errno == errno.EROFS:
        reason += " (the folder is read-only)"
    elif exc.errno == errno.ENOSPC:
        reason += " (disk full)"
    elif exc.errno in (errno.EACCES, errno.EPERM):
        reason += " (izer may not write there)"
    return DeliveryError(f"{what}: {reason}", transient=exc.errno in _TRANSIENT_ERRNOS)
