"""Settings, Print presets tab: each print destination's film choices (display format, film
size, orientation, medium, colour...), PS3.3 C.13.1 and C.13.3; empty means the printer's own
default."""

from __future__ import annotations

import dataclasses
import enum
from typing import Any

from PyQt6.QtCore import QSize, Qt, pyqtSignal
from PyQt6.QtGui import QColor
from PyQt6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from izer.gui.theme import RECORD_RED, SURFACE, TEXT
from izer.gui.widgets.settings_form import ErrorLabel, Table, int_or_text, with_error
from izer.model.printing import (
    FilmOrientation,
    FilmSize,
    MagnificationType,
    MediumType,
    Polarity,
    PrintPreset,
    PrintPriority,
    Trim,
)

#: Display formats offered (any other can be typed).
DISPLAY_FORMATS = (
    "STANDARD\\1,1",
    "STANDARD\\1,2",
    "STANDARD\\2,2",
    "STANDARD\\2,3",
    "STANDARD\\3,3",
    "STANDARD\\3,4",
    "STANDARD\\4,4",
    "STANDARD\\4,5",
    "ROW\\1,2",
    "COL\\1,2",
)
#: The coded fields: settings key, label, choices.
CODED: tuple[tuple[str, str, type[enum.StrEnum]], ...] = (
    ("film_size", "Film size", FilmSize),
    ("film_orientation", "Orientation", FilmOrientation),
    ("medium", "Medium", MediumType),
    ("magnification", "Magnification", MagnificationType),
    ("polarity", "Polarity", Polarity),
    ("trim", "Trim", Trim),
    ("priority", "Priority", PrintPriority),
)
PRESET_FIELDS = {f.name for f in dataclasses.fields(PrintPreset)}


def preset_problems(entry: dict[str, Any]) -> dict[str, str]:
    """Every problem of a print preset table, by its key (``display_format``...)."""
    known = {k: v for k, v in entry.items() if k in PRESET_FIELDS}
    try:
        problems = PrintPreset(**known).problems()
    except TypeError as error:
        return {"": str(error)}
    found: dict[str, str] = {}
    for problem in problems:
        key, _, text = problem.partition(": ")
        found.setdefault(key if key in PRESET_FIELDS else "", text or problem)
    return found


class PrintTab(QWidget):
    """The print destinations and the preset of the selected one."""

    changed = pyqtSignal()

    def __init__(self, table: Table, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.table = table
        self.indexes: list[int] = []
        self.current = -1
        self._loading = False
        self._problems: dict[str, str] = {}
        self.errors: dict[str, ErrorLabel] = {}
        self.fields: dict[str, QWidget] = {}
        self._build()
        self.reload(table)

    def _build(self) -> None:
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 12, 0, 0)
        row.setSpacing(18)
        left = QVBoxLayout()
        heading = QLabel("Printers")
        heading.setProperty("role", "muted")
        left.addWidget(heading)
        self.list = QListWidget()
        self.list.setObjectName("printerList")
        self.list.setMaximumWidth(360)
        self.list.currentRowChanged.connect(self._select)
        left.addWidget(self.list, 1)
        row.addLayout(left)

        self.editor = QFrame()
        self.editor.setObjectName("printEditor")
        self.editor.setStyleSheet(
            f"#printEditor {{ background: {SURFACE}; border-radius: 12px; }}"
            "#printEditor QLabel, #printEditor QCheckBox { background: transparent; }"
        )
        scroller = QScrollArea()
        scroller.setObjectName("printScroller")
        scroller.setWidgetResizable(True)
        scroller.setFrameShape(QFrame.Shape.NoFrame)
        scroller.setStyleSheet("#printScroller { background: transparent; }")
        scroller.setWidget(self.editor)
        columns = QHBoxLayout(self.editor)
        columns.setContentsMargins(20, 16, 20, 16)
        columns.setSpacing(24)
        first, second = QFormLayout(), QFormLayout()
        for form in (first, second):
            form.setSpacing(10)
            form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
            columns.addLayout(form, 1)

        self.display_format = QComboBox()
        self.display_format.setEditable(True)
        self.display_format.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.display_format.addItems(DISPLAY_FORMATS)
        self.display_format.currentTextChanged.connect(
            lambda t: self._write("display_format", t.strip())
        )
        self._add(first, "display_format", "Display format", self.display_format, "C,R: 2,2")
        self.color = QCheckBox("Colour print (Basic Color Print)")
        self.color.toggled.connect(lambda on: self._write("color", bool(on)))
        self._add(first, "color", "Colour", self.color)
        for key, text, choices in CODED:
            combo = QComboBox()
            combo.addItem("Printer's default", "")
            for member in choices:
                combo.addItem(member.value, member.value)
            combo.currentIndexChanged.connect(
                lambda _i, k=key, c=combo: self._write(k, str(c.currentData()))
            )
            self._add(first if key in ("film_size", "film_orientation", "medium") else second,
                      key, text, combo)  # fmt: skip
        self.copies = QSpinBox()
        self.copies.setRange(1, 99)
        self.copies.valueChanged.connect(lambda v: self._write("copies", int(v)))
        self._add(first, "copies", "Copies", self.copies)
        self.bit_depth = QComboBox()
        self.bit_depth.addItem("8 bits", 8)
        self.bit_depth.addItem("12 bits", 12)
        self.bit_depth.currentIndexChanged.connect(
            lambda _i: self._write("bit_depth", int(self.bit_depth.currentData()))
        )
        self._add(second, "bit_depth", "Gray depth", self.bit_depth)
        for key, text, note in (
            ("border_density", "Border density", "BLACK, WHITE or hundredths of OD"),
            ("empty_image_density", "Empty box density", ""),
            ("min_density", "Min density", "hundredths of OD; empty: printer's"),
            ("max_density", "Max density", ""),
            ("session_label", "Session label", ""),
        ):
            line = QLineEdit()
            if key.endswith("_density") and key.startswith(("min", "max")):
                line.textEdited.connect(
                    lambda t, k=key: self._write(k, int_or_text(t) if t.strip() else None)
                )
            else:
                line.textEdited.connect(lambda t, k=key: self._write(k, t.strip()))
            self._add(second, key, text, line, note)
        row.addWidget(scroller, 1)
        self.empty = QLabel(
            "No destination has the Print role. On Connectivity, add the film printer (a DICOM "
            "destination) and tick Print under “Used for”."
        )
        self.empty.setWordWrap(True)
        self.empty.setProperty("role", "muted")
        left.addWidget(self.empty)

    def _add(self, form: QFormLayout, key: str, text: str, widget: QWidget, note: str = "") -> None:
        widget.setObjectName(f"print_{key}")
        cell, error = with_error(widget, key, note)
        self.errors[key] = error
        self.fields[key] = widget
        form.addRow(text, cell)

    # -- model --------------------------------------------------------------------------------

    def reload(self, table: Table) -> None:
        """List the print destinations of ``table``."""
        self.table = table
        destinations = table.get("destinations", [])
        keep = self.indexes[self.current] if 0 <= self.current < len(self.indexes) else None
        self.indexes = [
            index
            for index, entry in enumerate(destinations)
            if "print" in [str(r) for r in entry.get("roles", ["store"])]
        ]
        self._loading = True
        self.list.clear()
        for index in self.indexes:
            self.list.addItem(str(destinations[index].get("name", "")))
            item = self.list.item(self.list.count() - 1)
            if item is not None:
                item.setSizeHint(QSize(0, 56))
        self._loading = False
        self.empty.setVisible(not self.indexes)
        self.editor.setEnabled(bool(self.indexes))
        row = self.indexes.index(keep) if keep in self.indexes else 0
        if self.indexes:
            self.list.setCurrentRow(row)
            self._select(row)
        else:
            self.current = -1

    def _entry(self) -> dict[str, Any] | None:
        if not 0 <= self.current < len(self.indexes):
            return None
        destination = self.table["destinations"][self.indexes[self.current]]
        preset = destination.setdefault("print", {})
        return preset if isinstance(preset, dict) else None

    def _select(self, row: int) -> None:
        if self._loading:
            return
        self.current = row
        entry = self._entry() or {}
        self._loading = True
        self.display_format.setEditText(str(entry.get("display_format", "STANDARD\\1,1")))
        self.color.setChecked(bool(entry.get("color", False)))
        for key, _text, _choices in CODED:
            combo = self.fields[key]
            assert isinstance(combo, QComboBox)
            value = str(entry.get(key, "")).upper()
            found = combo.findData(value)
            if found < 0:
                combo.addItem(value, value)
                found = combo.count() - 1
            combo.setCurrentIndex(found)
        copies = entry.get("copies", 1)
        self.copies.setValue(copies if isinstance(copies, int) else 1)
        depth = self.bit_depth.findData(entry.get("bit_depth", 8))
        self.bit_depth.setCurrentIndex(max(0, depth))
        for key in (
            "border_density",
            "empty_image_density",
            "min_density",
            "max_density",
            "session_label",
        ):
            line = self.fields[key]
            assert isinstance(line, QLineEdit)
            value = entry.get(key)
            line.setText("" if value is None else str(value))
        self._loading = False
        self._show_field_problems()

    def _write(self, key: str, value: Any) -> None:
        if self._loading:
            return
        entry = self._entry()
        if entry is None:
            return
        if value is None:
            entry.pop(key, None)
        else:
            entry[key] = value
        self._show_field_problems()
        self.changed.emit()

    # -- problems -----------------------------------------------------------------------------

    def show_problems(self, problems: dict[str, str]) -> set[str]:
        """Show the print preset problems of the selected printer; return the keys shown."""
        self._problems = problems
        for row, index in enumerate(self.indexes):
            item = self.list.item(row)
            bad = any(k.startswith(f"destinations[{index}].print") for k in problems)
            if item is not None:
                item.setForeground(QColor(RECORD_RED if bad else TEXT))
        shown = self._show_field_problems()
        if 0 <= self.current < len(self.indexes):
            key = f"destinations[{self.indexes[self.current]}].print"
            if key in problems and shown:
                return {key}
        return set()

    def _show_field_problems(self) -> bool:
        entry = self._entry()
        found = preset_problems(entry) if entry is not None else {}
        for key, label in self.errors.items():
            label.show_problem(found.get(key))
        item = self.list.item(self.current) if self.current >= 0 else None
        if item is not None:
            item.setForeground(Qt.GlobalColor.red if found else Qt.GlobalColor.white)
        _ = RECORD_RED, TEXT
        return bool(found)
