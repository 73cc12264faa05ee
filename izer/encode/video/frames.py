"""Decode a clip into frames for the IODs that store every frame as an image.

Multi-frame True Color SC (PS3.3 A.8.5), US Multi-frame (A.7) and XA/XRF (A.14, A.16) hold
their frames one by one (native, RLE or JPEG per frame), all in memory when built, so the
number of frames is bounded by the caller. Decoding is streamed with PyAV: only the frames
kept are held.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Generator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

#: Starts later than this (seconds) seek before decoding; earlier ones decode from the start.
SEEK_AFTER_S = 10.0
#: How far before the start to seek, so the key frame before it is found.
SEEK_MARGIN_S = 2.0
_EPSILON_S = 1e-6


class TooManyFramesError(ValueError):
    """The section of the clip holds more frames than the caller allows."""


def read_frames(
    path: Path,
    *,
    start_s: float | None = None,
    end_s: float | None = None,
    max_frames: int,
    step: int = 1,
    gray: bool = False,
) -> tuple[np.ndarray, Fraction]:
    """Decode the frames of ``path`` from ``start_s`` to ``end_s``, every ``step``-th one.

    Parameters
    ----------
    path
        Any video file PyAV (FFmpeg) reads.
    start_s, end_s
        The section to read, in seconds from the first frame; the whole clip by default.
        A frame is kept when its time is at least ``start_s`` and before ``end_s``.
    max_frames
        Most frames to return. The per-frame IODs hold every frame in memory; a longer
        section is refused as soon as the limit is passed, before anything more is decoded.
    step
        Keep one frame in ``step`` (2 halves the frame rate).
    gray
        Luma only, ``(n, rows, columns)`` uint8 (for XA/XRF, MONOCHROME2); otherwise RGB.

    Returns
    -------
    tuple[numpy.ndarray, fractions.Fraction]
        The frames, ``(n, rows, columns, 3)`` (or ``(n, rows, columns)``) uint8, and their
        frame rate in frames per second (the clip's rate divided by ``step``): the Frame Time
        is ``1000 / rate`` ms (:func:`izer.encode.video.iods.frame_time_ms`).

    Raises
    ------
    TooManyFramesError
        When the section holds more than ``max_frames`` frames; the message says how to fit.
    ValueError
        For a file without video, an empty section or wrong arguments.
    """
    if max_frames < 1:
        raise ValueError(f"max_frames must be at least 1, got {max_frames}")
    if step < 1:
        raise ValueError(f"step must be at least 1, got {step}")
    start = 0.0 if start_s is None else float(start_s)
    end = math.inf if end_s is None else float(end_s)
    if start < 0 or end <= start:
        raise ValueError(
            f"the section must start at 0 s or later and end after it starts; got start_s="
            f"{start_s}, end_s={end_s}"
        )
    fmt = "gray" if gray else "rgb24"
    name = Path(path).name
    rate = Fraction(0)
    kept: list[np.ndarray] = []
    index = 0
    with contextlib.closing(_timed_frames(Path(path), start)) as frames:
        for moment, frame, rate in frames:
            if moment < start - _EPSILON_S:
                continue
            if moment >= end - _EPSILON_S:
                break
            if index % step == 0:
                if len(kept) == max_frames:
                    section = f"from {start:g} s" + ("" if math.isinf(end) else f" to {end:g} s")
                    raise TooManyFramesError(
                        f"{name} holds more than {max_frames} frames {section} at "
                        f"{float(rate):.5g} frames/s (one in {step} kept); these IODs keep every "
                        "frame in memory: choose a shorter section (start_s, end_s), keep fewer "
                        "frames (step), or store the clip as a video instance"
                    )
                kept.append(frame.to_ndarray(format=fmt))
            index += 1
    if not kept:
        raise ValueError(
            f"{Path(path).name} has no frame between {start:g} s and "
            f"{'the end' if math.isinf(end) else f'{end:g} s'}"
        )
    return np.stack(kept), rate / step


def _frame_rate(stream: av.video.stream.VideoStream) -> Fraction:
    """The stream's nominal frame rate, exact (30000/1001 stays so)."""
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate:
            return Fraction(rate.numerator, rate.denominator)
    raise ValueError("the video stream has no frame rate; give the frame time explicitly")


def _timed_frames(
    path: Path, start: float
) -> Generator[tuple[float, av.VideoFrame, Fraction], None, None]:
    """Decoded frames with their time from the first frame, from near ``start`` s.

    Far starts seek first; when the demuxer lands after ``start`` (MPEG program streams seek
    by byte position), decoding restarts from the beginning, so no frame is missed.
    """
    if start > SEEK_AFTER_S:
        frames = _decode(path, seek_s=start - SEEK_MARGIN_S)
        first = next(frames, None)
        if first is not None and first[0] <= start + _EPSILON_S:
            yield first
            yield from frames
            return
        frames.close()
    yield from _decode(path, seek_s=None)


def _decode(
    path: Path, seek_s: float | None
) -> Generator[tuple[float, av.VideoFrame, Fraction], None, None]:
    try:
        container = av.open(str(path))
    except av.FFmpegError as exc:
        raise ValueError(f"cannot read {path.name} as video: {exc}") from exc
    with container:
        if not container.streams.video:
            raise ValueError(f"{path.name} has no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        rate = _frame_rate(stream)
        base = stream.time_base
        origin = None if stream.start_time is None else float(stream.start_time * base)
        if seek_s is not None and origin is not None and seek_s > 0:
            container.seek(stream.start_time + int(seek_s / base), stream=stream, backward=True)
        for frame in container.decode(stream):
            if frame.pts is None:
                continue
            if origin is None:
                origin = float(frame.pts * base)
            yield float(frame.pts * base) - origin, frame, rate
