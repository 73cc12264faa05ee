"""``izer procedure start|complete|discontinue|status``: the procedure and its MPPS.

``start --accession ACC`` looks the order up in the worklist and makes it the procedure's
context (Study Instance UID, accession, Request Attributes); ``start --unscheduled`` takes a
patient without an order (emergency): a temporary ID and a generated accession. Starting
queues the MPPS N-CREATE (IN PROGRESS), ending it the N-SET (COMPLETED or DISCONTINUED); each
command tries to send them for up to ``--wait-s`` seconds, and what is not sent stays queued
(``izer queue``, ``izer serve``).
"""

from __future__ import annotations

import argparse

from izer.cli.common import (
    EXIT_FAILURE,
    EXIT_USAGE,
    fail,
    global_options,
    settings_for,
    subcommand_main,
)
from izer.engine import Engine, WorklistError, WorklistQuery
from izer.model import Procedure, ProcedureState, Sex, TransitionError

REASON_HELP = (
    "CID 9300 code: 110514 incorrect worklist entry selected (wrong patient), 110513 "
    "unspecified (default), 110501 equipment failure, 110505 patient refused, 110500 doctor "
    "canceled, 110515 patient condition"
)


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "procedure",
        parents=[global_options()],
        help="start, complete or discontinue a procedure (with its MPPS)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="action", metavar="<action>", required=True)
    start = actions.add_parser(
        "start", parents=[global_options()], help="select the patient and start"
    )
    which = start.add_mutually_exclusive_group(required=True)
    which.add_argument("--accession", metavar="ACC", help="the worklist order to perform")
    which.add_argument("--unscheduled", action="store_true", help="no order (emergency)")
    start.add_argument("--from", dest="providers", action="append", metavar="DEST",
                       help="worklist provider(s) to ask (default: all)")  # fmt: skip
    start.add_argument("--patient-name", metavar="NAME", help="Family^Given (unscheduled)")
    start.add_argument("--patient-id", metavar="ID", help="default: a temporary ID")
    start.add_argument("--birth-date", metavar="YYYYMMDD", default="")
    start.add_argument("--sex", choices=["M", "F", "O"], default="")
    start.add_argument("--description", default="", help="Study Description (unscheduled)")
    complete = actions.add_parser(
        "complete", parents=[global_options()], help="end the procedure: MPPS COMPLETED"
    )
    discontinue = actions.add_parser(
        "discontinue", parents=[global_options()], help="abandon it: MPPS DISCONTINUED"
    )
    discontinue.add_argument("--reason", metavar="CODE", default=None, help=REASON_HELP)
    status = actions.add_parser("status", parents=[global_options()], help="show the procedure")
    for sub in (start, complete, discontinue):
        sub.add_argument(
            "--wait-s",
            type=float,
            default=10.0,
            metavar="S",
            help="try to send the MPPS message for up to S seconds (0: only queue it)",
        )
    for sub in (start, complete, discontinue, status):
        sub.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    settings = settings_for(args).settings
    with Engine.open(settings) as engine:
        try:
            if args.action == "start":
                status = _start(engine, args)
                if status:
                    return status
            elif args.action == "complete":
                if engine.state in (ProcedureState.IN_PROGRESS, ProcedureState.APPENDING):
                    engine.review()
                engine.complete()
            elif args.action == "discontinue":
                engine.discontinue(args.reason)
        except (TransitionError, ValueError) as exc:
            return fail(str(exc), EXIT_USAGE)
        procedure = engine.procedure
        if args.action in ("complete", "discontinue"):
            engine.release()  # the station is free for the next patient
        if args.action != "status":
            _send(engine, args.wait_s)
        _print_status(procedure)
    return 0


def _start(engine: Engine, args: argparse.Namespace) -> int:
    if args.unscheduled:
        if not args.patient_name:
            return fail("--unscheduled needs --patient-name (Family^Given)", EXIT_USAGE)
        engine.select_unscheduled(
            args.patient_name,
            birth_date=args.birth_date,
            sex=Sex(args.sex),
            patient_id=args.patient_id,
            description=args.description,
        )
    else:
        try:
            result = engine.worklist(
                WorklistQuery(accession_number=args.accession), providers=args.providers
            )
        except WorklistError as exc:
            return fail(str(exc), EXIT_FAILURE)
        items = [i for i in result.items if i.accession_number == args.accession]
        if len(items) != 1:
            found = "no" if not items else f"{len(items)}"
            return fail(
                f"{found} worklist item(s) with accession {args.accession!r}; check the "
                "number with izer worklist --date any --any-station",
                EXIT_FAILURE,
            )
        engine.select_worklist_item(items[0])
    engine.start()
    return 0


def _send(engine: Engine, wait_s: float) -> None:
    if wait_s <= 0 or not engine.dispatch.mpps_destinations():
        return
    engine.dispatch.run_until_idle(wait_s)
    for job in engine.dispatch.outbox.jobs(kind="mpps", states=("queued", "waiting", "failed")):
        fail(f"MPPS to {job.destination} not sent yet: {job.last_error or 'queued'}", 0)


def _print_status(procedure: Procedure | None) -> None:
    if procedure is None:
        print("state: IDLE (no procedure selected)")
        return
    print(f"procedure {procedure.procedure_id}: {procedure.state.value}")
    print(f"patient: {procedure.patient.name} ({procedure.patient.patient_id})")
    print(f"accession: {procedure.accession_number}")
    print(f"study: {procedure.study_uid}")
    if procedure.mpps_uid:
        print(f"mpps: {procedure.mpps_uid}")


main = subcommand_main("procedure")
