"""The technician's film and document screen: scan a batch, check it, store it.

Bound to the current procedure's patient and study (no procedure: a hint and a way to the
worklist). The original exam date is entered once and goes into every page. A preset (chest,
bone, mammo, document) sets what the scanner is asked for and what the pages become; the
scanned pages wait in a QC strip (rotate, reorder by drag or buttons, rescan one, delete)
and only "Store" makes them instances (:mod:`izer.engine.scanning`, on a worker thread).
"""

from __future__ import annotations

import threading
from datetime import date
from typing import Any

import numpy as np
from PyQt6.QtCore import QDate, QSize, Qt, QTimer, pyqtSignal
from PyQt6.QtGui import QImage, QKeySequence, QPixmap, QShortcut
from PyQt6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QDateEdit,
    QFileDialog,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from izer.engine.scanning import (
    BODY_PARTS,
    PAIRED_BODY_PARTS,
    SCAN_PRESETS,
    ScannedPage,
    ScanOutput,
    ScanPreset,
    acquire,
    preview,
    rotated,
    store_pages,
)
from izer.gui.bridge import EngineBridge
from izer.gui.icons import icon
from izer.gui.screens import Screen
from izer.gui.theme import (
    ACCENT,
    OK_GREEN,
    RECORD_RED,
    SURFACE,
    TEXT_MUTED,
    WARNING_AMBER,
    touch_px,
)
from izer.gui.widgets.thumbnails import ThumbnailStrip
from izer.model import Procedure, ProcedureState, display_name

#: Longer side of a QC thumbnail as made on the worker, and the strip's (portrait) tiles.
THUMB_PX = 240
THUMB_W, THUMB_H = 132, 176
#: Procedure states in which pages can be stored (started or appended to on "Store").
STORABLE_STATES = frozenset(
    {
        ProcedureState.PATIENT_SELECTED,
        ProcedureState.IN_PROGRESS,
        ProcedureState.APPENDING,
        ProcedureState.COMPLETED,
    }
)
#: Displayed names of Body Part Examined defined terms.
BODY_PART_NAMES = {"": "Not stated", "CSPINE": "C-spine", "TSPINE": "T-spine", "LSPINE": "L-spine"}
SIDES = (("", "Unknown"), ("R", "Right"), ("L", "Left"))
#: Slim scroll bars in the dark theme (the theme leaves them to the platform style).
SCROLLBARS = f"""
QScrollBar:horizontal {{ background: {SURFACE}; height: 14px; margin: 0; }}
QScrollBar:vertical {{ background: {SURFACE}; width: 14px; margin: 0; }}
QScrollBar::handle {{ background: #3a404c; border-radius: 6px; min-width: 40px;
    min-height: 40px; }}
QScrollBar::add-line, QScrollBar::sub-line {{ width: 0; height: 0; }}
QScrollBar::add-page, QScrollBar::sub-page {{ background: none; }}
"""
#: The date shown while no exam date was entered.
NO_DATE = QDate(1899, 12, 31)


def image_of(pixels: np.ndarray) -> QImage:
    """A QImage (own copy) of 8-bit gray or RGB pixels."""
    array = np.ascontiguousarray(pixels)
    rows, columns = array.shape[:2]
    if array.ndim == 3:
        fmt, line = QImage.Format.Format_RGB888, columns * 3
    else:
        fmt, line = QImage.Format.Format_Grayscale8, columns
    return QImage(array.data, columns, rows, line, fmt).copy()


def _card() -> QFrame:
    frame = QFrame()
    frame.setObjectName("card")
    frame.setStyleSheet(
        f"#card {{ background: {SURFACE}; border-radius: 12px; }}"
        "#card QLabel { background: transparent; }"
    )
    return frame


class ScanScreen(Screen):
    """Batch scanning for one patient and study, with a QC strip before storing.

    Attributes
    ----------
    folder_idle_s
        How long a folder source waits for another image before the batch ends.
    sane_options
        Extra SANE options for every scan (e.g. the test backend's picture).
    discover_devices
        List the scanners present when the screen is first shown (a few seconds, on a worker).
    """

    key = "scan"
    title = "Scan"
    icon_name = "scan"

    #: (key of the page to replace or None, ScannedPage, preview pixels) from a worker.
    _page_arrived = pyqtSignal(object, object, object)

    def __init__(self, bridge: EngineBridge, parent: QWidget | None = None) -> None:
        super().__init__(bridge, parent)
        self.folder_idle_s = 3.0
        self.sane_options: dict[str, Any] = {}
        self.discover_devices = True
        self._pages: dict[int, ScannedPage] = {}
        self._thumbs: dict[int, QImage] = {}
        self._sizes: dict[int, str] = {}
        self._large_key: int | None = None
        self._seen_procedure: int | None = None
        self._next_key = 1
        self._batch_procedure: int | None = None
        self._stop: threading.Event | None = None
        self._busy = ""
        self._procedure: Procedure | None = None
        self._preset = SCAN_PRESETS["chest"]
        self._build()
        self.exam_date.dateChanged.connect(lambda _d: self._update_actions())
        self.source.currentTextChanged.connect(lambda _t: self._update_actions())
        self._page_arrived.connect(self._add_or_replace)
        bridge.procedure_changed.connect(self._procedure_changed)
        bridge.state_changed.connect(lambda _old, _new: self._procedure_changed(None))
        self._choose_preset("chest")
        self._procedure_changed(None)

    # -- layout -------------------------------------------------------------------------------

    def _build(self) -> None:
        touch = touch_px()
        self.setStyleSheet(SCROLLBARS)
        self.pages_stack = QStackedWidget()
        outer = QVBoxLayout(self)
        outer.setContentsMargins(24, 18, 24, 18)
        outer.addWidget(self.pages_stack)

        # No procedure: a hint and the way to the worklist.
        empty = QWidget()
        column = QVBoxLayout(empty)
        column.addStretch(1)
        hint_title = QLabel("No patient selected")
        hint_title.setProperty("role", "title")
        hint_title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.hint = QLabel(
            "Scanned films and documents go into one patient's study. Pick the patient on "
            "the worklist (or start an unscheduled one), then come back here."
        )
        self.hint.setWordWrap(True)
        self.hint.setProperty("role", "muted")
        self.hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.to_worklist = QPushButton(icon("worklist", "#0b1220"), "  Go to the worklist")
        self.to_worklist.setObjectName("scan_to_worklist")
        self.to_worklist.setProperty("role", "primary")
        self.to_worklist.setIconSize(QSize(touch // 2, touch // 2))
        self.to_worklist.clicked.connect(lambda: self.navigate.emit("worklist"))
        column.addWidget(hint_title)
        column.addWidget(self.hint)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.to_worklist)
        row.addStretch(1)
        column.addSpacing(18)
        column.addLayout(row)
        column.addStretch(2)
        self.pages_stack.addWidget(empty)

        work = QWidget()
        self.pages_stack.addWidget(work)
        layout = QVBoxLayout(work)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(14)
        heading = QHBoxLayout()
        title = QLabel("Scan films and documents")
        title.setProperty("role", "title")
        self.target = QLabel()
        self.target.setObjectName("scanTarget")
        self.target.setProperty("role", "muted")
        heading.addWidget(title)
        heading.addSpacing(18)
        heading.addWidget(self.target, 1)
        layout.addLayout(heading)
        body = QHBoxLayout()
        body.setSpacing(18)
        layout.addLayout(body, 1)
        body.addWidget(self._build_options(touch))
        body.addLayout(self._build_strip(touch), 1)

    def _build_options(self, touch: int) -> QFrame:
        card = _card()
        card.setFixedWidth(500)
        form_column = QVBoxLayout(card)
        form_column.setContentsMargins(18, 18, 18, 18)
        form_column.setSpacing(12)
        label = QLabel("What is scanned")
        label.setProperty("role", "muted")
        form_column.addWidget(label)
        presets = QHBoxLayout()
        presets.setSpacing(8)
        self.preset_buttons = QButtonGroup(self)
        self.preset_buttons.setExclusive(True)
        for preset in SCAN_PRESETS.values():
            button = QPushButton(preset.key.capitalize())
            button.setObjectName(f"preset_{preset.key}")
            button.setCheckable(True)
            button.setToolTip(preset.title)
            button.setMinimumHeight(touch)
            button.setStyleSheet("padding: 4px 4px;")
            button.clicked.connect(lambda _=False, k=preset.key: self._choose_preset(k))
            self.preset_buttons.addButton(button)
            presets.addWidget(button)
        form_column.addLayout(presets)
        self.preset_note = QLabel()
        self.preset_note.setProperty("role", "muted")
        self.preset_note.setWordWrap(True)
        form_column.addWidget(self.preset_note)

        form = QFormLayout()
        form.setSpacing(10)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.exam_date = QDateEdit()
        self.exam_date.setObjectName("examDate")
        self.exam_date.setCalendarPopup(True)
        self.exam_date.setDisplayFormat("yyyy-MM-dd")
        self.exam_date.setMinimumDate(NO_DATE)
        self.exam_date.setSpecialValueText("enter the date")
        self.exam_date.setMaximumDate(QDate.currentDate())
        self.exam_date.setDate(NO_DATE)
        self.exam_date.setToolTip(
            "The date the films were taken (the original exam); it goes into every page"
        )
        form.addRow("Original exam date", self.exam_date)

        self.source = QComboBox()
        self.source.setObjectName("scanSource")
        self.source.setEditable(True)
        self.source.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.source.setToolTip("sane:DEVICE, twain:NAME, or folder:PATH of image files")
        self.source.lineEdit().setPlaceholderText("sane:DEVICE or folder:PATH")
        browse = QPushButton("Folder…")
        browse.setObjectName("scanBrowse")
        browse.setToolTip("Scan the images in a folder (a digitizer's output folder)")
        browse.clicked.connect(self._browse)
        source_row = QHBoxLayout()
        source_row.addWidget(self.source, 1)
        source_row.addWidget(browse)

        self.dpi = QSpinBox()
        self.dpi.setObjectName("scanDpi")
        self.dpi.setRange(50, 2400)
        self.dpi.setSingleStep(50)
        self.dpi.setSuffix(" dpi")
        form.addRow("Resolution", self.dpi)

        self.body_part = QComboBox()
        self.body_part.setObjectName("scanBodyPart")
        for part in BODY_PARTS:
            self.body_part.addItem(BODY_PART_NAMES.get(part, part.capitalize()), part)
        self.body_part.currentIndexChanged.connect(lambda _i: self._update_side())
        form.addRow("Body part", self.body_part)
        self.side = QComboBox()
        self.side.setObjectName("scanSide")
        for value, text in SIDES:
            self.side.addItem(text, value)
        form.addRow("Side", self.side)

        self.output = QComboBox()
        self.output.setObjectName("scanOutput")
        self.output.addItem("One PDF document", ScanOutput.PDF)
        self.output.addItem("One image per page", ScanOutput.SC)
        form.addRow("Store as", self.output)
        form_column.addLayout(form)
        source_label = QLabel("Source: scanner or folder of images")
        source_label.setProperty("role", "muted")
        form_column.addSpacing(6)
        form_column.addWidget(source_label)
        form_column.addLayout(source_row)
        form_column.addStretch(1)

        buttons = QHBoxLayout()
        self.scan_button = QPushButton(icon("scan", "#0b1220"), "  Scan")
        self.scan_button.setObjectName("scanStart")
        self.scan_button.setProperty("role", "primary")
        self.scan_button.setToolTip("Scan a batch (F5)")
        self.scan_button.setIconSize(QSize(touch // 2, touch // 2))
        self.scan_button.clicked.connect(self.scan)
        self.stop_button = QPushButton(icon("stop"), "  Stop")
        self.stop_button.setObjectName("scanStop")
        self.stop_button.setToolTip("End the batch after the current page (Esc)")
        self.stop_button.setIconSize(QSize(touch // 2, touch // 2))
        self.stop_button.clicked.connect(self.stop)
        buttons.addWidget(self.scan_button, 2)
        buttons.addWidget(self.stop_button, 1)
        form_column.addLayout(buttons)
        return card

    def _build_strip(self, touch: int) -> QVBoxLayout:
        column = QVBoxLayout()
        column.setSpacing(10)
        self.large = QLabel(
            "Scanned pages appear below for checking. Nothing is stored until you press Store."
        )
        self.large.setObjectName("qcPreview")
        self.large.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.large.setWordWrap(True)
        self.large.setMinimumHeight(160)
        self.large.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Expanding)
        self.large.setStyleSheet(
            f"#qcPreview {{ background: #0b0d10; color: {TEXT_MUTED}; border-radius: 12px; }}"
        )
        column.addWidget(self.large, 1)
        self.strip = ThumbnailStrip(
            tile=QSize(THUMB_W, THUMB_H), empty_text="No pages yet", multi_select=True
        )
        self.strip.setObjectName("qcStrip")
        self.strip.set_reorderable(True)
        self.strip.order_changed.connect(self._renumber)
        # Deferred: the strip announces a change while a tile is being removed, when its
        # selected_keys() cannot be asked yet.
        self.strip.selection_changed.connect(lambda: QTimer.singleShot(0, self._selection_changed))
        column.addWidget(self.strip)

        tools = QHBoxLayout()
        tools.setSpacing(8)
        size = QSize(touch // 2, touch // 2)

        def tool(name: str, text: str, tip: str, slot: Any, keys: str) -> QPushButton:
            button = QPushButton(icon(name), f"  {text}")
            button.setObjectName(f"qc_{name.replace('-', '_')}")
            button.setToolTip(f"{tip} ({keys})")
            button.setIconSize(size)
            button.clicked.connect(slot)
            tools.addWidget(button)
            return button

        self.rotate_button = tool("rotate", "Rotate", "Turn 90° clockwise", self.rotate, "R")
        self.left_button = tool(
            "move-left", "Earlier", "Move one place earlier", self.move_left, "Ctrl+Left"
        )
        self.right_button = tool(
            "move-right", "Later", "Move one place later", self.move_right, "Ctrl+Right"
        )
        self.rescan_button = tool("refresh", "Rescan", "Scan this page again", self.rescan, "F6")
        self.delete_button = tool("delete", "Delete", "Remove from the batch", self.delete, "Del")
        tools.addStretch(1)
        column.addLayout(tools)

        bottom = QHBoxLayout()
        self.status = QLabel()
        self.status.setObjectName("scanStatus")
        self.status.setWordWrap(True)
        self.store_button = QPushButton(icon("store", "#0b1220"), "  Store")
        self.store_button.setObjectName("scanStore")
        self.store_button.setProperty("role", "primary")
        self.store_button.setToolTip("Store the pages in the patient's study (Ctrl+S)")
        self.store_button.setIconSize(size)
        self.store_button.setMinimumWidth(int(touch * 3))
        self.store_button.clicked.connect(self.store)
        bottom.addWidget(self.status, 1)
        bottom.addWidget(self.store_button)
        column.addLayout(bottom)

        for keys, slot in (
            ("F5", self.scan),
            ("Esc", self.stop),
            ("R", self.rotate),
            ("Ctrl+Left", self.move_left),
            ("Ctrl+Right", self.move_right),
            ("F6", self.rescan),
            ("Del", self.delete),
            ("Ctrl+S", self.store),
        ):
            shortcut = QShortcut(QKeySequence(keys), self)
            shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            shortcut.activated.connect(slot)
        return column

    # -- screen life --------------------------------------------------------------------------

    def on_shown(self) -> None:
        """Show the current procedure and list the scanners (on a worker)."""
        self.exam_date.setMaximumDate(QDate.currentDate())
        self._procedure_changed(None)
        if self.discover_devices and self.source.count() == 0:
            self.bridge.call(
                self.bridge.engine.devices, on_done=self._devices, on_error=lambda _e: None
            )

    def on_hidden(self) -> None:
        """Pages in the strip stay (they are not stored until Store)."""

    def _devices(self, found: object) -> None:
        devices, _kinds = found  # type: ignore[misc]
        current = self.source.currentText()
        for device in devices:
            kind = str(getattr(device.kind, "value", device.kind))
            if kind in ("sane", "twain") and self.source.findData(device.spec) < 0:
                self.source.addItem(f"{device.label} ({device.spec})", device.spec)
        if current:
            self.source.setEditText(current)

    # -- binding to the procedure -------------------------------------------------------------

    def _procedure_changed(self, _procedure: object) -> None:
        procedure = self.bridge.engine.procedure
        self._procedure = procedure
        number = procedure.procedure_id if procedure is not None else None
        if number != self._seen_procedure and not self._pages:
            self.exam_date.setDate(NO_DATE)  # another patient's films: enter their date
        self._seen_procedure = number
        self.pages_stack.setCurrentIndex(0 if procedure is None else 1)
        if procedure is not None:
            patient = procedure.patient
            bits = [
                display_name(patient.name) or "(no name)",
                f"ID {patient.patient_id}",
                f"Acc. {procedure.accession_number}" if procedure.accession_number else "",
                procedure.description,
            ]
            self.target.setText("Into the study of  " + "  ·  ".join(b for b in bits if b))
        self._update_actions()

    # -- options ------------------------------------------------------------------------------

    @property
    def preset(self) -> ScanPreset:
        """The preset chosen."""
        return self._preset

    def _choose_preset(self, key: str) -> None:
        preset = SCAN_PRESETS[key]
        self._preset = preset
        for button in self.preset_buttons.buttons():
            button.setChecked(button.objectName() == f"preset_{key}")
        self.dpi.setValue(int(preset.dpi))
        self.body_part.setCurrentIndex(max(0, self.body_part.findData(preset.body_part)))
        self.output.setCurrentIndex(max(0, self.output.findData(preset.output)))
        self.output.setEnabled(preset.key == "document")
        colour = "grayscale" if preset.grayscale else "colour"
        depth = f"{preset.bits}-bit {colour}" if preset.grayscale else colour
        kind = "Encapsulated PDF" if preset.output is ScanOutput.PDF else "Secondary Capture"
        self.preset_note.setText(
            f"{preset.title}: {depth} ({preset.photometric}), {int(preset.dpi)} dpi, "
            f"{kind}, conversion {preset.conversion.value}"
        )
        self._update_side()

    def _update_side(self) -> None:
        paired = self.body_part.currentData() in PAIRED_BODY_PARTS
        self.side.setEnabled(paired)
        if not paired:
            self.side.setCurrentIndex(0)

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder of scanned images")
        if folder:
            self.source.setEditText(f"folder:{folder}")

    def source_spec(self) -> str:
        """The source text: the chosen scanner's spec, or what was typed."""
        text = self.source.currentText().strip()
        index = self.source.currentIndex()
        if index >= 0 and text == self.source.itemText(index) and self.source.itemData(index):
            return str(self.source.itemData(index))
        return text

    def exam(self) -> date | None:
        """The original exam date entered, or None."""
        chosen = self.exam_date.date()
        if chosen == NO_DATE or not chosen.isValid():
            return None
        return date(chosen.year(), chosen.month(), chosen.day())

    # -- scanning -----------------------------------------------------------------------------

    def scan(self) -> None:
        """Scan a batch from the source into the QC strip (on a worker)."""
        self._acquire(replace=None)

    def rescan(self) -> None:
        """Scan the selected page again: the next page from the source replaces it."""
        keys = self.selected_keys()
        if len(keys) != 1:
            self._say("Select the one page to scan again.", WARNING_AMBER)
            return
        self._acquire(replace=keys[0])

    def _acquire(self, replace: int | None) -> None:
        if self._busy or not self.scan_button.isEnabled():
            return
        spec = self.source_spec()
        if not spec:
            self._say("Choose a scanner, or a folder of images, as the source.", WARNING_AMBER)
            return
        procedure = self._procedure
        if procedure is None:
            return
        if self._pages and self._batch_procedure != procedure.procedure_id:
            self._say("Store or delete the pages of the other patient first.", WARNING_AMBER)
            return
        self._batch_procedure = procedure.procedure_id
        preset = self._preset
        stop = threading.Event()
        self._stop = stop
        dpi = float(self.dpi.value())
        options = dict(self.sane_options)
        idle = self.folder_idle_s

        def page_done(page: ScannedPage) -> None:
            thumb = preview(page.pixels, THUMB_PX, page.bits_stored)
            self._page_arrived.emit(replace, page, thumb)

        self._set_busy("Scanning…" if replace is None else "Scanning the page again…")
        self.bridge.call(
            acquire,
            spec,
            preset,
            dpi=dpi,
            stop=stop,
            idle_s=idle,
            limit=1 if replace is not None else None,
            on_page=page_done,
            sane_options=options or None,
            on_done=lambda pages: self._scanned(pages, replace),
            on_error=self._scan_failed,
        )

    def stop(self) -> None:
        """End the batch after the page being scanned."""
        if self._stop is not None:
            self._stop.set()

    def _add_or_replace(self, replace: object, page: object, thumb: object) -> None:
        assert isinstance(page, ScannedPage) and isinstance(thumb, np.ndarray)
        if isinstance(replace, int) and replace in self._pages:
            key = replace
        else:
            key = self._next_key
            self._next_key += 1
        self._pages[key] = page
        self._thumbs[key] = image_of(thumb)
        self._tile(key)
        if key != replace:
            self._renumber()
            self._set_busy(f"Scanning… {len(self._pages)} page(s) so far")
        elif self.selected_keys() == [key]:
            self._show_large(key)

    def _tile(self, key: int, number: int | None = None) -> None:
        if number is None:
            keys = self.page_keys()
            number = keys.index(key) + 1 if key in keys else len(keys) + 1
        page = self._pages[key]
        rows, columns = page.pixels.shape[:2]
        self.strip.add(str(key), self._thumbs[key], str(number), "page")
        depth = f"{page.bits_stored}-bit" + (" colour" if page.pixels.ndim == 3 else " gray")
        dpi = f", {page.dpi:g} dpi" if page.dpi else ""
        self._sizes[key] = f"Page {number}: {columns} x {rows} pixels, {depth}{dpi}"

    def _scanned(self, pages: object, replace: int | None) -> None:
        self._stop = None
        count = len(pages) if isinstance(pages, list) else 0
        self._set_busy("")
        if replace is not None:
            text = "The page was scanned again." if count else "No new page came from the source."
            self._say(text, OK_GREEN if count else WARNING_AMBER)
        elif count:
            self._say(
                f"{count} page(s) scanned. Check them, then press Store.",
                OK_GREEN,
            )
        else:
            self._say(
                "No page came from the source (is the feeder or folder empty?).", WARNING_AMBER
            )

    def _scan_failed(self, error: BaseException) -> None:
        self._stop = None
        self._set_busy("")
        self._say(f"Scanning stopped: {error}", RECORD_RED)

    # -- QC -----------------------------------------------------------------------------------

    def selected_keys(self) -> list[int]:
        """Keys of the selected pages, in strip order."""
        return [int(key) for key in self.strip.selected_keys()]

    def page_keys(self) -> list[int]:
        """Keys of every page, in strip (storing) order."""
        shown = self.strip.keys()
        return [int(key) for key in shown]

    def pages(self) -> list[ScannedPage]:
        """The pages in the order they will be stored."""
        return [self._pages[key] for key in self.page_keys()]

    def select_page(self, number: int) -> None:
        """Select only page ``number`` (1 = first in the strip)."""
        self.strip.select(str(self.page_keys()[number - 1]))
        self._selection_changed()

    def _selection_changed(self) -> None:
        keys = self.selected_keys()
        if len(keys) == 1:
            self._show_large(keys[0])
        self._update_actions()

    def _show_large(self, key: int) -> None:
        """A large view of one page for checking (made on a worker)."""
        page = self._pages.get(key)
        if page is None:
            return
        side = max(self.large.width(), self.large.height(), 400)
        self._large_key = key
        self.bridge.call(
            preview,
            page.pixels,
            side,
            page.bits_stored,
            on_done=lambda pixels, key=key, page=page: self._large_ready(key, page, pixels),
            on_error=lambda _e: None,
        )

    def _large_ready(self, key: int, page: ScannedPage, pixels: object) -> None:
        if key != self._large_key or self._pages.get(key) is not page:
            return
        assert isinstance(pixels, np.ndarray)
        pixmap = QPixmap.fromImage(image_of(pixels))
        self.large.setPixmap(
            pixmap.scaled(
                self.large.size(),
                Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation,
            )
        )
        self.large.setToolTip(self._sizes.get(key, ""))

    def _clear_large(self) -> None:
        self._large_key = None
        self.large.clear()
        self.large.setText(
            "Scanned pages appear below for checking. Nothing is stored until you press Store."
        )

    def rotate(self) -> None:
        """Turn the selected pages 90° clockwise (on a worker: pages can be large)."""
        for key in self.selected_keys():
            page = self._pages[key]

            def work(page: ScannedPage = page) -> tuple[ScannedPage, np.ndarray]:
                turned = rotated(page)
                return turned, preview(turned.pixels, THUMB_PX, turned.bits_stored)

            self.bridge.call(work, on_done=lambda result, key=key: self._rotated(key, result))

    def _rotated(self, key: int, result: object) -> None:
        page, thumb = result  # type: ignore[misc]
        if key not in self._pages:
            return
        self._pages[key] = page
        self._thumbs[key] = image_of(thumb)
        self._tile(key)
        if self.selected_keys() == [key] or self._large_key == key:
            self._show_large(key)

    def move_left(self) -> None:
        """Move the selected page one place earlier."""
        self._move(-1)

    def move_right(self) -> None:
        """Move the selected page one place later."""
        self._move(+1)

    def _move(self, step: int) -> None:
        keys = self.selected_keys()
        if len(keys) != 1:
            return
        view = self.strip.view
        order = self.page_keys()
        row = order.index(keys[0])
        target = row + step
        if not 0 <= target < len(order):
            return
        view.insertItem(target, view.takeItem(row))
        self.strip.select(str(keys[0]))
        self._renumber()

    def delete(self) -> None:
        """Remove the selected pages from the batch (they were never stored)."""
        for key in self.selected_keys():
            self.strip.remove(str(key))
            self._forget(key)
        self._renumber()

    def _forget(self, key: int) -> None:
        self._pages.pop(key, None)
        self._thumbs.pop(key, None)
        self._sizes.pop(key, None)
        if self._large_key == key:
            self._clear_large()
        if not self._pages:
            self._batch_procedure = None

    def _renumber(self) -> None:
        for number, key in enumerate(self.page_keys(), start=1):
            self._tile(key, number)
        count = self.strip.count()
        self.store_button.setText(f"  Store {count} page(s)" if count else "  Store")
        self._update_actions()

    # -- storing ------------------------------------------------------------------------------

    def store(self) -> None:
        """Store the pages, in strip order, as one series of the procedure's study."""
        if self._busy or not self.store_button.isEnabled():
            return
        exam = self.exam()
        if exam is None:
            self._say("Enter the original exam date first.", WARNING_AMBER)
            return
        keys = self.page_keys()
        pages = [self._pages[key] for key in keys]
        self._set_busy(f"Storing {len(pages)} page(s)…")
        self.bridge.call(
            store_pages,
            self.bridge.engine,
            pages,
            self._preset,
            exam_date=exam,
            dpi=float(self.dpi.value()),
            body_part=str(self.body_part.currentData()),
            laterality=str(self.side.currentData()),
            output=self.output.currentData() if self._preset.key == "document" else None,
            on_done=lambda records: self._stored(keys, records),
            on_error=self._store_failed,
        )

    def _stored(self, keys: list[int], records: object) -> None:
        for key in keys:
            self.strip.remove(str(key))
            self._forget(key)
        self._set_busy("")
        self._renumber()
        count = len(records) if isinstance(records, list) else 0
        exam = self.exam()
        when = exam.isoformat() if exam else ""
        self._say(
            f"Stored: {len(keys)} page(s) as {count} instance(s), exam date {when}.", OK_GREEN
        )

    def _store_failed(self, error: BaseException) -> None:
        self._set_busy("")
        self._say(f"Nothing was stored: {error}", RECORD_RED)

    # -- state of the controls ----------------------------------------------------------------

    def _set_busy(self, text: str) -> None:
        self._busy = text
        if text:
            self._say(text, ACCENT)
        self._update_actions()

    def _say(self, text: str, colour: str) -> None:
        self.status.setText(text)
        self.status.setStyleSheet(f"#scanStatus {{ color: {colour}; font-weight: 600; }}")

    def _update_actions(self) -> None:
        procedure = self._procedure
        busy = bool(self._busy)
        scanning = self._stop is not None
        count = self.strip.count()
        selected = len(self.strip.selected_keys())
        same_patient = procedure is not None and (
            self._batch_procedure is None or self._batch_procedure == procedure.procedure_id
        )
        storable = procedure is not None and procedure.state in STORABLE_STATES
        self.scan_button.setEnabled(not busy and same_patient and bool(self.source_spec()))
        self.stop_button.setEnabled(scanning)
        self.rotate_button.setEnabled(selected > 0 and not scanning)
        self.left_button.setEnabled(selected == 1 and not busy)
        self.right_button.setEnabled(selected == 1 and not busy)
        self.rescan_button.setEnabled(selected == 1 and not busy)
        self.delete_button.setEnabled(selected > 0 and not busy)
        self.store_button.setEnabled(
            count > 0 and not busy and same_patient and storable and self.exam() is not None
        )
        if busy:
            return
        if procedure is not None and count and not same_patient:
            self._say(
                "These pages were scanned for another patient: delete them, or select that "
                "patient again to store them.",
                RECORD_RED,
            )
        elif procedure is not None and not storable:
            state = procedure.state.value.replace("_", " ").lower()
            self._say(f"The procedure is {state}: pages cannot be added to it now.", WARNING_AMBER)
        elif count and self.exam() is None:
            self._say("Enter the original exam date to store the pages.", WARNING_AMBER)
