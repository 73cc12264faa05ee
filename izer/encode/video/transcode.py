"""Make a video file whose bit stream fits a DICOM video transfer syntax (PS3.5 8.2.5-8.2.11).

:func:`conform` keeps the coded video when it already fits (a *remux*: packets copied into a
fresh MP4 with the ``avc1``/``hvc1`` sample entry and the index first, or into an MPEG-2
program stream) and otherwise re-encodes it with PyAV: H.264 High Profile with x264, HEVC
Main / Main 10 with x265, MPEG-2 Main Profile with FFmpeg's encoder. Re-encoding
deinterlaces, makes pixels square and sizes even, turns a variable frame rate into the
nearest standard constant rate and trims to [start, end); each change is reported as a note.

Containers written: MP4 for H.264 and HEVC (PS3.5 8.2.7-8.2.11 allow MPEG-2 TS or ISO base
media; MP4 is what viewers and dcm4che read); an MPEG-2 program stream for MPEG-2 (the
DVD-style stream PS3.5 8.2.5 describes, which dciodvfy and dcm4che parse). Audio: AAC-LC
48 kHz in MP4; MPEG-1 Layer III (MP3) CBR 48 kHz in the program stream.

The result is written under a temporary name next to *target*, probed, checked against the
syntax and only then renamed: a failure leaves neither *target* nor the temporary file.
Frames and packets are streamed; memory does not grow with the length of the clip.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from izer.encode.video.probe import probe
from izer.encode.video.stream import AudioInfo, StreamInfo
from izer.encode.video.syntaxes import (
    DEFAULT_ORDER_8BIT,
    DEFAULT_ORDER_DEEP,
    VideoSyntax,
    choose_syntax,
    conformance_problems,
    container_problems,
    format_rate,
    size_problems,
)

#: x264/x265 speed presets; ``ultrafast`` is refused for H.264 (it gives Constrained
#: Baseline whatever profile is asked for).
PRESETS = (
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
)
AUDIO_RATE = 48_000
#: Constant quality of the encoders (x264/x265 CRF): visually transparent for most clinical
#: video at a fraction of the camera's bit rate.
H264_CRF = 20
HEVC_CRF = 22

#: Rate limits per syntax: (VBV max rate kbit/s, VBV buffer kbit) within the level's MaxBR
#: and MaxCPB (H.264 Table A-1 High profile x1.25; HEVC Table A.8 Main tier; MPEG-2 13818-2
#: Table 8-13 with the VBV buffer of Main/High level).
_RATE_LIMITS = {
    VideoSyntax.H264_HP41: (50_000, 62_500),
    VideoSyntax.H264_HP41_BD: (40_000, 30_000),
    VideoSyntax.H264_HP42_2D: (50_000, 62_500),
    VideoSyntax.HEVC_MAIN: (40_000, 40_000),
    VideoSyntax.HEVC_MAIN10: (40_000, 40_000),
    VideoSyntax.MPEG2_MPML: (9_800, 1_835),
    VideoSyntax.MPEG2_MPHL: (40_000, 9_781),
}
#: Timestamps within this of a trim bound count as on it (a frame at 0.25 s is in [0.25, 1)).
_TIME_SLACK_S = 0.001
_MPEG2_BIT_RATE = {VideoSyntax.MPEG2_MPML: 6_000_000, VideoSyntax.MPEG2_MPHL: 20_000_000}


class ConformError(RuntimeError):
    """The written stream did not turn out as the syntax requires (a bug or a broken codec)."""


@dataclass(frozen=True)
class ConformResult:
    """What :func:`conform` wrote."""

    info: StreamInfo
    """The probe of the written target."""
    syntax: VideoSyntax
    remuxed: bool
    """True when the coded video was copied, not re-encoded."""
    notes: tuple[str, ...]
    """Each change made to the video or sound, in plain words."""


@dataclass
class _Plan:
    """How the source becomes the target."""

    source: StreamInfo
    syntax: VideoSyntax
    width: int
    height: int
    sample_aspect_ratio: Fraction
    frame_rate: Fraction
    deinterlace: bool
    start_s: float | None
    end_s: float | None
    audio: str  # 'none' | 'copy' | 'aac' | 'mp3'
    remux: bool
    notes: list[str] = field(default_factory=list)

    @property
    def container(self) -> str:
        return "mpeg" if self.syntax.codec == "mpeg2video" else "mp4"

    @property
    def trimmed(self) -> bool:
        return self.start_s is not None or self.end_s is not None


def conform(
    source: Path,
    target: Path,
    *,
    syntax: VideoSyntax | None = None,
    preference: Sequence[VideoSyntax] = (),
    start_s: float | None = None,
    end_s: float | None = None,
    audio: bool = True,
    preset: str = "veryfast",
    progress: Callable[[int, int], None] | None = None,
    reencode: bool = False,
    keyframes_at: Sequence[float] = (),
) -> ConformResult:
    """Write *target*: the video of *source* in a stream that fits a DICOM video syntax.

    Parameters
    ----------
    source
        Any video file PyAV reads.
    target
        The file to write (MP4 for H.264/HEVC, MPEG program stream for MPEG-2); replaced if
        it exists.
    syntax
        The transfer syntax to fit; None picks one: the first of *preference* (or of all
        syntaxes) the source already fits, else :func:`choose_syntax`.
    preference
        The acceptable syntaxes, best first, when *syntax* is None.
    start_s, end_s
        Keep only [start_s, end_s) seconds from the start of the clip (re-encodes).
    audio
        Keep the first audio stream (as AAC 48 kHz, or MP3 with MPEG-2) when there is one.
    preset
        x264/x265 speed preset (``veryfast`` by default; ``ultrafast`` is refused for H.264).
    progress
        Called with (frames done, frames expected) while re-encoding or copying.
    reencode
        Re-encode even when the coded video could be copied (e.g. to place key frames).
    keyframes_at
        When re-encoding: times (seconds from the start of the kept section) at which a
        closed group of pictures must start, so that the stream can be cut there without
        re-encoding (:func:`cut`). Every group of pictures izer encodes is closed.

    Raises
    ------
    ValueError
        The source cannot be read, the trim range is wrong, or *syntax* cannot hold the
        clip (the message says why and what to do).
    ConformError
        The stream written did not verify; nothing is left behind.
    """
    source, target = Path(source), Path(target)
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}: use one of {', '.join(PRESETS)}")
    info = probe(source)
    plan = _plan(info, syntax, tuple(preference), start_s, end_s, audio, preset, reencode)
    _check_encoders(plan)
    temporary = target.with_name(f".{target.stem}.{secrets.token_hex(4)}.part{target.suffix}")
    try:
        if plan.remux:
            _remux(plan, temporary, progress)
        else:
            forced = {round(t * plan.frame_rate) for t in keyframes_at if t > 0}
            _transcode(plan, temporary, preset, progress, forced)
        written = probe(temporary)
        _verify(plan, written)
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
    return ConformResult(
        info=_relocated(written, target),
        syntax=plan.syntax,
        remuxed=plan.remux,
        notes=tuple(plan.notes),
    )


# --- planning ----------------------------------------------------------------------------


def _plan(
    info: StreamInfo,
    syntax: VideoSyntax | None,
    preference: tuple[VideoSyntax, ...],
    start_s: float | None,
    end_s: float | None,
    audio: bool,
    preset: str,
    reencode: bool = False,
) -> _Plan:
    notes: list[str] = []
    start_s, end_s = _trim_range(info, start_s, end_s, notes)
    trimmed = start_s is not None or end_s is not None
    if syntax is None:
        # A stream that already fits keeps its syntax (and, untrimmed, its coded frames).
        syntax = already_fitting(info, preference)
    if (
        syntax is not None
        and not trimmed
        and not reencode
        and not conformance_problems(info, syntax)
    ):
        if _can_copy(info, syntax):
            return _Plan(
                source=info,
                syntax=syntax,
                width=info.width,
                height=info.height,
                sample_aspect_ratio=info.sample_aspect_ratio,
                frame_rate=info.frame_rate,
                deinterlace=False,
                start_s=None,
                end_s=None,
                audio=_audio_mode(info.audio, syntax, audio, copy_ok=True, notes=notes),
                remux=True,
                notes=notes,
            )
        notes.append(
            "the stream carries its parameter sets only inside the frames (no decoder "
            "configuration for an avc1/hvc1 MP4); it was re-encoded"
        )
    keep_sar = syntax is VideoSyntax.MPEG2_MPML
    upright = info
    if info.rotation:
        notes.append(f"the picture was turned {info.rotation} degrees upright, as players show it")
        if info.rotation in (90, 270):
            upright = replace(
                info,
                width=info.height,
                height=info.width,
                sample_aspect_ratio=1 / info.sample_aspect_ratio,
            )
    width, height, sar = _geometry(upright, keep_sar, notes)
    rate = info.frame_rate
    if not info.constant_frame_rate:
        notes.append(
            f"the frame rate varied; the video was converted to a constant {format_rate(rate)} "
            "frames/s (frames repeated or dropped to keep the timing)"
        )
    if info.interlaced:
        notes.append("the video was interlaced; it was deinterlaced (bwdif, one frame per frame)")
    bit_depth = info.bit_depth
    if syntax is None:
        syntax = choose_syntax(width, height, rate, bit_depth, preference=preference)
    else:
        problems = size_problems(width, height, rate, syntax)
        if problems:
            raise ValueError(
                f"{info.path}: {syntax.description} cannot hold this video: "
                f"{'; '.join(problems)}; choose another syntax or leave it to izer"
            )
    if syntax.codec == "h264" and preset == "ultrafast":
        raise ValueError(
            "preset 'ultrafast' makes x264 write Constrained Baseline, not the High profile "
            "the syntax needs; use 'superfast' or slower"
        )
    if bit_depth > syntax.bit_depth:
        notes.append(f"the {bit_depth}-bit video was reduced to {syntax.bit_depth} bits per sample")
    if not info.pix_fmt.startswith(("yuv420p", "yuvj420p", "nv12")):
        notes.append(f"the chroma of {info.pix_fmt} was subsampled to 4:2:0")
    if info.pix_fmt.startswith("yuvj"):
        notes.append("full-range (JPEG) levels were scaled to video range")
    if info.codec != syntax.codec:
        notes.append(f"the {_label(info.codec)} video was re-encoded as {_label(syntax.codec)}")
    else:
        reasons = [
            p
            for p in conformance_problems(info, syntax)
            if not p.startswith(("the video is interlaced", "the frame rate is variable"))
            and "not square" not in p
            and "is odd" not in p
            and "stored turned" not in p
        ]
        if reasons:
            notes.append(f"re-encoded for {syntax.description}: {'; '.join(reasons)}")
    if trimmed:
        end = f"{end_s:g}" if end_s is not None else f"{info.duration_s:.3f}"
        notes.append(f"trimmed to [{start_s or 0:g}, {end}) s")
    return _Plan(
        source=info,
        syntax=syntax,
        width=width,
        height=height,
        sample_aspect_ratio=sar,
        frame_rate=rate,
        deinterlace=info.interlaced,
        start_s=start_s,
        end_s=end_s,
        audio=_audio_mode(info.audio, syntax, audio, copy_ok=not trimmed, notes=notes),
        remux=False,
        notes=notes,
    )


def _label(codec: str) -> str:
    return _CODEC_LABELS.get(codec, codec)


_CODEC_LABELS = {
    "h264": "H.264",
    "hevc": "HEVC",
    "mpeg2video": "MPEG-2",
    "mpeg1video": "MPEG-1",
    "mpeg4": "MPEG-4 Part 2",
    "mjpeg": "Motion JPEG",
    "vp8": "VP8",
    "vp9": "VP9",
    "av1": "AV1",
    "prores": "ProRes",
}


def _trim_range(
    info: StreamInfo, start_s: float | None, end_s: float | None, notes: list[str]
) -> tuple[float | None, float | None]:
    duration = info.duration_s
    if start_s is not None and start_s <= 0:
        start_s = None
    if start_s is not None and start_s >= duration:
        raise ValueError(
            f"{info.path}: the start {start_s:g} s is at or after the end of the video "
            f"({duration:.3f} s); choose an earlier start"
        )
    if end_s is not None:
        if end_s <= (start_s or 0.0):
            raise ValueError(
                f"{info.path}: the end {end_s:g} s must come after the start "
                f"{start_s or 0:g} s; swap or fix them"
            )
        if end_s >= duration:
            if end_s > duration + 1 / max(float(info.frame_rate), 1):
                notes.append(
                    f"the end {end_s:g} s is past the end of the video; kept to {duration:.3f} s"
                )
            end_s = None
    return start_s, end_s


def already_fitting(info: StreamInfo, preference: Sequence[VideoSyntax] = ()) -> VideoSyntax | None:
    """The first acceptable syntax the coded stream fits as it is (no re-encoding needed).

    Without a preference: izer's default order, then MPEG-2 (an MPEG-2 clip stays MPEG-2).
    BD-compatible H.264 is only considered when preferred: its constraints go beyond what
    :func:`conformance_problems` can see in a stream.
    """
    candidates = tuple(preference) or (
        *_default_order(info.bit_depth),
        VideoSyntax.MPEG2_MPML,
        VideoSyntax.MPEG2_MPHL,
    )
    for candidate in dict.fromkeys(candidates):
        if not conformance_problems(info, candidate):
            return candidate
    return None


def _default_order(bit_depth: int) -> tuple[VideoSyntax, ...]:
    return DEFAULT_ORDER_DEEP if bit_depth > 8 else DEFAULT_ORDER_8BIT


def _can_copy(info: StreamInfo, syntax: VideoSyntax) -> bool:
    """True when the packets can go into the target container unchanged."""
    if syntax.codec == "mpeg2video":
        return True
    with av.open(os.fspath(info.path)) as container:
        extradata = bytes(container.streams.video[0].codec_context.extradata or b"")
    return has_parameter_sets(info.codec, extradata)


def has_parameter_sets(codec: str, extradata: bytes) -> bool:
    """True when the decoder configuration holds the SPS/PPS (and VPS) an ``avc1``/``hvc1``
    sample entry must carry (ISO/IEC 14496-15 5.4.2, 8.4.1); Annex B extradata counts when
    it holds them (the MP4 muxer converts it)."""
    if not extradata:
        return False
    if extradata[0] != 1:  # Annex B
        kinds = set()
        for unit in extradata.split(b"\x00\x00\x01")[1:]:
            if unit:
                kinds.add(unit[0] & 0x1F if codec == "h264" else (unit[0] >> 1) & 0x3F)
        wanted = {7, 8} if codec == "h264" else {32, 33, 34}
        return wanted <= kinds
    if codec == "h264":
        return len(extradata) > 6 and extradata[5] & 0x1F > 0
    if len(extradata) < 23:
        return False
    kinds = set()
    offset = 23
    for _ in range(extradata[22]):
        if offset + 3 > len(extradata):
            return False
        kind = extradata[offset] & 0x3F
        count = int.from_bytes(extradata[offset + 1 : offset + 3], "big")
        offset += 3
        for _ in range(count):
            length = int.from_bytes(extradata[offset : offset + 2], "big")
            offset += 2 + length
        if count:
            kinds.add(kind)
    return {32, 33, 34} <= kinds


def _geometry(info: StreamInfo, keep_sar: bool, notes: list[str]) -> tuple[int, int, Fraction]:
    width, height, sar = info.width, info.height, info.sample_aspect_ratio
    if sar != 1 and not keep_sar:
        width = round(width * sar)
        notes.append(
            f"the pixels were {sar.numerator}:{sar.denominator}; the video was scaled to "
            f"{_even(width)}x{_even(height)} with square pixels"
        )
        sar = Fraction(1)
    if width % 2 or height % 2:
        if sar == 1 and width == info.width:
            notes.append(
                f"the frame size {width}x{height} is odd; scaled to {_even(width)}x{_even(height)}"
            )
        width, height = _even(width), _even(height)
    return width, height, sar


def _even(value: int) -> int:
    return max(2, value - value % 2)


def _audio_mode(
    audio: AudioInfo | None,
    syntax: VideoSyntax,
    wanted: bool,
    *,
    copy_ok: bool,
    notes: list[str],
) -> str:
    if audio is None or not wanted:
        return "none"
    if syntax.codec == "mpeg2video":
        if "libmp3lame" not in av.codecs_available:
            notes.append(
                "the sound was dropped: MPEG-2 allows only MP3 and PyAV has no MP3 encoder"
            )
            return "none"
        notes.append(f"the sound ({audio.codec}) was re-encoded as MP3 48 kHz stereo CBR")
        return "mp3"
    # PS3.5 8.2.12: AAC in MP4 at 48 kHz with 2 or 5.1 channels.
    if (
        copy_ok
        and audio.codec == "aac"
        and audio.sample_rate == AUDIO_RATE
        and audio.channels in (2, 6)
    ):
        return "copy"
    notes.append(
        f"the sound ({audio.codec} {audio.sample_rate} Hz, {audio.channels} channel(s)) was "
        "re-encoded as AAC 48 kHz stereo"
    )
    return "aac"


def _check_encoders(plan: _Plan) -> None:
    needed = set()
    if not plan.remux:
        needed.add({"h264": "libx264", "hevc": "libx265"}.get(plan.syntax.codec, "mpeg2video"))
    if plan.audio == "aac":
        needed.add("aac")
    missing = sorted(n for n in needed if n not in av.codecs_available)
    if missing:
        raise ValueError(
            f"PyAV has no {', '.join(missing)} encoder; install a PyAV wheel built with it"
        )


# --- writing -----------------------------------------------------------------------------


def _open_output(plan: _Plan, path: Path) -> av.container.OutputContainer:
    if plan.container == "mp4":
        return av.open(os.fspath(path), "w", format="mp4", options={"movflags": "+faststart"})
    return av.open(os.fspath(path), "w", format="mpeg")


def _remux(plan: _Plan, path: Path, progress: Callable[[int, int], None] | None) -> None:
    """Copy the coded frames, retimed on the exact constant frame grid.

    The frames keep their order; presentation times become frame numbers in units of
    1/rate (a Matroska clip in milliseconds would otherwise come out with a jittering
    interval) and decoding times consecutive numbers just early enough for the reordering.
    """
    total = plan.source.frame_count
    rate = plan.frame_rate
    origin, dts_base = _frame_grid(plan.source.path, rate)
    with av.open(os.fspath(plan.source.path), metadata_errors="ignore") as source:
        video_in = source.streams.video[0]
        audio_in = source.streams.audio[0] if plan.audio != "none" else None
        time_base = video_in.time_base or Fraction(1, 90000)
        origin_s = float(origin * time_base)
        with _open_output(plan, path) as output:
            video_out = output.add_stream_from_template(video_in)
            video_out.time_base = 1 / rate
            if plan.container == "mp4":
                video_out.codec_tag = "avc1" if plan.syntax.codec == "h264" else "hvc1"
            audio = _AudioWriter.create(plan, output, audio_in, origin=origin_s)
            streams = [video_in] + ([audio_in] if audio_in is not None else [])
            done = 0
            for packet in source.demux(streams):
                if packet.stream is not video_in:
                    audio.packet(packet)
                    continue
                if packet.size == 0:
                    continue
                stamp = packet.pts if packet.pts is not None else packet.dts
                slot = done if stamp is None else round((stamp - origin) * time_base * rate)
                packet.pts = slot
                packet.dts = dts_base + done
                packet.duration = 1
                packet.time_base = 1 / rate
                packet.stream = video_out
                output.mux(packet)
                done += 1
                if progress is not None:
                    progress(done, total)
            audio.finish()


def _frame_grid(path: Path, rate: Fraction, look_ahead: int = 64) -> tuple[int, int]:
    """The first presentation time (stream ticks) and the first decoding time (frames).

    Read from the first *look_ahead* video packets: decoding time number i is
    ``base + i``, with base the lowest ``slot(i) - i`` so that no frame is decoded after
    it is shown (H.264/HEVC reorder at most 16 frames). The stream's own first decoding time
    counts too: an encoder may reorder deeper later in the stream than in its first frames
    (x264's B-pyramid does), and the file's decoding times already allow for that.
    """
    with av.open(os.fspath(path), metadata_errors="ignore") as source:
        video = source.streams.video[0]
        time_base = video.time_base or Fraction(1, 90000)
        stamps: list[int | None] = []
        first_dts: int | None = None
        for packet in source.demux(video):
            if packet.size == 0:
                continue
            if first_dts is None and packet.dts is not None:
                first_dts = packet.dts - len(stamps) * round(1 / (time_base * rate))
            stamps.append(packet.pts if packet.pts is not None else packet.dts)
            if len(stamps) >= look_ahead:
                break
    known = [stamp for stamp in stamps if stamp is not None]
    origin = min(known) if known else 0
    offsets = [
        round((stamp - origin) * time_base * rate) - index
        for index, stamp in enumerate(stamps)
        if stamp is not None
    ]
    if first_dts is not None and known:
        offsets.append(min(0, round((first_dts - origin) * time_base * rate)))
    return origin, min(offsets, default=0)


# --- cutting a conforming stream at key frames -------------------------------------------


@dataclass(frozen=True)
class CutRange:
    """One part of a conforming stream: video packets in decode order from a clean key frame.

    A key frame is *clean* when no packet before it is shown after it and no packet after
    it is shown before it (a closed group of pictures): the part decodes on its own.
    """

    first_pts: int
    """Presentation time (stream ticks) of the key frame that opens the part."""
    end_pts: int | None
    """That of the key frame opening the next part; None for the last part."""
    frames: int
    """Video packets (frames) in the part."""
    dts_base: int
    """Decoding time of the first packet, in frames (negative when frames are reordered)."""
    start_s: float
    """Start of the part, seconds from the first frame of the stream."""


def cut(
    source: StreamInfo,
    target: Path,
    syntax: VideoSyntax,
    part: CutRange,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> ConformResult:
    """Copy one part of a conforming stream, and the sound played with it, into *target*.

    No frame is re-encoded: the packets are copied and retimed from 0 on the exact frame
    grid, as :func:`conform` does when it remuxes. The result is probed and checked against
    *syntax* before it takes its name; a failure leaves nothing behind.

    Raises
    ------
    ConformError
        When the part written does not verify (e.g. the cut was not at a clean key frame).
    """
    target = Path(target)
    temporary = target.with_name(f".{target.stem}.{secrets.token_hex(4)}.part{target.suffix}")
    try:
        done = _cut(source, temporary, syntax, part, progress, seek=part.start_s > 0)
        if done != part.frames and part.start_s > 0:  # the demuxer sought past the key frame
            done = _cut(source, temporary, syntax, part, progress, seek=False)
        written = probe(temporary)
        problems = conformance_problems(written, syntax) + container_problems(written, syntax)
        if written.frame_count != part.frames:
            problems.append(
                f"{written.frame_count} frames were written, the part has {part.frames}"
            )
        if source.audio is not None and written.audio is None and part.frames > 1:
            problems.append("the sound was lost")
        if problems:
            raise ConformError(
                f"{source.path}: the part from {part.start_s:.3f} s did not verify: "
                f"{'; '.join(problems)}"
            )
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
    return ConformResult(info=_relocated(written, target), syntax=syntax, remuxed=True, notes=())


def _cut(
    source: StreamInfo,
    path: Path,
    syntax: VideoSyntax,
    part: CutRange,
    progress: Callable[[int, int], None] | None,
    *,
    seek: bool,
) -> int:
    """Write the part; return the number of video packets copied."""
    rate = source.frame_rate
    container = "mpeg" if syntax.codec == "mpeg2video" else "mp4"
    with av.open(os.fspath(source.path), metadata_errors="ignore") as reader:
        video_in = reader.streams.video[0]
        audio_in = reader.streams.audio[0] if reader.streams.audio else None
        time_base = video_in.time_base or Fraction(1, 90000)
        start = float(part.first_pts * time_base)
        end = None if part.end_pts is None else float(part.end_pts * time_base)
        if seek:  # a second early: the demuxer lands on the key frame at or before
            reader.seek(int(max(0.0, start - 1.0) / time_base), stream=video_in, backward=True)
        if container == "mp4":
            output = av.open(os.fspath(path), "w", format="mp4", options={"movflags": "+faststart"})
        else:
            output = av.open(os.fspath(path), "w", format="mpeg")
        with output:
            video_out = output.add_stream_from_template(video_in)
            video_out.time_base = 1 / rate
            if container == "mp4":
                video_out.codec_tag = "avc1" if syntax.codec == "h264" else "hvc1"
            audio = _AudioCopy(output, audio_in, start) if audio_in is not None else None
            streams = [video_in] + ([audio_in] if audio_in is not None else [])
            done = 0
            video_done = False
            for packet in reader.demux(streams):
                if packet.size == 0:
                    continue
                if packet.stream is not video_in:
                    if packet.pts is None or audio is None:
                        continue
                    moment = float(packet.pts * packet.time_base)
                    if end is not None and moment >= end - _TIME_SLACK_S:
                        if video_done:
                            break
                        continue
                    if moment >= start - _TIME_SLACK_S:
                        audio.packet(packet)
                    continue
                if video_done:
                    continue
                stamp = packet.pts if packet.pts is not None else packet.dts
                if done == 0 and stamp != part.first_pts:
                    continue
                if stamp == part.end_pts or done == part.frames:
                    video_done = True
                    if audio is None:
                        break
                    continue
                packet.pts = round((stamp - part.first_pts) * time_base * rate)
                packet.dts = part.dts_base + done
                packet.duration = 1
                packet.time_base = 1 / rate
                packet.stream = video_out
                output.mux(packet)
                done += 1
                if progress is not None:
                    progress(done, part.frames)
    return done


def _transcode(
    plan: _Plan,
    path: Path,
    preset: str,
    progress: Callable[[int, int], None] | None,
    keyframes: set[int] | frozenset[int] = frozenset(),
) -> None:
    info = plan.source
    expected = _expected_frames(plan)
    with av.open(os.fspath(info.path), metadata_errors="ignore") as source:
        video_in = source.streams.video[0]
        video_in.thread_type = "AUTO"
        audio_in = source.streams.audio[0] if plan.audio != "none" else None
        time_base = video_in.time_base or Fraction(1, 90000)
        origin = (video_in.start_time or 0) * time_base
        if plan.start_s is not None:
            margin = 0 if info.container in ("mp4", "mov") else 1.0
            seek_to = max(0.0, float(origin) + plan.start_s - margin)
            source.seek(int(seek_to / time_base), stream=video_in, backward=True)
        with _open_output(plan, path) as output:
            video_out = _add_video_encoder(plan, output, preset)
            audio = _AudioWriter.create(plan, output, audio_in, origin=float(origin))
            graph = _VideoFilter(plan, video_in)
            encoder = _VideoEncoder(output, video_out, plan.frame_rate, keyframes)
            streams = [video_in] + ([audio_in] if audio_in is not None else [])
            start = plan.start_s or 0.0
            end = plan.end_s
            slack = _TIME_SLACK_S
            video_done = False
            for packet in source.demux(streams):
                if packet.stream is not video_in:
                    audio.packet(packet)
                    continue
                if video_done:
                    if audio.done:
                        break
                    continue
                for frame in _decode(packet):
                    if frame.pts is None:
                        continue
                    moment = float(frame.pts * time_base - origin)
                    if moment < start - slack:
                        continue
                    if end is not None and moment >= end - slack:
                        video_done = True
                        break
                    for filtered in graph.push(frame):
                        encoder.encode(filtered)
                        if progress is not None:
                            progress(encoder.count, max(expected, encoder.count))
            if not video_done:
                for frame in _decode(None, video_in):
                    moment = float((frame.pts or 0) * time_base - origin)
                    if end is not None and moment >= end - slack:
                        break
                    if moment >= start - slack:
                        for filtered in graph.push(frame):
                            encoder.encode(filtered)
            for filtered in graph.push(None):
                encoder.encode(filtered)
            encoder.finish()
            if progress is not None:
                progress(encoder.count, encoder.count)
            audio.finish()


def _decode(
    packet: av.Packet | None, stream: av.VideoStream | None = None
) -> Iterator[av.VideoFrame]:
    """Decode a packet (or flush the stream's decoder); a damaged packet yields nothing."""
    try:
        if packet is None:
            assert stream is not None
            yield from stream.codec_context.decode(None)
        else:
            yield from packet.decode()
    except (av.InvalidDataError, av.EOFError):  # damaged data; a decoder already flushed
        return


def _expected_frames(plan: _Plan) -> int:
    info = plan.source
    if not plan.trimmed and info.constant_frame_rate:
        return info.frame_count
    end = plan.end_s if plan.end_s is not None else info.duration_s
    return max(1, round((end - (plan.start_s or 0.0)) * float(plan.frame_rate)))


def _add_video_encoder(
    plan: _Plan, output: av.container.OutputContainer, preset: str
) -> av.VideoStream:
    syntax = plan.syntax
    rate = plan.frame_rate
    gop = max(1, round(float(rate)))
    max_rate, buffer = _RATE_LIMITS[syntax]
    if syntax.codec == "h264":
        stream = output.add_stream("libx264", rate=rate)
        level = "4.2" if syntax is VideoSyntax.H264_HP42_2D else "4.1"
        stream.options = {
            "preset": preset,
            "profile": "high",
            "level": level,
            "crf": str(H264_CRF),
            "forced-idr": "1",
            "x264-params": f"vbv-maxrate={max_rate}:vbv-bufsize={buffer}:keyint={gop}",
        }
        stream.pix_fmt = "yuv420p"
        stream.codec_tag = "avc1"
    elif syntax.codec == "hevc":
        stream = output.add_stream("libx265", rate=rate)
        ten = syntax is VideoSyntax.HEVC_MAIN10
        stream.options = {
            "preset": preset,
            "crf": str(HEVC_CRF),
            "profile": "main10" if ten else "main",
            "forced-idr": "1",
            "x265-params": (
                f"log-level=error:level-idc=5.1:no-high-tier=1:vbv-maxrate={max_rate}:"
                f"vbv-bufsize={buffer}:keyint={gop}:min-keyint={gop}:open-gop=0"
            ),
        }
        stream.pix_fmt = "yuv420p10le" if ten else "yuv420p"
        stream.codec_tag = "hvc1"
    else:
        stream = output.add_stream("mpeg2video", rate=rate)
        stream.pix_fmt = "yuv420p"
        stream.bit_rate = _MPEG2_BIT_RATE[syntax]
        level = "8" if syntax is VideoSyntax.MPEG2_MPML else "4"  # 13818-2 Table 8-3 codes
        stream.options = {
            "maxrate": f"{max_rate}k",
            "bufsize": f"{buffer}k",
            "bf": "2",
            "profile": "4",  # Main
            "level": level,
            # Closed groups of pictures (cuttable); FFmpeg needs scene cuts off for them.
            "flags": "+cgop",
            "sc_threshold": "1000000000",
        }
        stream.codec_context.sample_aspect_ratio = plan.sample_aspect_ratio
    stream.width = plan.width
    stream.height = plan.height
    stream.time_base = 1 / rate
    stream.codec_context.framerate = rate
    stream.codec_context.time_base = 1 / rate
    stream.codec_context.gop_size = gop
    stream.thread_type = "FRAME"
    return stream


class _VideoFilter:
    """Deinterlace, scale, make the rate constant and convert to the encoder's pixel format."""

    def __init__(self, plan: _Plan, stream: av.VideoStream) -> None:
        self.graph = av.filter.Graph()
        nodes = [self.graph.add_buffer(template=stream)]
        if plan.deinterlace:
            nodes.append(self.graph.add("bwdif", "mode=send_frame:parity=auto:deint=all"))
        # Display matrix: counter-clockwise degrees to show upright (as the ffmpeg CLI does).
        turn = plan.source.rotation
        if turn == 90:
            nodes.append(self.graph.add("transpose", "cclock"))
        elif turn == 270:
            nodes.append(self.graph.add("transpose", "clock"))
        elif turn == 180:
            nodes += [self.graph.add("hflip"), self.graph.add("vflip")]
        nodes.append(self.graph.add("scale", f"{plan.width}:{plan.height}:flags=bicubic"))
        sar = plan.sample_aspect_ratio
        nodes.append(self.graph.add("setsar", f"{sar.numerator}/{sar.denominator}"))
        if not plan.source.constant_frame_rate:
            rate = plan.frame_rate
            nodes.append(self.graph.add("fps", f"fps={rate.numerator}/{rate.denominator}"))
        pix_fmt = "yuv420p10le" if plan.syntax is VideoSyntax.HEVC_MAIN10 else "yuv420p"
        nodes.append(self.graph.add("format", f"pix_fmts={pix_fmt}"))
        nodes.append(self.graph.add("buffersink"))
        self.graph.link_nodes(*nodes).configure()

    def push(self, frame: av.VideoFrame | None) -> Iterator[av.VideoFrame]:
        self.graph.push(frame)
        while True:
            try:
                yield self.graph.pull()
            except (av.BlockingIOError, av.EOFError):
                return


class _VideoEncoder:
    """Number the frames 0, 1, 2 ... in units of 1/rate and mux the packets."""

    def __init__(
        self,
        output: av.container.OutputContainer,
        stream: av.VideoStream,
        rate: Fraction,
        keyframes: set[int] | frozenset[int] = frozenset(),
    ) -> None:
        self.output = output
        self.stream = stream
        self.time_base = 1 / rate
        self.keyframes = keyframes
        self.count = 0

    def encode(self, frame: av.VideoFrame) -> None:
        frame.pts = self.count
        frame.time_base = self.time_base
        picture = av.video.frame.PictureType
        frame.pict_type = picture.I if self.count in self.keyframes else picture.NONE
        self.count += 1
        self.output.mux(self.stream.encode(frame))

    def finish(self) -> None:
        self.output.mux(self.stream.encode(None))


class _AudioWriter:
    """Copy, re-encode (resampled, trimmed to the sample) or ignore the audio packets."""

    def __init__(self) -> None:
        self.done = True

    @staticmethod
    def create(
        plan: _Plan,
        output: av.container.OutputContainer,
        stream: av.AudioStream | None,
        *,
        origin: float = 0.0,
    ) -> _AudioWriter:
        if stream is None or plan.audio == "none":
            return _AudioWriter()
        if plan.audio == "copy":
            return _AudioCopy(output, stream, origin)
        return _AudioEncode(plan, output, stream, origin)

    def packet(self, packet: av.Packet) -> None:
        """Take one audio packet of the source."""

    def finish(self) -> None:
        """Encode what is buffered and flush the encoder."""


class _AudioCopy(_AudioWriter):
    """Copy the sound packets, shifted by the same time as the video."""

    def __init__(
        self, output: av.container.OutputContainer, stream: av.AudioStream, origin: float
    ) -> None:
        super().__init__()
        self.output = output
        self.stream = output.add_stream_from_template(stream)
        time_base = stream.time_base or Fraction(1, AUDIO_RATE)
        self.shift = round(origin / time_base)

    def packet(self, packet: av.Packet) -> None:
        if packet.dts is None or packet.size == 0:
            return
        packet.dts -= self.shift
        if packet.pts is not None:
            packet.pts -= self.shift
        packet.stream = self.stream
        self.output.mux(packet)


class _AudioEncode(_AudioWriter):
    def __init__(
        self,
        plan: _Plan,
        output: av.container.OutputContainer,
        stream: av.AudioStream,
        origin: float,
    ) -> None:
        super().__init__()
        self.done = False
        self.output = output
        self.source = stream
        codec = "libmp3lame" if plan.audio == "mp3" else "aac"
        self.stream = output.add_stream(codec, rate=AUDIO_RATE)
        self.stream.layout = "stereo"
        self.stream.bit_rate = 192_000 if plan.audio == "mp3" else 160_000
        self.stream.time_base = Fraction(1, AUDIO_RATE)
        self.resampler = av.AudioResampler(format="fltp", layout="stereo", rate=AUDIO_RATE)
        self.fifo = av.AudioFifo()
        self.start = (plan.start_s or 0.0) + origin
        self.end_sample = (
            None if plan.end_s is None else round((plan.end_s - (plan.start_s or 0.0)) * AUDIO_RATE)
        )
        self.written = 0  # samples given to the FIFO
        self.encoded = 0  # samples encoded
        self.first = True

    def packet(self, packet: av.Packet) -> None:
        if self.done:
            return
        try:
            frames = packet.decode()
        except (av.InvalidDataError, av.EOFError):
            return
        for frame in frames:
            for resampled in self.resampler.resample(frame):
                self._take(resampled)

    def _take(self, frame: av.AudioFrame) -> None:
        samples = frame.to_ndarray()
        if self.first and frame.time is not None:
            offset = round((float(frame.time) - self.start) * AUDIO_RATE)
            if offset < 0:
                samples = samples[:, -offset:]
                if samples.shape[1] == 0:
                    return
            elif offset > 0:
                silence = np.zeros((samples.shape[0], offset), dtype=samples.dtype)
                samples = np.concatenate([silence, samples], axis=1)
        self.first = False
        if self.end_sample is not None:
            room = self.end_sample - self.written
            if room <= 0:
                self.done = True
                return
            samples = samples[:, :room]
        chunk = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(samples), format="fltp", layout="stereo"
        )
        chunk.sample_rate = AUDIO_RATE
        chunk.pts = None
        self.fifo.write(chunk)
        self.written += samples.shape[1]
        self._drain(final=False)

    def _drain(self, *, final: bool) -> None:
        size = self.stream.codec_context.frame_size or 1024
        while self.fifo.samples >= size or (final and self.fifo.samples > 0):
            frame = self.fifo.read(min(size, self.fifo.samples) if final else size)
            if frame is None:
                break
            frame.pts = self.encoded
            frame.time_base = Fraction(1, AUDIO_RATE)
            self.encoded += frame.samples
            self.output.mux(self.stream.encode(frame))

    def finish(self) -> None:
        if not self.done:
            for resampled in self.resampler.resample(None):
                self._take(resampled)
        self._drain(final=True)
        self.output.mux(self.stream.encode(None))
        self.done = True


# --- checking ----------------------------------------------------------------------------


def _verify(plan: _Plan, written: StreamInfo) -> None:
    problems = conformance_problems(written, plan.syntax) + container_problems(written, plan.syntax)
    if written.width != plan.width or written.height != plan.height:
        problems.append(
            f"the frame size is {written.width}x{written.height}, {plan.width}x{plan.height} "
            "was asked for"
        )
    if written.frame_rate != plan.frame_rate:
        problems.append(f"the frame rate is {written.frame_rate}, {plan.frame_rate} was asked for")
    same_count = plan.remux or (not plan.trimmed and plan.source.constant_frame_rate)
    if same_count and written.frame_count != plan.source.frame_count:
        problems.append(
            f"{written.frame_count} frames were written, the source has {plan.source.frame_count}"
        )
    if plan.audio != "none" and written.audio is None:
        problems.append("the sound was lost")
    if problems:
        raise ConformError(
            f"{plan.source.path}: the {plan.syntax.description} stream written did not verify: "
            f"{'; '.join(problems)}"
        )


def _relocated(info: StreamInfo, path: Path) -> StreamInfo:
    return replace(info, path=path)
