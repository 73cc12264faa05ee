"""``izer bench store|convert|encode``: measure izer against a reference tool."""

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
    convert = which.add_parser(
        "convert", help="izer convert of 1080p JPEGs to VL Endoscopic vs DCMTK img2dcm"
    )
    convert.add_argument("--files", type=int, default=500, help="files per run (default 500)")
    convert.add_argument("--runs", type=int, default=3, help="paired runs (default 3)")
    encode = which.add_parser(
        "encode", help="1080p still encode per transfer syntax vs dcmcjpeg, dcmcjpls, dcmcrle"
    )
    encode.add_argument("--runs", type=int, default=10, help="runs per codec (default 10)")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    if getattr(args, "files", 1) < 1 or args.runs < 1:
        return fail("--files and --runs must be at least 1", EXIT_USAGE)
    if args.benchmark == "store":
        from izer.bench import store_import

        report = store_import.run(count=args.files, runs=args.runs)
    elif args.benchmark == "convert":
        from izer.bench import convert

        report = convert.run(count=args.files, runs=args.runs)
    else:
        from izer.bench import still_encode

        report = still_encode.run(runs=args.runs)
    print("\n".join(report.lines()))
    return 0


main = subcommand_main("bench")
