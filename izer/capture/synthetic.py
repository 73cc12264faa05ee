"""A deterministic test source: moving colour bars with the frame number and time drawn in.

The demo and the tests use it instead of a camera. Frame ``n`` is always the same image for
the same size and rate, so a test can tell which frame was captured: the number is drawn as
text for people and as a row of black and white blocks along the top edge for programs
(:func:`read_frame_number`), coarse enough to survive lossy video compression.
"""

from __future__ import annotations

import time
from fractions import Fraction

import cv2
import numpy as np

from izer.capture.base import Frame, SourceKind, VideoMode, VideoSource

#: Bits of the frame number drawn along the top edge (2^24 frames: 6 days at 30 fps).
COUNTER_BITS = 24


def _block_size(width: int, height: int) -> tuple[int, int]:
    """Width and height of one counter block: the row spans the frame width."""
    return width // (COUNTER_BITS + 2), max(8, height // 30)


def read_frame_number(pixels: np.ndarray) -> int:
    """The frame number a :class:`SyntheticSource` frame carries (after any lossy coding).

    ``pixels`` is the decoded ``(rows, columns, 3)`` RGB (or grayscale) image.
    """
    luma = pixels if pixels.ndim == 2 else pixels.mean(axis=2)
    rows, columns = luma.shape
    block_w, block_h = _block_size(columns, rows)
    number = 0
    for bit in range(COUNTER_BITS):
        x0 = (bit + 1) * block_w
        centre = luma[block_h // 4 : 3 * block_h // 4, x0 + block_w // 4 : x0 + 3 * block_w // 4]
        number = (number << 1) | int(float(centre.mean()) > 127)
    return number


class SyntheticSource(VideoSource):
    """Renders frames on demand (:meth:`frame`) or live, paced in real time (:meth:`read`).

    Parameters
    ----------
    width, height
        Frame size in pixels.
    fps
        Frame rate; sets the time stamp drawn into each frame and the pace of :meth:`read`.
    paced
        ``False`` delivers frames as fast as they are read (benchmarks, unit tests).
    """

    kind = SourceKind.SYNTHETIC

    _BARS = np.array(
        [
            [192, 192, 192],
            [192, 192, 0],
            [0, 192, 192],
            [0, 192, 0],
            [192, 0, 192],
            [192, 0, 0],
            [0, 0, 192],
        ],
        dtype=np.uint8,
    )

    def __init__(
        self,
        width: int = 640,
        height: int = 480,
        fps: float | Fraction = 30.0,
        *,
        paced: bool = True,
    ) -> None:
        if width < 64 or height < 48 or fps <= 0:
            raise ValueError("a synthetic source needs at least 64x48 pixels and fps > 0")
        if width % 2 or height % 2:
            raise ValueError(
                f"a synthetic source needs an even width and height, not {width}x{height}"
            )
        self.width, self.height = width, height
        self.fps = Fraction(fps).limit_denominator(1001)
        self.paced = paced
        self._started_ns: int | None = None
        self._next = 0

    @classmethod
    def is_available(cls) -> bool:
        return True

    @property
    def spec(self) -> str:
        return SourceKind.SYNTHETIC.value

    @property
    def is_live(self) -> bool:
        return self.paced

    def open(self) -> VideoMode:
        self._started_ns = time.monotonic_ns()
        self._next = 0
        return VideoMode(self.width, self.height, self.fps, "rgb24")

    def read(self) -> Frame | None:
        """The next frame; when paced, the one due now (late readers see numbers skip)."""
        if self._started_ns is None:
            self.open()
        assert self._started_ns is not None
        number = self._next
        if self.paced:
            elapsed = time.monotonic_ns() - self._started_ns
            due_number = int(elapsed * self.fps / 1_000_000_000)
            number = max(number, due_number)
            due_ns = self._started_ns + int(number * 1_000_000_000 / self.fps)
            wait = due_ns - time.monotonic_ns()
            if wait > 0:
                time.sleep(wait / 1e9)
        self._next = number + 1
        pixels = self.frame(number)
        if number == 0 and self.paced:
            self._started_ns = time.monotonic_ns()  # the clock starts once frame 0 exists
        return Frame(pixels, number, time.monotonic_ns(), pts_s=float(number / self.fps))

    def close(self) -> None:
        self._started_ns = None

    def frame(self, index: int) -> np.ndarray:
        """Frame ``index`` as a ``(height, width, 3)`` uint8 RGB array."""
        columns = (np.arange(self.width) + 4 * index) % self.width
        bar_of_column = columns * len(self._BARS) // self.width
        image = np.ascontiguousarray(
            np.broadcast_to(self._BARS[bar_of_column], (self.height, self.width, 3))
        )
        self._draw_counter(image, index)
        seconds = float(index / self.fps)
        label = f"#{index:06d} {int(seconds // 60):02d}:{seconds % 60:06.3f}"
        scale = self.height / 480
        origin = (int(16 * scale), int(self.height - 24 * scale))
        for colour, thickness in (((0, 0, 0), 6), ((255, 255, 255), 2)):
            cv2.putText(
                image,
                label,
                origin,
                cv2.FONT_HERSHEY_SIMPLEX,
                1.2 * scale,
                colour,
                max(1, int(thickness * scale)),
                cv2.LINE_AA,
            )
        return image

    def _draw_counter(self, image: np.ndarray, index: int) -> None:
        block_w, block_h = _block_size(self.width, self.height)
        image[:block_h, :] = 0
        for bit in range(COUNTER_BITS):
            if (index >> (COUNTER_BITS - 1 - bit)) & 1:
                x0 = (bit + 1) * block_w
                image[:block_h, x0 : x0 + block_w] = 255
