"""``izer print TARGET... --to PRINTER``: print pictures on a DICOM film printer.

TARGET is a Study, Series or SOP Instance UID of the local store, a DICOM file or a folder.
Its pictures (video, documents and sound are left out) fill films in the order given, as many
films as needed, through DICOM Basic Grayscale or Basic Color Print Management (PS3.4 Annex H).
PRINTER is a destination with role "print" (its [destinations.print] preset applies) or
AET@host:port. The options below override the preset for this print; an option left out is
the preset's value, and a value the preset leaves empty is not sent (the printer's default).

The print is a job in the outbox: a printer that is off-line or out of film delays it (tried
again with a growing delay), it is never lost. With --wait (the default) izer prints now and
waits; with --no-wait the job is left to izer serve, izer queue run or the GUI.

A printer that refuses colour gets the film in grayscale, with a note.

Exit status: 0 printed (or queued with --no-wait), 1 the print failed or --timeout ran out
(the job stays queued), 2 a wrong target, printer or option.
"""

from __future__ import annotations

import argparse
import sys
import time

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
from izer.engine.dispatching import DispatcherBusyError, JobState

#: How often the job is looked at while waiting.
POLL_S = 0.2


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "print",
        parents=[global_options()],
        help="print pictures on a DICOM film printer (Basic Grayscale/Color Print)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("targets", nargs="+", metavar="TARGET", help="store UIDs, files, folders")
    parser.add_argument(
        "--to", required=True, metavar="PRINTER", help="printer name or AET@host:port"
    )
    film = parser.add_argument_group("film (overrides the printer's preset)")
    film.add_argument(
        "--layout",
        dest="display_format",
        metavar="C,R",
        help=r"boxes per film: columns,rows (2,2), or STANDARD\C,R, ROW\a,b..., COL\a,b...",
    )
    film.add_argument(
        "--film", dest="film_size", metavar="SIZE", help="film size: 14INX17IN, A4..."
    )
    film.add_argument(
        "--orientation", dest="film_orientation", type=str.upper, choices=["PORTRAIT", "LANDSCAPE"]
    )
    colour = film.add_mutually_exclusive_group()
    colour.add_argument(
        "--color", dest="color", action="store_const", const=True, help="print in colour"
    )
    colour.add_argument(
        "--gray", dest="color", action="store_const", const=False, help="print in grayscale"
    )
    film.add_argument("--bits", dest="bit_depth", type=int, choices=[8, 12], help="grayscale bits")
    film.add_argument("--copies", type=int, metavar="N", help="number of copies")
    film.add_argument("--medium", metavar="TYPE", help="PAPER, CLEAR FILM, BLUE FILM...")
    film.add_argument("--magnification", metavar="TYPE", help="REPLICATE, BILINEAR, CUBIC, NONE")
    film.add_argument("--priority", metavar="P", help="HIGH, MED or LOW")
    film.add_argument("--label", dest="session_label", metavar="TEXT", help="film session label")
    add_wait_options(parser, "print now", queued="the job")
    parser.set_defaults(handler=handle)


#: The options that override a PrintPreset field of the same name.
OVERRIDES = (
    "display_format",
    "film_size",
    "film_orientation",
    "color",
    "bit_depth",
    "copies",
    "medium",
    "magnification",
    "priority",
    "session_label",
)


def handle(args: argparse.Namespace) -> int:
    settings = settings_for(args).settings
    overrides = {name: getattr(args, name) for name in OVERRIDES if getattr(args, name) is not None}
    with Engine.open(settings) as engine:
        try:
            queued = engine.printing.queue(args.targets, args.to, overrides=overrides)
        except ValueError as exc:
            return fail(str(exc), EXIT_USAGE)
        for line in queued.skipped:
            print(f"izer: {line}", file=sys.stderr)
        job = queued.job
        preset = queued.preset
        colour = "colour" if preset.color else "grayscale"
        print(
            f"print job {job.job_id}: {len(queued.pictures)} picture(s) on {job.destination}, "
            f"{preset.display_format}, {preset.film_size or 'printer film size'}, {colour}",
            flush=True,
        )
        if not args.wait:
            print("queued; izer serve, izer queue run or the GUI prints it")
            return 0
        return _wait(engine, job.job_id, args.timeout)


def _wait(engine: Engine, job_id: int, timeout: float | None) -> int:
    dispatch = engine.dispatch
    try:
        dispatch.start()
    except DispatcherBusyError as exc:
        print(f"izer: {exc}; waiting for it to print this job", file=sys.stderr)
    deadline = None if timeout is None else time.monotonic() + timeout
    seen: tuple[JobState, int] | None = None
    try:
        while True:
            job = dispatch.outbox.job(job_id)
            if job is None:
                return fail(f"print job {job_id} disappeared from the outbox")
            if (job.state, job.attempts) != seen:
                seen = (job.state, job.attempts)
                if job.state is JobState.WAITING and job.next_try_at is not None:
                    when = job.next_try_at.astimezone().strftime("%H:%M:%S")
                    reason = job.last_error.splitlines()[0] if job.last_error else ""
                    print(
                        f"attempt {job.attempts} failed, next try at {when}: {reason}", flush=True
                    )
            if not job.pending:
                break
            if deadline is not None and time.monotonic() > deadline:
                return fail(
                    f"--timeout ran out; print job {job_id} stays queued (izer queue lists it)"
                )
            time.sleep(POLL_S)
    finally:
        dispatch.stop()
    if job.state is not JobState.DONE:
        return fail(f"print job {job_id} {job.state.value}: {job.last_error}", EXIT_FAILURE)
    outcome = engine.printing.outcome(job_id)
    if outcome is None:
        print(f"printed on {job.destination} (by another izer)")
        return 0
    colour = "colour" if outcome.color else "grayscale"
    print(
        f"printed {outcome.films} film(s), {outcome.images} picture(s), {colour}, on "
        f"{job.destination} (printer status {outcome.printer_status or 'not reported'})"
    )
    for note in outcome.notes:
        print(f"note: {note}")
    return 0


main = subcommand_main("print")
