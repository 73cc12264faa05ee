"""``izer view``: review the local studies in a web browser, on this machine only.

The page lists the studies of the local store with a picture of each, and shows a study's
stills, H.264 videos (played in the browser), PDF documents and every instance's
attributes. It is served on 127.0.0.1 (other machines cannot connect), on a free port, and
its address carries a secret token: only someone given the printed address can open it.
MPEG-2 and HEVC videos cannot play in a browser: ``izer export`` turns them into files a
player takes. Runs until Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import html
import os
import tempfile
import threading
import webbrowser
from pathlib import Path

from izer.cli.common import (
    EXIT_FAILURE,
    EXIT_USAGE,
    fail,
    global_options,
    positive_seconds,
    settings_for,
    stop_on_signals,
    subcommand_main,
)
from izer.cli.gui import display_available
from izer.config.validate import port_problem
from izer.engine import Engine
from izer.view import ReviewServer

#: How often the command looks whether it should stop.
_POLL_S = 0.5


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "view",
        parents=[global_options()],
        help="review the local studies in a web browser (this machine only)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--port", type=int, default=0, help="TCP port on 127.0.0.1 (default: a free one)"
    )
    parser.add_argument(
        "--no-browser", action="store_true", help="only print the address; open no browser"
    )
    parser.add_argument("--serve-seconds", type=positive_seconds, help=argparse.SUPPRESS)
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    settings = settings_for(args).settings
    if args.port:
        problem = port_problem(args.port)
        if problem:
            return fail(problem, EXIT_USAGE)
    with stop_on_signals() as stop, Engine.open(settings) as engine:
        try:
            server = ReviewServer(engine.viewing, port=args.port)
        except OSError as exc:
            return fail(
                f"cannot listen on 127.0.0.1 port {args.port}: {exc.strerror or exc}; "
                "choose another --port or leave it out",
                EXIT_FAILURE,
            )
        with server:
            print(
                f"izer: review page for {engine.store.folder} at {server.url} "
                "(this machine only; the address is the key, do not share it); Ctrl-C stops",
                flush=True,
            )
            if not args.no_browser and display_available():
                _open_in_browser(server.url)
            _serve(server, stop, args.serve_seconds)
        engine.viewing.clear_cache()
        print("izer: review page stopped", flush=True)
    return 0


def _open_in_browser(url: str) -> None:
    """Open ``url`` without putting its token on a command line other users can read.

    The browser is given a file readable only by this user that forwards to the page (the
    way Jupyter does); the file is removed a minute later.
    """
    handle, name = tempfile.mkstemp(prefix="izer-view-", suffix=".html")
    page = Path(name)
    target = html.escape(url, quote=True)
    with os.fdopen(handle, "w", encoding="utf-8") as out:  # mkstemp makes it mode 0600
        out.write(
            f'<!DOCTYPE html><meta charset="utf-8"><meta http-equiv="refresh" '
            f'content="0;url={target}"><title>izer</title><a href="{target}">izer review page</a>'
        )
    webbrowser.open(page.as_uri())
    timer = threading.Timer(60.0, lambda: page.unlink(missing_ok=True))
    timer.daemon = True
    timer.start()


def _serve(server: ReviewServer, stop: threading.Event, seconds: float | None) -> None:
    """Until a signal, :meth:`ReviewServer.stop` (from another thread) or ``seconds``."""
    waited = 0.0
    while server.running and not stop.wait(_POLL_S):
        waited += _POLL_S
        if seconds is not None and waited >= seconds:
            return


main = subcommand_main("view")
