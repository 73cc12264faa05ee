"""A horizontal strip of thumbnails: the stills and clips of a procedure, the pages of a scan.

Generic on purpose (capture, review and scan screens share it): each tile has a key chosen by
the caller (a SOP Instance UID, a page number), a picture, a short label and a kind; a clip
(``kind="clip"``) gets a film badge. Tiles are touch targets; the arrow keys move between
them and Enter (or a double tap) activates one.
"""

from __future__ import annotations

from PyQt6.QtCore import QModelIndex, QPersistentModelIndex, QRect, QSize, Qt, pyqtSignal
from PyQt6.QtGui import QColor, QFont, QImage, QPainter, QPaintEvent, QPen, QPixmap
from PyQt6.QtWidgets import (
    QAbstractItemView,
    QListView,
    QListWidget,
    QListWidgetItem,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QVBoxLayout,
    QWidget,
)

from izer.gui.icons import icon
from izer.gui.theme import ACCENT, SURFACE, TEXT, TEXT_MUTED, touch_px

#: Item data roles.
KEY_ROLE = Qt.ItemDataRole.UserRole
KIND_ROLE = Qt.ItemDataRole.UserRole + 1
TILE_ROLE = Qt.ItemDataRole.UserRole + 2
#: Kinds drawn with a badge (icon name).
KIND_BADGES = {"clip": "film", "video": "film"}
#: Space around a tile, pixels.
MARGIN = 6


def tile_size() -> QSize:
    """A 16:9 tile at least one touch target (20 mm) high."""
    height = max(96, round(touch_px() * 1.25))
    return QSize(round(height * 16 / 9), height)


def render_tile(image: QImage | None, label: str, kind: str, size: QSize) -> QPixmap:
    """The picture of one tile: ``image`` letterboxed, a caption band with the kind's badge."""
    pixmap = QPixmap(size)
    pixmap.fill(QColor("#000000"))
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
    if image is not None and not image.isNull():
        scaled = image.scaled(
            size,
            Qt.AspectRatioMode.KeepAspectRatio,
            Qt.TransformationMode.SmoothTransformation,
        )
        painter.drawImage(
            (size.width() - scaled.width()) // 2, (size.height() - scaled.height()) // 2, scaled
        )
    else:
        painter.fillRect(pixmap.rect(), QColor(SURFACE))
    band_height = max(22, size.height() // 4)
    band = QRect(0, size.height() - band_height, size.width(), band_height)
    painter.fillRect(band, QColor(0, 0, 0, 170))
    x = band.x() + 6
    badge = KIND_BADGES.get(kind)
    if badge is not None:
        side = band_height - 6
        painter.drawPixmap(x, band.y() + 3, icon(badge, TEXT).pixmap(side, side))
        x += side + 4
    font = QFont(painter.font())
    font.setPixelSize(max(11, band_height - 10))
    font.setWeight(QFont.Weight.DemiBold)
    painter.setFont(font)
    painter.setPen(QColor(TEXT))
    text_rect = QRect(x, band.y(), band.right() - x - 4, band.height())
    elided = painter.fontMetrics().elidedText(label, Qt.TextElideMode.ElideRight, text_rect.width())
    painter.drawText(
        text_rect,
        int(Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft),
        elided,
    )
    painter.end()
    return pixmap


class _TileDelegate(QStyledItemDelegate):
    """Draws the pre-rendered tile and a clear selection/focus frame."""

    def __init__(self, tile: QSize, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tile = tile

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex) -> QSize:
        return self.tile + QSize(2 * MARGIN, 2 * MARGIN)

    def paint(
        self,
        painter: QPainter | None,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
        if painter is None:
            return
        cell = option.rect  # type: ignore[attr-defined]
        target = QRect(cell.x() + MARGIN, cell.y() + MARGIN, self.tile.width(), self.tile.height())
        pixmap = index.data(TILE_ROLE)
        if isinstance(pixmap, QPixmap):
            painter.drawPixmap(target, pixmap)
        state = option.state  # type: ignore[attr-defined]
        selected = bool(state & QStyle.StateFlag.State_Selected)
        focused = bool(state & QStyle.StateFlag.State_HasFocus)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        if selected:
            painter.setPen(QPen(QColor(ACCENT), 4))
            painter.drawRoundedRect(target.adjusted(-2, -2, 2, 2), 4, 4)
        elif focused:
            painter.setPen(QPen(QColor(TEXT_MUTED), 2, Qt.PenStyle.DashLine))
            painter.drawRoundedRect(target.adjusted(-2, -2, 2, 2), 4, 4)
        else:
            painter.setPen(QPen(QColor("#3a404c"), 1))
            painter.drawRect(target)
        painter.restore()


class _List(QListWidget):
    """The list view, with a line of text when it is empty."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.empty_text = ""

    def paintEvent(self, e: QPaintEvent | None) -> None:
        super().paintEvent(e)
        if self.count() == 0 and self.empty_text:
            viewport = self.viewport()
            if viewport is None:
                return
            painter = QPainter(viewport)
            painter.setPen(QColor(TEXT_MUTED))
            painter.drawText(viewport.rect(), int(Qt.AlignmentFlag.AlignCenter), self.empty_text)
            painter.end()


class ThumbnailStrip(QWidget):
    """A horizontal, scrollable row of thumbnails, newest on the right.

    Signals
    -------
    activated(str)
        A tile was activated (Enter, double click or double tap): its key.
    selection_changed()
        The selected tiles changed (see :meth:`selected_keys`).
    order_changed()
        The user dragged a tile elsewhere (only when :meth:`set_reorderable`).
    """

    activated = pyqtSignal(str)
    selection_changed = pyqtSignal()
    order_changed = pyqtSignal()

    def __init__(
        self,
        parent: QWidget | None = None,
        *,
        tile: QSize | None = None,
        empty_text: str = "Nothing yet",
        multi_select: bool = True,
    ) -> None:
        super().__init__(parent)
        self.tile = tile or tile_size()
        self.view = _List()
        self.view.setObjectName("thumbnailStrip")
        self.view.empty_text = empty_text
        self.view.setViewMode(QListView.ViewMode.IconMode)
        self.view.setFlow(QListView.Flow.LeftToRight)
        self.view.setWrapping(False)
        self.view.setMovement(QListView.Movement.Static)
        self.view.setResizeMode(QListView.ResizeMode.Adjust)
        self.view.setUniformItemSizes(True)
        self.view.setSpacing(0)
        self.view.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.view.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.view.setSelectionMode(
            QAbstractItemView.SelectionMode.ExtendedSelection
            if multi_select
            else QAbstractItemView.SelectionMode.SingleSelection
        )
        self.view.setItemDelegate(_TileDelegate(self.tile, self.view))
        cell = self.tile + QSize(2 * MARGIN, 2 * MARGIN)
        self.view.setGridSize(cell)
        self.view.setFixedHeight(cell.height() + 22)  # room for the scroll bar
        self.view.itemActivated.connect(self._activated)
        self.view.itemSelectionChanged.connect(self.selection_changed.emit)
        model = self.view.model()
        if model is not None:
            model.rowsMoved.connect(lambda *_: self.order_changed.emit())
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.view)
        self.setFocusProxy(self.view)
        self._items: dict[str, QListWidgetItem] = {}

    # -- contents -----------------------------------------------------------------------------

    def add(self, key: str, image: QImage | None, label: str, kind: str = "still") -> None:
        """Add a tile at the end, or replace the picture, label and kind of tile ``key``.

        ``image`` is scaled down at once (the strip keeps no reference to it); ``None`` shows
        an empty tile (e.g. a clip whose picture is not known yet).
        """
        item = self._items.get(key)
        if item is None:
            item = QListWidgetItem()
            item.setData(KEY_ROLE, key)
            self.view.addItem(item)
            self._items[key] = item
            self.view.scrollToItem(item)
        item.setData(KIND_ROLE, kind)
        item.setText(label)
        item.setToolTip(label)
        item.setData(TILE_ROLE, render_tile(image, label, kind, self.tile))

    def remove(self, key: str) -> bool:
        """Remove tile ``key``; False if there was none."""
        item = self._items.get(key)
        if item is None:
            return False
        # take the tile first: taking it may change the selection, whose listeners read
        # selected_keys(), which must still find this key until the tile is gone
        self.view.takeItem(self.view.row(item))
        del self._items[key]
        return True

    def clear(self) -> None:
        """Remove every tile."""
        self.view.clear()
        self._items.clear()

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def count(self, kind: str | None = None) -> int:
        """How many tiles there are (of ``kind``, if given)."""
        if kind is None:
            return self.view.count()
        return sum(1 for item in self._items.values() if item.data(KIND_ROLE) == kind)

    def keys(self) -> list[str]:
        """The keys in the order shown (left to right)."""
        return [str(self.view.item(row).data(KEY_ROLE)) for row in range(self.view.count())]  # type: ignore[union-attr]

    def kind(self, key: str) -> str:
        return str(self._items[key].data(KIND_ROLE))

    def label(self, key: str) -> str:
        return self._items[key].text()

    def tile_pixmap(self, key: str) -> QPixmap:
        """The tile as drawn (tests and drag images)."""
        return self._items[key].data(TILE_ROLE)  # type: ignore[no-any-return]

    # -- selection ----------------------------------------------------------------------------

    def selected_keys(self) -> list[str]:
        """The keys of the selected tiles, left to right."""
        chosen = {id(item) for item in self.view.selectedItems()}
        return [k for k in self.keys() if id(self._items[k]) in chosen]

    def select(self, key: str | None) -> None:
        """Select only tile ``key`` (``None``: nothing) and make it current and visible."""
        self.view.clearSelection()
        if key is None:
            return
        item = self._items[key]
        self.view.setCurrentItem(item)
        item.setSelected(True)
        self.view.scrollToItem(item)

    def set_reorderable(self, reorderable: bool) -> None:
        """Let the user drag tiles into another order (scan QC); see :attr:`order_changed`."""
        self.view.setMovement(QListView.Movement.Snap if reorderable else QListView.Movement.Static)
        self.view.setDragDropMode(
            QAbstractItemView.DragDropMode.InternalMove
            if reorderable
            else QAbstractItemView.DragDropMode.NoDragDrop
        )

    def _activated(self, item: QListWidgetItem) -> None:
        self.activated.emit(str(item.data(KEY_ROLE)))
