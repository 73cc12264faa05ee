"""Write a video instance atomically, then check that its Pixel Data is the video it claims.

The file is written under a temporary name in the target folder, synced, checked by
:func:`verify_video_instance` and only then renamed into place (and the folder synced), so a
reader never sees a partial or a lying instance. This module does the rename itself:
``izer.encode`` may not import ``izer.store`` (the architecture boundary), and the store can
call :func:`write_video_instance` with the final path inside its own folder.

Pixel Data of a video instance is an encapsulated value (PS3.5 A.4): an empty Basic Offset
Table item, the bit stream in one fragment (or several for the fragmentable syntaxes and
HEVC, PS3.5 8.2.5-8.2.11), a sequence delimiter. :func:`encapsulated_stream` finds the
fragments by their item headers without reading them.
"""

from __future__ import annotations

import contextlib
import os
import struct
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO

import pydicom
from pydicom import config
from pydicom.dataset import Dataset

from izer.encode.fragments import FragmentError, encapsulated_items
from izer.encode.selfcheck import InstanceCheckError
from izer.encode.video.iods import frame_time_ms, stream_windows
from izer.encode.video.probe import probe
from izer.encode.video.stream import StreamInfo
from izer.encode.video.syntaxes import VideoSyntax, conformance_problems, container_problems
from izer.encode.video.windows import FileWindow

#: Chunk size for pydicom's buffered writes (its default, 8 KiB, is about twice as slow).
WRITE_CHUNK = 1 << 20

#: Relative tolerance between Frame Time (a DS of at most 16 characters) and 1000/rate.
_FRAME_TIME_TOLERANCE = 1e-9


@dataclass(frozen=True)
class EncapsulatedStream:
    """Where the video bit stream of an instance lies in its file.

    Attributes
    ----------
    transfer_syntax
        The file's Transfer Syntax UID.
    syntax
        The video syntax it names (the fragmentable twins included).
    offset_table_length
        Length of the Basic Offset Table item (0 for video, PS3.5 A.4).
    fragments
        ``(file offset, length)`` of each fragment's value, in order.
    """

    transfer_syntax: str
    syntax: VideoSyntax
    offset_table_length: int
    fragments: tuple[tuple[int, int], ...]

    @property
    def size(self) -> int:
        """Bytes of the bit stream, pad byte of the last fragment included."""
        return sum(length for _, length in self.fragments)


def encapsulated_stream(path: Path) -> EncapsulatedStream:
    """Locate the fragments of Pixel Data in a video instance, reading only item headers.

    Raises
    ------
    InstanceCheckError
        When the file has no video transfer syntax or Pixel Data is not encapsulated.
    """
    path = Path(path)
    with open(path, "rb") as file:
        header = pydicom.dcmread(file, stop_before_pixels=True)
        uid = str(header.file_meta.get("TransferSyntaxUID", ""))
        try:
            syntax = VideoSyntax.from_text(uid)
        except ValueError:
            raise InstanceCheckError(
                f"{path.name}: Transfer Syntax UID {uid or '(none)'} is not a video transfer "
                "syntax (PS3.5 8.2.5-8.2.11)"
            ) from None
        start = file.tell()
    try:
        offset_table_length, fragments = encapsulated_items(path, start)
    except FragmentError as exc:
        raise InstanceCheckError(f"{path.name}: {exc}") from None
    return EncapsulatedStream(uid, syntax, offset_table_length, tuple(fragments))


def extract_stream(path: Path, destination: Path) -> EncapsulatedStream:
    """Copy the bit stream of a video instance to ``destination``, chunk by chunk.

    The fragments are concatenated as they are (a pad byte that made the last one even stays).
    """
    stream = encapsulated_stream(path)
    source = os.open(path, os.O_RDONLY)
    try:
        target = os.open(destination, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            for offset, length in stream.fragments:
                _copy_range(source, target, offset, length)
        finally:
            os.close(target)
    finally:
        os.close(source)
    return stream


@contextlib.contextmanager
def extracted_stream(path: Path) -> Iterator[tuple[Path, EncapsulatedStream]]:
    """The bit stream of a video instance as a temporary file next to it, removed on exit."""
    path = Path(path)
    stream = encapsulated_stream(path)
    suffix = ".mpg" if stream.syntax.codec == "mpeg2video" else ".mp4"
    scratch = path.with_name(f".{path.name}.{uuid.uuid4().hex}{suffix}")
    try:
        extract_stream(path, scratch)
        yield scratch, stream
    finally:
        scratch.unlink(missing_ok=True)


def verify_video_instance(path: Path, *, name: str | None = None) -> StreamInfo:
    """Check that the bit stream in ``path`` is the video its header describes.

    The stream is copied next to the file (streamed), probed with
    :func:`izer.encode.video.probe.probe` and compared with the header: codec, profile and
    level against the transfer syntax (PS3.5 8.2.5-8.2.11), Rows, Columns, Number of Frames,
    Frame Time and Bits Stored against the stream, and the fragment count the syntax allows.

    Parameters
    ----------
    path
        The instance file.
    name
        How messages name the file (default: its name).

    Returns
    -------
    StreamInfo
        The embedded stream as probed; ``path`` is the DICOM file.

    Raises
    ------
    InstanceCheckError
        Naming the first attribute that does not match, or every conformance problem.
    """
    path = Path(path)
    name = name or path.name
    header = pydicom.dcmread(path, stop_before_pixels=True)
    stream = encapsulated_stream(path)
    _check_fragments(name, stream)
    try:
        if len(stream.fragments) == 1:  # read in place: no copy of a multi-GB stream
            info = probe(path, window=stream.fragments[0])
        else:
            with extracted_stream(path) as (scratch, _):
                info = probe(scratch)
    except (ValueError, OSError) as exc:  # probe's InputError is a ValueError
        raise InstanceCheckError(
            f"{name}: the Pixel Data is not a readable {stream.syntax.codec} stream ({exc})"
        ) from exc
    _compare(name, header, stream.syntax, info)
    return replace(info, path=path)


def write_video_instance(ds: Dataset, path: Path) -> int:
    """Write ``ds`` to ``path`` atomically, streaming Pixel Data, and verify it.

    The dataset is written to a temporary name in the same folder (Pixel Data made by
    :func:`~izer.encode.video.iods.video_image` copied from its stream file by the kernel;
    any other Pixel Data with 1 MiB buffered reads, pydicom's ``buffered_read_size``,
    restored after), synced to disk, checked by :func:`verify_video_instance`, then renamed
    to ``path`` (replacing a file there) and the folder synced. On any failure the temporary
    file is removed: nothing new appears at ``path`` and a file already there stays as it
    was. Not thread-safe: the pydicom setting is process-wide.

    Returns
    -------
    int
        Size of the written file in bytes.

    Raises
    ------
    InstanceCheckError
        When the written instance does not match its header (see :func:`verify_video_instance`).
    OSError
        When the folder cannot be written or the stream file changed since it was probed.
    """
    path = Path(path)
    partial = path.with_name(f".{path.name}.{uuid.uuid4().hex}.partial")
    previous = config.settings.buffered_read_size
    config.settings.buffered_read_size = WRITE_CHUNK
    try:
        with open(partial, "xb") as file:
            _save(ds, file)
            file.flush()
            os.fsync(file.fileno())
        verify_video_instance(partial, name=path.name)
        os.replace(partial, path)
        _sync_folder(path.parent)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    finally:
        config.settings.buffered_read_size = previous
    return path.stat().st_size


#: Explicit VR Little Endian element header of Pixel Data (7FE0,0010) OB, undefined length,
#: then the empty Basic Offset Table item; an item tag; the sequence delimiter (PS3.5 A.4).
_PIXEL_DATA_HEADER = b"\xe0\x7f\x10\x00OB\x00\x00\xff\xff\xff\xff" + b"\xfe\xff\x00\xe0" + bytes(4)
_ITEM_TAG = b"\xfe\xff\x00\xe0"
_SEQUENCE_DELIMITER = b"\xfe\xff\xdd\xe0" + bytes(4)


def _save(ds: Dataset, file: BinaryIO) -> None:
    """Write ``ds`` as a Part-10 file; Pixel Data made by :func:`video_image` is copied
    from its stream file by the kernel (``copy_file_range``), not through Python.

    The bytes are those pydicom writes (the header by pydicom itself, Pixel Data as PS3.5
    A.4 encodes it: an empty Basic Offset Table, one item per fragment padded to an even
    length, the sequence delimiter). Any other dataset is written by pydicom alone.
    """
    windows = stream_windows(ds["PixelData"].value) if "PixelData" in ds else None
    if windows is None or max(ds.keys()) != 0x7FE00010:
        ds.save_as(file, enforce_file_format=True)
        return
    pixel = ds["PixelData"]
    del ds["PixelData"]
    try:
        ds.save_as(file, enforce_file_format=True)
    finally:
        ds["PixelData"] = pixel
    file.flush()
    target = file.fileno()
    os.lseek(target, 0, os.SEEK_END)
    _write_all(target, _PIXEL_DATA_HEADER)
    for window in windows:
        padded = window.length + window.length % 2
        _write_all(target, _ITEM_TAG + struct.pack("<I", padded))
        _copy_window(window, target)
        if padded != window.length:
            _write_all(target, b"\x00")
    _write_all(target, _SEQUENCE_DELIMITER)
    file.seek(0, os.SEEK_END)


def _copy_window(window: FileWindow, target: int) -> None:
    source = os.open(window.path, os.O_RDONLY)
    try:
        end = window.start + window.length
        if os.fstat(source).st_size < end:
            raise OSError(
                f"{window.path} changed since it was probed: it has "
                f"{os.fstat(source).st_size} bytes, the stream needs {end}"
            )
        _copy_range(source, target, window.start, window.length)
    finally:
        os.close(source)


def _write_all(target: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(target, view) :]


def _check_fragments(name: str, stream: EncapsulatedStream) -> None:
    if stream.offset_table_length:
        raise InstanceCheckError(
            f"{name}: the Basic Offset Table has {stream.offset_table_length} bytes; video "
            "Pixel Data needs it empty (PS3.5 A.4)"
        )
    if not stream.fragments:
        raise InstanceCheckError(f"{name}: Pixel Data holds no fragment")
    single = stream.transfer_syntax == stream.syntax.uid and stream.syntax.fragmentable_uid
    if single and len(stream.fragments) != 1:
        raise InstanceCheckError(
            f"{name}: Pixel Data has {len(stream.fragments)} fragments but transfer syntax "
            f"{stream.transfer_syntax} allows one (PS3.5 8.2); use its fragmentable twin "
            f"{stream.syntax.fragmentable_uid}"
        )


def _compare(name: str, header: Dataset, syntax: VideoSyntax, info: StreamInfo) -> None:
    problems = conformance_problems(info, syntax) + container_problems(info, syntax)
    if problems:
        raise InstanceCheckError(
            f"{name}: the stream does not conform to transfer syntax {syntax.uid} "
            f"({syntax.description}): {'; '.join(problems)}"
        )
    expected = (
        ("Rows", "Rows (0028,0010)", info.height),
        ("Columns", "Columns (0028,0011)", info.width),
        ("NumberOfFrames", "Number of Frames (0028,0008)", info.frame_count),
        ("BitsStored", "Bits Stored (0028,0101)", info.bit_depth),
        ("SamplesPerPixel", "Samples per Pixel (0028,0002)", 3),
        ("PhotometricInterpretation", "Photometric Interpretation (0028,0004)", "YBR_PARTIAL_420"),
    )
    for keyword, label, wanted in expected:
        found = header.get(keyword)
        written = int(found) if isinstance(wanted, int) and found is not None else found
        if written != wanted:
            raise InstanceCheckError(
                f"{name}: {label} is {found} but the embedded stream has {wanted}"
            )
    wanted_ms = frame_time_ms(info.frame_rate)
    found_ms = header.get("FrameTime")
    if found_ms is None or abs(float(found_ms) / wanted_ms - 1) > _FRAME_TIME_TOLERANCE:
        raise InstanceCheckError(
            f"{name}: Frame Time (0018,1063) is {found_ms} ms but the embedded stream runs at "
            f"{info.frame_rate} frames/s ({wanted_ms:.10g} ms)"
        )


def _copy_range(source: int, target: int, offset: int, length: int) -> None:
    """Append ``length`` bytes at ``offset`` of file descriptor ``source`` to ``target``."""
    done = 0
    with contextlib.suppress(AttributeError, OSError):  # no copy_file_range: chunks below
        while done < length:
            copied = os.copy_file_range(source, target, length - done, offset + done)
            if copied == 0:
                break
            done += copied
    while done < length:
        chunk = os.pread(source, min(WRITE_CHUNK, length - done), offset + done)
        if not chunk:
            raise InstanceCheckError(f"the Pixel Data fragment at offset {offset} is truncated")
        view = memoryview(chunk)
        while view:
            view = view[os.write(target, view) :]
        done += len(chunk)


def _sync_folder(folder: Path) -> None:
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
