"""``izer serve``: run izer's DICOM listener and send the outbox's jobs until Ctrl-C or SIGTERM.

The listener answers Verification, takes Storage Commitment reports (recorded for the
jobs that asked for them, also when they come late) and, with ``[listener] storage`` on (the
default), accepts instances sent to it (C-STORE) into the local store. Queued jobs (``izer
send --no-wait``, auto-send, retries) are sent while it runs, and with ``[dispatch]
retention_days`` set, delivered studies past retention are purged once an hour. With
``[[auto_export]]`` rules, received studies quiet for a rule's ``quiet_seconds`` are exported
to its folder (and queued to its ``forward`` destinations).
"""

from __future__ import annotations

import argparse
import logging
import time

from izer.cli.common import (
    EXIT_FAILURE,
    EXIT_USAGE,
    fail,
    global_options,
    settings_for,
    stop_on_signals,
    subcommand_main,
)
from izer.config.validate import ae_title_problem, port_problem
from izer.engine import Engine
from izer.engine.dispatching import DispatcherBusyError

log = logging.getLogger(__name__)

#: How often studies past retention are looked for.
PURGE_INTERVAL_S = 3600.0


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "serve",
        parents=[global_options()],
        help="answer DICOM associations and send queued jobs",
        description=__doc__,
    )
    parser.add_argument("--port", type=int, help="TCP port (default: listener.port)")
    parser.add_argument("--aet", help="called AE title (default: station.ae_title)")
    parser.add_argument(
        "--allow",
        action="append",
        metavar="AET",
        help="accept this calling AE title (repeatable; default: listener.allowed_calling_aets)",
    )
    parser.add_argument(
        "--no-send",
        action="store_true",
        help="only listen; leave the outbox's jobs to another izer",
    )
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    settings = settings_for(args).settings
    for problem in (
        port_problem(args.port) if args.port is not None else None,
        ae_title_problem(args.aet) if args.aet is not None else None,
        *(ae_title_problem(aet) for aet in args.allow or ()),
    ):
        if problem:
            return fail(problem, EXIT_USAGE)
    with stop_on_signals() as stop, Engine.open(settings) as engine:
        listener = engine.listener(
            port=args.port,
            ae_title=args.aet,
            allowed_calling_aets=tuple(args.allow) if args.allow else None,
        )
        try:
            listener.start()
        except OSError as exc:
            return fail(
                f"cannot listen on port {listener.port}: {exc.strerror or exc}", EXIT_FAILURE
            )
        allowed = ", ".join(listener.allowed_calling_aets) or "any"
        services = "Verification, Storage Commitment reports"
        if listener.accepts_storage:
            services += f"; accepting storage into {engine.store.folder}"
        if engine.auto_export.enabled:
            services += f"; auto-export rules: {engine.auto_export.describe()}"
        print(
            f"izer: listening as {listener.ae_title} on port {listener.port} "
            f"({services}); calling AE titles allowed: {allowed}; Ctrl-C stops",
            flush=True,
        )
        dispatch = engine.dispatch
        dispatch.attach_listener(listener)
        sending = not args.no_send and _start_sending(engine)
        next_purge = time.monotonic()
        try:
            while not stop.wait(0.5):
                _auto_export(engine)
                if sending and time.monotonic() >= next_purge:
                    next_purge = time.monotonic() + PURGE_INTERVAL_S
                    _purge(engine)
        finally:
            dispatch.stop()
            dispatch.attach_listener(None)
            listener.stop()
        print("izer: listener stopped", flush=True)
    return 0


def _start_sending(engine: Engine) -> bool:
    """Run the dispatcher; ``False`` (with a note) when another izer already does."""
    try:
        engine.dispatch.start()
    except DispatcherBusyError as exc:
        print(f"izer: not sending queued jobs: {exc}", flush=True)
        return False
    print(f"izer: sending queued jobs from {engine.dispatch.outbox_path}", flush=True)
    return True


def _auto_export(engine: Engine) -> None:
    """Export (and forward) the received studies that are quiet; never stops the loop."""
    try:
        engine.auto_export.run_due()
    except Exception:
        log.exception("auto-export failed; trying again in a moment")


def _purge(engine: Engine) -> None:
    if engine.settings.dispatch.retention_days <= 0:
        return
    try:
        report = engine.dispatch.purge()
    except Exception:
        log.exception("purging delivered studies failed; trying again in an hour")
        return
    if report.studies:
        print(
            f"izer: purged {len(report.studies)} delivered stud"
            f"{'y' if len(report.studies) == 1 else 'ies'} ({report.instances} instances)",
            flush=True,
        )


main = subcommand_main("serve")
