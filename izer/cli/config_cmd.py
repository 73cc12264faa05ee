"""``izer config show|path|check``: inspect the settings."""

from __future__ import annotations

import argparse

from izer.cli.common import global_options, settings_for, subcommand_main
from izer.config import load_settings, settings_to_toml
from izer.config.loader import resolve_path


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "config", parents=[global_options()], help="show, locate or check the settings"
    )
    actions = parser.add_subparsers(dest="action", metavar="<action>", required=True)
    actions.add_parser("show", help="print the effective settings, defaults included")
    actions.add_parser("path", help="print which settings file is used")
    actions.add_parser("check", help="validate the settings file; exit 2 if unusable")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    if args.action == "path":
        path, _ = resolve_path(args.config)
        print(path)
        return 0
    if args.action == "check":
        loaded = load_settings(args.config)
        settings = loaded.settings
        print(
            f"{loaded.path}: OK (AE title {settings.station.ae_title}, "
            f"{len(settings.destinations)} destination(s))"
        )
        return 0
    loaded = settings_for(args)
    print(f"# effective settings from {loaded.path}")
    print(settings_to_toml(loaded.settings), end="")
    return 0


main = subcommand_main("config")
