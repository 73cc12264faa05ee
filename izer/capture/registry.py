"""From ``--source`` text to a source: the spec forms, the kinds available here, discovery.

Spec forms (the prefix is the :class:`SourceKind`)::

    synthetic                          moving test bars (no hardware)
    opencv:0 | opencv:/dev/video0      a camera through OpenCV (index, device or file path)
    av:v4l2:/dev/video0                a camera through PyAV: av:FORMAT:DEVICE with FORMAT
    av:dshow:video=Cam                 v4l2, dshow or avfoundation
    av:avfoundation:0
    file:clip.mp4                      a video file played at its own rate, like a camera
    rtsp:// rtsps:// http:// https://  a network stream (the whole URL is the spec)
    srt:// udp:// rtp://
    folder:/path                       a watched folder of scans (a page source)
    sane:DEVICE | twain:NAME           a scanner (a page source); empty name = the default one
    audio:DEVICE                       a microphone; empty name = the default one

Backends are imported only when used, so a missing optional package costs only its own kinds.
"""

from __future__ import annotations

import importlib
import logging
from fractions import Fraction
from typing import Any

from izer.capture.base import DeviceInfo, SourceError, SourceKind, SourceRequest, VideoSource

log = logging.getLogger(__name__)

#: Network schemes accepted as stream specs.
STREAM_SCHEMES = ("rtsp", "rtsps", "http", "https", "srt", "udp", "rtp")

#: PyAV device formats accepted after ``av:``.
AV_DEVICE_FORMATS = ("v4l2", "dshow", "avfoundation")

#: Kinds whose spec may leave the device empty (meaning: the default one).
_DEFAULT_ALLOWED = {SourceKind.SANE, SourceKind.TWAIN, SourceKind.AUDIO}

#: Kinds that deliver pages or sound rather than video.
_PAGE_KINDS = {SourceKind.FOLDER, SourceKind.SANE, SourceKind.TWAIN}

#: Per kind: (module, class name, what it needs), imported on demand.
_CLASSES: dict[SourceKind, tuple[str, str, str]] = {
    SourceKind.SYNTHETIC: ("izer.capture.synthetic", "SyntheticSource", "nothing (built in)"),
    SourceKind.OPENCV: (
        "izer.capture.opencv_source",
        "OpenCvSource",
        "opencv-python-headless (cv2) and a camera (v4l2, dshow, msmf or avfoundation)",
    ),
    SourceKind.AV: (
        "izer.capture.av_source",
        "AvSource",
        "PyAV (av) with the platform's device input (v4l2, dshow or avfoundation)",
    ),
    SourceKind.FILE: ("izer.capture.av_source", "AvFileSource", "PyAV (av)"),
    SourceKind.STREAM: (
        "izer.capture.av_source",
        "AvStreamSource",
        "PyAV (av); srt:// also needs an FFmpeg built with libsrt",
    ),
    SourceKind.SANE: (
        "izer.capture.scanners",
        "SaneScanner",
        "python-sane and SANE backends (Linux, macOS)",
    ),
    SourceKind.TWAIN: (
        "izer.capture.scanners",
        "TwainScanner",
        "pytwain and a TWAIN driver (Windows)",
    ),
    SourceKind.FOLDER: ("izer.capture.folder_source", "FolderSource", "nothing (built in)"),
    SourceKind.AUDIO: ("izer.capture.audio_input", "AudioInput", "a sound input library"),
}

_FORMS = (
    "synthetic, opencv:0, opencv:/dev/video0, av:v4l2:/dev/video0, av:dshow:video=NAME, "
    "av:avfoundation:0, file:PATH, rtsp://..., http(s)://..., srt://..., udp://..., rtp://..., "
    "folder:PATH, sane:DEVICE, twain:NAME, audio:DEVICE"
)

_TRUE = {"1", "true", "yes", "on"}

#: izer's own time limit options (seconds), taken out of ``SourceRequest.options``.
_LIMITS = ("open_timeout_s", "read_timeout_s")


def parse_source_spec(spec: str) -> tuple[SourceKind, str]:
    """Split ``--source`` text into its kind and the rest (device, path or URL).

    Network streams keep their whole URL; ``av:`` keeps ``FORMAT:DEVICE``.

    Raises
    ------
    ValueError
        For an unknown form or a missing device, listing the accepted forms.
    """
    text = spec.strip()
    if text.lower() == SourceKind.SYNTHETIC.value:
        return SourceKind.SYNTHETIC, ""
    prefix, sep, rest = text.partition(":")
    prefix = prefix.lower()
    if sep and prefix in STREAM_SCHEMES and rest.startswith("//"):
        if len(rest) <= 2:
            raise ValueError(f"source {spec!r} has no host: write e.g. {prefix}://HOST:PORT/...")
        return SourceKind.STREAM, prefix + ":" + rest
    kind = next((k for k in SourceKind if k.value == prefix), None) if sep else None
    if kind in (None, SourceKind.SYNTHETIC, SourceKind.STREAM):
        raise ValueError(f"unknown source {spec!r}: use one of {_FORMS}")
    assert kind is not None
    rest = rest.strip()
    if kind == SourceKind.AV:
        fmt, sep, device = rest.partition(":")
        if fmt.lower() not in AV_DEVICE_FORMATS or not sep or not device:
            raise ValueError(
                f"source {spec!r}: write av:FORMAT:DEVICE with FORMAT one of "
                f"{', '.join(AV_DEVICE_FORMATS)} (e.g. av:v4l2:/dev/video0, av:dshow:video=Cam)"
            )
        return kind, f"{fmt.lower()}:{device}"
    if not rest and kind not in _DEFAULT_ALLOWED:
        raise ValueError(f"source {spec!r} names no device or path: use one of {_FORMS}")
    return kind, rest


def _class_of(kind: SourceKind) -> Any:
    """The class for a kind; SourceError naming what to install when it cannot be imported."""
    module, name, needs = _CLASSES[kind]
    try:
        return getattr(importlib.import_module(module), name)
    except ImportError as error:
        raise SourceError(
            f"{kind.value} sources are not available here: {error} (needs {needs})"
        ) from error


def open_video_source(spec: str, request: SourceRequest) -> VideoSource:
    """A (not yet opened) video source for ``spec``, asking for ``request``'s mode.

    ``request.options`` go to FFmpeg for av/file/stream sources, except izer's own keys:
    ``loop`` and ``paced`` (file), ``open_timeout_s`` and ``read_timeout_s`` (av, stream).
    A file plays in its own size and rate; ``request.backend`` applies to opencv only.

    Raises
    ------
    ValueError
        For a malformed spec, or one that names a page or audio source.
    SourceError
        When the kind cannot work here (the message names the missing package).
    """
    kind, target = parse_source_spec(spec)
    if kind in _PAGE_KINDS:
        raise ValueError(
            f"{spec!r} is a scanner source (pages from a {kind.value} "
            f"{'folder' if kind == SourceKind.FOLDER else 'scanner'}), not a video source"
        )
    if kind == SourceKind.AUDIO:
        raise ValueError(f"{spec!r} is an audio input, not a video source")
    cls = _class_of(kind)
    if not _available(cls):
        raise SourceError(f"{kind.value} sources are not usable here (needs {_CLASSES[kind][2]})")
    options = dict(request.options)
    limits = {key: _seconds(options.pop(key), key) for key in _LIMITS if key in options}
    if kind == SourceKind.SYNTHETIC:
        return cls(request.width or 1280, request.height or 720, request.fps or Fraction(30))
    if kind == SourceKind.OPENCV:
        return cls(
            target,
            backend=request.backend or "any",
            width=request.width,
            height=request.height,
            fps=request.fps,
            fourcc=request.pixel_format or None,
            **limits,
        )
    if kind == SourceKind.AV:
        fmt, _, device = target.partition(":")
        return cls(
            device,
            device_format=fmt,
            width=request.width,
            height=request.height,
            fps=request.fps,
            pixel_format=request.pixel_format or None,
            options=options,
            **limits,
        )
    if kind == SourceKind.FILE:
        loop = options.pop("loop", "").strip().lower() in _TRUE
        paced = options.pop("paced", "true").strip().lower() in _TRUE
        return cls(target, paced=paced, loop=loop, options=options)
    return cls(target, options=options, **limits)


def source_kinds() -> list[tuple[SourceKind, bool, str]]:
    """Every kind with whether it works here and what it needs."""
    kinds = []
    for kind, (_, _, needs) in _CLASSES.items():
        try:
            available = _available(_class_of(kind))
        except Exception as error:  # a broken backend must not hide the others
            log.debug("%s unavailable: %s", kind.value, error)
            available = False
        kinds.append((kind, available, needs))
    return kinds


def discover_devices() -> list[DeviceInfo]:
    """The devices every available kind finds now; a failing backend adds a note instead."""
    found: list[DeviceInfo] = []
    for kind in _CLASSES:
        try:
            cls = _class_of(kind)
            if not _available(cls):
                continue
            found.extend(getattr(cls, "discover", list)())
        except SourceError as error:
            cause = error.__cause__
            if isinstance(cause, ModuleNotFoundError) and (cause.name or "").startswith("izer"):
                continue  # that kind is not part of this installation
            found.append(_failure(kind, str(error)))
        except Exception as error:  # one broken backend must not hide the others
            found.append(_failure(kind, f"discovery failed: {error}"))
    return found


def _seconds(text: str, key: str) -> float:
    """A time limit option as seconds; ValueError naming the option when it is not one."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise ValueError(f"source option {key}={text!r} must be a number of seconds above 0")
    return value


def _available(cls: Any) -> bool:
    """``cls.is_available()``; classes without the check count as available."""
    check = getattr(cls, "is_available", None)
    return bool(check()) if callable(check) else True


def _failure(kind: SourceKind, note: str) -> DeviceInfo:
    return DeviceInfo(kind, f"{kind.value}:", f"{kind.value} (not searched)", (), note)
