"""The look: a dark theme by default, high-contrast text, touch targets of 20 mm.

Lights are off in an endoscopy room and gloves are on: controls are large (at least
:data:`TOUCH_MM` on the default scale), text contrasts strongly with its background, and the
two colours that must never be missed are reserved: red for recording, amber for warnings.
"""

from __future__ import annotations

from PyQt6.QtGui import QColor, QGuiApplication, QPalette
from PyQt6.QtWidgets import QApplication

#: Smallest side of a touch target (buttons, list rows one taps), in millimetres.
TOUCH_MM = 20.0
#: Reserved colours.
RECORD_RED = "#e5484d"
WARNING_AMBER = "#f5a524"
OK_GREEN = "#30a46c"
ACCENT = "#3e9eff"
BACKGROUND = "#121418"
SURFACE = "#1c1f26"
SURFACE_RAISED = "#262a33"
TEXT = "#f2f4f8"
TEXT_MUTED = "#a9b0bd"


def millimetres(mm: float) -> int:
    """``mm`` in device-independent pixels on the primary screen (96 dpi without one)."""
    screen = QGuiApplication.primaryScreen()
    dpi = screen.logicalDotsPerInch() if screen is not None else 96.0
    return round(mm / 25.4 * dpi)


def touch_px() -> int:
    """The smallest side of a touch target in pixels."""
    return millimetres(TOUCH_MM)


def stylesheet() -> str:
    """The application's style sheet (sizes from the screen's DPI)."""
    touch = touch_px()
    return f"""
QWidget {{ background: {BACKGROUND}; color: {TEXT}; font-size: 15pt; }}
QToolTip {{ background: {SURFACE_RAISED}; color: {TEXT}; border: 1px solid {TEXT_MUTED}; }}
QPushButton, QToolButton {{
    background: {SURFACE_RAISED}; color: {TEXT}; border: 1px solid #3a404c; border-radius: 8px;
    min-height: {touch}px; min-width: {touch}px; padding: 4px 14px;
}}
QLineEdit QToolButton, QAbstractSpinBox QToolButton {{ min-width: 0; min-height: 0; padding: 0;
    border: none; background: transparent; }}
QPushButton:hover, QToolButton:hover {{ border-color: {ACCENT}; }}
QPushButton:focus, QToolButton:focus {{ border: 3px solid {ACCENT}; }}
QPushButton:pressed, QToolButton:pressed {{ background: #313744; }}
QPushButton:disabled, QToolButton:disabled {{ color: #5c6470; border-color: #2a2f38; }}
QPushButton[role="primary"] {{ background: {ACCENT}; color: #0b1220; font-weight: 600; }}
QPushButton[role="record"], QToolButton[role="record"] {{ background: {RECORD_RED}; color: white;
    font-weight: 700; }}
QPushButton[role="danger"] {{ background: #4a1f22; border-color: {RECORD_RED}; }}
QLineEdit, QComboBox, QSpinBox, QDoubleSpinBox, QDateEdit, QPlainTextEdit, QTextEdit {{
    background: {SURFACE}; border: 1px solid #3a404c; border-radius: 6px; padding: 6px;
    min-height: {touch // 2}px; selection-background-color: {ACCENT};
}}
QLineEdit:focus, QComboBox:focus, QPlainTextEdit:focus {{ border: 2px solid {ACCENT}; }}
QTableView, QTreeView, QListView, QListWidget {{
    background: {SURFACE}; alternate-background-color: #20242c; border: none;
    selection-background-color: #2b4a6f; selection-color: {TEXT}; gridline-color: #2a2f38;
}}
QHeaderView::section {{ background: {SURFACE_RAISED}; color: {TEXT_MUTED}; border: none;
    padding: 8px; font-size: 12pt; }}
QTabBar::tab {{ background: {SURFACE}; color: {TEXT_MUTED}; padding: 12px 20px;
    min-height: {touch // 2}px; }}
QTabBar::tab:selected {{ color: {TEXT}; border-bottom: 3px solid {ACCENT}; }}
QLabel[role="muted"] {{ color: {TEXT_MUTED}; font-size: 12pt; }}
QLabel[role="title"] {{ font-size: 20pt; font-weight: 600; }}
QLabel[role="warning"] {{ color: {WARNING_AMBER}; font-weight: 600; }}
QCheckBox::indicator, QRadioButton::indicator {{ width: 22px; height: 22px;
    border: 2px solid {TEXT_MUTED}; border-radius: 4px; background: {SURFACE}; }}
QCheckBox::indicator:checked, QRadioButton::indicator:checked {{ background: {ACCENT};
    border-color: {ACCENT}; }}
QScrollBar:vertical, QScrollBar:horizontal {{ background: {SURFACE}; border: none;
    width: 14px; height: 14px; }}
QScrollBar::handle {{ background: #4a5160; border-radius: 6px; min-height: 40px;
    min-width: 40px; }}
QScrollBar::add-line, QScrollBar::sub-line {{ width: 0; height: 0; }}
QProgressBar {{ background: {SURFACE}; border: none; border-radius: 4px; text-align: center; }}
QProgressBar::chunk {{ background: {ACCENT}; border-radius: 4px; }}
"""


def apply_theme(app: QApplication) -> None:
    """Dark palette and style sheet for the whole application."""
    app.setStyle("Fusion")
    palette = QPalette()
    for role, colour in (
        (QPalette.ColorRole.Window, BACKGROUND),
        (QPalette.ColorRole.WindowText, TEXT),
        (QPalette.ColorRole.Base, SURFACE),
        (QPalette.ColorRole.AlternateBase, "#20242c"),
        (QPalette.ColorRole.Text, TEXT),
        (QPalette.ColorRole.Button, SURFACE_RAISED),
        (QPalette.ColorRole.ButtonText, TEXT),
        (QPalette.ColorRole.Highlight, "#2b4a6f"),
        (QPalette.ColorRole.HighlightedText, TEXT),
        (QPalette.ColorRole.ToolTipBase, SURFACE_RAISED),
        (QPalette.ColorRole.ToolTipText, TEXT),
        (QPalette.ColorRole.PlaceholderText, TEXT_MUTED),
    ):
        palette.setColor(role, QColor(colour))
    app.setPalette(palette)
    app.setStyleSheet(stylesheet())
