"""One short ffmpeg-made clip per DICOM video transfer syntax, and the instances made from them.

Each :class:`SyntaxCase` is a clip that conforms to its syntax by construction (size, rate,
profile, level, container as PS3.5 8.2.5-8.2.11 ask), made once per test session in a
temporary folder. Every clip is synthetic (ffmpeg ``testsrc2`` and ``sine``).
"""

from __future__ import annotations

import atexit
import json
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from izer.encode.video.iods import VideoKind, video_image
from izer.encode.video.probe import probe
from izer.encode.video.syntaxes import VideoSyntax
from izer.encode.video.writer import write_video_instance
from tests.encode.factories import make_context
from tests.helpers.binaries import require_binaries


@dataclass(frozen=True)
class SyntaxCase:
    """A conforming clip for one syntax and how the instance made from it is written."""

    name: str
    syntax: VideoSyntax
    width: int
    height: int
    rate: Fraction
    frames: int
    ffmpeg_args: tuple[str, ...]
    fragmentable: bool = False
    max_fragment_bytes: int | None = None
    audio: bool = False
    sample_aspect_ratio: Fraction = Fraction(1)

    @property
    def suffix(self) -> str:
        """``.mpg`` for MPEG-2 program streams, ``.mp4`` otherwise."""
        return ".mpg" if self.syntax.codec == "mpeg2video" else ".mp4"

    @property
    def transfer_syntax(self) -> str:
        """The UID the instance must carry."""
        if self.fragmentable and self.syntax.fragmentable_uid:
            return self.syntax.fragmentable_uid
        return self.syntax.uid

    @property
    def dciodvfy_parses(self) -> bool:
        """dciodvfy 2022 reads neither HEVC (.107/.108) nor the fragmentable .1 syntaxes."""
        return self.syntax.codec != "hevc" and self.transfer_syntax == self.syntax.uid

    @property
    def dcmtk_3_6_7_accepts(self) -> bool:
        """Orthanc 1.10 and storescp (DCMTK 3.6.7) do not know the fragmentable .1 syntaxes."""
        return self.transfer_syntax == self.syntax.uid


def _video(size: str, rate: str, frames: int, *audio_input: str) -> tuple[str, ...]:
    """testsrc2 input (plus an optional audio input), ``frames`` video frames out."""
    video = ("-f", "lavfi", "-i", f"testsrc2=size={size}:rate={rate}")
    return (*video, *audio_input, "-frames:v", str(frames))


_SINE_48K = ("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000")
_MP4 = ("-movflags", "+faststart")


def _x264(level: str, *extra: str) -> tuple[str, ...]:
    encoder = ("-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p")
    return (*encoder, "-profile:v", "high", "-level:v", level, *extra)


def _x265(pix_fmt: str, profile: str) -> tuple[str, ...]:
    encoder = ("-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "log-level=error")
    return (*encoder, "-pix_fmt", pix_fmt, "-profile:v", profile, "-tag:v", "hvc1")


_MPEG2 = ("-c:v", "mpeg2video", "-pix_fmt", "yuv420p", "-f", "mpeg")
_BD = "bluray-compat=1:keyint=50:vbv-maxrate=40000:vbv-bufsize=30000"

_CASES = (
    SyntaxCase(
        "mpeg2_mpml",
        VideoSyntax.MPEG2_MPML,
        720,
        576,
        Fraction(25),
        25,
        (
            *_video("720x576", "25", 25, *_SINE_48K),
            *("-t", "1", "-b:v", "4M", *_MPEG2, "-c:a", "libmp3lame", "-b:a", "128k"),
        ),
        audio=True,
    ),
    SyntaxCase(
        "mpeg2_mpml_4x3",
        VideoSyntax.MPEG2_MPML,
        720,
        576,
        Fraction(25),
        10,
        (*_video("720x576", "25", 10), "-vf", "setsar=16/15", "-b:v", "4M", *_MPEG2),
        sample_aspect_ratio=Fraction(16, 15),
    ),
    SyntaxCase(
        "mpeg2_mphl",
        VideoSyntax.MPEG2_MPHL,
        1920,
        1080,
        Fraction(25),
        13,
        (
            *_video("1920x1080", "25", 13),
            "-b:v",
            "15M",
            "-profile:v",
            "4",
            "-level:v",
            "4",
            *_MPEG2,
        ),
    ),
    SyntaxCase(
        "h264_hp41",
        VideoSyntax.H264_HP41,
        1920,
        1080,
        Fraction(30),
        15,
        (
            *_video("1920x1080", "30", 15, *_SINE_48K),
            *("-t", "0.5", *_x264("4.1", "-g", "30"), "-c:a", "aac", "-ac", "2", *_MP4),
        ),
        audio=True,
    ),
    SyntaxCase(
        "h264_hp41_bd",
        VideoSyntax.H264_HP41_BD,
        1280,
        720,
        Fraction(50),
        25,
        (*_video("1280x720", "50", 25), *_x264("4.1", "-x264-params", _BD), *_MP4),
    ),
    SyntaxCase(
        "h264_hp42",
        VideoSyntax.H264_HP42_2D,
        1920,
        1080,
        Fraction(60),
        30,
        (*_video("1920x1080", "60", 30), *_x264("4.2", "-g", "60"), *_MP4),
    ),
    SyntaxCase(
        "hevc_main",
        VideoSyntax.HEVC_MAIN,
        640,
        360,
        Fraction(30),
        15,
        (*_video("640x360", "30", 15), *_x265("yuv420p", "main"), *_MP4),
    ),
    SyntaxCase(
        "hevc_main10",
        VideoSyntax.HEVC_MAIN10,
        640,
        360,
        Fraction(30000, 1001),
        15,
        (*_video("640x360", "30000/1001", 15), *_x265("yuv420p10le", "main10"), *_MP4),
    ),
    SyntaxCase(
        "h264_hp41_fragmentable",
        VideoSyntax.H264_HP41,
        640,
        360,
        Fraction(30000, 1001),
        30,
        (*_video("640x360", "30000/1001", 30), *_x264("4.1", "-g", "30"), *_MP4),
        fragmentable=True,
        max_fragment_bytes=16384,
    ),
    SyntaxCase(
        "hevc_fragments",
        VideoSyntax.HEVC_MAIN,
        640,
        360,
        Fraction(25),
        13,
        (*_video("640x360", "25", 13), *_x265("yuv420p", "main"), *_MP4),
        fragmentable=True,
        max_fragment_bytes=8192,
    ),
)

#: Every case, by name.
CASES: dict[str, SyntaxCase] = {case.name: case for case in _CASES}

_lock = threading.RLock()
_folder: Path | None = None
_clips: dict[str, Path] = {}
_instances: dict[str, Path] = {}


def _session_folder() -> Path:
    global _folder
    if _folder is None:
        _folder = Path(tempfile.mkdtemp(prefix="izer-video-syntaxes-"))
        atexit.register(shutil.rmtree, _folder, ignore_errors=True)
    return _folder


def run_ffmpeg(args: tuple[str, ...] | list[str], output: Path) -> Path:
    """Run ``ffmpeg`` quietly to write ``output``; a failure says what ffmpeg said."""
    ffmpeg = require_binaries("ffmpeg")["ffmpeg"]
    command = [str(ffmpeg), "-v", "error", "-nostdin", "-y", *args, str(output)]
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        output.unlink(missing_ok=True)
        raise RuntimeError(f"ffmpeg could not make {output.name}: {completed.stderr}")
    return output


def conforming_clip(name: str) -> Path:
    """The clip of case ``name``, made on first use (treat it as read-only)."""
    case = CASES[name]
    with _lock:
        if name not in _clips or not _clips[name].exists():
            _clips[name] = run_ffmpeg(case.ffmpeg_args, _session_folder() / f"{name}{case.suffix}")
        return _clips[name]


def conforming_instance(name: str, kind: VideoKind = VideoKind.ENDOSCOPIC) -> Path:
    """The video instance written (and verified) from the clip of case ``name``."""
    case = CASES[name]
    key = f"{name}-{kind.name}"
    with _lock:
        if key not in _instances or not _instances[key].exists():
            clip = conforming_clip(name)
            options = (
                {}
                if case.max_fragment_bytes is None
                else {"max_fragment_bytes": case.max_fragment_bytes}
            )
            ds = video_image(
                clip,
                probe(clip),
                make_context(1, kind.modality),
                kind=kind,
                syntax=case.syntax,
                fragmentable=case.fragmentable,
                **options,
            )
            path = _session_folder() / f"{key}.dcm"
            write_video_instance(ds, path)
            _instances[key] = path
        return _instances[key]


def ffprobe_video(path: Path) -> dict[str, str]:
    """What ffprobe says about the first video stream of ``path`` (codec, profile, level...)."""
    ffprobe = require_binaries("ffprobe")["ffprobe"]
    entries = "stream=codec_name,profile,level,width,height,r_frame_rate,codec_tag_string"
    command = [str(ffprobe), "-v", "error", "-select_streams", "v:0", "-show_entries"]
    completed = subprocess.run(
        [*command, entries, "-of", "json", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    (stream,) = json.loads(completed.stdout)["streams"]
    return {key: str(value) for key, value in stream.items()}


def decoded_frame_count(path: Path) -> int:
    """Frames PyAV decodes from the first video stream of ``path`` (every one decoded)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        return sum(1 for _ in container.decode(stream))
