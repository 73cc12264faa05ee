"""What every source of pictures shares: frames, modes, device descriptions, the interfaces.

Capture never writes DICOM (architecture: the ``capture`` room); it hands frames, pages and
sound to the engine, which composes instances.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import ClassVar

import numpy as np


class SourceError(RuntimeError):
    """A source cannot be opened or stopped working; the message says why, in plain words."""


class ProbedAvailability:
    """Availability of a source kind decided by one probe; subclasses say only how to probe.

    ``_probe()`` returns when the kind is usable here and raises :class:`SourceError` saying
    what is missing (what to install, what to connect) when it is not. Put this class before
    :class:`PageSource` or :class:`VideoSource` among the bases so it supplies ``is_available``.
    """

    @classmethod
    def _probe(cls) -> None:
        """Return when usable; raise SourceError naming what is missing otherwise."""
        raise NotImplementedError(f"{cls.__name__} must define _probe()")

    @classmethod
    def unavailable_reason(cls) -> str:
        """Why this kind cannot be used here, or ``""`` when it can."""
        try:
            cls._probe()
        except SourceError as exc:
            return str(exc)
        return ""

    @classmethod
    def is_available(cls) -> bool:
        """Whether the probe passes: the libraries and devices this kind needs are here."""
        return not cls.unavailable_reason()


class SourceKind(enum.StrEnum):
    """The families of sources; the prefix of a source spec (``opencv:0``, ``file:clip.mp4``)."""

    SYNTHETIC = "synthetic"
    OPENCV = "opencv"
    AV = "av"
    FILE = "file"
    STREAM = "stream"
    SANE = "sane"
    TWAIN = "twain"
    FOLDER = "folder"
    AUDIO = "audio"


@dataclass(frozen=True, slots=True)
class VideoMode:
    """A picture format a device offers, or the one it actually delivers once opened.

    ``pixel_format`` is the FOURCC or FFmpeg pixel format name (``MJPG``, ``YUYV``,
    ``yuv420p``); empty when the device does not say.
    """

    width: int
    height: int
    fps: Fraction
    pixel_format: str = ""

    def __str__(self) -> str:
        rate = f"{float(self.fps):g}"
        fmt = f" {self.pixel_format}" if self.pixel_format else ""
        return f"{self.width}x{self.height}@{rate}{fmt}"


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """One device a source kind found; ``spec`` is what to pass to ``--source``."""

    kind: SourceKind
    spec: str
    label: str
    modes: tuple[VideoMode, ...] = ()
    note: str = ""


@dataclass(frozen=True, slots=True)
class Frame:
    """One picture from a live or played-back source.

    Parameters
    ----------
    pixels
        ``(rows, columns, 3)`` uint8 RGB, or ``(rows, columns)`` grayscale (uint8, or uint16
        holding ``bits_stored`` significant bits).
    number
        The source's own sequence number, from 0; a jump means frames were missed.
    captured_ns
        ``time.monotonic_ns()`` when the capture thread received it.
    pts_s
        The device's or stream's time stamp in seconds, when it gives one.
    """

    pixels: np.ndarray
    number: int
    captured_ns: int
    pts_s: float | None = None
    bits_stored: int = 8


@dataclass(frozen=True)
class SourceRequest:
    """What the user asked of a video source; each field ``None`` means "the device's default"."""

    width: int | None = None
    height: int | None = None
    fps: Fraction | None = None
    pixel_format: str | None = None
    backend: str | None = None
    options: dict[str, str] = field(default_factory=dict)


class _SourceKindClass(ABC):
    """What every kind of source says about itself before one is opened."""

    kind: ClassVar[SourceKind]

    @classmethod
    @abstractmethod
    def is_available(cls) -> bool:
        """Whether the libraries this kind needs are installed and usable here."""

    @classmethod
    def discover(cls) -> list[DeviceInfo]:
        """The devices of this kind present now (none for kinds that are not devices)."""
        return []


class VideoSource(_SourceKindClass):
    """A camera, grabber, stream, file or pattern that delivers :class:`Frame` objects.

    Used by exactly one capture thread: ``open()``, then ``read()`` until it returns ``None``
    (the source ended, for files and streams), then ``close()``. ``read()`` blocks until the
    next frame; live sources pace themselves at their frame rate.
    """

    @property
    @abstractmethod
    def spec(self) -> str:
        """The ``--source`` text that opens this source again."""

    @property
    def is_live(self) -> bool:
        """True when frames come in real time whether or not they are read (cameras, streams)."""
        return True

    @abstractmethod
    def open(self) -> VideoMode:
        """Start delivering; return the mode actually obtained.

        Raises
        ------
        SourceError
            When the device or stream cannot be opened (the message says why).
        """

    @abstractmethod
    def read(self) -> Frame | None:
        """The next frame, blocking; ``None`` when the source has ended."""

    @abstractmethod
    def close(self) -> None:
        """Release the device; safe to call twice."""

    def __enter__(self) -> VideoMode:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True, slots=True)
class ScannedPage:
    """One page or film from a scanner or a watched folder.

    ``pixels`` as in :class:`Frame` (grayscale kept at full depth: 12- and 16-bit scans stay
    uint16 with ``bits_stored`` set). ``dpi`` is the scan resolution when known; ``origin``
    the file a watched folder picked it up from.
    """

    pixels: np.ndarray
    number: int
    bits_stored: int = 8
    dpi: float | None = None
    origin: Path | None = None


class PageSource(_SourceKindClass):
    """A flatbed, document feeder or film digitizer: a batch of pages, one after another."""

    @abstractmethod
    def pages(self) -> Iterator[ScannedPage]:
        """Scan until the batch is done (feeder empty, folder closed); raises SourceError."""
