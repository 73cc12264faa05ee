"""A deterministic test source: moving colour bars with the frame number and time drawn in.

The demo and the tests use it instead of a camera. Frame ``n`` is always the same image for
the same size and rate, so a test can tell which frame was captured.
"""

from __future__ import annotations

import cv2
import numpy as np


class SyntheticSource:
    """Renders frames on demand.

    Parameters
    ----------
    width, height
        Frame size in pixels.
    fps
        Nominal frame rate; sets the time stamp drawn into each frame.
    """

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

    def __init__(self, width: int = 640, height: int = 480, fps: float = 30.0) -> None:
        if width < 64 or height < 48 or fps <= 0:
            raise ValueError("a synthetic source needs at least 64x48 pixels and fps > 0")
        self.width, self.height, self.fps = width, height, fps

    def frame(self, index: int) -> np.ndarray:
        """Frame ``index`` as a ``(height, width, 3)`` uint8 RGB array."""
        columns = (np.arange(self.width) + 4 * index) % self.width
        bar_of_column = columns * len(self._BARS) // self.width
        image = np.ascontiguousarray(
            np.broadcast_to(self._BARS[bar_of_column], (self.height, self.width, 3))
        )
        seconds = index / self.fps
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
