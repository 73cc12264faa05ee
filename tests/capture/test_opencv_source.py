"""OpenCV sources: a file through the bundled FFmpeg, names validated, no camera handled."""

from __future__ import annotations

import struct
import sys
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from izer.capture.base import DeviceInfo, SourceError, SourceKind
from izer.capture.opencv_source import (
    OpenCvSource,
    V4l2Capability,
    backend_id,
    fourcc_text,
    normalize_fourcc,
)
from izer.capture.synthetic import SyntheticSource, read_frame_number

WIDTH, HEIGHT, FPS, FRAMES = 320, 240, 25, 30


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """SyntheticSource frames 0..FRAMES-1 in an H.264 MP4 (numbers readable after decoding)."""
    path = tmp_path_factory.mktemp("opencv") / "clip.mp4"
    source = SyntheticSource(WIDTH, HEIGHT, FPS, paced=False)
    with av.open(str(path), "w") as output:
        stream = output.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.options = {"crf": "18", "preset": "ultrafast"}
        for number in range(FRAMES):
            frame = av.VideoFrame.from_ndarray(source.frame(number), format="rgb24")
            output.mux(stream.encode(frame))
        output.mux(stream.encode())
    return path


@pytest.mark.parametrize("backend", ["ffmpeg", "any"])
def test_a_file_is_read_in_order_as_rgb_with_its_mode(clip: Path, backend: str) -> None:
    source = OpenCvSource(clip, backend=backend)
    mode = source.open()
    assert (mode.width, mode.height, mode.fps) == (WIDTH, HEIGHT, Fraction(FPS))
    assert mode.pixel_format.lower() in {"h264", "avc1"}
    assert not source.is_live
    frames = []
    while (frame := source.read()) is not None:
        frames.append(frame)
    source.close()
    source.close()
    assert [f.number for f in frames] == list(range(FRAMES))
    assert [read_frame_number(f.pixels) for f in frames] == list(range(FRAMES))
    assert [f.pts_s for f in frames] == pytest.approx([n / FPS for n in range(FRAMES)])
    # RGB, not OpenCV's BGR: the decoded picture is close to the original, not to its mirror.
    original = SyntheticSource(WIDTH, HEIGHT, FPS).frame(5).astype(int)
    pixels = frames[5].pixels.astype(int)
    assert np.abs(pixels - original).mean() < 0.25 * np.abs(pixels[..., ::-1] - original).mean()


def test_the_mode_obtained_is_read_back_not_echoed(clip: Path) -> None:
    source = OpenCvSource(clip, backend="ffmpeg", width=640, height=480, fps=60, fourcc="MJPG")
    mode = source.open()
    source.close()
    assert (mode.width, mode.height, mode.fps) == (WIDTH, HEIGHT, FPS)
    assert mode.pixel_format != "MJPG"


def test_spec_names_the_device_again(clip: Path) -> None:
    assert OpenCvSource(0).spec == "opencv:0"
    assert OpenCvSource("2").device == 2
    assert OpenCvSource("/dev/video0", backend="v4l2").spec == "opencv:/dev/video0"
    assert OpenCvSource(clip).spec == f"opencv:{clip}"
    assert OpenCvSource(0).kind == SourceKind.OPENCV and OpenCvSource(0).is_live


@pytest.mark.parametrize(
    ("name", "constant"),
    [
        ("v4l2", cv2.CAP_V4L2),
        ("DShow", cv2.CAP_DSHOW),
        ("msmf", cv2.CAP_MSMF),
        ("avfoundation", cv2.CAP_AVFOUNDATION),
        ("ffmpeg", cv2.CAP_FFMPEG),
        ("any", cv2.CAP_ANY),
    ],
)
def test_backend_names_map_to_opencv_constants(name: str, constant: int) -> None:
    assert backend_id(name) == constant


def test_an_unknown_backend_is_a_value_error_listing_the_names() -> None:
    with pytest.raises(ValueError, match="v4l2, dshow, msmf, avfoundation, ffmpeg"):
        OpenCvSource(0, backend="gstreamer2")


@pytest.mark.parametrize(
    ("given", "fourcc"),
    [("MJPG", "MJPG"), ("mjpeg", "MJPG"), ("YUYV", "YUYV"), ("yuyv422", "YUYV"), ("NV12", "NV12")],
)
def test_pixel_formats_become_fourccs(given: str, fourcc: str) -> None:
    assert normalize_fourcc(given) == fourcc
    assert OpenCvSource(0, fourcc=given).fourcc == fourcc


@pytest.mark.parametrize("given", ["MJPEG-B", "YUV", "", "    ", "MJ\tG"])
def test_a_pixel_format_that_is_not_a_fourcc_is_a_value_error(given: str) -> None:
    with pytest.raises(ValueError, match="not a FOURCC"):
        normalize_fourcc(given)


def test_fourccs_read_back_as_text() -> None:
    assert fourcc_text(float(cv2.VideoWriter.fourcc(*"MJPG"))) == "MJPG"
    assert fourcc_text(float(cv2.VideoWriter.fourcc(*"YUYV"))) == "YUYV"
    assert fourcc_text(0.0) == "" and fourcc_text(float("nan")) == ""
    assert fourcc_text(-1.0) == ""


def test_a_size_or_rate_that_is_not_positive_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="positive"):
        OpenCvSource(0, width=0, height=480)
    with pytest.raises(ValueError, match="positive"):
        OpenCvSource(0, fps=0)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="V4L2 is Linux only")
def test_an_absent_camera_is_a_plain_source_error() -> None:
    with pytest.raises(SourceError, match=r"^camera 9 \(v4l2\) cannot be opened: "):
        OpenCvSource(9, backend="v4l2").open()
    with pytest.raises(SourceError, match=r"^/dev/video99 \(v4l2\) cannot be opened: no such"):
        OpenCvSource("/dev/video99", backend="v4l2").open()


def test_a_file_opencv_cannot_decode_is_a_source_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video " * 200)
    with pytest.raises(SourceError, match=r"^video file .*junk.mp4 \(ffmpeg\) cannot be opened"):
        OpenCvSource(junk).open()


def test_reading_before_opening_is_a_source_error() -> None:
    with pytest.raises(SourceError, match="not open"):
        OpenCvSource(0).read()


def test_discovery_returns_a_list_without_raising() -> None:
    devices = OpenCvSource.discover()
    assert isinstance(devices, list)
    assert all(isinstance(d, DeviceInfo) and d.kind == SourceKind.OPENCV for d in devices)
    assert all(d.spec.startswith("opencv:") and d.note for d in devices)


def _capability(caps: int, device_caps: int) -> bytes:
    return struct.pack(
        "<16s32s32sIII12x",
        b"uvcvideo",
        b"Made-up Cam",
        b"usb-0000:00:14.0-1",
        0x60A00,
        caps,
        device_caps,
    )


def test_v4l2_capabilities_tell_capture_nodes_from_metadata_nodes() -> None:
    capture = V4l2Capability.from_bytes(_capability(0x84A00001 | 0x80000000, 0x04200001))
    assert capture.captures_video
    assert (capture.driver, capture.card, capture.bus_info) == (
        "uvcvideo",
        "Made-up Cam",
        "usb-0000:00:14.0-1",
    )
    metadata = V4l2Capability.from_bytes(_capability(0x84A00001 | 0x80000000, 0x04800000))
    assert not metadata.captures_video
    # Old drivers without per-node caps: the device capabilities apply.
    assert V4l2Capability.from_bytes(_capability(0x05000001, 0)).captures_video
    with pytest.raises(ValueError, match="104 bytes"):
        V4l2Capability.from_bytes(b"\0" * 20)
