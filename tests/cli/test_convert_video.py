"""``izer convert`` of video clips: conformant video instances, parts, trims, or a clear refusal.

Every instance is checked by readers other than izer: dciodvfy where it parses the syntax
(not HEVC), ffprobe on the stream taken out of Pixel Data (codec, profile, level, sample
entry, size, rate), and a full decode (Number of Frames = frames decoded). A refusal leaves
no file at all, temporary ones included.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import pydicom
import pytest

from izer.cli.convert import main as convert_main
from izer.cli.export import main as export_main
from izer.config import load_settings
from izer.encode import recipes
from izer.encode import video as video_package
from izer.encode.video.syntaxes import VideoSyntax
from izer.encode.video.writer import encapsulated_stream, extracted_stream
from izer.engine import ConvertRequest, Engine, FrameProgress
from izer.engine import converting as engine_module
from izer.model import Patient
from tests.encode.video.clips import make_clip
from tests.encode.video.conforming import decoded_frame_count, ffprobe_video, run_ffmpeg
from tests.helpers.binaries import require_binaries
from tests.helpers.validators import dciodvfy

PATIENT = ["--patient-id", "IZ-VIDEO-0001", "--patient-name", "Testperson^Vera"]
VIDEO_ENDOSCOPIC = "1.2.840.10008.5.1.4.1.1.77.1.1.1"
REPOSITORY = Path(__file__).resolve().parents[2]
V = VideoSyntax


def _convert(settings: Path, *args: object) -> int:
    return convert_main([*map(str, args), *PATIENT, "--config", str(settings)])


def _everything(folder: Path) -> list[str]:
    """Every file below ``folder``, hidden ones included (temporaries must be gone)."""
    if not folder.exists():
        return []
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


@dataclass(frozen=True)
class StreamFacts:
    """The embedded stream as independent tools see it."""

    codec: str
    profile: str
    level: int
    width: int
    height: int
    rate: Fraction
    tag: str
    decoded: int
    duration_s: float
    audio: str | None


def _facts(instance: Path) -> StreamFacts:
    with extracted_stream(instance) as (stream, _):
        video = ffprobe_video(stream)
        decoded = decoded_frame_count(stream)
        audio, duration = _ffprobe_audio_and_duration(stream)
    return StreamFacts(
        video["codec_name"],
        video.get("profile", ""),
        int(video.get("level", -99)),
        int(video["width"]),
        int(video["height"]),
        Fraction(video["r_frame_rate"]),
        video.get("codec_tag_string", ""),
        decoded,
        duration,
        audio,
    )


def _ffprobe_audio_and_duration(path: Path) -> tuple[str | None, float]:
    ffprobe = require_binaries("ffprobe")["ffprobe"]
    completed = subprocess.run(
        [
            str(ffprobe), "-v", "error", "-show_entries",
            "stream=codec_type,codec_name,duration:format=duration", "-of", "json", str(path),
        ],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    data = json.loads(completed.stdout)
    audio = next((s["codec_name"] for s in data["streams"] if s["codec_type"] == "audio"), None)
    video = next(s for s in data["streams"] if s["codec_type"] == "video")
    return audio, float(video.get("duration") or data["format"]["duration"])


#: Highest level allowed, as coded (H.264 level_idc, HEVC general_level_idc); MPEG-2 codes
#: run backwards (8 Main, 4 High), so for it the lowest code allowed.
_LEVELS = {
    V.H264_HP41: 41,
    V.H264_HP42_2D: 42,
    V.HEVC_MAIN: 153,
    V.HEVC_MAIN10: 153,
    V.MPEG2_MPML: 8,
    V.MPEG2_MPHL: 4,
}
_PROFILES = {
    V.H264_HP41: "High",
    V.H264_HP42_2D: "High",
    V.HEVC_MAIN: "Main",
    V.HEVC_MAIN10: "Main 10",
    V.MPEG2_MPML: "Main",
    V.MPEG2_MPHL: "Main",
}


def _check_instance(path: Path) -> tuple[pydicom.Dataset, StreamFacts]:
    """A conformant video instance: dciodvfy (where it parses), and the stream as declared."""
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    syntax = VideoSyntax.from_text(str(ds.file_meta.TransferSyntaxUID))
    if syntax.codec != "hevc":
        result = dciodvfy(path)
        assert result.ok, str(result)
    facts = _facts(path)
    assert facts.codec == syntax.codec
    assert facts.profile == _PROFILES[syntax]
    if syntax.codec == "mpeg2video":
        assert facts.level >= _LEVELS[syntax]
    else:
        assert facts.level <= _LEVELS[syntax]
        assert facts.tag == ("avc1" if syntax.codec == "h264" else "hvc1")
    assert int(ds.NumberOfFrames) == facts.decoded
    assert (ds.Rows, ds.Columns) == (facts.height, facts.width)
    assert float(ds.FrameTime) == pytest.approx(1000 / facts.rate, rel=1e-9)
    assert ("MultiplexedAudioChannelsDescriptionCodeSequence" in ds) == (facts.audio is not None)
    return ds, facts


# -- one clip, one conformant instance ------------------------------------------------------


@dataclass(frozen=True)
class Acceptance:
    clip: str
    syntax: VideoSyntax
    frames: int
    audio: str | None = None


ACCEPTANCE = [
    Acceptance("h264_baseline_1080p30", V.H264_HP41, 30, "aac"),
    Acceptance("h264_main_720p60", V.H264_HP41, 30),
    Acceptance("h264_high51_1080p60", V.H264_HP42_2D, 30),
    Acceptance("hevc_hev1_2160p30", V.HEVC_MAIN, 15),
    Acceptance("vfr_phone", V.H264_HP41, 29, "aac"),
    Acceptance("interlaced_1080i", V.H264_HP41, 10),
    Acceptance("mpeg2_ps", V.MPEG2_MPML, 25, "mp3"),
    Acceptance("hevc_main10", V.HEVC_MAIN10, 15),
    Acceptance("one_frame", V.H264_HP41, 1),
    Acceptance("h264_mkv", V.H264_HP41, 30, "aac"),
    Acceptance("h264_ts", V.H264_HP41, 30, "aac"),
    Acceptance("mjpeg_avi", V.H264_HP41, 15, "aac"),
]


@pytest.mark.parametrize("case", ACCEPTANCE, ids=lambda case: case.clip)
def test_a_clip_becomes_one_conformant_video_endoscopic_instance(
    case: Acceptance, settings_path: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    clip = make_clip(case.clip)
    assert _convert(settings_path, clip, "--out", out) == 0
    assert _everything(out) == [f"{clip.stem}.dcm"]
    ds, facts = _check_instance(out / f"{clip.stem}.dcm")
    assert ds.SOPClassUID == VIDEO_ENDOSCOPIC
    assert ds.Modality == "ES"
    assert ds.file_meta.TransferSyntaxUID == case.syntax.uid
    assert int(ds.NumberOfFrames) == case.frames
    assert facts.audio == case.audio


def test_a_conforming_mp4_is_encapsulated_byte_for_byte(settings_path: Path, tmp_path: Path):
    clip = make_clip("h264_high_720p30")
    out = tmp_path / "out"
    assert _convert(settings_path, clip, "--out", out) == 0
    with extracted_stream(out / "h264_high_720p30.dcm") as (stream, _):
        embedded = stream.read_bytes()
    source = clip.read_bytes()
    assert embedded == source + b"\0" * (len(source) % 2)


def test_no_audio_drops_the_sound(settings_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert _convert(settings_path, make_clip("h264_high_720p30"), "--no-audio", "--out", out) == 0
    ds, facts = _check_instance(out / "h264_high_720p30.dcm")
    assert facts.audio is None
    assert int(ds.NumberOfFrames) == 30


# -- refusals -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("clip", "options", "message"),
    [
        ("truncated", (), "is cut short"),
        ("truncated_faststart", (), "is cut short"),
        ("zero_byte", (), "the file is empty (0 bytes)"),
        ("not_media", (), "this is a text file"),
        ("audio_only", ("--iod", "video-endoscopic"), "is a sound file, but --iod video-endo"),
        ("h264_baseline_1080p30", ("--ts", "mpeg2-mpml"), "cannot hold this video"),
        ("h264_high51_1080p60", ("--ts", "h264-hp41"), "exceeds H.264 level 4.1"),
        ("h264_high_720p30", ("--start", "5"), "at or after the end of the video"),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_an_input_that_cannot_be_converted_is_refused_and_leaves_nothing(
    clip: str, options: tuple[str, ...], message: str, settings_path: Path, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "out"
    assert _convert(settings_path, make_clip(clip), *options, "--out", out) == 1
    assert message in capsys.readouterr().err
    assert _everything(out) == []


def test_an_audio_only_file_stays_audio_without_iod(settings_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert _convert(settings_path, make_clip("audio_only"), "--out", out) == 0
    (path,) = out.glob("*.dcm")
    ds = pydicom.dcmread(path)
    assert (ds.Modality, ds.SOPClassUID) == ("AU", "1.2.840.10008.5.1.4.1.1.9.4.1")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (("--iod", "sc", "--max-clip-s", "10"), "apply to video IODs"),
        (("--iod", "video-endoscopic", "--ts", "jpeg-baseline"), "unknown video transfer syntax"),
        (("--ts", "h265"), "or for video: mpeg2-mpml"),
        (("--ts", "h264-hp41", "--video-preference", "hevc-main"), "not both"),
        (("--iod", "video-endoscopic", "--quality", "90"), "--quality applies to images"),
        (("--start", "2", "--end", "1"), "must come after --start"),
        (("--max-clip-mb", "0.5"), "--max-clip-mb must be at least 1"),
        (("--iod", "pdf", "--start", "1"), "apply to video clips"),
    ],
)
def test_options_that_cannot_work_are_refused_before_reading(
    options: tuple[str, ...], message: str, settings_path: Path, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "out"
    assert _convert(settings_path, make_clip("one_frame"), *options, "--out", out) == 2
    assert message in capsys.readouterr().err
    assert _everything(out) == []


# -- trimming and parts ---------------------------------------------------------------------


def test_start_and_end_keep_that_section(settings_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    clip = make_clip("h264_high_720p30")  # 30 frames at 30 frames/s
    assert _convert(settings_path, clip, "--start", "0.25", "--end", "0.75", "--out", out) == 0
    ds, facts = _check_instance(out / "h264_high_720p30.dcm")
    assert abs(int(ds.NumberOfFrames) - 15) <= 1
    assert facts.duration_s == pytest.approx(0.5, abs=1 / 30)


@pytest.fixture(scope="module")
def gop10_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """H.264 High 4.1 640x360 30 fps, 3 s (90 frames), a key frame every 10, AAC 48 kHz,
    6 Mbit/s of noise (about 2.6 MB): conforms as it is, and can be cut without re-encoding."""
    return run_ffmpeg(
        (
            "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30,noise=alls=30:allf=t",
            "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "3",
            "-c:v", "libx264", "-preset", "veryfast", "-profile:v", "high", "-level:v", "4.1",
            "-pix_fmt", "yuv420p", "-x264-params", "keyint=10:min-keyint=10:scenecut=0",
            "-b:v", "6M", "-maxrate", "6M", "-bufsize", "6M",
            "-c:a", "aac", "-ac", "2", "-movflags", "+faststart",
        ),
        tmp_path_factory.mktemp("gop10") / "gop10.mp4",
    )  # fmt: skip


def _parts(out: Path, stem: str, count: int) -> list[tuple[pydicom.Dataset, StreamFacts]]:
    names = [f"{stem}-part{n:03d}.dcm" for n in range(1, count + 1)]
    assert _everything(out) == names
    parts = [_check_instance(out / name) for name in names]
    headers = [ds for ds, _ in parts]
    assert len({ds.SeriesInstanceUID for ds in headers}) == 1
    assert len({ds.SOPInstanceUID for ds in headers}) == count
    assert [int(ds.InstanceNumber) for ds in headers] == list(range(1, count + 1))
    return parts


def test_max_clip_s_cuts_a_conforming_clip_at_key_frames(
    gop10_clip: Path, settings_path: Path, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "out"
    assert _convert(settings_path, gop10_clip, "--max-clip-s", "1", "-v", "--out", out) == 0
    assert "cut at key frames, no frame lost" in capsys.readouterr().out
    parts = _parts(out, "gop10", 3)
    assert [int(ds.NumberOfFrames) for ds, _ in parts] == [30, 30, 30]
    assert all(facts.audio == "aac" for _, facts in parts)
    assert sum(facts.duration_s for _, facts in parts) == pytest.approx(3.0, abs=3 / 30)


def test_max_clip_s_between_key_frames_cuts_at_the_last_key_frame_before(
    gop10_clip: Path, settings_path: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    assert _convert(settings_path, gop10_clip, "--max-clip-s", "0.5", "--out", out) == 0
    parts = _parts(out, "gop10", 9)  # key frames every 1/3 s: parts of 10 frames
    assert {int(ds.NumberOfFrames) for ds, _ in parts} == {10}


def test_max_clip_mb_keeps_every_instance_under_the_size(
    gop10_clip: Path, settings_path: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    assert gop10_clip.stat().st_size > 2_000_000
    assert _convert(settings_path, gop10_clip, "--max-clip-mb", "1", "--out", out) == 0
    count = len(_everything(out))
    assert count >= 3
    parts = _parts(out, "gop10", count)
    assert all(
        (out / f"gop10-part{n:03d}.dcm").stat().st_size <= 1_000_000 for n in range(1, count + 1)
    )
    assert sum(int(ds.NumberOfFrames) for ds, _ in parts) == 90


def test_a_clip_that_is_re_encoded_is_cut_at_the_requested_times(
    settings_path: Path, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "out"
    clip = make_clip("h264_main_720p60")  # 30 frames at 59.94 frames/s: 0.5 s
    assert _convert(settings_path, clip, "--max-clip-s", "0.2", "-v", "--out", out) == 0
    assert "re-encoded with key frames at the cuts" in capsys.readouterr().out
    parts = _parts(out, "h264_main_720p60", 3)
    assert [int(ds.NumberOfFrames) for ds, _ in parts] == [12, 12, 6]  # 0.2 s is 11.99 frames
    assert sum(facts.decoded for _, facts in parts) == 30


def test_a_stream_over_one_fragment_is_split_or_kept_fragmentable(
    gop10_clip: Path, settings_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine_module._ConvertRun, "max_stream_bytes", 1_000_000)
    settings = load_settings(settings_path).settings
    request = ConvertRequest(Patient("IZ-VIDEO-0002", "Testperson^Vera"))
    with Engine.open(settings) as engine:
        report = engine.convert([gop10_clip], request, out=tmp_path / "split")
        assert len(report.outputs) >= 3
        assert all(encapsulated_stream(path).size <= 1_000_000 for path in report.outputs)
        frames = [
            pydicom.dcmread(p, stop_before_pixels=True).NumberOfFrames for p in report.outputs
        ]
        assert sum(frames) == 90
        assert "one fragment holds at most 1000000 bytes" in report.notes[0][1]
        kept = ConvertRequest(request.patient, fragmentable=True)
        report = engine.convert([gop10_clip], kept, out=tmp_path / "one")
    (path,) = report.outputs
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    assert ds.file_meta.TransferSyntaxUID == V.H264_HP41.fragmentable_uid
    assert int(ds.NumberOfFrames) == 90


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_verbose_on_a_terminal_shows_the_frames_on_one_rewritten_line(
    settings_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    clip = make_clip("h264_main_720p60")  # re-encoded: 30 frames
    assert _convert(settings_path, clip, "-v", "--out", tmp_path / "out") == 0
    shown = terminal.getvalue()
    assert f"\r\033[K    {clip}: converting 30/30 frames (100 %)" in shown
    assert shown.endswith("\r\033[K")  # cleared before the input's own line


# -- into the store, failures and interruptions ------------------------------------------------


def _engine_request(**options: object) -> ConvertRequest:
    return ConvertRequest(Patient("IZ-VIDEO-0003", "Testperson^Vera"), **options)  # type: ignore[arg-type]


def test_into_the_store_the_instances_are_adopted_without_a_copy_left(
    gop10_clip: Path, settings_path: Path
) -> None:
    settings = load_settings(settings_path).settings
    progress: list[FrameProgress] = []
    with Engine.open(settings) as engine:
        report = engine.convert(
            [gop10_clip, make_clip("h264_main_720p60")],
            _engine_request(max_clip_s=1.0),
            frame_progress=progress.append,
        )
        assert not report.failures
        stored = engine.store.instances()
        studies = engine.store.studies_folder
    assert [r.instance_number for r in stored] == [1, 2, 3, 4]
    assert len({r.series_instance_uid for r in stored}) == 1
    assert sorted(p for p in studies.rglob("*") if p.is_file()) == sorted(r.path for r in stored)
    reencoded = [p for p in progress if p.source.endswith("h264_main_720p60.mp4")]
    assert reencoded[-1].done == reencoded[-1].total == 30
    assert {p.stage for p in progress} >= {"converting", "part 1"}


@pytest.mark.parametrize("into", ["out", "store"])
def test_an_interruption_leaves_no_file_at_all(
    into: str,
    gop10_clip: Path,
    settings_path: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = video_package.write_video_instance
    calls: list[Path] = []

    def interrupted(ds: pydicom.Dataset, path: Path) -> int:
        calls.append(path)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(ds, path)

    monkeypatch.setattr(video_package, "write_video_instance", interrupted)
    settings = load_settings(settings_path).settings
    out = tmp_path / "out" if into == "out" else None
    with Engine.open(settings) as engine:
        with pytest.raises(KeyboardInterrupt):
            engine.convert([gop10_clip], _engine_request(max_clip_s=1.0), out=out)
        assert engine.store.instances() == []
        studies = engine.store.studies_folder
    assert calls[0].name.startswith(".izer-tmp-")
    assert _everything(tmp_path / "out") == []
    assert _everything(studies) == []


def test_a_part_that_fails_takes_the_whole_clip_back(
    gop10_clip: Path, settings_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = video_package.write_video_instance
    calls: list[Path] = []

    def failing(ds: pydicom.Dataset, path: Path) -> int:
        calls.append(path)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return real(ds, path)

    monkeypatch.setattr(video_package, "write_video_instance", failing)
    settings = load_settings(settings_path).settings
    out = tmp_path / "out"
    with Engine.open(settings) as engine:
        report = engine.convert(
            [gop10_clip, make_clip("one_frame")], _engine_request(max_clip_s=1.0), out=out
        )
    (failure,) = report.failures
    assert "No space left on device" in failure.reason
    (path,) = report.outputs
    assert _everything(out) == ["one_frame.dcm"]
    assert pydicom.dcmread(path, stop_before_pixels=True).InstanceNumber == 1  # numbering undone


# -- frames as images: the per-frame IODs ---------------------------------------------------------


@pytest.mark.parametrize(
    ("iod", "sop_class", "extra"),
    [
        ("sc-multiframe", "1.2.840.10008.5.1.4.1.1.7.4", ()),
        ("us-multiframe", "1.2.840.10008.5.1.4.1.1.3.1", ()),
        ("xa", "1.2.840.10008.5.1.4.1.1.12.1", ("--ts", "rle-lossless")),
        ("xrf", "1.2.840.10008.5.1.4.1.1.12.2", ("--ts", "explicit-vr-little-endian")),
    ],
)
def test_a_short_clip_becomes_a_per_frame_iod_that_passes_dciodvfy(
    iod: str, sop_class: str, extra: tuple[str, ...], settings_path: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    clip = make_clip("mpeg2_ps")  # 720x576 at 25 frames/s
    assert _convert(settings_path, clip, "--iod", iod, "--end", "0.4", *extra, "--out", out) == 0
    (path,) = out.glob("*.dcm")
    ds = pydicom.dcmread(path)
    assert ds.SOPClassUID == sop_class
    assert int(ds.NumberOfFrames) == 10
    assert float(ds.FrameTime) == 40.0
    assert ds.pixel_array.shape[:3] == (10, 576, 720)
    result = dciodvfy(path)
    assert result.ok, str(result)


def test_a_clip_over_the_frame_limit_is_refused_for_per_frame_iods(
    settings_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.setattr(recipes, "MAX_CLIP_FRAMES", 10)
    out = tmp_path / "out"
    clip = make_clip("h264_high_720p30")
    assert _convert(settings_path, clip, "--iod", "sc-multiframe", "--out", out) == 1
    error = capsys.readouterr().err
    assert "holds every frame in memory" in error
    assert "--iod video-endoscopic" in error and "--start/--end" in error
    assert _everything(out) == []
    assert (
        _convert(settings_path, clip, "--iod", "sc-multiframe", "--end", "0.3", "--out", out) == 0
    )
    (path,) = out.glob("*.dcm")
    assert int(pydicom.dcmread(path, stop_before_pixels=True).NumberOfFrames) == 9


# -- back out: izer export ------------------------------------------------------------------


@pytest.mark.parametrize("clip", ["h264_baseline_1080p30", "mpeg2_ps"])
def test_export_of_a_converted_clip_plays_as_long_as_the_source(
    clip: str, settings_path: Path, tmp_path: Path
) -> None:
    source = make_clip(clip)
    assert _convert(settings_path, source, "--out", tmp_path / "dicom") == 0
    instance = tmp_path / "dicom" / f"{source.stem}.dcm"
    to = tmp_path / "exported"
    assert export_main([str(instance), "--to", str(to), "--config", str(settings_path)]) == 0
    (played,) = (p for p in to.rglob("*") if p.is_file())
    assert played.suffix == ".mp4"
    frames = int(pydicom.dcmread(instance, stop_before_pixels=True).NumberOfFrames)
    assert decoded_frame_count(played) == frames
    _, duration = _ffprobe_audio_and_duration(played)
    _, source_duration = _ffprobe_audio_and_duration(source)
    rate = float(ffprobe_video(source)["r_frame_rate"].split("/")[0]) / float(
        ffprobe_video(source)["r_frame_rate"].split("/")[1]
    )
    assert abs(duration - source_duration) <= 1 / rate + 1e-3


# -- memory: a 3 GB clip through the whole izer convert process ---------------------------------

#: Runs ``izer convert`` as a child and reports the child's peak RSS from RUSAGE_CHILDREN.
#: Linux carries the peak RSS of the address space a process execs from into the new program's
#: ru_maxrss, so a child started straight from pytest (hundreds of MB by then) would report
#: pytest's peak; this launcher is small, so its child's figure is izer's own.
LAUNCHER = """
import json, resource, subprocess, sys
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
print(json.dumps({"returncode": done.returncode, "stdout": done.stdout, "stderr": done.stderr,
                  "max_rss_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))
"""
MAX_RSS_KIB = 300 * 1024
BIG_BYTES = 3_000_000_000


def _big_clip(folder: Path) -> Path:
    """A ~3 GB H.264 High 4.1 1080p30 MP4, index at the end (so izer remuxes it): one noisy
    second looped with ``-c copy``."""
    second = run_ffmpeg(
        (
            "-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=30,noise=alls=60:allf=t+u",
            "-frames:v", "30", "-c:v", "libx264", "-preset", "veryfast", "-profile:v", "high",
            "-level:v", "4.1", "-pix_fmt", "yuv420p", "-b:v", "40M", "-maxrate", "40M",
            "-bufsize", "40M", "-g", "30",
        ),
        folder / "second.mp4",
    )  # fmt: skip
    loops = BIG_BYTES // second.stat().st_size
    big = run_ffmpeg(
        ("-stream_loop", str(loops), "-i", str(second), "-c", "copy"), folder / "big.mp4"
    )
    second.unlink()
    return big


@pytest.mark.timeout(900)
def test_a_3_gb_clip_is_converted_by_izer_convert_in_bounded_memory(
    settings_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    folder = tmp_path_factory.mktemp("big-video")
    try:
        clip = _big_clip(folder)
        size = clip.stat().st_size
        assert size >= BIG_BYTES * 0.95
        out = folder / "out"
        command = [sys.executable, "-m", "izer", "--config", str(settings_path), "convert"]
        command += [str(clip), "--out", str(out), *PATIENT]
        launched = subprocess.run(
            [sys.executable, "-c", LAUNCHER, *command],
            cwd=REPOSITORY,
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": str(REPOSITORY)},
            check=True,
        )
        report = json.loads(launched.stdout)
        assert report["returncode"] == 0, report["stderr"]
        peak = report["max_rss_kib"]
        print(f"izer convert of a {size / 1e9:.2f} GB clip: peak RSS {peak / 1024:.0f} MiB")
        assert peak <= MAX_RSS_KIB
        assert _everything(out) == ["big.dcm"]  # the remuxed stream is gone
        header = pydicom.dcmread(out / "big.dcm", stop_before_pixels=True)
        assert header.file_meta.TransferSyntaxUID == V.H264_HP41.uid
        assert int(header.NumberOfFrames) > 10_000
        assert (out / "big.dcm").stat().st_size > size
    finally:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)


def test_the_memory_figure_can_fail() -> None:
    """A child holding 400 MB reads as more than the limit: the measure is real."""
    launched = subprocess.run(
        [sys.executable, "-c", LAUNCHER, sys.executable, "-c", "x = b'x' * (400 << 20)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(launched.stdout)["max_rss_kib"] > MAX_RSS_KIB
