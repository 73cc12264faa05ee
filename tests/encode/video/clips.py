"""Short video clips made with ffmpeg, once per test session, for the video tests.

Usage::

    from tests.encode.video.clips import CLIPS, make_clip

    path = make_clip("h264_high_720p30")        # made on first use, then cached
    spec = CLIPS["h264_high_720p30"]              # what the clip is: size, rate, frames ...

Every clip is synthetic (ffmpeg ``testsrc2`` and ``sine``); nothing identifies a person.
Clips are written to one temporary folder per process (removed at exit) unless *folder* is
given. A missing ``/usr/bin/ffmpeg`` skips the calling test (fails it under ``CI=true``).
"""

from __future__ import annotations

import atexit
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av

from tests.helpers.binaries import require_binaries


@dataclass(frozen=True)
class ClipSpec:
    """One kind of input clip and what is known about it by construction."""

    name: str
    file_name: str
    description: str
    width: int = 0
    height: int = 0
    frame_rate: Fraction = Fraction(0)
    frames: int = 0
    """Frames the clip holds (0 for files that are not video)."""
    audio: bool = False
    ffmpeg_args: tuple[str, ...] = ()
    special: str = ""
    """How to make a file other than from lavfi sources: ``empty``, ``text``,
    ``truncate:<clip>`` (a prefix of another clip), ``copy:<clip>`` (another clip's
    streams copied into the container this clip's file name implies), ``rotate:<clip>``
    (another clip copied with a display matrix of ``extra["degrees"]``, written with PyAV
    because the ffmpeg 5.1 command line cannot set one)."""
    extra: dict[str, object] = field(default_factory=dict)


def _args(*parts: tuple[str, ...]) -> tuple[str, ...]:
    """Join argument groups into one ffmpeg argument tuple."""
    return tuple(arg for part in parts for arg in part)


def _lavfi_video(size: str, rate: str, duration: float) -> tuple[str, ...]:
    return ("-f", "lavfi", "-i", f"testsrc2=size={size}:rate={rate}", "-t", str(duration))


def _lavfi_audio(rate: int = 44100) -> tuple[str, ...]:
    return ("-f", "lavfi", "-i", f"sine=frequency=440:sample_rate={rate}")


_X264_FAST = ("-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p")
_X265 = ("-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "log-level=error")

_SPECS = (
    ClipSpec(
        "h264_high_720p30",
        "h264_high_720p30.mp4",
        "H.264 High L3.1 1280x720 30 fps 1 s, avc1, faststart, AAC 48 kHz stereo: conforms",
        1280,
        720,
        Fraction(30),
        30,
        True,
        _args(
            _lavfi_video("1280x720", "30", 1),
            ("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "1"),
            _X264_FAST,
            ("-profile:v", "high", "-level:v", "3.1", "-g", "30"),
            ("-c:a", "aac", "-ac", "2", "-b:a", "96k", "-movflags", "+faststart", "-shortest"),
        ),
    ),
    ClipSpec(
        "h264_baseline_1080p30",
        "h264_baseline_1080p30.mp4",
        "H.264 Baseline 1920x1080 30 fps 1 s, moov at the end, AAC 44.1 kHz mono",
        1920,
        1080,
        Fraction(30),
        30,
        True,
        _args(
            _lavfi_video("1920x1080", "30", 1),
            _lavfi_audio(),
            ("-t", "1"),
            _X264_FAST,
            ("-profile:v", "baseline", "-c:a", "aac", "-shortest"),
        ),
    ),
    ClipSpec(
        "h264_main_720p60",
        "h264_main_720p60.mp4",
        "H.264 Main 1280x720 60000/1001 fps 0.5 s, no audio",
        1280,
        720,
        Fraction(60000, 1001),
        30,
        False,
        _args(_lavfi_video("1280x720", "60000/1001", 0.5), _X264_FAST, ("-profile:v", "main")),
    ),
    ClipSpec(
        "h264_high51_1080p60",
        "h264_high51_1080p60.mp4",
        "H.264 High L5.1 1920x1080 60 fps 0.5 s (fits HP 4.2 once re-leveled)",
        1920,
        1080,
        Fraction(60),
        30,
        False,
        _args(
            _lavfi_video("1920x1080", "60", 0.5),
            _X264_FAST,
            ("-profile:v", "high", "-level:v", "5.1"),
        ),
    ),
    ClipSpec(
        "hevc_hev1_2160p30",
        "hevc_hev1_2160p30.mp4",
        "HEVC Main 3840x2160 30 fps 0.5 s, hev1 sample entry (parameter sets in band)",
        3840,
        2160,
        Fraction(30),
        15,
        False,
        _args(
            _lavfi_video("3840x2160", "30", 0.5), _X265, ("-pix_fmt", "yuv420p", "-tag:v", "hev1")
        ),
    ),
    ClipSpec(
        "hevc_main10",
        "hevc_main10.mp4",
        "HEVC Main 10 640x360 30000/1001 fps 0.5 s, hvc1, faststart: conforms to HEVC Main 10",
        640,
        360,
        Fraction(30000, 1001),
        15,
        False,
        _args(
            _lavfi_video("640x360", "30000/1001", 0.5),
            _X265,
            ("-pix_fmt", "yuv420p10le", "-tag:v", "hvc1", "-movflags", "+faststart"),
        ),
    ),
    ClipSpec(
        "vfr_phone",
        "vfr_phone.mp4",
        "H.264 High 360x640 portrait, variable rate (15 frames at 30 fps then 20 fps), AAC",
        360,
        640,
        Fraction(30),
        25,
        True,
        _args(
            _lavfi_video("360x640", "30", 1),
            _lavfi_audio(),
            ("-t", "1", "-vf", "setpts='(N/30+gte(N\\,15)*(N-15)/60)/TB'", "-fps_mode", "vfr"),
            _X264_FAST,
            ("-video_track_timescale", "600", "-c:a", "aac", "-shortest"),
        ),
    ),
    ClipSpec(
        "interlaced_1080i",
        "interlaced_1080i.mp4",
        "H.264 High 1920x1080 interlaced (top field first) 25 fps 0.4 s",
        1920,
        1080,
        Fraction(25),
        10,
        False,
        _args(
            _lavfi_video("1920x1080", "25", 0.4),
            _X264_FAST,
            ("-flags", "+ildct+ilme", "-field_order", "tt", "-x264-params", "tff=1"),
        ),
    ),
    ClipSpec(
        "mpeg2_ps",
        "mpeg2_ps.mpg",
        "MPEG-2 MP@ML 720x576 25 fps 1 s in a program stream, MP2 audio: conforms to MP@ML",
        720,
        576,
        Fraction(25),
        25,
        True,
        _args(
            _lavfi_video("720x576", "25", 1),
            _lavfi_audio(48000),
            ("-t", "1", "-c:v", "mpeg2video", "-b:v", "4M", "-pix_fmt", "yuv420p"),
            ("-c:a", "mp2", "-f", "mpeg", "-shortest"),
        ),
    ),
    ClipSpec(
        "one_frame",
        "one_frame.mp4",
        "H.264 High 640x480 one frame at 30 fps",
        640,
        480,
        Fraction(30),
        1,
        False,
        _args(_lavfi_video("640x480", "30", 1), ("-frames:v", "1"), _X264_FAST),
    ),
    ClipSpec(
        "odd_size",
        "odd_size.mp4",
        "H.264 High 4:4:4 321x241 30 fps 0.5 s (odd size, 4:4:4 chroma)",
        321,
        241,
        Fraction(30),
        15,
        False,
        _args(
            _lavfi_video("320x240", "30", 0.5),
            ("-vf", "scale=321:241,setsar=1", "-c:v", "libx264", "-pix_fmt", "yuv444p"),
        ),
    ),
    ClipSpec(
        "anamorphic_pal",
        "anamorphic_pal.mp4",
        "H.264 High 720x576 with 64:45 pixels (16:9 PAL) 25 fps 0.5 s",
        720,
        576,
        Fraction(25),
        13,
        False,
        _args(_lavfi_video("720x576", "25", 0.5), ("-vf", "setsar=64/45"), _X264_FAST),
    ),
    ClipSpec(
        "mjpeg_avi",
        "mjpeg_avi.avi",
        "Motion JPEG 640x480 full-range 4:2:2 30 fps 0.5 s in AVI, PCM audio (capture card)",
        640,
        480,
        Fraction(30),
        15,
        True,
        _args(
            _lavfi_video("640x480", "30", 0.5),
            _lavfi_audio(),
            ("-t", "0.5", "-c:v", "mjpeg", "-pix_fmt", "yuvj422p", "-c:a", "pcm_s16le"),
        ),
    ),
    ClipSpec(
        "audio_only",
        "audio_only.m4a",
        "AAC 1 s, no video stream",
        audio=True,
        ffmpeg_args=_args(_lavfi_audio(), ("-t", "1", "-c:a", "aac")),
    ),
    ClipSpec(
        "truncated",
        "truncated.mp4",
        "the first half of h264_baseline_1080p30 (moov at the end: the index is missing)",
        special="truncate:h264_baseline_1080p30",
    ),
    ClipSpec(
        "truncated_faststart",
        "truncated_faststart.mp4",
        "the first 60 % of h264_high_720p30 (moov first: media data cut short)",
        special="truncate:h264_high_720p30",
        extra={"keep": 0.6},
    ),
    ClipSpec(
        "h264_mkv",
        "h264_mkv.mkv",
        "h264_high_720p30 copied into Matroska (millisecond timestamps)",
        1280,
        720,
        Fraction(30),
        30,
        True,
        special="copy:h264_high_720p30",
    ),
    ClipSpec(
        "h264_ts",
        "h264_ts.ts",
        "h264_high_720p30 copied into an MPEG-2 transport stream (Annex B, ADTS sound)",
        1280,
        720,
        Fraction(30),
        30,
        True,
        special="copy:h264_high_720p30",
    ),
    ClipSpec(
        "rotated_phone",
        "rotated_phone.mp4",
        "h264_high_720p30 with a display matrix turning it 90 degrees counter-clockwise "
        "(a phone held upright): stored 1280x720, shown 720x1280",
        1280,
        720,
        Fraction(30),
        30,
        True,
        special="rotate:h264_high_720p30",
        extra={"degrees": 90},
    ),
    ClipSpec("zero_byte", "zero_byte.mp4", "an empty file", special="empty"),
    ClipSpec("not_media", "not_media.mp4", "a text file named .mp4", special="text"),
)

#: Every clip kind, by name.
CLIPS: dict[str, ClipSpec] = {spec.name: spec for spec in _SPECS}

_made: dict[tuple[str, Path], Path] = {}
_lock = threading.RLock()
_session_folder: Path | None = None


def _default_folder() -> Path:
    global _session_folder
    if _session_folder is None:
        _session_folder = Path(tempfile.mkdtemp(prefix="izer-video-clips-"))
        atexit.register(shutil.rmtree, _session_folder, ignore_errors=True)
    return _session_folder


def make_clip(kind: str, folder: Path | None = None) -> Path:
    """Return the path of the clip *kind* (a key of `CLIPS`), making it on first use.

    Parameters
    ----------
    kind
        The clip kind, e.g. ``"h264_baseline_1080p30"``; see `CLIPS` for all.
    folder
        Where to write it; default: one temporary folder per process.

    Returns
    -------
    Path
        The clip; treat it as read-only (it is shared by every test of the session).
    """
    spec = CLIPS[kind]
    with _lock:
        target_folder = Path(folder) if folder is not None else _default_folder()
        key = (kind, target_folder)
        if key in _made and _made[key].exists():
            return _made[key]
        target_folder.mkdir(parents=True, exist_ok=True)
        path = target_folder / spec.file_name
        _write(spec, path, target_folder)
        _made[key] = path
        return path


def _write(spec: ClipSpec, path: Path, folder: Path) -> None:
    if spec.special == "empty":
        path.write_bytes(b"")
    elif spec.special == "text":
        path.write_text("This is a note, not a video.\n" * 20, encoding="utf-8")
    elif spec.special.startswith("rotate:"):
        source = make_clip(spec.special.split(":", 1)[1], folder)
        _copy_rotated(source, path, int(spec.extra["degrees"]))  # type: ignore[call-overload]
    elif spec.special.startswith("truncate:"):
        source_kind = spec.special.split(":", 1)[1]
        source = make_clip(source_kind, folder)
        data = source.read_bytes()
        keep = float(spec.extra.get("keep", 0.5))  # type: ignore[arg-type]
        path.write_bytes(data[: int(len(data) * keep)])
    else:
        arguments = spec.ffmpeg_args
        if spec.special.startswith("copy:"):
            source = make_clip(spec.special.split(":", 1)[1], folder)
            arguments = ("-i", str(source), "-c", "copy")
        ffmpeg = require_binaries("ffmpeg")["ffmpeg"]
        command = [str(ffmpeg), "-v", "error", "-nostdin", "-y", *arguments, str(path)]
        completed = subprocess.run(command, capture_output=True, text=True, check=False)
        if completed.returncode != 0:
            path.unlink(missing_ok=True)
            raise RuntimeError(f"ffmpeg could not make clip {spec.name}: {completed.stderr}")


def _copy_rotated(source: Path, target: Path, degrees: int) -> None:
    """Copy every stream of *source* into *target*, the video with a display matrix."""
    with av.open(str(source)) as reader, av.open(str(target), "w", format="mp4") as writer:
        mapping = {}
        for stream in reader.streams:
            copied = writer.add_stream_from_template(stream)
            if stream.type == "video":
                copied.set_display_rotation(degrees)
            mapping[stream.index] = copied
        for packet in reader.demux():
            if packet.dts is None:
                continue
            packet.stream = mapping[packet.stream.index]
            writer.mux(packet)
