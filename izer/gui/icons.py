"""izer's one icon set (``assets/icons/*.svg``), coloured for the theme."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from PyQt6.QtCore import QByteArray, QSize, Qt
from PyQt6.QtGui import QIcon, QPainter, QPixmap
from PyQt6.QtSvg import QSvgRenderer

from izer.gui.theme import TEXT

#: The icon folder of a source checkout (editable install).
ICON_FOLDER = Path(__file__).resolve().parents[2] / "assets" / "icons"


@cache
def _svg(name: str) -> bytes:
    path = ICON_FOLDER / f"{name}.svg"
    try:
        return path.read_bytes()
    except OSError:
        raise FileNotFoundError(f"no icon {name!r} ({path})") from None


def icon(name: str, colour: str = TEXT, size: int = 64) -> QIcon:
    """The icon ``name`` drawn in ``colour``."""
    data = _svg(name).replace(b"currentColor", colour.encode("ascii"))
    renderer = QSvgRenderer(QByteArray(data))
    pixmap = QPixmap(QSize(size, size))
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    renderer.render(painter)
    painter.end()
    return QIcon(pixmap)
