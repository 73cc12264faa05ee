"""Frames decoded from a clip, and the per-frame IODs made from them.

Multi-frame True Color SC, US Multi-frame and XA hold each frame as an image (native, RLE or
JPEG); made from a clip's frames they pass dciodvfy, carry the clip's frame time, and give the
decoded frames back.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pydicom
import pytest

from izer.encode import (
    TransferSyntax,
    XRayKind,
    multiframe_secondary_capture,
    us_multiframe_image,
    xray_image,
)
from izer.encode.codes import AnatomicRegion
from izer.encode.video import frames as frames_module
from izer.encode.video.frames import TooManyFramesError, read_frames
from izer.encode.video.iods import frame_time_ms
from tests.encode.factories import assert_valid_instance, decode_frames, make_context, psnr
from tests.encode.video.clips import make_clip
from tests.encode.video.conforming import conforming_clip, run_ffmpeg
from tests.helpers.validators import dciodvfy

#: 640x360 H.264 at 29.97 frames/s, 30 frames.
CLIP = "h264_hp41_fragmentable"
#: 720x576 MPEG-2 program stream at 25 frames/s, 25 frames.
PAL = "mpeg2_mpml"


@pytest.fixture(scope="module")
def long_clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """12 s at 25 frames/s, 160x120, as MP4 and as an MPEG-2 program stream (seeking)."""
    folder = tmp_path_factory.mktemp("long-clips")
    source = ("-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25", "-frames:v", "300")
    mp4 = (*source, "-c:v", "libx264", "-preset", "veryfast", "-g", "50", "-pix_fmt", "yuv420p")
    mpg = (*source, "-c:v", "mpeg2video", "-q:v", "2", "-f", "mpeg")
    return {
        "mp4": run_ffmpeg(mp4, folder / "long.mp4"),
        "mpg": run_ffmpeg(mpg, folder / "long.mpg"),
    }


def test_every_frame_is_decoded_as_rgb_with_the_exact_rate() -> None:
    frames, rate = read_frames(conforming_clip(CLIP), max_frames=30)
    assert frames.shape == (30, 360, 640, 3)
    assert frames.dtype == np.uint8
    assert rate == Fraction(30000, 1001)


def test_gray_frames_are_luma_only() -> None:
    frames, rate = read_frames(conforming_clip(PAL), max_frames=25, gray=True)
    assert frames.shape == (25, 576, 720)
    assert rate == 25
    colour, _ = read_frames(conforming_clip(PAL), max_frames=25)
    luma = colour.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    assert psnr(luma, frames.astype(np.float64)) > 30


def test_a_section_and_a_step_select_the_frames() -> None:
    clip = conforming_clip(PAL)
    every, _ = read_frames(clip, max_frames=25)
    part, rate = read_frames(clip, start_s=0.2, end_s=0.6, max_frames=25)
    assert np.array_equal(part, every[5:15])  # frames at 0.20 ... 0.56 s
    halved, rate = read_frames(clip, start_s=0.2, end_s=0.6, max_frames=25, step=2)
    assert np.array_equal(halved, every[5:15:2])
    assert rate == Fraction(25, 2)


@pytest.mark.parametrize("container", ["mp4", "mpg"])
def test_a_late_section_is_found_by_seeking_without_losing_a_frame(
    long_clips: dict[str, Path], container: str
) -> None:
    clip = long_clips[container]
    every, _ = read_frames(clip, max_frames=300)
    assert every.shape[0] == 300
    late, _ = read_frames(clip, start_s=11.0, end_s=11.4, max_frames=10)
    assert np.array_equal(late, every[275:285])


def test_a_seek_that_lands_too_late_decodes_from_the_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # MPEG program streams seek by byte position: asked for 0.2 s, the demuxer lands on the
    # next GOP (0.48 s). The frames before it must still be found.
    monkeypatch.setattr(frames_module, "SEEK_AFTER_S", 0.0)
    monkeypatch.setattr(frames_module, "SEEK_MARGIN_S", 0.0)
    clip = conforming_clip(PAL)
    every, _ = read_frames(clip, max_frames=25)
    part, _ = read_frames(clip, start_s=0.2, end_s=0.6, max_frames=25)
    assert np.array_equal(part, every[5:15])


def test_more_frames_than_allowed_are_refused_with_a_way_out() -> None:
    clip = conforming_clip(PAL)
    assert read_frames(clip, max_frames=25)[0].shape[0] == 25
    with pytest.raises(TooManyFramesError, match=r"more than 24 frames .*shorter section"):
        read_frames(clip, max_frames=24)
    assert read_frames(clip, max_frames=13, step=2)[0].shape[0] == 13


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_frames": 0}, "max_frames must be at least 1"),
        ({"max_frames": 5, "step": 0}, "step must be at least 1"),
        ({"max_frames": 5, "start_s": 0.5, "end_s": 0.5}, "end after it starts"),
        ({"max_frames": 5, "start_s": 3.0}, "no frame between 3 s and the end"),
    ],
)
def test_wrong_arguments_are_named(options: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        read_frames(conforming_clip(PAL), **options)


@pytest.mark.parametrize(
    ("kind", "message"), [("audio_only", "has no video stream"), ("not_media", "cannot read")]
)
def test_a_file_without_video_is_refused(kind: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        read_frames(make_clip(kind), max_frames=5)


# --------------------------------------------------------------------------- per-frame IODs

SYNTAXES = [
    TransferSyntax.EXPLICIT_VR_LITTLE_ENDIAN,
    TransferSyntax.RLE_LOSSLESS,
    TransferSyntax.JPEG_BASELINE,
]


#: SC writes Laterality empty (no body part is known), which dciodvfy warns about.
SC_LATERALITY_WARNING = "should be absent (not empty) if an unpaired body part"


def _check(path: Path, iod: str, frames: np.ndarray, syntax: TransferSyntax) -> None:
    if iod.endswith("SCImage"):
        result = dciodvfy(path)
        assert (result.iod, result.errors) == (iod, []), str(result)
        assert [SC_LATERALITY_WARNING in w for w in result.warnings] == [True], str(result)
    else:
        assert_valid_instance(path, iod)
    back = decode_frames(path)
    assert back.shape == frames.shape
    if syntax is TransferSyntax.JPEG_BASELINE:
        assert psnr(frames, back) > 30
    else:
        assert np.array_equal(back, frames)


@pytest.mark.parametrize("syntax", SYNTAXES, ids=lambda s: s.name.lower())
def test_multiframe_true_color_sc_from_a_clip(tmp_path: Path, syntax: TransferSyntax) -> None:
    frames, rate = read_frames(conforming_clip(CLIP), max_frames=30, step=3)
    ds = multiframe_secondary_capture(
        frames, make_context(1, "OT"), frame_time_ms=frame_time_ms(rate), transfer_syntax=syntax
    )
    path = tmp_path / "sc.dcm"
    ds.save_as(path, enforce_file_format=True)
    assert ds.NumberOfFrames == 10
    assert ds.FrameTime == "100.1"  # 29.97 frames/s, one in three kept
    _check(path, "MultiframeTrueColorSCImage", frames, syntax)


@pytest.mark.parametrize("syntax", SYNTAXES, ids=lambda s: s.name.lower())
def test_us_multiframe_from_a_clip(tmp_path: Path, syntax: TransferSyntax) -> None:
    frames, rate = read_frames(conforming_clip(PAL), start_s=0.4, max_frames=15)
    ds = us_multiframe_image(
        frames,
        make_context(1, "US"),
        frame_time_ms=frame_time_ms(rate),
        transfer_syntax=syntax,
        anatomic_region=AnatomicRegion.ABDOMEN,
    )
    path = tmp_path / "us.dcm"
    ds.save_as(path, enforce_file_format=True)
    assert (ds.NumberOfFrames, ds.FrameTime, ds.CineRate) == (15, "40.0", 25)
    _check(path, "USMultiFrameImage", frames, syntax)


@pytest.mark.parametrize("syntax", SYNTAXES, ids=lambda s: s.name.lower())
def test_xa_run_from_a_clip(tmp_path: Path, syntax: TransferSyntax) -> None:
    frames, rate = read_frames(conforming_clip(PAL), end_s=0.4, max_frames=10, gray=True)
    ds = xray_image(
        frames,
        make_context(1, "XA"),
        kind=XRayKind.XA,
        frame_time_ms=frame_time_ms(rate),
        transfer_syntax=syntax,
        anatomic_region=AnatomicRegion.HEART,
    )
    path = tmp_path / "xa.dcm"
    ds.save_as(path, enforce_file_format=True)
    assert pydicom.dcmread(path, stop_before_pixels=True).NumberOfFrames == 10
    _check(path, "XAImage", frames, syntax)
