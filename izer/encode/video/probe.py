"""Read what a video file holds, with PyAV only, by demuxing (never decoding the whole clip).

One pass over the packets of the first video stream counts the frames and checks that the
frame interval is constant; only the first frame is decoded (to see whether it is
interlaced). MP4/MOV files are also read box by box at the top level (ISO/IEC 14496-12
4.2) to learn whether the index (moov) precedes the media data and whether the file is
complete. A 3 GB clip takes about a second.
"""

from __future__ import annotations

import itertools
import os
import statistics
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from izer.encode.input_errors import InputError
from izer.encode.video.stream import AudioInfo, StreamInfo
from izer.encode.video.windows import FileWindow

#: Frame rates snapped to when a measured rate is within 0.1 % of one.
STANDARD_RATES: tuple[Fraction, ...] = (
    Fraction(10),
    Fraction(12),
    Fraction(25, 2),
    Fraction(15),
    Fraction(24000, 1001),
    Fraction(24),
    Fraction(25),
    Fraction(30000, 1001),
    Fraction(30),
    Fraction(48),
    Fraction(50),
    Fraction(60000, 1001),
    Fraction(60),
    Fraction(100),
    Fraction(120000, 1001),
    Fraction(120),
)
#: The rates a variable-rate clip is converted to (the nearest one wins).
VIDEO_RATES: tuple[Fraction, ...] = (
    Fraction(24000, 1001),
    Fraction(24),
    Fraction(25),
    Fraction(30000, 1001),
    Fraction(30),
    Fraction(50),
    Fraction(60000, 1001),
    Fraction(60),
)

_INTERLACED_FIELD_ORDERS = {2, 3, 4, 5}  # AVFieldOrder TT, BB, TB, BT
#: Read size when the video is read through a window (fewer calls into Python).
_WINDOW_BUFFER = 1 << 20
_UNKNOWN_LEVEL = -99  # FF_LEVEL_UNKNOWN


def probe(path: Path, *, window: tuple[int, int] | None = None) -> StreamInfo:
    """Describe the container, first video stream and first audio stream of *path*.

    Parameters
    ----------
    path
        The video file.
    window
        ``(offset, length)``: describe the video file held in these bytes of *path* (the
        single fragment of a DICOM video instance), without copying it out.

    Raises
    ------
    izer.encode.input_errors.InputError
        (a ValueError) for a missing or empty file, a file that is not audio/video, a file
        without a video stream, or a file cut short; the message says what to do.
    """
    path = Path(path)
    if path.is_dir():
        raise InputError(path, "is a folder, not a video file")
    if not path.exists():
        raise InputError(path, "no such file; check the path")
    offset, size = (0, path.stat().st_size) if window is None else window
    if size == 0:
        raise InputError(path, "the file is empty (0 bytes); copy or export the video again")
    boxes = _top_level_boxes(path, size, offset)
    _check_complete(path, boxes, size)
    source: str | FileWindow = os.fspath(path)
    options: dict[str, object] = {}
    if window is not None:
        source = FileWindow(path, offset, size)
        options["buffer_size"] = _WINDOW_BUFFER
    try:
        container = av.open(source, metadata_errors="ignore", **options)
    except av.FFmpegError as error:
        raise InputError(path, _open_failure(boxes, error)) from None
    try:
        return _describe(path, container, boxes, size)
    finally:
        container.close()


def nearest_video_rate(rate: Fraction) -> Fraction:
    """The standard video rate (23.976 ... 60) nearest to *rate*."""
    return min(VIDEO_RATES, key=lambda standard: abs(float(standard - rate)))


def snap_rate(rate: Fraction) -> Fraction:
    """*rate* as the nearest standard rate within 0.05 %, else limited to denominator 1001."""
    if rate <= 0:
        return Fraction(0)
    nearest = min(STANDARD_RATES, key=lambda standard: abs(rate / standard - 1))
    if abs(rate / nearest - 1) <= Fraction(1, 2000):
        return nearest
    return rate.limit_denominator(1001)


def _describe(
    path: Path, container: av.container.InputContainer, boxes: _Boxes, size: int
) -> StreamInfo:
    if not container.streams.video:
        kinds = sorted({s.type for s in container.streams}) or ["no streams"]
        raise InputError(
            path,
            f"has no video stream (it holds {', '.join(kinds)}); choose a video file, or "
            "archive sound as a voice-audio object",
        )
    video = container.streams.video[0]
    context = video.codec_context
    audio = _audio_info(container)
    timestamps, first_frame, last_duration = _demux(path, container, video)
    if not timestamps:
        raise InputError(path, "the video stream has no frames; copy or export the video again")
    if video.frames and _is_isobmff(boxes) and len(timestamps) < video.frames:
        raise InputError(
            path,
            f"is cut short: its index lists {video.frames} frames but only "
            f"{len(timestamps)} are in the file; copy or export the video again",
        )
    time_base = video.time_base or Fraction(1, 90000)
    constant, frame_rate = _frame_rate(timestamps, time_base, video)
    count = len(timestamps)
    if constant:
        duration = float(count / frame_rate) if frame_rate else 0.0
    else:
        span = timestamps[-1] - timestamps[0] + last_duration
        duration = float(span * time_base)
    sar = context.sample_aspect_ratio
    field_order = int(getattr(context, "field_order", 0) or 0)
    pix_fmt = context.pix_fmt or "unknown"
    is_mp4 = _is_isobmff(boxes)
    return StreamInfo(
        path=path,
        container=_container_name(container.format.name, boxes),
        codec=_codec_name(context),
        profile=context.profile or None,
        level=_level(context, video),
        width=context.width,
        height=context.height,
        sample_aspect_ratio=Fraction(sar) if sar else Fraction(1),
        pix_fmt=pix_fmt,
        bit_depth=_bit_depth(pix_fmt),
        frame_rate=frame_rate,
        constant_frame_rate=constant,
        frame_count=count,
        duration_s=duration,
        interlaced=field_order in _INTERLACED_FIELD_ORDERS or first_frame.interlaced,
        sample_entry=(context.codec_tag.strip() or None) if is_mp4 else None,
        moov_first=_moov_first(boxes) if is_mp4 else None,
        fragmented=is_mp4 and "moof" in boxes.kinds,
        audio=audio,
        size_bytes=size,
        rotation=first_frame.rotation,
        stream_types=tuple(str(stream.type) for stream in container.streams),
    )


@dataclass(frozen=True)
class _FirstFrame:
    interlaced: bool = False
    rotation: int = 0


def _demux(
    path: Path, container: av.container.InputContainer, video: av.VideoStream
) -> tuple[list[int], _FirstFrame, int]:
    """Sorted presentation times of the frame-carrying packets, what the first decoded frame
    says, and the last packet's duration (stream time base)."""
    timestamps: list[int] = []
    first: _FirstFrame | None = None
    last_duration = 0
    next_dts = 0
    try:
        for packet in container.demux(video):
            if packet.size == 0:
                continue
            pts = packet.pts if packet.pts is not None else packet.dts
            if pts is None:
                pts = next_dts
            timestamps.append(pts)
            last_duration = packet.duration or last_duration
            next_dts = pts + (packet.duration or 1)
            if first is None:
                for frame in _decode_quietly(packet):
                    turn = round(float(getattr(frame, "rotation", 0) or 0) / 90) * 90 % 360
                    first = _FirstFrame(bool(frame.interlaced_frame), turn)
                    break
    except av.FFmpegError as error:
        raise InputError(
            path,
            f"cannot be read to the end ({_reason(error)}); the file may "
            "be damaged or cut short: copy or export it again",
        ) from None
    timestamps.sort()
    return timestamps, first or _FirstFrame(), last_duration


def _decode_quietly(packet: av.Packet) -> list[av.VideoFrame]:
    """Decode one packet; a packet the decoder rejects yields nothing (counting goes on)."""
    try:
        return list(packet.decode())
    except av.FFmpegError:
        return []


def _frame_rate(
    timestamps: list[int], time_base: Fraction, video: av.VideoStream
) -> tuple[bool, Fraction]:
    """Whether the interval is constant (within one tick, the last ignored) and the rate."""
    deltas = [b - a for a, b in itertools.pairwise(timestamps)][:-1]
    if len(deltas) < 1:
        declared = video.average_rate or video.guessed_rate or video.base_rate
        return True, snap_rate(Fraction(declared)) if declared else Fraction(0)
    constant = max(deltas) - min(deltas) <= 1
    if constant:
        measured = Fraction(len(deltas)) / (sum(deltas) * time_base)
        return True, snap_rate(measured)
    typical = statistics.median(deltas)
    return False, nearest_video_rate(1 / (Fraction(typical) * time_base))


def _audio_info(container: av.container.InputContainer) -> AudioInfo | None:
    if not container.streams.audio:
        return None
    context = container.streams.audio[0].codec_context
    layout = getattr(context, "layout", None)
    channels = layout.nb_channels if layout is not None else getattr(context, "channels", 0)
    return AudioInfo(
        codec=_codec_name(context), sample_rate=context.sample_rate or 0, channels=channels
    )


def _codec_name(context: av.CodecContext) -> str:
    """The codec's own name (``mp3``), not the decoder's (``mp3float``)."""
    codec = context.codec
    return getattr(codec, "canonical_name", None) or context.name


def _bit_depth(pix_fmt: str) -> int:
    try:
        return max(c.bits for c in av.VideoFormat(pix_fmt).components)
    except (ValueError, av.FFmpegError):
        return 8


def _container_name(format_name: str, boxes: _Boxes) -> str:
    if format_name.startswith("mov,mp4"):
        return "mov" if boxes.major_brand == "qt  " else "mp4"
    return format_name.split(",")[0]


# --- levels ------------------------------------------------------------------------------


def _level(context: av.VideoCodecContext, video: av.VideoStream) -> int | None:
    level = getattr(context, "level", None)
    if level is not None and level not in (_UNKNOWN_LEVEL, 0):
        return int(level)
    return level_from_extradata(_codec_name(context), bytes(context.extradata or b""))


def level_from_extradata(codec: str, extradata: bytes) -> int | None:
    """The level as coded, read from decoder configuration bytes; None when not found.

    H.264: the avcC record's AVCLevelIndication (ISO/IEC 14496-15 5.3.3.1) or the level_idc
    of an Annex B sequence parameter set (H.264 7.3.2.1). HEVC: the hvcC record's
    general_level_idc (14496-15 8.3.3.1) or that of an Annex B SPS (H.265 7.3.2.2). MPEG-2:
    the level of the sequence extension (ISO/IEC 13818-2 6.2.2.3).
    """
    if not extradata:
        return None
    if codec == "h264":
        if extradata[0] == 1 and len(extradata) > 3:
            return extradata[3]
        for nal in _annex_b_units(extradata):
            if nal and nal[0] & 0x1F == 7 and len(nal) > 3:
                return _unescape(nal)[3]
    elif codec == "hevc":
        if extradata[0] == 1 and len(extradata) > 12:
            return extradata[12]
        for nal in _annex_b_units(extradata):
            if len(nal) > 2 and (nal[0] >> 1) & 0x3F == 33:
                rbsp = _unescape(nal)
                if len(rbsp) > 14:
                    return rbsp[14]  # 2 header + 1 + 1 profile + 4 flags + 6 constraints
    elif codec in ("mpeg2video", "mpeg1video"):
        for unit in _annex_b_units(extradata):
            if len(unit) > 2 and unit[0] == 0xB5 and unit[1] >> 4 == 1:
                return unit[2] >> 4
    return None


def _annex_b_units(data: bytes) -> Iterator[bytes]:
    """The payloads after each 00 00 01 start code."""
    start = data.find(b"\x00\x00\x01")
    while start >= 0:
        begin = start + 3
        end = data.find(b"\x00\x00\x01", begin)
        yield data[begin : end if end >= 0 else len(data)]
        start = end


def _unescape(nal: bytes) -> bytes:
    """Remove emulation prevention bytes (00 00 03 -> 00 00)."""
    return nal.replace(b"\x00\x00\x03", b"\x00\x00")


# --- ISO base media file boxes -----------------------------------------------------------


@dataclass(frozen=True)
class _Boxes:
    """The top-level boxes of an ISO BMFF file: (type, offset, declared size), major brand."""

    boxes: tuple[tuple[str, int, int], ...] = ()
    major_brand: str = ""

    @property
    def kinds(self) -> list[str]:
        return [kind for kind, _, _ in self.boxes]


def _top_level_boxes(path: Path, size: int, base: int = 0) -> _Boxes:
    """Walk the top-level boxes (ISO/IEC 14496-12 4.2) of the *size* bytes at *base*;
    empty when not ISO BMFF."""
    boxes: list[tuple[str, int, int]] = []
    brand = ""
    with path.open("rb") as stream:
        offset = 0
        while offset + 8 <= size and len(boxes) < 10_000:
            stream.seek(base + offset)
            header = stream.read(16)
            box_size = int.from_bytes(header[:4], "big")
            kind = header[4:8].decode("latin-1")
            if not boxes and kind not in _FIRST_BOXES:
                return _Boxes()
            if not all(32 <= ord(c) < 127 for c in kind):
                break
            if box_size == 1:
                if len(header) < 16:
                    break
                box_size = int.from_bytes(header[8:16], "big")
            elif box_size == 0:
                box_size = size - offset
            if box_size < 8:
                break
            if kind == "ftyp":
                brand = header[8:12].decode("latin-1")
            boxes.append((kind, offset, box_size))
            offset += box_size
    return _Boxes(tuple(boxes), brand)


_FIRST_BOXES = frozenset({"ftyp", "moov", "mdat", "wide", "free", "skip", "pnot"})


def _is_isobmff(boxes: _Boxes) -> bool:
    return any(kind in ("moov", "mdat") for kind in boxes.kinds)


def _moov_first(boxes: _Boxes) -> bool:
    kinds = boxes.kinds
    if "moov" not in kinds:
        return False
    return "mdat" not in kinds or kinds.index("moov") < kinds.index("mdat")


def _check_complete(path: Path, boxes: _Boxes, size: int) -> None:
    if not boxes.boxes:
        return
    kind, offset, box_size = boxes.boxes[-1]
    if offset + box_size > size:
        missing = offset + box_size - size
        raise InputError(
            path,
            f"is cut short: its {kind!r} box needs {missing} more bytes than the file has "
            "(an interrupted recording or an incomplete copy); copy or export it again",
        )


def _open_failure(boxes: _Boxes, error: av.FFmpegError) -> str:
    kinds = set(boxes.kinds)
    if "ftyp" in kinds and "moov" not in kinds:
        return (
            "is cut short: the MP4 index (moov box) is missing, as after an interrupted "
            "recording or an incomplete copy; copy or export the video again"
        )
    return f"is not a video file PyAV can read ({_reason(error)})"


def _reason(error: av.FFmpegError) -> str:
    return str(getattr(error, "strerror", None) or error)
