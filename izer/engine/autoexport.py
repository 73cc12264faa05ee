"""Auto-export of received studies: the ``[[auto_export]]`` rules (issue 11).

Every instance ``izer serve`` receives is noted, per matching rule, as its study's latest
arrival (:meth:`AutoExportController.note_received`). A study quiet for the rule's
``quiet_seconds`` is due: :meth:`AutoExportController.run_due` (called by ``izer serve`` twice
a second) exports its instances from the local store with :meth:`Engine.export` into
``<rule folder>/<pattern folders>/`` (video as MP4, stills as JPEG or PNG, names made safe by
:mod:`izer.encode.export_names`) and queues them to the rule's ``forward`` destinations in
the outbox.

Persistence: what is pending and what was done live in ``auto-export.sqlite`` in the store
folder (``synchronous=FULL``), so that nothing is lost on a kill or power cut:

- ``pending``: rule, study, time of the last instance received (wall clock, seconds), failed
  attempts and when to try again. A row goes only when the study was exported and forwarded
  with no failure, and no instance arrived meanwhile.
- ``handled``: rule, study and SOP Instance UID, whether that instance was exported (and its
  files) and forwarded. Each instance is recorded right after its files are written.

Re-export: a study that receives more instances after its export becomes pending again, and
when it is quiet again only the instances not yet recorded as exported are exported, into the
same folders (an instance number already used there gets ``-2``, as in ``izer export``), and
only those not yet forwarded are queued. Files of earlier exports are never written again, so
no ``_2`` copies of the same instance appear; an instance sent a second time (same SOP
Instance UID) is not exported again. Only a kill between writing an instance's files and
recording them (a few milliseconds) can give such a copy on the next run.

Failures (export folder not writable, disk full, an instance that cannot be converted, a
forward destination that cannot be used) are logged with the reason; the study stays pending
and is tried again after :data:`RETRY_BASE_S`, then twice as long each time up to
:data:`RETRY_CAP_S`. Instances already exported are not exported again by the retry.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from izer.config.settings import AutoExportRule
from izer.engine.exporting import ExportOptions
from izer.model import InstanceRecord, Sensitive

if TYPE_CHECKING:
    from izer.engine.core import Engine

log = logging.getLogger(__name__)

#: The state file, in the store folder.
STATE_FILE = "auto-export.sqlite"
#: Wait before the second attempt of a failed auto-export, in seconds.
RETRY_BASE_S = 10.0
#: Longest wait between two attempts, in seconds.
RETRY_CAP_S = 600.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS pending (
    rule TEXT NOT NULL,
    study_uid TEXT NOT NULL,
    patient_id TEXT NOT NULL DEFAULT '',
    last_received REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_try REAL NOT NULL DEFAULT 0,
    last_error TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (rule, study_uid)
);
CREATE TABLE IF NOT EXISTS handled (
    rule TEXT NOT NULL,
    study_uid TEXT NOT NULL,
    sop_uid TEXT NOT NULL,
    exported INTEGER NOT NULL DEFAULT 0,
    forwarded INTEGER NOT NULL DEFAULT 0,
    files TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (rule, sop_uid)
);
CREATE INDEX IF NOT EXISTS handled_study ON handled (rule, study_uid);
"""


@dataclass(frozen=True)
class PendingExport:
    """A study waiting for a rule: the time of its last instance and its failed attempts."""

    rule: str
    study_uid: str
    patient_id: str
    last_received: float
    attempts: int = 0
    next_try: float = 0.0
    last_error: str = ""


@dataclass(frozen=True)
class AutoExportResult:
    """What one due study gave: files written, jobs queued, or why it stays pending.

    ``error`` is ``None`` when everything went; otherwise the study is tried again at
    ``retry_at`` (seconds since the epoch), keeping what was already done.
    """

    rule: str
    study_uid: str
    patient_id: str
    files: tuple[Path, ...] = ()
    skipped: int = 0
    forwarded: int = 0
    error: str | None = None
    retry_at: float | None = None

    @property
    def ok(self) -> bool:
        """True when the study was exported (and forwarded) without a failure."""
        return self.error is None

    @property
    def folders(self) -> tuple[Path, ...]:
        """The folders the files went to, in order of first use."""
        return tuple(dict.fromkeys(path.parent for path in self.files))


class AutoExportController:
    """The ``[[auto_export]]`` rules of one engine (see the module docstring).

    Parameters
    ----------
    engine
        Gives the rules (``settings.auto_export``), the store, :meth:`Engine.export` and the
        outbox (``engine.dispatch``).
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.rules: dict[str, AutoExportRule] = {
            rule.name: rule for rule in engine.settings.auto_export
        }
        self.state_path = Path(engine.store.folder) / STATE_FILE
        self._running = threading.Lock()
        self._schema_ready = False

    @property
    def enabled(self) -> bool:
        """True when at least one rule is configured."""
        return bool(self.rules)

    def describe(self) -> str:
        """The rules in one line, for ``izer serve``'s start line (empty without rules)."""
        return "; ".join(
            f"{rule.name} -> {rule.folder} after {rule.quiet_seconds:g} s quiet"
            + (f", forward to {', '.join(rule.forward)}" if rule.forward else "")
            + (f", from {', '.join(rule.calling_aets)}" if rule.calling_aets else "")
            for rule in self.rules.values()
        )

    # -- state ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _database(self) -> Iterator[sqlite3.Connection]:
        """A connection of its own (listener threads and the serve loop both write)."""
        db = sqlite3.connect(self.state_path, timeout=30.0, isolation_level=None)
        try:
            # Every received instance notes its study: one fsync per commit (WAL), and the
            # schema is made once per process, not per instance.
            db.execute("PRAGMA synchronous=FULL")
            if not self._schema_ready:
                db.execute("PRAGMA journal_mode=WAL")
                db.executescript(_SCHEMA)
                self._schema_ready = True
            yield db
        finally:
            db.close()

    def note_received(
        self,
        study_uid: str,
        calling_aet: str,
        *,
        patient_id: str = "",
        now: float | None = None,
    ) -> list[str]:
        """Record that an instance of ``study_uid`` arrived from ``calling_aet``.

        The study becomes (or stays) pending for every rule that takes studies from this
        sender, its quiet time starting again at ``now`` (default: the clock), its failed
        attempts forgotten. Returns the names of those rules.
        """
        names = [name for name, rule in self.rules.items() if rule.applies_to(calling_aet)]
        if not names:
            return []
        moment = time.time() if now is None else now
        with self._database() as db:
            db.execute("BEGIN IMMEDIATE")
            for name in names:
                db.execute(
                    "INSERT INTO pending (rule, study_uid, patient_id, last_received) "
                    "VALUES (?, ?, ?, ?) ON CONFLICT (rule, study_uid) DO UPDATE SET "
                    "last_received = MAX(last_received, excluded.last_received), "
                    "patient_id = CASE WHEN excluded.patient_id != '' "
                    "THEN excluded.patient_id ELSE patient_id END, "
                    "attempts = 0, next_try = 0, last_error = ''",
                    (name, study_uid, patient_id, moment),
                )
            db.execute("COMMIT")
        return names

    def pending(self) -> list[PendingExport]:
        """Every pending study of the configured rules, the longest quiet first."""
        if not self.state_path.exists():
            return []
        with self._database() as db:
            rows = db.execute(
                "SELECT rule, study_uid, patient_id, last_received, attempts, next_try, "
                "last_error FROM pending ORDER BY last_received, rule"
            ).fetchall()
        return [PendingExport(*row) for row in rows if row[0] in self.rules]

    def due(self, now: float | None = None) -> list[PendingExport]:
        """The pending studies quiet for their rule's ``quiet_seconds`` and not waiting for a
        retry at ``now`` (default: the clock)."""
        moment = time.time() if now is None else now
        return [
            item
            for item in self.pending()
            if moment - item.last_received >= self.rules[item.rule].quiet_seconds
            and moment >= item.next_try
        ]

    # -- running --------------------------------------------------------------------------

    def run_due(self, now: float | None = None) -> list[AutoExportResult]:
        """Export (and forward) every due study; one result per study.

        Never raises for a study's failure: it is logged and the study stays pending (see
        the module docstring). A call while another one runs returns ``[]`` at once.
        """
        if not self.rules or not self._running.acquire(blocking=False):
            return []
        try:
            moment = time.time() if now is None else now
            return [self._run(item, moment) for item in self.due(moment)]
        finally:
            self._running.release()

    def _run(self, item: PendingExport, now: float) -> AutoExportResult:
        rule = self.rules[item.rule]
        errors: list[str] = []
        files: list[Path] = []
        skipped = forwarded = 0
        try:
            records = self.engine.store.instances(item.study_uid)
            handled = self._handled(rule, item.study_uid)
        except Exception as exc:
            records, handled = [], {}
            errors.append(f"cannot read the store: {exc}")
        if not errors:
            try:
                skipped = self._export(rule, item.study_uid, records, handled, files, errors)
            except Exception as exc:  # the folder as a whole: not writable, not a folder...
                errors.append(f"cannot export to {rule.folder}: {_reason(exc)}")
            try:
                forwarded = self._forward(rule, item.study_uid, records, handled)
            except Exception as exc:
                errors.append(f"cannot forward to {', '.join(rule.forward)}: {_reason(exc)}")
        result = AutoExportResult(
            rule.name, item.study_uid, item.patient_id, tuple(files), skipped, forwarded
        )
        if errors:
            return self._failed(item, result, "; ".join(errors), now)
        self._finished(item)
        root = Path(rule.folder).expanduser()
        below = ", ".join(_below(folder, root) for folder in result.folders)
        # The folders below the root carry the patient's name: redacted in the log files.
        log.info(
            "auto-export %s: patient %s, study %s: %d file%s in %s (%s)%s",
            rule.name,
            item.patient_id or "(no ID)",
            item.study_uid,
            len(files),
            "" if len(files) == 1 else "s",
            root,
            Sensitive(below) if below else "nothing new",
            f"; {forwarded} job(s) queued to {', '.join(rule.forward)}" if forwarded else "",
        )
        return result

    def _handled(self, rule: AutoExportRule, study_uid: str) -> dict[str, tuple[bool, bool]]:
        """SOP Instance UID -> (exported, forwarded) for the study under ``rule``."""
        with self._database() as db:
            rows = db.execute(
                "SELECT sop_uid, exported, forwarded FROM handled WHERE rule = ? AND study_uid = ?",
                (rule.name, study_uid),
            ).fetchall()
        return {sop: (bool(exported), bool(forwarded)) for sop, exported, forwarded in rows}

    def _export(
        self,
        rule: AutoExportRule,
        study_uid: str,
        records: Sequence[InstanceRecord],
        handled: dict[str, tuple[bool, bool]],
        files: list[Path],
        errors: list[str],
    ) -> int:
        """Export the instances not exported yet; returns how many had nothing to export."""
        options = ExportOptions(
            stills=rule.stills.value, quality=rule.quality, pattern=rule.pattern
        )
        to_dir = Path(rule.folder).expanduser()
        skipped = 0
        for record in records:
            sop_uid = record.sop_instance_uid
            if handled.get(sop_uid, (False, False))[0]:
                continue
            report = self.engine.export([record.path], to_dir, options)
            step_errors = [step.error for step in report.steps if step.error is not None]
            if step_errors:
                errors.append(f"instance {sop_uid}: {'; '.join(step_errors)}")
                continue
            written = report.files
            files.extend(written)
            skipped += 0 if written else 1
            self._record(rule, study_uid, [sop_uid], exported=True, files=[str(p) for p in written])
        return skipped

    def _forward(
        self,
        rule: AutoExportRule,
        study_uid: str,
        records: Sequence[InstanceRecord],
        handled: dict[str, tuple[bool, bool]],
    ) -> int:
        """Queue the instances not forwarded yet to the rule's destinations; returns the jobs."""
        if not rule.forward:
            return 0
        waiting = [
            r.sop_instance_uid
            for r in records
            if not handled.get(r.sop_instance_uid, (False, False))[1]
        ]
        if not waiting:
            return 0
        jobs = self.engine.dispatch.send(waiting, rule.forward)
        self._record(rule, study_uid, waiting, forwarded=True)
        return len(jobs)

    def _record(
        self,
        rule: AutoExportRule,
        study_uid: str,
        sop_uids: Sequence[str],
        *,
        exported: bool = False,
        forwarded: bool = False,
        files: Sequence[str] = (),
    ) -> None:
        with self._database() as db:
            db.execute("BEGIN IMMEDIATE")
            for sop_uid in sop_uids:
                db.execute(
                    "INSERT INTO handled (rule, study_uid, sop_uid, exported, forwarded, files) "
                    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (rule, sop_uid) DO UPDATE SET "
                    "exported = MAX(exported, excluded.exported), "
                    "forwarded = MAX(forwarded, excluded.forwarded), "
                    "files = CASE WHEN excluded.exported THEN excluded.files ELSE files END",
                    (
                        rule.name,
                        study_uid,
                        sop_uid,
                        int(exported),
                        int(forwarded),
                        json.dumps(files),
                    ),
                )
            db.execute("COMMIT")

    def _finished(self, item: PendingExport) -> None:
        """Forget the pending row, unless an instance arrived while exporting."""
        with self._database() as db:
            db.execute(
                "DELETE FROM pending WHERE rule = ? AND study_uid = ? AND last_received = ?",
                (item.rule, item.study_uid, item.last_received),
            )

    def _failed(
        self, item: PendingExport, result: AutoExportResult, error: str, now: float
    ) -> AutoExportResult:
        attempts = item.attempts + 1
        delay = min(RETRY_CAP_S, RETRY_BASE_S * 2 ** min(attempts - 1, 30))
        retry_at = now + delay
        try:
            with self._database() as db:
                db.execute(
                    "UPDATE pending SET attempts = ?, next_try = ?, last_error = ? "
                    "WHERE rule = ? AND study_uid = ? AND last_received = ?",
                    (attempts, retry_at, error, item.rule, item.study_uid, item.last_received),
                )
        except Exception:
            log.exception(
                "auto-export %s: cannot record the failure of %s", item.rule, item.study_uid
            )
        log.error(
            "auto-export %s: patient %s, study %s failed (attempt %d): %s; %d file(s) written; "
            "kept pending, trying again in %.0f s",
            item.rule,
            item.patient_id or "(no ID)",
            item.study_uid,
            attempts,
            error,
            len(result.files),
            delay,
        )
        return AutoExportResult(
            result.rule,
            result.study_uid,
            result.patient_id,
            result.files,
            result.skipped,
            result.forwarded,
            error=error,
            retry_at=retry_at,
        )


def _below(folder: Path, root: Path) -> str:
    """``folder`` relative to the export root (as it is when the root is not a prefix)."""
    try:
        return str(folder.relative_to(root))
    except ValueError:
        return str(folder)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        where = f" ({exc.filename})" if exc.filename else ""
        return f"{exc.strerror}{where}"
    return str(exc) or type(exc).__name__
