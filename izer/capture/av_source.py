"""Cameras, network streams and video files through PyAV (FFmpeg's libavformat/libavdevice).

Three kinds share one reader:

- :class:`AvSource` (``av:v4l2:/dev/video0``, ``av:dshow:video=Cam``, ``av:avfoundation:0``):
  capture devices through libavdevice, with the mode asked for as device options;
- :class:`AvStreamSource` (``rtsp://``, ``http(s)://``, ``srt://``, ``udp://``, ``rtp://``):
  network streams, with open and read time limits so a dead sender is an error, not a hang;
- :class:`AvFileSource` (``file:clip.mp4``): a file played back at its own rate as if it were a
  camera (optionally looping, for demonstrations).

For files and streams the frame number comes from the time stamp and the stream's rate, so a
frame lost on the way shows as a jump in the numbers, as with a camera.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Iterator, Mapping
from fractions import Fraction
from pathlib import Path
from urllib.parse import urlsplit

import av
import av.error

from izer.capture.base import DeviceInfo, Frame, SourceError, SourceKind, VideoMode, VideoSource

log = logging.getLogger(__name__)

#: libavdevice inputs accepted after ``av:`` and the option that carries the pixel format.
DEVICE_FORMATS: dict[str, str] = {
    "v4l2": "input_format",
    "dshow": "pixel_format",
    "avfoundation": "pixel_format",
}

#: Network schemes read as streams.
STREAM_SCHEMES = ("rtsp", "rtsps", "http", "https", "srt", "udp", "rtp")

#: FOURCCs (as OpenCV and the ``[capture] pixel_format`` setting spell them) -> FFmpeg names.
FOURCC_TO_FFMPEG: dict[str, str] = {
    "MJPG": "mjpeg",
    "YUYV": "yuyv422",
    "YUY2": "yuyv422",
    "UYVY": "uyvy422",
    "NV12": "nv12",
    "H264": "h264",
    "GREY": "gray",
}

#: Compressed formats, which DirectShow takes as ``vcodec`` rather than ``pixel_format``.
_COMPRESSED = {"mjpeg", "h264", "hevc"}

#: A paced file re-anchors its clock rather than sleeping longer than this (a time stamp jump)
#: or bursting frames to catch up after the reader fell this far behind.
_MAX_DRIFT_S = 1.0


def ffmpeg_pixel_format(name: str) -> str:
    """The FFmpeg name for a pixel format given as a FOURCC (``MJPG`` -> ``mjpeg``) or name."""
    return FOURCC_TO_FFMPEG.get(name.strip().upper(), name.strip().lower())


def device_format_available(name: str) -> bool:
    """Whether this PyAV build has the libavdevice input ``name`` (``v4l2``, ``dshow`` ...)."""
    return any(name in entry.split(",") for entry in av.formats_available)


def _microseconds(seconds: float) -> str:
    return str(int(seconds * 1_000_000))


def stream_options(url: str, open_timeout_s: float, read_timeout_s: float) -> dict[str, str]:
    """The FFmpeg options that bound waiting on a network stream, for its protocol.

    Each protocol names its limits differently (ffmpeg-protocols: ``rw_timeout`` for the
    generic I/O layer, ``timeout`` for RTSP sockets and UDP reads, ``connect_timeout`` in
    milliseconds for SRT). RTSP is asked over TCP, which loses no packets on a busy network.
    """
    scheme = urlsplit(url).scheme.lower()
    read_us = _microseconds(read_timeout_s)
    if scheme in ("rtsp", "rtsps"):
        return {"timeout": read_us, "rtsp_transport": "tcp"}
    if scheme == "srt":
        return {"timeout": read_us, "connect_timeout": str(int(open_timeout_s * 1000))}
    if scheme in ("udp", "rtp"):
        return {"timeout": read_us}
    return {"rw_timeout": read_us}


class AvSource(VideoSource):
    """A capture device read through libavdevice (and the shared PyAV reader of this module).

    Parameters
    ----------
    device
        The device as the input format names it: ``/dev/video0`` (v4l2), ``video=Cam``
        (dshow), ``0`` or ``FaceTime HD Camera`` (avfoundation).
    device_format
        ``v4l2``, ``dshow`` or ``avfoundation``.
    width, height, fps, pixel_format
        The mode to ask for (``video_size``, ``framerate``, and ``input_format`` /
        ``pixel_format`` / ``vcodec``); ``None`` keeps the device default. ``pixel_format`` takes
        a FOURCC (``MJPG``, ``YUYV``) or an FFmpeg name (``mjpeg``, ``yuyv422``).
    options
        Further FFmpeg options, passed as they are.
    open_timeout_s, read_timeout_s
        How long to wait for the device to open, and for each frame.

    Raises
    ------
    ValueError
        For an unknown device format.
    """

    kind = SourceKind.AV

    def __init__(
        self,
        device: str,
        *,
        device_format: str,
        width: int | None = None,
        height: int | None = None,
        fps: float | Fraction | None = None,
        pixel_format: str | None = None,
        options: Mapping[str, str] | None = None,
        open_timeout_s: float = 10.0,
        read_timeout_s: float = 5.0,
    ) -> None:
        fmt = device_format.strip().lower()
        if fmt not in DEVICE_FORMATS:
            raise ValueError(
                f"unknown PyAV device format {device_format!r}: use one of "
                f"{', '.join(DEVICE_FORMATS)} (v4l2 on Linux, dshow on Windows, avfoundation "
                "on macOS)"
            )
        if (width is None) != (height is None):
            raise ValueError("give both width and height for a device, or neither")
        merged: dict[str, str] = {}
        if width and height:
            merged["video_size"] = f"{width}x{height}"
        if fps:
            merged["framerate"] = str(Fraction(fps).limit_denominator(1001))
        if pixel_format:
            name = ffmpeg_pixel_format(pixel_format)
            key = DEVICE_FORMATS[fmt]
            if fmt == "dshow" and name in _COMPRESSED:
                key = "vcodec"
            merged[key] = name
        merged.update(options or {})
        self._init_reader(
            device,
            input_format=fmt,
            options=merged,
            paced=False,
            loop=False,
            numbers_from_pts=False,
            open_timeout_s=open_timeout_s,
            read_timeout_s=read_timeout_s,
        )

    def _init_reader(
        self,
        target: str,
        *,
        input_format: str | None,
        options: Mapping[str, str],
        paced: bool,
        loop: bool,
        numbers_from_pts: bool,
        open_timeout_s: float,
        read_timeout_s: float,
    ) -> None:
        self.target = target
        self.input_format = input_format
        self.options = dict(options)
        self.paced = paced
        self.loop = loop
        self.open_timeout_s = open_timeout_s
        self.read_timeout_s = read_timeout_s
        self._numbers_from_pts = numbers_from_pts
        self._container: av.container.InputContainer | None = None
        self._stream: av.VideoStream | None = None
        self._packets: Iterator[av.Packet] | None = None
        self._pending: deque[av.VideoFrame] = deque()
        self._rate: Fraction | None = None
        self._reset_counters()

    def _reset_counters(self) -> None:
        self._last_number = -1
        self._first_time: float | None = None  # stream time of the first frame of this pass
        self._pass_offset_s = 0.0  # media time added by earlier passes (looping)
        self._last_media_s = 0.0
        self._wall_anchor: float | None = None  # monotonic time at which media time 0 is due
        self.corrupt_packets = 0

    @classmethod
    def is_available(cls) -> bool:
        return bool(av.formats_available)

    @classmethod
    def discover(cls) -> list[DeviceInfo]:
        """The devices libavdevice can list on this platform (v4l2, dshow); never raises."""
        enumerate_devices = getattr(av, "enumerate_input_devices", None)
        found: list[DeviceInfo] = []
        for fmt in DEVICE_FORMATS:
            if not device_format_available(fmt):
                continue
            if enumerate_devices is None:
                found.append(_note(fmt, "this PyAV is too old to list devices (needs 15+)"))
                continue
            try:
                devices = enumerate_devices(fmt)
            except (av.error.FFmpegError, ValueError, OSError) as error:
                found.append(_note(fmt, f"{fmt} cannot list its devices: {error}"))
                continue
            for device in devices:
                if device.media_types and "video" not in device.media_types:
                    continue
                name = f"video={device.name}" if fmt == "dshow" else device.name
                found.append(
                    DeviceInfo(
                        SourceKind.AV,
                        f"{SourceKind.AV.value}:{fmt}:{name}",
                        f"{device.description or device.name} ({fmt})",
                        (),
                        f"modes are not listed through PyAV (`ffmpeg -f {fmt} "
                        "-list_formats all -i DEVICE` shows them)"
                        if fmt == "v4l2"
                        else "modes are not listed through PyAV",
                    )
                )
        return found

    @property
    def spec(self) -> str:
        return f"{SourceKind.AV.value}:{self.input_format}:{self.target}"

    def describe(self) -> str:
        """The source in words, for messages: ``camera /dev/video0 (v4l2)``."""
        return f"camera {self.target} ({self.input_format})"

    def open(self) -> VideoMode:
        """Open, pick the first video stream, and return the mode it delivers."""
        self.close()
        if self.input_format and not device_format_available(self.input_format):
            raise SourceError(
                f"{self.describe()} cannot be opened: this PyAV build has no "
                f"{self.input_format} input (install PyAV for the platform the device is on)"
            )
        try:
            container = av.open(
                self.target,
                format=self.input_format,
                options=self.options,
                timeout=(self.open_timeout_s, self.read_timeout_s),
            )
        except av.error.FFmpegError as error:
            raise SourceError(
                f"{self.describe()} cannot be opened: {self._reason(error)}"
            ) from error
        if not container.streams.video:
            container.close()
            raise SourceError(f"{self.describe()} has no video stream")
        stream = container.streams.video[0]
        stream.codec_context.thread_type = "AUTO" if self.paced or not self.is_live else "SLICE"
        self._container, self._stream = container, stream
        self._packets = container.demux(stream)
        self._pending.clear()
        # guessed_rate: the nominal rate even when frames are missing (average_rate drops then).
        rate = stream.guessed_rate or stream.average_rate or stream.base_rate
        self._rate = Fraction(rate) if rate else None
        self._reset_counters()
        context = stream.codec_context
        named = ("input_format", "pixel_format", "vcodec")
        pixel_format = next((self.options[k] for k in named if self.options.get(k)), "")
        if not pixel_format:
            pixel_format = context.format.name if context.format else ""
        fps = (self._rate or Fraction(30)).limit_denominator(1001)
        return VideoMode(context.width, context.height, fps, pixel_format)

    def _reason(self, error: av.error.FFmpegError) -> str:
        """Plain words for why PyAV would not open or read."""
        if isinstance(error, av.error.ProtocolNotFoundError):
            scheme = urlsplit(self.target).scheme
            return (
                f"this PyAV build cannot read {scheme}:// (its FFmpeg lacks the protocol); "
                "relay it, e.g. `ffmpeg -i URL -c copy -f mpegts udp://127.0.0.1:5000`, "
                "and capture udp://127.0.0.1:5000"
            )
        if isinstance(error, av.error.ExitError):
            return f"nothing arrived within {self.open_timeout_s:g} s"
        if isinstance(error, av.error.TimeoutError):
            return f"timed out: nothing arrived for {self.read_timeout_s:g} s"
        if isinstance(error, av.error.ConnectionResetError):
            return "the other end closed the connection"
        if isinstance(error, av.error.ConnectionRefusedError):
            return "connection refused (nothing is listening there)"
        if isinstance(error, av.error.FileNotFoundError):
            return "no such file or device"
        if isinstance(error, av.error.PermissionError):
            return "permission denied"
        if isinstance(error, av.error.InvalidDataError):
            return "what arrived is not a video FFmpeg can read"
        if isinstance(error, av.error.EOFError):
            return "it ended before sending any video"
        return getattr(error, "strerror", None) or str(error)

    def read(self) -> Frame | None:
        """The next frame (RGB), blocking; ``None`` when a file or stream has ended.

        Raises
        ------
        SourceError
            When nothing arrives within the read time limit or the connection breaks.
        """
        if self._container is None:
            raise SourceError(f"{self.describe()} is not open: call open() first")
        frame = self._next_decoded()
        if frame is None and self.loop and self._last_number >= 0:
            self._restart()
            frame = self._next_decoded()
        if frame is None:
            return None
        number, media_s = self._place(frame)
        if self.paced:
            self._wait_until_due(media_s)
        captured_ns = time.monotonic_ns()
        pixels = frame.to_ndarray(format="rgb24")
        return Frame(pixels, number, captured_ns, pts_s=media_s)

    def _next_decoded(self) -> av.VideoFrame | None:
        assert self._packets is not None
        while not self._pending:
            try:
                packet = next(self._packets)
            except StopIteration:
                return None
            except av.error.EOFError:
                return None
            except av.error.ExitError as error:
                raise SourceError(
                    f"{self.describe()}: no picture for {self.read_timeout_s:g} s "
                    "(the sender stopped or the connection stalled)"
                ) from error
            except av.error.FFmpegError as error:
                raise SourceError(f"{self.describe()} stopped: {self._reason(error)}") from error
            try:
                self._pending.extend(packet.decode())
            except av.error.InvalidDataError:
                self.corrupt_packets += 1  # a damaged packet; the stream goes on
        return self._pending.popleft()

    def _restart(self) -> None:
        """Seek back to the start for another pass; numbers and time keep counting up."""
        assert self._container is not None and self._stream is not None
        self._container.seek(0)
        self._packets = self._container.demux(self._stream)
        step = 1 / self._rate if self._rate else 0.0
        self._pass_offset_s = self._last_media_s + float(step)
        self._first_time = None

    def _place(self, frame: av.VideoFrame) -> tuple[int, float]:
        """The frame's number and its media time (seconds since the first frame)."""
        stream_time = frame.time
        if stream_time is None:
            step = float(1 / self._rate) if self._rate else 0.0
            media_s = self._last_media_s + step if self._last_number >= 0 else 0.0
        else:
            if self._first_time is None:
                self._first_time = stream_time
            media_s = self._pass_offset_s + (stream_time - self._first_time)
        number = self._last_number + 1
        if self._numbers_from_pts and self._rate and stream_time is not None:
            number = max(number, round(media_s * self._rate))
        self._last_number, self._last_media_s = number, media_s
        return number, media_s

    def _wait_until_due(self, media_s: float) -> None:
        now = time.monotonic()
        if self._wall_anchor is None:
            self._wall_anchor = now - media_s
        wait = self._wall_anchor + media_s - now
        if wait > _MAX_DRIFT_S or wait < -_MAX_DRIFT_S:
            self._wall_anchor = now - media_s  # a time stamp jump, or a reader far behind
        elif wait > 0:
            time.sleep(wait)

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
        self._container, self._stream, self._packets = None, None, None
        self._pending.clear()


class AvStreamSource(AvSource):
    """A network stream: RTSP, HTTP(S), SRT, UDP or RTP (MPEG-TS or what FFmpeg can read).

    Parameters
    ----------
    url
        ``rtsp://camera/stream``, ``http://host:8080/live.ts``, ``srt://host:9000``,
        ``udp://0.0.0.0:5000``, ``rtp://0.0.0.0:5004``.
    options
        FFmpeg options, over the time limits this class sets per protocol.
    open_timeout_s
        Give up opening after this long (nothing answering, or no picture yet).
    read_timeout_s
        Give up when no data arrives for this long once playing.
    """

    kind = SourceKind.STREAM

    def __init__(
        self,
        url: str,
        *,
        options: Mapping[str, str] | None = None,
        open_timeout_s: float = 10.0,
        read_timeout_s: float = 5.0,
    ) -> None:
        scheme = urlsplit(url).scheme.lower()
        if scheme not in STREAM_SCHEMES:
            raise ValueError(
                f"{url!r} is not a stream URL: use one of "
                f"{', '.join(s + '://' for s in STREAM_SCHEMES)}"
            )
        merged = stream_options(url, open_timeout_s, read_timeout_s)
        merged.update(options or {})
        self._init_reader(
            url,
            input_format=None,
            options=merged,
            paced=False,
            loop=False,
            numbers_from_pts=True,
            open_timeout_s=open_timeout_s,
            read_timeout_s=read_timeout_s,
        )

    @classmethod
    def discover(cls) -> list[DeviceInfo]:
        return []

    @property
    def spec(self) -> str:
        return self.target

    def describe(self) -> str:
        return f"stream {self.target}"


class AvFileSource(AvSource):
    """A video file delivered like a camera: at its own rate (``paced``) and optionally looping.

    Parameters
    ----------
    path
        The video file.
    paced
        Deliver each frame when its time stamp is due (``is_live`` is then True); ``False``
        reads as fast as the reader takes frames.
    loop
        Start again at the end instead of ending (demonstrations); numbers keep counting.
    options
        FFmpeg options for opening the file.
    """

    kind = SourceKind.FILE

    def __init__(
        self,
        path: str | Path,
        *,
        paced: bool = True,
        loop: bool = False,
        options: Mapping[str, str] | None = None,
    ) -> None:
        self._init_reader(
            str(path),
            input_format=None,
            options=options or {},
            paced=paced,
            loop=loop,
            numbers_from_pts=True,
            open_timeout_s=10.0,
            read_timeout_s=10.0,
        )

    @classmethod
    def discover(cls) -> list[DeviceInfo]:
        return []

    @property
    def spec(self) -> str:
        return f"{SourceKind.FILE.value}:{self.target}"

    @property
    def is_live(self) -> bool:
        return self.paced

    def describe(self) -> str:
        return f"video file {self.target}"


def _note(fmt: str, note: str) -> DeviceInfo:
    return DeviceInfo(SourceKind.AV, f"{SourceKind.AV.value}:{fmt}:", f"{fmt} devices", (), note)
