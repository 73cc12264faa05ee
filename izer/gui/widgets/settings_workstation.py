"""Settings, Workstation tab: identity (AE title, UID root, station, institution), storage,
capture devices with a live test, hotkeys, and what stills are stored as."""

from __future__ import annotations

from typing import Any

import numpy as np
from PyQt6.QtCore import QSize, Qt, QTimer, pyqtSignal
from PyQt6.QtGui import QPixmap
from PyQt6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from izer.config.loader import STILL_IODS
from izer.config.settings import CHARACTER_SETS
from izer.engine.scanning import SourceProbe, preview
from izer.gui.bridge import EngineBridge
from izer.gui.icons import icon
from izer.gui.screens.scan import image_of
from izer.gui.theme import SURFACE, TEXT_MUTED, WARNING_AMBER, touch_px
from izer.gui.widgets.settings_form import (
    ErrorLabel,
    Table,
    get_value,
    int_or_text,
    result_label,
    set_value,
    show_outcome,
    with_error,
)

#: Frames a second the device test shows, and for how long it runs.
TEST_FPS = 4
TEST_SECONDS = 15
#: What the still IOD names mean.
STILL_IOD_TEXT = {
    "vl-endoscopic": "VL Endoscopic Image",
    "vl-photographic": "VL Photographic Image",
    "vl-microscopic": "VL Microscopic Image",
    "sc": "Secondary Capture Image",
}
HOTKEYS = (("still", "Still"), ("record", "Record / stop"), ("pause", "Pause"), ("end", "End"))
#: Source kinds that deliver pages, tried on the Scan screen rather than here.
PAGE_PREFIXES = ("sane:", "twain:", "folder:")


def _card(name: str, title: str) -> tuple[QFrame, QVBoxLayout]:
    frame = QFrame()
    frame.setObjectName(name)
    frame.setStyleSheet(
        f"#{name} {{ background: {SURFACE}; border-radius: 12px; }}"
        f"#{name} QLabel, #{name} QCheckBox {{ background: transparent; }}"
    )
    column = QVBoxLayout(frame)
    column.setContentsMargins(20, 16, 20, 16)
    column.setSpacing(10)
    heading = QLabel(title)
    heading.setStyleSheet("font-size: 17pt; font-weight: 600;")
    column.addWidget(heading)
    return frame, column


def _probe_frame(probe: SourceProbe) -> np.ndarray:
    frame = probe.frame()
    bits = 16 if frame.dtype != np.uint8 else 8
    return preview(frame, 360, bits)


class WorkstationTab(QWidget):
    """Identity, storage, capture devices and hotkeys of this workstation."""

    changed = pyqtSignal()

    def __init__(self, bridge: EngineBridge, table: Table, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.table = table
        self.errors: dict[str, ErrorLabel] = {}
        self._loading = False
        self._probe: SourceProbe | None = None
        self._grabbing = False
        self._frames_left = 0
        self._timer = QTimer(self)
        self._timer.setInterval(1000 // TEST_FPS)
        self._timer.timeout.connect(self._grab)
        self._build()
        self.reload(table)

    # -- layout -------------------------------------------------------------------------------

    def _build(self) -> None:
        touch = touch_px()
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 12, 0, 0)
        scroller = QScrollArea()
        scroller.setWidgetResizable(True)
        scroller.setFrameShape(QFrame.Shape.NoFrame)
        outer.addWidget(scroller)
        body = QWidget()
        scroller.setWidget(body)
        row = QHBoxLayout(body)
        row.setContentsMargins(0, 0, 8, 0)
        row.setSpacing(18)

        identity, column = _card("identityCard", "This workstation")
        form = self._form(column)
        self.ae_title = self._line(form, "station.ae_title", "AE title", "at most 16 characters")
        self.station_name = self._line(form, "station.station_name", "Station name")
        self.institution = self._line(form, "station.institution_name", "Institution")
        self.uid_root = QLineEdit()
        self.uid_root.setObjectName("uidRoot")
        self.uid_root.setReadOnly(True)
        self.uid_change = QCheckBox("Change")
        self.uid_change.setObjectName("uidChange")
        self.uid_change.toggled.connect(self._uid_unlocked)
        uid_row = QWidget()
        uid_row.setStyleSheet("background: transparent;")
        uid_line = QHBoxLayout(uid_row)
        uid_line.setContentsMargins(0, 0, 0, 0)
        uid_line.addWidget(self.uid_root, 1)
        uid_line.addWidget(self.uid_change)
        cell, self.errors["station.uid_root"] = with_error(uid_row, "station.uid_root")
        form.addRow("UID root", cell)
        self.uid_warning = QLabel(
            "Every new study, series and image gets a UID under this root. Changing it breaks "
            "nothing already made, but use only a root registered to your organisation (or a "
            "2.25 one)."
        )
        self.uid_warning.setWordWrap(True)
        self.uid_warning.setStyleSheet(
            f"color: {WARNING_AMBER}; font-size: 12pt; background: transparent;"
        )
        self.uid_warning.hide()
        form.addRow("", self.uid_warning)
        self.uid_root.textEdited.connect(lambda t: self._set("station.uid_root", t.strip()))
        self.charset = QComboBox()
        self.charset.setObjectName("characterSet")
        for name in sorted(CHARACTER_SETS):
            self.charset.addItem(name, name)
        cell, self.errors["station.character_set"] = with_error(
            self.charset, "station.character_set", "ISO_IR 192 (UTF-8) writes every script"
        )
        form.addRow("Character set", cell)
        self.charset.currentIndexChanged.connect(
            lambda _i: self._set("station.character_set", self.charset.currentData())
        )
        self.listener_port = self._line(
            form,
            "listener.port",
            "Listening port",
            "where izer receives (storage commitment reports, izer serve)",
            convert=int_or_text,
        )
        self.storage = QLineEdit()
        self.storage.setObjectName("storageFolder")
        self.storage.setPlaceholderText("the platform's data folder")
        browse = QPushButton("Folder…")
        browse.setObjectName("storageBrowse")
        browse.clicked.connect(self._browse_storage)
        storage_row = QWidget()
        storage_row.setStyleSheet("background: transparent;")
        storage_line = QHBoxLayout(storage_row)
        storage_line.setContentsMargins(0, 0, 0, 0)
        storage_line.addWidget(self.storage, 1)
        storage_line.addWidget(browse)
        cell, self.errors["storage.folder"] = with_error(
            storage_row, "storage.folder", "where studies are kept until sent (empty: default)"
        )
        form.addRow("Storage folder", cell)
        self.storage.textEdited.connect(lambda t: self._set("storage.folder", t.strip()))
        column.addStretch(1)
        row.addWidget(identity, 1)

        capture, column = _card("captureCard", "Capture")
        form = self._form(column)
        self.source = self._source_combo(form, "capture.source", "Main source")
        self.second_source = self._source_combo(
            form, "capture.second_source", "Second source", "empty: none"
        )
        test_row = QHBoxLayout()
        self.test_button = QPushButton(icon("capture"), "  Test")
        self.test_button.setObjectName("deviceTest")
        self.test_button.setToolTip("Show a live picture from the main source for a few seconds")
        self.test_button.setIconSize(QSize(touch // 2, touch // 2))
        self.test_button.clicked.connect(self.toggle_test)
        self.test_result = result_label("deviceTestResult")
        test_row.addWidget(self.test_button)
        test_row.addWidget(self.test_result, 1)
        column.addLayout(test_row)
        self.thumbnail = QLabel("No picture yet")
        self.thumbnail.setObjectName("deviceThumbnail")
        self.thumbnail.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.thumbnail.setFixedSize(360, 203)
        self.thumbnail.setStyleSheet(
            f"#deviceThumbnail {{ background: #0b0d10; color: {TEXT_MUTED}; border-radius: 8px; }}"
        )
        column.addWidget(self.thumbnail, 0, Qt.AlignmentFlag.AlignHCenter)
        form = self._form(column)
        self.still_iod = QComboBox()
        self.still_iod.setObjectName("stillIod")
        for name in STILL_IODS:
            self.still_iod.addItem(STILL_IOD_TEXT.get(name, name), name)
        cell, self.errors["capture.still_iod"] = with_error(
            self.still_iod,
            "capture.still_iod",
            "For every procedure type: a table of procedure types with their own IOD and "
            "anatomic region does not exist in the settings yet.",
        )
        form.addRow("Stills stored as", cell)
        self.still_iod.currentIndexChanged.connect(
            lambda _i: self._set("capture.still_iod", self.still_iod.currentData())
        )
        self.hotkeys: dict[str, QLineEdit] = {}
        for name, text in HOTKEYS:
            key = f"capture.hotkeys.{name}"
            self.hotkeys[name] = self._line(
                form,
                key,
                f"{text} keys",
                "key names, comma-separated (F1, Return, space…)" if name == "still" else "",
                convert=lambda t: [k.strip() for k in t.split(",") if k.strip()],
            )
        column.addStretch(1)
        row.addWidget(capture, 1)

    def _form(self, column: QVBoxLayout) -> QFormLayout:
        form = QFormLayout()
        form.setSpacing(10)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        column.addLayout(form)
        return form

    def _line(
        self,
        form: QFormLayout,
        key: str,
        text: str,
        note: str = "",
        convert: Any = str.strip,
    ) -> QLineEdit:
        line = QLineEdit()
        line.setObjectName(key.replace(".", "_"))
        cell, self.errors[key] = with_error(line, key, note)
        form.addRow(text, cell)
        line.textEdited.connect(lambda t: self._set(key, convert(t)))
        return line

    def _source_combo(self, form: QFormLayout, key: str, text: str, note: str = "") -> QComboBox:
        combo = QComboBox()
        combo.setObjectName(key.replace(".", "_"))
        combo.setEditable(True)
        combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        cell, self.errors[key] = with_error(combo, key, note or "synthetic, opencv:0, av:…")
        form.addRow(text, cell)
        combo.currentTextChanged.connect(lambda t: self._set(key, self._spec(combo, t)))
        return combo

    @staticmethod
    def _spec(combo: QComboBox, text: str) -> str:
        index = combo.findText(text)
        if index >= 0 and combo.itemData(index):
            return str(combo.itemData(index))
        return text.strip()

    # -- model --------------------------------------------------------------------------------

    def reload(self, table: Table) -> None:
        """Show ``table``."""
        self.table = table
        self._loading = True
        self.ae_title.setText(str(get_value(table, "station.ae_title", "")))
        self.station_name.setText(str(get_value(table, "station.station_name", "")))
        self.institution.setText(str(get_value(table, "station.institution_name", "")))
        self.uid_root.setText(str(get_value(table, "station.uid_root", "")))
        self.uid_change.setChecked(False)
        charset = str(get_value(table, "station.character_set", "ISO_IR 192"))
        self.charset.setCurrentIndex(max(0, self.charset.findData(charset)))
        self.listener_port.setText(str(get_value(table, "listener.port", 11112)))
        self.storage.setText(str(get_value(table, "storage.folder", "")))
        for line in (self.uid_root, self.storage):
            line.setCursorPosition(0)
        for key, combo in (
            ("capture.source", self.source),
            ("capture.second_source", self.second_source),
        ):
            combo.setEditText(str(get_value(table, key, "")))
        still = str(get_value(table, "capture.still_iod", "vl-endoscopic"))
        self.still_iod.setCurrentIndex(max(0, self.still_iod.findData(still)))
        for name, line in self.hotkeys.items():
            keys = get_value(table, f"capture.hotkeys.{name}", []) or []
            line.setText(", ".join(str(k) for k in keys))
        for label in self.errors.values():
            label.show_problem(None)
        self._loading = False

    def _set(self, key: str, value: Any) -> None:
        if self._loading:
            return
        set_value(self.table, key, value)
        if key in self.errors:
            self.errors[key].show_problem(None)
        self.changed.emit()

    def _uid_unlocked(self, on: bool) -> None:
        self.uid_root.setReadOnly(not on)
        self.uid_warning.setVisible(on)
        if on:
            self.uid_root.setFocus()

    def _browse_storage(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Storage folder", self.storage.text())
        if folder:
            self.storage.setText(folder)
            self._set("storage.folder", folder)

    def show_devices(self, devices: list[Any]) -> None:
        """Offer the capture devices found (video kinds only)."""
        for combo in (self.source, self.second_source):
            current = combo.currentText()
            self._loading = True
            if combo.findData("synthetic") < 0:
                combo.addItem("Test pattern (synthetic)", "synthetic")
            for device in devices:
                spec = str(device.spec)
                if spec.startswith(PAGE_PREFIXES) or spec.startswith("audio:"):
                    continue
                if combo.findData(spec) < 0:
                    combo.addItem(f"{device.label} ({spec})", spec)
            combo.setEditText(current)
            self._loading = False

    def show_problems(self, problems: dict[str, str]) -> set[str]:
        """Show the problems of this tab's keys next to their fields; return those shown."""
        shown = set()
        for key, label in self.errors.items():
            label.show_problem(problems.get(key))
            if key in problems:
                shown.add(key)
        if "station.uid_root" in problems:
            self.uid_change.setChecked(True)
        return shown

    # -- the device test ----------------------------------------------------------------------

    def toggle_test(self) -> None:
        """Start the live test of the main source, or stop it."""
        if self._probe is not None or self._timer.isActive():
            self.stop_test()
            return
        spec = self._spec(self.source, self.source.currentText())
        if not spec:
            show_outcome(self.test_result, False, "Choose a source first.")
            return
        if spec.startswith(PAGE_PREFIXES):
            show_outcome(self.test_result, False, "Scanners are tried on the Scan screen.")
            return
        width = get_value(self.table, "capture.width", None)
        height = get_value(self.table, "capture.height", None)
        fps = get_value(self.table, "capture.fps", None)
        self.test_button.setEnabled(False)
        self.test_result.setText(f"Opening {spec}…")
        self.test_result.setStyleSheet(f"color: {TEXT_MUTED}; background: transparent;")

        def opened(probe: object) -> None:
            assert isinstance(probe, SourceProbe)
            self._probe = probe
            self._frames_left = TEST_FPS * TEST_SECONDS
            self.test_button.setEnabled(True)
            self.test_button.setText("  Stop test")
            self.test_button.setIcon(icon("stop"))
            show_outcome(self.test_result, True, f"{spec}: {probe.mode_text}")
            self._timer.start()
            self._grab()

        def failed(error: BaseException) -> None:
            self.test_button.setEnabled(True)
            show_outcome(self.test_result, False, f"{spec}: {error}")

        self.bridge.call(
            SourceProbe,
            spec,
            width=width if isinstance(width, int) else None,
            height=height if isinstance(height, int) else None,
            fps=fps if isinstance(fps, int | float) else None,
            on_done=opened,
            on_error=failed,
        )

    def _grab(self) -> None:
        probe = self._probe
        if probe is None or self._grabbing:
            return
        self._frames_left -= 1
        if self._frames_left < 0:
            self.stop_test()
            return
        self._grabbing = True
        try:
            self.bridge.call(_probe_frame, probe, on_done=self._frame, on_error=self._grab_failed)
        except RuntimeError:  # the bridge was shut down: the window is closing
            self._timer.stop()
            self._probe = None
            probe.close()

    def _frame(self, pixels: object) -> None:
        self._grabbing = False
        if self._probe is None or not isinstance(pixels, np.ndarray):
            return
        pixmap = QPixmap.fromImage(image_of(pixels))
        self.thumbnail.setPixmap(
            pixmap.scaled(
                self.thumbnail.size(),
                Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation,
            )
        )

    def _grab_failed(self, error: BaseException) -> None:
        self._grabbing = False
        if self._probe is not None:
            show_outcome(self.test_result, False, str(error))
        self.stop_test()

    def stop_test(self) -> None:
        """End the device test and release the device (on a worker)."""
        self._timer.stop()
        probe, self._probe = self._probe, None
        self.test_button.setText("  Test")
        self.test_button.setIcon(icon("capture"))
        self.test_button.setEnabled(True)
        if probe is not None:
            try:
                self.bridge.call(probe.close, on_error=lambda _e: None)
            except RuntimeError:  # the bridge was shut down: close here
                probe.close()
