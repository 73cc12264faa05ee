"""The outbox and its dispatcher: durable jobs, order, concurrency, backoff, crash recovery.

Real SQLite files in the test folder, real threads, handlers written here. Nothing asserts how
long anything takes: tests wait on events with generous timeouts, and the backoff schedule is
checked against an injected clock.

Run as ``python -m tests.dispatch.test_outbox dispatch|enqueue ...`` this module is also the
child process of the SIGKILL tests (see :func:`_child_main`).
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from izer.dispatch.backoff import backoff_delay
from izer.dispatch.errors import DeliveryError
from izer.dispatch.outbox import (
    MIGRATIONS,
    Dispatcher,
    DispatcherBusyError,
    Job,
    JobInterrupted,
    JobKind,
    JobState,
    Outbox,
    OutboxSchemaError,
)

ROOT = Path(__file__).resolve().parents[2]
WAIT_S = 30.0  # generous: a timeout, never an expectation


class Clock:
    """A clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = datetime(2031, 3, 4, 10, 0, 0, tzinfo=UTC)
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self.now

    def set(self, moment: datetime) -> None:
        with self._lock:
            self.now = moment


def wait_for(predicate: Callable[[], bool], timeout_s: float = WAIT_S) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.005)
    return predicate()


def uid(n: int) -> str:
    return f"1.2.826.0.1.3680043.10.1452.9.{n}"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def outbox(tmp_path: Path, clock: Clock) -> Iterator[Outbox]:
    with Outbox(tmp_path / "outbox.sqlite", backoff_base_s=1, backoff_cap_s=8, clock=clock) as ob:
        yield ob


class Recorder:
    """A handler that records the jobs it was given (and may do more through ``then``)."""

    def __init__(self, then: Callable[[Job, Callable[[int, int], None]], None] | None = None):
        self.calls: list[Job] = []
        self.then = then
        self._lock = threading.Lock()

    def __call__(self, job: Job, progress: Callable[[int, int], None]) -> None:
        with self._lock:
            self.calls.append(job)
        if self.then is not None:
            self.then(job, progress)

    @property
    def sop_uids(self) -> list[str | None]:
        with self._lock:
            return [job.sop_uid for job in self.calls]


# -- the file -------------------------------------------------------------------------------


def test_outbox_file_is_wal_with_full_sync_and_versioned(tmp_path: Path) -> None:
    Outbox(tmp_path).close()  # a folder gets outbox.sqlite
    db = sqlite3.connect(tmp_path / "outbox.sqlite")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    db.close()
    with Outbox(tmp_path / "outbox.sqlite") as ob:
        # synchronous is per connection: FULL (2) so a commit is on disk when it returns.
        assert ob._db.execute("PRAGMA synchronous").fetchone()[0] == 2


def test_outbox_from_a_newer_izer_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    Outbox(path).close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    db.close()
    with pytest.raises(OutboxSchemaError, match="upgrade izer"):
        Outbox(path)


# -- enqueue --------------------------------------------------------------------------------


def test_enqueued_job_is_in_the_file_and_enqueue_is_idempotent(
    tmp_path: Path, outbox: Outbox
) -> None:
    job = outbox.enqueue(
        JobKind.STORE,
        "PACS",
        sop_uid=uid(1),
        study_uid=uid(100),
        payload={"path": "a.dcm"},
        bytes_total=1234,
    )
    assert job.state is JobState.QUEUED and job.attempts == 0 and job.bytes_total == 1234
    # Another connection (another process, after a crash) sees it as soon as enqueue returned.
    with Outbox(tmp_path / "outbox.sqlite") as other:
        assert [j.job_id for j in other.jobs()] == [job.job_id]
        assert other.jobs()[0].payload == {"path": "a.dcm"}

    again = outbox.enqueue("store", "PACS", sop_uid=uid(1), payload={"path": "other.dcm"})
    assert again == job
    assert outbox.enqueue(JobKind.STORE, "ARCHIVE", sop_uid=uid(1)).job_id != job.job_id
    assert outbox.enqueue(JobKind.COMMIT, "PACS", sop_uid=uid(1)).job_id != job.job_id
    # Jobs without a SOP Instance UID are never merged.
    first = outbox.enqueue(JobKind.PRINT, "PRINTER")
    assert outbox.enqueue(JobKind.PRINT, "PRINTER").job_id != first.job_id
    assert len(outbox.jobs()) == 5
    assert [j.sop_uid for j in outbox.jobs(destination="PACS", kind=JobKind.STORE)] == [uid(1)]


def test_enqueue_rejects_what_cannot_be_stored(outbox: Outbox) -> None:
    with pytest.raises(ValueError, match="JSON"):
        outbox.enqueue(JobKind.STORE, "PACS", payload={"path": Path("a.dcm")})
    with pytest.raises(ValueError, match="destination"):
        outbox.enqueue(JobKind.STORE, "")
    with pytest.raises(ValueError):
        outbox.enqueue("teleport", "PACS")
    assert outbox.jobs() == []


def test_done_job_is_sent_again_only_when_forced(outbox: Outbox) -> None:
    handler = Recorder()
    dispatcher = Dispatcher(outbox, {JobKind.STORE: handler})
    job = outbox.enqueue(JobKind.STORE, "PACS", sop_uid=uid(1))
    assert dispatcher.run_until_idle(WAIT_S)
    assert outbox.job(job.job_id).state is JobState.DONE  # type: ignore[union-attr]

    assert outbox.enqueue(JobKind.STORE, "PACS", sop_uid=uid(1)).state is JobState.DONE
    assert dispatcher.run_until_idle(WAIT_S)
    assert handler.sop_uids == [uid(1)]

    forced = outbox.enqueue(JobKind.STORE, "PACS", sop_uid=uid(1), force=True)
    assert (forced.job_id, forced.state, forced.attempts) == (job.job_id, JobState.QUEUED, 0)
    assert dispatcher.run_until_idle(WAIT_S)
    assert handler.sop_uids == [uid(1), uid(1)]  # the only duplicate: the same SOP UID again
    assert [j.state for j in outbox.jobs()] == [JobState.DONE]


def test_cancelled_job_is_replaced_by_a_new_one(outbox: Outbox) -> None:
    job = outbox.enqueue(JobKind.STORE, "PACS", sop_uid=uid(1))
    assert outbox.cancel([job.job_id]) == 1
    again = outbox.enqueue(JobKind.STORE, "PACS", sop_uid=uid(1))
    assert again.job_id != job.job_id and again.state is JobState.QUEUED
    assert [j.state for j in outbox.jobs()] == [JobState.CANCELLED, JobState.QUEUED]


# -- order and concurrency ------------------------------------------------------------------


def test_jobs_of_a_destination_run_first_in_first_out(outbox: Outbox) -> None:
    handler = Recorder()
    jobs = [outbox.enqueue(JobKind.STORE, "PACS", sop_uid=uid(n)) for n in range(25)]
    assert Dispatcher(outbox, {JobKind.STORE: handler}).run_until_idle(WAIT_S)
    assert handler.sop_uids == [job.sop_uid for job in jobs]
    assert all(j.state is JobState.DONE and j.attempts == 1 for j in outbox.jobs())


def test_concurrency_limit_per_destination_is_respected(outbox: Outbox) -> None:
    limits = {"FAST": 3, "SLOW": 1}
    active: Counter[str] = Counter()
    most: Counter[str] = Counter()
    lock = threading.Lock()
    full = {name: threading.Event() for name in limits}
    running_together: set[int] = set()

    def handler(job: Job, progress: Callable[[int, int], None]) -> None:
        with lock:
            active[job.destination] += 1
            most[job.destination] = max(most[job.destination], active[job.destination])
            if active[job.destination] == limits[job.destination]:
                full[job.destination].set()
            running_together.add(job.job_id)
        # Hold the job until the destination is at its limit, so an extra one would show.
        full[job.destination].wait(WAIT_S)
        time.sleep(0.01)
        with lock:
            active[job.destination] -= 1

    for n in range(12):
        outbox.enqueue(JobKind.STORE, "FAST", sop_uid=uid(n))
        outbox.enqueue(JobKind.STORE, "SLOW", sop_uid=uid(n))
    dispatcher = Dispatcher(
        outbox, {JobKind.STORE: handler}, concurrency={"FAST": 3}, default_concurrency=1
    )
    assert dispatcher.run_until_idle(WAIT_S)
    assert most == {"FAST": 3, "SLOW": 1}
    assert all(j.state is JobState.DONE and j.attempts == 1 for j in outbox.jobs())


def test_store_job_overtakes_a_waiting_one_but_ordered_jobs_keep_their_order(
    outbox: Outbox, clock: Clock
) -> None:
    fail_once = {uid(1), uid(11)}

    def flaky(job: Job, progress: Callable[[int, int], None]) -> None:
        if job.sop_uid in fail_once:
            fail_once.discard(job.sop_uid)
            raise DeliveryError("PACS: association rejected (out of resources)", transient=True)

    stores, mpps = Recorder(flaky), Recorder(flaky)
    dispatcher = Dispatcher(outbox, {JobKind.STORE: stores, JobKind.MPPS: mpps})
    for n in (1, 2, 3):
        outbox.enqueue(JobKind.STORE, "PACS", sop_uid=uid(n))
    # MPPS jobs are ordered by kind; N-CREATE then N-SET of one step need distinct keys.
    for n in (11, 12, 13):
        outbox.enqueue(JobKind.MPPS, "RIS", sop_uid=uid(n))
    # Any job may ask for strict order through its payload.
    ordered_store = [
        outbox.enqueue(JobKind.STORE, "PACS", sop_uid=uid(n), payload={"ordered": True})
        for n in (21, 22)
    ]
    assert all(j.ordered for j in ordered_store)

    assert dispatcher.run_until_idle(WAIT_S)
    assert stores.sop_uids == [uid(1), uid(2), uid(3), uid(21), uid(22)]
    assert mpps.sop_uids == [uid(11)]  # 12 and 13 wait behind the waiting 11
    waiting = outbox.jobs(states=[JobState.WAITING])
    assert [j.sop_uid for j in waiting] == [uid(1), uid(11)]

    clock.set(max(j.next_try_at for j in waiting))  # type: ignore[type-var]
    assert dispatcher.run_until_idle(WAIT_S)
    assert mpps.sop_uids == [uid(11), uid(11), uid(12), uid(13)]
    assert stores.sop_uids[-1] == uid(1)
    assert all(j.state is JobState.DONE for j in outbox.jobs())


def test_failed_ordered_job_holds_later_ones_until_cancelled(outbox: Outbox) -> None:
    def refuse_first(job: Job, progress: Callable[[int, int], None]) -> None:
        if job.sop_uid == uid(1):
            raise DeliveryError(
                "RIS: N-CREATE refused (0x0110 processing failure)", transient=False
            )

    handler = Recorder(refuse_first)
    dispatcher = Dispatcher(outbox, {JobKind.MPPS: handler})
    first = outbox.enqueue(JobKind.MPPS, "RIS", sop_uid=uid(1))
    outbox.enqueue(JobKind.MPPS, "RIS", sop_uid=uid(2))
    assert dispatcher.run_until_idle(WAIT_S)
    assert handler.sop_uids == [uid(1)]
    assert [j.state for j in outbox.jobs()] == [JobState.FAILED, JobState.QUEUED]

    assert outbox.cancel([first.job_id]) == 1
    assert dispatcher.run_until_idle(WAIT_S)
    assert handler.sop_uids == [uid(1), uid(2)]
    assert [j.state for j in outbox.jobs()] == [JobState.CANCELLED, JobState.DONE]


def test_jobs_of_a_kind_without_handler_stay_queued(outbox: Outbox) -> None:
    outbox.enqueue(JobKind.PRINT, "PRINTER")
    outbox.enqueue(JobKind.STORE, "PACS", sop_uid=uid(1))
    assert Dispatcher(outbox, {JobKind.STORE: Recorder()}).run_until_idle(WAIT_S)
    assert [(j.kind, j.state) for j in outbox.jobs()] == [
        (JobKind.PRINT, JobState.QUEUED),
        (JobKind.STORE, JobState.DONE),
    ]


# -- failures and backoff -------------------------------------------------------------------


def test_backoff_delay_doubles_up_to_the_cap_with_a_little_jitter() -> None:
    nominal = [backoff_delay(n, base_s=5, cap_s=600, jitter=0) for n in range(1, 10)]
    assert nominal == [5, 10, 20, 40, 80, 160, 320, 600, 600]
    assert backoff_delay(10_000, base_s=5, cap_s=600, jitter=0) == 600
    rng = random.Random(7)
    jittered = [backoff_delay(3, base_s=5, cap_s=600, jitter=0.1, rng=rng) for _ in range(200)]
    assert all(18.0 <= d <= 20.0 for d in jittered)
    assert len(set(jittered)) > 100  # really random
    with pytest.raises(ValueError, match="attempts"):
        backoff_delay(0, base_s=5, cap_s=600)


def test_transient_errors_back_off_then_fail_visibly_and_retry_requeues(
    tmp_path: Path, clock: Clock
) -> None:
    outbox = Outbox(
        tmp_path / "outbox.sqlite",
        backoff_base_s=1,
        backoff_cap_s=8,
        max_attempts=6,
        clock=clock,
        jitter=0,
    )
    down = threading.Event()
    down.set()

    def handler(job: Job, progress: Callable[[int, int], None]) -> None:
        if down.is_set():
            raise DeliveryError("PACS: connection refused at pacs.example:104", transient=True)

    recorder = Recorder(handler)
    dispatcher = Dispatcher(outbox, {JobKind.STORE: recorder})
    job = outbox.enqueue(JobKind.STORE, "PACS", sop_uid=uid(1))
    delays = []
    for attempt in range(1, 6):
        assert dispatcher.run_until_idle(WAIT_S)
        now = outbox.job(job.job_id)
        assert now is not None and now.state is JobState.WAITING and now.attempts == attempt
        assert now.last_error == "PACS: connection refused at pacs.example:104"
        delays.append((now.next_try_at - clock()).total_seconds())  # type: ignore[operator]
        # Not due yet: a run does nothing.
        clock.set(clock() + timedelta(seconds=delays[-1] - 0.001))
        assert dispatcher.run_until_idle(WAIT_S)
        assert len(recorder.calls) == attempt
        clock.set(now.next_try_at)  # type: ignore[arg-type]
    assert delays == [1, 2, 4, 8, 8]

    assert dispatcher.run_until_idle(WAIT_S)
    failed = outbox.job(job.job_id)
    assert failed is not None and failed.state is JobState.FAILED and failed.attempts == 6
    assert failed.next_try_at is None
    assert failed.last_error == (
        "PACS: connection refused at pacs.example:104 (gave up after 6 attempts)"
    )
    # FAILED stays failed until the user asks.
    clock.set(clock() + timedelta(days=1))
    assert dispatcher.run_until_idle(WAIT_S, wait_for_retries=True)
    assert len(recorder.calls) == 6

    down.clear()
    assert outbox.retry() == 1
    assert dispatcher.run_until_idle(WAIT_S)
    done = outbox.job(job.job_id)
    assert done is not None and (done.state, done.attempts, done.last_error) == (
        JobState.DONE,
        1,
        "",
    )
    outbox.close()


def test_jittered_next_try_lies_in_the_window(tmp_path: Path, clock: Clock) -> None:
    outbox = Outbox(tmp_path / "o.sqlite", backoff_base_s=5, backoff_cap_s=600, clock=clock)

    def refuse(job: Job, progress: Callable[[int, int], None]) -> None:
        raise DeliveryError("PACS busy (A700 out of resources)", transient=True)

    for n in range(20):
        outbox.enqueue(JobKind.STORE, "PACS", sop_uid=uid(n))
    assert Dispatcher(outbox, {JobKind.STORE: refuse}).run_until_idle(WAIT_S)
    delays = [(j.next_try_at - clock()).total_seconds() for j in outbox.jobs()]  # type: ignore[operator]
    assert all(4.5 <= d <= 5.0 for d in delays)
    assert len(set(delays)) > 1
    outbox.close()


def test_permanent_error_fails_at_once(outbox: Outbox) -> None:
    def refuse(job: Job, progress: Callable[[int, int], None]) -> None:
        raise DeliveryError(
            "PACS does not accept MPEG-4 AVC/H.264 for Video Endoscopic Image Storage",
            transient=False,
        )

    job = outbox.enqueue(JobKind.STORE, "PACS", sop_uid=uid(1))
    assert Dispatcher(outbox, {JobKind.STORE: refuse}).run_until_idle(WAIT_S)
    failed = outbox.job(job.job_id)
    assert failed is not None and (failed.state, failed.attempts) == (JobState.FAILED, 1)
    assert failed.last_error.startswith("PACS does not accept MPEG-4 AVC/H.264")


def test_unexpected_exception_is_retried_with_a_plain_message(outbox: Outbox) -> None:
    def broken(job: Job, progress: Callable[[int, int], None]) -> None:
        raise FileNotFoundError(2, "No such file or directory", "/store/IM1.dcm")

    job = outbox.enqueue(JobKind.STORE, "PACS", sop_uid=uid(1))
    assert Dispatcher(outbox, {JobKind.STORE: broken}).run_until_idle(WAIT_S)
    waiting = outbox.job(job.job_id)
    assert waiting is not None and waiting.state is JobState.WAITING
    assert "FileNotFoundError" in waiting.last_error and "/store/IM1.dcm" in waiting.last_error


def test_retry_now_makes_a_waiting_job_due_and_keeps_its_attempts(
    outbox: Outbox, clock: Clock
) -> None:
    calls = Recorder()
    failures = [DeliveryError("PACS timed out", transient=True)]

    def once(job: Job, progress: Callable[[int, int], None]) -> None:
        if failures:
            raise failures.pop()

    calls.then = once
    dispatcher = Dispatcher(outbox, {JobKind.STORE: calls})
    job = outbox.enqueue(JobKind.STORE, "PACS", sop_uid=uid(1))
    assert dispatcher.run_until_idle(WAIT_S)
    assert outbox.job(job.job_id).state is JobState.WAITING  # type: ignore[union-attr]
    assert outbox.retry(destination="ELSEWHERE") == 0
    assert outbox.retry(destination="PACS") == 1
    assert dispatcher.run_until_idle(WAIT_S)
    done = outbox.job(job.job_id)
    assert done is not None and (done.state, done.attempts) == (JobState.DONE, 2)


# -- restart and stop -----------------------------------------------------------------------


def test_running_job_found_at_start_is_requeued_with_its_attempts(
    tmp_path: Path, clock: Clock
) -> None:
    path = tmp_path / "outbox.sqlite"
    with Outbox(path, clock=clock) as first:
        crashed = first.enqueue(JobKind.STORE, "PACS", sop_uid=uid(1))
        first.enqueue(JobKind.STORE, "PACS", sop_uid=uid(2))
    # What a process killed in the middle of a job leaves behind.
    db = sqlite3.connect(path)
    db.execute(
        "UPDATE jobs SET state = 'running', attempts = 3 WHERE job_id = ?", (crashed.job_id,)
    )
    db.commit()
    db.close()

    with Outbox(path, clock=clock) as second:
        assert second.job(crashed.job_id).state is JobState.RUNNING  # type: ignore[union-attr]
        handler = Recorder()
        events: list[tuple[int, JobState]] = []
        dispatcher = Dispatcher(
            second, {JobKind.STORE: handler}, on_job=lambda j: events.append((j.job_id, j.state))
        )
        assert dispatcher.run_until_idle(WAIT_S)
        assert handler.sop_uids == [uid(1), uid(2)]
        resumed = second.job(crashed.job_id)
        assert resumed is not None and (resumed.state, resumed.attempts) == (JobState.DONE, 4)
        assert events[0] == (crashed.job_id, JobState.QUEUED)


def test_only_one_dispatcher_per_outbox(outbox: Outbox, tmp_path: Path) -> None:
    first = Dispatcher(outbox, {JobKind.STORE: Recorder()})
    first.start()
    try:
        with (
            Outbox(outbox.path) as other,
            pytest.raises(DispatcherBusyError, match=f"process {os.getpid()}"),
        ):
            Dispatcher(other, {JobKind.STORE: Recorder()}).start()
    finally:
        assert first.stop(WAIT_S)
    second = Dispatcher(outbox, {JobKind.STORE: Recorder()})
    second.start()
    assert second.stop(WAIT_S)


def test_stop_interrupts_a_running_job_and_queues_it_again(outbox: Outbox) -> None:
    started = threading.Event()

    def endless(job: Job, progress: Callable[[int, int], None]) -> None:
        started.set()
        sent = 0
        while True:  # a long transfer reporting its bytes
            sent += 1000
            progress(sent, 10**12)
            time.sleep(0.001)

    job = outbox.enqueue(JobKind.STORE, "PACS", sop_uid=uid(1))
    dispatcher = Dispatcher(outbox, {JobKind.STORE: endless}, progress_interval_s=0.01)
    dispatcher.start()
    assert started.wait(WAIT_S)
    assert dispatcher.stop(WAIT_S)
    stopped = outbox.job(job.job_id)
    assert stopped is not None and (stopped.state, stopped.attempts) == (JobState.QUEUED, 1)
    assert stopped.last_error == ""
    # The outbox is free again for the next run.
    assert Dispatcher(outbox, {JobKind.STORE: Recorder()}).run_until_idle(WAIT_S)
    assert outbox.job(job.job_id).state is JobState.DONE  # type: ignore[union-attr]


def test_stuck_handler_keeps_the_outbox_taken_so_no_job_runs_twice(outbox: Outbox) -> None:
    release, done = threading.Event(), threading.Event()
    calls = Recorder(lambda job, progress: release.wait(WAIT_S))
    job = outbox.enqueue(JobKind.STORE, "PACS", sop_uid=uid(1))
    dispatcher = Dispatcher(
        outbox,
        {JobKind.STORE: calls},
        on_job=lambda j: done.set() if j.state is JobState.DONE else None,
    )
    dispatcher.start()
    assert wait_for(lambda: len(calls.calls) == 1)
    assert not dispatcher.stop(timeout_s=0.05)  # the handler never reports progress
    with pytest.raises(DispatcherBusyError):
        Dispatcher(outbox, {JobKind.STORE: calls}).start()
    release.set()
    assert done.wait(WAIT_S)
    assert wait_for(lambda: dispatcher.stop(0.0))
    assert Dispatcher(outbox, {JobKind.STORE: calls}).run_until_idle(WAIT_S)
    assert len(calls.calls) == 1
    assert outbox.job(job.job_id).state is JobState.DONE  # type: ignore[union-attr]


# -- pause, resume, cancel ------------------------------------------------------------------


def test_pause_is_kept_across_restarts_and_resume_sends(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    handler = Recorder()
    with Outbox(path) as outbox:
        outbox.pause("PACS")
        outbox.pause("PACS")  # twice is fine
        outbox.enqueue(JobKind.STORE, "PACS", sop_uid=uid(1))
        outbox.enqueue(JobKind.STORE, "ARCHIVE", sop_uid=uid(1))
        assert Dispatcher(outbox, {JobKind.STORE: handler}).run_until_idle(WAIT_S)
        assert [j.destination for j in handler.calls] == ["ARCHIVE"]
    with Outbox(path) as outbox:
        assert outbox.paused() == {"PACS"}
        dispatcher = Dispatcher(outbox, {JobKind.STORE: handler})
        dispatcher.start()
        try:
            outbox.resume("PACS")  # a running dispatcher notices at once
            assert wait_for(lambda: len(handler.calls) == 2)
            assert dispatcher.run_until_idle(WAIT_S)
        finally:
            assert dispatcher.stop(WAIT_S)
        assert outbox.paused() == set()
        assert {j.state for j in outbox.jobs()} == {JobState.DONE}


def test_cancel_queued_waiting_failed_and_running_jobs(outbox: Outbox) -> None:
    running = threading.Event()

    def handler(job: Job, progress: Callable[[int, int], None]) -> None:
        if job.sop_uid == uid(1):
            raise DeliveryError("PACS timed out", transient=True)
        if job.sop_uid == uid(2):
            raise DeliveryError("PACS refused the SOP class", transient=False)
        if job.sop_uid == uid(3):
            running.set()
            while True:
                progress(1, 100)
                time.sleep(0.001)

    calls = Recorder(handler)
    dispatcher = Dispatcher(outbox, {JobKind.STORE: calls}, concurrency={"PACS": 3})
    jobs = [outbox.enqueue(JobKind.STORE, "PACS", sop_uid=uid(n)) for n in (1, 2, 3)]
    queued = outbox.enqueue(JobKind.STORE, "PAUSED", sop_uid=uid(4))
    outbox.pause("PAUSED")
    dispatcher.start()
    try:
        assert running.wait(WAIT_S)
        assert wait_for(lambda: len(outbox.jobs(states=[JobState.WAITING, JobState.FAILED])) == 2)
        assert outbox.cancel([*(j.job_id for j in jobs), queued.job_id]) == 4
        assert wait_for(lambda: len(outbox.jobs(states=[JobState.CANCELLED])) == 4)
        assert dispatcher.run_until_idle(WAIT_S)
    finally:
        assert dispatcher.stop(WAIT_S)
    assert [j.state for j in outbox.jobs()] == [JobState.CANCELLED] * 4
    assert outbox.job(jobs[0].job_id).last_error == "PACS timed out"  # type: ignore[union-attr]
    assert outbox.job(jobs[2].job_id).last_error == "cancelled while sending"  # type: ignore[union-attr]
    assert sorted(calls.sop_uids) == [uid(1), uid(2), uid(3)]
    assert outbox.cancel() == 0  # nothing left to cancel


def test_running_job_asked_to_stop_from_another_process_is_cancelled(outbox: Outbox) -> None:
    running = threading.Event()

    def handler(job: Job, progress: Callable[[int, int], None]) -> None:
        running.set()
        while True:
            progress(1, 100)
            time.sleep(0.001)

    job = outbox.enqueue(JobKind.STORE, "PACS", sop_uid=uid(1))
    dispatcher = Dispatcher(outbox, {JobKind.STORE: handler}, progress_interval_s=0.01)
    dispatcher.start()
    try:
        assert running.wait(WAIT_S)
        with Outbox(outbox.path) as cli:  # as `izer queue cancel` would
            assert cli.cancel(destination="PACS") == 1
        assert wait_for(lambda: outbox.job(job.job_id).state is JobState.CANCELLED)  # type: ignore[union-attr]
    finally:
        assert dispatcher.stop(WAIT_S)


# -- progress and events --------------------------------------------------------------------


def test_study_progress_counts_jobs_and_bytes_per_destination(outbox: Outbox, clock: Clock) -> None:
    study, other = uid(100), uid(200)

    def handler(job: Job, progress: Callable[[int, int], None]) -> None:
        if job.sop_uid == uid(3):
            raise DeliveryError("ARCHIVE refused it", transient=False)
        if job.sop_uid == uid(4):
            raise DeliveryError("ARCHIVE busy", transient=True)
        progress(job.bytes_total, job.bytes_total)

    for n, destination in (
        (1, "PACS"),
        (2, "PACS"),
        (3, "ARCHIVE"),
        (4, "ARCHIVE"),
        (5, "ARCHIVE"),
    ):
        outbox.enqueue(
            JobKind.STORE, destination, sop_uid=uid(n), study_uid=study, bytes_total=1000 * n
        )
    outbox.enqueue(JobKind.STORE, "PACS", sop_uid=uid(9), study_uid=other, bytes_total=5)
    outbox.enqueue(JobKind.COMMIT, "PACS", study_uid=study)  # not an instance
    cancelled = outbox.enqueue(JobKind.STORE, "PACS", sop_uid=uid(6), study_uid=study)
    outbox.cancel([cancelled.job_id])
    outbox.pause("PACS")
    before = outbox.study_progress(study)
    assert before.destinations["PACS"].queued == 2 and before.sent == 0
    assert before.bytes_total == 15000 and not before.finished

    outbox.resume("PACS")
    assert Dispatcher(outbox, {JobKind.STORE: handler}).run_until_idle(WAIT_S)
    progress = outbox.study_progress(study)
    pacs, archive = progress.destinations["PACS"], progress.destinations["ARCHIVE"]
    assert (pacs.sent, pacs.queued, pacs.failed, pacs.cancelled) == (2, 0, 0, 1)
    assert (pacs.bytes_done, pacs.bytes_total) == (3000, 3000)
    assert (archive.sent, archive.waiting, archive.failed) == (1, 1, 1)
    assert (archive.bytes_done, archive.bytes_total) == (5000, 12000)
    assert (progress.sent, progress.total, progress.failed) == (3, 5, 1)
    assert not progress.finished and pacs.finished
    assert outbox.study_progress(study, kind=JobKind.COMMIT).destinations["PACS"].queued == 1
    assert outbox.study_progress(uid(999)).destinations == {}


def test_progress_is_saved_coarsely_and_every_state_change_is_reported(outbox: Outbox) -> None:
    events: list[Job] = []
    total = 10_000_000

    def stream(job: Job, progress: Callable[[int, int], None]) -> None:
        for done in range(0, total + 1, 1000):
            progress(done, total)

    job = outbox.enqueue(JobKind.STORE, "PACS", sop_uid=uid(1), study_uid=uid(100))
    dispatcher = Dispatcher(outbox, {JobKind.STORE: stream}, on_job=events.append)
    assert dispatcher.run_until_idle(WAIT_S)
    mine = [e for e in events if e.job_id == job.job_id]
    progress_saves = [e for e in mine if e.state is JobState.RUNNING and e.bytes_done > 0]
    assert 1 <= len(progress_saves) < 100  # 10 000 calls, a few saves
    assert progress_saves[-1].bytes_done == total  # the end is always saved
    states = [e.state for e in mine]
    assert states[0] is JobState.RUNNING and states[-1] is JobState.DONE
    final = outbox.job(job.job_id)
    assert final is not None and (final.bytes_done, final.bytes_total) == (total, total)


def test_on_job_sees_changes_made_through_the_outbox_while_dispatching(outbox: Outbox) -> None:
    events: list[tuple[str | None, JobState]] = []
    seen = threading.Event()

    def record(job: Job) -> None:
        events.append((job.sop_uid, job.state))
        if job.state is JobState.DONE:
            seen.set()
        raise RuntimeError("a broken callback must not stop the dispatcher")

    dispatcher = Dispatcher(outbox, {JobKind.STORE: Recorder()}, on_job=record, poll_s=60)
    dispatcher.start()
    try:
        outbox.enqueue(JobKind.STORE, "PACS", sop_uid=uid(1))  # wakes the dispatcher itself
        assert seen.wait(WAIT_S)
    finally:
        assert dispatcher.stop(WAIT_S)
    assert events == [
        (uid(1), JobState.QUEUED),
        (uid(1), JobState.RUNNING),
        (uid(1), JobState.DONE),
    ]


def test_handler_may_enqueue_follow_up_jobs(outbox: Outbox) -> None:
    commits = Recorder()

    def store(job: Job, progress: Callable[[int, int], None]) -> None:
        outbox.enqueue(JobKind.COMMIT, job.destination, sop_uid=f"commit-{job.study_uid}")

    for n in range(3):
        outbox.enqueue(JobKind.STORE, "PACS", sop_uid=uid(n), study_uid=uid(100))
    dispatcher = Dispatcher(outbox, {JobKind.STORE: store, JobKind.COMMIT: commits})
    assert dispatcher.run_until_idle(WAIT_S)
    assert commits.sop_uids == [f"commit-{uid(100)}"]  # idempotent: one commitment job


# -- crashes --------------------------------------------------------------------------------


def _child_main(argv: list[str]) -> None:
    """Child of the SIGKILL tests.

    ``dispatch OUTBOX LOG``: run every job; the handler appends the job's SOP UID to LOG
    (fsync'ed) and reports some progress. Prints ``running N`` (jobs a crash left RUNNING),
    then ``idle`` when everything is done.
    ``enqueue OUTBOX N``: enqueue N jobs, printing each SOP UID once enqueue returned.
    """
    mode, path = argv[0], Path(argv[1])
    outbox = Outbox(path, backoff_base_s=0.01, backoff_cap_s=0.05)
    if mode == "enqueue":
        for n in range(int(argv[2])):
            job = outbox.enqueue(JobKind.STORE, "PACS", sop_uid=uid(n), study_uid=uid(1))
            print(job.sop_uid, flush=True)
        return
    log_fd = os.open(argv[2], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    chooser = random.Random()

    def handler(job: Job, progress: Callable[[int, int], None]) -> None:
        progress(0, 100)
        time.sleep(chooser.uniform(0.0, 0.004))
        os.write(log_fd, f"{job.sop_uid}\n".encode())
        os.fsync(log_fd)
        progress(100, 100)

    print(f"running {len(outbox.jobs(states=[JobState.RUNNING]))}", flush=True)
    dispatcher = Dispatcher(
        outbox,
        {JobKind.STORE: handler},
        concurrency={"PACS": 2},
        poll_s=0.05,
        progress_interval_s=0.0,
    )
    if dispatcher.run_until_idle(120.0, wait_for_retries=True):
        print("idle", flush=True)


def _start_child(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.dispatch.test_outbox", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def _handled(log: Path) -> list[str]:
    if not log.exists():
        return []
    # A kill between write and fsync may leave the last line cut; only whole lines count.
    text = log.read_text()
    return [line for line in text.split("\n")[:-1] if line]


def test_sigkill_while_dispatching_loses_no_job(tmp_path: Path) -> None:
    path, log = tmp_path / "outbox.sqlite", tmp_path / "handled.log"
    expected = set()
    with Outbox(path) as outbox:
        for n in range(60):
            for destination in ("PACS", "ARCHIVE"):
                outbox.enqueue(JobKind.STORE, destination, sop_uid=uid(n), study_uid=uid(1))
            expected.add(uid(n))
    chooser = random.Random(20310304)
    found_running = 0
    for _ in range(5):
        child = _start_child("dispatch", str(path), str(log))
        assert child.stdout is not None
        found_running += int(child.stdout.readline().split()[1])
        target = len(_handled(log)) + chooser.randint(1, 15)
        assert wait_for(
            lambda child=child, target=target: (
                len(_handled(log)) >= target or child.poll() is not None
            )
        )
        time.sleep(chooser.uniform(0.0, 0.01))
        child.send_signal(signal.SIGKILL)
        child.communicate()
        assert child.returncode == -signal.SIGKILL, "the child ended before it was killed"

    final = _start_child("dispatch", str(path), str(log))
    output, _ = final.communicate(timeout=180)
    found_running += int(output.split()[1])
    assert final.returncode == 0 and output.split()[-1] == "idle"

    # The scenario really happened: kills landed while jobs were running.
    assert found_running > 0
    with Outbox(path) as outbox:
        jobs = outbox.jobs()
        assert len(jobs) == 120
        assert {j.state for j in jobs} == {JobState.DONE}
    handled = Counter(_handled(log))
    assert set(handled) == expected  # every instance delivered, none lost
    assert sum(handled.values()) >= 120  # duplicates (the same SOP UID) are allowed


def test_sigkill_during_enqueue_keeps_every_acknowledged_job(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    chooser = random.Random(4)
    for round_ in range(3):
        path.unlink(missing_ok=True)
        child = _start_child("enqueue", str(path), "100000")
        assert child.stdout is not None
        acknowledged = [child.stdout.readline().strip() for _ in range(chooser.randint(5, 150))]
        child.send_signal(signal.SIGKILL)
        rest, _ = child.communicate()
        acknowledged += rest.split()
        with Outbox(path) as outbox:
            stored = {j.sop_uid for j in outbox.jobs()}
        assert set(acknowledged) <= stored, f"round {round_}: an acknowledged job was lost"
        assert len(stored) <= len(acknowledged) + 1  # at most the one being enqueued


# -- threads and idempotence under load -----------------------------------------------------


def test_concurrent_enqueues_of_the_same_instance_make_one_job(outbox: Outbox) -> None:
    results: defaultdict[str, set[int]] = defaultdict(set)
    lock = threading.Lock()

    def enqueue_all() -> None:
        for n in range(30):
            job = outbox.enqueue(JobKind.STORE, "PACS", sop_uid=uid(n))
            with lock:
                results[job.sop_uid or ""].add(job.job_id)

    threads = [threading.Thread(target=enqueue_all) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT_S)
    assert len(outbox.jobs()) == 30
    assert all(len(ids) == 1 for ids in results.values())


def test_progress_raises_job_interrupted_that_handlers_may_wrap(outbox: Outbox) -> None:
    """A sink that wraps everything in DeliveryError still gets its job cancelled, not failed."""
    running = threading.Event()

    def wrapping(job: Job, progress: Callable[[int, int], None]) -> None:
        try:
            running.set()
            while True:
                progress(1, 2)
                time.sleep(0.001)
        except JobInterrupted as exc:
            raise DeliveryError(f"PACS: transfer aborted ({exc})", transient=True) from exc

    job = outbox.enqueue(JobKind.STORE, "PACS", sop_uid=uid(1))
    dispatcher = Dispatcher(outbox, {JobKind.STORE: wrapping})
    dispatcher.start()
    try:
        assert running.wait(WAIT_S)
        assert outbox.cancel([job.job_id]) == 1
        assert wait_for(lambda: outbox.job(job.job_id).state is JobState.CANCELLED)  # type: ignore[union-attr]
    finally:
        assert dispatcher.stop(WAIT_S)


if __name__ == "__main__":
    _child_main(sys.argv[1:])
