"""The script PyInstaller freezes: ``izer`` (console) and, on Windows, ``izer-gui`` (windowed).

Both run :func:`izer.cli.main.run`. The windowed executable has no console, so its standard
streams are ``None``: they go to the null device, and without arguments it opens the
workstation window (``izer gui``) instead of choosing by the presence of a screen.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

GUI_EXECUTABLE = "izer-gui"


def _prepare_windowed() -> None:
    """Give a windowed executable writable streams and ``gui`` as its default command."""
    for name in ("stdin", "stdout", "stderr"):
        if getattr(sys, name) is None:
            setattr(sys, name, open(os.devnull, "r" if name == "stdin" else "w"))  # noqa: SIM115
    if len(sys.argv) == 1:
        sys.argv.append("gui")


if __name__ == "__main__":
    if Path(sys.executable).stem.lower() == GUI_EXECUTABLE:
        _prepare_windowed()

    from izer.cli.main import run

    run()
