"""``izer queue``: look at and steer the outbox (the jobs ``izer send`` and auto-send queue).

    izer queue [list] [--all] [--json] [--destination D]   jobs not yet done (--all: every job)
    izer queue retry [JOB_ID...] [--destination D]         try failed and waiting jobs now
    izer queue cancel JOB_ID... | --destination D | --all  cancel jobs not yet done
    izer queue pause DEST / izer queue resume DEST         hold or release a destination
    izer queue run [--timeout S] [--wait-retries]          send what can be sent now, then stop
    izer queue purge [--dry-run]                           remove local studies past retention

DEST is a configured destination name or AET@host:port, as given to ``izer send``. Changes
reach a running ``izer serve`` at its next look at the outbox (within a second).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from izer.cli.common import (
    EXIT_FAILURE,
    EXIT_USAGE,
    fail,
    global_options,
    settings_for,
    subcommand_main,
)
from izer.engine import Engine
from izer.engine.dispatching import PENDING_STATES, DispatcherBusyError, Job, JobState


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "queue",
        parents=[global_options()],
        help="list, retry, cancel, pause or resume outgoing jobs",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(handler=handle, action="list", all=False, json=False, destination=None)
    actions = parser.add_subparsers(dest="action", metavar="<action>")
    listing = actions.add_parser("list", parents=[global_options()], help="list jobs")
    _listing_options(listing)
    # ``izer queue --all`` without the word ``list``:
    _listing_options(parser)

    retry = actions.add_parser(
        "retry", parents=[global_options()], help="try failed and waiting jobs now"
    )
    retry.add_argument("job_ids", nargs="*", type=int, metavar="JOB_ID")
    retry.add_argument("--destination", metavar="DEST", help="only this destination's jobs")

    cancel = actions.add_parser(
        "cancel", parents=[global_options()], help="cancel jobs that are not done"
    )
    cancel.add_argument("job_ids", nargs="*", type=int, metavar="JOB_ID")
    cancel.add_argument("--destination", metavar="DEST", help="every job of this destination")
    cancel.add_argument("--all", action="store_true", help="every job not done")

    for name, what in (("pause", "start no new job for"), ("resume", "send again to")):
        action = actions.add_parser(name, parents=[global_options()], help=f"{what} DEST")
        action.add_argument("target", metavar="DEST")

    run = actions.add_parser(
        "run", parents=[global_options()], help="send the queued jobs now, then stop"
    )
    run.add_argument("--timeout", type=float, default=3600.0, metavar="S")
    run.add_argument(
        "--wait-retries",
        action="store_true",
        help="also wait for jobs whose next try is later (receiver down)",
    )

    purge = actions.add_parser(
        "purge",
        parents=[global_options()],
        help="remove local studies that are delivered (and committed) and past retention_days",
    )
    purge.add_argument("--dry-run", action="store_true", help="only say what would go")


def _listing_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--all", action="store_true", help="also jobs done or cancelled")
    parser.add_argument("--json", action="store_true", help="one JSON array, for scripts")
    parser.add_argument("--destination", metavar="DEST", help="only this destination's jobs")


def handle(args: argparse.Namespace) -> int:
    settings = settings_for(args).settings
    with Engine.open(settings) as engine:
        try:
            return _ACTIONS_RUN[args.action or "list"](engine, args)
        except ValueError as exc:
            return fail(str(exc), EXIT_USAGE)


def _list(engine: Engine, args: argparse.Namespace) -> int:
    dispatch = engine.dispatch
    states = None if args.all else [*PENDING_STATES, JobState.FAILED]
    jobs = dispatch.jobs(destination=args.destination, states=states)
    if args.json:
        print(json.dumps([_as_json(job) for job in jobs], indent=1))
        return 0
    paused = sorted(dispatch.outbox.paused())
    if paused:
        print(f"paused: {', '.join(paused)}")
    if not jobs:
        print("no jobs" if args.all else "no jobs waiting or failed (--all lists every job)")
        return 0
    header = ("ID", "Kind", "Destination", "State", "Tries", "Next try", "Size", "Instance")
    rows = [
        (
            str(job.job_id),
            job.kind.value,
            job.destination,
            job.state.value,
            str(job.attempts),
            job.next_try_at.astimezone().strftime("%H:%M:%S") if job.next_try_at else "",
            f"{job.bytes_total / 1_000_000:.1f} MB" if job.bytes_total else "",
            job.sop_uid or job.study_uid or "",
        )
        for job in jobs
    ]
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    for row in (header, *rows):
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
    for job in jobs:
        if job.last_error and job.state in (JobState.FAILED, JobState.WAITING):
            reason = job.last_error.replace("\n", "\n    ")
            print(f"job {job.job_id}: {reason}")
    return 0


def _as_json(job: Job) -> dict[str, Any]:
    return {
        "job_id": job.job_id,
        "kind": job.kind.value,
        "destination": job.destination,
        "sop_uid": job.sop_uid,
        "study_uid": job.study_uid,
        "state": job.state.value,
        "attempts": job.attempts,
        "next_try_at": job.next_try_at.isoformat() if job.next_try_at else None,
        "last_error": job.last_error,
        "bytes_done": job.bytes_done,
        "bytes_total": job.bytes_total,
        "created_at": job.created_at.isoformat(),
        "updated_at": job.updated_at.isoformat(),
    }


def _retry(engine: Engine, args: argparse.Namespace) -> int:
    count = engine.dispatch.retry(args.job_ids or None, destination=args.destination)
    print(f"{count} job(s) queued to be tried now")
    return 0


def _cancel(engine: Engine, args: argparse.Namespace) -> int:
    if not (args.job_ids or args.destination or args.all):
        return fail("cancel what? give JOB_IDs, --destination DEST or --all", EXIT_USAGE)
    count = engine.dispatch.cancel(args.job_ids or None, destination=args.destination)
    print(f"{count} job(s) cancelled")
    return 0


def _pause(engine: Engine, args: argparse.Namespace) -> int:
    name = engine.dispatch.pause(args.target)
    print(f"{name}: paused (running jobs finish; izer queue resume {name} sends again)")
    return 0


def _resume(engine: Engine, args: argparse.Namespace) -> int:
    name = engine.dispatch.resume(args.target)
    print(f"{name}: resumed")
    return 0


def _run(engine: Engine, args: argparse.Namespace) -> int:
    dispatch = engine.dispatch
    try:
        idle = dispatch.run_until_idle(args.timeout, wait_for_retries=args.wait_retries)
    except DispatcherBusyError as exc:
        return fail(str(exc))
    left = dispatch.jobs(states=PENDING_STATES)
    failed = dispatch.jobs(states=[JobState.FAILED])
    print(f"{len(left)} job(s) still pending, {len(failed)} failed")
    for job in failed:
        print(f"izer: job {job.job_id} failed: {job.last_error}", file=sys.stderr)
    if not idle:
        return fail(f"--timeout ({args.timeout:g} s) ran out")
    return EXIT_FAILURE if failed else 0


def _purge(engine: Engine, args: argparse.Namespace) -> int:
    days = engine.settings.dispatch.retention_days
    if days <= 0:
        print("[dispatch] retention_days is 0: local files are kept forever; nothing purged")
        return 0
    report = engine.dispatch.purge(dry_run=args.dry_run)
    verb = "would remove" if args.dry_run else "removed"
    print(
        f"{verb} {len(report.studies)} stud{'y' if len(report.studies) == 1 else 'ies'} "
        f"({report.instances} instances, {report.bytes / 1_000_000:.1f} MB)"
    )
    for study, reason in sorted(report.kept.items()):
        print(f"kept {study}: {reason}")
    return 0


_ACTIONS_RUN = {
    "list": _list,
    "retry": _retry,
    "cancel": _cancel,
    "pause": _pause,
    "resume": _resume,
    "run": _run,
    "purge": _purge,
}

main = subcommand_main("queue")
