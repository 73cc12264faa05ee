"""``izer retrieve``: pull a study (or one series) from a Q/R archive into the local store.

C-MOVE to izer's own AE title by default (PS3.4 C.4.2): the archive must know izer as a
move destination; ``--get`` uses C-GET instead (C.4.3), over the same association.
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
from izer.engine import Engine
from izer.engine.retrieving import (
    AssociationFailed,
    RetrieveFailed,
    RetrieveProgress,
    RetrieveReport,
)


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "retrieve",
        parents=[global_options()],
        help="pull a study from a Q/R archive into the local store (C-MOVE or C-GET)",
        description="Retrieve a study (or one series) from a query source (a destination with "
        "role query) into the local store, e.g. to burn it with izer media build. C-MOVE to "
        "izer's AE title by default: izer listens on [listener] port for the duration, unless "
        "izer serve already does; --get asks for the instances over the same association.",
    )
    parser.add_argument("study", metavar="STUDY_UID", help="Study Instance UID")
    parser.add_argument("--series", metavar="UID", help="only this series of the study")
    parser.add_argument(
        "--source",
        metavar="NAME",
        help="the query source (configured name or AET@host:port; default: the only one)",
    )
    parser.add_argument("--get", action="store_true", help="C-GET instead of C-MOVE")
    parser.set_defaults(handler=handle)


def _progress(progress: RetrieveProgress) -> None:
    remaining = "?" if progress.remaining is None else str(progress.remaining)
    failed = f", {progress.failed} failed" if progress.failed else ""
    print(f"{progress.completed + progress.warning} completed, {remaining} remaining{failed}")


def handle(args: argparse.Namespace) -> int:
    settings = settings_for(args).settings
    with Engine.open(settings) as engine:
        try:
            source = engine.retrieve.source(args.source)
            method = engine.retrieve.get if args.get else engine.retrieve.move
            print(
                f"{'C-GET' if args.get else 'C-MOVE'} of study {args.study}"
                + (f" series {args.series}" if args.series else "")
                + f" from {source.name} ({source.address})",
                flush=True,
            )
            report = method(source, args.study, args.series or "", _progress)
        except ValueError as exc:
            return fail(str(exc), EXIT_USAGE)
        except (AssociationFailed, RetrieveFailed) as exc:
            return fail(str(exc), EXIT_FAILURE)
    return _summary(report)


def _summary(report: RetrieveReport) -> int:
    result = report.result
    what = f"study {report.study_uid}" + (
        f" (series {report.series_uid})" if report.series_uid else ""
    )
    if report.listener:
        print(f"received by {report.listener}")
    for uid in result.failed_sop_uids:
        fail(f"{report.source} could not send instance {uid}")
    for uid in report.missing:
        fail(f"instance {uid} is not in the local store")
    if report.missing_count and not report.missing:
        fail(f"{report.missing_count} announced instance(s) are not in the local store")
    count = len(report.stored)
    print(
        f"retrieved {count} instance{'s' if count != 1 else ''} of {what} into the local store"
        + (f", {result.failed} failed" if result.failed else "")
        + (f"; burn with `izer media build {report.study_uid}`" if count else "")
    )
    return 0 if report.complete else EXIT_FAILURE


main = subcommand_main("retrieve")
