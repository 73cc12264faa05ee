"""``izer store rebuild``: re-create the store's index from its files."""

from __future__ import annotations

import argparse

from izer.cli.common import EXIT_FAILURE, global_options, settings_for, subcommand_main
from izer.engine import Engine


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "store", parents=[global_options()], help="maintain the local study store"
    )
    actions = parser.add_subparsers(dest="action", metavar="<action>", required=True)
    actions.add_parser("rebuild", help="re-create the index from the files on disk")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    settings = settings_for(args).settings
    with Engine.open(settings) as engine:
        report = engine.store.rebuild()
        folder = engine.store.folder
    print(f"indexed {report.indexed} file(s) in {folder}")
    if report.removed_temporaries:
        print(f"removed {report.removed_temporaries} unfinished temporary file(s)")
    for path, reason in report.unreadable:
        print(f"izer: skipped {path}: {reason}")
    return EXIT_FAILURE if report.unreadable else 0


main = subcommand_main("store")
