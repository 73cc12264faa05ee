"""ISO 9660 images of a media folder, made, listed and extracted with xorriso.

The image has three directory trees over the same file data:

- ISO 9660 (ECMA-119) at interchange level 1: what PS3.12 Annex F asks of a DICOM CD. The
  DICOM part (``DICOMDIR`` and every file it references) already has level-1 names (PS3.10
  8.2: 1-8 characters ``A-Z 0-9 _``, no extension) and keeps them exactly; other files (the
  IHE PDI web part) get 8.3 names made by xorriso there.
- Joliet: the exact names, up to 64 characters; what Windows shows.
- Rock Ridge: the exact names again, for Linux and macOS; harmless elsewhere.

How the level-1 names are recorded (`IsoNaming`): on a CD as ``DICOMDIR.;1`` (PS3.12
F.1.2.1: ``/Comp1/.../CompN.;1``, which is also strict ECMA-119 7.5.1), on a DVD or BD
without the dot, ``DICOMDIR;1`` (PS3.12 P.1.3.1). ``isoinfo -l`` shows these raw names;
operating systems drop ``;1`` and a trailing dot, or show the Joliet or Rock Ridge name,
which is ``DICOMDIR`` in every case. The volume identifier is the File-set ID (PS3.12 F.1.1).

Commands (xorriso 1.5.4):

- `make_iso`: ``xorriso -abort_on FAILURE -local_charset UTF-8 -return_with SORRY 32
  -pacifier interval=0.5 -stdio_sync end -outdev stdio:FILE.part -volid ID -publisher P
  -application_id IZER -joliet on -rockridge on -compliance clear:iso_9660_level=1:only_iso_version:
  no_j_force_dots:always_gmt:old_rr:no_emul_toc[:no_force_dots] -md5 on -follow link
  -map ROOT / -find / -exec mkisofs_r -- -print_size -commit``, then ``FILE.part`` is
  renamed to ``FILE``.
- `list_iso`: ``xorriso -abort_on FAILURE -local_charset UTF-8 -read_fs ecma119|norock|any
  -indev stdio:FILE -sh_style_result on -find / -type f``.
- `extract_iso`: ``xorriso -abort_on FAILURE -local_charset UTF-8 -osirrox on
  -indev stdio:FILE -extract / TARGET.part``.

Disk file names are taken as UTF-8 (``-local_charset UTF-8``) whatever the locale, so
Joliet gets the right UCS-2 names; xorriso's messages are read in the C locale.
"""

from __future__ import annotations

import codecs
import enum
import hashlib
import os
import queue
import re
import shutil
import signal
import stat
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from pydicom import dcmread
from pydicom.errors import InvalidDicomError

__all__ = [
    "SECTOR_BYTES",
    "IsoError",
    "IsoNaming",
    "IsoReport",
    "IsoTree",
    "MediaToolError",
    "ToolResult",
    "extract_iso",
    "file_md5",
    "find_tool",
    "list_iso",
    "make_iso",
    "run_tool",
    "volume_id_for",
]

#: Logical block size of ISO 9660 and of optical media (ECMA-119 6.1.2).
SECTOR_BYTES = 2048

#: Debian package and Windows hint for each external program.
TOOL_PACKAGES = {"xorriso": "xorriso", "osirrox": "xorriso", "cdrskin": "cdrskin"}

#: A DICOM File ID component (PS3.10 8.2) and a File-set ID (PS3.10 8.2, at most 16).
_FILE_ID_COMPONENT = re.compile(r"[A-Z0-9_]{1,8}")
_VOLUME_ID = re.compile(r"[A-Z0-9_]{1,16}")
#: Joliet leaf names and paths xorriso writes without truncating them.
JOLIET_NAME_CHARS = 64
JOLIET_PATH_CHARS = 240
#: PS3.10 8.2 allows at most 8 File ID components.
MAX_FILE_ID_COMPONENTS = 8

_IMAGE_SIZE = re.compile(r"Image size\s*:\s*(\d+)s")
_WRITING = re.compile(r"Writing:\s+(\d+)s")
_PROBLEM = re.compile(r"^(?:xorriso|libburn|libisofs|libisoburn)\s*:\s*(FAILURE|SORRY|FATAL)\s*:")
_DISK_FULL_WORDS = ("No space left", "ENOSPC", "Disk quota exceeded")
_TOO_LARGE_WORDS = ("File too large", "EFBIG")
_HASH_CHUNK = 1 << 20
#: Pipe chunks (64 KiB each) that may wait for the calling thread.
_QUEUE_CHUNKS = 256
#: Extra room counted on top of the file data: directories, path tables, Joliet, padding.
_OVERHEAD_BYTES = 2 << 20


class MediaToolError(RuntimeError):
    """An external media tool (xorriso, cdrskin, PowerShell IMAPI2) failed or is missing.

    Parameters
    ----------
    message
        What went wrong and what to do, in plain words.
    transient
        ``True`` when trying again may work without changing anything in izer (another
        disc, more disk space); ``False`` when a tool is missing or the input is wrong.
    """

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


class IsoError(MediaToolError):
    """An ISO image could not be made, listed or extracted."""


class IsoNaming(enum.StrEnum):
    """How level-1 names without extension are recorded in the ISO 9660 tree.

    Values match the medium names ``cd``, ``dvd``, ``bd``.
    """

    #: PS3.12 F.1.2.1 (120 mm CD-R): ``/Comp1/.../CompN.;1``, dot and version.
    CD = "cd"
    #: PS3.12 P.1.3.1 (120 mm DVD): no extension and no dot, ``CompN;1``.
    DVD = "dvd"
    #: Blu-ray: as DVD (PS3.12 P.1.3.1 wording, ISO 9660 bridge of UDF media).
    BD = "bd"


class IsoTree(enum.StrEnum):
    """Which directory tree of an image `list_iso` reads."""

    #: The plain ISO 9660 tree; names shown without ``;1`` and trailing dot.
    ISO9660 = "ecma119"
    #: The Joliet tree (what Windows shows).
    JOLIET = "norock"
    #: The Rock Ridge tree (what Linux and macOS show).
    ROCK_RIDGE = "any"


@dataclass(frozen=True)
class IsoReport:
    """The image `make_iso` wrote.

    Attributes
    ----------
    path
        The finished image.
    size
        Its size in bytes (a multiple of 2048).
    volume_id
        The Volume Identifier, i.e. the File-set ID (PS3.12 F.1.1).
    files
        Number of regular files in it.
    md5
        MD5 of the whole image file, hexadecimal, to compare with a disc read back.
    """

    path: Path
    size: int
    volume_id: str
    files: int
    md5: str


@dataclass(frozen=True)
class ToolResult:
    """How an external program ended: its exit status and everything it said."""

    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def lines(self) -> list[str]:
        """Standard error then standard output, split into lines."""
        return [*self.stderr.splitlines(), *self.stdout.splitlines()]


# --------------------------------------------------------------------------- tools


def find_tool(name: str, *, error: type[MediaToolError] = IsoError) -> str:
    """The path of an external program: ``/usr/bin/NAME`` first, then ``PATH``.

    Raises
    ------
    MediaToolError
        (of class *error*) naming the Debian package to install when it is missing.
    """
    preferred = Path("/usr/bin") / name
    if preferred.is_file() and os.access(preferred, os.X_OK):
        return str(preferred)
    found = shutil.which(name)
    if found is None:
        package = TOOL_PACKAGES.get(name, name)
        raise error(
            f"{name} is not installed: sudo apt-get install -y {package} "
            f"(Debian/Ubuntu; other systems: install the {package} package of libburnia)"
        )
    return found


def run_tool(
    argv: Sequence[str],
    *,
    error: type[MediaToolError] = IsoError,
    on_line: Callable[[str], None] | None = None,
    stdout_sink: Callable[[bytes], None] | None = None,
    timeout_s: float | None = None,
    env: Mapping[str, str] | None = None,
) -> ToolResult:
    """Run a program with C-locale messages, passing each line it prints to *on_line*.

    Lines end at ``\\n`` or ``\\r`` (progress lines of cdrskin use ``\\r``). Callbacks run
    in the calling thread. When *stdout_sink* is given, standard output is binary data handed
    to it in chunks and only standard error is read as lines. *env* adds environment
    variables (inputs for scripts, never spliced into their text).

    Raises
    ------
    MediaToolError
        (of class *error*) when the program cannot be started or runs past *timeout_s*.
        An exception raised by a callback stops the program and is raised again.
    """
    argv = tuple(str(a) for a in argv)
    try:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, **(env or {}), "LC_ALL": "C", "LANG": "C"},
        )
    except OSError as exc:
        raise error(f"cannot run {argv[0]}: {exc}") from exc
    # Bounded, so a fast reader cannot pile up a disc's worth of data ahead of its consumer.
    events: queue.Queue[tuple[str, bytes | None]] = queue.Queue(maxsize=_QUEUE_CHUNKS)
    readers = [
        threading.Thread(target=_pump, args=(process.stderr, "err", events), daemon=True),
        threading.Thread(
            target=_pump,
            args=(process.stdout, "bin" if stdout_sink else "out", events),
            daemon=True,
        ),
    ]
    for reader in readers:
        reader.start()
    texts: dict[str, list[str]] = {"err": [], "out": []}
    partial = {"err": "", "out": ""}
    decoders = {kind: codecs.getincrementaldecoder("utf-8")("replace") for kind in partial}
    open_streams = 2
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    try:
        while open_streams:
            if deadline is not None and time.monotonic() > deadline:
                raise error(
                    f"{Path(argv[0]).name} did not finish within {timeout_s:g} s and was stopped",
                    transient=True,
                )
            try:
                kind, data = events.get(timeout=0.2)
            except queue.Empty:
                continue
            if data is None:
                open_streams -= 1
                if kind in partial:
                    rest = partial[kind] + decoders[kind].decode(b"", final=True)
                    _emit(rest, texts[kind], on_line)
                    partial[kind] = ""
                continue
            if kind == "bin":
                assert stdout_sink is not None
                stdout_sink(data)
                continue
            pieces = re.split(r"[\r\n]", partial[kind] + decoders[kind].decode(data))
            partial[kind] = pieces.pop()
            for piece in pieces:
                _emit(piece, texts[kind], on_line)
        returncode = process.wait()
    except BaseException:
        process.kill()
        process.wait()
        raise
    finally:
        # After a kill the pipes close; drain what the readers still hold so they can end.
        for reader in readers:
            while reader.is_alive():
                with suppress(queue.Empty):
                    while True:
                        events.get_nowait()
                reader.join(timeout=0.05)
    return ToolResult(argv, returncode, "\n".join(texts["out"]), "\n".join(texts["err"]))


def _pump(stream: IO[bytes], kind: str, events: queue.Queue[tuple[str, bytes | None]]) -> None:
    """Copy a pipe into *events* in chunks, then a ``None`` marking its end."""
    try:
        while chunk := stream.read1(1 << 16):
            events.put((kind, chunk))
    except (OSError, ValueError):
        pass
    finally:
        events.put((kind, None))


def _emit(line: str, collected: list[str], on_line: Callable[[str], None] | None) -> None:
    if not line.strip():
        return
    collected.append(line)
    if on_line is not None:
        on_line(line)


def tool_problems(result: ToolResult, *, limit: int = 4) -> str:
    """The FAILURE/SORRY lines of a libburnia tool run, joined, for an error message."""
    found = [line.strip() for line in result.lines if _PROBLEM.match(line.strip())]
    found += [line.strip() for line in result.lines if "cdrskin: SORRY" in line]
    found += [line.strip() for line in result.lines if "cdrskin: FATAL" in line]
    unique = list(dict.fromkeys(found))
    if not unique:
        tail = [line.strip() for line in result.lines if line.strip()][-2:]
        unique = tail or [f"exit status {result.returncode}, no message"]
    if result.returncode < 0:
        with suppress(ValueError):
            unique.append(f"stopped by signal {signal.Signals(-result.returncode).name}")
    return "; ".join(unique[:limit])


def file_md5(
    path: Path, *, limit: int | None = None, progress: Callable[[int], None] | None = None
) -> str:
    """MD5 of a file (of its first *limit* bytes), hexadecimal; *progress* gets bytes read."""
    digest = hashlib.md5(usedforsecurity=False)
    done = 0
    with open(path, "rb") as handle:
        while limit is None or done < limit:
            want = _HASH_CHUNK if limit is None else min(_HASH_CHUNK, limit - done)
            chunk = handle.read(want)
            if not chunk:
                break
            digest.update(chunk)
            done += len(chunk)
            if progress is not None:
                progress(done)
    return digest.hexdigest()


# --------------------------------------------------------------------------- make


def volume_id_for(root: Path) -> str:
    """The Volume Identifier for a media folder: its DICOMDIR's File-set ID, else its name.

    A folder name is upper-cased, other characters become ``_`` and it is cut to 16
    characters; ``IZER`` when nothing is left.
    """
    file_set_id = _file_set_id(root / "DICOMDIR")
    if file_set_id:
        return file_set_id
    cleaned = re.sub(r"[^A-Z0-9_]", "_", root.resolve().name.upper())[:16].strip("_")
    return cleaned or "IZER"


def make_iso(
    root: Path,
    iso_path: Path,
    *,
    volume_id: str,
    publisher: str = "izer",
    naming: IsoNaming = IsoNaming.CD,
    progress: Callable[[int, int], None] | None = None,
    timeout_s: float | None = None,
) -> IsoReport:
    """Write the folder *root* as an ISO 9660 image with Joliet and Rock Ridge.

    The image is written to ``iso_path + ".part"`` and renamed when complete, so *iso_path*
    is either the whole image or untouched; an existing *iso_path* is replaced.

    Parameters
    ----------
    root
        The media folder: ``DICOMDIR``, ``DICOM/...`` and the IHE PDI web part
        (``README.TXT``, ``INDEX.HTM``, ``IHE_PDI/...``). Symbolic links are followed.
    iso_path
        The image file to write; its folder must exist and must not be inside *root*.
    volume_id
        The File-set ID (PS3.12 F.1.1): 1-16 characters ``A-Z 0-9 _``; it must equal the
        DICOMDIR's File-set ID (0004,1130) when that is set.
    publisher
        Publisher Identifier of the volume (upper-cased by xorriso).
    naming
        How level-1 names are recorded: ``NAME.;1`` on a CD, ``NAME;1`` on DVD and BD.
    progress
        Called with (bytes written, bytes expected) while xorriso writes. An exception
        raised by it stops xorriso and leaves no file behind.
    timeout_s
        Stop xorriso after this many seconds.

    Raises
    ------
    ValueError
        When the folder, the volume id or a DICOM file name does not fit (PS3.10 8.2), or a
        name is too long for Joliet.
    IsoError
        When xorriso is missing, the target cannot be written (folder missing, disk full) or
        xorriso fails; nothing is left at *iso_path* or ``iso_path.part`` then.
    """
    root = Path(root)
    iso_path = Path(iso_path)
    naming = IsoNaming(naming)
    if not root.is_dir():
        raise ValueError(f"media folder {root} does not exist or is not a folder")
    _check_volume_id(volume_id, root)
    files, data_bytes = _check_tree(root)
    target = iso_path.resolve()
    if target.is_relative_to(root.resolve()):
        raise ValueError(f"the image {iso_path} must be written outside the media folder {root}")
    if not target.parent.is_dir():
        raise IsoError(f"cannot write {iso_path}: the folder {target.parent} does not exist")
    if target.is_dir():
        raise IsoError(f"cannot write {iso_path}: it is a folder; give a file name such as X.iso")
    needed = data_bytes + _OVERHEAD_BYTES
    free = shutil.disk_usage(target.parent).free
    if needed > free:
        raise IsoError(
            f"not enough disk space for {iso_path}: the image needs about {_mb(needed)}, "
            f"{_mb(free)} are free in {target.parent}",
            transient=True,
        )
    xorriso = find_tool("xorriso")
    part = target.with_name(target.name + ".part")
    # xorriso would append a session to an existing image file.
    part.unlink(missing_ok=True)
    argv = _make_argv(xorriso, root.resolve(), part, volume_id, publisher, naming)
    watcher = _WriteProgress(progress)
    try:
        result = run_tool(argv, on_line=watcher, timeout_s=timeout_s)
        if result.returncode != 0 or not part.is_file():
            raise IsoError(_make_failure(result, iso_path, needed), transient=_full(result))
        size = part.stat().st_size
        md5 = file_md5(part)
        if progress is not None:
            progress(size, size)
        os.replace(part, target)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    return IsoReport(path=target, size=size, volume_id=volume_id, files=files, md5=md5)


def _make_argv(
    xorriso: str, root: Path, part: Path, volume_id: str, publisher: str, naming: IsoNaming
) -> list[str]:
    rules = "clear:iso_9660_level=1:only_iso_version:no_j_force_dots:always_gmt:old_rr:no_emul_toc"
    if naming is not IsoNaming.CD:
        rules += ":no_force_dots"
    return [
        xorriso,
        "-abort_on", "FAILURE",
        "-local_charset", "UTF-8",
        "-return_with", "SORRY", "32",
        "-pacifier", "interval=0.5",
        "-stdio_sync", "end",
        "-outdev", f"stdio:{part}",
        "-volid", volume_id,
        "-publisher", publisher,
        "-application_id", "IZER",
        "-joliet", "on",
        "-rockridge", "on",
        "-compliance", rules,
        "-md5", "on",
        "-follow", "link",
        "-map", str(root), "/",
        # uid/gid 0, readable by all, no write bits (as mkisofs -r).
        "-find", "/", "-exec", "mkisofs_r", "--",
        "-print_size",
        "-commit",
    ]  # fmt: skip


class _WriteProgress:
    """Turns xorriso's ``Image size`` and ``Writing: Ns`` lines into progress calls."""

    def __init__(self, progress: Callable[[int, int], None] | None) -> None:
        self.progress = progress
        self.total = 0

    def __call__(self, line: str) -> None:
        if (found := _IMAGE_SIZE.search(line)) is not None:
            self.total = int(found.group(1)) * SECTOR_BYTES
        elif self.progress is not None and (found := _WRITING.search(line)) is not None:
            done = int(found.group(1)) * SECTOR_BYTES
            self.progress(min(done, self.total) if self.total else done, self.total)


def _make_failure(result: ToolResult, iso_path: Path, needed: int) -> str:
    said = tool_problems(result)
    if _full(result):
        return (
            f"the disk is full: {iso_path} could not be written (the image needs about "
            f"{_mb(needed)}); free some space or choose another folder. xorriso: {said}"
        )
    if any(word in line for line in result.lines for word in _TOO_LARGE_WORDS) or (
        result.returncode == -getattr(signal, "SIGXFSZ", 25)
    ):
        return (
            f"{iso_path} exceeds the largest file the target allows (file size limit or "
            f"file system, e.g. FAT32 holds at most 4 GB); choose another folder. xorriso: {said}"
        )
    return f"xorriso could not write {iso_path}: {said}"


def _full(result: ToolResult) -> bool:
    return any(word in line for line in result.lines for word in _DISK_FULL_WORDS)


def _check_volume_id(volume_id: str, root: Path) -> None:
    if not _VOLUME_ID.fullmatch(volume_id):
        raise ValueError(
            f"volume_id {volume_id!r} must be the File-set ID: 1-16 characters A-Z, 0-9 or _ "
            "(PS3.10 8.2, PS3.12 F.1.1)"
        )
    file_set_id = _file_set_id(root / "DICOMDIR")
    if file_set_id and file_set_id != volume_id:
        raise ValueError(
            f"volume_id {volume_id!r} differs from the File-set ID {file_set_id!r} of "
            f"{root / 'DICOMDIR'}; PS3.12 F.1.1 puts the File-set ID in the Volume Identifier"
        )


def _file_set_id(dicomdir: Path) -> str:
    if not dicomdir.is_file():
        return ""
    try:
        header = dcmread(dicomdir, stop_before_pixels=True, specific_tags=["FileSetID"])
    except (InvalidDicomError, OSError, ValueError):
        return ""
    return str(header.get("FileSetID", "") or "").strip()


def _check_tree(root: Path) -> tuple[int, int]:
    """Check every name in *root*; return (regular files, bytes of file data rounded up)."""
    dicom_part = _dicom_part(root)
    files = 0
    data_bytes = 0
    for folder, dirnames, filenames in os.walk(root, followlinks=True):
        here = Path(folder)
        for name in [*dirnames, *filenames]:
            path = here / name
            relative = path.relative_to(root).as_posix()
            if "\n" in name or "\r" in name or "\x00" in name:
                raise ValueError(f"file name {relative!r} in {root} has a line break; rename it")
            if relative in dicom_part:
                continue
            if _ucs2_len(name) > JOLIET_NAME_CHARS or _ucs2_len(relative) + 1 > JOLIET_PATH_CHARS:
                raise ValueError(
                    f"{relative} in {root} is too long for Joliet (names up to "
                    f"{JOLIET_NAME_CHARS} characters, paths up to {JOLIET_PATH_CHARS}): "
                    "Windows would see it cut short; use a shorter name"
                )
        for name in filenames:
            path = here / name
            try:
                info = path.stat()
            except OSError as exc:
                raise ValueError(f"cannot read {path}: {exc}") from exc
            if stat.S_ISREG(info.st_mode):
                files += 1
                data_bytes += -(-info.st_size // SECTOR_BYTES) * SECTOR_BYTES
    return files, data_bytes


def _ucs2_len(text: str) -> int:
    """Length in UCS-2/UTF-16 code units, as Joliet counts (characters beyond the BMP are 2)."""
    return len(text.encode("utf-16-be")) // 2


def _dicom_part(root: Path) -> set[str]:
    """Relative paths of DICOMDIR, the files it references and their folders, all checked.

    Raises
    ------
    ValueError
        When a File ID breaks PS3.10 8.2 or names a file that is not in *root*: xorriso
        would change such a name and the DICOMDIR would point nowhere.
    """
    dicomdir = root / "DICOMDIR"
    if not dicomdir.exists():
        return set()
    try:
        directory = dcmread(dicomdir)
    except (InvalidDicomError, OSError, ValueError) as exc:
        raise ValueError(f"{dicomdir} is not a readable DICOMDIR: {exc}") from exc
    part = {"DICOMDIR"}
    for record in directory.get("DirectoryRecordSequence", []):
        value = record.get("ReferencedFileID")
        if value is None:
            continue
        components = [value] if isinstance(value, str) else list(value)
        bad = [c for c in components if not _FILE_ID_COMPONENT.fullmatch(str(c))]
        if bad or not components or len(components) > MAX_FILE_ID_COMPONENTS:
            file_id = "\\".join(map(str, components))
            raise ValueError(
                f"Referenced File ID {file_id!r} in {dicomdir} breaks "
                "PS3.10 8.2 (1-8 components of 1-8 characters A-Z, 0-9, _): an ISO 9660 level-1 "
                "image would rename it; rebuild the file-set"
            )
        relative = "/".join(map(str, components))
        if not (root / relative).is_file():
            raise ValueError(f"{dicomdir} references {relative}, which is not a file in {root}")
        for depth in range(1, len(components) + 1):
            part.add("/".join(map(str, components[:depth])))
    return part


def _mb(n: int) -> str:
    """Bytes as MB (2^20), as disc sizes are usually given."""
    value = n / (1 << 20)
    return f"{value:.1f} MB" if value < 10 else f"{value:.0f} MB"


# --------------------------------------------------------------------------- read


def list_iso(iso_path: Path, *, tree: IsoTree = IsoTree.ISO9660) -> list[str]:
    """The regular files of an image, as relative POSIX paths, sorted.

    Parameters
    ----------
    iso_path
        An ISO image file.
    tree
        ISO 9660 names (default; shown without ``;1`` and trailing dot, as operating
        systems show them), Joliet or Rock Ridge names.

    Raises
    ------
    IsoError
        When xorriso is missing or cannot read the image.
    """
    iso_path = Path(iso_path)
    tree = IsoTree(tree)
    if not iso_path.is_file():
        raise IsoError(f"no image at {iso_path}")
    argv = [
        find_tool("xorriso"),
        "-abort_on", "FAILURE",
        "-local_charset", "UTF-8",
        "-read_fs", tree.value,
        "-indev", f"stdio:{iso_path.resolve()}",
        "-sh_style_result", "on",
        "-find", "/", "-type", "f",
    ]  # fmt: skip
    result = run_tool(argv)
    if result.returncode != 0:
        raise IsoError(f"xorriso cannot read {iso_path}: {tool_problems(result)}")
    return sorted(line.lstrip("/") for line in result.stdout.splitlines() if line.startswith("/"))


def extract_iso(iso_path: Path, target: Path) -> None:
    """Copy every file of an image into the new folder *target*, names as Rock Ridge has them.

    Files are extracted into ``target.part`` first and that folder is renamed, so *target*
    appears complete or not at all. Extracted files and folders are made writable by their
    owner (on the medium they are read-only).

    Raises
    ------
    ValueError
        When *target* exists and is not an empty folder.
    IsoError
        When xorriso is missing or fails.
    """
    iso_path = Path(iso_path)
    target = Path(target)
    if not iso_path.is_file():
        raise IsoError(f"no image at {iso_path}")
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ValueError(f"{target} exists and is not an empty folder; choose a new folder")
    if not target.parent.is_dir():
        raise IsoError(f"cannot extract into {target}: {target.parent} does not exist")
    part = target.with_name(target.name + ".part")
    _remove_tree(part)
    argv = [
        find_tool("xorriso"),
        "-abort_on", "FAILURE",
        "-local_charset", "UTF-8",
        "-osirrox", "on",
        "-indev", f"stdio:{iso_path.resolve()}",
        "-extract", "/", str(part.resolve()),
    ]  # fmt: skip
    try:
        result = run_tool(argv)
        if result.returncode != 0 or not part.is_dir():
            raise IsoError(f"xorriso could not extract {iso_path}: {tool_problems(result)}")
        for folder, dirnames, filenames in os.walk(part):
            for name in [*dirnames, *filenames]:
                path = Path(folder) / name
                if not path.is_symlink():
                    path.chmod(path.stat().st_mode | stat.S_IWUSR)
        part.chmod(part.stat().st_mode | stat.S_IWUSR)
        if target.exists():
            target.rmdir()
        part.rename(target)
    except BaseException:
        _remove_tree(part)
        raise


def _remove_tree(path: Path) -> None:
    """Remove a folder left by an earlier run, read-only entries included."""
    if not path.exists():
        return

    def _retry_writable(function: Callable[[str], object], name: str, _info: object) -> None:
        Path(name).parent.chmod(stat.S_IRWXU)
        function(name)

    shutil.rmtree(path, onerror=_retry_writable)
