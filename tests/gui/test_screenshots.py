"""The screenshot script walks every screen and saves a picture of each."""

from __future__ import annotations

import pytest
from PyQt6.QtGui import QImage

from tests.gui.screenshots import make_screenshots


@pytest.mark.peers
def test_screenshot_script_saves_every_screen(qapp, tmp_path) -> None:  # type: ignore[no-untyped-def]
    files = make_screenshots(tmp_path)
    names = [path.stem.split("-", 1)[1] for path in files]
    assert names == [
        "worklist",
        "worklist-confirm",
        "capture-recording",
        "review",
        "scan",
        "dispatch",
        "settings",
    ]
    for path in files:
        image = QImage(str(path))
        assert image.width() >= 1200 and image.height() >= 800, path
        # a real screen, not a blank grab: many distinct colours
        colours = {
            image.pixel(x, y)
            for x in range(0, image.width(), 37)
            for y in range(0, image.height(), 29)
        }
        assert len(colours) > 20, path
