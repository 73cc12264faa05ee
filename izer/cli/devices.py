"""``izer devices``: the cameras, grabbers, scanners and microphones izer can use here.

Lists every device found with the ``--source`` text that opens it and the modes it offers
(or the mode it delivers when the platform cannot list them), then every kind of source with
whether it works on this machine and what it needs when it does not.
"""

from __future__ import annotations

import argparse
import json

from izer.cli.common import global_options, subcommand_main
from izer.engine import Engine


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "devices",
        parents=[global_options()],
        help="list capture devices and their modes",
        description=__doc__,
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    found, kinds = Engine.devices()
    if args.json:
        print(
            json.dumps(
                {
                    "devices": [
                        {
                            "kind": str(device.kind),
                            "source": device.spec,
                            "label": device.label,
                            "modes": [str(mode) for mode in device.modes],
                            "note": device.note,
                        }
                        for device in found
                    ],
                    "kinds": [
                        {"kind": kind, "available": available, "needs": needs}
                        for kind, available, needs in kinds
                    ],
                },
                indent=2,
            )
        )
        return 0
    if not found:
        print("no capture devices found (the synthetic source always works: --source synthetic)")
    for device in found:
        print(f"{device.spec}  {device.label}")
        for mode in device.modes:
            print(f"    {mode}")
        if device.note:
            print(f"    ({device.note})")
    print()
    print("source kinds:")
    for kind, available, needs in kinds:
        state = "available" if available else f"not available: {needs}"
        print(f"  {kind:<10} {state}")
    return 0


main = subcommand_main("devices")
