"""``izer send TARGET... --to DEST[,DEST]``: send instances through the outbox.

TARGET is a DICOM file, a folder (every file below it), or a Study, Series or SOP Instance
UID of the local store; files not yet in the store are imported first. DEST is a configured
destination (DICOM, DICOMweb or folder) or AET@host:port. Each instance becomes one job per
destination in the outbox (outbox.sqlite in the store folder): nothing is lost if izer stops,
and running the same command again goes on where it stopped. An instance already sent is not
sent again unless --again is given.

With --wait (the default) izer sends the jobs itself, or lets a running ``izer serve`` send
them, and prints one line per job as it ends; jobs that fail for a while (receiver down) are
retried with a growing delay ([dispatch] backoff_base_s ... max_attempts). Storage commitment
is asked after a study's last instance for destinations with ``commitment = true``. With
--no-wait the jobs stay queued for ``izer serve``, ``izer queue run`` or the GUI.

Exit status: 0 when every job was delivered (and committed), 1 when any job failed (each
reason is printed) or --timeout ran out, 2 for a wrong target or destination.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

from izer.cli.common import (
    EXIT_FAILURE,
    EXIT_USAGE,
    add_wait_options,
    fail,
    global_options,
    settings_for,
    subcommand_main,
)
from izer.engine import Engine
from izer.engine.dispatching import (
    COMMIT_KEY_PREFIX,
    DispatchController,
    DispatcherBusyError,
    Job,
    JobKind,
    JobState,
)

#: How often the jobs are looked at while waiting.
POLL_S = 0.2


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "send",
        parents=[global_options()],
        help="send instances to DICOM, DICOMweb or folder destinations",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "targets", nargs="+", metavar="TARGET", help="DICOM files, folders, or store UIDs"
    )
    parser.add_argument(
        "--to",
        required=True,
        action="append",
        metavar="DEST[,DEST]",
        help="destination name or AET@host:port; several separated by commas (repeatable)",
    )
    parser.add_argument(
        "--again", action="store_true", help="send instances already sent to a destination again"
    )
    add_wait_options(parser, "send now", queued="the jobs")
    parser.set_defaults(handler=handle)


def split_destinations(values: list[str]) -> list[str]:
    return [name.strip() for value in values for name in value.split(",") if name.strip()]


def handle(args: argparse.Namespace) -> int:
    settings = settings_for(args).settings
    destinations = split_destinations(args.to)
    if not destinations:
        return fail("--to names no destination", EXIT_USAGE)
    with Engine.open(settings) as engine:
        dispatch = engine.dispatch
        try:
            jobs = dispatch.send(args.targets, destinations, force=args.again)
        except ValueError as exc:
            return fail(str(exc), EXIT_USAGE)
        if not args.wait:
            pending = sum(job.pending for job in jobs)
            print(
                f"queued {pending} job(s) ({len(jobs) - pending} already done) in "
                f"{dispatch.outbox_path}; izer serve, izer queue run or the GUI sends them"
            )
            return 0
        with quiet_dispatch_logs(bool(args.verbose or args.debug)):
            return wait_for_delivery(engine, dispatch, jobs, args.timeout)


@dataclass
class _Waiter:
    """Follows the jobs of one ``izer send`` to their end, printing one line per job."""

    dispatch: DispatchController
    store_ids: list[int]
    totals: dict[str, tuple[int, int]] = field(default_factory=dict)
    seen: dict[int, tuple[JobState, int]] = field(default_factory=dict)
    finished: dict[int, Job] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for job in self._current(self.store_ids):
            count, size = self.totals.get(job.destination, (0, 0))
            self.totals[job.destination] = (count + 1, size + job.bytes_total)

    def _current(self, ids: list[int]) -> list[Job]:
        outbox = self.dispatch.outbox
        return [job for job in (outbox.job(i) for i in ids) if job is not None]

    def commit_jobs(self) -> list[Job]:
        """The COMMIT jobs of the studies and destinations sent to."""
        pairs = {
            (job.destination, job.study_uid)
            for job in self._current(self.store_ids)
            if job.state is JobState.DONE
        }
        return [
            job
            for destination, study in pairs
            for job in self.dispatch.outbox.jobs(
                destination=destination,
                kind=JobKind.COMMIT,
                sop_uid=COMMIT_KEY_PREFIX + (study or ""),
            )
        ]

    def poll(self, started_at: datetime) -> bool:
        """Print what changed; ``True`` when every job has ended."""
        jobs = self._current(self.store_ids)
        commits = [c for c in self.commit_jobs() if c.pending or c.updated_at >= started_at]
        for job in [*jobs, *commits]:
            state = (job.state, job.attempts)
            if self.seen.get(job.job_id) == state:
                continue
            self.seen[job.job_id] = state
            if job.state is JobState.DONE or job.state is JobState.FAILED:
                self.finished[job.job_id] = job
                self._line(job)
            elif job.state is JobState.WAITING:
                self._line(job)
        stores_over = all(not job.pending for job in jobs)
        return stores_over and all(not c.pending for c in commits) and self._commits_settled()

    def _commits_settled(self) -> bool:
        """No delivered instance waits to be asked for commitment (its job may come late)."""
        for destination, study in {(j.destination, j.study_uid) for j in self.finished.values()}:
            configured = self.dispatch.engine.settings.destination(destination)
            if configured is None or not configured.commitment or not study:
                continue
            summary = self.dispatch.ledger.summary(destination, study)
            if summary.not_requested and not any(
                job.state in (JobState.FAILED, JobState.CANCELLED)
                for job in self.dispatch.outbox.jobs(
                    destination=destination,
                    kind=JobKind.COMMIT,
                    sop_uid=COMMIT_KEY_PREFIX + study,
                )
            ):
                return False
        return True

    def _line(self, job: Job) -> None:
        if job.kind is JobKind.COMMIT:
            what = f"{job.destination}: storage commitment of study {job.study_uid}"
            if job.state is JobState.DONE:
                summary = self.dispatch.ledger.summary(job.destination, job.study_uid or "")
                print(f"{what}: {summary.committed} instance(s) committed", flush=True)
            else:
                self._problem(job, what)
            return
        count, size = self.totals.get(job.destination, (0, 0))
        ended = [
            j
            for j in self.finished.values()
            if j.destination == job.destination and j.kind is JobKind.STORE
        ]
        sent = [j for j in ended if j.state is JobState.DONE]
        failed = len(ended) - len(sent)
        head = (
            f"{job.destination}: {len(sent)}/{count} instances sent, "
            f"{_megabytes(sum(j.bytes_total for j in sent))}/{_megabytes(size)}"
            + (f", {failed} failed" if failed else "")
        )
        if job.state is JobState.DONE:
            print(f"{head}  sent {job.sop_uid} ({_megabytes(job.bytes_total)})", flush=True)
        else:
            self._problem(job, f"{head}  {job.sop_uid}")

    @staticmethod
    def _problem(job: Job, what: str) -> None:
        if job.state is JobState.WAITING and job.next_try_at is not None:
            when = job.next_try_at.astimezone().strftime("%H:%M:%S")
            reason = job.last_error.splitlines()[0] if job.last_error else ""
            print(
                f"{what}: attempt {job.attempts} failed, next try at {when}: {reason}",
                flush=True,
            )
        else:
            print(f"{what}: FAILED", flush=True)

    def failures(self) -> list[Job]:
        return [job for job in self.finished.values() if job.state is JobState.FAILED]


@contextmanager
def quiet_dispatch_logs(verbose: bool) -> Iterator[None]:
    """Without -v, each job's outcome is printed once here, not again as a log warning."""
    logger = logging.getLogger("izer.dispatch")
    previous = logger.level
    if not verbose:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(previous)


def _megabytes(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB"


def wait_for_delivery(
    engine: Engine, dispatch: DispatchController, jobs: list[Job], timeout: float | None
) -> int:
    started_at = datetime.now(UTC)
    listener = None
    if any(
        (d := engine.settings.destination(job.destination)) is not None and d.commitment
        for job in jobs
    ):
        listener = engine.listener()
        dispatch.attach_listener(listener)  # before the first job can ask for commitment
    try:
        try:
            dispatch.start()
        except DispatcherBusyError as exc:
            print(f"izer: {exc}; waiting for it to send these jobs", file=sys.stderr)
            dispatch.attach_listener(None)  # that izer takes the commitment reports
            listener = None
        if listener is not None:
            try:
                listener.start()
            except OSError as exc:
                print(
                    f"izer: cannot listen on port {listener.port} ({exc.strerror or exc}): "
                    "storage commitment results are taken on the request's association only",
                    file=sys.stderr,
                )
                dispatch.attach_listener(None)
                listener = None
        paused = dispatch.outbox.paused() & {job.destination for job in jobs if job.pending}
        for name in sorted(paused):
            print(
                f"izer: {name} is paused: its jobs wait for izer queue resume {name}",
                file=sys.stderr,
            )
        waiter = _Waiter(dispatch, [job.job_id for job in jobs if job.kind is JobKind.STORE])
        todo = [job for job in jobs if job.pending]
        names = ", ".join(dict.fromkeys(job.destination for job in jobs))
        print(
            f"sending {len(todo)} job(s), {_megabytes(sum(j.bytes_total for j in todo))}, "
            f"to {names}",
            flush=True,
        )
        already = [job for job in jobs if job.state is JobState.DONE]
        if already:
            print(f"{len(already)} job(s) already done before (--again sends them again)")
        deadline = None if timeout is None else time.monotonic() + timeout
        while not waiter.poll(started_at):
            if deadline is not None and time.monotonic() > deadline:
                left = [j for j in waiter._current(waiter.store_ids) if j.pending]
                return fail(
                    f"--timeout ran out with {len(left)} job(s) not finished; they stay queued "
                    "(izer queue lists them)"
                )
            time.sleep(POLL_S)
    finally:
        dispatch.stop()
        if listener is not None:
            dispatch.attach_listener(None)
            listener.stop()
    failures = waiter.failures()
    for job in failures:
        what = "commitment" if job.kind is JobKind.COMMIT else job.sop_uid
        print(
            f"izer: job {job.job_id} ({what} to {job.destination}) failed: {job.last_error}",
            file=sys.stderr,
        )
    sent = sum(1 for job in waiter._current(waiter.store_ids) if job.state is JobState.DONE)
    print(f"{sent} of {len(waiter.store_ids)} job(s) delivered", flush=True)
    return EXIT_FAILURE if failures else 0


main = subcommand_main("send")
