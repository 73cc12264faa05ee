"""The main window: the patient banner on top, the navigation on the left, one screen."""

from __future__ import annotations

from PyQt6.QtCore import QSize, Qt
from PyQt6.QtGui import QCloseEvent
from PyQt6.QtWidgets import (
    QButtonGroup,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from izer.gui.bridge import EngineBridge
from izer.gui.icons import icon
from izer.gui.screens import Screen
from izer.gui.theme import WARNING_AMBER, touch_px
from izer.gui.widgets.patient_banner import PatientBanner


class MainWindow(QMainWindow):
    """The workstation window over one engine bridge.

    Screens are added with :meth:`add_screen` and shown with :meth:`show_screen`; a problem
    the bridge reports shows in the message line under the banner (never a modal dialog:
    one might pop up during a recording).
    """

    def __init__(self, bridge: EngineBridge) -> None:
        super().__init__()
        self.bridge = bridge
        self.setWindowTitle("izer")
        self.screens: dict[str, Screen] = {}
        self._buttons = QButtonGroup(self)
        self._buttons.setExclusive(True)
        self.banner = PatientBanner(bridge)
        self.message = QLabel()
        self.message.setObjectName("messageLine")
        self.message.setStyleSheet(f"#messageLine {{ color: {WARNING_AMBER}; padding: 4px 18px; }}")
        self.message.setWordWrap(True)
        self.message.hide()
        self.stack = QStackedWidget()
        self.navigation = QVBoxLayout()
        self.navigation.setContentsMargins(8, 8, 8, 8)
        self.navigation.setSpacing(8)
        navigation = QWidget()
        navigation.setObjectName("navigation")
        navigation.setLayout(self.navigation)
        self.navigation.addStretch(1)
        body = QHBoxLayout()
        body.setContentsMargins(0, 0, 0, 0)
        body.addWidget(navigation)
        body.addWidget(self.stack, 1)
        central = QWidget()
        column = QVBoxLayout(central)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        column.addWidget(self.banner)
        column.addWidget(self.message)
        column.addLayout(body, 1)
        self.setCentralWidget(central)
        bridge.problem.connect(self.show_message)
        self.stack.currentChanged.connect(self._changed)
        self._current: Screen | None = None

    def add_screen(self, screen: Screen) -> None:
        """Add ``screen`` to the stack and a button for it to the navigation."""
        self.screens[screen.key] = screen
        self.stack.addWidget(screen)
        button = QToolButton()
        button.setObjectName(f"nav_{screen.key}")
        button.setText(screen.title)
        button.setIcon(icon(screen.icon_name))
        size = touch_px()
        button.setIconSize(QSize(size // 2, size // 2))
        button.setMinimumSize(QSize(int(size * 1.4), int(size * 1.2)))
        button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextUnderIcon)
        button.setCheckable(True)
        button.clicked.connect(lambda _=False, key=screen.key: self.show_screen(key))
        self._buttons.addButton(button)
        self.navigation.insertWidget(self.navigation.count() - 1, button)
        screen.navigate.connect(self.show_screen)

    def show_screen(self, key: str) -> Screen:
        """Bring the screen ``key`` to the front."""
        screen = self.screens[key]
        self.stack.setCurrentWidget(screen)
        for button in self._buttons.buttons():
            button.setChecked(button.objectName() == f"nav_{key}")
        return screen

    def show_message(self, text: str) -> None:
        """A problem in plain words under the banner (cleared by :meth:`clear_message`)."""
        self.message.setText(text)
        self.message.setVisible(bool(text))

    def clear_message(self) -> None:
        self.show_message("")

    def _changed(self, index: int) -> None:
        if self._current is not None:
            self._current.on_hidden()
        widget = self.stack.widget(index)
        self._current = widget if isinstance(widget, Screen) else None
        if self._current is not None:
            self._current.on_shown()

    def closeEvent(self, event: QCloseEvent | None) -> None:
        for screen in self.screens.values():
            screen.on_hidden()
        super().closeEvent(event)
