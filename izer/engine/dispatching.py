"""Sending for the engine: the outbox, its dispatcher, and a sink for each kind of job.

:class:`DispatchController` (``engine.dispatch``) turns "send these to there" into outbox jobs
and runs them (:mod:`izer.dispatch.outbox` has the rules on order, retries and crashes):

* ``send(targets, destinations)`` queues one STORE job per instance and destination. Targets
  are files or folders (imported into the local store first, so that every job names a store
  instance) or Study, Series and SOP Instance UIDs of the store.
* A STORE job sends one instance: C-STORE (:func:`izer.dispatch.cstore.store_files`, with the
  destination's transcode ladder), STOW-RS (:func:`izer.dispatch.stow.stow_destination`, basic
  or bearer authentication from the environment) or a copy into a folder
  (:func:`izer.dispatch.folder_sink.copy_to_folder`). What was delivered is written to the
  *delivery ledger* (below).
* When the last STORE job of a study to a destination with ``commitment = true`` is done, a
  COMMIT job (key ``commit:<Study Instance UID>``) asks the commitment SCP (the destination,
  or ``commitment_destination``) to commit to the delivered instances (Storage Commitment
  Push Model, PS3.4 Annex J). The report comes on the same association or to the listener
  handed over with :meth:`DispatchController.attach_listener`; a report that arrives after
  the job stopped waiting is still recorded when the listener runs.
* When a procedure is COMPLETED and ``[dispatch] auto_send`` names destinations, its study is
  sent there.
* ``purge()`` removes local files under ``[dispatch] retention_days`` (see its docs).
* MPPS (PS3.4 F.7): when a procedure first enters IN_PROGRESS (or APPENDING: a completed
  MPPS may not be set again, so appending opens a new one), an N-CREATE job is queued for
  every destination with role ``mpps``; when it is COMPLETED or DISCONTINUED, the N-SET job
  with the Performed Series Sequence of every instance of the procedure's study (the ones an
  earlier MPPS of the procedure listed left out). MPPS jobs are strictly ordered per
  destination (:mod:`izer.dispatch.outbox`), so an SCP that is down gets them in order later.

The delivery ledger
    Two tables of the outbox file, ``engine_deliveries`` (one row per instance and
    destination delivered: the SOP Instance UID sent, which differs for a re-encoded video,
    and its storage commitment state) and ``engine_commitment_requests`` (the Transaction UIDs
    izer issued). They are the engine's, created when missing; the outbox's own schema
    (``user_version``) is left alone.

Events (:class:`DispatchEvents`, plain psygnal signals emitted on the thread that caused them)
    ``job_changed(job)`` on every state change and saved progress step of a job (while this
    process runs the dispatcher, and for the jobs :meth:`DispatchController.send` queues);
    ``study_progress(progress)`` after each of those for the job's study;
    ``commitment_changed(summary)`` when commitment results for a study arrive.

Nothing is created on disk until dispatch is first used: the outbox opens lazily.
"""

from __future__ import annotations

import enum
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from psygnal import Signal, SignalGroup
from pydicom.uid import generate_uid

from izer.config import Destination, DestinationKind, Role
from izer.dispatch.commitment import failure_meaning, request_commitment
from izer.dispatch.cstore import store_files
from izer.dispatch.errors import DeliveryError
from izer.dispatch.folder_sink import copy_to_folder, validate_layout
from izer.dispatch.mpps import (
    DiscontinuationReason,
    MppsMessage,
    MppsStatus,
    mpps_job_handler,
    mpps_job_key,
    mpps_payload,
)
from izer.dispatch.outbox import (
    OUTBOX_NAME,
    PENDING_STATES,
    Dispatcher,
    DispatcherBusyError,
    Handler,
    Job,
    JobKind,
    JobState,
    Outbox,
    StudyProgress,
    connect_outbox,
)
from izer.dispatch.stow import BasicAuth, BearerToken, stow_destination
from izer.engine.scheduling import (
    MppsState,
    ProcedureContext,
    new_pps_id,
    performed_series,
    performed_step,
    protocol_name,
)
from izer.model import InstanceRecord, Procedure, ProcedureState
from izer.net.listener import CommitmentReport, Listener
from izer.store.store import StoreError

if TYPE_CHECKING:
    from izer.engine.core import Engine

log = logging.getLogger(__name__)

__all__ = [
    "COMMIT_KEY_PREFIX",
    "PENDING_STATES",
    "CommitmentState",
    "CommitmentSummary",
    "Delivery",
    "DeliveryLedger",
    "DispatchController",
    "DispatchEvents",
    "DispatcherBusyError",
    "Job",
    "JobKind",
    "JobState",
    "PurgeReport",
    "StudyProgress",
]

#: The ``sop_uid`` key of a study's COMMIT job: ``commit:<Study Instance UID>``.
COMMIT_KEY_PREFIX = "commit:"


class CommitmentState(enum.StrEnum):
    """Storage commitment of one delivered instance (PS3.4 J.3)."""

    NOT_REQUESTED = ""
    REQUESTED = "requested"
    COMMITTED = "committed"
    FAILED = "failed"


@dataclass(frozen=True)
class Delivery:
    """One instance delivered to one destination, as the ledger holds it.

    Attributes
    ----------
    sop_uid
        The local instance (the store's SOP Instance UID).
    sent_sop_uid
        What the destination holds: the same UID, or a new one for a re-encoded video.
    commitment, failure_reason, transaction_uid
        Storage commitment state, the SCP's Failure Reason (0008,1197) when it failed, and
        the Transaction UID of the last request.
    """

    destination: str
    sop_uid: str
    study_uid: str
    sop_class_uid: str
    sent_sop_uid: str
    sent_syntax: str
    delivered_at: datetime
    commitment: CommitmentState = CommitmentState.NOT_REQUESTED
    failure_reason: int | None = None
    transaction_uid: str = ""
    commitment_at: datetime | None = None


@dataclass(frozen=True)
class CommitmentSummary:
    """Storage commitment of one study at one destination, counted by state."""

    destination: str
    study_uid: str
    committed: int = 0
    failed: int = 0
    requested: int = 0
    not_requested: int = 0
    failures: dict[str, int] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        """True when every delivered instance is committed."""
        return self.committed > 0 and not (self.failed or self.requested or self.not_requested)


@dataclass
class PurgeReport:
    """What :meth:`DispatchController.purge` removed (or would remove) and what it kept."""

    studies: list[str] = field(default_factory=list)
    instances: int = 0
    bytes: int = 0
    kept: dict[str, str] = field(default_factory=dict)
    """Study Instance UID -> why its files stay."""


class DispatchEvents(SignalGroup):
    """What dispatch announces (see the module documentation)."""

    job_changed = Signal(Job)
    study_progress = Signal(StudyProgress)
    commitment_changed = Signal(CommitmentSummary)


# --------------------------------------------------------------------------- the ledger

_LEDGER_SCHEMA = """
CREATE TABLE IF NOT EXISTS engine_deliveries (
    destination TEXT NOT NULL,
    sop_uid TEXT NOT NULL,
    study_uid TEXT NOT NULL,
    sop_class_uid TEXT NOT NULL,
    sent_sop_uid TEXT NOT NULL,
    sent_syntax TEXT NOT NULL DEFAULT '',
    delivered_at TEXT NOT NULL,
    commitment TEXT NOT NULL DEFAULT '',
    failure_reason INTEGER,
    transaction_uid TEXT NOT NULL DEFAULT '',
    commitment_at TEXT,
    PRIMARY KEY (destination, sop_uid)
);
CREATE INDEX IF NOT EXISTS engine_deliveries_by_study
    ON engine_deliveries (study_uid, destination);
CREATE INDEX IF NOT EXISTS engine_deliveries_by_sent
    ON engine_deliveries (destination, sent_sop_uid);
CREATE TABLE IF NOT EXISTS engine_commitment_requests (
    transaction_uid TEXT PRIMARY KEY,
    destination TEXT NOT NULL,
    study_uid TEXT NOT NULL,
    requested_at TEXT NOT NULL
);
"""

_DELIVERY_COLUMNS = (
    "destination, sop_uid, study_uid, sop_class_uid, sent_sop_uid, sent_syntax, delivered_at, "
    "commitment, failure_reason, transaction_uid, commitment_at"
)


def _now_text(moment: datetime | None = None) -> str:
    return (moment or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="microseconds")


def _delivery(row: Sequence[Any]) -> Delivery:
    return Delivery(
        destination=row[0],
        sop_uid=row[1],
        study_uid=row[2],
        sop_class_uid=row[3],
        sent_sop_uid=row[4],
        sent_syntax=row[5],
        delivered_at=datetime.fromisoformat(row[6]),
        commitment=CommitmentState(row[7]),
        failure_reason=row[8],
        transaction_uid=row[9],
        commitment_at=None if row[10] is None else datetime.fromisoformat(row[10]),
    )


class DeliveryLedger:
    """What was delivered where, and its storage commitment, in the outbox's SQLite file.

    Parameters
    ----------
    path
        The outbox file (its own connection; WAL lets it share the file with the outbox).
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        self._db = connect_outbox(self.path, lambda db: db.executescript(_LEDGER_SCHEMA))

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._db.close()

    def _write(self, sql: str, args: Sequence[Any]) -> int:
        with self._lock:
            return self._db.execute(sql, args).rowcount

    def record_delivery(
        self,
        destination: str,
        record: InstanceRecord,
        *,
        sent_sop_uid: str,
        sent_syntax: str,
    ) -> None:
        """Note that ``record`` reached ``destination`` (again).

        A commitment already given stays (the SCP still holds the instance); a failed one is
        forgotten, so that the instance is asked for again.
        """
        self._write(
            f"INSERT INTO engine_deliveries ({_DELIVERY_COLUMNS}) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, '', NULL, '', NULL) "
            "ON CONFLICT (destination, sop_uid) DO UPDATE SET "
            "sent_sop_uid = excluded.sent_sop_uid, sent_syntax = excluded.sent_syntax, "
            "delivered_at = excluded.delivered_at, "
            "commitment = CASE WHEN sent_sop_uid = excluded.sent_sop_uid "
            "AND commitment = 'committed' THEN 'committed' ELSE '' END, "
            "failure_reason = CASE WHEN sent_sop_uid = excluded.sent_sop_uid "
            "AND commitment = 'committed' THEN failure_reason ELSE NULL END",
            (
                destination,
                record.sop_instance_uid,
                record.study_instance_uid,
                record.sop_class_uid,
                sent_sop_uid,
                sent_syntax,
                _now_text(),
            ),
        )

    def deliveries(
        self,
        *,
        destination: str | None = None,
        study_uid: str | None = None,
        states: Iterable[CommitmentState] | None = None,
    ) -> list[Delivery]:
        """Deliveries matching every filter given, oldest first."""
        clauses, args = [], []
        if destination is not None:
            clauses.append("destination = ?")
            args.append(destination)
        if study_uid is not None:
            clauses.append("study_uid = ?")
            args.append(study_uid)
        if states is not None:
            wanted = [CommitmentState(s).value for s in states]
            clauses.append(f"commitment IN ({','.join('?' * len(wanted))})" if wanted else "0")
            args.extend(wanted)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_DELIVERY_COLUMNS} FROM engine_deliveries{where} "
                "ORDER BY delivered_at, sop_uid",
                args,
            ).fetchall()
        return [_delivery(row) for row in rows]

    def begin_request(
        self, transaction_uid: str, destination: str, study_uid: str, sent_uids: Iterable[str]
    ) -> None:
        """Remember a Transaction UID before its N-ACTION goes out; mark its instances."""
        now = _now_text()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute(
                    "INSERT OR REPLACE INTO engine_commitment_requests "
                    "(transaction_uid, destination, study_uid, requested_at) VALUES (?, ?, ?, ?)",
                    (transaction_uid, destination, study_uid, now),
                )
                self._db.executemany(
                    "UPDATE engine_deliveries SET commitment = 'requested', "
                    "transaction_uid = ?, failure_reason = NULL, commitment_at = ? "
                    "WHERE destination = ? AND sent_sop_uid = ? AND commitment <> 'committed'",
                    [(transaction_uid, now, destination, uid) for uid in sent_uids],
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def request_of(self, transaction_uid: str) -> tuple[str, str] | None:
        """(destination, study UID) of a Transaction UID izer issued, else None."""
        with self._lock:
            row = self._db.execute(
                "SELECT destination, study_uid FROM engine_commitment_requests "
                "WHERE transaction_uid = ?",
                (transaction_uid,),
            ).fetchone()
        return None if row is None else (row[0], row[1])

    def record_result(
        self,
        destination: str,
        transaction_uid: str,
        committed: Iterable[str],
        failed: dict[str, int],
    ) -> None:
        """Apply a commitment result (sent SOP Instance UIDs) to the deliveries."""
        now = _now_text()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(
                    "UPDATE engine_deliveries SET commitment = 'committed', failure_reason = NULL,"
                    " transaction_uid = ?, commitment_at = ? "
                    "WHERE destination = ? AND sent_sop_uid = ?",
                    [(transaction_uid, now, destination, uid) for uid in committed],
                )
                self._db.executemany(
                    "UPDATE engine_deliveries SET commitment = 'failed', failure_reason = ?, "
                    "transaction_uid = ?, commitment_at = ? "
                    "WHERE destination = ? AND sent_sop_uid = ?",
                    [
                        (reason, transaction_uid, now, destination, uid)
                        for uid, reason in failed.items()
                    ],
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def summary(self, destination: str, study_uid: str) -> CommitmentSummary:
        """Commitment counts of one study at one destination."""
        rows = self.deliveries(destination=destination, study_uid=study_uid)
        counts = {state: 0 for state in CommitmentState}
        failures: dict[str, int] = {}
        for row in rows:
            counts[row.commitment] += 1
            if row.commitment is CommitmentState.FAILED:
                failures[row.sent_sop_uid] = row.failure_reason or 0
        return CommitmentSummary(
            destination=destination,
            study_uid=study_uid,
            committed=counts[CommitmentState.COMMITTED],
            failed=counts[CommitmentState.FAILED],
            requested=counts[CommitmentState.REQUESTED],
            not_requested=counts[CommitmentState.NOT_REQUESTED],
            failures=failures,
        )


# --------------------------------------------------------------------------- the controller


def _is_uid(text: str) -> bool:
    return bool(text) and all(part.isdigit() for part in text.split(".")) and "." in text


class DispatchController:
    """The engine's sending: outbox, dispatcher, sinks, storage commitment and retention.

    Parameters
    ----------
    engine
        The engine whose store, settings and associations are used.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.events = DispatchEvents()
        self._lock = threading.RLock()
        self._outbox: Outbox | None = None
        self._ledger: DeliveryLedger | None = None
        self._dispatcher: Dispatcher | None = None
        self._listener: Listener | None = None
        self._handlers: dict[JobKind, Handler] = {}
        self._closed = False
        self._started = False
        engine.events.state_changed.connect(self._on_state_changed)

    # -- life ---------------------------------------------------------------------------------

    @property
    def outbox_path(self) -> Path:
        """Where the outbox lives: ``outbox.sqlite`` in the store's folder."""
        return self.engine.store.folder / OUTBOX_NAME

    @property
    def outbox(self) -> Outbox:
        """The outbox, opened (and created) on first use."""
        with self._lock:
            if self._closed:
                raise RuntimeError("dispatch is closed (the engine was closed)")
            if self._outbox is None:
                dispatch = self.engine.settings.dispatch
                self._outbox = Outbox(
                    self.outbox_path,
                    backoff_base_s=dispatch.backoff_base_s,
                    backoff_cap_s=dispatch.backoff_cap_s,
                    max_attempts=dispatch.max_attempts,
                )
            return self._outbox

    @property
    def ledger(self) -> DeliveryLedger:
        """The delivery ledger (in the outbox file), opened on first use."""
        with self._lock:
            if self._ledger is None:
                outbox = self.outbox
                self._ledger = DeliveryLedger(outbox.path)
            return self._ledger

    @property
    def dispatcher(self) -> Dispatcher:
        """The dispatcher of this engine's outbox (created on first use, not started)."""
        with self._lock:
            if self._dispatcher is None:
                self._dispatcher = Dispatcher(
                    self.outbox,
                    {
                        JobKind.STORE: self._run_store,
                        JobKind.COMMIT: self._run_commit,
                        JobKind.MPPS: mpps_job_handler(
                            self.engine.destination, self.engine.associations
                        ),
                        **self._handlers,
                    },
                    concurrency={d.name: d.concurrency for d in self.engine.settings.destinations},
                    on_job=self._on_job,
                )
            return self._dispatcher

    def register_handler(self, kind: JobKind, handler: Handler) -> None:
        """Let ``handler`` run the jobs of ``kind`` (print, media...); before the dispatcher
        is first used."""
        with self._lock:
            if self._dispatcher is not None:
                raise RuntimeError(f"register the {kind.value} handler before dispatching starts")
            self._handlers[kind] = handler

    @property
    def running(self) -> bool:
        """Whether this process's dispatcher is started."""
        with self._lock:
            return self._dispatcher is not None and self._started

    def start(self) -> None:
        """Start sending queued jobs in the background (the GUI and ``izer serve`` do).

        Jobs left running by a crash are queued again, and commitment requests that a crash
        kept from being queued are queued.

        Raises
        ------
        DispatcherBusyError
            When another izer process already sends this outbox's jobs.
        """
        with self._lock:
            dispatcher = self.dispatcher
            if self._started:
                return
            dispatcher.start()
            self._started = True
        try:
            self._queue_missing_commitments()
        except Exception:
            log.exception("could not look for studies waiting for storage commitment")

    def stop(self, timeout_s: float = 10.0) -> bool:
        """Stop sending; running jobs are interrupted and queued again. ``True`` when all
        threads ended within ``timeout_s``."""
        with self._lock:
            dispatcher = self._dispatcher
            if dispatcher is None or not self._started:
                return True
            self._started = False
        return dispatcher.stop(timeout_s)

    def run_until_idle(self, timeout_s: float, *, wait_for_retries: bool = False) -> bool:
        """Send until nothing more can start now (``izer queue run``, tests); ``False`` on
        timeout. Starts the dispatcher for the call when it is not running."""
        deadline = time.monotonic() + timeout_s
        started_here = not self.running
        if started_here:
            self.start()
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                if not self.dispatcher.run_until_idle(remaining, wait_for_retries=wait_for_retries):
                    return False
                # A COMMIT job may be queued by the end of the last STORE job: look again.
                if not self._startable_jobs(wait_for_retries):
                    return True
        finally:
            if started_here:
                self.stop(max(5.0, deadline - time.monotonic()))

    def _startable_jobs(self, wait_for_retries: bool) -> bool:
        states = [JobState.QUEUED, JobState.RUNNING]
        if wait_for_retries:
            states.append(JobState.WAITING)
        paused = self.outbox.paused()
        return any(
            job.destination not in paused
            and job.kind in (JobKind.STORE, JobKind.COMMIT, JobKind.MPPS, *self._handlers)
            for job in self.outbox.jobs(states=states)
        )

    def attach_listener(self, listener: Listener | None) -> None:
        """Use ``listener`` (running, or about to) for storage commitment reports.

        Reports sent to it on a new association reach the COMMIT job waiting for them, and
        reports arriving later for a transaction izer issued are still recorded. ``None``
        detaches the current one.
        """
        with self._lock:
            previous, self._listener = self._listener, listener
        if previous is not None:
            previous.remove_commitment_handler(self._on_report)
        if listener is not None:
            listener.add_commitment_handler(self._on_report)

    def close(self) -> None:
        """Stop the dispatcher, detach the listener, close the outbox (engine.close does).

        A commitment request waiting for its result is not interrupted: if it outlives the
        stop's 10 s, it ends in the background and is sent again at the next start.
        """
        with self._lock:
            if self._closed:
                return
        try:
            self.stop()
        finally:
            self.attach_listener(None)
            with self._lock:
                self._closed = True
                ledger, outbox = self._ledger, self._outbox
                self._ledger = self._outbox = self._dispatcher = None
            if ledger is not None:
                ledger.close()
            if outbox is not None:
                outbox.close()
            self.engine.events.state_changed.disconnect(self._on_state_changed)

    # -- queueing -----------------------------------------------------------------------------

    def destination_name(self, text: str) -> str:
        """The outbox name of a destination: its configured name, or ``AET@host:port``.

        Raises
        ------
        ValueError
            When ``text`` is neither (the message says what was expected).
        """
        return self.engine.destination(text).name

    def send(
        self,
        targets: Sequence[str | Path],
        destinations: Sequence[str],
        *,
        force: bool = False,
    ) -> list[Job]:
        """Queue one STORE job per instance of ``targets`` and destination; return the jobs.

        Targets are DICOM files or folders (every file below; imported into the local store
        first) or Study, Series or SOP Instance UIDs of the store. An instance already queued
        or sent to a destination keeps its job (returned as it is; a failed one is tried
        again), unless ``force``: then a sent one is sent again too. Every target is checked
        before anything is queued.

        Raises
        ------
        ValueError
            For an unknown destination, a target that is neither a readable DICOM file nor a
            UID of the store, or a folder destination with a bad layout.
        """
        resolved = [self.engine.destination(text) for text in destinations]
        if not resolved:
            raise ValueError("send: name at least one destination")
        for destination in resolved:
            self._check_usable(destination)
        records = self.resolve_targets(targets)
        jobs: list[Job] = []
        for destination in resolved:
            for record in records:
                job = self.outbox.enqueue(
                    JobKind.STORE,
                    destination.name,
                    sop_uid=record.sop_instance_uid,
                    study_uid=record.study_instance_uid,
                    bytes_total=record.size_bytes,
                    force=force,
                )
                if job.state is JobState.FAILED and self.outbox.retry([job.job_id]):
                    job = self.outbox.job(job.job_id) or job  # sending again is trying again
                jobs.append(job)
                self._announce(job)
        return jobs

    def commit(
        self,
        study_uid: str,
        destination: str,
        *,
        extra: Sequence[tuple[str, str]] = (),
    ) -> Job:
        """Queue a storage commitment request now for every instance of ``study_uid``
        delivered to ``destination``, plus ``extra`` (SOP Class UID, SOP Instance UID) pairs.

        The automatic requests after sending cover only what is not committed yet; this one
        asks for everything again (a second opinion, or an audit with ``extra``). A COMMIT job
        of the study that is running now is returned as it is.

        Raises
        ------
        ValueError
            When the destination is unknown or nothing of the study was delivered there.
        """
        target = self.engine.destination(destination)
        delivered = self.ledger.deliveries(destination=target.name, study_uid=study_uid)
        items = [[d.sop_class_uid, d.sent_sop_uid] for d in delivered]
        items += [[str(cls), str(uid)] for cls, uid in extra]
        if not delivered:
            raise ValueError(f"nothing of study {study_uid} was delivered to {target.name}")
        job = self.outbox.enqueue(
            JobKind.COMMIT,
            target.name,
            sop_uid=COMMIT_KEY_PREFIX + study_uid,
            study_uid=study_uid,
            payload={"items": items},
            force=True,
        )
        self._announce(job)
        return job

    def _check_usable(self, destination: Destination) -> None:
        if destination.kind is DestinationKind.FOLDER:
            try:
                validate_layout(destination.folder_layout)
            except ValueError as exc:
                raise ValueError(f"destination {destination.name}: {exc}") from None

    def resolve_targets(self, targets: Sequence[str | Path]) -> list[InstanceRecord]:
        """Store instances for the targets, in the order given, each once.

        Targets are files or folders (imported into the store when they are not its own
        files) or Study, Series or SOP Instance UIDs of the store.

        Raises
        ------
        ValueError
            For a target that is none of these, naming it.
        """
        store = self.engine.store
        plan: list[tuple[str, Path | str]] = []
        for target in targets:
            text = str(target)
            path = Path(target)
            if path.is_dir():
                files = sorted(p for p in path.rglob("*") if p.is_file())
                if not files:
                    raise ValueError(f"{path}: the folder holds no files")
                plan.extend(("file", f) for f in files)
            elif path.is_file():
                plan.append(("file", path))
            elif _is_uid(text.strip()):
                plan.append(("uid", text.strip()))
            else:
                raise ValueError(
                    f"{text!r} is neither a file or folder nor a Study, Series or SOP Instance "
                    "UID of the local store"
                )
        everything: list[InstanceRecord] | None = None
        records: dict[str, InstanceRecord] = {}
        imports: list[Path] = []
        for kind, value in plan:
            if kind == "uid":
                if everything is None:
                    everything = store.instances()
                uid = str(value)
                found = [
                    r
                    for r in everything
                    if uid in (r.study_instance_uid, r.series_instance_uid, r.sop_instance_uid)
                ]
                if not found:
                    raise ValueError(
                        f"{uid} is not a Study, Series or SOP Instance UID of the local store "
                        f"({store.folder}); give the file itself to import it"
                    )
                for record in found:
                    records.setdefault(record.sop_instance_uid, record)
            else:
                imports.append(Path(value))
        for path in imports:
            records_path = self._store_record_of(path)
            if records_path is None:
                try:
                    records_path = store.import_file(path)
                except StoreError as exc:
                    raise ValueError(f"cannot send {path}: {exc}") from exc
            records.setdefault(records_path.sop_instance_uid, records_path)
        return list(records.values())

    def _store_record_of(self, path: Path) -> InstanceRecord | None:
        """The store's record when ``path`` is one of its own files."""
        store = self.engine.store
        try:
            path.resolve().relative_to(store.studies_folder.resolve())
        except ValueError:
            return None
        wanted = path.resolve()
        return next((r for r in store.instances() if r.path.resolve() == wanted), None)

    # -- control --------------------------------------------------------------------------------

    def jobs(
        self,
        *,
        destination: str | None = None,
        study_uid: str | None = None,
        states: Iterable[JobState] | None = None,
        kind: JobKind | None = None,
    ) -> list[Job]:
        """Outbox jobs matching every filter given, oldest first."""
        name = None if destination is None else self._queue_name(destination)
        return self.outbox.jobs(destination=name, study_uid=study_uid, states=states, kind=kind)

    def retry(self, job_ids: Iterable[int] | None = None, *, destination: str | None = None) -> int:
        """Try failed and waiting jobs now; return how many."""
        name = None if destination is None else self._queue_name(destination)
        return self.outbox.retry(job_ids, destination=name)

    def cancel(
        self, job_ids: Iterable[int] | None = None, *, destination: str | None = None
    ) -> int:
        """Cancel jobs not yet done (a running one stops at its next progress step)."""
        name = None if destination is None else self._queue_name(destination)
        return self.outbox.cancel(job_ids, destination=name)

    def pause(self, destination: str) -> str:
        """Start no new job for ``destination``; return its queue name."""
        name = self._queue_name(destination)
        self.outbox.pause(name)
        return name

    def resume(self, destination: str) -> str:
        """Undo :meth:`pause`; return the queue name."""
        name = self._queue_name(destination)
        self.outbox.resume(name)
        return name

    def study_progress(self, study_uid: str) -> StudyProgress:
        """Delivery of one study, per destination (instances and bytes)."""
        return self.outbox.study_progress(study_uid)

    def commitment(self, study_uid: str) -> list[CommitmentSummary]:
        """Storage commitment of a study: one summary per destination it was delivered to
        that asks for commitment (or was asked, e.g. with :meth:`commit`)."""
        names = set()
        for delivery in self.ledger.deliveries(study_uid=study_uid):
            configured = self.engine.settings.destination(delivery.destination)
            asked = delivery.commitment is not CommitmentState.NOT_REQUESTED
            if asked or (configured is not None and configured.commitment):
                names.add(delivery.destination)
        return [self.ledger.summary(name, study_uid) for name in sorted(names)]

    def _queue_name(self, text: str) -> str:
        """A destination's name in the outbox: configured (any case), a name jobs were queued
        for (also one no longer configured), or a valid ``AET@host:port``.

        Raises
        ------
        ValueError
            When it is none of these.
        """
        configured = self.engine.settings.destination(text)
        if configured is not None:
            return configured.name
        name = text.strip()
        if name in self.outbox.paused() or self.outbox.jobs(destination=name):
            return name
        return self.engine.destination(name).name

    # -- retention ------------------------------------------------------------------------------

    def purge(self, *, now: datetime | None = None, dry_run: bool = False) -> PurgeReport:
        """Remove local studies whose delivery is over, after ``[dispatch] retention_days``.

        A study's files go only when all of these hold: retention_days is more than 0; its
        procedure is not the open one; no job of the study is pending; every instance was
        delivered (a DONE store job) to every destination it was queued for, none failed;
        where the destination asks for storage commitment, every instance is committed; and
        the last delivery (or commitment) is at least retention_days old. Otherwise the study
        stays, and the report says why.
        """
        report = PurgeReport()
        days = self.engine.settings.dispatch.retention_days
        if days <= 0:
            return report
        moment = (now or datetime.now(UTC)).astimezone(UTC)
        procedure = self.engine.procedure
        open_study = procedure.study_uid if procedure and not procedure.state.is_closed else None
        store = self.engine.store
        for study in store.studies():
            uid = study.study_instance_uid
            instances = store.instances(uid)
            reason = self._keep_reason(uid, instances, open_study, moment, days)
            if reason:
                report.kept[uid] = reason
                continue
            report.studies.append(uid)
            report.instances += len(instances)
            report.bytes += sum(r.size_bytes for r in instances)
            if dry_run:
                continue
            for record in instances:
                if self.outbox.jobs(study_uid=uid, states=PENDING_STATES):
                    report.kept[uid] = "a job was queued while purging"
                    break
                store.delete_instance(record.sop_instance_uid)
            log.info("purged study %s (%d instances) from the local store", uid, len(instances))
        return report

    def _keep_reason(
        self,
        study_uid: str,
        instances: list[InstanceRecord],
        open_study: str | None,
        now: datetime,
        days: int,
    ) -> str:
        if study_uid == open_study:
            return "its procedure is open"
        jobs = self.outbox.jobs(study_uid=study_uid)
        pending = [job for job in jobs if job.pending]
        if pending:
            return f"{len(pending)} job(s) pending"
        stores = [job for job in jobs if job.kind is JobKind.STORE]
        if not stores:
            return "never sent"
        failed = [job for job in jobs if job.state is JobState.FAILED]
        if failed:
            return f"{len(failed)} job(s) failed"
        done = [job for job in stores if job.state is JobState.DONE]
        undelivered = {r.sop_instance_uid for r in instances} - {job.sop_uid for job in done}
        if undelivered:
            return f"{len(undelivered)} instance(s) never delivered"
        last = max(job.updated_at for job in jobs if job.state is JobState.DONE)
        for name in sorted({job.destination for job in done}):
            configured = self.engine.settings.destination(name)
            if configured is None or not configured.commitment:
                continue
            summary = self.ledger.summary(name, study_uid)
            if not summary.complete:
                return f"not committed by {name}"
            committed = [
                d.commitment_at
                for d in self.ledger.deliveries(destination=name, study_uid=study_uid)
                if d.commitment_at is not None
            ]
            last = max([last, *committed])
        until = last + timedelta(days=days)
        if until > now:
            return f"kept until {until.astimezone().strftime('%Y-%m-%d %H:%M')}"
        return ""

    # -- the handlers ---------------------------------------------------------------------------

    def _destination(self, name: str) -> Destination:
        try:
            return self.engine.destination(name)
        except ValueError as exc:
            raise DeliveryError(
                f"destination {name!r} is no longer configured ({exc}); cancel its jobs with "
                f"izer queue cancel --destination {name!r}",
                transient=False,
            ) from None

    def _local_instance(self, job: Job) -> InstanceRecord:
        """The store's record and file of a job's instance, checked readable."""
        store = self.engine.store
        uid = job.sop_uid or ""
        candidates = store.instances(job.study_uid) if job.study_uid else store.instances()
        record = next((r for r in candidates if r.sop_instance_uid == uid), None)
        if record is None:
            raise DeliveryError(
                f"SOP Instance {uid} is no longer in the local store ({store.folder}): it was "
                "deleted or purged; cancel this job",
                transient=False,
            )
        try:
            with record.path.open("rb") as handle:
                handle.read(132)
        except FileNotFoundError:
            raise DeliveryError(
                f"local file {record.path} (SOP Instance {uid}) is missing from the store; "
                "run izer store rebuild, then send the study again",
                transient=False,
            ) from None
        except OSError as exc:
            raise DeliveryError(
                f"cannot read local file {record.path} (SOP Instance {uid}): "
                f"{exc.strerror or exc}; check the store's disk and permissions, then "
                "izer queue retry",
                transient=False,
            ) from None
        return record

    def _run_store(self, job: Job, progress: Callable[[int, int], None]) -> None:
        destination = self._destination(job.destination)
        record = self._local_instance(job)
        path = record.path
        sent_uid, sent_syntax = record.sop_instance_uid, record.transfer_syntax_uid
        if destination.kind is DestinationKind.DICOM:
            outcomes = store_files(
                self.engine.associations,
                destination,
                [path],
                ladder=destination.transcode_ladder,
                progress=progress,
                work_dir=self.engine.store.folder,
            )
            outcome = outcomes[-1]
            sent_uid, sent_syntax = outcome.sop_uid, outcome.sent_syntax
            if outcome.warning:
                log.warning(
                    "%s took %s with a warning: %s", destination.name, sent_uid, outcome.warning
                )
        elif destination.kind is DestinationKind.DICOMWEB:
            outcomes_web = stow_destination(
                destination,
                self.engine.settings.network,
                [path],
                auth=_web_auth(destination),
                progress=progress,
            )
            for stowed in outcomes_web:
                if stowed.warning:
                    log.warning(
                        "%s took %s with a warning: %s",
                        destination.name,
                        stowed.sop_uid,
                        stowed.warning,
                    )
        else:
            copy_to_folder(
                destination.folder, [path], layout=destination.folder_layout, progress=progress
            )
        self.ledger.record_delivery(
            destination.name, record, sent_sop_uid=sent_uid, sent_syntax=sent_syntax
        )
        if job.study_uid:
            self._maybe_commit(destination.name, job.study_uid, running=job.job_id)

    def _run_commit(self, job: Job, progress: Callable[[int, int], None]) -> None:
        destination = self._destination(job.destination)
        study_uid = job.study_uid or ""
        scp = destination
        if destination.commitment_destination:
            scp = self._destination(destination.commitment_destination)
        if scp.kind is not DestinationKind.DICOM:
            raise DeliveryError(
                f"storage commitment needs a DICOM SCP; {scp.name} is {scp.kind.value}",
                transient=False,
            )
        explicit = job.payload.get("items")
        if explicit is not None:
            items = [(str(cls), str(uid)) for cls, uid in explicit]
        else:
            waiting = [
                d
                for d in self.ledger.deliveries(
                    destination=destination.name,
                    study_uid=study_uid,
                    states=(CommitmentState.NOT_REQUESTED, CommitmentState.REQUESTED),
                )
            ]
            items = [(d.sop_class_uid, d.sent_sop_uid) for d in waiting]
        if not items:
            return
        pending = [
            j
            for j in self.outbox.jobs(
                destination=destination.name,
                study_uid=study_uid,
                kind=JobKind.STORE,
                states=PENDING_STATES,
            )
        ]
        if pending:
            raise DeliveryError(
                f"{len(pending)} instance(s) of study {study_uid} are still being sent to "
                f"{destination.name}; storage commitment is asked after them",
                transient=True,
            )
        transaction_uid = generate_uid()
        self.ledger.begin_request(
            transaction_uid, destination.name, study_uid, [uid for _, uid in items]
        )
        progress(0, 0)  # a cancelled job stops here
        with self._lock:
            listener = self._listener
        result = request_commitment(
            self.engine.associations,
            scp,
            items,
            listener=listener,
            timeout_s=destination.commitment_timeout_s,
            transaction_uid=transaction_uid,
        )
        self.ledger.record_result(
            destination.name, transaction_uid, result.committed, dict(result.failed)
        )
        self._announce_commitment(destination.name, study_uid)
        if result.failed:
            shown = "\n".join(
                f"- {uid}: {failure_meaning(code)}"
                for uid, code in list(result.failed.items())[:10]
            )
            more = len(result.failed) - 10
            raise DeliveryError(
                f"{scp.address} did not commit to {len(result.failed)} of {len(items)} "
                f"instance(s) of study {study_uid} (transaction {transaction_uid}):\n{shown}"
                + (f"\n- ... and {more} more" if more > 0 else "")
                + "\nsend them again (izer send --again), then the commitment is asked again",
                transient=False,
            )
        if result.unreported:
            raise DeliveryError(
                f"{scp.address} named {len(result.unreported)} of {len(items)} instance(s) "
                f"neither committed nor failed (transaction {transaction_uid}); asking again",
                transient=True,
            )

    def _maybe_commit(self, destination: str, study_uid: str, *, running: int = 0) -> None:
        """Queue the study's COMMIT job once no store job of it to ``destination`` is pending
        and some delivered instance was never asked about."""
        configured = self.engine.settings.destination(destination)
        if configured is None or not configured.commitment:
            return
        outbox = self.outbox
        pending = [
            job
            for job in outbox.jobs(
                destination=destination, study_uid=study_uid, states=PENDING_STATES
            )
            if job.job_id != running
        ]
        if pending:  # the last store job, or a queued COMMIT job, will see the new ones
            return
        if not self.ledger.deliveries(
            destination=destination,
            study_uid=study_uid,
            states=(CommitmentState.NOT_REQUESTED,),
        ):
            return
        job = outbox.enqueue(
            JobKind.COMMIT,
            destination,
            sop_uid=COMMIT_KEY_PREFIX + study_uid,
            study_uid=study_uid,
            force=True,
        )
        self._announce(job)

    def _queue_missing_commitments(self) -> None:
        """After a crash: queue the COMMIT jobs the end of a store job could not."""
        pairs = {
            (d.destination, d.study_uid)
            for d in self.ledger.deliveries(states=(CommitmentState.NOT_REQUESTED,))
        }
        for destination, study_uid in sorted(pairs):
            self._maybe_commit(destination, study_uid)

    # -- events ---------------------------------------------------------------------------------

    def _on_job(self, job: Job) -> None:
        self._announce(job)
        if job.state is JobState.DONE and job.study_uid:
            try:
                self._maybe_commit(job.destination, job.study_uid)
            except Exception:
                log.exception("could not queue storage commitment of %s", job.study_uid)

    def _announce(self, job: Job) -> None:
        try:
            self.events.job_changed.emit(job)
            if job.study_uid:
                self.events.study_progress.emit(self.outbox.study_progress(job.study_uid))
        except Exception:
            log.exception("a dispatch event handler failed")

    def _announce_commitment(self, destination: str, study_uid: str) -> None:
        try:
            self.events.commitment_changed.emit(self.ledger.summary(destination, study_uid))
        except Exception:
            log.exception("a commitment event handler failed")

    def _on_report(self, report: CommitmentReport) -> None:
        """A storage commitment report at the listener: record it when it is one of ours."""
        try:
            request = self.ledger.request_of(report.transaction_uid)
        except Exception:
            log.exception("could not look up commitment transaction %s", report.transaction_uid)
            return
        if request is None:
            return
        destination, study_uid = request
        self.ledger.record_result(
            destination,
            report.transaction_uid,
            [uid for _, uid in report.committed],
            {uid: reason for _, uid, reason in report.failed},
        )
        self._announce_commitment(destination, study_uid)
        waiting = self.outbox.jobs(
            destination=destination,
            study_uid=study_uid,
            kind=JobKind.COMMIT,
            states=(JobState.WAITING,),
        )
        if waiting:  # it gave up waiting earlier: let it see the result now
            self.outbox.retry([job.job_id for job in waiting])

    # -- MPPS -----------------------------------------------------------------------------------

    def mpps_destinations(self) -> list[Destination]:
        """The destinations with role ``mpps``."""
        return [d for d in self.engine.settings.destinations if Role.MPPS in d.roles]

    def check_mpps_completable(self) -> None:
        """Raise ``ValueError`` when the active procedure's open MPPS would list nothing.

        A COMPLETED MPPS must list at least one series (PS3.4 F.7.2.2, final state).
        """
        procedure = self.engine.procedure
        if procedure is None:
            return
        context = ProcedureContext.of(procedure)
        if context.mpps is None or self._mpps_series(procedure, context):
            return
        raise ValueError(
            "nothing was captured in this procedure (since it was last completed), and a "
            "COMPLETED MPPS must list at least one image; discontinue it instead "
            "(e.g. reason 110514 for a wrong worklist entry)"
        )

    def _mpps_series(self, procedure: Procedure, context: ProcedureContext) -> list[Any]:
        store = self.engine.store
        return performed_series(
            store.instances(procedure.study_uid),
            store.series(procedure.study_uid),
            protocol=protocol_name(procedure, context),
            performing_physician=context.performing_physician,
            leave_out=context.reported,
        )

    def _on_mpps_state(self, new: ProcedureState) -> None:
        """Queue the MPPS message a state change calls for (see the module docstring)."""
        procedure = self.engine.procedure
        if procedure is None:
            return
        context = ProcedureContext.of(procedure)
        settings = self.engine.settings
        if new in (ProcedureState.IN_PROGRESS, ProcedureState.APPENDING):
            destinations = self.mpps_destinations()
            if context.mpps is not None or not destinations:
                return
            now = datetime.now().replace(microsecond=0)
            mpps = MppsState(
                uid=self.engine.uids.new(),
                pps_id=new_pps_id(settings, now),
                start=now,
                destinations=tuple(d.name for d in destinations),
            )
            step = performed_step(settings, procedure, context, mpps)
            payload = mpps_payload(step, MppsMessage.CREATE)
            # The context first: a crash after it leaves an N-CREATE to queue at most, never
            # an MPPS instance izer does not know it made.
            self.engine._save_context(
                procedure.procedure_id, context.with_mpps(mpps).to_json(), mpps.uid
            )
            for name in mpps.destinations:
                self._enqueue_mpps(name, mpps_job_key(step, MppsMessage.CREATE), payload, procedure)
            log.info("MPPS %s (PPS ID %s) created IN PROGRESS", mpps.uid, mpps.pps_id)
        elif new.is_closed and context.mpps is not None:
            mpps = context.mpps
            status = (
                MppsStatus.COMPLETED if new is ProcedureState.COMPLETED else MppsStatus.DISCONTINUED
            )
            reason = self.engine._discontinuation if status is MppsStatus.DISCONTINUED else None
            if status is MppsStatus.DISCONTINUED and reason is None:
                reason = DiscontinuationReason.UNSPECIFIED
            series = self._mpps_series(procedure, context)
            end = max(datetime.now().replace(microsecond=0), mpps.start)
            step = performed_step(settings, procedure, context, mpps, end=end, series=series)
            payload = mpps_payload(step, MppsMessage.SET, status, reason)
            listed = [ref[1] for s in series for ref in (*s.images, *s.non_images)]
            self.engine._save_context(
                procedure.procedure_id, context.with_mpps(None, reported=listed).to_json(), mpps.uid
            )
            for name in mpps.destinations:
                self._enqueue_mpps(
                    name, mpps_job_key(step, MppsMessage.SET, status), payload, procedure
                )
            log.info("MPPS %s set %s (%d instance(s))", mpps.uid, status.value, len(listed))

    def _enqueue_mpps(
        self, destination: str, key: str, payload: dict[str, Any], procedure: Procedure
    ) -> None:
        job = self.outbox.enqueue(
            JobKind.MPPS, destination, sop_uid=key, study_uid=procedure.study_uid, payload=payload
        )
        self._announce(job)

    def _on_state_changed(self, old: ProcedureState, new: ProcedureState) -> None:
        """MPPS messages, and ``[dispatch] auto_send``: a completed procedure's study goes out."""
        try:
            self._on_mpps_state(new)
        except Exception:
            log.exception("could not queue the MPPS message for %s", new.value)
        destinations = self.engine.settings.dispatch.auto_send
        procedure = self.engine.procedure
        if new is not ProcedureState.COMPLETED or not destinations or procedure is None:
            return
        if not self.engine.store.instances(procedure.study_uid):
            return
        try:
            jobs = self.send([procedure.study_uid], destinations)
        except Exception:
            log.exception("could not queue study %s for sending", procedure.study_uid)
            return
        log.info(
            "queued %d job(s) for study %s to %s",
            len(jobs),
            procedure.study_uid,
            ", ".join(destinations),
        )


def _web_auth(destination: Destination) -> BasicAuth | BearerToken | None:
    """Authentication of a DICOMweb destination, read from the environment."""
    if destination.bearer_token_env:
        token = os.environ.get(destination.bearer_token_env, "")
        if not token:
            raise DeliveryError(
                f"{destination.name}: environment variable {destination.bearer_token_env} "
                "(bearer_token_env) is not set; set it to the token before starting izer",
                transient=False,
            )
        return BearerToken(token)
    if destination.username:
        password = os.environ.get(destination.password_env, "") if destination.password_env else ""
        if destination.password_env and not password:
            raise DeliveryError(
                f"{destination.name}: environment variable {destination.password_env} "
                "(password_env) is not set; set it to the password before starting izer",
                transient=False,
            )
        return BasicAuth(destination.username, password)
    return None
