"""The capture thread: hand-off, missed frames, failures, sinks, preview waits, stills, channels."""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from collections.abc import Callable, Iterator
from fractions import Fraction

import numpy as np
import pytest

from izer.capture.base import Frame, SourceError, SourceKind, VideoMode, VideoSource
from izer.capture.pipeline import (
    CaptureChannel,
    CaptureEvent,
    CaptureEventKind,
    CapturePipeline,
    frame_on_screen,
)
from izer.capture.synthetic import SyntheticSource, read_frame_number

BASE_NS = 1_000_000_000
STEP_NS = 20_000_000  # 50 frames per second


class QueueSource(VideoSource):
    """Delivers exactly what the test pushes: frames, an exception to raise, or None (end)."""

    kind = SourceKind.SYNTHETIC

    def __init__(self, open_error: Exception | None = None) -> None:
        self.items: queue.Queue[Frame | BaseException | None] = queue.Queue()
        self.open_error = open_error
        self.closed = 0

    @classmethod
    def is_available(cls) -> bool:
        return True

    @property
    def spec(self) -> str:
        return "queue"

    def open(self) -> VideoMode:
        if self.open_error is not None:
            raise self.open_error
        return VideoMode(4, 2, Fraction(50), "rgb24")

    def read(self) -> Frame | None:
        item = self.items.get(timeout=30)
        if isinstance(item, BaseException):
            raise item
        return item

    def close(self) -> None:
        self.closed += 1

    def push(self, *numbers: int) -> None:
        for number in numbers:
            pixels = np.full((2, 4, 3), number % 256, dtype=np.uint8)
            self.items.put(Frame(pixels, number, BASE_NS + number * STEP_NS))

    def end(self) -> None:
        self.items.put(None)


class ClosingSynthetic(SyntheticSource):
    """A paced synthetic source that counts close() calls."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.closed = 0

    def close(self) -> None:
        self.closed += 1
        super().close()


class Events:
    """Collects capture events; lets a test wait for one kind."""

    def __init__(self) -> None:
        self.items: list[CaptureEvent] = []
        self._cond = threading.Condition()

    def __call__(self, event: CaptureEvent) -> None:
        with self._cond:
            self.items.append(event)
            self._cond.notify_all()

    def wait_for(self, kind: CaptureEventKind, channel: str = "main") -> CaptureEvent:
        def found() -> CaptureEvent | None:
            return next((e for e in self.items if e.kind is kind and e.channel == channel), None)

        with self._cond:
            assert self._cond.wait_for(lambda: found() is not None, 30), f"no {kind} event"
            event = found()
        assert event is not None
        return event

    def kinds(self, channel: str = "main") -> list[CaptureEventKind]:
        with self._cond:
            return [e.kind for e in self.items if e.channel == channel]


def wait_until(predicate: Callable[[], bool], timeout_s: float = 30) -> None:
    """Wait (bounded) for a condition another thread makes true."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.002)


@pytest.fixture(autouse=True)
def no_thread_exceptions(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fail the test when any thread dies of an unhandled exception."""
    seen: list[threading.ExceptHookArgs] = []
    monkeypatch.setattr(threading, "excepthook", seen.append)
    yield
    assert not seen, f"unhandled thread exception: {seen[0].exc_value!r}"


@pytest.fixture
def events() -> Events:
    return Events()


def test_every_frame_reaches_the_preview_slot_and_the_sinks(events: Events) -> None:
    source = QueueSource()
    received: list[int] = []
    channel = CaptureChannel(source, on_event=events)
    channel.add_sink(lambda frame: received.append(frame.number))

    assert channel.start() == VideoMode(4, 2, Fraction(50), "rgb24")
    source.push(*range(10))
    source.end()
    ended = events.wait_for(CaptureEventKind.ENDED)

    assert received == list(range(10))
    latest = channel.latest()
    assert latest is not None and latest.number == 9
    assert latest.captured_ns == BASE_NS + 9 * STEP_NS  # the source's stamp is kept
    stats = channel.stats
    assert (stats.frames, stats.missed, stats.ended, stats.error) == (10, 0, True, None)
    assert stats.fps_measured == pytest.approx(50.0)
    assert events.kinds() == [CaptureEventKind.STARTED, CaptureEventKind.ENDED]
    assert ended.message == "the main source ended"
    assert not ended.is_failure
    assert source.closed == 1
    assert not channel.running


def test_skipped_source_numbers_are_counted_and_reported(events: Events) -> None:
    source = QueueSource()
    channel = CaptureChannel(source, on_event=events)
    channel.start()
    source.push(0, 1, 2, 5, 6, 10)
    source.end()
    events.wait_for(CaptureEventKind.ENDED)

    missed = [e for e in events.items if e.kind is CaptureEventKind.FRAMES_MISSED]
    assert [(e.count, e.after) for e in missed] == [(2, 2), (3, 6)]
    assert missed[0].message == "the main source skipped 2 frames after frame 2"
    assert not any(e.is_failure for e in events.items)
    assert channel.stats.missed == 5
    assert channel.stats.frames == 6
    assert channel.stats.last_number == 10


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (SourceError("camera signal lost"), "camera signal lost"),
        (RuntimeError("driver crashed"), "RuntimeError: driver crashed"),
    ],
)
def test_a_failing_source_ends_the_thread_cleanly(
    events: Events, error: Exception, expected: str
) -> None:
    source = QueueSource()
    channel = CaptureChannel(source, name="second", on_event=events)
    channel.start()
    source.push(0, 1)
    source.items.put(error)

    failed = events.wait_for(CaptureEventKind.FAILED, "second")
    assert failed.is_failure
    assert expected in failed.message
    wait_until(lambda: not channel.running)
    stats = channel.stats
    assert stats.ended and stats.error is not None and expected in stats.error
    assert stats.frames == 2
    assert source.closed == 1
    assert CaptureEventKind.ENDED not in events.kinds("second")
    # an ended channel does not make the preview wait
    assert channel.wait_next(1, 30) is None


def test_a_source_that_cannot_open_raises_and_reports(events: Events) -> None:
    source = QueueSource(open_error=SourceError("no such device: /dev/video9"))
    channel = CaptureChannel(source, on_event=events)
    with pytest.raises(SourceError, match="/dev/video9"):
        channel.start()
    assert events.kinds() == [CaptureEventKind.FAILED]
    assert channel.stats.ended
    assert channel.stats.error == "no such device: /dev/video9"
    assert not channel.running


def test_a_failing_sink_or_event_handler_does_not_stop_capture() -> None:
    source = QueueSource()

    def bad_handler(event: CaptureEvent) -> None:
        raise RuntimeError("handler bug")

    def bad_sink(frame: Frame) -> None:
        raise ValueError("sink bug")

    good: list[int] = []
    channel = CaptureChannel(source, on_event=bad_handler)
    channel.add_sink(bad_sink)
    channel.add_sink(lambda frame: good.append(frame.number))
    channel.start()
    source.push(0, 1, 2, 4)
    source.end()
    wait_until(lambda: channel.stats.ended)

    assert good == [0, 1, 2, 4]
    assert channel.stats.sink_errors == 4
    assert channel.stats.error is None


def test_sinks_can_be_added_and_removed_while_frames_flow() -> None:
    channel = CaptureChannel(SyntheticSource(64, 48, 200))
    channel.start()
    try:
        counts = [0] * 4
        errors: list[BaseException] = []

        def churn(index: int) -> None:
            def sink(frame: Frame) -> None:
                counts[index] += 1

            try:
                for _ in range(200):
                    channel.add_sink(sink)
                    channel.remove_sink(sink)
                channel.add_sink(sink)
            except BaseException as exc:  # reported below
                errors.append(exc)

        workers = [threading.Thread(target=churn, args=(i,)) for i in range(4)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        assert not errors
        # every worker's last sink stayed: all four now get the frames
        wait_until(lambda: min(counts) >= 3)

        kept = 0

        def last(frame: Frame) -> None:
            nonlocal kept
            kept += 1

        channel.add_sink(last)
        wait_until(lambda: kept >= 2)
        channel.remove_sink(last)
        after_removal = kept
        first = channel.latest()
        assert first is not None
        later = channel.wait_next(first.number + 3, 30)
        assert later is not None
        assert kept <= after_removal + 1  # at most the frame being handed over
        with pytest.raises(ValueError):
            channel.remove_sink(last)
        assert channel.stats.sink_errors == 0
    finally:
        channel.stop()


def test_wait_next_returns_a_newer_frame_or_none_on_timeout() -> None:
    source = QueueSource()
    channel = CaptureChannel(source)
    channel.start()
    assert channel.latest() is None
    assert channel.wait_next(None, 0.01) is None  # nothing yet

    source.push(0)
    first = channel.wait_next(None, 30)
    assert first is not None and first.number == 0
    assert channel.wait_next(0, 0.01) is None  # nothing newer

    source.push(1, 2, 3)
    wait_until(lambda: channel.stats.frames == 4)
    newest = channel.wait_next(0, 30)
    assert newest is not None and newest.number == 3  # the preview skips 1 and 2
    source.end()
    wait_until(lambda: channel.stats.ended)


def test_stop_closes_the_source_and_the_channel_can_start_again(events: Events) -> None:
    source = ClosingSynthetic(64, 48, 100)
    channel = CaptureChannel(source, on_event=events)
    channel.start()
    with pytest.raises(RuntimeError, match="already running"):
        channel.start()
    assert channel.wait_next(None, 30) is not None
    channel.stop()

    assert not channel.running
    assert source.closed == 1
    assert channel.stats.ended and channel.stats.error is None
    assert events.kinds()[-1] is CaptureEventKind.ENDED
    assert events.items[-1].message == ""  # a requested stop is nothing to tell
    assert events.items[0].message == ""
    channel.stop()  # twice is fine

    channel.start()
    try:
        assert not channel.stats.ended
        frame = channel.wait_next(None, 30)
        assert frame is not None
    finally:
        channel.stop()
    assert source.closed == 2
    assert events.kinds().count(CaptureEventKind.STARTED) == 2


def test_frame_at_picks_the_newest_frame_not_after_the_trigger(
    caplog: pytest.LogCaptureFixture,
) -> None:
    source = QueueSource()
    channel = CaptureChannel(source, ring_frames=4)
    with pytest.raises(SourceError, match="no picture"):
        channel.frame_at(BASE_NS)
    channel.start()
    source.push(*range(6))  # frames 2..5 stay in the ring
    wait_until(lambda: channel.stats.frames == 6)

    def number_at(trigger_ns: int) -> int:
        return channel.frame_at(trigger_ns).number

    assert number_at(BASE_NS + 3 * STEP_NS + STEP_NS // 2) == 3
    assert number_at(BASE_NS + 4 * STEP_NS) == 4  # a frame stamped exactly at the trigger
    assert number_at(BASE_NS + 4 * STEP_NS - 1) == 3
    assert number_at(BASE_NS + 100 * STEP_NS) == 5
    with caplog.at_level(logging.WARNING, logger="izer.capture.pipeline"):
        assert number_at(BASE_NS) == 2  # older than the ring: the oldest kept
    assert "oldest kept frame" in caplog.text

    source.push(*range(6, 100))
    wait_until(lambda: channel.stats.frames == 100)
    assert number_at(BASE_NS) == 96  # bounded: only four frames are kept
    source.end()


def test_the_still_is_the_frame_on_screen_when_the_trigger_fired() -> None:
    channel = CaptureChannel(SyntheticSource(320, 240, 30))
    channel.start()
    rng = random.Random(20240611)
    newer_arrived = 0
    try:
        assert channel.wait_next(None, 30) is not None
        for _ in range(20):
            time.sleep(rng.uniform(0.0, 0.05))
            trigger_ns = time.monotonic_ns()
            shown = channel.latest()
            assert shown is not None
            time.sleep(rng.uniform(0.0, 0.06))  # the next frame may arrive before the call
            current = channel.latest()
            assert current is not None
            newer_arrived += current.number > shown.number

            still = frame_on_screen(channel, trigger_ns)

            drawn = read_frame_number(still.pixels)
            assert drawn == still.number
            assert abs(drawn - shown.number) <= 1, (drawn, shown.number)
            assert still.captured_ns <= trigger_ns
    finally:
        channel.stop()
    assert newer_arrived > 0  # the ring, not latest(), answered at least once


def test_two_channels_run_at_once_each_with_its_own_source(events: Events) -> None:
    pipeline = CapturePipeline(on_event=events)
    pipeline.add(SyntheticSource(160, 120, 30), "main")
    pipeline.add(SyntheticSource(192, 144, 25), "second")
    with pytest.raises(ValueError, match="already a capture channel named 'main'"):
        pipeline.add(SyntheticSource(64, 48, 30), "main")
    assert pipeline.names == ("main", "second")

    with pipeline:
        modes = pipeline.start()  # already running: the same modes
        assert modes == {
            "main": VideoMode(160, 120, Fraction(30), "rgb24"),
            "second": VideoMode(192, 144, Fraction(25), "rgb24"),
        }
        main = pipeline["main"].wait_next(None, 30)
        second = pipeline["second"].wait_next(None, 30)
        assert main is not None and main.pixels.shape == (120, 160, 3)
        assert second is not None and second.pixels.shape == (144, 192, 3)
        assert set(pipeline.stats()) == {"main", "second"}
    assert all(stats.ended for stats in pipeline.stats().values())
    for name in ("main", "second"):  # a loaded machine may also see FRAMES_MISSED between
        kinds = events.kinds(name)
        assert kinds[0] is CaptureEventKind.STARTED
        assert kinds[-1] is CaptureEventKind.ENDED
        assert kinds.count(CaptureEventKind.ENDED) == 1
    with pytest.raises(KeyError, match="channels: main, second"):
        pipeline["third"]
    pipeline.remove("second")
    assert pipeline.names == ("main",)
    assert pipeline.get("second") is None


def test_the_pipeline_starts_all_channels_or_none() -> None:
    pipeline = CapturePipeline()
    main = pipeline.add(ClosingSynthetic(64, 48, 30), "main")
    pipeline.add(QueueSource(open_error=SourceError("HDMI signal lost")), "second")
    with pytest.raises(SourceError, match="second source: HDMI signal lost"):
        pipeline.start()
    assert not main.running
    assert main.stats.ended
