"""conform(): every input becomes a stream that fits its DICOM syntax, or a clear refusal.

Results are checked with ffprobe (an independent reader), not only with izer's own probe.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from izer.encode.video import transcode
from izer.encode.video.syntaxes import VideoSyntax
from izer.encode.video.transcode import ConformError, conform, has_parameter_sets
from tests.encode.video.clips import CLIPS, make_clip
from tests.helpers.binaries import require_binaries

V = VideoSyntax

#: What ffprobe must report for each syntax: codec, profiles, highest level, sample entry.
SYNTAX_FACTS: dict[VideoSyntax, tuple[str, set[str], int, str]] = {
    V.H264_HP41: ("h264", {"High"}, 41, "avc1"),
    V.H264_HP42_2D: ("h264", {"High"}, 42, "avc1"),
    V.HEVC_MAIN: ("hevc", {"Main"}, 153, "hvc1"),
    V.HEVC_MAIN10: ("hevc", {"Main 10"}, 153, "hvc1"),
    V.MPEG2_MPML: ("mpeg2video", {"Main"}, 15, "[0][0][0][0]"),
    V.MPEG2_MPHL: ("mpeg2video", {"Main"}, 15, "[0][0][0][0]"),
}
#: Lowest allowed MPEG-2 level code (codes run backwards: 4 High ... 10 Low).
MPEG2_MIN_LEVEL = {V.MPEG2_MPML: 8, V.MPEG2_MPHL: 4}


@dataclass(frozen=True)
class Case:
    clip: str
    syntax: VideoSyntax
    remuxed: bool
    size: tuple[int, int]
    rate: Fraction
    frames: int
    options: dict[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    audio: str | None = None  # ffprobe codec name of the sound written


CASES = [
    Case("h264_high_720p30", V.H264_HP41, True, (1280, 720), Fraction(30), 30, audio="aac"),
    Case("h264_mkv", V.H264_HP41, True, (1280, 720), Fraction(30), 30, audio="aac"),
    Case("h264_ts", V.H264_HP41, True, (1280, 720), Fraction(30), 30, audio="aac"),
    Case(
        "h264_baseline_1080p30",
        V.H264_HP41,
        False,
        (1920, 1080),
        Fraction(30),
        30,
        notes=("re-encoded as AAC 48 kHz stereo",),
        audio="aac",
    ),
    Case("h264_main_720p60", V.H264_HP41, False, (1280, 720), Fraction(60000, 1001), 30),
    Case("h264_high51_1080p60", V.H264_HP42_2D, False, (1920, 1080), Fraction(60), 30),
    Case("hevc_hev1_2160p30", V.HEVC_MAIN, True, (3840, 2160), Fraction(30), 15),
    Case("hevc_main10", V.HEVC_MAIN10, True, (640, 360), Fraction(30000, 1001), 15),
    Case(
        "hevc_main10",
        V.H264_HP41,
        False,
        (640, 360),
        Fraction(30000, 1001),
        15,
        options={"preference": (V.H264_HP41,)},
        notes=("10-bit video was reduced to 8 bits",),
    ),
    Case(
        "vfr_phone",
        V.H264_HP41,
        False,
        (360, 640),
        Fraction(30),
        29,
        notes=("frame rate varied", "constant 30 frames/s"),
        audio="aac",
    ),
    Case(
        "interlaced_1080i",
        V.H264_HP41,
        False,
        (1920, 1080),
        Fraction(25),
        10,
        notes=("deinterlaced",),
    ),
    Case(
        "mpeg2_ps",
        V.MPEG2_MPML,
        True,
        (720, 576),
        Fraction(25),
        25,
        notes=("re-encoded as MP3",),
        audio="mp3",
    ),
    Case(
        "mpeg2_ps",
        V.H264_HP41,
        False,
        (720, 576),
        Fraction(25),
        25,
        options={"syntax": V.H264_HP41},
        notes=("MPEG-2 video was re-encoded as H.264",),
        audio="aac",
    ),
    Case("one_frame", V.H264_HP41, True, (640, 480), Fraction(30), 1),
    Case(
        "one_frame",
        V.HEVC_MAIN10,
        False,
        (640, 480),
        Fraction(30),
        1,
        options={"syntax": V.HEVC_MAIN10, "preset": "ultrafast"},
    ),
    Case(
        "odd_size",
        V.H264_HP41,
        False,
        (320, 240),
        Fraction(30),
        15,
        notes=("321x241 is odd", "subsampled to 4:2:0"),
    ),
    Case(
        "anamorphic_pal",
        V.H264_HP41,
        False,
        (1024, 576),
        Fraction(25),
        13,
        notes=("pixels were 64:45", "1024x576 with square pixels"),
    ),
    Case(
        "mjpeg_avi",
        V.H264_HP41,
        False,
        (640, 480),
        Fraction(30),
        15,
        notes=("full-range", "Motion JPEG video was re-encoded as H.264"),
        audio="aac",
    ),
    Case(
        "h264_main_720p60",
        V.MPEG2_MPHL,
        False,
        (1280, 720),
        Fraction(60000, 1001),
        30,
        options={"syntax": V.MPEG2_MPHL},
    ),
    Case(
        "h264_high_720p30",
        V.H264_HP41,
        False,
        (1280, 720),
        Fraction(30),
        15,
        options={"start_s": 0.25, "end_s": 0.75},
        audio="aac",
    ),
]


def case_id(case: Case) -> str:
    options = "-".join(f"{k}={getattr(v, 'name', v)}" for k, v in case.options.items())
    return f"{case.clip}{'-' + options if options else ''}"


def ffprobe(path: Path) -> dict[str, Any]:
    """Streams and format of *path* as ffprobe sees them (frames counted by decoding)."""
    binary = require_binaries("ffprobe")["ffprobe"]
    completed = subprocess.run(
        [
            str(binary),
            "-v",
            "error",
            "-count_frames",
            "-show_entries",
            "stream=codec_type,codec_name,profile,level,width,height,r_frame_rate,"
            "codec_tag_string,nb_read_frames,sample_rate,channels:format=format_name,duration",
            "-of",
            "json",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(completed.stdout)


def target_for(syntax: VideoSyntax, folder: Path) -> Path:
    return folder / ("out.mpg" if syntax.codec == "mpeg2video" else "out.mp4")


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".part" in p.name)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_conform_writes_what_the_syntax_requires(case: Case, tmp_path: Path) -> None:
    source = make_clip(case.clip)
    target = target_for(case.syntax, tmp_path)

    result = conform(source, target, **case.options)

    assert result.syntax is case.syntax
    assert result.remuxed is case.remuxed
    for note in case.notes:
        assert any(note in n for n in result.notes), result.notes
    if case.remuxed and case.audio in (None, "aac"):
        assert result.notes == ()
    assert result.info.path == target
    assert (result.info.width, result.info.height) == case.size
    assert result.info.frame_count == case.frames
    assert leftovers(tmp_path) == []

    # An independent reader agrees.
    report = ffprobe(target)
    video = next(s for s in report["streams"] if s["codec_type"] == "video")
    codec, profiles, top_level, tag = SYNTAX_FACTS[case.syntax]
    assert video["codec_name"] == codec
    assert video["profile"] in profiles
    if codec == "mpeg2video":
        assert MPEG2_MIN_LEVEL[case.syntax] <= video["level"] <= 10
        assert report["format"]["format_name"] == "mpeg"
    else:
        assert 0 < video["level"] <= top_level
        assert report["format"]["format_name"].startswith("mov,mp4")
        assert target.read_bytes()[4:8] == b"ftyp"
        assert result.info.moov_first is True
    assert video["codec_tag_string"] == tag
    assert (video["width"], video["height"]) == case.size
    assert Fraction(video["r_frame_rate"]) == case.rate
    frames = int(video["nb_read_frames"])
    assert frames == case.frames
    # Duration within one frame of the (trimmed) input.
    spec = CLIPS[case.clip]
    start = case.options.get("start_s", 0.0)
    end = case.options.get("end_s", probe_duration(source))
    assert abs(frames / case.rate - (end - start)) <= 1 / case.rate + 1e-6
    if spec.frames and case.remuxed:
        assert frames == spec.frames

    audio = [s for s in report["streams"] if s["codec_type"] == "audio"]
    if case.audio is None:
        assert audio == []
    else:
        assert [(s["codec_name"], s["sample_rate"], s["channels"]) for s in audio] == [
            (case.audio, "48000", 2)
        ]


def probe_duration(path: Path) -> float:
    from izer.encode.video.probe import probe

    return probe(path).duration_s


def gray_frames(path: Path) -> list[np.ndarray]:
    with av.open(os.fspath(path)) as container:
        return [
            frame.to_ndarray(format="gray", width=160, height=90).astype(np.int16)
            for frame in container.decode(video=0)
        ]


@pytest.mark.parametrize("kind", ["h264_high_720p30", "h264_mkv", "h264_ts", "mpeg2_ps"])
def test_remux_keeps_every_frame_and_the_sound_in_step(kind: str, tmp_path: Path) -> None:
    source = make_clip(kind)
    target = tmp_path / ("out.mpg" if kind == "mpeg2_ps" else "out.mp4")
    assert conform(source, target).remuxed is True
    original, copied = gray_frames(source), gray_frames(target)
    assert len(copied) == len(original)
    assert all(np.array_equal(a, b) for a, b in zip(original, copied, strict=True))
    starts = {s["codec_type"]: float(s["start_time"]) for s in stream_starts(target)}
    assert abs(starts["audio"] - starts["video"]) < 0.05


def stream_starts(path: Path) -> list[dict[str, Any]]:
    binary = require_binaries("ffprobe")["ffprobe"]
    completed = subprocess.run(
        [
            str(binary),
            "-v",
            "error",
            "-show_entries",
            "stream=codec_type,start_time",
            "-of",
            "json",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(completed.stdout)["streams"]


def test_a_turned_phone_clip_is_made_upright_like_players_show_it(tmp_path: Path) -> None:
    source = make_clip("rotated_phone")
    target = tmp_path / "out.mp4"
    result = conform(source, target)
    assert result.remuxed is False
    assert any("turned 90 degrees upright" in note for note in result.notes)
    assert (result.info.width, result.info.height, result.info.rotation) == (720, 1280, 0)
    # The ffmpeg command line turns the picture by its display matrix: compare with it.
    ffmpeg = require_binaries("ffmpeg")["ffmpeg"]
    command = [str(ffmpeg), "-v", "error", "-i", str(source), "-frames:v", "1", "-s", "90x160"]
    command += ["-pix_fmt", "gray", "-f", "rawvideo", "-"]
    shown = subprocess.run(
        command,
        capture_output=True,
        check=True,
    ).stdout
    expected = np.frombuffer(shown, dtype=np.uint8).reshape(160, 90).astype(np.int16)
    with av.open(os.fspath(target)) as container:
        frame = next(container.decode(video=0))
        ours = frame.to_ndarray(format="gray", width=90, height=160).astype(np.int16)
    assert np.abs(ours - expected).mean() < 6
    assert np.abs(ours[::-1, ::-1] - expected).mean() > 20
    side_data = subprocess.run(
        [str(require_binaries("ffprobe")["ffprobe"]), "-v", "error", "-show_streams", str(target)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "Display Matrix" not in side_data


def test_trim_is_frame_accurate(tmp_path: Path) -> None:
    # [0.25, 0.75) at 30 frames/s holds source frames 8 (0.267 s) to 22 (0.733 s).
    source = make_clip("h264_high_720p30")
    target = tmp_path / "trimmed.mp4"
    conform(source, target, start_s=0.25, end_s=0.75)
    original = gray_frames(source)
    trimmed = gray_frames(target)
    assert len(trimmed) == 15

    def closest(frame: np.ndarray) -> int:
        return int(np.argmin([np.abs(frame - other).mean() for other in original]))

    assert closest(trimmed[0]) == 8
    assert closest(trimmed[-1]) == 22
    report = ffprobe(target)
    audio = next(s for s in report["streams"] if s["codec_type"] == "audio")
    assert audio["codec_name"] == "aac"
    assert float(report["format"]["duration"]) == pytest.approx(0.5, abs=0.03)


def test_trim_of_a_program_stream_keeps_the_timing(tmp_path: Path) -> None:
    # The MPEG-2 clip's timestamps start at 0.5 s: trimming counts from the first frame.
    target = tmp_path / "trimmed.mpg"
    result = conform(make_clip("mpeg2_ps"), target, syntax=V.MPEG2_MPML, start_s=0.2, end_s=0.6)
    assert result.remuxed is False
    assert result.info.frame_count == 10
    streams = {s["codec_type"]: s for s in ffprobe(target)["streams"]}
    assert streams["video"]["codec_name"] == "mpeg2video"
    assert int(streams["video"]["nb_read_frames"]) == 10
    assert streams["audio"]["codec_name"] == "mp3"


def test_progress_reports_every_frame(tmp_path: Path) -> None:
    calls: list[tuple[int, int]] = []
    conform(
        make_clip("h264_main_720p60"),
        tmp_path / "out.mp4",
        progress=lambda done, total: calls.append((done, total)),
    )
    assert calls[-1] == (30, 30)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)
    assert all(done <= total for done, total in calls)


def test_audio_can_be_left_out(tmp_path: Path) -> None:
    result = conform(make_clip("vfr_phone"), tmp_path / "out.mp4", audio=False)
    assert result.info.audio is None
    assert not any("sound" in note for note in result.notes)


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("zero_byte", "the file is empty (0 bytes)"),
        ("not_media", "is not a video file PyAV can read"),
        ("audio_only", "has no video stream"),
        ("truncated", "is cut short"),
        ("truncated_faststart", "is cut short"),
    ],
)
def test_unusable_inputs_are_refused_leaving_nothing(
    kind: str, message: str, tmp_path: Path
) -> None:
    target = tmp_path / "out.mp4"
    with pytest.raises(ValueError, match=re.escape(message)):
        conform(make_clip(kind), target)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("kind", "options", "message"),
    [
        (
            "h264_high51_1080p60",
            {"syntax": V.H264_HP41},
            "H.264 High Profile / Level 4.1 (e.g. 1920x1080 at 30 frames/s) cannot hold this "
            "video: frame rate 60 at 1920x1080 exceeds H.264 level 4.1",
        ),
        (
            "h264_baseline_1080p30",
            {"syntax": V.MPEG2_MPML},
            "width 1920 exceeds 720 (MPEG-2 Main Level)",
        ),
        (
            "hevc_hev1_2160p30",
            {"preference": (V.H264_HP41, V.H264_HP42_2D)},
            "3840x2160 exceeds H.264 level 4.2",
        ),
        ("h264_main_720p60", {"preset": "ultrafast"}, "Constrained Baseline"),
        ("one_frame", {"preset": "turbo"}, "unknown preset 'turbo'"),
        ("h264_high_720p30", {"start_s": 1.5}, "at or after the end of the video"),
        ("h264_high_720p30", {"start_s": 0.6, "end_s": 0.2}, "must come after the start"),
    ],
)
def test_impossible_requests_are_refused_with_the_reason(
    kind: str, options: dict[str, Any], message: str, tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        conform(make_clip(kind), tmp_path / "out.mp4", **options)
    assert list(tmp_path.iterdir()) == []


def test_a_stream_that_does_not_verify_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Make the encoder write Main profile: the check after writing must catch it.
    original = transcode._add_video_encoder

    def main_profile(*args: Any, **kwargs: Any) -> av.VideoStream:
        stream = original(*args, **kwargs)
        stream.options = {**stream.options, "profile": "main"}
        return stream

    monkeypatch.setattr(transcode, "_add_video_encoder", main_profile)
    target = tmp_path / "out.mp4"
    target.write_bytes(b"previous result")
    with pytest.raises(ConformError, match=r"the H\.264 profile is Main, the syntax needs High"):
        conform(make_clip("h264_main_720p60"), target)
    assert target.read_bytes() == b"previous result"
    assert leftovers(tmp_path) == []


def test_a_failure_while_writing_leaves_nothing(tmp_path: Path) -> None:
    def stop(done: int, total: int) -> None:
        if done == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        conform(make_clip("h264_main_720p60"), tmp_path / "out.mp4", progress=stop)
    assert list(tmp_path.iterdir()) == []


def test_parameter_sets_in_decoder_configuration() -> None:
    # avcC with one SPS / with none (avc3 may carry them in the frames only).
    assert has_parameter_sets("h264", bytes([1, 100, 0, 41, 0xFF, 0xE1, 0, 1, 0x67, 1, 0, 1, 0x68]))
    assert not has_parameter_sets("h264", bytes([1, 100, 0, 41, 0xFF, 0xE0, 0]))
    annex_b = b"\x00\x00\x01\x67\x64\x00\x29\x00\x00\x01\x68\xee"
    assert has_parameter_sets("h264", annex_b)
    assert not has_parameter_sets("hevc", b"")
    with av.open(os.fspath(make_clip("hevc_hev1_2160p30"))) as container:
        extradata = bytes(container.streams.video[0].codec_context.extradata)
    assert has_parameter_sets("hevc", extradata)
    empty_hvcc = extradata[:22] + b"\x00"
    assert not has_parameter_sets("hevc", empty_hvcc)
