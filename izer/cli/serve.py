"""``izer serve``: run izer's DICOM listener until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import signal
import threading

from izer.cli.common import (
    EXIT_FAILURE,
    EXIT_USAGE,
    fail,
    global_options,
    settings_for,
    subcommand_main,
)
from izer.config.validate import ae_title_problem, port_problem
from izer.engine import Engine


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "serve",
        parents=[global_options()],
        help="answer DICOM associations (Verification)",
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
    stop = threading.Event()
    previous = {
        signum: signal.signal(signum, lambda *_: stop.set())
        for signum in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        with Engine.open(settings) as engine:
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
            print(
                f"izer: listening as {listener.ae_title} on port {listener.port} "
                f"(Verification); calling AE titles allowed: {allowed}; Ctrl-C stops",
                flush=True,
            )
            try:
                while not stop.wait(0.5):
                    pass
            finally:
                listener.stop()
            print("izer: listener stopped", flush=True)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 0


main = subcommand_main("serve")
