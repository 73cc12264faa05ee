"""DICOM film printing for the engine: print requests become outbox jobs.

:class:`PrintController` (``engine.printing``) turns "print these on that printer" into one
PRINT job in the outbox (:mod:`izer.dispatch.outbox`): an off-line printer delays the job
(retried with backoff like any delivery), it is never lost, and a crash re-runs it. The job
runs :func:`izer.dispatch.print_scu.print_films` (Basic Grayscale or Basic Color Print
Management, PS3.4 Annex H) with the printer's preset (``[destinations.print]``) and the
overrides the user gave for this print.

What a print did (films, colour, printer status, notes such as the fall-back to grayscale) is
kept for the jobs this process ran (:meth:`PrintController.outcome`), announced through
``events.printed`` and logged.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from psygnal import Signal

from izer.config import Destination, DestinationKind, Role
from izer.dispatch.outbox import Job, JobKind
from izer.dispatch.print_scu import (
    PrintOutcome,
    print_job_handler,
    print_job_key,
    print_job_payload,
)
from izer.encode.extract import ExportKind, read_instance
from izer.model.printing import PrintPreset

if TYPE_CHECKING:
    from izer.engine.core import Engine

__all__ = ["PrintController", "PrintOutcome", "QueuedPrint"]


@dataclass
class QueuedPrint:
    """A print request as queued: its job, the pictures in film order, what was left out."""

    job: Job
    pictures: list[str]
    skipped: list[str] = field(default_factory=list)
    preset: PrintPreset = field(default_factory=PrintPreset)


class PrintEvents:
    """``printed(job_id, outcome)``: a print job of this process ended well."""

    printed = Signal(int, object)


class PrintController:
    """Queues print jobs and runs them (see the module documentation)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self.events = PrintEvents()
        self._outcomes: dict[int, PrintOutcome] = {}
        self._lock = threading.Lock()
        engine.dispatch.register_handler(
            JobKind.PRINT,
            print_job_handler(
                engine.destination,
                lambda destination: destination.print,
                engine.associations,
                on_outcome=self._record,
            ),
        )

    def printers(self) -> list[Destination]:
        """The configured destinations with role ``print``."""
        return [d for d in self._engine.settings.destinations if Role.PRINT in d.roles]

    def printer(self, name: str) -> Destination:
        """The printer called ``name``, or an ``AET@host:port`` address (default preset).

        Raises
        ------
        ValueError
            For an unknown name, or a configured destination without the role ``print``.
        """
        destination = self._engine.destination(name)
        configured = self._engine.settings.destination(destination.name) is not None
        if configured and Role.PRINT not in destination.roles:
            names = ", ".join(d.name for d in self.printers()) or "none is configured"
            raise ValueError(
                f'destination {destination.name} lacks the role "print" (printers: {names})'
            )
        if destination.kind is not DestinationKind.DICOM:
            raise ValueError(f"{destination.name} is not a DICOM printer")
        return destination

    def queue(
        self,
        targets: Sequence[str | Path],
        printer: str,
        *,
        overrides: Mapping[str, Any] | None = None,
    ) -> QueuedPrint:
        """Queue one PRINT job with the pictures of ``targets`` on ``printer``.

        Targets are files, folders or store UIDs, as for sending; video, documents and other
        instances without a picture are left out (listed in ``skipped``). The preset is the
        printer's ``[destinations.print]`` with ``overrides`` (PrintPreset field names) applied.

        Raises
        ------
        ValueError
            For an unknown printer, a bad override, a target that cannot be read, or no
            picture at all among the targets.
        """
        destination = self.printer(printer)
        preset = destination.print.with_overrides(**dict(overrides or {}))
        records = self._engine.dispatch.resolve_targets(targets)
        pictures: list[Path] = []
        uids: list[str] = []
        skipped: list[str] = []
        for record in records:
            source = read_instance(record.path)
            if source.kind is ExportKind.IMAGE:
                pictures.append(record.path)
                uids.append(record.sop_instance_uid)
            else:
                what = source.kind.value if source.kind else source.skip_reason or "no picture"
                skipped.append(f"{record.sop_instance_uid}: {what}, not printed")
        if not pictures:
            raise ValueError(
                "nothing to print: the targets hold no picture (" + "; ".join(skipped) + ")"
            )
        studies = {record.study_instance_uid for record in records if record.path in pictures}
        job = self._engine.dispatch.outbox.enqueue(
            JobKind.PRINT,
            destination.name,
            sop_uid=print_job_key(),
            study_uid=next(iter(studies)) if len(studies) == 1 else None,
            payload=print_job_payload(pictures, preset),
        )
        return QueuedPrint(job, uids, skipped, preset)

    def outcome(self, job_id: int) -> PrintOutcome | None:
        """What a print job run by this process did (``None`` before it ended well)."""
        with self._lock:
            return self._outcomes.get(job_id)

    def _record(self, job: Job, outcome: PrintOutcome) -> None:
        with self._lock:
            self._outcomes[job.job_id] = outcome
        self.events.printed.emit(job.job_id, outcome)
