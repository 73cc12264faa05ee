"""``izer echo DEST``: C-ECHO a configured destination or ``AET@host:port``."""

from __future__ import annotations

import argparse
import dataclasses

from izer.cli.common import (
    EXIT_FAILURE,
    EXIT_USAGE,
    fail,
    global_options,
    settings_for,
    subcommand_main,
)
from izer.engine import Engine


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "echo",
        parents=[global_options()],
        help="check that a DICOM peer answers (C-ECHO)",
        description=__doc__,
    )
    parser.add_argument("destination", help="a configured destination name, or AET@host:port")
    parser.add_argument(
        "--timeout-s",
        type=float,
        metavar="S",
        help="override the connect, association and response timeouts (seconds)",
    )
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    settings = settings_for(args).settings
    with Engine.open(settings) as engine:
        try:
            destination = engine.destination(args.destination)
        except ValueError as exc:
            return fail(str(exc), EXIT_USAGE)
        if args.timeout_s is not None:
            if args.timeout_s <= 0:
                return fail("--timeout-s must be more than 0", EXIT_USAGE)
            destination = dataclasses.replace(
                destination,
                connect_timeout_s=args.timeout_s,
                acse_timeout_s=args.timeout_s,
                dimse_timeout_s=args.timeout_s,
                network_timeout_s=args.timeout_s,
            )
        result = engine.echo(destination)
    if not result.ok:
        return fail(result.message, EXIT_FAILURE)
    print(result.message)
    return 0


main = subcommand_main("echo")
