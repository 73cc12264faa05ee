"""The capture thread: one per source; it grabs, keeps the newest frame and hands frames on.

Architecture ("Threads and time"): the capture thread only grabs (``source.read()``), keeps the
source's time stamp (:attr:`Frame.captured_ns`) and hands off. The preview takes only the newest
frame (:meth:`CaptureChannel.latest`, :meth:`CaptureChannel.wait_next`) and may skip; sinks such
as ``Recorder.submit`` get every frame and must never block. Frames the source skipped (its
numbers jump) are counted and reported as :class:`CaptureEvent` ``FRAMES_MISSED``.

A still is taken with :func:`frame_on_screen`: the frame the preview showed when the trigger
fired (the ±1 frame capture accuracy target), found in a small ring of recent frames.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from izer.capture.base import Frame, SourceError, VideoMode, VideoSource

log = logging.getLogger(__name__)

#: Channel names the engine uses: each channel becomes its own series.
MAIN = "main"
SECOND = "second"

#: Recent frames kept for :func:`frame_on_screen` (8 frames: 133 ms at 60 fps, 267 ms at 30).
DEFAULT_RING_FRAMES = 8

#: Frame times used for the measured frame rate.
_RATE_WINDOW = 32

Sink = Callable[[Frame], None]


class CaptureEventKind(enum.Enum):
    """What happened on a capture channel."""

    STARTED = "started"
    FRAMES_MISSED = "frames_missed"
    ENDED = "ended"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class CaptureEvent:
    """One thing that happened on a channel, delivered to ``on_event`` on the capture thread.

    Parameters
    ----------
    kind
        What happened.
    channel
        The channel's name (``"main"``, ``"second"``).
    count
        ``FRAMES_MISSED``: how many source frame numbers were skipped.
    after
        ``FRAMES_MISSED``: the last frame number received before the gap.
    message
        Plain words for the operator, only when there is something to tell (frames skipped,
        the source ended by itself or failed); empty for ``STARTED`` and a requested stop.
    """

    kind: CaptureEventKind
    channel: str
    count: int = 0
    after: int | None = None
    message: str = ""

    @property
    def is_failure(self) -> bool:
        """Whether the channel failed (the operator should be told as an error)."""
        return self.kind is CaptureEventKind.FAILED


@dataclass(frozen=True, slots=True)
class ChannelStats:
    """A snapshot of a channel's counters.

    ``frames`` were received, ``missed`` source frame numbers were skipped, ``fps_measured`` is
    the delivery rate over the last frames (from their time stamps; 0 until two frames came).
    ``ended`` is True once the capture thread has finished (source ended, stopped or failed);
    ``error`` says why when it failed. ``sink_errors`` counts exceptions raised by sinks.
    """

    name: str
    frames: int = 0
    missed: int = 0
    fps_measured: float = 0.0
    ended: bool = False
    error: str | None = None
    sink_errors: int = 0
    last_number: int | None = None


class CaptureChannel:
    """One source and its capture thread.

    Parameters
    ----------
    source
        The video source; the capture thread owns it (opens, reads and closes it).
    name
        The channel's name, carried by its events and stats.
    on_event
        Called on the capture thread for every :class:`CaptureEvent`; must return quickly
        (the engine re-emits events as signals). Exceptions it raises are logged and ignored.
    ring_frames
        How many recent frames to keep for :meth:`frame_at` (bounded memory).
    """

    def __init__(
        self,
        source: VideoSource,
        *,
        name: str = MAIN,
        on_event: Callable[[CaptureEvent], None] | None = None,
        ring_frames: int = DEFAULT_RING_FRAMES,
    ) -> None:
        if not name:
            raise ValueError("a capture channel needs a name, such as 'main' or 'second'")
        if ring_frames < 2:
            raise ValueError(f"ring_frames must be at least 2, not {ring_frames}")
        self.source = source
        self.name = name
        self._on_event = on_event
        self._ring_frames = ring_frames
        self._cond = threading.Condition()
        self._sinks: tuple[Sink, ...] = ()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._reset()

    def _reset(self) -> None:
        self._latest: Frame | None = None
        self._ring: deque[Frame] = deque(maxlen=self._ring_frames)
        self._times: deque[int] = deque(maxlen=_RATE_WINDOW)
        self._frames = 0
        self._missed = 0
        self._sink_errors = 0
        self._last_number: int | None = None
        self._finished = False
        self._error: str | None = None
        self._mode: VideoMode | None = None

    # -- life cycle ------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Whether the capture thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def mode(self) -> VideoMode | None:
        """The mode the source delivers, once started."""
        return self._mode

    def start(self) -> VideoMode:
        """Open the source on a new capture thread and start grabbing.

        Returns
        -------
        VideoMode
            The mode the source actually delivers.

        Raises
        ------
        SourceError
            When the source cannot be opened (a ``FAILED`` event is emitted too).
        RuntimeError
            When the channel is already running.
        """
        if self.running:
            raise RuntimeError(f"capture channel {self.name!r} is already running")
        with self._cond:
            self._reset()
        self._stop.clear()
        opened = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(opened,), name=f"izer-capture-{self.name}", daemon=True
        )
        self._thread.start()
        opened.wait()
        if self._mode is None:
            self._thread.join()
            raise SourceError(self._error or f"the {self.name} source did not start")
        return self._mode

    def request_stop(self) -> None:
        """Ask the capture thread to finish after its current frame, without waiting."""
        self._stop.set()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Ask the capture thread to finish and wait for it (up to ``timeout_s``).

        The thread closes the source itself once its current ``read()`` returns; a source stuck
        in ``read()`` longer than ``timeout_s`` is left to finish in the background (logged).
        Safe to call twice, and from a sink or event callback (then it does not wait).
        """
        self._stop.set()
        thread = self._thread
        if thread is None or thread is threading.current_thread():
            return
        thread.join(timeout_s)
        if thread.is_alive():
            log.warning(
                "the %s source did not return a frame within %.1f s of stop; it will be closed "
                "when it does",
                self.name,
                timeout_s,
            )

    def __enter__(self) -> CaptureChannel:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- preview and stills ----------------------------------------------------------------

    def latest(self) -> Frame | None:
        """The newest frame (what the preview shows now); ``None`` before the first frame."""
        return self._latest

    def wait_next(self, after: int | None, timeout_s: float) -> Frame | None:
        """Wait for a frame newer than frame number ``after`` and return the newest one.

        ``after=None`` accepts any frame (the newest at once, if there is one). Returns ``None``
        on timeout or when the channel has ended without a newer frame. Frames in between are
        skipped, as the preview should.
        """

        def ready() -> bool:
            frame = self._latest
            fresh = frame is not None and (after is None or frame.number > after)
            return fresh or self._finished

        with self._cond:
            self._cond.wait_for(ready, timeout_s)
            frame = self._latest
        if frame is not None and (after is None or frame.number > after):
            return frame
        return None

    def frame_at(self, trigger_ns: int) -> Frame:
        """The frame that was newest at ``trigger_ns`` (``time.monotonic_ns()`` clock).

        That is the recent frame whose ``captured_ns`` is the latest at or before the trigger,
        even when newer frames arrived since. When the trigger is older than every frame kept,
        the oldest one kept is returned (and a warning logged).

        Raises
        ------
        SourceError
            When the channel has no frame yet.
        """
        with self._cond:
            recent = tuple(self._ring)
        if not recent:
            raise SourceError(
                f"there is no picture from the {self.name} source yet; is it connected and started?"
            )
        for frame in reversed(recent):
            if frame.captured_ns <= trigger_ns:
                return frame
        oldest = recent[0]
        log.warning(
            "a %s still was asked %.0f ms after its trigger, longer than the %d frames kept; "
            "taking the oldest kept frame, %.0f ms after the trigger",
            self.name,
            (time.monotonic_ns() - trigger_ns) / 1e6,
            len(recent),
            (oldest.captured_ns - trigger_ns) / 1e6,
        )
        return oldest

    # -- sinks -----------------------------------------------------------------------------

    def add_sink(self, sink: Sink) -> None:
        """Hand every following frame to ``sink`` on the capture thread (it must not block)."""
        with self._cond:
            self._sinks = (*self._sinks, sink)

    def remove_sink(self, sink: Sink) -> None:
        """Stop handing frames to ``sink``; frames already being handed over may still reach it.

        Raises
        ------
        ValueError
            When ``sink`` was not added.
        """
        with self._cond:
            sinks = list(self._sinks)
            sinks.remove(sink)
            self._sinks = tuple(sinks)

    # -- counters --------------------------------------------------------------------------

    @property
    def stats(self) -> ChannelStats:
        """A snapshot of the counters."""
        with self._cond:
            times = tuple(self._times)
            fps = 0.0
            if len(times) >= 2 and times[-1] > times[0]:
                fps = (len(times) - 1) * 1e9 / (times[-1] - times[0])
            return ChannelStats(
                name=self.name,
                frames=self._frames,
                missed=self._missed,
                fps_measured=fps,
                ended=self._finished,
                error=self._error,
                sink_errors=self._sink_errors,
                last_number=self._last_number,
            )

    # -- the capture thread ----------------------------------------------------------------

    def _run(self, opened: threading.Event) -> None:
        try:
            mode = self.source.open()
        except Exception as exc:
            self._finish(_describe(exc, f"the {self.name} source could not be opened"))
            opened.set()
            return
        self._mode = mode
        opened.set()
        self._emit(CaptureEvent(CaptureEventKind.STARTED, self.name))
        error: str | None = None
        reason = ""
        try:
            while not self._stop.is_set():
                frame = self.source.read()
                if frame is None:
                    reason = f"the {self.name} source ended"
                    break
                self._hand_off(frame)
        except Exception as exc:
            log.debug("capture thread %s: read failed", self.name, exc_info=True)
            error = _describe(exc, f"the {self.name} source stopped working")
        finally:
            try:
                self.source.close()
            except Exception:
                log.warning("closing the %s source failed", self.name, exc_info=True)
        self._finish(error, reason)

    def _finish(self, error: str | None, reason: str = "") -> None:
        with self._cond:
            self._finished = True
            self._error = error
            self._cond.notify_all()
        if error is None:
            self._emit(CaptureEvent(CaptureEventKind.ENDED, self.name, message=reason))
        else:
            log.error("capture %s: %s", self.name, error)
            self._emit(CaptureEvent(CaptureEventKind.FAILED, self.name, message=error))

    def _hand_off(self, frame: Frame) -> None:
        gap = 0
        previous = self._last_number
        if previous is not None and frame.number > previous + 1:
            gap = frame.number - previous - 1
        with self._cond:
            self._latest = frame
            self._ring.append(frame)
            self._times.append(frame.captured_ns)
            self._frames += 1
            self._missed += gap
            self._last_number = frame.number
            self._cond.notify_all()
        if gap:
            frames = "frame" if gap == 1 else "frames"
            message = f"the {self.name} source skipped {gap} {frames} after frame {previous}"
            self._emit(
                CaptureEvent(
                    CaptureEventKind.FRAMES_MISSED, self.name, gap, after=previous, message=message
                )
            )
        for sink in self._sinks:
            try:
                sink(frame)
            except Exception:
                with self._cond:
                    self._sink_errors += 1
                log.exception("a %s frame sink failed on frame %d", self.name, frame.number)

    def _emit(self, event: CaptureEvent) -> None:
        if self._on_event is None:
            return
        try:
            self._on_event(event)
        except Exception:
            log.exception("the capture event handler failed on %s", event)


def _describe(exc: BaseException, context: str) -> str:
    if isinstance(exc, SourceError):
        return str(exc) or context
    return f"{context}: {type(exc).__name__}: {exc}"


def frame_on_screen(channel: CaptureChannel, trigger_ns: int) -> Frame:
    """The frame the preview showed when a still trigger fired (the ±1 frame target).

    ``trigger_ns`` is ``time.monotonic_ns()`` taken when the key, pedal or serial line fired;
    frames that arrived between the trigger and this call are passed over. See
    :meth:`CaptureChannel.frame_at`.
    """
    return channel.frame_at(trigger_ns)


class CapturePipeline:
    """Named capture channels running at once (``"main"``, ``"second"``), each its own series.

    Parameters
    ----------
    on_event
        Passed to every channel; events carry the channel name.
    """

    def __init__(self, on_event: Callable[[CaptureEvent], None] | None = None) -> None:
        self._on_event = on_event
        self._channels: dict[str, CaptureChannel] = {}
        self._lock = threading.Lock()

    def add(
        self,
        source: VideoSource,
        name: str = MAIN,
        *,
        ring_frames: int = DEFAULT_RING_FRAMES,
    ) -> CaptureChannel:
        """Add a channel for ``source`` (not started yet).

        Raises
        ------
        ValueError
            When a channel of that name exists.
        """
        with self._lock:
            if name in self._channels:
                raise ValueError(
                    f"there is already a capture channel named {name!r}; remove it first"
                )
            channel = CaptureChannel(
                source, name=name, on_event=self._on_event, ring_frames=ring_frames
            )
            self._channels[name] = channel
            return channel

    def remove(self, name: str) -> None:
        """Stop and forget channel ``name``."""
        with self._lock:
            channel = self._channels.pop(name, None)
        if channel is None:
            raise KeyError(self._unknown(name))
        channel.stop()

    def __getitem__(self, name: str) -> CaptureChannel:
        try:
            return self._channels[name]
        except KeyError:
            raise KeyError(self._unknown(name)) from None

    def get(self, name: str) -> CaptureChannel | None:
        """Channel ``name``, or ``None``."""
        return self._channels.get(name)

    def __iter__(self) -> Iterator[CaptureChannel]:
        with self._lock:
            return iter(tuple(self._channels.values()))

    def __len__(self) -> int:
        return len(self._channels)

    @property
    def names(self) -> tuple[str, ...]:
        """The channel names, in the order they were added."""
        with self._lock:
            return tuple(self._channels)

    def start(self) -> dict[str, VideoMode]:
        """Start every channel not running yet; all or none.

        Raises
        ------
        SourceError
            When a source cannot be opened; the channels started by this call are stopped
            again and the message names the channel.
        """
        started: list[CaptureChannel] = []
        modes: dict[str, VideoMode] = {}
        for channel in self:
            mode = channel.mode
            if channel.running and mode is not None:
                modes[channel.name] = mode
                continue
            try:
                modes[channel.name] = channel.start()
            except SourceError as exc:
                for other in started:
                    other.stop()
                raise SourceError(f"{channel.name} source: {exc}") from exc
            started.append(channel)
        return modes

    def stop(self) -> None:
        """Stop every channel (all asked first, then waited for)."""
        channels = tuple(self)
        for channel in channels:
            channel.request_stop()
        for channel in channels:
            channel.stop()

    def stats(self) -> dict[str, ChannelStats]:
        """Each channel's counters, by name."""
        return {channel.name: channel.stats for channel in self}

    def __enter__(self) -> CapturePipeline:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _unknown(self, name: str) -> str:
        known = ", ".join(self.names) or "none"
        return f"no capture channel named {name!r} (channels: {known})"
