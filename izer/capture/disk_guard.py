"""Free space for recordings: checked at procedure start and watched while recording.

Slow or full storage makes a recording "stop abruptly" (users.md, endoscopist pain points); the
guard says how much recording time is left and when to stop before the disk is full. Sizes in
messages are written in GB and MB of 1024 x 1024 (x 1024) bytes, as file managers on Windows
show them, so ``min_free_mb = 2048`` reads "2.0 GB".
"""

from __future__ import annotations

import logging
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

MIB = 1024 * 1024
GIB = 1024 * MIB


def format_size(size_bytes: float) -> str:
    """``1288490188`` -> ``"1.2 GB"``; below 1 GB in MB (``"640 MB"``)."""
    if abs(size_bytes) >= GIB:
        return f"{size_bytes / GIB:.1f} GB"
    return f"{size_bytes / MIB:.0f} MB"


def _format_minutes(minutes: float) -> str:
    if minutes < 1:
        return "less than a minute"
    if minutes < 120:
        return f"about {minutes:.0f} minutes"
    return f"about {minutes / 60:.1f} hours"


def _disk_free(path: Path) -> int:
    return shutil.disk_usage(path).free


@dataclass(frozen=True, slots=True)
class DiskState:
    """Free space on the recordings disk at one moment.

    Parameters
    ----------
    folder
        The recordings folder checked.
    free_bytes
        Free bytes for this user on its file system (0 when it could not be read).
    min_free_bytes
        Below this, recording stops.
    minutes_left
        Minutes of recording until ``min_free_bytes`` at the given bit rate; ``None`` when no
        bit rate was given.
    low
        True when ``free_bytes`` is below ``min_free_bytes`` (or could not be read).
    error
        Why the free space could not be read, when it could not.
    """

    folder: Path
    free_bytes: int
    min_free_bytes: int
    minutes_left: float | None
    low: bool
    error: str | None = None

    @property
    def message(self) -> str:
        """Plain words for the operator."""
        if self.error is not None:
            return f"{self.error}; recording there is not possible"
        free = f"{format_size(self.free_bytes)} free on {self.folder}"
        if self.low:
            return f"only {free}; recording stops below {format_size(self.min_free_bytes)}"
        if self.minutes_left is None:
            return free
        return f"{free}: {_format_minutes(self.minutes_left)} of recording left"


class DiskGuard:
    """Checks the free space of the recordings folder against a minimum.

    Parameters
    ----------
    folder
        The recordings folder; it need not exist yet (its nearest existing parent is checked).
    min_free_bytes
        Recording stops below this many free bytes (setting ``min_free_mb`` x :data:`MIB`).
    free_bytes
        Returns the free bytes of a path; ``shutil.disk_usage(path).free`` by default.
    """

    def __init__(
        self,
        folder: Path | str,
        min_free_bytes: int,
        *,
        free_bytes: Callable[[Path], int] = _disk_free,
    ) -> None:
        if min_free_bytes < 0:
            raise ValueError(f"min_free_bytes cannot be negative ({min_free_bytes})")
        self.folder = Path(folder)
        self.min_free_bytes = int(min_free_bytes)
        self._free_bytes = free_bytes

    def check(self, bitrate_bps: float | None = None) -> DiskState:
        """The free space now and, given the recording's bit rate, the minutes left.

        Never raises for an unreadable disk: the state is then ``low`` with ``error`` set.
        """
        path = self._existing(self.folder)
        try:
            free = int(self._free_bytes(path))
        except OSError as exc:
            reason = exc.strerror or str(exc)
            return DiskState(
                self.folder,
                0,
                self.min_free_bytes,
                0.0 if bitrate_bps else None,
                low=True,
                error=f"cannot read the free space of {self.folder}: {reason}",
            )
        minutes: float | None = None
        if bitrate_bps is not None and bitrate_bps > 0:
            usable = max(0, free - self.min_free_bytes)
            minutes = usable * 8 / bitrate_bps / 60
        return DiskState(
            self.folder, free, self.min_free_bytes, minutes, low=free < self.min_free_bytes
        )

    def watch(
        self,
        interval_s: float,
        bitrate_fn: Callable[[], float | None],
        on_low: Callable[[DiskState], None],
        *,
        on_check: Callable[[DiskState], None] | None = None,
    ) -> DiskWatch:
        """Check every ``interval_s`` on a thread of its own until the watch is stopped.

        ``bitrate_fn`` gives the recording's current bit rate (``Recorder.status.bitrate_bps``).
        ``on_low`` is called once each time the space becomes low (the owner stops recording);
        ``on_check`` with every state (for a "time left" display). Callbacks run on the watch
        thread.
        """
        watch = DiskWatch(self, interval_s, bitrate_fn, on_low, on_check)
        watch.start()
        return watch

    @staticmethod
    def _existing(folder: Path) -> Path:
        path = folder.absolute()
        while not path.exists() and path.parent != path:
            path = path.parent
        return path


class DiskWatch:
    """A running :meth:`DiskGuard.watch`; :meth:`stop` ends it."""

    def __init__(
        self,
        guard: DiskGuard,
        interval_s: float,
        bitrate_fn: Callable[[], float | None],
        on_low: Callable[[DiskState], None],
        on_check: Callable[[DiskState], None] | None = None,
    ) -> None:
        if interval_s <= 0:
            raise ValueError(f"the disk watch interval must be positive, not {interval_s} s")
        self._guard = guard
        self._interval_s = interval_s
        self._bitrate_fn = bitrate_fn
        self._on_low = on_low
        self._on_check = on_check
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="izer-disk-guard", daemon=True)
        self.last: DiskState | None = None

    def start(self) -> None:
        """Start the watch thread (the first check is immediate)."""
        self._thread.start()

    def stop(self, timeout_s: float = 2.0) -> None:
        """Stop watching; safe to call twice and from a callback."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout_s)

    def __enter__(self) -> DiskWatch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        was_low = False
        while not self._stop.is_set():
            try:
                bitrate = self._bitrate_fn()
            except Exception:
                log.warning("the disk guard could not read the bit rate", exc_info=True)
                bitrate = None
            state = self._guard.check(bitrate)
            self.last = state
            if self._on_check is not None:
                _call(self._on_check, state)
            if state.low and not was_low:
                log.warning("%s", state.message)
                _call(self._on_low, state)
            was_low = state.low
            self._stop.wait(self._interval_s)


def _call(callback: Callable[[DiskState], None], state: DiskState) -> None:
    try:
        callback(state)
    except Exception:
        log.exception("a disk guard callback failed")
