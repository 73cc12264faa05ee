"""``izer bench store``: measure izer against a reference tool and print the ratio."""

from __future__ import annotations

import argparse

from izer.cli.common import EXIT_USAGE, fail, global_options, subcommand_main


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "bench",
        parents=[global_options()],
        help="benchmarks against reference tools (not tests)",
        description=__doc__,
    )
    which = parser.add_subparsers(dest="benchmark", metavar="<benchmark>", required=True)
    store = which.add_parser("store", help="store import vs cp + sync")
    store.add_argument("--files", type=int, default=200, help="files per run (default 200)")
    store.add_argument("--runs", type=int, default=5, help="paired runs (default 5)")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from izer.bench import store_import

    if args.files < 1 or args.runs < 1:
        return fail("--files and --runs must be at least 1", EXIT_USAGE)
    report = store_import.run(count=args.files, runs=args.runs)
    print("\n".join(report.lines()))
    return 0


main = subcommand_main("bench")
