"""Screenshots of every screen with made-up patients, for docs/user-guide.md.

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python -m tests.gui.screenshots \
        --out docs/screenshots

A DCMTK worklist server (wlmscpfs, started with the test peers' harness) holds a morning list;
the window picks a patient, takes stills and a clip from the synthetic camera, reviews them,
and looks at sending and settings. Each screen is saved as ``<NN>-<name>.png``. Without a
display (no DISPLAY) it renders offscreen instead of on Xvfb.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PyQt6.QtWidgets import QApplication, QWidget

from izer.config import load_settings
from izer.engine import Engine
from tests.peers.harness import PeerSet
from tests.peers.worklist import write_worklist_item

STATION = "ENDO1"
UID_ROOT = "1.2.826.0.1.3680043.10.1452"
#: The morning list (all made up).
MORNING = [
    ("081500", "VARGA^Zsófia", "H-204811", "19790214", "F", "ACC24-0311", "Colonoscopy"),
    ("084500", "Okonkwo^Emeka", "H-188302", "19640907", "M", "ACC24-0312", "Gastroscopy"),
    ("091500", "Lindqvist^Maja", "H-177045", "19620418", "F", "ACC24-0313", "ERCP"),
    ("100000", "Yamada^Taro=山田^太郎", "H-210934", "19580102", "M", "ACC24-0314", "Colonoscopy"),
    ("103000", "Dubois^Camille", "H-199520", "19911123", "F", "ACC24-0315", "Gastroscopy"),
    ("111500", "Schneider^Lukas", "H-166781", "19480630", "M", "ACC24-0316", "Sigmoidoscopy"),
]


def _settings(folder: Path, worklist_aet: str, worklist_port: int) -> Path:
    path = folder / "izer.toml"
    path.write_text(
        f"""
[station]
ae_title = "{STATION}"
uid_root = "{UID_ROOT}"
station_name = "ENDO ROOM 1"
institution_name = "St. Example Hospital"

[storage]
folder = "{(folder / "store").as_posix()}"

[capture]
width = 1280
height = 720
fps = 30

[dispatch]
auto_send = ["pacs"]
backoff_base_s = 30

[[destinations]]
name = "ris"
ae_title = "{worklist_aet}"
host = "127.0.0.1"
port = {worklist_port}
roles = ["worklist"]

[[destinations]]
name = "pacs"
ae_title = "PACS"
host = "127.0.0.1"
port = 4242
roles = ["store", "commitment"]

[[destinations]]
name = "film"
ae_title = "DRYSTAR"
host = "127.0.0.1"
port = 10400
roles = ["print"]
""",
        encoding="utf-8",
    )
    return path


def _wait(app: QApplication, condition: Callable[[], bool], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the window did not get there in time")
        app.processEvents()
        time.sleep(0.02)


def _settle(app: QApplication, seconds: float = 0.5) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.02)


def _save(app: QApplication, widget: QWidget, out: Path, name: str, saved: list[Path]) -> None:
    _settle(app)
    path = out / f"{len(saved) + 1:02d}-{name}.png"
    widget.grab().save(str(path))
    saved.append(path)
    print(path)


def make_screenshots(out: Path) -> list[Path]:
    """Walk the screens and save one picture of each into ``out``; return the files."""
    from izer.gui.app import application, build_window
    from izer.gui.bridge import EngineBridge

    out.mkdir(parents=True, exist_ok=True)
    saved: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="izer-shots-") as scratch:
        folder = Path(scratch)
        peers = PeerSet(folder / "peers")
        try:
            worklist = peers.start(["wlmscpfs"])["wlmscpfs"]
            assert worklist.worklist_dir is not None
            for time_, name, pid, born, sex, acc, what in MORNING:
                write_worklist_item(
                    worklist.worklist_dir / f"{acc}.wl",
                    patient_id=pid,
                    accession=acc,
                    station_aet=STATION,
                    modality="ES",
                    patient_name=name,
                    birth_date=born,
                    sex=sex,
                    scheduled_time=time_,
                    procedure_description=what,
                    performing_physician="Okafor^Chidi",
                )
            settings_path = _settings(folder, worklist.aet, worklist.port)
            app = application()
            engine = Engine.open(load_settings(settings_path).settings)
            bridge = EngineBridge(engine, settings_path=settings_path)
            window = build_window(bridge)
            window.resize(1440, 900)
            window.show()
            try:
                _walk(app, window, engine, out, saved)
            finally:
                window.close()
                engine.capture.close()
                bridge.shutdown()
                engine.close()
        finally:
            peers.stop()
    return saved


def _walk(app: QApplication, window, engine: Engine, out: Path, saved: list[Path]) -> None:  # type: ignore[no-untyped-def]
    from izer.model import ProcedureState

    screen = window.screens["worklist"]
    _wait(app, lambda: screen.proxy.rowCount() == len(MORNING))
    screen.table.selectRow(0)
    _save(app, window, out, "worklist", saved)
    screen.open_confirm(screen.table.currentIndex())
    _save(app, window, out, "worklist-confirm", saved)
    screen.start_confirmed()
    _wait(app, lambda: engine.state is ProcedureState.IN_PROGRESS)
    capture = window.show_screen("capture")
    _wait(app, lambda: bool(engine.capture.channels) and engine.capture.preview() is not None)
    for number in range(1, 4):
        capture.take_still()
        _wait(app, lambda n=number: capture.strip.count("still") == n)
        _settle(app, 0.4)
    capture.toggle_recording()
    _wait(app, lambda: capture.elapsed_s() >= 3.0)
    _save(app, window, out, "capture-recording", saved)
    capture.toggle_recording()
    _wait(app, lambda: capture.strip.count("clip") == 1)
    capture.end_study()
    review = window.screens["review"]
    _wait(app, lambda: window.stack.currentWidget() is review and review.grid.count() == 4)
    review.grid.setCurrentRow(1)
    _settle(app, 1.0)
    review.toggle_mark()
    _settle(app, 1.0)
    _save(app, window, out, "review", saved)
    window.show_screen("scan")
    _save(app, window, out, "scan", saved)
    window.show_screen("review")
    review.finish()  # the report, MPPS, and auto-send to a PACS that is not there today
    _wait(app, lambda: window.stack.currentWidget() is window.screens["worklist"])
    engine.dispatch.start()
    try:
        window.show_screen("dispatch")
        _settle(app, 4.0)
        _save(app, window, out, "dispatch", saved)
    finally:
        engine.dispatch.stop()
    window.show_screen("settings")
    _save(app, window, out, "settings", saved)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m tests.gui.screenshots [--out DIR]``; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    args = parser.parse_args(argv)
    files = make_screenshots(args.out)
    print(f"{len(files)} screenshots in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
