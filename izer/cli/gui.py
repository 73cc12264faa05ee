"""``izer gui``: the workstation window (``izer`` with no command opens it too).

Without a screen (no DISPLAY or WAYLAND_DISPLAY on Linux, or an offscreen Qt platform),
``izer`` with no command runs the headless demo instead, and ``izer gui`` says why it cannot
open a window.
"""

from __future__ import annotations

import argparse
import os
import sys

from izer.cli.common import EXIT_FAILURE, fail, global_options, settings_for, subcommand_main


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "gui",
        parents=[global_options()],
        help="open the workstation window (worklist, capture, review, dispatch)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--quit-after", type=float, metavar="S", help="close by itself after S seconds"
    )
    parser.set_defaults(handler=handle)


def display_available() -> bool:
    """Whether a window can be shown here."""
    platform = os.environ.get("QT_QPA_PLATFORM", "")
    if platform.split(":")[0] in ("offscreen", "minimal", "vnc"):
        return platform.startswith("vnc")
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or platform)
    return True


def handle(args: argparse.Namespace) -> int:
    loaded = settings_for(args)
    settings = loaded.settings
    if not display_available() and os.environ.get("QT_QPA_PLATFORM", "") == "":
        return fail(
            "no screen here (DISPLAY is not set): run izer gui on the workstation's desktop, "
            "or izer demo for the headless demo",
            EXIT_FAILURE,
        )
    from izer.gui.app import run

    return run(settings, settings_path=loaded.path, quit_after_s=args.quit_after)


main = subcommand_main("gui")
