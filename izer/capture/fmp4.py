"""Fragmented MP4 read box by box: which fragments of a segment are complete, and cutting back.

The recorder writes each segment as ``ftyp``, an empty ``moov``, then one ``moof`` + ``mdat``
pair per group of pictures (ISO/IEC 14496-12 4.2 boxes, 8.8 movie fragments), and an ``mfra``
index when the segment is closed. After a crash the file may end inside a fragment;
:func:`cut_to_complete_fragments` keeps everything up to the last complete ``moof`` + ``mdat``
pair, through a verified temporary copy and a rename (the original is never cut in place).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

#: Top-level boxes that may precede the movie box.
_HEADER_BOXES = frozenset({"ftyp", "free", "skip", "wide", "uuid"})
#: Boxes that may sit between fragments without belonging to one.
_FILLER_BOXES = frozenset({"free", "skip", "styp", "sidx", "prft"})
#: Suffix of the temporary copy made while cutting a segment.
TEMP_SUFFIX = ".recover-tmp"
#: Largest ``moof`` read into memory (a fragment of 10 000 samples needs about 160 kB).
_MAX_MOOF = 16 << 20
_COPY_CHUNK = 8 << 20

# tfhd (8.8.7) and trun (8.8.8) flags.
_TFHD_BASE_OFFSET = 0x000001
_TFHD_SAMPLE_DESCRIPTION = 0x000002
_TFHD_DEFAULT_DURATION = 0x000008
_TFHD_DEFAULT_SIZE = 0x000010
_TFHD_DEFAULT_FLAGS = 0x000020
_TRUN_DATA_OFFSET = 0x000001
_TRUN_FIRST_FLAGS = 0x000004
_TRUN_DURATION = 0x000100
_TRUN_SIZE = 0x000200
_TRUN_FLAGS = 0x000400
_TRUN_CTS = 0x000800


class Fmp4Error(ValueError):
    """A segment cannot be read or cut; the message names the file and what went wrong."""


@dataclass(frozen=True, slots=True)
class Box:
    """One box: its four-character type, where it starts, its whole size and header size."""

    type: str
    offset: int
    size: int
    header_size: int

    @property
    def end(self) -> int:
        """The offset just past the box."""
        return self.offset + self.size


@dataclass(frozen=True, slots=True)
class Fragment:
    """A complete ``moof`` + ``mdat`` pair and the number of samples (frames) it holds."""

    moof: Box
    mdat: Box
    sequence: int
    samples: int
    base_decode_time: int | None

    @property
    def end(self) -> int:
        """The offset just past the fragment's media data."""
        return self.mdat.end


@dataclass(frozen=True, slots=True)
class SegmentLayout:
    """What a scan of a fragmented MP4 file found.

    ``header_end`` is the end of the ``ftyp`` + ``moov`` header (0 when the header itself is
    incomplete); ``complete_end`` the end of the last complete fragment (or of the closing
    ``mfra``), where a damaged file is cut; ``problem`` says why the scan stopped early.
    """

    size: int
    header_end: int
    fragments: tuple[Fragment, ...]
    complete_end: int
    has_index: bool
    problem: str = ""

    @property
    def samples(self) -> int:
        """Frames in the complete fragments."""
        return sum(fragment.samples for fragment in self.fragments)

    @property
    def is_complete(self) -> bool:
        """True when nothing follows the last complete fragment (nothing to cut)."""
        return bool(self.fragments) and self.complete_end == self.size


def top_level_boxes(file: BinaryIO, size: int) -> Iterator[Box]:
    """Yield the top-level boxes of ``file`` (``size`` bytes) while they are whole.

    Stops silently at the first box that is cut short, has an impossible size or an
    unprintable type: the caller compares the last box's end with ``size``.
    """
    offset = 0
    while offset + 8 <= size:
        file.seek(offset)
        header = file.read(16)
        if len(header) < 8:
            return
        declared, raw_type = struct.unpack(">I4s", header[:8])
        if not all(32 <= byte < 127 for byte in raw_type):
            return
        header_size = 8
        if declared == 1:
            if len(header) < 16:
                return
            declared = struct.unpack(">Q", header[8:16])[0]
            header_size = 16
        elif declared == 0:
            declared = size - offset  # "extends to the end of the file" (4.2)
        if declared < header_size or offset + declared > size:
            return
        yield Box(raw_type.decode("ascii"), offset, declared, header_size)
        offset += declared


def _children(data: bytes, start: int, end: int) -> Iterator[tuple[str, int, int]]:
    """Child boxes inside ``data[start:end]``: (type, payload start, box end)."""
    offset = start
    while offset + 8 <= end:
        declared, raw_type = struct.unpack_from(">I4s", data, offset)
        header = 8
        if declared == 1:
            if offset + 16 > end:
                return
            declared = struct.unpack_from(">Q", data, offset + 8)[0]
            header = 16
        if declared < header or offset + declared > end:
            raise Fmp4Error(f"a {raw_type!r} box inside the movie fragment overruns it")
        yield raw_type.decode("latin-1"), offset + header, offset + declared
        offset += declared


@dataclass
class _TrackRun:
    samples: int = 0
    data_start: int | None = None  # absolute offset of the first sample, when known
    data_bytes: int | None = None  # total sample bytes, when known


def _parse_moof(data: bytes, moof: Box) -> tuple[int, int | None, list[_TrackRun]]:
    """(sequence number, base decode time of the first track, track runs) of a ``moof``."""
    sequence = -1
    decode_time: int | None = None
    runs: list[_TrackRun] = []
    for kind, start, end in _children(data, moof.header_size, len(data)):
        if kind == "mfhd":
            sequence = struct.unpack_from(">I", data, start + 4)[0]
        elif kind == "traf":
            base = moof.offset  # default-base-is-moof, as the recorder writes them
            default_size: int | None = None
            for child, c_start, _c_end in _children(data, start, end):
                if child == "tfhd":
                    flags = int.from_bytes(data[c_start + 1 : c_start + 4], "big")
                    cursor = c_start + 8  # version/flags, track_ID
                    if flags & _TFHD_BASE_OFFSET:
                        base = struct.unpack_from(">Q", data, cursor)[0]
                        cursor += 8
                    for flag in (_TFHD_SAMPLE_DESCRIPTION, _TFHD_DEFAULT_DURATION):
                        cursor += 4 if flags & flag else 0
                    if flags & _TFHD_DEFAULT_SIZE:
                        default_size = struct.unpack_from(">I", data, cursor)[0]
                    cursor += 4 if flags & _TFHD_DEFAULT_SIZE else 0
                    cursor += 4 if flags & _TFHD_DEFAULT_FLAGS else 0
                elif child == "tfdt" and decode_time is None:
                    version = data[c_start]
                    fmt = ">Q" if version == 1 else ">I"
                    decode_time = struct.unpack_from(fmt, data, c_start + 4)[0]
                elif child == "trun":
                    runs.append(_parse_trun(data, c_start, base, default_size))
    if sequence < 0 or not runs:
        raise Fmp4Error("the movie fragment has no fragment header or no track run")
    return sequence, decode_time, runs


def _parse_trun(data: bytes, start: int, base: int, default_size: int | None) -> _TrackRun:
    flags = int.from_bytes(data[start + 1 : start + 4], "big")
    count = struct.unpack_from(">I", data, start + 4)[0]
    cursor = start + 8
    run = _TrackRun(samples=count)
    if flags & _TRUN_DATA_OFFSET:
        run.data_start = base + struct.unpack_from(">i", data, cursor)[0]
        cursor += 4
    if flags & _TRUN_FIRST_FLAGS:
        cursor += 4
    fields = [flag for flag in (_TRUN_DURATION, _TRUN_SIZE, _TRUN_FLAGS, _TRUN_CTS) if flags & flag]
    if flags & _TRUN_SIZE:
        stride = 4 * len(fields)
        position = fields.index(_TRUN_SIZE) * 4
        if cursor + stride * count > len(data):
            raise Fmp4Error("a track run lists more samples than its box holds")
        run.data_bytes = sum(
            struct.unpack_from(">I", data, cursor + i * stride + position)[0] for i in range(count)
        )
    elif default_size is not None:
        run.data_bytes = default_size * count
    return run


def scan_segment(path: Path) -> SegmentLayout:
    """Find the header and the complete fragments of the fragmented MP4 file ``path``.

    A fragment counts when its ``moof`` parses, is followed by a whole ``mdat`` and every
    sample it lists lies inside that ``mdat``.

    Raises
    ------
    Fmp4Error
        When the file cannot be read (the message names it).
    """
    path = Path(path)
    try:
        with path.open("rb") as file:
            size = os.fstat(file.fileno()).st_size
            return _scan(file, size)
    except OSError as error:
        raise Fmp4Error(f"{path}: cannot be read ({error.strerror or error})") from error


def _scan(file: BinaryIO, size: int) -> SegmentLayout:
    boxes = top_level_boxes(file, size)
    header_end = 0
    fragments: list[Fragment] = []
    has_index = False
    problem = ""
    pending_moof: Box | None = None
    moof_info: tuple[int, int | None, list[_TrackRun]] | None = None
    end_of_boxes = 0
    for box in boxes:
        end_of_boxes = box.end
        if not header_end:
            if box.type == "moov":
                header_end = box.end
            elif box.type not in _HEADER_BOXES:
                problem = f"a {box.type!r} box comes before the movie header"
                break
            continue
        if has_index:
            problem = f"a {box.type!r} box follows the closing index"
            break
        if pending_moof is not None:
            if box.type != "mdat":
                problem = f"a movie fragment is followed by {box.type!r}, not its media data"
                break
            assert moof_info is not None
            sequence, decode_time, runs = moof_info
            if not _samples_inside(runs, box):
                problem = "a movie fragment points outside its media data"
                break
            samples = sum(run.samples for run in runs)
            fragments.append(Fragment(pending_moof, box, sequence, samples, decode_time))
            pending_moof = moof_info = None
        elif box.type == "moof":
            if box.size > _MAX_MOOF:
                problem = "a movie fragment header is implausibly large"
                break
            file.seek(box.offset)
            data = file.read(box.size)
            try:
                moof_info = _parse_moof(data, box)
            except (Fmp4Error, struct.error) as error:
                problem = f"a movie fragment header is damaged: {error}"
                break
            pending_moof = box
        elif box.type == "mfra":
            has_index = True
        elif box.type not in _FILLER_BOXES:
            problem = f"an unexpected {box.type!r} box follows the fragments"
            break
    else:
        if pending_moof is not None:
            problem = "the last movie fragment has no media data"
        elif end_of_boxes < size:
            problem = f"the file ends inside a box ({size - end_of_boxes} bytes)"
    if not header_end and not problem:
        problem = "the movie header (moov) is missing or incomplete"
    complete_end = fragments[-1].end if fragments else header_end
    if has_index and not problem:
        complete_end = end_of_boxes
    return SegmentLayout(size, header_end, tuple(fragments), complete_end, has_index, problem)


def _samples_inside(runs: list[_TrackRun], mdat: Box) -> bool:
    payload_start = mdat.offset + mdat.header_size
    for run in runs:
        if run.data_start is None or run.data_bytes is None:
            continue  # sizes come from the movie header's defaults: not checked here
        if run.data_start < payload_start or run.data_start + run.data_bytes > mdat.end:
            return False
    return True


def cut_to_complete_fragments(path: Path) -> SegmentLayout | None:
    """Cut the segment ``path`` back to its last complete fragment; ``None`` if none was left.

    A segment without one complete fragment is removed. Otherwise the complete part is
    copied to ``<name>.recover-tmp``, flushed to disk, scanned again, and renamed over the
    original only when the copy holds the same fragments and nothing else; the original is
    never truncated in place. A segment that is already whole is left as it is.

    Raises
    ------
    Fmp4Error
        When the copy cannot be written or does not check out (the original is kept).
    """
    path = Path(path)
    layout = scan_segment(path)
    if not layout.fragments:
        path.unlink()
        sync_folder(path.parent)
        return None
    if layout.is_complete:
        return layout
    temporary = path.with_name(path.name + TEMP_SUFFIX)
    try:
        _copy_prefix(path, temporary, layout.complete_end)
        copy = scan_segment(temporary)
        if not copy.is_complete or copy.fragments != layout.fragments:
            raise Fmp4Error(
                f"{path}: the cut copy does not hold the same {len(layout.fragments)} fragments; "
                "the original segment was kept as it is"
            )
        os.replace(temporary, path)
    except OSError as error:
        raise Fmp4Error(
            f"{path}: cannot write the cut copy ({error.strerror or error}); free some disk "
            "space and recover again (the original segment was kept)"
        ) from error
    finally:
        temporary.unlink(missing_ok=True)
    sync_folder(path.parent)
    return copy


def _copy_prefix(source: Path, target: Path, length: int) -> None:
    """Copy the first ``length`` bytes of ``source`` to a new file ``target`` and fsync it."""
    with source.open("rb") as reader, target.open("xb") as writer:
        remaining = length
        while remaining > 0:
            chunk = reader.read(min(_COPY_CHUNK, remaining))
            if not chunk:
                raise Fmp4Error(f"{source}: shrank while it was being copied")
            writer.write(chunk)
            remaining -= len(chunk)
        writer.flush()
        os.fsync(writer.fileno())


def sync_folder(folder: Path) -> None:
    """Flush a folder's entries (new, renamed, removed files) to disk; no-op where unsupported."""
    if os.name == "nt":
        return
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
