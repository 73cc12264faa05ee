"""Cameras and grabbers through OpenCV's ``VideoCapture`` (V4L2, DirectShow, Media Foundation,
AVFoundation), and video files through OpenCV's bundled FFmpeg.

The requested mode (size, rate, FOURCC) is set before the first read and the mode the device
actually accepted is read back: drivers silently fall back to the nearest mode they offer.
"""

from __future__ import annotations

import glob
import logging
import math
import os
import re
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from izer.capture.base import DeviceInfo, Frame, SourceError, SourceKind, VideoMode, VideoSource

log = logging.getLogger(__name__)

#: Backend names accepted in ``backend=`` (and the ``[capture] backend`` setting).
BACKENDS: dict[str, int] = {
    "any": cv2.CAP_ANY,
    "v4l2": cv2.CAP_V4L2,
    "dshow": cv2.CAP_DSHOW,
    "msmf": cv2.CAP_MSMF,
    "avfoundation": cv2.CAP_AVFOUNDATION,
    "ffmpeg": cv2.CAP_FFMPEG,
}

#: FFmpeg-style pixel format names people type, mapped to the FOURCC a driver understands.
FOURCC_ALIASES: dict[str, str] = {
    "mjpeg": "MJPG",
    "mjpg": "MJPG",
    "yuyv": "YUYV",
    "yuyv422": "YUYV",
    "yuy2": "YUY2",
    "uyvy": "UYVY",
    "uyvy422": "UYVY",
    "nv12": "NV12",
    "h264": "H264",
    "gray": "GREY",
    "grey": "GREY",
}

#: Camera indices probed on Windows and macOS, where OpenCV cannot list devices.
PROBED_INDICES = range(5)

#: V4L2 ``VIDIOC_QUERYCAP`` (``_IOR('V', 0, struct v4l2_capability)``, 104 bytes).
_VIDIOC_QUERYCAP = 0x80685600
_V4L2_CAP_VIDEO_CAPTURE = 0x00000001
_V4L2_CAP_VIDEO_CAPTURE_MPLANE = 0x00001000
_V4L2_CAP_DEVICE_CAPS = 0x80000000

_quiet_lock = threading.Lock()
_quiet_depth = 0
_quiet_saved = 0


@contextmanager
def _quiet_opencv() -> Iterator[None]:
    """Silence OpenCV's own warnings while probing (we report failures in plain words)."""
    global _quiet_depth, _quiet_saved
    with _quiet_lock:
        if _quiet_depth == 0:
            _quiet_saved = cv2.utils.logging.getLogLevel()
            cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
        _quiet_depth += 1
    try:
        yield
    finally:
        with _quiet_lock:
            _quiet_depth -= 1
            if _quiet_depth == 0:
                cv2.utils.logging.setLogLevel(_quiet_saved)


def backend_id(name: str) -> int:
    """The ``cv2.CAP_*`` constant for a backend name (``v4l2``, ``dshow``, ``msmf`` ...).

    Raises
    ------
    ValueError
        For an unknown name, listing the accepted ones.
    """
    key = name.strip().lower()
    if key not in BACKENDS:
        raise ValueError(
            f"unknown OpenCV backend {name!r}: use one of {', '.join(BACKENDS)} "
            "(v4l2 on Linux, dshow or msmf on Windows, avfoundation on macOS)"
        )
    return BACKENDS[key]


def normalize_fourcc(name: str) -> str:
    """The four-character code for a pixel format name (``MJPG``, ``YUYV``, ``mjpeg`` ...).

    Raises
    ------
    ValueError
        When ``name`` is neither a known alias nor four printable characters.
    """
    text = FOURCC_ALIASES.get(name.strip().lower(), name)
    if len(text) != 4 or not all(32 <= ord(c) < 127 for c in text) or not text.strip():
        raise ValueError(
            f"pixel format {name!r} is not a FOURCC: give four characters such as MJPG, "
            f"YUYV, YUY2, NV12 or H264 (aliases: {', '.join(sorted(FOURCC_ALIASES))})"
        )
    return text


def fourcc_text(code: float) -> str:
    """The FOURCC read back from ``CAP_PROP_FOURCC`` as text; empty when the device says none."""
    value = int(code) if math.isfinite(code) else 0
    if value <= 0:
        return ""
    text = value.to_bytes(4, "little", signed=False).decode("latin-1").rstrip("\0 ")
    return text if text and all(32 <= ord(c) < 127 for c in text) else ""


def _platform_default_backend() -> str:
    if sys.platform.startswith("linux"):
        return "v4l2"
    if sys.platform == "win32":
        return "msmf"
    if sys.platform == "darwin":
        return "avfoundation"
    return "any"


class OpenCvSource(VideoSource):
    """A camera or grabber opened with ``cv2.VideoCapture``, or a video file (played unpaced).

    Parameters
    ----------
    device
        Camera index (``0``), device path (``/dev/video0``) or a video file path.
    backend
        ``v4l2``, ``dshow``, ``msmf``, ``avfoundation``, ``ffmpeg`` or ``any`` (OpenCV picks).
    width, height, fps, fourcc
        The mode to ask for before the first read; ``None`` keeps the device's default.
        ``fourcc`` takes ``MJPG``, ``YUYV`` ... or an alias such as ``mjpeg``.
    open_timeout_s, read_timeout_s
        Limits passed to the FFmpeg backend (files and URLs); camera backends use their own.

    Raises
    ------
    ValueError
        For an unknown backend or a pixel format that is not a FOURCC.
    """

    kind = SourceKind.OPENCV

    def __init__(
        self,
        device: int | str | Path,
        *,
        backend: str = "any",
        width: int | None = None,
        height: int | None = None,
        fps: float | Fraction | None = None,
        fourcc: str | None = None,
        open_timeout_s: float = 10.0,
        read_timeout_s: float = 10.0,
    ) -> None:
        self.backend = backend.strip().lower() or "any"
        self._api = backend_id(self.backend)
        self.device: int | str = device if isinstance(device, int) else os.fspath(device)
        if isinstance(self.device, str) and self.device.strip().isdigit():
            self.device = int(self.device)
        if (width is not None and width <= 0) or (height is not None and height <= 0):
            raise ValueError(f"requested size {width}x{height} must be positive")
        if fps is not None and fps <= 0:
            raise ValueError(f"requested frame rate {fps} must be positive")
        self.width, self.height, self.fps = width, height, fps
        self.fourcc = normalize_fourcc(fourcc) if fourcc else None
        self.open_timeout_s, self.read_timeout_s = open_timeout_s, read_timeout_s
        self._capture: cv2.VideoCapture | None = None
        self._next = 0
        self._last_msec: float | None = None
        self._is_file = isinstance(self.device, str) and not self.device.startswith("/dev/")
        self._backend_used = self.backend

    @classmethod
    def is_available(cls) -> bool:
        return hasattr(cv2, "VideoCapture")

    @property
    def spec(self) -> str:
        return f"{SourceKind.OPENCV.value}:{self.device}"

    @property
    def is_live(self) -> bool:
        return not self._is_file

    def describe(self) -> str:
        """``camera 0 (v4l2)``, ``/dev/video2 (v4l2)`` or ``video file clip.mp4 (ffmpeg)``."""
        backend = self._backend_used
        if backend == "any":
            backend = "ffmpeg" if self._is_file else _platform_default_backend()
        if isinstance(self.device, int):
            return f"camera {self.device} ({backend})"
        if self._is_file:
            return f"video file {self.device} ({backend})"
        return f"{self.device} ({backend})"

    def open(self) -> VideoMode:
        """Open the device, ask for the requested mode, and return the mode obtained."""
        self.close()
        with _quiet_opencv():
            capture = self._new_capture()
        if not capture.isOpened():
            capture.release()
            raise SourceError(f"{self.describe()} cannot be opened: {self._why_not()}")
        self._backend_used = capture.getBackendName().lower() or self.backend
        # Order matters for V4L2: the pixel format decides which sizes and rates exist.
        if self.fourcc:
            capture.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter.fourcc(*self.fourcc))
        if self.width:
            capture.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
        if self.height:
            capture.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height)
        if self.fps:
            capture.set(cv2.CAP_PROP_FPS, float(self.fps))
        mode = read_mode(capture, fallback_fps=self.fps)
        if self.width and self.height and (mode.width, mode.height) != (self.width, self.height):
            log.warning(
                "%s: asked for %dx%d, got %s", self.describe(), self.width, self.height, mode
            )
        self._capture = capture
        self._next = 0
        self._last_msec = None
        return mode

    def _new_capture(self) -> cv2.VideoCapture:
        if self._api == cv2.CAP_FFMPEG or (self._api == cv2.CAP_ANY and self._is_file):
            params = [
                cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
                int(self.open_timeout_s * 1000),
                cv2.CAP_PROP_READ_TIMEOUT_MSEC,
                int(self.read_timeout_s * 1000),
            ]
            return cv2.VideoCapture(self.device, cv2.CAP_FFMPEG, params)
        return cv2.VideoCapture(self.device, self._api)

    def _why_not(self) -> str:
        """A likely reason, in plain words, for a device OpenCV would not open."""
        if isinstance(self.device, str) and "://" in self.device:
            return "refused, unreachable, timed out, or not a video OpenCV's FFmpeg can read"
        if isinstance(self.device, str):
            path = Path(self.device)
            if not path.exists():
                return "no such file or device"
            if not os.access(path, os.R_OK):
                hint = " (add the user to the 'video' group)" if not self._is_file else ""
                return f"permission denied{hint}"
            if self._is_file:
                return "OpenCV's FFmpeg cannot decode it (not a video, or an unsupported codec)"
            return "the device exists but does not capture video, or another program is using it"
        if self._api != cv2.CAP_ANY and self._api not in cv2.videoio_registry.getCameraBackends():
            return f"this OpenCV build has no {self.backend} camera support"
        return "no camera at this index, or another program is using it"

    def read(self) -> Frame | None:
        """The next frame (RGB); ``None`` when a file ends.

        Raises
        ------
        SourceError
            When a camera stops delivering (unplugged, taken by another program).
        """
        capture = self._capture
        if capture is None:
            raise SourceError(f"{self.describe()} is not open: call open() first")
        ok, image = capture.read()
        captured_ns = time.monotonic_ns()
        if not ok or image is None:
            if self._is_file:
                return None
            raise SourceError(
                f"{self.describe()} stopped delivering frames after {self._next}: "
                "unplugged, switched off, or taken by another program"
            )
        number = self._next
        self._next += 1
        return Frame(_to_rgb(image), number, captured_ns, pts_s=self._pts(capture))

    def _pts(self, capture: cv2.VideoCapture) -> float | None:
        """``CAP_PROP_POS_MSEC`` in seconds when it is a usable, advancing time stamp."""
        msec = capture.get(cv2.CAP_PROP_POS_MSEC)
        first = self._last_msec is None
        if not math.isfinite(msec) or msec < 0 or (not first and msec <= self._last_msec):
            return None
        self._last_msec = msec
        return msec / 1000.0

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None

    @classmethod
    def discover(cls) -> list[DeviceInfo]:
        """Cameras present now: ``/dev/video*`` capture nodes on Linux, indices 0..4 elsewhere.

        OpenCV cannot list a device's modes, so each device reports only the mode it opens
        in by default (the note says so). Never raises; no camera means an empty list.
        """
        if sys.platform.startswith("linux"):
            return _discover_v4l2()
        backend = {"win32": "msmf", "darwin": "avfoundation"}.get(sys.platform, "any")
        found = []
        with _quiet_opencv():
            for index in PROBED_INDICES:
                mode = _probe_mode(index, backend_id(backend))
                if mode is not None:
                    found.append(
                        DeviceInfo(
                            SourceKind.OPENCV,
                            f"{SourceKind.OPENCV.value}:{index}",
                            f"camera {index} ({backend})",
                            (mode,),
                            "found by probing its index; OpenCV gives neither names nor the "
                            "list of modes (the mode shown is the default one)",
                        )
                    )
        return found


def _to_rgb(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return image
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def read_mode(capture: cv2.VideoCapture, *, fallback_fps: float | Fraction | None) -> VideoMode:
    """The mode an open capture delivers, read back from its properties.

    A device that reports no rate gets ``fallback_fps`` (what was asked), else 30.
    """
    rate = capture.get(cv2.CAP_PROP_FPS)
    if math.isfinite(rate) and rate > 0:
        fps = Fraction(rate).limit_denominator(1001)
    else:
        fps = Fraction(fallback_fps or 30).limit_denominator(1001)
    return VideoMode(
        int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
        int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)),
        fps,
        fourcc_text(capture.get(cv2.CAP_PROP_FOURCC)),
    )


def _probe_mode(device: int | str, api: int) -> VideoMode | None:
    """Open briefly (no frame read) and report the default mode; ``None`` when it won't open."""
    capture = cv2.VideoCapture(device, api)
    try:
        if not capture.isOpened():
            return None
        mode = read_mode(capture, fallback_fps=None)
        return mode if mode.width > 0 and mode.height > 0 else None
    finally:
        capture.release()


@dataclass(frozen=True)
class V4l2Capability:
    """What ``VIDIOC_QUERYCAP`` says about a ``/dev/video*`` node."""

    driver: str
    card: str
    bus_info: str
    device_caps: int

    @property
    def captures_video(self) -> bool:
        return bool(self.device_caps & (_V4L2_CAP_VIDEO_CAPTURE | _V4L2_CAP_VIDEO_CAPTURE_MPLANE))

    @classmethod
    def from_bytes(cls, raw: bytes) -> V4l2Capability:
        """Parse a 104-byte ``struct v4l2_capability`` (linux/videodev2.h)."""
        if len(raw) < 104:
            raise ValueError(f"struct v4l2_capability is 104 bytes, got {len(raw)}")

        def text(chunk: bytes) -> str:
            return chunk.split(b"\0", 1)[0].decode("utf-8", "replace")

        capabilities = int.from_bytes(raw[84:88], "little")
        device_caps = int.from_bytes(raw[88:92], "little")
        if not capabilities & _V4L2_CAP_DEVICE_CAPS:
            device_caps = capabilities
        return cls(text(raw[0:16]), text(raw[16:48]), text(raw[48:80]), device_caps)


def _query_v4l2(path: str) -> V4l2Capability | None:
    """``VIDIOC_QUERYCAP`` on a node; ``None`` when it cannot be opened or asked."""
    import fcntl  # POSIX only: imported here so the module loads on Windows.

    try:
        fd = os.open(path, os.O_RDWR | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        buffer = bytearray(104)
        fcntl.ioctl(fd, _VIDIOC_QUERYCAP, buffer, True)
        return V4l2Capability.from_bytes(bytes(buffer))
    except OSError:
        return None
    finally:
        os.close(fd)


def _stable_names() -> dict[str, str]:
    """``/dev/videoN`` -> its ``/dev/v4l/by-id/...`` name (stable across reboots and ports)."""
    names: dict[str, str] = {}
    for link in sorted(glob.glob("/dev/v4l/by-id/*")):
        names.setdefault(os.path.realpath(link), link)
    return names


def _discover_v4l2() -> list[DeviceInfo]:
    nodes = sorted(glob.glob("/dev/video*"), key=lambda p: int(re.sub(r"\D", "", p) or 0))
    stable = _stable_names()
    found = []
    with _quiet_opencv():
        for node in nodes:
            capability = _query_v4l2(node)
            if capability is not None and not capability.captures_video:
                continue  # metadata or output node of a camera that has another capture node
            path = stable.get(os.path.realpath(node), node)
            if capability is None:
                found.append(
                    DeviceInfo(
                        SourceKind.OPENCV,
                        f"{SourceKind.OPENCV.value}:{path}",
                        node,
                        (),
                        "cannot be queried: permission denied (add the user to the 'video' "
                        "group) or the device is busy",
                    )
                )
                continue
            mode = _probe_mode(node, cv2.CAP_V4L2)
            note = (
                "current mode only: OpenCV cannot list V4L2 modes "
                f"(`v4l2-ctl --list-formats-ext -d {node}` shows them)"
            )
            if mode is None:
                note = "busy (another program uses it?) or it would not open; " + note
            found.append(
                DeviceInfo(
                    SourceKind.OPENCV,
                    f"{SourceKind.OPENCV.value}:{path}",
                    f"{capability.card} ({node}, {capability.driver})",
                    (mode,) if mode else (),
                    note,
                )
            )
    return found
