"""GUI tests run offscreen (no display needed) with pytest-qt's ``qtbot``.

``bridge`` is an :class:`izer.gui.bridge.EngineBridge` over the test engine (settings from
tests/conftest.py, synthetic camera, store in the test folder); ``window`` the whole main
window built on it. Both are torn down after the test (capture closed, workers stopped).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest

from izer.engine import Engine


@pytest.fixture
def bridge(qapp, engine: Engine) -> Iterator[object]:
    """An engine bridge over the test engine."""
    from izer.gui.app import application
    from izer.gui.bridge import EngineBridge

    application()
    made = EngineBridge(engine)
    try:
        yield made
    finally:
        engine.capture.close()
        made.shutdown()


@pytest.fixture
def window(bridge, qtbot) -> Iterator[object]:
    """The main window with every screen, shown offscreen."""
    from izer.gui.app import build_window

    made = build_window(bridge)
    qtbot.addWidget(made)
    made.resize(1440, 900)
    made.show()
    yield made
    made.close()
