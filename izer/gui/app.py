"""Starting the GUI: one QApplication, the engine, the bridge and the main window.

``izer`` with no command (and ``izer gui``) come here. The engine opens on the settings in
force (embedded defaults on a first run, with the synthetic camera), the window opens on the
worklist screen, and closing the window closes the engine (a recording is saved first).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from PyQt6.QtCore import QTimer
from PyQt6.QtWidgets import QApplication

from izer.config import Settings
from izer.engine import Engine
from izer.engine.dispatching import DispatcherBusyError
from izer.gui.bench import MARKER
from izer.gui.bridge import EngineBridge
from izer.gui.main_window import MainWindow
from izer.gui.screens import Screen
from izer.gui.theme import apply_theme


def screen_classes() -> list[type[Screen]]:
    """The screens, in navigation order."""
    from izer.gui.screens.capture import CaptureScreen
    from izer.gui.screens.dispatch import DispatchScreen
    from izer.gui.screens.review import ReviewScreen
    from izer.gui.screens.scan import ScanScreen
    from izer.gui.screens.settings import SettingsScreen
    from izer.gui.screens.worklist import WorklistScreen

    return [WorklistScreen, CaptureScreen, ReviewScreen, ScanScreen, DispatchScreen, SettingsScreen]


def build_window(bridge: EngineBridge) -> MainWindow:
    """The main window with every screen, showing the worklist."""
    window = MainWindow(bridge)
    for cls in screen_classes():
        window.add_screen(cls(bridge))
    window.show_screen("worklist")
    return window


def application(argv: Sequence[str] | None = None) -> QApplication:
    """The process's QApplication (made once), themed."""
    app = QApplication.instance()
    if not isinstance(app, QApplication):
        app = QApplication(list(argv or sys.argv[:1]))
        app.setApplicationName("izer")
        app.setOrganizationName("izer")
    apply_theme(app)
    return app


def run(
    settings: Settings, *, settings_path: Path | None = None, quit_after_s: float | None = None
) -> int:
    """Open the workstation on ``settings`` and run until the window closes.

    ``quit_after_s`` closes it by itself after that many seconds (smoke tests, benchmarks).
    """
    started = time.perf_counter()
    app = application()
    with Engine.open(settings) as engine:
        bridge = EngineBridge(engine, settings_path=settings_path)
        window = build_window(bridge)
        window.resize(1440, 900)
        window.show()
        window.setProperty("startup_s", time.perf_counter() - started)
        launched = os.environ.get("IZER_LAUNCHED_AT")
        if launched:  # izer bench gui: report when the worklist is on screen
            QTimer.singleShot(
                0, lambda: print(f"{MARKER}{time.time() - float(launched):.3f}", flush=True)
            )
        services = BackgroundServices(bridge, window)
        QTimer.singleShot(0, services.start)  # after the first paint: the worklist comes first
        if quit_after_s is not None:
            QTimer.singleShot(int(quit_after_s * 1000), window.close)
        try:
            return app.exec()
        finally:
            engine.capture.close()
            services.stop()
            bridge.shutdown()


class BackgroundServices:
    """What runs behind the window, as in ``izer serve``: the outbox's sending and the
    listener for storage commitment reports. A problem shows in the message line; the
    window works without them (another izer may be sending)."""

    def __init__(self, bridge: EngineBridge, window: MainWindow) -> None:
        self.bridge = bridge
        self.window = window
        self._listener: object | None = None

    def start(self) -> None:
        engine = self.bridge.engine
        try:
            engine.dispatch.start()
        except DispatcherBusyError:
            self.window.show_message(
                "Another izer is sending the outbox's jobs; this window shows their progress."
            )
            return
        listener = engine.listener()
        try:
            listener.start()
        except OSError as exc:
            self.window.show_message(
                f"Cannot listen on port {listener.port} ({exc.strerror or exc}): storage "
                "commitment results come on the request's association only."
            )
            return
        engine.dispatch.attach_listener(listener)
        self._listener = listener

    def stop(self) -> None:
        engine = self.bridge.engine
        engine.dispatch.stop()
        if self._listener is not None:
            engine.dispatch.attach_listener(None)
            self._listener.stop()  # type: ignore[attr-defined]
            self._listener = None
