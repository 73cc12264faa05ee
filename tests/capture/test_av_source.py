"""PyAV sources: files played as cameras, network streams from a real ffmpeg, devices' errors."""

from __future__ import annotations

import itertools
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path

import av
import pytest

from izer.capture.av_source import (
    AvFileSource,
    AvSource,
    AvStreamSource,
    device_format_available,
    stream_options,
)
from izer.capture.base import Frame, SourceError, SourceKind, SourceRequest
from izer.capture.registry import open_video_source
from izer.capture.synthetic import SyntheticSource, read_frame_number
from tests.helpers.binaries import require_binaries

WIDTH, HEIGHT, FPS, FRAMES = 320, 240, 25, 40


def encode_clip(path: Path, *, skip: range = range(0), container: str | None = None) -> Path:
    """Encode SyntheticSource frames 0..FRAMES-1 (minus ``skip``) with their own time stamps."""
    source = SyntheticSource(WIDTH, HEIGHT, FPS, paced=False)
    with av.open(str(path), "w", format=container) as output:
        stream = output.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.codec_context.time_base = Fraction(1, FPS)
        stream.options = {"crf": "23", "preset": "ultrafast"}
        for number in range(FRAMES):
            if number in skip:
                continue
            frame = av.VideoFrame.from_ndarray(source.frame(number), format="rgb24")
            frame.pts, frame.time_base = number, Fraction(1, FPS)
            for packet in stream.encode(frame):
                output.mux(packet)
        for packet in stream.encode():
            output.mux(packet)
    return path


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return encode_clip(tmp_path_factory.mktemp("av") / "clip.mp4")


def read_all(source: AvSource, limit: int = 10_000) -> list[Frame]:
    frames = []
    while len(frames) < limit and (frame := source.read()) is not None:
        frames.append(frame)
    return frames


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def ffmpeg_server(clip: Path) -> Iterator[Callable[..., None]]:
    """Start ``ffmpeg -re`` sending the clip as MPEG-TS to an output URL; stopped afterwards."""
    binaries = require_binaries("ffmpeg")
    processes: list[subprocess.Popen[bytes]] = []

    def start(*output: str) -> None:
        command = [str(binaries["ffmpeg"]), "-v", "error", "-re", "-i", str(clip), "-c", "copy"]
        processes.append(subprocess.Popen([*command, "-f", "mpegts", *output]))

    yield start
    for process in processes:
        process.kill()
        process.wait()


def open_when_listening(url: str, deadline_s: float = 10.0) -> tuple[AvSource, object]:
    """Open a stream whose server is still starting: retry while the port is not bound yet."""
    source = open_video_source(url, SourceRequest(options={"open_timeout_s": "5"}))
    give_up = time.monotonic() + deadline_s
    while True:
        try:
            return source, source.open()
        except SourceError as error:
            if "refused" not in str(error) or time.monotonic() > give_up:
                raise
            time.sleep(0.05)


# --- files --------------------------------------------------------------------------------------


def test_a_paced_file_delivers_every_frame_in_order_like_a_camera(clip: Path) -> None:
    source = AvFileSource(clip, paced=True)
    mode = source.open()
    assert (mode.width, mode.height, mode.fps) == (WIDTH, HEIGHT, Fraction(FPS))
    assert source.is_live and source.kind == SourceKind.FILE
    frames = read_all(source)
    source.close()
    assert [f.number for f in frames] == list(range(FRAMES))
    assert [read_frame_number(f.pixels) for f in frames] == list(range(FRAMES))
    assert [f.pts_s for f in frames] == pytest.approx([n / FPS for n in range(FRAMES)])
    assert all(f.pixels.shape == (HEIGHT, WIDTH, 3) and f.pixels.dtype == "uint8" for f in frames)
    # Pacing holds frames back until due: a lower bound only, so a slow machine cannot fail it.
    span_s = (frames[-1].captured_ns - frames[0].captured_ns) / 1e9
    assert span_s >= 0.9 * (FRAMES - 1) / FPS


def test_an_unpaced_file_is_not_live_and_ends_with_none(clip: Path) -> None:
    source = AvFileSource(clip, paced=False)
    source.open()
    assert not source.is_live
    assert len(read_all(source)) == FRAMES
    assert source.read() is None
    source.close()
    source.close()


def test_a_looping_file_starts_again_and_keeps_counting(clip: Path) -> None:
    source = AvFileSource(clip, paced=False, loop=True)
    source.open()
    frames = read_all(source, limit=2 * FRAMES + 5)
    source.close()
    assert [f.number for f in frames] == list(range(2 * FRAMES + 5))
    assert [read_frame_number(f.pixels) for f in frames] == [n % FRAMES for n in range(len(frames))]
    times = [f.pts_s for f in frames]
    assert all(b > a for a, b in itertools.pairwise(times))


@pytest.mark.parametrize("container", ["mp4", "mpegts"])
def test_frames_missing_from_a_file_show_as_a_jump_in_the_numbers(
    tmp_path: Path, container: str
) -> None:
    path = encode_clip(tmp_path / f"gap.{container}", skip=range(10, 13), container=container)
    source = AvFileSource(path, paced=False)
    assert source.open().fps == FPS  # the nominal rate, not the average lowered by the gap
    frames = read_all(source)
    source.close()
    expected = [n for n in range(FRAMES) if n not in range(10, 13)]
    assert [f.number for f in frames] == expected
    assert [read_frame_number(f.pixels) for f in frames] == expected


def test_a_missing_or_broken_file_is_a_source_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no such file"):
        AvFileSource(tmp_path / "absent.mp4").open()
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all " * 100)
    with pytest.raises(SourceError, match="not a video"):
        AvFileSource(junk).open()


def test_reading_before_opening_is_a_source_error(clip: Path) -> None:
    with pytest.raises(SourceError, match="not open"):
        AvFileSource(clip).read()


# --- network streams ----------------------------------------------------------------------------


def test_an_http_stream_delivers_frames_in_order(ffmpeg_server) -> None:
    port = free_port()
    ffmpeg_server("-listen", "1", f"http://127.0.0.1:{port}")
    source, mode = open_when_listening(f"http://127.0.0.1:{port}")
    assert isinstance(source, AvStreamSource) and source.is_live
    assert (mode.width, mode.height, mode.fps) == (WIDTH, HEIGHT, FPS)
    frames = read_all(source, limit=25)
    source.close()
    assert [f.number for f in frames] == list(range(25))
    assert [read_frame_number(f.pixels) for f in frames] == list(range(25))


def _pyav_reads_srt() -> bool:
    try:
        AvStreamSource(f"srt://127.0.0.1:{free_port()}", open_timeout_s=0.5).open()
    except SourceError as error:
        return "lacks the protocol" not in str(error)
    return True


def _ffmpeg_has_srt() -> bool:
    binaries = require_binaries("ffmpeg")
    protocols = subprocess.run(
        [str(binaries["ffmpeg"]), "-hide_banner", "-protocols"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return "srt" in protocols


def test_an_srt_stream_delivers_frames_in_order(ffmpeg_server) -> None:
    if not _ffmpeg_has_srt():
        pytest.skip("this ffmpeg was built without libsrt")
    if not _pyav_reads_srt():
        pytest.skip("this PyAV's FFmpeg was built without libsrt (see the next test)")
    port = free_port(socket.SOCK_DGRAM)
    ffmpeg_server(f"srt://127.0.0.1:{port}?mode=listener")
    time.sleep(0.5)  # SRT is UDP: no refusal to retry on while the listener starts
    source = open_video_source(f"srt://127.0.0.1:{port}", SourceRequest())
    source.open()
    frames = read_all(source, limit=25)
    source.close()
    numbers = [read_frame_number(f.pixels) for f in frames]
    assert numbers == sorted(numbers) and len(frames) == 25
    assert [f.number for f in frames] == [n - numbers[0] for n in numbers]


def test_srt_without_support_in_pyav_says_so_plainly() -> None:
    if _pyav_reads_srt():
        pytest.skip("this PyAV reads srt:// (covered by the previous test)")
    with pytest.raises(SourceError, match=r"cannot read srt://.*relay it"):
        open_video_source(f"srt://127.0.0.1:{free_port()}", SourceRequest()).open()


@pytest.mark.parametrize("scheme", ["http", "rtsp"])
def test_a_refused_port_is_a_source_error_at_once(scheme: str) -> None:
    # A 60 s open limit: the error must come from the refusal, not from waiting it out.
    request = SourceRequest(options={"open_timeout_s": "60", "read_timeout_s": "60"})
    source = open_video_source(f"{scheme}://127.0.0.1:{free_port()}/live", request)
    with pytest.raises(SourceError, match="refused"):
        source.open()


@pytest.fixture
def tcp_server() -> Iterator[Callable[[Callable[[socket.socket], object]], int]]:
    """A loopback TCP server running ``handle(connection)`` for each client."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []

    def serve(handle: Callable[[socket.socket], object]) -> int:
        def loop() -> None:
            while True:
                try:
                    connection, _ = listener.accept()
                except OSError:
                    return
                held.append(connection)
                threading.Thread(target=handle, args=(connection,), daemon=True).start()

        threading.Thread(target=loop, daemon=True).start()
        return listener.getsockname()[1]

    yield serve
    listener.close()
    for connection in held:
        connection.close()


def test_a_server_that_never_answers_times_out_with_a_source_error(tcp_server) -> None:
    port = tcp_server(lambda connection: None)  # accepts, then stays silent
    request = SourceRequest(options={"open_timeout_s": "2", "read_timeout_s": "1"})
    with pytest.raises(SourceError, match=r"cannot be opened: (timed out|nothing arrived)"):
        open_video_source(f"http://127.0.0.1:{port}/live", request).open()


def test_a_server_that_hangs_up_is_a_source_error(tcp_server) -> None:
    port = tcp_server(lambda connection: connection.close())
    with pytest.raises(SourceError, match="cannot be opened"):
        open_video_source(f"http://127.0.0.1:{port}/live", SourceRequest()).open()


def test_a_stream_that_stalls_mid_way_raises_after_the_read_limit(
    tcp_server, clip: Path, tmp_path: Path
) -> None:
    binaries = require_binaries("ffmpeg")
    ts = tmp_path / "clip.ts"
    subprocess.run(
        [str(binaries["ffmpeg"]), "-v", "error", "-i", str(clip), "-c", "copy", str(ts)],
        check=True,
    )
    payload = ts.read_bytes()
    release = threading.Event()

    def half_then_silence(connection: socket.socket) -> None:
        connection.recv(65536)
        header = b"HTTP/1.1 200 OK\r\nContent-Type: video/mp2t\r\n\r\n"
        connection.sendall(header + payload[: len(payload) // 2 // 188 * 188])
        release.wait(30)  # keep the connection open, sending nothing

    port = tcp_server(half_then_silence)
    request = SourceRequest(options={"open_timeout_s": "5", "read_timeout_s": "1"})
    source = open_video_source(f"http://127.0.0.1:{port}/live", request)
    source.open()
    delivered = []
    try:
        with pytest.raises(SourceError, match=r"no picture for 1 s|timed out"):
            while len(delivered) < FRAMES:
                frame = source.read()
                assert frame is not None, "a stalled stream must not look like an ended one"
                delivered.append(read_frame_number(frame.pixels))
    finally:
        release.set()
        source.close()
    assert 0 < len(delivered) < FRAMES
    assert delivered == list(range(len(delivered)))


def test_udp_with_no_sender_is_a_source_error_after_the_open_limit() -> None:
    request = SourceRequest(options={"open_timeout_s": "1", "read_timeout_s": "1"})
    source = open_video_source(f"udp://127.0.0.1:{free_port(socket.SOCK_DGRAM)}", request)
    with pytest.raises(SourceError, match="cannot be opened"):
        source.open()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("rtsp://cam/stream", {"timeout": "2000000", "rtsp_transport": "tcp"}),
        ("http://host:8080/live.ts", {"rw_timeout": "2000000"}),
        ("https://host/live.ts", {"rw_timeout": "2000000"}),
        ("srt://host:9000", {"timeout": "2000000", "connect_timeout": "3000"}),
        ("udp://0.0.0.0:5000", {"timeout": "2000000"}),
        ("rtp://0.0.0.0:5004", {"timeout": "2000000"}),
    ],
)
def test_each_protocol_gets_its_own_time_limit_options(url: str, expected: dict) -> None:
    assert stream_options(url, open_timeout_s=3, read_timeout_s=2) == expected
    assert AvStreamSource(url, open_timeout_s=3, read_timeout_s=2).options == expected


def test_a_stream_url_must_have_a_stream_scheme() -> None:
    with pytest.raises(ValueError, match="not a stream URL"):
        AvStreamSource("ftp://host/clip.ts")


# --- devices ------------------------------------------------------------------------------------


def test_the_requested_mode_becomes_device_options() -> None:
    v4l2 = AvSource(
        "/dev/video0", device_format="v4l2", width=1280, height=720, fps=30, pixel_format="MJPG"
    )
    assert v4l2.options == {"video_size": "1280x720", "framerate": "30", "input_format": "mjpeg"}
    assert v4l2.spec == "av:v4l2:/dev/video0"
    dshow = AvSource("video=Cam", device_format="dshow", pixel_format="MJPG")
    assert dshow.options == {"vcodec": "mjpeg"}
    raw = AvSource("video=Cam", device_format="dshow", pixel_format="YUYV")
    assert raw.options == {"pixel_format": "yuyv422"}
    mac = AvSource("0", device_format="avfoundation", fps=Fraction(30000, 1001))
    assert mac.options == {"framerate": "30000/1001"}


def test_an_unknown_device_format_is_a_value_error_naming_the_accepted_ones() -> None:
    with pytest.raises(ValueError, match="v4l2, dshow, avfoundation"):
        AvSource("0", device_format="vfw")
    with pytest.raises(ValueError, match="both width and height"):
        AvSource("/dev/video0", device_format="v4l2", width=640)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="v4l2 exists on Linux only")
def test_an_absent_v4l2_device_is_a_plain_source_error() -> None:
    assert device_format_available("v4l2")
    with pytest.raises(SourceError, match=r"camera /dev/video99 \(v4l2\) cannot be opened"):
        AvSource("/dev/video99", device_format="v4l2").open()


@pytest.mark.skipif(sys.platform == "win32", reason="dshow exists on Windows")
def test_a_device_input_missing_from_this_build_is_a_source_error() -> None:
    assert not device_format_available("dshow")
    with pytest.raises(SourceError, match="has no dshow input"):
        AvSource("video=Cam", device_format="dshow").open()


def test_discovery_returns_a_list_without_raising() -> None:
    devices = AvSource.discover()
    assert isinstance(devices, list)
    assert all(d.kind == SourceKind.AV and d.spec.startswith("av:") for d in devices)
    assert AvFileSource.discover() == [] and AvStreamSource.discover() == []
