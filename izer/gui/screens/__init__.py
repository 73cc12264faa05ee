"""The screens of the main window, one job each (worklist, capture, review, scan, dispatch,
settings); each is a :class:`Screen` over the engine bridge."""

from __future__ import annotations

from PyQt6.QtCore import pyqtSignal
from PyQt6.QtWidgets import QWidget

from izer.gui.bridge import EngineBridge


class Screen(QWidget):
    """A page of the main window.

    Attributes
    ----------
    key, title, icon_name
        How the navigation names and shows it.
    """

    key = ""
    title = ""
    icon_name = ""
    #: Ask the main window to show another screen (its key).
    navigate = pyqtSignal(str)

    def __init__(self, bridge: EngineBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge

    def on_shown(self) -> None:
        """Called each time the screen comes to the front (refresh what it shows)."""

    def on_hidden(self) -> None:
        """Called when another screen comes to the front."""
