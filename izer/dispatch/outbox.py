"""The outbox: every outgoing action is a job in SQLite before it is attempted.

A job is one instance for one destination (or one MPPS, commitment, print or media action).
:class:`Outbox` keeps the jobs in their own SQLite file (``outbox.sqlite``, WAL,
``synchronous=FULL``: a job is on disk before :meth:`Outbox.enqueue` returns, and it cannot be
rebuilt from anything else, unlike the study index). :class:`Dispatcher` runs them on worker
threads through one handler per :class:`JobKind`.

Life of a job::

    QUEUED -> RUNNING -> DONE
                 |-> WAITING (transient error; next try after an exponential backoff) -> RUNNING
                 |-> FAILED  (permanent error, or max attempts reached; the user may retry)
    QUEUED/WAITING/FAILED -> CANCELLED (by the user; a RUNNING job is cancelled cooperatively)

Rules
-----
Durability
    A RUNNING job found when a dispatcher starts was interrupted by a crash: it is queued
    again with its attempts kept. A handler may thus run twice for the same job; re-sending the
    same SOP Instance UID is the only duplicate this allows.
Idempotence
    :meth:`Outbox.enqueue` with a ``sop_uid`` returns the existing not-cancelled job of the same
    ``(kind, destination, sop_uid)``; ``force=True`` sends a DONE or FAILED one again.
Order
    Within a destination, due jobs start in job id order (first enqueued, first sent). A store
    job may overtake a job that waits for its next try. *Ordered* jobs (every MPPS job, and any
    job whose payload has ``"ordered": true``) are strictly sequential among themselves per
    destination: one starts only when every earlier ordered job of that destination is DONE or
    CANCELLED, so an N-SET never overtakes its N-CREATE (PS3.4 Annex F: the SCU creates the
    MPPS instance, then updates it), also not a failed one (retry or cancel the failed job to
    let the others go). Give the N-CREATE and N-SET jobs of one MPPS distinct ``sop_uid`` keys
    (or none), else the second is taken for a duplicate of the first.
Concurrency
    At most ``concurrency[destination]`` (default 1) jobs of a destination run at once, and a
    job never runs on two threads at once: one dispatcher per outbox file (an OS file lock,
    released by the OS if the process dies), and a job is claimed (RUNNING) in one transaction.
"""

from __future__ import annotations

import contextlib
import enum
import json
import logging
import os
import random
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from izer.dispatch.backoff import backoff_delay
from izer.dispatch.errors import DeliveryError

log = logging.getLogger(__name__)

OUTBOX_NAME = "outbox.sqlite"


class JobKind(enum.StrEnum):
    """What a job does at its destination."""

    STORE = "store"
    COMMIT = "commit"
    MPPS = "mpps"
    PRINT = "print"
    MEDIA = "media"


class JobState(enum.StrEnum):
    """Where a job is in its life (see the module documentation)."""

    QUEUED = "queued"
    RUNNING = "running"
    WAITING = "waiting"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


#: States of a job that still has work to do.
PENDING_STATES = frozenset({JobState.QUEUED, JobState.RUNNING, JobState.WAITING})

#: Kinds whose jobs are strictly ordered per destination whatever their payload says.
ORDERED_KINDS = frozenset({JobKind.MPPS})


@dataclass(frozen=True)
class Job:
    """A snapshot of one job as stored in the outbox."""

    job_id: int
    kind: JobKind
    destination: str
    sop_uid: str | None
    study_uid: str | None
    payload: dict[str, Any]
    state: JobState
    attempts: int
    next_try_at: datetime | None
    last_error: str
    bytes_total: int
    bytes_done: int
    created_at: datetime
    updated_at: datetime

    @property
    def ordered(self) -> bool:
        """True when the job waits for every earlier ordered job of its destination."""
        return _is_ordered(self.kind, self.payload)

    @property
    def pending(self) -> bool:
        """True while the job still has work to do (queued, running or waiting)."""
        return self.state in PENDING_STATES


#: ``handler(job, progress)``: does the job or raises :class:`DeliveryError`. ``progress(done,
#: total)`` reports bytes sent; it raises :class:`JobInterrupted` when the job was cancelled or
#: the dispatcher is stopping: let that propagate (wrapping it is fine too).
Handler = Callable[[Job, Callable[[int, int], None]], None]


class JobInterrupted(Exception):
    """Raised by a handler's ``progress`` callback to stop a job that was cancelled or when the
    dispatcher stops; the job is then cancelled or queued again, not counted as failed."""


class OutboxSchemaError(RuntimeError):
    """The outbox file was written by a newer izer than this one."""


class DispatcherBusyError(RuntimeError):
    """Another dispatcher (in this or another process) already runs this outbox's jobs."""


@dataclass(frozen=True)
class DestinationProgress:
    """Jobs of one study at one destination, counted by state, and their bytes."""

    destination: str
    queued: int = 0
    waiting: int = 0
    sending: int = 0
    sent: int = 0
    failed: int = 0
    cancelled: int = 0
    bytes_done: int = 0
    bytes_total: int = 0

    @property
    def total(self) -> int:
        """Jobs that count (all but the cancelled ones)."""
        return self.queued + self.waiting + self.sending + self.sent + self.failed

    @property
    def finished(self) -> bool:
        """True when nothing is left to try (every job sent, failed or cancelled)."""
        return self.queued + self.waiting + self.sending == 0


@dataclass(frozen=True)
class StudyProgress:
    """Delivery of one study: one :class:`DestinationProgress` per destination."""

    study_uid: str
    destinations: dict[str, DestinationProgress] = field(default_factory=dict)

    @property
    def sent(self) -> int:
        """Jobs delivered, over all destinations."""
        return sum(p.sent for p in self.destinations.values())

    @property
    def total(self) -> int:
        """Jobs not cancelled, over all destinations."""
        return sum(p.total for p in self.destinations.values())

    @property
    def failed(self) -> int:
        """Jobs given up, over all destinations."""
        return sum(p.failed for p in self.destinations.values())

    @property
    def bytes_done(self) -> int:
        """Bytes sent, over all destinations."""
        return sum(p.bytes_done for p in self.destinations.values())

    @property
    def bytes_total(self) -> int:
        """Bytes to send, over all destinations."""
        return sum(p.bytes_total for p in self.destinations.values())

    @property
    def finished(self) -> bool:
        """True when no destination has anything left to try."""
        return all(p.finished for p in self.destinations.values())


#: Each entry takes the outbox schema from version ``index`` to ``index + 1``. Append only.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE jobs (
        job_id INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL,
        destination TEXT NOT NULL,
        sop_uid TEXT,
        study_uid TEXT,
        payload TEXT NOT NULL DEFAULT '{}',
        ordered INTEGER NOT NULL DEFAULT 0,
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_try_at TEXT,
        last_error TEXT NOT NULL DEFAULT '',
        bytes_total INTEGER NOT NULL DEFAULT 0,
        bytes_done INTEGER NOT NULL DEFAULT 0,
        cancel_requested INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE UNIQUE INDEX jobs_identity ON jobs (kind, destination, sop_uid)
        WHERE sop_uid IS NOT NULL AND state <> 'cancelled';
    CREATE INDEX jobs_by_state ON jobs (state, destination, job_id);
    CREATE INDEX jobs_by_study ON jobs (study_uid);
    CREATE TABLE paused (
        destination TEXT PRIMARY KEY,
        since TEXT NOT NULL
    );
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)

_COLUMNS = (
    "job_id, kind, destination, sop_uid, study_uid, payload, state, attempts, next_try_at, "
    "last_error, bytes_total, bytes_done, created_at, updated_at"
)


def _migrate(db: sqlite3.Connection, path: Path) -> None:
    (found,) = db.execute("PRAGMA user_version").fetchone()
    if found > SCHEMA_VERSION:
        raise OutboxSchemaError(
            f"{path}: outbox schema version {found}, this izer knows up to {SCHEMA_VERSION}; "
            "upgrade izer"
        )
    for version in range(found, SCHEMA_VERSION):
        try:
            db.executescript(
                "BEGIN IMMEDIATE;"
                + MIGRATIONS[version]
                + f"PRAGMA user_version = {version + 1}; COMMIT;"
            )
        except sqlite3.Error:
            if db.in_transaction:
                db.rollback()
            raise


def connect_outbox(
    path: Path | str,
    setup: Callable[[sqlite3.Connection], object],
    *,
    wal: bool = False,
) -> sqlite3.Connection:
    """A connection to the outbox file as its users open one, closed again if ``setup`` fails.

    Autocommit (transactions are explicit), shareable between threads (the caller locks),
    30 s busy timeout, ``synchronous=FULL`` (in WAL mode NORMAL may lose the last commits on
    a power cut); ``wal`` switches the file to WAL first. ``setup`` then creates or migrates
    the tables.
    """
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30.0)
    try:
        if wal:
            mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                log.warning("outbox %s: WAL not available here (journal mode %s)", path, mode)
        db.execute("PRAGMA synchronous=FULL")
        setup(db)
    except BaseException:
        db.close()
        raise
    return db


def _is_ordered(kind: JobKind, payload: Mapping[str, Any]) -> bool:
    return kind in ORDERED_KINDS or bool(payload.get("ordered"))


def _utc(moment: datetime) -> datetime:
    """Aware UTC; a naive datetime from an injected clock is taken as UTC."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _text(moment: datetime) -> str:
    # Fixed width, always UTC: the text sorts as the time does, so SQL can compare it.
    return _utc(moment).isoformat(timespec="microseconds")


def _moment(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _job(row: Sequence[Any]) -> Job:
    return Job(
        job_id=row[0],
        kind=JobKind(row[1]),
        destination=row[2],
        sop_uid=row[3],
        study_uid=row[4],
        payload=json.loads(row[5]),
        state=JobState(row[6]),
        attempts=row[7],
        next_try_at=_moment(row[8]),
        last_error=row[9],
        bytes_total=row[10],
        bytes_done=row[11],
        created_at=_moment(row[12]),  # type: ignore[arg-type]
        updated_at=_moment(row[13]),  # type: ignore[arg-type]
    )


def _selection(job_ids: Iterable[int] | None, destination: str | None) -> tuple[str, list[Any]]:
    """A WHERE fragment (always true when both are None) and its arguments."""
    clauses, args = [], []
    if job_ids is not None:
        ids = [int(i) for i in job_ids]
        clauses.append(f"job_id IN ({','.join('?' * len(ids))})" if ids else "0")
        args.extend(ids)
    if destination is not None:
        clauses.append("destination = ?")
        args.append(destination)
    return (" AND ".join(clauses) or "1"), args


@dataclass
class _Claim:
    jobs: list[Job]
    next_due: datetime | None
    waiting: int


Listener = Callable[[list[Job]], None]


class Outbox:
    """The job queue in its SQLite file; safe to use from several threads and processes.

    Parameters
    ----------
    path
        The outbox file (created when missing), or an existing folder to hold
        :data:`OUTBOX_NAME`. Its own file, not the study index: the index may lose its last
        commits on a power cut and be rebuilt from the files, the outbox may not.
    backoff_base_s, backoff_cap_s
        A job that failed for the n-th time waits ``base * 2 ** (n - 1)`` seconds, at most
        the cap, less a random fraction of at most ``jitter``.
    max_attempts
        Attempts before a job that keeps failing transiently is FAILED.
    clock
        Current time (aware, UTC); tests inject one to step through the backoff schedule.
    jitter, rng
        Largest fraction taken off a backoff delay, and the random source for it.

    Raises
    ------
    OutboxSchemaError
        When the file comes from a newer izer.
    """

    def __init__(
        self,
        path: Path,
        *,
        backoff_base_s: float = 5.0,
        backoff_cap_s: float = 600.0,
        max_attempts: int = 10,
        clock: Callable[[], datetime] | None = None,
        jitter: float = 0.1,
        rng: random.Random | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be 1 or more, got {max_attempts}")
        if backoff_base_s < 0 or backoff_cap_s < backoff_base_s:
            raise ValueError(
                f"backoff base ({backoff_base_s} s) must be >= 0 and at most the cap "
                f"({backoff_cap_s} s)"
            )
        backoff_delay(1, base_s=backoff_base_s, cap_s=backoff_cap_s, jitter=jitter)  # checks
        path = Path(path)
        if path.is_dir():
            path = path / OUTBOX_NAME
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.backoff_base_s = backoff_base_s
        self.backoff_cap_s = backoff_cap_s
        self.max_attempts = max_attempts
        self.jitter = jitter
        self._rng = rng or random.Random()
        self._clock = clock or (lambda: datetime.now(UTC))
        self._lock = threading.RLock()
        self._listeners: list[Listener] = []
        self._cancelling: set[int] = set()
        # FULL: a job must be on disk before enqueue returns, and the outbox cannot be rebuilt
        # from the files.
        self._db = connect_outbox(path, lambda db: _migrate(db, path), wal=True)

    # -- life -------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the file; stop any dispatcher first."""
        with self._lock:
            self._db.close()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the user's side ----------------------------------------------------------------------

    def enqueue(
        self,
        kind: JobKind | str,
        destination: str,
        *,
        sop_uid: str | None = None,
        study_uid: str | None = None,
        payload: Mapping[str, Any] | None = None,
        bytes_total: int = 0,
        force: bool = False,
    ) -> Job:
        """Add a job, durably (on disk when this returns), or return the one already there.

        With a ``sop_uid``, an existing not-cancelled job of the same ``(kind, destination,
        sop_uid)`` is returned instead of a new one. ``force=True`` makes that job do its work
        again: a DONE or FAILED job is queued afresh (attempts from zero, the new payload and
        size), a WAITING one becomes due now; a QUEUED or RUNNING one is left as it is. A
        RUNNING job that was being cancelled is no longer cancelled, with or without
        ``force`` (if its handler was already interrupted, it is queued again).

        Parameters
        ----------
        kind
            What to do (:class:`JobKind`).
        destination
            The destination's name in the settings.
        sop_uid, study_uid
            The instance and study the job is about, when it is about one.
        payload
            What the handler needs (paths, MPPS attributes ...); JSON-serializable.
            ``{"ordered": True}`` makes the job strictly ordered (see the module docs).
        bytes_total
            Size to send, for progress; the handler may correct it.
        """
        kind = JobKind(kind)
        if not destination:
            raise ValueError("enqueue: destination must be a destination name, got nothing")
        if bytes_total < 0:
            raise ValueError(f"enqueue: bytes_total must not be negative, got {bytes_total}")
        body = dict(payload or {})
        try:
            body_text = json.dumps(body, sort_keys=True)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"enqueue: the payload must be JSON data (str, numbers, lists, dicts): {exc}"
            ) from exc
        now = _text(self._now())
        changed: list[Job] = []
        with self._transaction() as db:
            row = None
            if sop_uid is not None:
                row = db.execute(
                    f"SELECT {_COLUMNS}, cancel_requested FROM jobs WHERE kind = ? AND "
                    "destination = ? AND sop_uid = ? AND state <> 'cancelled'",
                    (kind.value, destination, sop_uid),
                ).fetchone()
            if row is None:
                row = db.execute(
                    "INSERT INTO jobs (kind, destination, sop_uid, study_uid, payload, ordered, "
                    "state, bytes_total, created_at, updated_at) "
                    f"VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING {_COLUMNS}",
                    (
                        kind.value,
                        destination,
                        sop_uid,
                        study_uid,
                        body_text,
                        int(_is_ordered(kind, body)),
                        JobState.QUEUED.value,
                        bytes_total,
                        now,
                        now,
                    ),
                ).fetchone()
                changed.append(_job(row))
            elif force or row[14]:  # row[14]: running, but asked to stop: take that back
                forced = self._force(db, row, body_text, body, bytes_total, now)
                if forced is not None:
                    row = forced
                    changed.append(_job(row))
            result = _job(row)
        if changed:
            self._cancelling.discard(result.job_id)
        self._notify(changed)
        return result

    def _force(
        self,
        db: sqlite3.Connection,
        found: Sequence[Any],
        body_text: str,
        body: dict[str, Any],
        bytes_total: int,
        now: str,
    ) -> Sequence[Any] | None:
        """Make an existing job do its work again; ``None`` when there is nothing to change."""
        job, cancel_requested = _job(found), bool(found[14])
        if job.state in (JobState.DONE, JobState.FAILED):
            return db.execute(
                "UPDATE jobs SET state = 'queued', attempts = 0, next_try_at = NULL, "
                "last_error = CASE WHEN state = 'done' THEN '' ELSE last_error END, "
                "payload = ?, ordered = ?, bytes_total = ?, bytes_done = 0, "
                "cancel_requested = 0, updated_at = ? "
                f"WHERE job_id = ? RETURNING {_COLUMNS}",
                (
                    body_text,
                    int(_is_ordered(job.kind, body)),
                    bytes_total or job.bytes_total,
                    now,
                    job.job_id,
                ),
            ).fetchone()
        if job.state is JobState.WAITING or cancel_requested:
            return db.execute(
                "UPDATE jobs SET state = CASE WHEN state = 'waiting' THEN 'queued' ELSE state END,"
                " next_try_at = NULL, cancel_requested = 0, updated_at = ? "
                f"WHERE job_id = ? RETURNING {_COLUMNS}",
                (now, job.job_id),
            ).fetchone()
        return None

    def job(self, job_id: int) -> Job | None:
        """One job by its id."""
        with self._lock:
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM jobs WHERE job_id = ?", (job_id,)
            ).fetchone()
        return None if row is None else _job(row)

    def jobs(
        self,
        *,
        destination: str | None = None,
        study_uid: str | None = None,
        states: Iterable[JobState | str] | None = None,
        kind: JobKind | str | None = None,
        sop_uid: str | None = None,
    ) -> list[Job]:
        """Jobs matching every filter given, in job id order."""
        clauses, args = [], []
        for column, value in (
            ("destination", destination),
            ("study_uid", study_uid),
            ("kind", None if kind is None else JobKind(kind).value),
            ("sop_uid", sop_uid),
        ):
            if value is not None:
                clauses.append(f"{column} = ?")
                args.append(value)
        if states is not None:
            wanted = [JobState(s).value for s in states]
            clauses.append(f"state IN ({','.join('?' * len(wanted))})" if wanted else "0")
            args.extend(wanted)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM jobs{where} ORDER BY job_id", args
            ).fetchall()
        return [_job(row) for row in rows]

    def retry(self, job_ids: Iterable[int] | None = None, *, destination: str | None = None) -> int:
        """Try FAILED and WAITING jobs now; return how many.

        A FAILED job starts again with zero attempts (its last error stays visible until the
        next outcome); a WAITING job keeps its attempts. With neither ``job_ids`` nor
        ``destination``, every such job is retried.
        """
        where, args = _selection(job_ids, destination)
        with self._transaction() as db:
            rows = db.execute(
                "UPDATE jobs SET state = 'queued', next_try_at = NULL, updated_at = ?, "
                "attempts = CASE WHEN state = 'failed' THEN 0 ELSE attempts END "
                f"WHERE state IN ('failed', 'waiting') AND {where} RETURNING {_COLUMNS}",
                [_text(self._now()), *args],
            ).fetchall()
        changed = sorted((_job(row) for row in rows), key=lambda j: j.job_id)
        self._notify(changed)
        return len(changed)

    def cancel(
        self, job_ids: Iterable[int] | None = None, *, destination: str | None = None
    ) -> int:
        """Cancel jobs not yet done; return how many.

        QUEUED, WAITING and FAILED jobs are CANCELLED at once. A RUNNING job is asked to stop
        (its handler's ``progress`` raises :class:`JobInterrupted`) and becomes CANCELLED when
        its handler returns, or DONE if it had delivered. With neither ``job_ids`` nor
        ``destination``, every pending job is cancelled.
        """
        where, args = _selection(job_ids, destination)
        now = _text(self._now())
        with self._transaction() as db:
            rows = db.execute(
                f"UPDATE jobs SET state = 'cancelled', next_try_at = NULL, updated_at = ? "
                f"WHERE state IN ('queued', 'waiting', 'failed') AND {where} "
                f"RETURNING {_COLUMNS}",
                [now, *args],
            ).fetchall()
            running = db.execute(
                "UPDATE jobs SET cancel_requested = 1, updated_at = ? "
                f"WHERE state = 'running' AND {where} RETURNING job_id",
                [now, *args],
            ).fetchall()
        self._cancelling.update(row[0] for row in running)
        changed = sorted((_job(row) for row in rows), key=lambda j: j.job_id)
        self._notify(changed)
        return len(changed) + len(running)

    def pause(self, destination: str) -> None:
        """Start no new job for ``destination`` (running ones finish); kept across restarts."""
        with self._transaction() as db:
            db.execute(
                "INSERT INTO paused (destination, since) VALUES (?, ?) "
                "ON CONFLICT (destination) DO NOTHING",
                (destination, _text(self._now())),
            )
        self._notify([])

    def resume(self, destination: str) -> None:
        """Undo :meth:`pause`."""
        with self._transaction() as db:
            db.execute("DELETE FROM paused WHERE destination = ?", (destination,))
        self._notify([])

    def paused(self) -> set[str]:
        """The paused destinations."""
        with self._lock:
            return {row[0] for row in self._db.execute("SELECT destination FROM paused")}

    def study_progress(
        self, study_uid: str, *, kind: JobKind | str = JobKind.STORE
    ) -> StudyProgress:
        """How far the delivery of a study is, per destination (store jobs by default).

        Bytes count jobs that are not cancelled; a running job's bytes are those last saved
        (the dispatcher saves them every ``progress_interval_s`` and when a job ends).
        """
        with self._lock:
            rows = self._db.execute(
                "SELECT destination, state, COUNT(*), SUM(bytes_done), SUM(bytes_total) "
                "FROM jobs WHERE study_uid = ? AND kind = ? GROUP BY destination, state",
                (study_uid, JobKind(kind).value),
            ).fetchall()
        fields = {
            JobState.QUEUED: "queued",
            JobState.WAITING: "waiting",
            JobState.RUNNING: "sending",
            JobState.DONE: "sent",
            JobState.FAILED: "failed",
            JobState.CANCELLED: "cancelled",
        }
        counts: dict[str, dict[str, int]] = {}
        for destination, state, count, done, total in rows:
            entry = counts.setdefault(destination, {"bytes_done": 0, "bytes_total": 0})
            entry[fields[JobState(state)]] = count
            if state != JobState.CANCELLED:
                entry["bytes_done"] += done or 0
                entry["bytes_total"] += total or 0
        return StudyProgress(
            study_uid,
            {name: DestinationProgress(name, **entry) for name, entry in sorted(counts.items())},
        )

    # -- the dispatcher's side ----------------------------------------------------------------

    def _now(self) -> datetime:
        return _utc(self._clock())

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def _subscribe(self, listener: Listener) -> None:
        with self._lock:
            self._listeners.append(listener)

    def _unsubscribe(self, listener: Listener) -> None:
        with self._lock, contextlib.suppress(ValueError):
            self._listeners.remove(listener)

    def _notify(self, jobs: list[Job]) -> None:
        """Tell the listeners (a dispatcher) what changed; an empty list means "look again"."""
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(jobs)
            except Exception:
                log.exception("outbox listener failed")

    def _cancel_requested(self, job_id: int) -> bool:
        return job_id in self._cancelling

    def _recover(self) -> list[Job]:
        """Queue again the jobs left RUNNING by a process that died (attempts kept)."""
        with self._transaction() as db:
            rows = db.execute(
                "UPDATE jobs SET state = CASE WHEN cancel_requested THEN 'cancelled' "
                "ELSE 'queued' END, next_try_at = NULL, cancel_requested = 0, updated_at = ? "
                f"WHERE state = 'running' RETURNING {_COLUMNS}",
                (_text(self._now()),),
            ).fetchall()
        recovered = sorted((_job(row) for row in rows), key=lambda j: j.job_id)
        for job in recovered:
            log.info(
                "job %d (%s to %s) was interrupted by a stop or crash: %s",
                job.job_id,
                job.kind,
                job.destination,
                "cancelled as asked" if job.state is JobState.CANCELLED else "queued again",
            )
        return recovered

    def _claim(self, kinds: Iterable[JobKind], limit_of: Callable[[str], int]) -> _Claim:
        """Mark RUNNING, in one transaction, the jobs that may start now (see module docs).

        Also returns when the next waiting job falls due and how many jobs wait for a retry,
        so that the dispatcher knows how long it may sleep.
        """
        handled = {JobKind(k).value for k in kinds}
        now = self._now()
        now_text = _text(now)
        with self._transaction() as db:
            paused = {row[0] for row in db.execute("SELECT destination FROM paused")}
            rows = db.execute(
                "SELECT job_id, destination, kind, ordered, state, next_try_at FROM jobs "
                "WHERE state IN ('queued', 'waiting', 'running') "
                "OR (state = 'failed' AND ordered = 1) ORDER BY job_id"
            ).fetchall()
            running = Counter(row[1] for row in rows if row[4] == JobState.RUNNING)
            held: set[str] = set()  # destinations whose next ordered job must wait
            chosen: list[int] = []
            next_due: str | None = None
            waiting = 0
            for job_id, destination, kind, ordered, state, next_try in rows:
                blocked = bool(ordered) and destination in held
                if ordered:
                    held.add(destination)
                if state in (JobState.RUNNING, JobState.FAILED):
                    continue
                if kind not in handled or destination in paused:
                    continue
                if state == JobState.WAITING:
                    waiting += 1
                if blocked:
                    continue
                if state == JobState.WAITING and next_try is not None and next_try > now_text:
                    next_due = next_try if next_due is None else min(next_due, next_try)
                    continue
                if running[destination] >= limit_of(destination):
                    continue
                running[destination] += 1
                chosen.append(job_id)
            claimed: list[Job] = []
            if chosen:
                marks = ",".join("?" * len(chosen))
                claimed = [
                    _job(row)
                    for row in db.execute(
                        "UPDATE jobs SET state = 'running', attempts = attempts + 1, "
                        f"next_try_at = NULL, updated_at = ? WHERE job_id IN ({marks}) "
                        f"RETURNING {_COLUMNS}",
                        [now_text, *chosen],
                    ).fetchall()
                ]
        claimed.sort(key=lambda j: j.job_id)
        return _Claim(claimed, _moment(next_due), waiting)

    def _save_progress(self, job_id: int, done: int, total: int) -> tuple[Job | None, bool]:
        """Store a running job's bytes; return it and whether someone asked to cancel it."""
        with self._transaction() as db:
            row = db.execute(
                "UPDATE jobs SET bytes_done = ?, "
                "bytes_total = CASE WHEN ? > 0 THEN ? ELSE bytes_total END, updated_at = ? "
                f"WHERE job_id = ? AND state = 'running' RETURNING {_COLUMNS}, cancel_requested",
                (done, total, total, _text(self._now()), job_id),
            ).fetchone()
        if row is None:
            return None, False
        return _job(row), bool(row[14])

    def _finish(
        self,
        job_id: int,
        *,
        error: str | None = None,
        transient: bool = True,
        interrupted: bool = False,
    ) -> Job | None:
        """Record how a RUNNING job ended: DONE, WAITING, FAILED, QUEUED or CANCELLED."""
        now = self._now()
        with self._transaction() as db:
            found = db.execute(
                "SELECT attempts, cancel_requested FROM jobs WHERE job_id = ? AND "
                "state = 'running'",
                (job_id,),
            ).fetchone()
            if found is None:
                return None
            attempts, cancel_requested = found
            cancel = bool(cancel_requested) or job_id in self._cancelling
            next_try: str | None = None
            if error is None:
                state, message = JobState.DONE, ""
            elif interrupted:
                state = JobState.CANCELLED if cancel else JobState.QUEUED
                message = "cancelled while sending" if cancel else ""
            elif cancel:
                state, message = JobState.CANCELLED, error
            elif not transient:
                state, message = JobState.FAILED, error
            elif attempts >= self.max_attempts:
                state, message = JobState.FAILED, f"{error} (gave up after {attempts} attempts)"
            else:
                delay = backoff_delay(
                    attempts,
                    base_s=self.backoff_base_s,
                    cap_s=self.backoff_cap_s,
                    jitter=self.jitter,
                    rng=self._rng,
                )
                state, message = JobState.WAITING, error
                next_try = _text(now + timedelta(seconds=delay))
            if error is None:
                update = "bytes_total = MAX(bytes_total, bytes_done), last_error = '', "
                update += "bytes_done = MAX(bytes_total, bytes_done), "
                args: list[Any] = []
            elif interrupted and not cancel:
                update, args = "", []  # a stop is not an outcome: the last error stays
            else:
                update, args = "last_error = ?, ", [message]
            row = db.execute(
                f"UPDATE jobs SET {update}state = ?, next_try_at = ?, cancel_requested = 0, "
                f"updated_at = ? WHERE job_id = ? RETURNING {_COLUMNS}",
                [*args, state.value, next_try, _text(now), job_id],
            ).fetchone()
        self._cancelling.discard(job_id)
        return _job(row)


class _DispatchLock:
    """An exclusive OS lock on ``<outbox>.lock``: one dispatcher per outbox, even across
    processes; the OS releases it when the holder dies."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle: IO[str] | None = None

    def acquire(self) -> None:
        handle = open(self.path, "a+", encoding="ascii")  # noqa: SIM115 - held while dispatching
        try:
            _lock_file(handle)
        except OSError as exc:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise DispatcherBusyError(
                f"another izer (process {holder}) is already sending the jobs of "
                f"{self.path.with_suffix('')}; stop it first, or let it send these jobs"
            ) from exc
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._handle = handle

    def release(self) -> None:
        if self._handle is not None:
            with contextlib.suppress(OSError):
                _unlock_file(self._handle)
            self._handle.close()
            self._handle = None


if os.name == "nt":  # pragma: no cover - Windows
    import msvcrt

    def _lock_file(handle: IO[str]) -> None:
        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)

    def _unlock_file(handle: IO[str]) -> None:
        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _lock_file(handle: IO[str]) -> None:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)

    def _unlock_file(handle: IO[str]) -> None:
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


class _Progress:
    """The ``progress`` callback given to a handler: saves bytes at a coarse rate and raises
    :class:`JobInterrupted` when the job should stop."""

    def __init__(self, dispatcher: Dispatcher, job: Job) -> None:
        self._dispatcher = dispatcher
        self._job_id = job.job_id
        self._saved = (job.bytes_done, job.bytes_total)
        self._saved_at = time.monotonic()
        self.interrupted = False

    def __call__(self, done: int, total: int) -> None:
        dispatcher = self._dispatcher
        self._check()
        done, total = max(0, int(done)), max(0, int(total))
        now = time.monotonic()
        finished = total > 0 and done >= total
        due = now - self._saved_at >= dispatcher.progress_interval_s
        if (done, total) == self._saved or not (finished or due):
            return
        self._saved, self._saved_at = (done, total), now
        job, cancel = dispatcher.outbox._save_progress(self._job_id, done, total)
        if job is not None:
            dispatcher._emit([job])
        if cancel:  # asked from another process (izer queue cancel)
            self.interrupted = True
            raise JobInterrupted(f"job {self._job_id} was cancelled")
        self._check()

    def _check(self) -> None:
        dispatcher = self._dispatcher
        if dispatcher.outbox._cancel_requested(self._job_id):
            self.interrupted = True
            raise JobInterrupted(f"job {self._job_id} was cancelled")
        if dispatcher._stopping:
            self.interrupted = True
            raise JobInterrupted(f"job {self._job_id} interrupted: izer is stopping")


class Dispatcher:
    """Runs the outbox's jobs on worker threads, one handler per job kind.

    A scheduler thread claims the jobs that may start (see the module docs for order and
    concurrency) and gives each to a new worker thread; it sleeps until something changes in
    this process's outbox, a waiting job falls due, or ``poll_s`` passes (changes made by
    another process, such as ``izer queue retry``, are seen at the next poll). Jobs of kinds
    without a handler are left queued.

    Parameters
    ----------
    outbox
        The jobs.
    handlers
        What runs a job of each kind; it raises :class:`DeliveryError` when it fails.
    concurrency, default_concurrency
        Jobs of a destination that may run at once, by destination name.
    on_job
        Called with a fresh :class:`Job` on every state change (from any thread, also for
        changes made through the outbox while the dispatcher runs) and at every saved
        progress step; must be quick and must not raise.
    poll_s
        Longest sleep of the scheduler.
    progress_interval_s
        Shortest time between two saves of a job's bytes.
    """

    def __init__(
        self,
        outbox: Outbox,
        handlers: Mapping[JobKind, Handler],
        *,
        concurrency: Mapping[str, int] | None = None,
        default_concurrency: int = 1,
        on_job: Callable[[Job], None] | None = None,
        poll_s: float = 0.5,
        progress_interval_s: float = 0.5,
    ) -> None:
        limits = dict(concurrency or {})
        for name, value in [*limits.items(), ("default", default_concurrency)]:
            if int(value) < 1:
                raise ValueError(f"concurrency for {name} must be 1 or more, got {value}")
        if poll_s <= 0:
            raise ValueError(f"poll_s must be positive, got {poll_s}")
        self.outbox = outbox
        self.handlers = {JobKind(kind): handler for kind, handler in handlers.items()}
        self.concurrency = limits
        self.default_concurrency = default_concurrency
        self.on_job = on_job
        self.poll_s = poll_s
        self.progress_interval_s = progress_interval_s
        self._cond = threading.Condition()
        self._woken = False
        self._stopping = False
        self._in_pass = False
        self._passes = 0
        self._last_claimed = 0
        self._last_waiting = 0
        self._scheduler: threading.Thread | None = None
        self._scheduling = False
        self._workers: dict[int, threading.Thread] = {}
        self._file_lock = _DispatchLock(outbox.path.with_name(outbox.path.name + ".lock"))

    # -- control ------------------------------------------------------------------------------

    def start(self) -> None:
        """Take the outbox (one dispatcher per file), re-queue crashed jobs, start working.

        Raises
        ------
        DispatcherBusyError
            When another dispatcher already works on this outbox.
        RuntimeError
            When this dispatcher is already started, or still finishing jobs after a stop.
        """
        with self._cond:
            if self._scheduler is not None or self._workers:
                raise RuntimeError("dispatcher already started (or still finishing its jobs)")
            self._file_lock.acquire()
            self._stopping = False
            self._woken = True
            self._passes = 0
        try:
            recovered = self.outbox._recover()
        except BaseException:
            self._file_lock.release()
            raise
        self._emit(recovered)
        self.outbox._subscribe(self._changed)
        scheduler = threading.Thread(target=self._schedule, name="izer-outbox", daemon=True)
        with self._cond:
            self._scheduler = scheduler
            self._scheduling = True
        scheduler.start()

    def wake(self) -> None:
        """Look for jobs to start now (after the clock moved, or a change elsewhere)."""
        with self._cond:
            self._woken = True
            self._cond.notify_all()

    def stop(self, timeout_s: float = 10.0) -> bool:
        """Start no more jobs, interrupt running ones at their next progress report, and wait.

        Interrupted jobs are queued again (attempts kept). Returns ``True`` when every thread
        ended within ``timeout_s``; otherwise the stragglers finish their job in the
        background (never started twice: the outbox stays taken until the last one ends).
        """
        deadline = time.monotonic() + max(0.0, timeout_s)
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
            scheduler = self._scheduler
        if scheduler is not None:
            scheduler.join(max(0.0, deadline - time.monotonic()))
        with self._cond:
            workers = list(self._workers.values())
        for worker in workers:
            worker.join(max(0.0, deadline - time.monotonic()))
        self.outbox._unsubscribe(self._changed)
        with self._cond:
            self._release_if_done()
            return self._scheduler is None

    def run_until_idle(self, timeout_s: float, *, wait_for_retries: bool = False) -> bool:
        """Work until nothing is running and nothing can start now; ``False`` on timeout.

        Starts the dispatcher for the time of the call when it is not running. Jobs waiting
        for a later retry, paused destinations and kinds without handler do not count, unless
        ``wait_for_retries`` is set: then waiting jobs must end too.
        """
        started_here = self._scheduler is None
        if started_here:
            self.start()
        deadline = time.monotonic() + timeout_s
        try:
            with self._cond:
                self._woken = True
                self._cond.notify_all()
                while not self._idle(wait_for_retries):
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return False
                    self._cond.wait(min(remaining, self.poll_s))
                return True
        finally:
            if started_here:
                self.stop(timeout_s=max(5.0, deadline - time.monotonic()))

    # -- the threads --------------------------------------------------------------------------

    def _idle(self, wait_for_retries: bool) -> bool:
        return (
            self._passes > 0
            and not self._woken
            and not self._in_pass
            and not self._workers
            and self._last_claimed == 0
            and not (wait_for_retries and self._last_waiting)
        )

    def _limit(self, destination: str) -> int:
        return int(self.concurrency.get(destination, self.default_concurrency))

    def _schedule(self) -> None:
        sleep = 0.0
        while True:
            with self._cond:
                if not self._woken and not self._stopping:
                    self._cond.wait(sleep)
                if self._stopping:
                    self._scheduling = False
                    self._release_if_done()
                    self._cond.notify_all()
                    return
                self._woken = False
                self._in_pass = True
            claimed: list[Job] = []
            waiting, sleep = 0, self.poll_s
            try:
                claim = self.outbox._claim(self.handlers, self._limit)
                claimed, waiting = claim.jobs, claim.waiting
                if claim.next_due is not None:
                    due_in = (claim.next_due - self.outbox._now()).total_seconds()
                    sleep = min(self.poll_s, max(0.0, due_in))
            except Exception:
                log.exception("outbox: could not look for jobs to start; trying again")
            self._emit(claimed)  # RUNNING is reported before the job can end
            with self._cond:
                stopping = self._stopping
                if not stopping:
                    for job in claimed:
                        worker = threading.Thread(
                            target=self._work,
                            args=(job,),
                            name=f"izer-job-{job.job_id}",
                            daemon=True,
                        )
                        self._workers[job.job_id] = worker
                        worker.start()
                self._in_pass = False
                self._passes += 1
                self._last_claimed = len(claimed)
                self._last_waiting = waiting
                self._cond.notify_all()
            if stopping:  # claimed while stop() was called: give them back untouched
                for job in claimed:
                    self._emit([self.outbox._finish(job.job_id, error="", interrupted=True)])

    def _release_if_done(self) -> None:
        """With ``_cond`` held: free the outbox once stopped and every thread has ended."""
        if self._stopping and not self._scheduling and not self._workers:
            self._scheduler = None
            self._file_lock.release()

    def _work(self, job: Job) -> None:
        progress = _Progress(self, job)
        ended: Job | None = None
        try:
            ended = self._run(job, progress)
        except Exception:
            log.exception("outbox: could not record the end of job %d", job.job_id)
        finally:
            with self._cond:
                self._workers.pop(job.job_id, None)
                self._woken = True
                self._release_if_done()
                self._cond.notify_all()
        if ended is not None:
            self._emit([ended])

    def _run(self, job: Job, progress: _Progress) -> Job | None:
        handler = self.handlers[job.kind]
        try:
            handler(job, progress)
        except BaseException as exc:
            if progress.interrupted or isinstance(exc, JobInterrupted):
                log.info("job %d (%s to %s) interrupted", job.job_id, job.kind, job.destination)
                return self.outbox._finish(job.job_id, error=str(exc), interrupted=True)
            if isinstance(exc, DeliveryError):
                message = str(exc) or f"{job.kind} to {job.destination} failed (no reason given)"
                log.warning("job %d: %s", job.job_id, message)
                return self.outbox._finish(job.job_id, error=message, transient=exc.transient)
            if isinstance(exc, Exception):
                log.exception("job %d: unexpected error in the %s handler", job.job_id, job.kind)
                message = f"unexpected {type(exc).__name__} while sending: {exc}"
                return self.outbox._finish(job.job_id, error=message, transient=True)
            # SystemExit or KeyboardInterrupt on a worker thread: not the job's fault.
            log.warning("job %d interrupted by %s", job.job_id, type(exc).__name__)
            return self.outbox._finish(job.job_id, error=repr(exc), interrupted=True)
        return self.outbox._finish(job.job_id)

    def _changed(self, jobs: list[Job]) -> None:
        """Outbox listener: report the change, and look for work unless it is only progress."""
        self._emit(jobs)
        if not jobs or any(job.state is not JobState.RUNNING for job in jobs):
            self.wake()

    def _emit(self, jobs: Sequence[Job | None]) -> None:
        if self.on_job is None:
            return
        for job in jobs:
            if job is None:
                continue
            try:
                self.on_job(job)
            except Exception:
                log.exception("on_job callback failed for job %d", job.job_id)


__all__ = [
    "OUTBOX_NAME",
    "PENDING_STATES",
    "DestinationProgress",
    "Dispatcher",
    "DispatcherBusyError",
    "Handler",
    "Job",
    "JobInterrupted",
    "JobKind",
    "JobState",
    "Outbox",
    "OutboxSchemaError",
    "StudyProgress",
    "connect_outbox",
]
