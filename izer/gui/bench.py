"""``izer bench gui``: from launching izer to the worklist on screen, against a bare Qt window.

Each run starts a new process with the launch time in ``IZER_LAUNCHED_AT``; the process
prints how long after that its window was on screen (after the first turn of the event loop
that painted it) and quits. izer opens its engine, store and every screen and shows the
worklist screen; the reference is PyQt6 alone showing a main window with an empty table. The
worklist's entries come from the worklist servers afterwards, on a worker thread.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

#: Printed by the child: ``on screen after <seconds>``.
MARKER = "on screen after "

_REFERENCE = """
import os, sys, time
from PyQt6.QtCore import QTimer
from PyQt6.QtWidgets import QApplication, QMainWindow, QTableView
app = QApplication(sys.argv[:1])
window = QMainWindow()
window.setCentralWidget(QTableView())
window.resize(1440, 900)
window.show()
def done():
    print("on screen after", time.time() - float(os.environ["IZER_LAUNCHED_AT"]), flush=True)
    app.quit()
QTimer.singleShot(0, done)
app.exec()
"""


@dataclass
class StartupReport:
    """Seconds to the window on screen, per run, for izer and the reference."""

    izer_s: list[float]
    reference_s: list[float]

    def lines(self) -> list[str]:
        izer, reference = statistics.median(self.izer_s), statistics.median(self.reference_s)
        return [
            f"izer gui, launch to worklist on screen: median {izer:.2f} s "
            f"(runs: {', '.join(f'{s:.2f}' for s in self.izer_s)})",
            f"bare PyQt6 window (reference): median {reference:.2f} s",
            f"ratio izer / reference: {izer / reference:.2f}",
        ]


def _timed(command: list[str], env: dict[str, str]) -> float:
    env = {**env, "IZER_LAUNCHED_AT": repr(time.time())}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    for line in done.stdout.splitlines():
        if line.startswith(MARKER):
            return float(line.removeprefix(MARKER))
    raise RuntimeError(f"{command[0]} did not report its start: {done.stderr[-800:]}")


def run(runs: int = 5) -> StartupReport:
    """Start izer's window and the reference ``runs`` times each, alternating."""
    env = dict(os.environ)
    if not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY"):
        env.setdefault("QT_QPA_PLATFORM", "offscreen")
    with tempfile.TemporaryDirectory(prefix="izer-bench-gui-") as folder:
        config = Path(folder) / "izer.toml"
        config.write_text(
            '[station]\nae_title = "BENCHGUI"\nuid_root = "1.2.826.0.1.3680043.10.1452"\n'
            f'[storage]\nfolder = "{(Path(folder) / "store").as_posix()}"\n',
            encoding="utf-8",
        )
        izer = [sys.executable, "-m", "izer", "--config", str(config), "gui", "--quit-after", "0"]
        reference = [sys.executable, "-c", _REFERENCE]
        _timed(izer, env)  # warm the file cache once, as on a workstation in use
        izer_s, reference_s = [], []
        for _ in range(runs):
            izer_s.append(_timed(izer, env))
            reference_s.append(_timed(reference, env))
    return StartupReport(izer_s, reference_s)
