"""A responsiveness probe: how long the GUI thread's event loop goes without a turn.

A precise timer fires every few milliseconds on the GUI thread; the gap between two ticks,
less the interval, is how long the event loop was kept from running (a stall). Anything over
about 100 ms is felt as a frozen screen. Used by the responsiveness test and ``izer bench gui``.
"""

from __future__ import annotations

import time

from PyQt6.QtCore import QObject, Qt, QTimer


class StallProbe(QObject):
    """Records event-loop stalls of the thread it lives on (the GUI thread).

    Parameters
    ----------
    interval_ms
        The probe timer's period.
    """

    def __init__(self, interval_ms: int = 5, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.interval_s = interval_ms / 1000
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._tick)
        self._last: float | None = None
        self.gaps_s: list[float] = []

    def start(self) -> None:
        """Start measuring (earlier measurements are kept)."""
        self._last = time.perf_counter()
        self._timer.start()

    def stop(self) -> None:
        """Stop measuring."""
        self._timer.stop()
        self._tick()
        self._last = None

    def _tick(self) -> None:
        now = time.perf_counter()
        if self._last is not None:
            self.gaps_s.append(max(0.0, now - self._last - self.interval_s))
        self._last = now

    @property
    def ticks(self) -> int:
        """Timer turns measured."""
        return len(self.gaps_s)

    @property
    def max_stall_ms(self) -> float:
        """The longest stall seen, in milliseconds."""
        return 1000 * max(self.gaps_s, default=0.0)

    def stalls_over(self, limit_ms: float) -> int:
        """How many stalls were longer than ``limit_ms``."""
        return sum(1 for gap in self.gaps_s if gap * 1000 > limit_ms)
