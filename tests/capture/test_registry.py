"""The registry: spec forms, which class each opens, kinds available here, discovery."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import pytest

from izer.capture.av_source import AvFileSource, AvSource, AvStreamSource
from izer.capture.base import DeviceInfo, SourceKind, SourceRequest
from izer.capture.opencv_source import OpenCvSource
from izer.capture.registry import (
    discover_devices,
    open_video_source,
    parse_source_spec,
    source_kinds,
)
from izer.capture.synthetic import SyntheticSource, read_frame_number


@pytest.mark.parametrize(
    ("spec", "kind", "target"),
    [
        ("synthetic", SourceKind.SYNTHETIC, ""),
        (" Synthetic ", SourceKind.SYNTHETIC, ""),
        ("opencv:0", SourceKind.OPENCV, "0"),
        ("opencv:/dev/video0", SourceKind.OPENCV, "/dev/video0"),
        ("OpenCV:/dev/v4l/by-id/usb-Cam-video-index0", SourceKind.OPENCV,
         "/dev/v4l/by-id/usb-Cam-video-index0"),
        ("av:v4l2:/dev/video0", SourceKind.AV, "v4l2:/dev/video0"),
        ("av:dshow:video=Cam", SourceKind.AV, "dshow:video=Cam"),
        ("av:dshow:video=USB Video Device", SourceKind.AV, "dshow:video=USB Video Device"),
        ("av:avfoundation:0", SourceKind.AV, "avfoundation:0"),
        ("av:AVFoundation:FaceTime HD Camera", SourceKind.AV, "avfoundation:FaceTime HD Camera"),
        ("file:clip.mp4", SourceKind.FILE, "clip.mp4"),
        ("file:C:\\Videos\\clip.mp4", SourceKind.FILE, "C:\\Videos\\clip.mp4"),
        ("rtsp://10.0.0.5:554/stream1", SourceKind.STREAM, "rtsp://10.0.0.5:554/stream1"),
        ("rtsps://cam.example/s", SourceKind.STREAM, "rtsps://cam.example/s"),
        ("http://127.0.0.1:8080/live.ts", SourceKind.STREAM, "http://127.0.0.1:8080/live.ts"),
        ("https://example.org/live.ts", SourceKind.STREAM, "https://example.org/live.ts"),
        ("srt://192.168.1.9:9000?latency=200", SourceKind.STREAM,
         "srt://192.168.1.9:9000?latency=200"),
        ("udp://0.0.0.0:5000", SourceKind.STREAM, "udp://0.0.0.0:5000"),
        ("rtp://0.0.0.0:5004", SourceKind.STREAM, "rtp://0.0.0.0:5004"),
        ("folder:/srv/scans", SourceKind.FOLDER, "/srv/scans"),
        ("sane:epson2:libusb:001:004", SourceKind.SANE, "epson2:libusb:001:004"),
        ("sane:", SourceKind.SANE, ""),
        ("twain:EPSON Perfection V39", SourceKind.TWAIN, "EPSON Perfection V39"),
        ("audio:", SourceKind.AUDIO, ""),
        ("audio:hw:1,0", SourceKind.AUDIO, "hw:1,0"),
    ],
)  # fmt: skip
def test_specs_parse_into_kind_and_target(spec: str, kind: SourceKind, target: str) -> None:
    assert parse_source_spec(spec) == (kind, target)


@pytest.mark.parametrize(
    "spec",
    [
        "",
        "webcam",
        "camera:0",
        "opencv:",
        "file:",
        "folder:",
        "stream:rtsp://x",
        "synthetic:640x480",
        "ftp://host/clip.ts",
        "rtsp://",
        "rtsp:host",
        "av:v4l2",
        "av:v4l2:",
        "av:x11grab::0.0",
        "/dev/video0",
    ],
)
def test_unknown_specs_are_value_errors_listing_the_accepted_forms(spec: str) -> None:
    with pytest.raises(ValueError, match=r"opencv:0|av:FORMAT:DEVICE|no host") as error:
        parse_source_spec(spec)
    assert spec.strip() == "" or repr(spec) in str(error.value)


def test_synthetic_defaults_to_1280x720_at_30() -> None:
    source = open_video_source("synthetic", SourceRequest())
    assert isinstance(source, SyntheticSource)
    assert (source.width, source.height, source.fps) == (1280, 720, 30)
    sized = open_video_source("synthetic", SourceRequest(width=640, height=480, fps=Fraction(25)))
    assert (sized.width, sized.height, sized.fps) == (640, 480, 25)
    mode = sized.open()
    frame = sized.read()
    sized.close()
    assert (mode.width, mode.height) == (640, 480) and frame is not None
    assert read_frame_number(frame.pixels) == frame.number


def test_opencv_specs_carry_the_request() -> None:
    request = SourceRequest(width=1920, height=1080, fps=Fraction(60), pixel_format="mjpeg",
                            backend="v4l2")  # fmt: skip
    source = open_video_source("opencv:/dev/video0", request)
    assert isinstance(source, OpenCvSource)
    assert (source.device, source.backend, source.fourcc) == ("/dev/video0", "v4l2", "MJPG")
    assert (source.width, source.height, source.fps) == (1920, 1080, 60)
    assert open_video_source("opencv:1", SourceRequest()).device == 1
    with pytest.raises(ValueError, match="unknown OpenCV backend"):
        open_video_source("opencv:0", SourceRequest(backend="quicktime"))
    with pytest.raises(ValueError, match="not a FOURCC"):
        open_video_source("opencv:0", SourceRequest(pixel_format="RGB24X"))


def test_av_device_specs_carry_the_request() -> None:
    request = SourceRequest(width=1280, height=720, fps=Fraction(30), pixel_format="YUYV",
                            options={"thread_queue_size": "64"})  # fmt: skip
    source = open_video_source("av:v4l2:/dev/video0", request)
    assert isinstance(source, AvSource) and source.kind == SourceKind.AV
    assert (source.target, source.input_format) == ("/dev/video0", "v4l2")
    assert source.options == {
        "video_size": "1280x720",
        "framerate": "30",
        "input_format": "yuyv422",
        "thread_queue_size": "64",
    }


def test_stream_specs_open_stream_sources_with_their_limits() -> None:
    request = SourceRequest(options={"open_timeout_s": "3", "read_timeout_s": "2"})
    source = open_video_source("rtsp://10.0.0.5/stream1", request)
    assert isinstance(source, AvStreamSource) and source.kind == SourceKind.STREAM
    assert (source.open_timeout_s, source.read_timeout_s) == (3, 2)
    assert source.options == {"timeout": "2000000", "rtsp_transport": "tcp"}
    with pytest.raises(ValueError, match="read_timeout_s='soon' must be a number of seconds"):
        open_video_source("rtsp://10.0.0.5/s", SourceRequest(options={"read_timeout_s": "soon"}))


def test_file_specs_play_paced_unless_asked_and_loop_on_request(tmp_path: Path) -> None:
    path = tmp_path / "clip.mkv"
    synthetic = SyntheticSource(128, 96, 10, paced=False)
    with av.open(str(path), "w") as output:
        stream = output.add_stream("mjpeg", rate=10)
        stream.width, stream.height, stream.pix_fmt = 128, 96, "yuvj420p"
        for number in range(5):
            output.mux(stream.encode(av.VideoFrame.from_ndarray(synthetic.frame(number), "rgb24")))
        output.mux(stream.encode())
    assert open_video_source(f"file:{path}", SourceRequest()).paced
    request = SourceRequest(options={"loop": "true", "paced": "false"})
    source = open_video_source(f"file:{path}", request)
    assert isinstance(source, AvFileSource) and not source.is_live
    assert source.loop and source.options == {}
    source.open()
    numbers = [source.read().number for _ in range(12)]
    source.close()
    assert numbers == list(range(12))


@pytest.mark.parametrize(
    "spec",
    [
        "synthetic",
        "opencv:0",
        "opencv:/dev/video0",
        "av:v4l2:/dev/video0",
        "av:dshow:video=Cam",
        "file:clip.mp4",
        "rtsp://10.0.0.5:554/stream1",
        "udp://0.0.0.0:5000",
    ],
)
def test_a_source_spec_opens_the_same_source_again(spec: str) -> None:
    assert open_video_source(spec, SourceRequest()).spec == spec


@pytest.mark.parametrize("spec", ["folder:/srv/scans", "sane:", "twain:Scanner"])
def test_page_sources_are_not_video_sources(spec: str) -> None:
    with pytest.raises(ValueError, match="is a scanner source"):
        open_video_source(spec, SourceRequest())


def test_audio_is_not_a_video_source() -> None:
    with pytest.raises(ValueError, match="audio input, not a video source"):
        open_video_source("audio:", SourceRequest())


def test_source_kinds_lists_every_kind_once_with_what_it_needs() -> None:
    kinds = source_kinds()
    assert [k for k, _, _ in kinds] == list(SourceKind)
    available = {k: ok for k, ok, _ in kinds}
    for kind in (SourceKind.SYNTHETIC, SourceKind.OPENCV, SourceKind.AV, SourceKind.FILE,
                 SourceKind.STREAM):  # fmt: skip
        assert available[kind], kind
    assert all(isinstance(needs, str) and needs for _, _, needs in kinds)


def test_discovery_returns_device_infos_without_raising() -> None:
    devices = discover_devices()
    assert isinstance(devices, list)
    assert all(isinstance(d, DeviceInfo) for d in devices)
    assert all(d.spec.startswith(f"{d.kind.value}:") for d in devices)
