"""``izer [--config FILE] [-v | --debug] <command> ...``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from izer import __version__
from izer.cli import (
    bench,
    capture,
    config_cmd,
    convert,
    demo,
    devices,
    echo,
    export,
    gui,
    import_cmd,
    media,
    print_cmd,
    procedure,
    query,
    queue,
    reconcile,
    report,
    retrieve,
    send,
    serve,
    store_cmd,
    studies,
    view,
    worklist,
)
from izer.cli.common import EXIT_USAGE, fail, global_options
from izer.config import SettingsError
from izer.logging_setup import configure_logging

SUBCOMMANDS = (
    gui,
    demo,
    capture,
    devices,
    config_cmd,
    worklist,
    query,
    retrieve,
    procedure,
    studies,
    store_cmd,
    reconcile,
    import_cmd,
    convert,
    export,
    view,
    report,
    echo,
    send,
    print_cmd,
    media,
    queue,
    serve,
    bench,
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="izer",
        description="izer, the DICOMizer workstation. Without a command it opens the "
        "workstation window, or runs the headless demo procedure where there is no screen.",
        parents=[global_options(top_level=True)],
    )
    parser.add_argument("--version", action="version", version=f"izer {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="<command>")
    for module in SUBCOMMANDS:
        module.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run izer with ``argv`` (default: the process arguments); return the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse has printed its message
        return int(exc.code or 0)
    configure_logging(verbose=args.verbose, debug=args.debug)
    handler = getattr(args, "handler", None)
    if handler is None:
        given = list(argv) if argv is not None else sys.argv[1:]
        default = "gui" if gui.display_available() else "demo"
        args = parser.parse_args([*given, default])
        handler = args.handler
    try:
        return int(handler(args))
    except SettingsError as exc:
        return fail(str(exc), EXIT_USAGE)
    except KeyboardInterrupt:
        return fail("interrupted", 130)


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
