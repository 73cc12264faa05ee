"""The review screen: tidy up what the procedure captured, then Finish or Discontinue.

A grid of large thumbnails (drawn on worker threads) beside a viewer of the selected still or
clip. The toolbar acts on the selection: Delete (confirmed inline, never a modal dialog),
Mark for report (a star on the thumbnail), Crop (a rubber band on the viewer, or exact
numbers, then Apply), Annotate (a point on the viewer and a text; kept as a presentation
state or burned in), Trim (in and out sliders on a clip). At the bottom, the explicit end of
the study: Finish (report, MPPS COMPLETED, sending, print and burn) or Discontinue with a
reason from the list. Every engine call runs on a worker (:mod:`izer.engine.reviewing`).

Keyboard: arrows move through the grid, Enter opens the selection large (Esc returns),
Del deletes (after the inline confirmation), M marks, C crops, A annotates, T trims, and
Ctrl+Enter finishes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from PyQt6.QtCore import QPointF, QRectF, QSize, Qt, QTimer, pyqtSignal
from PyQt6.QtGui import (
    QColor,
    QFont,
    QIcon,
    QImage,
    QKeyEvent,
    QKeySequence,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPen,
    QPixmap,
    QPolygonF,
    QShortcut,
)
from PyQt6.QtWidgets import (
    QAbstractItemView,
    QAbstractSpinBox,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSizePolicy,
    QSlider,
    QSpinBox,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from izer.engine.reviewing import (
    REASONS,
    AnnotationMode,
    FinishSummary,
    ItemKind,
    ReviewController,
    ReviewError,
    ReviewItem,
)
from izer.gui.bridge import EngineBridge
from izer.gui.icons import icon
from izer.gui.screens import Screen
from izer.gui.theme import (
    ACCENT,
    BACKGROUND,
    OK_GREEN,
    RECORD_RED,
    SURFACE,
    SURFACE_RAISED,
    TEXT,
    TEXT_MUTED,
    WARNING_AMBER,
    touch_px,
)
from izer.model import ProcedureState

#: Longest side of a grid thumbnail and of the viewer's picture, in pixels.
THUMBNAIL_PX = 220
VIEWER_PX = 1280
#: The reasons offered first: what goes wrong most at an endoscopy station.
COMMON_REASONS = ("110514", "110505", "110515", "110501", "110500", "110513")
_DARK_TEXT = "#0b1220"


def _qimage(array: np.ndarray) -> QImage:
    """An RGB ``uint8`` array as a QImage (copied: the array may go away)."""
    rows, columns = array.shape[:2]
    data = np.ascontiguousarray(array, dtype=np.uint8)
    return QImage(data.data, columns, rows, 3 * columns, QImage.Format.Format_RGB888).copy()


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return ""
    minutes, rest = divmod(max(0.0, seconds), 60)
    return f"{int(minutes)}:{rest:04.1f}"


def _star(centre: QPointF, radius: float) -> QPolygonF:
    """A five-pointed star (the mark for the report), pointing up."""
    points = []
    for index in range(10):
        reach = radius if index % 2 == 0 else radius * 0.45
        angle = math.pi / 2 + index * math.pi / 5
        points.append(
            QPointF(centre.x() + reach * math.cos(angle), centre.y() - reach * math.sin(angle))
        )
    return QPolygonF(points)


def _card() -> QFrame:
    frame = QFrame()
    frame.setObjectName("reviewCard")
    frame.setStyleSheet(
        f"#reviewCard {{ background: {SURFACE}; border-radius: 10px; }}"
        f"#reviewCard QLabel {{ background: transparent; }}"
    )
    return frame


class Viewer(QWidget):
    """The selected picture, fitted with its aspect kept, with the notes on it.

    In crop mode a drag draws the rectangle; in annotate mode a click chooses the point.
    Positions are reported in the picture's own pixels (its ``columns`` x ``rows``).
    """

    #: ``(x, y, width, height)`` in picture pixels, while and after a drag.
    rectangle_changed = pyqtSignal(int, int, int, int)
    #: ``(x, y)`` in picture pixels.
    point_chosen = pyqtSignal(float, float)

    NONE, CROP, ANNOTATE = "none", "crop", "annotate"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("reviewViewer")
        self.setMinimumSize(320, 220)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMouseTracking(False)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.mode = self.NONE
        self.item: ReviewItem | None = None
        self.picture: QImage | None = None
        self.empty_text = "Select a still or a clip"
        self.rectangle: QRectF | None = None
        self.point: QPointF | None = None
        self._drag_from: QPointF | None = None

    # -- content ------------------------------------------------------------------------------

    def show_item(self, item: ReviewItem | None, picture: QImage | None) -> None:
        """Show ``item`` (its picture may come later, through :meth:`set_picture`)."""
        if (
            item is None
            or self.item is None
            or item.sop_instance_uid != (self.item.sop_instance_uid)
        ):
            self.rectangle = None
            self.point = None
        self.item = item
        self.picture = picture
        self.update()

    def set_picture(self, sop_uid: str, picture: QImage) -> None:
        if self.item is not None and self.item.sop_instance_uid == sop_uid:
            self.picture = picture
            self.update()

    def set_mode(self, mode: str) -> None:
        self.mode = mode
        self.setCursor(
            Qt.CursorShape.CrossCursor if mode != self.NONE else Qt.CursorShape.ArrowCursor
        )
        self.update()

    def set_rectangle(self, x: int, y: int, width: int, height: int) -> None:
        self.rectangle = QRectF(x, y, width, height) if width > 0 and height > 0 else None
        self.update()

    def set_point(self, x: float, y: float) -> None:
        self.point = QPointF(x, y)
        self.update()

    # -- geometry -----------------------------------------------------------------------------

    def _size(self) -> tuple[int, int]:
        item = self.item
        if item is not None and item.columns and item.rows:
            return item.columns, item.rows
        if self.picture is not None:
            return self.picture.width(), self.picture.height()
        return 0, 0

    def _target(self) -> QRectF:
        """Where the picture is drawn: fitted in the widget, aspect kept, centred."""
        columns, rows = self._size()
        area = QRectF(self.rect()).adjusted(8, 8, -8, -8)
        if not columns or not rows or area.width() <= 0 or area.height() <= 0:
            return QRectF()
        scale = min(area.width() / columns, area.height() / rows)
        width, height = columns * scale, rows * scale
        return QRectF(
            area.x() + (area.width() - width) / 2,
            area.y() + (area.height() - height) / 2,
            width,
            height,
        )

    def to_picture(self, position: QPointF) -> QPointF:
        """A widget position in picture pixels, held inside the picture."""
        target = self._target()
        columns, rows = self._size()
        if target.isEmpty():
            return QPointF()
        x = (position.x() - target.x()) / target.width() * columns
        y = (position.y() - target.y()) / target.height() * rows
        return QPointF(min(max(0.0, x), columns), min(max(0.0, y), rows))

    def to_widget(self, point: QPointF) -> QPointF:
        target = self._target()
        columns, rows = self._size()
        if target.isEmpty() or not columns or not rows:
            return QPointF()
        return QPointF(
            target.x() + point.x() / columns * target.width(),
            target.y() + point.y() / rows * target.height(),
        )

    # -- mouse --------------------------------------------------------------------------------

    def mousePressEvent(self, event: QMouseEvent | None) -> None:
        if event is None or self.item is None or event.button() != Qt.MouseButton.LeftButton:
            return
        position = self.to_picture(event.position())
        if self.mode == self.CROP:
            self._drag_from = position
            self.rectangle = None
        elif self.mode == self.ANNOTATE:
            self.point = position
            self.point_chosen.emit(position.x(), position.y())
        self.update()

    def mouseMoveEvent(self, event: QMouseEvent | None) -> None:
        if event is None or self._drag_from is None or self.mode != self.CROP:
            return
        here = self.to_picture(event.position())
        self.rectangle = QRectF(self._drag_from, here).normalized()
        rect = self.rectangle.toAlignedRect()
        self.rectangle_changed.emit(rect.x(), rect.y(), rect.width(), rect.height())
        self.update()

    def mouseReleaseEvent(self, event: QMouseEvent | None) -> None:
        self._drag_from = None

    def keyPressEvent(self, event: QKeyEvent | None) -> None:
        """Arrows move the note's point or the crop (Shift: one pixel; Ctrl: resize it)."""
        moves = {
            Qt.Key.Key_Left: (-1, 0),
            Qt.Key.Key_Right: (1, 0),
            Qt.Key.Key_Up: (0, -1),
            Qt.Key.Key_Down: (0, 1),
        }
        columns, rows = self._size()
        if event is None or event.key() not in moves or self.mode == self.NONE or not columns:
            super().keyPressEvent(event)
            return
        dx, dy = moves[Qt.Key(event.key())]
        modifiers = event.modifiers()
        step = 1 if modifiers & Qt.KeyboardModifier.ShiftModifier else max(1, columns // 50)
        if self.mode == self.ANNOTATE:
            point = self.point or QPointF(columns / 2, rows / 2)
            x = min(max(0.0, point.x() + dx * step), columns)
            y = min(max(0.0, point.y() + dy * step), rows)
            self.point = QPointF(x, y)
            self.point_chosen.emit(x, y)
        elif self.rectangle is not None:
            box = QRectF(self.rectangle)
            if modifiers & Qt.KeyboardModifier.ControlModifier:
                box.setWidth(max(8.0, min(box.width() + dx * step, columns - box.x())))
                box.setHeight(max(8.0, min(box.height() + dy * step, rows - box.y())))
            else:
                box.moveLeft(min(max(0.0, box.x() + dx * step), columns - box.width()))
                box.moveTop(min(max(0.0, box.y() + dy * step), rows - box.height()))
            self.rectangle = box
            rect = box.toAlignedRect()
            self.rectangle_changed.emit(rect.x(), rect.y(), rect.width(), rect.height())
        self.update()

    # -- painting -----------------------------------------------------------------------------

    def paintEvent(self, event: QPaintEvent | None) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        painter.fillRect(self.rect(), QColor("#0b0d10"))
        target = self._target()
        if self.item is None or target.isEmpty():
            painter.setPen(QColor(TEXT_MUTED))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self.empty_text)
            return
        if self.picture is not None:
            painter.drawImage(target, self.picture)
        else:
            painter.setPen(QColor(TEXT_MUTED))
            painter.drawText(target, Qt.AlignmentFlag.AlignCenter, "Loading…")
        if self.item.kind is ItemKind.CLIP:
            self._paint_clip(painter, target)
        self._paint_notes(painter)
        if self.mode == self.CROP and self.rectangle is not None:
            top_left = self.to_widget(self.rectangle.topLeft())
            bottom_right = self.to_widget(self.rectangle.bottomRight())
            box = QRectF(top_left, bottom_right)
            shade = QColor(0, 0, 0, 140)
            for part in (
                QRectF(target.left(), target.top(), target.width(), box.top() - target.top()),
                QRectF(target.left(), box.bottom(), target.width(), target.bottom() - box.bottom()),
                QRectF(target.left(), box.top(), box.left() - target.left(), box.height()),
                QRectF(box.right(), box.top(), target.right() - box.right(), box.height()),
            ):
                painter.fillRect(part, shade)
            painter.setPen(QPen(QColor(ACCENT), 3, Qt.PenStyle.DashLine))
            painter.drawRect(box)
        if self.mode == self.ANNOTATE and self.point is not None:
            self._paint_marker(painter, self.to_widget(self.point), QColor(ACCENT), "")

    def _paint_clip(self, painter: QPainter, target: QRectF) -> None:
        centre = target.center()
        radius = min(target.width(), target.height()) * 0.09
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(0, 0, 0, 150))
        painter.drawEllipse(centre, radius * 1.4, radius * 1.4)
        painter.setBrush(QColor(TEXT))
        painter.drawPolygon(
            QPolygonF(
                [
                    QPointF(centre.x() - radius * 0.5, centre.y() - radius * 0.8),
                    QPointF(centre.x() - radius * 0.5, centre.y() + radius * 0.8),
                    QPointF(centre.x() + radius * 0.9, centre.y()),
                ]
            )
        )
        assert self.item is not None
        text = f"{_clock(self.item.duration_s)}  ·  {self.item.frames} frames"
        font = QFont(painter.font())
        font.setPointSize(14)
        painter.setFont(font)
        box = QRectF(target.right() - 320, target.bottom() - 44, 310, 36)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(0, 0, 0, 170))
        painter.drawRoundedRect(box, 6, 6)
        painter.setPen(QColor(TEXT))
        painter.drawText(box, Qt.AlignmentFlag.AlignCenter, text)

    def _paint_notes(self, painter: QPainter) -> None:
        assert self.item is not None
        for note in self.item.notes:
            self._paint_marker(
                painter, self.to_widget(QPointF(note.x, note.y)), QColor(WARNING_AMBER), note.text
            )

    @staticmethod
    def _paint_marker(painter: QPainter, at: QPointF, colour: QColor, text: str) -> None:
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.setPen(QPen(QColor(0, 0, 0, 200), 6))
        painter.drawEllipse(at, 12, 12)
        painter.setPen(QPen(colour, 3))
        painter.drawEllipse(at, 12, 12)
        if not text:
            return
        font = QFont(painter.font())
        font.setPointSize(15)
        font.setBold(True)
        painter.setFont(font)
        width = painter.fontMetrics().horizontalAdvance(text) + 20
        box = QRectF(at.x() + 22, at.y() - 18, width, 36)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(0, 0, 0, 180))
        painter.drawRoundedRect(box, 6, 6)
        painter.setPen(colour)
        painter.drawText(box, Qt.AlignmentFlag.AlignCenter, text)


class ReviewScreen(Screen):
    """Review the procedure's captures, then end the study (see the module documentation)."""

    key = "review"
    title = "Review"
    icon_name = "review"

    #: Emitted after the items were listed (tests wait for it).
    items_loaded = pyqtSignal()

    def __init__(self, bridge: EngineBridge, parent: QWidget | None = None) -> None:
        super().__init__(bridge, parent)
        engine = bridge.engine
        self.review: ReviewController = getattr(engine, "review_actions", None) or (
            ReviewController(engine)
        )
        self.items: list[ReviewItem] = []
        self.state = ProcedureState.IDLE
        #: Where the note being written points, in picture pixels.
        self.note_point = (0.0, 0.0)
        self._thumbnails: dict[str, QImage] = {}
        self._pictures: dict[str, QImage] = {}
        self._asked: set[str] = set()
        self._busy = False
        self._shown = False
        self._wanted_selection: str | None = None
        self._drives_asked = False
        self._refresh_timer = QTimer(self)
        self._refresh_timer.setSingleShot(True)
        self._refresh_timer.setInterval(150)
        self._refresh_timer.timeout.connect(self.refresh)
        self._build()
        self._shortcuts()
        bridge.procedure_changed.connect(lambda _p: self._soon())
        bridge.state_changed.connect(lambda _old, _new: self._soon())
        bridge.instance_stored.connect(lambda _r: self._soon())
        self._update_actions()

    # -- layout -------------------------------------------------------------------------------

    def _build(self) -> None:
        touch = touch_px()
        self.pages = QStackedWidget()
        outer = QVBoxLayout(self)
        outer.setContentsMargins(20, 14, 20, 14)
        outer.addWidget(self.pages)
        self.pages.addWidget(self._empty_page(touch))
        work = QWidget()
        self.pages.addWidget(work)
        column = QVBoxLayout(work)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(12)
        column.addLayout(self._heading())
        self.notice = self._capture_notice(touch)
        column.addWidget(self.notice)
        body = QHBoxLayout()
        body.setSpacing(16)
        column.addLayout(body, 1)
        body.addWidget(self._grid(touch))
        self.right = QStackedWidget()
        self.right.addWidget(self._viewer_pane(touch))
        self.right.addWidget(self._reasons_pane(touch))
        body.addWidget(self.right, 1)
        column.addWidget(self._bottom_bar(touch))

    def _empty_page(self, touch: int) -> QWidget:
        page = QWidget()
        column = QVBoxLayout(page)
        column.addStretch(1)
        title = QLabel("Nothing to review")
        title.setProperty("role", "title")
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        hint = QLabel(
            "Review opens when a procedure's capture ends (End study on the capture screen). "
            "Pick the next patient on the worklist."
        )
        hint.setWordWrap(True)
        hint.setProperty("role", "muted")
        hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.to_worklist = QPushButton(icon("worklist", _DARK_TEXT), "  Go to the worklist")
        self.to_worklist.setObjectName("review_to_worklist")
        self.to_worklist.setProperty("role", "primary")
        self.to_worklist.setIconSize(QSize(touch // 2, touch // 2))
        self.to_worklist.clicked.connect(lambda: self.navigate.emit("worklist"))
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.to_worklist)
        row.addStretch(1)
        column.addWidget(title)
        column.addWidget(hint)
        column.addSpacing(18)
        column.addLayout(row)
        column.addStretch(2)
        return page

    def _heading(self) -> QHBoxLayout:
        heading = QHBoxLayout()
        title = QLabel("Review")
        title.setProperty("role", "title")
        self.counts = QLabel()
        self.counts.setObjectName("reviewCounts")
        self.counts.setProperty("role", "muted")
        self.message = QLabel()
        self.message.setObjectName("reviewMessage")
        self.message.setWordWrap(True)
        self.message.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        heading.addWidget(title)
        heading.addSpacing(18)
        heading.addWidget(self.counts)
        heading.addWidget(self.message, 1)
        return heading

    def _capture_notice(self, touch: int) -> QFrame:
        frame = _card()
        row = QHBoxLayout(frame)
        row.setContentsMargins(16, 8, 8, 8)
        text = QLabel("Capture is still running. End it to review, mark and finish.")
        text.setProperty("role", "warning")
        self.end_capture_button = QPushButton(icon("stop"), "  End capture and review")
        self.end_capture_button.setObjectName("review_end_capture")
        self.end_capture_button.setIconSize(QSize(touch // 2, touch // 2))
        self.end_capture_button.clicked.connect(self.end_capture)
        row.addWidget(text, 1)
        row.addWidget(self.end_capture_button)
        frame.hide()
        return frame

    def _grid(self, touch: int) -> QListWidget:
        self.grid = QListWidget()
        self.grid.setObjectName("reviewGrid")
        self.grid.setViewMode(QListView.ViewMode.IconMode)
        self.grid.setMovement(QListView.Movement.Static)
        self.grid.setResizeMode(QListView.ResizeMode.Adjust)
        self.grid.setWrapping(True)
        self.grid.setUniformItemSizes(True)
        self.grid.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.grid.setIconSize(QSize(THUMBNAIL_PX - 24, (THUMBNAIL_PX - 24) * 3 // 4))
        self.grid.setGridSize(QSize(THUMBNAIL_PX, (THUMBNAIL_PX - 24) * 3 // 4 + 64))
        self.grid.setSpacing(6)
        self.grid.setWordWrap(True)
        self.grid.setMinimumWidth(2 * THUMBNAIL_PX + 28)
        self.grid.setMaximumWidth(2 * THUMBNAIL_PX + 28)
        self.grid.setStyleSheet(
            f"#reviewGrid {{ background: {SURFACE}; border-radius: 10px; padding: 6px; "
            "font-size: 12pt; }"
            f"#reviewGrid::item {{ border-radius: 8px; padding: 4px; color: {TEXT}; }}"
            f"#reviewGrid::item:selected {{ background: #2b4a6f; border: 3px solid {ACCENT}; }}"
        )
        self.grid.currentItemChanged.connect(lambda _now, _before: self._selection_changed())
        self.grid.itemActivated.connect(lambda _item: self.toggle_large())
        return self.grid

    def _tool_button(self, name: str, text: str, icon_name: str, touch: int) -> QToolButton:
        button = QToolButton()
        button.setIcon(icon(icon_name))
        button.setText(text)
        button.setObjectName(f"review_{name}")
        button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextUnderIcon)
        button.setIconSize(QSize(touch // 2, touch // 2))
        button.setMinimumSize(QSize(int(touch * 1.45), touch))
        button.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        button.setStyleSheet(
            "QToolButton { font-size: 13pt; padding: 4px 8px; }"
            f"QToolButton:checked {{ background: #3a2f12; border: 2px solid {WARNING_AMBER}; }}"
        )
        return button

    def _viewer_pane(self, touch: int) -> QWidget:
        pane = QWidget()
        column = QVBoxLayout(pane)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(10)
        tools = QHBoxLayout()
        tools.setSpacing(10)
        self.delete_button = self._tool_button("delete", "Delete", "delete", touch)
        self.mark_button = self._tool_button("mark", "Mark for report", "mark", touch)
        self.mark_button.setCheckable(True)
        self.crop_button = self._tool_button("crop", "Crop", "crop", touch)
        self.annotate_button = self._tool_button("annotate", "Annotate", "annotate", touch)
        self.trim_button = self._tool_button("trim", "Trim", "trim", touch)
        for button in (self.crop_button, self.annotate_button, self.trim_button):
            button.setCheckable(True)
        self.delete_button.clicked.connect(self.ask_delete)
        self.mark_button.clicked.connect(lambda _c=False: self.toggle_mark())
        self.crop_button.clicked.connect(lambda _c=False: self.open_tool(self.CROP))
        self.annotate_button.clicked.connect(lambda _c=False: self.open_tool(self.ANNOTATE))
        self.trim_button.clicked.connect(lambda _c=False: self.open_tool(self.TRIM))
        for button in (self.mark_button, self.crop_button, self.annotate_button, self.trim_button):
            tools.addWidget(button)
        tools.addStretch(1)  # Delete apart from the rest: a slip of the glove must not delete
        self.delete_button.setIcon(icon("delete", RECORD_RED))
        tools.addWidget(self.delete_button)
        column.addLayout(tools)
        self.viewer = Viewer()
        self.viewer.rectangle_changed.connect(self._rectangle_drawn)
        self.viewer.point_chosen.connect(self._point_chosen)
        column.addWidget(self.viewer, 1)
        self.panel = QStackedWidget()
        self.panel.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self.panel.addWidget(self._info_panel())
        self.panel.addWidget(self._delete_panel(touch))
        self.panel.addWidget(self._crop_panel(touch))
        self.panel.addWidget(self._annotate_panel(touch))
        self.panel.addWidget(self._trim_panel(touch))
        self.panel.setFixedHeight(touch + 24)
        column.addWidget(self.panel)
        return pane

    INFO, DELETE, CROP, ANNOTATE, TRIM = range(5)

    def _info_panel(self) -> QWidget:
        frame = _card()
        row = QHBoxLayout(frame)
        row.setContentsMargins(16, 8, 16, 8)
        self.info_title = QLabel()
        self.info_title.setObjectName("reviewInfoTitle")
        self.info_title.setStyleSheet("font-weight: 600;")
        self.info = QLabel()
        self.info.setObjectName("reviewInfo")
        self.info.setProperty("role", "muted")
        self.info.setWordWrap(True)
        texts = QVBoxLayout()
        texts.setSpacing(2)
        texts.addWidget(self.info_title)
        texts.addWidget(self.info)
        row.addLayout(texts, 1)
        return frame

    def _panel_row(self) -> tuple[QFrame, QHBoxLayout]:
        frame = _card()
        row = QHBoxLayout(frame)
        row.setContentsMargins(16, 8, 8, 8)
        row.setSpacing(10)
        return frame, row

    def _cancel_button(self, name: str, touch: int) -> QPushButton:
        button = QPushButton(icon("cancel"), "")
        button.setObjectName(f"review_{name}_cancel")
        button.setToolTip("Cancel (Esc)")
        button.setAccessibleName("Cancel")
        button.setIconSize(QSize(touch // 3, touch // 3))
        button.setFixedWidth(touch)
        button.clicked.connect(self.close_tool)
        return button

    def _delete_panel(self, touch: int) -> QWidget:
        frame, row = self._panel_row()
        self.delete_question = QLabel()
        self.delete_question.setObjectName("reviewDeleteQuestion")
        self.delete_question.setProperty("role", "warning")
        self.delete_question.setWordWrap(True)
        self.confirm_delete_button = QPushButton(icon("delete"), "  Delete")
        self.confirm_delete_button.setObjectName("review_confirm_delete")
        self.confirm_delete_button.setProperty("role", "danger")
        self.confirm_delete_button.setIconSize(QSize(touch // 3, touch // 3))
        self.confirm_delete_button.clicked.connect(self.delete_selected)
        self.keep_button = QPushButton("Keep it")
        self.keep_button.setObjectName("review_keep")
        self.keep_button.clicked.connect(self.close_tool)
        row.addWidget(self.delete_question, 1)
        row.addWidget(self.keep_button)
        row.addWidget(self.confirm_delete_button)
        return frame

    def _spin(self, name: str, label: str, row: QHBoxLayout) -> QSpinBox:
        spin = QSpinBox()
        spin.setObjectName(f"review_{name}")
        spin.setRange(0, 65535)
        spin.setPrefix(f"{label} ")
        spin.setAccessibleName(label)
        spin.setButtonSymbols(QAbstractSpinBox.ButtonSymbols.NoButtons)
        spin.setFixedWidth(104)
        row.addWidget(spin)
        return spin

    def _crop_panel(self, touch: int) -> QWidget:
        frame, row = self._panel_row()
        self.crop_x = self._spin("crop_x", "x", row)
        self.crop_y = self._spin("crop_y", "y", row)
        self.crop_w = self._spin("crop_w", "w", row)
        self.crop_h = self._spin("crop_h", "h", row)
        for spin in (self.crop_x, self.crop_y, self.crop_w, self.crop_h):
            spin.valueChanged.connect(lambda _v: self._crop_numbers_changed())
        row.addStretch(1)
        row.addWidget(self._cancel_button("crop", touch))
        self.apply_crop_button = QPushButton(icon("crop", _DARK_TEXT), "  Apply crop")
        self.apply_crop_button.setObjectName("review_apply_crop")
        self.apply_crop_button.setProperty("role", "primary")
        self.apply_crop_button.setIconSize(QSize(touch // 3, touch // 3))
        self.apply_crop_button.clicked.connect(self.apply_crop)
        row.addWidget(self.apply_crop_button)
        return frame

    def _annotate_panel(self, touch: int) -> QWidget:
        frame, row = self._panel_row()
        self.note_text = QLineEdit()
        self.note_text.setObjectName("review_note_text")
        self.note_text.setPlaceholderText("Click the picture, type the note")
        self.note_text.setMaxLength(1024)
        self.note_text.textChanged.connect(lambda _t: self._update_actions())
        self.note_text.returnPressed.connect(self.apply_note)
        row.addWidget(self.note_text, 1)
        self.burn_toggle = QPushButton()
        self.burn_toggle.setObjectName("review_burn_in")
        self.burn_toggle.setCheckable(True)
        self.burn_toggle.setMinimumWidth(150)
        self.burn_toggle.setStyleSheet(
            f"QPushButton:checked {{ background: #3a2f12; border: 2px solid {WARNING_AMBER}; }}"
        )
        self.burn_toggle.toggled.connect(lambda _on: self._show_note_mode())
        self._show_note_mode()
        row.addWidget(self.burn_toggle)
        row.addWidget(self._cancel_button("annotate", touch))
        self.apply_note_button = QPushButton(icon("annotate", _DARK_TEXT), "  Add note")
        self.apply_note_button.setObjectName("review_apply_note")
        self.apply_note_button.setProperty("role", "primary")
        self.apply_note_button.setIconSize(QSize(touch // 3, touch // 3))
        self.apply_note_button.clicked.connect(self.apply_note)
        row.addWidget(self.apply_note_button)
        return frame

    def _show_note_mode(self) -> None:
        burned = self.burn_toggle.isChecked()
        self.burn_toggle.setText("Burned in" if burned else "Overlay")
        self.burn_toggle.setToolTip(
            "Burned in: a copy of the picture with the note drawn into its pixels (the original "
            "is kept). Click for an overlay."
            if burned
            else "Overlay: a presentation state; the picture stays untouched and viewers draw "
            "the note over it. Click to burn the note in instead."
        )

    def _trim_panel(self, touch: int) -> QWidget:
        frame = _card()
        grid = QGridLayout(frame)
        grid.setContentsMargins(16, 6, 8, 6)
        grid.setHorizontalSpacing(10)
        grid.setVerticalSpacing(2)
        self.trim_in = QSlider(Qt.Orientation.Horizontal)
        self.trim_in.setObjectName("review_trim_in")
        self.trim_out = QSlider(Qt.Orientation.Horizontal)
        self.trim_out.setObjectName("review_trim_out")
        self.trim_in_label = QLabel()
        self.trim_out_label = QLabel()
        for slider, caption, label, column in (
            (self.trim_in, "In", self.trim_in_label, 0),
            (self.trim_out, "Out", self.trim_out_label, 1),
        ):
            slider.setSingleStep(1)
            slider.setPageStep(10)
            slider.setMinimumHeight(touch // 3)
            slider.setStyleSheet(
                "QSlider::groove:horizontal { height: 8px; background: #3a404c; "
                "border-radius: 4px; }"
                f"QSlider::sub-page:horizontal {{ background: {ACCENT}; border-radius: 4px; }}"
                f"QSlider::handle:horizontal {{ background: {TEXT}; width: 26px; "
                "margin: -10px 0; border-radius: 13px; }"
                f"QSlider:focus {{ border: 2px solid {ACCENT}; border-radius: 6px; }}"
            )
            slider.valueChanged.connect(lambda _v: self._trim_changed())
            label.setProperty("role", "muted")
            label.setMinimumWidth(110)
            name = QLabel(caption)
            name.setProperty("role", "muted")
            grid.addWidget(name, column, 0)
            grid.addWidget(slider, column, 1)
            grid.addWidget(label, column, 2)
        buttons = QHBoxLayout()
        buttons.addWidget(self._cancel_button("trim", touch))
        self.apply_trim_button = QPushButton(icon("trim", _DARK_TEXT), "  Apply trim")
        self.apply_trim_button.setObjectName("review_apply_trim")
        self.apply_trim_button.setProperty("role", "primary")
        self.apply_trim_button.setIconSize(QSize(touch // 3, touch // 3))
        self.apply_trim_button.clicked.connect(self.apply_trim)
        buttons.addWidget(self.apply_trim_button)
        grid.addLayout(buttons, 0, 3, 2, 1)
        grid.setColumnStretch(1, 1)
        return frame

    def _reasons_pane(self, touch: int) -> QWidget:
        pane = _card()
        column = QVBoxLayout(pane)
        column.setContentsMargins(18, 14, 18, 14)
        column.setSpacing(10)
        title = QLabel("Discontinue the procedure: why?")
        title.setProperty("role", "title")
        hint = QLabel(
            "The RIS is told the procedure was discontinued, with this reason. What was "
            "captured is kept and sent."
        )
        hint.setWordWrap(True)
        hint.setProperty("role", "muted")
        self.reasons = QListWidget()
        self.reasons.setObjectName("reviewReasons")
        self.reasons.setStyleSheet(
            f"#reviewReasons {{ background: {BACKGROUND}; border-radius: 8px; }}"
            f"#reviewReasons::item {{ min-height: {touch * 2 // 3}px; padding-left: 12px; }}"
        )
        ordered = sorted(
            REASONS,
            key=lambda r: (COMMON_REASONS.index(r[0]) if r[0] in COMMON_REASONS else 99, r[0]),
        )
        for code, meaning in ordered:
            entry = QListWidgetItem(meaning)
            entry.setData(Qt.ItemDataRole.UserRole, code)
            entry.setToolTip(f"PS3.16 CID 9300 code {code}")
            self.reasons.addItem(entry)
        self.reasons.setCurrentRow(0)
        self.reasons.itemActivated.connect(lambda _i: self.discontinue())
        buttons = QHBoxLayout()
        back = QPushButton(icon("cancel"), "  Back to review")
        back.setObjectName("review_reasons_back")
        back.setIconSize(QSize(touch // 3, touch // 3))
        back.clicked.connect(self.close_reasons)
        self.confirm_discontinue_button = QPushButton(
            icon("discontinue"), "  Discontinue procedure"
        )
        self.confirm_discontinue_button.setObjectName("review_confirm_discontinue")
        self.confirm_discontinue_button.setProperty("role", "danger")
        self.confirm_discontinue_button.setIconSize(QSize(touch // 2, touch // 2))
        self.confirm_discontinue_button.clicked.connect(self.discontinue)
        buttons.addWidget(back)
        buttons.addStretch(1)
        buttons.addWidget(self.confirm_discontinue_button)
        column.addWidget(title)
        column.addWidget(hint)
        column.addWidget(self.reasons, 1)
        column.addLayout(buttons)
        return pane

    def _bottom_bar(self, touch: int) -> QWidget:
        bar = QWidget()
        row = QHBoxLayout(bar)
        row.setContentsMargins(0, 4, 0, 0)
        row.setSpacing(12)
        self.discontinue_button = QPushButton(icon("discontinue"), "  Discontinue…")
        self.discontinue_button.setObjectName("review_discontinue")
        self.discontinue_button.setProperty("role", "danger")
        self.discontinue_button.setIconSize(QSize(touch // 2, touch // 2))
        self.discontinue_button.clicked.connect(self.open_reasons)
        self.back_to_capture_button = QPushButton(icon("capture"), "  Back to capture")
        self.back_to_capture_button.setObjectName("review_back_to_capture")
        self.back_to_capture_button.setIconSize(QSize(touch // 2, touch // 2))
        self.back_to_capture_button.setToolTip("Capture more (the procedure goes on)")
        self.back_to_capture_button.clicked.connect(self.back_to_capture)
        self.report_check = QCheckBox("Report of the marked stills")
        self.report_check.setObjectName("review_report")
        self.report_check.setChecked(True)
        self.report_check.setStyleSheet(
            f"QCheckBox::indicator {{ width: {touch // 3}px; height: {touch // 3}px; "
            f"border: 2px solid {TEXT_MUTED}; border-radius: 5px; background: {SURFACE}; }}"
            f"QCheckBox::indicator:checked {{ background: {ACCENT}; border-color: {ACCENT}; }}"
            f"QCheckBox:focus {{ color: {ACCENT}; }}"
        )
        self.printer = QComboBox()
        self.printer.setObjectName("review_printer")
        self.printer.setIconSize(QSize(touch // 3, touch // 3))
        self.printer.setMinimumHeight(touch * 2 // 3)
        self.burner = QComboBox()
        self.burner.setObjectName("review_burner")
        self.burner.setIconSize(QSize(touch // 3, touch // 3))
        self.burner.setMinimumHeight(touch * 2 // 3)
        self.finish_button = QPushButton(icon("finish", _DARK_TEXT), "  Finish")
        self.finish_button.setObjectName("review_finish")
        self.finish_button.setProperty("role", "primary")
        self.finish_button.setIconSize(QSize(touch * 2 // 3, touch * 2 // 3))
        self.finish_button.setMinimumSize(QSize(touch * 3, int(touch * 1.1)))
        self.finish_button.setStyleSheet("font-size: 20pt;")
        self.finish_button.setToolTip(
            "End the study: report, MPPS completed, send, print and burn (Ctrl+Enter)"
        )
        self.finish_button.clicked.connect(self.finish)
        row.addWidget(self.discontinue_button)
        row.addWidget(self.back_to_capture_button)
        row.addStretch(1)
        options = QVBoxLayout()
        options.setSpacing(6)
        options.addWidget(self.report_check)
        outputs = QHBoxLayout()
        outputs.addWidget(self.printer)
        outputs.addWidget(self.burner)
        options.addLayout(outputs)
        row.addLayout(options)
        row.addWidget(self.finish_button)
        return bar

    def _shortcuts(self) -> None:
        for keys, slot in (
            ("Del", self.ask_delete),
            ("M", self.toggle_mark),
            ("C", lambda: self.open_tool(self.CROP)),
            ("A", lambda: self.open_tool(self.ANNOTATE)),
            ("T", lambda: self.open_tool(self.TRIM)),
            ("Ctrl+Return", self._finish_key),
            ("Ctrl+Enter", self._finish_key),
            ("Esc", self.escape),
        ):
            shortcut = QShortcut(QKeySequence(keys), self)
            shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            shortcut.activated.connect(slot)

    # -- screen life --------------------------------------------------------------------------

    def on_shown(self) -> None:
        """List the items (on a worker), fill the printers and look for burners."""
        self._shown = True
        self._fill_printers()
        if not self._drives_asked:
            self._drives_asked = True
            self.bridge.call(
                self.bridge.engine.media.drives, on_done=self._drives, on_error=lambda _e: None
            )
        self.refresh()
        self.grid.setFocus()

    def on_hidden(self) -> None:
        self._shown = False
        self._refresh_timer.stop()
        self.close_tool()

    def _soon(self) -> None:
        if self._shown:
            self._refresh_timer.start()

    def refresh(self) -> None:
        """Ask the engine for the items (on a worker); the grid follows when they come."""
        state = self.bridge.engine.state
        if state not in (
            ProcedureState.REVIEW,
            ProcedureState.IN_PROGRESS,
            ProcedureState.APPENDING,
        ):
            self._show_items([], state)
            return
        self.bridge.call(
            self.review.items,
            on_done=lambda items: self._show_items(items, self.bridge.engine.state),
            on_error=self._listing_failed,
        )

    def _listing_failed(self, error: BaseException) -> None:
        if isinstance(error, ReviewError):
            self._show_items([], self.bridge.engine.state)
        else:
            self._say(f"The captures could not be listed: {error}", warning=True)

    def _show_items(self, items: list[ReviewItem], state: ProcedureState) -> None:
        working = state in (
            ProcedureState.REVIEW,
            ProcedureState.IN_PROGRESS,
            ProcedureState.APPENDING,
        )
        self.pages.setCurrentIndex(1 if working else 0)
        self.notice.setVisible(state in (ProcedureState.IN_PROGRESS, ProcedureState.APPENDING))
        self.state = state
        keep = self._wanted_selection or self._selected_uid()
        self._wanted_selection = None
        self.items = items
        uids = {item.sop_instance_uid for item in items}
        self._thumbnails = {u: p for u, p in self._thumbnails.items() if u in uids}
        self._pictures = {u: p for u, p in self._pictures.items() if u in uids}
        self.grid.blockSignals(True)
        self.grid.clear()
        chosen = None
        for item in items:
            entry = QListWidgetItem(self._caption(item))
            entry.setData(Qt.ItemDataRole.UserRole, item.sop_instance_uid)
            entry.setToolTip(self._tooltip(item))
            entry.setIcon(self._icon(item))
            entry.setTextAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
            self.grid.addItem(entry)
            if item.sop_instance_uid == keep:
                chosen = entry
            self._ask_thumbnail(item)
        if chosen is None and self.grid.count():
            chosen = self.grid.item(0)
        if chosen is not None:
            self.grid.setCurrentItem(chosen)
        self.grid.blockSignals(False)
        self._update_counts()
        self._selection_changed()
        self.items_loaded.emit()

    # -- the grid -----------------------------------------------------------------------------

    def _caption(self, item: ReviewItem) -> str:
        when = item.time.strftime("%H:%M:%S") if item.time else ""
        extra = f" · {_clock(item.duration_s)}" if item.kind is ItemKind.CLIP else ""
        return f"{'★ ' if item.marked else ''}{item.title}\n{when}{extra}"

    @staticmethod
    def _tooltip(item: ReviewItem) -> str:
        parts = [item.title]
        if item.description:
            parts.append(item.description)
        if item.notes:
            parts.append("Notes: " + "; ".join(n.text for n in item.notes))
        if item.sent_to:
            parts.append("Sent to " + ", ".join(item.sent_to))
        return "\n".join(parts)

    def _icon(self, item: ReviewItem) -> QIcon:
        """The thumbnail with its badges: star when marked, play and length for a clip, the
        notes count, and a tick when sent."""
        size = self.grid.iconSize()
        canvas = QPixmap(size)
        canvas.fill(QColor(SURFACE_RAISED))
        painter = QPainter(canvas)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        picture = self._thumbnails.get(item.sop_instance_uid)
        area = QRectF(0, 0, size.width(), size.height())
        if picture is not None and not picture.isNull():
            scale = min(size.width() / picture.width(), size.height() / picture.height())
            width, height = picture.width() * scale, picture.height() * scale
            target = QRectF((size.width() - width) / 2, (size.height() - height) / 2, width, height)
            painter.drawImage(target, picture)
        else:
            painter.setPen(QColor(TEXT_MUTED))
            painter.drawText(area, Qt.AlignmentFlag.AlignCenter, "…")
        if item.kind is ItemKind.CLIP:
            centre = area.center()
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor(0, 0, 0, 150))
            painter.drawEllipse(centre, 26, 26)
            painter.setBrush(QColor(TEXT))
            painter.drawPolygon(
                QPolygonF(
                    [
                        QPointF(centre.x() - 8, centre.y() - 13),
                        QPointF(centre.x() - 8, centre.y() + 13),
                        QPointF(centre.x() + 14, centre.y()),
                    ]
                )
            )
        if item.marked:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor(0, 0, 0, 170))
            painter.drawEllipse(QPointF(size.width() - 26, 26), 22, 22)
            painter.setBrush(QColor(WARNING_AMBER))
            painter.drawPolygon(_star(QPointF(size.width() - 26, 26), 15))
        badges = []
        if item.notes:
            badges.append((f"✎ {len(item.notes)}", WARNING_AMBER))
        if item.sent_to:
            badges.append(("✓ sent", OK_GREEN))
        if item.derived:
            badges.append(("derived", ACCENT))
        x = 6.0
        font = QFont(painter.font())
        font.setPointSize(10)
        font.setBold(True)
        painter.setFont(font)
        for text, colour in badges:
            width = painter.fontMetrics().horizontalAdvance(text) + 14
            box = QRectF(x, size.height() - 28, width, 22)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor(0, 0, 0, 180))
            painter.drawRoundedRect(box, 5, 5)
            painter.setPen(QColor(colour))
            painter.drawText(box, Qt.AlignmentFlag.AlignCenter, text)
            x += width + 6
        painter.end()
        made = QIcon()
        for mode in (QIcon.Mode.Normal, QIcon.Mode.Selected, QIcon.Mode.Active):
            made.addPixmap(canvas, mode)
        return made

    def _ask_thumbnail(self, item: ReviewItem) -> None:
        uid = item.sop_instance_uid
        if uid in self._thumbnails or uid in self._asked:
            return
        self._asked.add(uid)
        self.bridge.call(
            self.review.thumbnail,
            uid,
            THUMBNAIL_PX,
            on_done=lambda array, uid=uid: self._thumbnail_ready(uid, array),
            on_error=lambda _e, uid=uid: self._asked.discard(uid),
        )

    def _thumbnail_ready(self, uid: str, array: np.ndarray) -> None:
        self._asked.discard(uid)
        self._thumbnails[uid] = _qimage(array)
        for row in range(self.grid.count()):
            entry = self.grid.item(row)
            if entry is not None and entry.data(Qt.ItemDataRole.UserRole) == uid:
                item = self._item(uid)
                if item is not None:
                    entry.setIcon(self._icon(item))

    def _item(self, uid: str | None) -> ReviewItem | None:
        return next((i for i in self.items if i.sop_instance_uid == uid), None)

    def _selected_uid(self) -> str | None:
        entry = self.grid.currentItem()
        return entry.data(Qt.ItemDataRole.UserRole) if entry is not None else None

    def selected(self) -> ReviewItem | None:
        """The item selected in the grid."""
        return self._item(self._selected_uid())

    def _selection_changed(self) -> None:
        item = self.selected()
        if self.panel.currentIndex() != self.INFO:
            self.close_tool()
        self.viewer.show_item(item, self._pictures.get(item.sop_instance_uid) if item else None)
        if item is not None and item.sop_instance_uid not in self._pictures:
            uid = item.sop_instance_uid
            self.bridge.call(
                self.review.thumbnail,
                uid,
                VIEWER_PX,
                on_done=lambda array, uid=uid: self._picture_ready(uid, array),
                on_error=lambda error: self._say(str(error), warning=True),
            )
        self._show_info(item)
        self._update_actions()

    def _picture_ready(self, uid: str, array: np.ndarray) -> None:
        picture = _qimage(array)
        self._pictures[uid] = picture
        self.viewer.set_picture(uid, picture)

    def _show_info(self, item: ReviewItem | None) -> None:
        if item is None:
            self.info_title.setText("")
            self.info.setText("")
            return
        self.info_title.setText(("★ " if item.marked else "") + item.title)
        parts = []
        if item.time:
            parts.append(item.time.strftime("%H:%M:%S"))
        if item.columns:
            parts.append(f"{item.columns} x {item.rows} px")
        if item.kind is ItemKind.CLIP:
            parts.append(f"{_clock(item.duration_s)} ({item.frames} frames)")
        if item.description:
            parts.append(item.description)
        if item.notes:
            parts.append(f"{len(item.notes)} note(s)")
        if item.sent_to:
            parts.append("sent to " + ", ".join(item.sent_to))
        self.info.setText("  ·  ".join(parts))

    def _update_counts(self) -> None:
        stills = sum(1 for i in self.items if i.kind is ItemKind.STILL)
        clips = sum(1 for i in self.items if i.kind is ItemKind.CLIP)
        documents = sum(1 for i in self.items if i.kind is ItemKind.DOCUMENT)
        marked = sum(1 for i in self.items if i.marked)
        parts = [f"{stills} still{'s' if stills != 1 else ''}"]
        parts.append(f"{clips} clip{'s' if clips != 1 else ''}")
        if documents:
            parts.append(f"{documents} document{'s' if documents != 1 else ''}")
        parts.append(f"★ {marked} marked for the report")
        self.counts.setText("  ·  ".join(parts))

    def _update_actions(self) -> None:
        item = self.selected()
        reviewing = self.state is ProcedureState.REVIEW and not self._busy
        still = item is not None and item.kind is ItemKind.STILL
        single = still and item is not None and item.frames == 1
        self.delete_button.setEnabled(reviewing and item is not None and not item.sent_to)
        self.mark_button.setEnabled(reviewing and still)
        self.mark_button.setChecked(bool(item and item.marked))
        self.mark_button.setText("Marked" if item and item.marked else "Mark for report")
        self.crop_button.setEnabled(reviewing and single)
        self.annotate_button.setEnabled(reviewing and single)
        self.trim_button.setEnabled(reviewing and item is not None and item.kind is ItemKind.CLIP)
        self.finish_button.setEnabled(reviewing)
        self.discontinue_button.setEnabled(
            not self._busy and self.state in (ProcedureState.REVIEW, ProcedureState.IN_PROGRESS)
        )
        self.back_to_capture_button.setEnabled(reviewing)
        self.end_capture_button.setEnabled(not self._busy)
        self.apply_crop_button.setEnabled(
            reviewing and self.crop_w.value() >= 8 and self.crop_h.value() >= 8
        )
        self.apply_note_button.setEnabled(reviewing and bool(self.note_text.text().strip()))
        self.apply_trim_button.setEnabled(
            reviewing and self.trim_out.value() > self.trim_in.value()
        )
        self.confirm_delete_button.setEnabled(reviewing)
        for button, index in (
            (self.crop_button, self.CROP),
            (self.annotate_button, self.ANNOTATE),
            (self.trim_button, self.TRIM),
        ):
            button.setChecked(self.panel.currentIndex() == index)

    def _move_selection(self, step: int) -> None:
        if not self.grid.count():
            return
        row = min(max(0, self.grid.currentRow() + step), self.grid.count() - 1)
        self.grid.setCurrentRow(row)

    def keyPressEvent(self, event: QKeyEvent | None) -> None:
        """Arrows move through the grid even when the focus is on a button."""
        if event is not None and self.pages.currentIndex() == 1:
            steps = {
                Qt.Key.Key_Left: -1,
                Qt.Key.Key_Right: 1,
                Qt.Key.Key_Up: -2,
                Qt.Key.Key_Down: 2,
            }
            if event.key() in steps and self.right.currentIndex() == 0:
                self._move_selection(steps[Qt.Key(event.key())])
                return
        super().keyPressEvent(event)

    def toggle_large(self) -> None:
        """Enter: show the selection large (the grid steps aside); again or Esc to return."""
        if self.grid.isVisible():
            self.grid.hide()
            self.viewer.setFocus()
        else:
            self.grid.show()
            self.grid.setFocus()

    def escape(self) -> None:
        if self.right.currentIndex() == 1:
            self.close_reasons()
        elif self.panel.currentIndex() != self.INFO:
            self.close_tool()
        elif not self.grid.isVisible():
            self.grid.show()
            self.grid.setFocus()

    # -- tools --------------------------------------------------------------------------------

    def open_tool(self, index: int) -> None:
        """Open the crop, annotate or trim panel for the selection (when it applies)."""
        item = self.selected()
        button = {
            self.CROP: self.crop_button,
            self.ANNOTATE: self.annotate_button,
            self.TRIM: self.trim_button,
        }[index]
        if item is None or not button.isEnabled():
            button.setChecked(self.panel.currentIndex() == index)
            return
        if self.panel.currentIndex() == index:
            self.close_tool()
            return
        self.panel.setCurrentIndex(index)
        if index == self.CROP:
            self.viewer.set_mode(Viewer.CROP)
            for spin, limit in (
                (self.crop_x, item.columns),
                (self.crop_y, item.rows),
                (self.crop_w, item.columns),
                (self.crop_h, item.rows),
            ):
                spin.blockSignals(True)
                spin.setMaximum(limit)
                spin.blockSignals(False)
            margin_x, margin_y = item.columns // 10, item.rows // 10
            self._set_crop_numbers(
                margin_x, margin_y, item.columns - 2 * margin_x, item.rows - 2 * margin_y
            )
            self.crop_w.setFocus()
            self._say("Drag over the picture, or type the numbers; then Apply crop.")
        elif index == self.ANNOTATE:
            self.viewer.set_mode(Viewer.ANNOTATE)
            self.note_point = (item.columns / 2, item.rows / 2)
            self.viewer.set_point(*self.note_point)
            self.note_text.clear()
            self.note_text.setFocus()
            self._say("Click where the note points (or arrows on the picture), type, Add note.")
        else:
            self.viewer.set_mode(Viewer.NONE)
            tenths = max(1, round((item.duration_s or 0.0) * 10))
            for slider in (self.trim_in, self.trim_out):
                slider.blockSignals(True)
                slider.setRange(0, tenths)
                slider.blockSignals(False)
            self.trim_in.setValue(0)
            self.trim_out.setValue(tenths)
            self._trim_changed()
            self.trim_in.setFocus()
        self._update_actions()

    def close_tool(self) -> None:
        if self.panel.currentIndex() in (self.CROP, self.ANNOTATE) and not self._busy:
            self._say("")
        self.panel.setCurrentIndex(self.INFO)
        self.viewer.set_mode(Viewer.NONE)
        self._update_actions()

    def _set_crop_numbers(self, x: int, y: int, width: int, height: int) -> None:
        for spin, value in (
            (self.crop_x, x),
            (self.crop_y, y),
            (self.crop_w, width),
            (self.crop_h, height),
        ):
            spin.blockSignals(True)
            spin.setValue(value)
            spin.blockSignals(False)
        self.viewer.set_rectangle(x, y, width, height)
        self._update_actions()

    def _rectangle_drawn(self, x: int, y: int, width: int, height: int) -> None:
        self._set_crop_numbers(x, y, width, height)

    def _crop_numbers_changed(self) -> None:
        self.viewer.set_rectangle(
            self.crop_x.value(), self.crop_y.value(), self.crop_w.value(), self.crop_h.value()
        )
        self._update_actions()

    def _point_chosen(self, x: float, y: float) -> None:
        self.note_point = (x, y)
        if self.viewer.hasFocus() is False:
            self.note_text.setFocus()

    def _trim_changed(self) -> None:
        self.trim_in_label.setText(_clock(self.trim_in.value() / 10))
        self.trim_out_label.setText(_clock(self.trim_out.value() / 10))
        self._update_actions()

    # -- actions ------------------------------------------------------------------------------

    def _run(
        self,
        what: str,
        function: Callable[..., Any],
        *args: Any,
        done: Callable[[Any], None] | None = None,
        **kwargs: Any,
    ) -> None:
        """Run an engine action on a worker; the screen waits (buttons off) meanwhile."""
        if self._busy:
            return
        self._busy = True
        self._say(f"{what}…")
        self._update_actions()

        def finished(result: Any) -> None:
            self._busy = False
            self._say("")
            if done is not None:
                done(result)
            self.refresh()

        def failed(error: BaseException) -> None:
            self._busy = False
            self._say(str(error) or type(error).__name__, warning=True)
            self.refresh()

        self.bridge.call(function, *args, on_done=finished, on_error=failed, **kwargs)

    def ask_delete(self) -> None:
        """Del: ask inline whether to delete the selection."""
        item = self.selected()
        if item is None or not self.delete_button.isEnabled():
            return
        self.viewer.set_mode(Viewer.NONE)
        what = item.title.lower()
        self.delete_question.setText(
            f"Delete {what}? It was never sent; it cannot be brought back."
        )
        self.panel.setCurrentIndex(self.DELETE)
        self.keep_button.setFocus()
        self._update_actions()

    def delete_selected(self) -> None:
        item = self.selected()
        if item is None:
            return
        row = self.grid.currentRow()
        following = self.grid.item(row + 1) or self.grid.item(row - 1)
        if following is not None:
            self._wanted_selection = following.data(Qt.ItemDataRole.UserRole)
        self.close_tool()
        self._run("Deleting", self.review.delete, item.sop_instance_uid)

    def toggle_mark(self) -> None:
        """M: mark the selected still for the report, or unmark it."""
        item = self.selected()
        if item is None or not self.mark_button.isEnabled():
            self.mark_button.setChecked(bool(item and item.marked))
            return
        self._run(
            "Unmarking" if item.marked else "Marking",
            self.review.mark,
            item.sop_instance_uid,
            not item.marked,
        )

    def apply_crop(self) -> None:
        item = self.selected()
        if item is None or not self.apply_crop_button.isEnabled():
            return
        self.close_tool()
        self._run(
            "Cropping (the original is kept)",
            self.review.crop,
            item.sop_instance_uid,
            self.crop_x.value(),
            self.crop_y.value(),
            self.crop_w.value(),
            self.crop_h.value(),
            done=self._select_new,
        )

    def apply_note(self) -> None:
        item = self.selected()
        text = self.note_text.text().strip()
        if item is None or not text or not self.apply_note_button.isEnabled():
            return
        mode = AnnotationMode.BURNED_IN if self.burn_toggle.isChecked() else AnnotationMode.GSPS
        self.close_tool()
        self._run(
            "Adding the note",
            self.review.annotate,
            item.sop_instance_uid,
            text,
            float(self.note_point[0]),
            float(self.note_point[1]),
            mode,
            done=self._select_new if mode is AnnotationMode.BURNED_IN else None,
        )

    def apply_trim(self) -> None:
        item = self.selected()
        if item is None or not self.apply_trim_button.isEnabled():
            return
        start, end = self.trim_in.value() / 10, self.trim_out.value() / 10
        self.close_tool()
        self._run(
            "Trimming at key frames (no re-encoding)",
            self.review.trim,
            item.sop_instance_uid,
            start,
            end,
            done=self._select_new,
        )

    def _select_new(self, record: Any) -> None:
        self._wanted_selection = getattr(record, "sop_instance_uid", None)

    def end_capture(self) -> None:
        """End a running capture (a recording is saved) so that the review can start."""
        self._run("Ending the capture", self.bridge.engine.review)

    def back_to_capture(self) -> None:
        """Go on capturing: the procedure goes back to IN PROGRESS."""
        self._run(
            "Back to capture",
            self.bridge.engine.start,
            done=lambda _p: self.navigate.emit("capture"),
        )

    def _finish_key(self) -> None:
        if isinstance(self.focusWidget(), QLineEdit | QDoubleSpinBox | QSpinBox):
            return  # typing a note: Ctrl+Enter must not end the study by accident
        self.finish()

    def finish(self) -> None:
        """Finish: report, MPPS COMPLETED, sending, print and burn; then the worklist."""
        if not self.finish_button.isEnabled():
            return
        self._run(
            "Finishing the study",
            self.review.finish,
            self.report_check.isChecked(),
            print_to=self.printer.currentData(),
            burn_device=self.burner.currentData(),
            done=self._finished,
        )

    def _finished(self, summary: FinishSummary) -> None:
        parts = ["Study finished"]
        if summary.report is not None:
            parts.append("report stored")
        if summary.sent_to:
            parts.append("sending to " + ", ".join(summary.sent_to))
        if summary.print_job is not None:
            parts.append("films queued")
        if summary.burn_jobs:
            parts.append(f"{len(summary.burn_jobs)} disc(s) queued")
        text = "; ".join(parts) + "."
        if summary.notes:
            text += " " + " ".join(note[:1].upper() + note[1:] + "." for note in summary.notes)
        self._tell_window(text)
        self.navigate.emit("worklist")

    def open_reasons(self) -> None:
        """Discontinue: show the reasons instead of the viewer."""
        if not self.discontinue_button.isEnabled():
            return
        self.close_tool()
        self.right.setCurrentIndex(1)
        self.reasons.setFocus()

    def close_reasons(self) -> None:
        self.right.setCurrentIndex(0)
        self.grid.setFocus()

    def discontinue(self) -> None:
        """End the procedure as discontinued with the reason chosen; then the worklist."""
        entry = self.reasons.currentItem()
        if entry is None or self.right.currentIndex() != 1:
            return
        code = entry.data(Qt.ItemDataRole.UserRole)
        meaning = entry.text()

        def done(_procedure: Any) -> None:
            self.close_reasons()
            self._tell_window(f"Procedure discontinued: {meaning}.")
            self.navigate.emit("worklist")

        self._run("Discontinuing", self.review.discontinue, code, done=done)

    # -- outputs ------------------------------------------------------------------------------

    def _fill_printers(self) -> None:
        current = self.printer.currentData()
        self.printer.clear()
        self.printer.addItem(icon("print", TEXT_MUTED), "No films", None)
        for destination in self.bridge.engine.printing.printers():
            self.printer.addItem(icon("print"), f"Films: {destination.name}", destination.name)
        index = self.printer.findData(current)
        self.printer.setCurrentIndex(max(0, index))
        if self.burner.count() == 0:
            self.burner.addItem(icon("disc", TEXT_MUTED), "No disc", None)

    def _drives(self, drives: Any) -> None:
        current = self.burner.currentData()
        self.burner.clear()
        self.burner.addItem(icon("disc", TEXT_MUTED), "No disc", None)
        for drive in drives or []:
            if not getattr(drive, "writable", True):
                continue
            device = str(getattr(drive, "device", drive))
            name = " ".join(
                part for part in (getattr(drive, "vendor", ""), getattr(drive, "model", "")) if part
            )
            self.burner.addItem(icon("disc"), f"Disc: {name or device}", device)
        self.burner.setCurrentIndex(max(0, self.burner.findData(current)))

    # -- messages -----------------------------------------------------------------------------

    def _say(self, text: str, *, warning: bool = False) -> None:
        colour = WARNING_AMBER if warning else TEXT_MUTED
        self.message.setStyleSheet(f"color: {colour}; font-weight: {600 if warning else 400};")
        self.message.setText(text)

    def _tell_window(self, text: str) -> None:
        window = self.window()
        show = getattr(window, "show_message", None)
        if callable(show) and window is not self:
            show(text)


__all__ = ["ReviewScreen", "Viewer"]
