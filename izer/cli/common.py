"""What the subcommands share: loading settings, printing one-line errors."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from izer.config import LoadedSettings, load_settings

#: Exit status for bad usage or unusable settings (as argparse uses).
EXIT_USAGE = 2
#: Exit status when the work itself failed (a peer refused, a file was unreadable...).
EXIT_FAILURE = 1


def global_options(*, top_level: bool = False) -> argparse.ArgumentParser:
    """``--config``, ``-v`` and ``--debug``, accepted before or after the command name.

    A new parser each call: argparse shares option objects with every parser built from a
    parent, so the top level (real defaults) and each command (no defaults, so as not to
    override the top level) need their own.
    """
    parser = argparse.ArgumentParser(add_help=False)
    absent = None if top_level else argparse.SUPPRESS
    flag_absent = False if top_level else argparse.SUPPRESS
    parser.add_argument(
        "--config",
        metavar="FILE",
        default=absent,
        help="settings file (default: $IZER_CONFIG, then the platform config folder)",
    )
    loudness = parser.add_mutually_exclusive_group()
    loudness.add_argument(
        "-v", "--verbose", action="store_true", default=flag_absent, help="show progress"
    )
    loudness.add_argument(
        "--debug",
        action="store_true",
        default=flag_absent,
        help="show everything, including association detail",
    )
    return parser


def settings_for(args: argparse.Namespace) -> LoadedSettings:
    """Load the settings named by ``--config`` / ``IZER_CONFIG`` / the platform default."""
    loaded = load_settings(args.config)
    if loaded.created:
        print(
            f"izer: created settings file {loaded.path} "
            f"(AE title {loaded.settings.station.ae_title})",
            file=sys.stderr,
        )
    return loaded


def fail(message: str, status: int = EXIT_FAILURE) -> int:
    """Print ``izer: message`` on stderr and return ``status``."""
    print(f"izer: {message}", file=sys.stderr)
    return status


def subcommand_main(name: str) -> Callable[[Sequence[str] | None], int]:
    """A ``main(argv) -> int`` that runs ``izer <name> argv...`` in-process (for tests)."""

    def main(argv: Sequence[str] | None = None) -> int:
        from izer.cli.main import main as izer_main

        return izer_main([name, *(argv or [])])

    main.__doc__ = f"``izer {name} ...`` in-process; returns the exit status."
    return main


def positive_seconds(text: str) -> float:
    """An argparse type: a number of seconds more than 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds, got {value:g}")
    return value


def add_wait_options(parser: argparse.ArgumentParser, now: str, *, queued: str) -> None:
    """``--wait/--no-wait`` and ``--timeout S`` of commands that queue outbox jobs.

    ``now`` says what waiting does ("print now"), ``queued`` what is left queued ("the job").
    """
    parser.add_argument(
        "--wait",
        action=argparse.BooleanOptionalAction,
        default=True,
        help=f"{now} and wait for the outcome (default), or only queue {queued}",
    )
    parser.add_argument(
        "--timeout",
        type=positive_seconds,
        metavar="S",
        help=f"stop waiting after S seconds ({queued} stay(s) queued); default: no limit",
    )


@contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """An event set by Ctrl-C (SIGINT) or SIGTERM while inside; the handlers are put back."""
    stop = threading.Event()
    previous = {
        signum: signal.signal(signum, lambda *_: stop.set())
        for signum in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        yield stop
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
