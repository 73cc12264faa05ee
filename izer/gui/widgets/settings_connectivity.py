"""Settings, Connectivity tab: the destinations (add, edit, remove) and an Echo for each
DICOM one, answered inline in green or red with the time."""

from __future__ import annotations

import copy
from datetime import datetime
from pathlib import Path
from typing import Any

from PyQt6.QtCore import QSize, Qt, pyqtSignal
from PyQt6.QtGui import QColor, QKeySequence, QShortcut
from PyQt6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from izer.config import Destination, DestinationKind, Role, SettingsError
from izer.config.loader import settings_from_table
from izer.gui.bridge import EngineBridge
from izer.gui.icons import icon
from izer.gui.theme import OK_GREEN, RECORD_RED, SURFACE, TEXT, TEXT_MUTED, touch_px
from izer.gui.widgets.settings_form import (
    ErrorLabel,
    Table,
    int_or_text,
    result_label,
    show_outcome,
    table_of,
    with_error,
)

#: What each role means, for the check boxes.
ROLE_TEXT = {
    Role.STORE: "Store images",
    Role.WORKLIST: "Worklist",
    Role.MPPS: "MPPS",
    Role.COMMITMENT: "Storage commitment",
    Role.PRINT: "Print",
    Role.QUERY: "Query",
}
KIND_TEXT = {
    DestinationKind.DICOM: "DICOM (C-STORE)",
    DestinationKind.DICOMWEB: "DICOMweb (STOW-RS)",
    DestinationKind.FOLDER: "Folder",
}
#: The fields of the editor, by destination key.
FIELDS = ("name", "kind", "ae_title", "host", "port", "url", "folder", "roles")


def destination_summary(entry: dict[str, Any]) -> str:
    """``kind · address`` of a destination table."""
    kind = str(entry.get("kind", "dicom"))
    if kind == "dicom":
        where = f"{entry.get('ae_title', '')}@{entry.get('host', '')}:{entry.get('port', 104)}"
    elif kind == "dicomweb":
        where = str(entry.get("url", ""))
    else:
        where = str(entry.get("folder", ""))
    return f"{kind} · {where}"


class ConnectivityTab(QWidget):
    """The destination list and the editor of the selected one.

    ``table`` is the settings table being edited (shared with the screen); edits are written
    into ``table["destinations"]`` at once and announced with :attr:`changed`.
    """

    changed = pyqtSignal()

    def __init__(self, bridge: EngineBridge, table: Table, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.table = table
        self.current = -1
        self._loading = False
        self._problems: dict[str, str] = {}
        self._echoes: dict[str, tuple[bool, str]] = {}
        self.errors: dict[str, ErrorLabel] = {}
        self._build()
        self.reload(table)

    # -- layout -------------------------------------------------------------------------------

    def _build(self) -> None:
        touch = touch_px()
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 12, 0, 0)
        row.setSpacing(18)
        left = QVBoxLayout()
        heading = QLabel("Destinations")
        heading.setProperty("role", "muted")
        left.addWidget(heading)
        self.list = QListWidget()
        self.list.setObjectName("destinationList")
        self.list.setMinimumWidth(360)
        self.list.setMaximumWidth(420)
        self.list.setSpacing(2)
        self.list.currentRowChanged.connect(self._select)
        left.addWidget(self.list, 1)
        buttons = QHBoxLayout()
        self.add_button = QPushButton(icon("add"), "  Add")
        self.add_button.setObjectName("destinationAdd")
        self.add_button.setToolTip("Add a destination (Ctrl+N)")
        self.remove_button = QPushButton(icon("delete"), "  Remove")
        self.remove_button.setObjectName("destinationRemove")
        self.remove_button.setProperty("role", "danger")
        for button in (self.add_button, self.remove_button):
            button.setIconSize(QSize(touch // 2, touch // 2))
            buttons.addWidget(button)
        self.add_button.clicked.connect(self.add_destination)
        self.remove_button.clicked.connect(self.remove_destination)
        left.addLayout(buttons)
        row.addLayout(left)

        self.editor = QFrame()
        self.editor.setObjectName("destinationEditor")
        self.editor.setStyleSheet(
            f"#destinationEditor {{ background: {SURFACE}; border-radius: 12px; }}"
            "#destinationEditor QLabel, #destinationEditor QCheckBox { background: transparent; }"
        )
        column = QVBoxLayout(self.editor)
        column.setContentsMargins(20, 16, 20, 16)
        self.form = QFormLayout()
        self.form.setSpacing(10)
        self.form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        self.name = QLineEdit()
        self.name.setObjectName("destName")
        self.kind = QComboBox()
        self.kind.setObjectName("destKind")
        for kind, text in KIND_TEXT.items():
            self.kind.addItem(text, kind.value)
        self.ae_title = QLineEdit()
        self.ae_title.setObjectName("destAeTitle")
        self.ae_title.setMaxLength(64)
        self.host = QLineEdit()
        self.host.setObjectName("destHost")
        self.host.setPlaceholderText("host name or IP address")
        self.port = QLineEdit()
        self.port.setObjectName("destPort")
        self.port.setPlaceholderText("104")
        self.url = QLineEdit()
        self.url.setObjectName("destUrl")
        self.url.setPlaceholderText("https://pacs.example.org/dicom-web")
        self.folder = QLineEdit()
        self.folder.setObjectName("destFolder")
        self.folder.setPlaceholderText("/mnt/archive or \\\\server\\share")
        self.roles: dict[Role, QCheckBox] = {}
        roles = QWidget()
        roles.setStyleSheet("background: transparent;")
        grid = QGridLayout(roles)
        grid.setContentsMargins(0, 0, 0, 0)
        for index, (role, text) in enumerate(ROLE_TEXT.items()):
            box = QCheckBox(text)
            box.setObjectName(f"role_{role.value}")
            self.roles[role] = box
            grid.addWidget(box, index // 3, index % 3)
            box.toggled.connect(lambda _on: self._write_roles())
        notes = {"port": "1 to 65535; 104 or 11112 are usual"}
        self.rows: dict[str, QWidget] = {}
        for key, text, widget in (
            ("name", "Name", self.name),
            ("kind", "Kind", self.kind),
            ("ae_title", "AE title", self.ae_title),
            ("host", "Host", self.host),
            ("port", "Port", self.port),
            ("url", "URL", self.url),
            ("folder", "Folder", self.folder),
            ("roles", "Used for", roles),
        ):
            cell, error = with_error(widget, key, notes.get(key, ""))
            self.errors[key] = error
            self.rows[key] = cell
            self.form.addRow(text, cell)
        column.addLayout(self.form)

        echo_row = QHBoxLayout()
        self.echo_button = QPushButton(icon("echo"), "  Echo")
        self.echo_button.setObjectName("destEcho")
        self.echo_button.setToolTip("Check that the destination answers (C-ECHO) (Ctrl+E)")
        self.echo_button.setIconSize(QSize(touch // 2, touch // 2))
        self.echo_button.clicked.connect(self.echo)
        self.echo_result = result_label("echoResult")
        echo_row.addWidget(self.echo_button)
        echo_row.addWidget(self.echo_result, 1)
        column.addLayout(echo_row)
        column.addStretch(1)
        self.empty = QLabel("No destinations yet. Add the PACS, RIS or a folder to send to.")
        self.empty.setProperty("role", "muted")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        column.addWidget(self.empty)
        row.addWidget(self.editor, 1)

        for keys, slot in (("Ctrl+N", self.add_destination), ("Ctrl+E", self.echo)):
            shortcut = QShortcut(QKeySequence(keys), self)
            shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            shortcut.activated.connect(slot)
        self.name.textEdited.connect(lambda t: self._write("name", t.strip()))
        self.kind.currentIndexChanged.connect(lambda _i: self._kind_changed())
        self.ae_title.textEdited.connect(lambda t: self._write("ae_title", t.strip()))
        self.host.textEdited.connect(lambda t: self._write("host", t.strip()))
        self.port.textEdited.connect(lambda t: self._write("port", int_or_text(t)))
        self.url.textEdited.connect(lambda t: self._write("url", t.strip()))
        self.folder.textEdited.connect(lambda t: self._write("folder", t.strip()))

    # -- model --------------------------------------------------------------------------------

    @property
    def destinations(self) -> list[dict[str, Any]]:
        """The destination tables being edited."""
        return self.table.setdefault("destinations", [])

    def reload(self, table: Table) -> None:
        """Show ``table`` (after a revert or a reload from the file)."""
        self.table = table
        keep = self.current
        self._problems = {}
        self._fill_list()
        if self.destinations:
            self.list.setCurrentRow(min(max(keep, 0), len(self.destinations) - 1))
        else:
            self._select(-1)

    def _fill_list(self) -> None:
        self._loading = True
        row = self.list.currentRow()
        self.list.clear()
        for index, _entry in enumerate(self.destinations):
            item = QListWidgetItem()
            self.list.addItem(item)
            self._label(index, item)
        if 0 <= row < self.list.count():
            self.list.setCurrentRow(row)
        self._loading = False

    def _label(self, index: int, item: QListWidgetItem | None = None) -> None:
        item = item or self.list.item(index)
        if item is None:
            return
        entry = self.destinations[index]
        name = str(entry.get("name", ""))
        lines = [name or "(no name)", destination_summary(entry)]
        echo = self._echoes.get(name)
        problem = any(k.startswith(f"destinations[{index}]") for k in self._problems)
        if problem:
            lines[0] = "⚠ " + lines[0]
            item.setForeground(QColor(RECORD_RED))
            item.setToolTip(
                "\n".join(
                    p for k, p in self._problems.items() if k.startswith(f"destinations[{index}]")
                )
            )
        elif echo is not None:
            item.setForeground(QColor(OK_GREEN if echo[0] else RECORD_RED))
            item.setToolTip(echo[1])
        else:
            item.setForeground(QColor(TEXT))
            item.setToolTip("")
        item.setText("\n".join(lines))
        item.setSizeHint(QSize(0, max(64, touch_px() * 3 // 4)))

    def _select(self, index: int) -> None:
        if self._loading:
            return
        self.current = index
        has = 0 <= index < len(self.destinations)
        for widget in self.rows.values():
            widget.setEnabled(has)
        self.remove_button.setEnabled(has)
        self.empty.setVisible(not self.destinations)
        self._loading = True
        entry = self.destinations[index] if has else {}
        self.name.setText(str(entry.get("name", "")))
        kind = str(entry.get("kind", "dicom"))
        self.kind.setCurrentIndex(max(0, self.kind.findData(kind)))
        self.ae_title.setText(str(entry.get("ae_title", "")))
        self.host.setText(str(entry.get("host", "")))
        self.port.setText(str(entry.get("port", 104)))
        self.url.setText(str(entry.get("url", "")))
        self.folder.setText(str(entry.get("folder", "")))
        roles = {str(r) for r in entry.get("roles", ["store"])}
        for role, box in self.roles.items():
            box.setChecked(role.value in roles)
        self._loading = False
        self._show_kind()
        name = str(entry.get("name", ""))
        echo = self._echoes.get(name)
        if echo is None:
            self.echo_result.setText("")
        else:
            show_outcome(self.echo_result, *echo)
        self._show_field_problems()

    def _write(self, key: str, value: Any) -> None:
        if self._loading or not 0 <= self.current < len(self.destinations):
            return
        entry = self.destinations[self.current]
        if key == "name":
            old = str(entry.get("name", ""))
            self._echoes.pop(old, None)
        entry[key] = value
        self._problems.pop(f"destinations[{self.current}].{key}", None)
        self.errors[key].show_problem(None)
        self._label(self.current)
        self.changed.emit()

    def _write_roles(self) -> None:
        self._write("roles", [role.value for role, box in self.roles.items() if box.isChecked()])

    def _kind_changed(self) -> None:
        self._write("kind", str(self.kind.currentData()))
        self._show_kind()

    def _show_kind(self) -> None:
        kind = str(self.kind.currentData())
        for key, kinds in (
            ("ae_title", ("dicom",)),
            ("host", ("dicom",)),
            ("port", ("dicom",)),
            ("url", ("dicomweb",)),
            ("folder", ("folder",)),
        ):
            self.form.setRowVisible(self.rows[key], kind in kinds)
        dicom = kind == "dicom" and 0 <= self.current < len(self.destinations)
        self.echo_button.setVisible(kind == "dicom")
        self.echo_button.setEnabled(dicom)
        self.echo_result.setVisible(kind == "dicom")

    def add_destination(self) -> None:
        """A new DICOM destination, selected for editing."""
        names = {str(d.get("name", "")).casefold() for d in self.destinations}
        number = 1
        while f"destination-{number}" in names:
            number += 1
        self.destinations.append(
            {
                "name": f"destination-{number}",
                "kind": "dicom",
                "ae_title": "",
                "host": "",
                "port": 104,
                "roles": ["store"],
            }
        )
        self._fill_list()
        self.list.setCurrentRow(len(self.destinations) - 1)
        self.name.setFocus()
        self.name.selectAll()
        self.changed.emit()

    def remove_destination(self) -> None:
        """Remove the selected destination (saved only with Save)."""
        index = self.current
        if not 0 <= index < len(self.destinations):
            return
        del self.destinations[index]
        self._problems = {}
        self._fill_list()
        if self.destinations:
            self.list.setCurrentRow(min(index, len(self.destinations) - 1))
        else:
            self._select(-1)
        self.changed.emit()

    # -- problems -----------------------------------------------------------------------------

    def show_problems(self, problems: dict[str, str]) -> set[str]:
        """Flag destinations with problems and show those of the selected one inline; return
        the keys shown next to a field."""
        self._problems = {k: p for k, p in problems.items() if k.startswith("destinations[")}
        for index in range(self.list.count()):
            self._label(index)
        first = next(
            (
                index
                for index in range(len(self.destinations))
                if any(k.startswith(f"destinations[{index}].") for k in self._problems)
            ),
            None,
        )
        if first is not None and not any(
            k.startswith(f"destinations[{self.current}].") for k in self._problems
        ):
            self.list.setCurrentRow(first)
        return self._show_field_problems()

    def _show_field_problems(self) -> set[str]:
        shown: set[str] = set()
        prefix = f"destinations[{self.current}]."
        for key, label in self.errors.items():
            problem = self._problems.get(prefix + key)
            label.show_problem(problem)
            if problem:
                shown.add(prefix + key)
        return shown

    # -- echo ---------------------------------------------------------------------------------

    def echo(self) -> None:
        """C-ECHO the selected DICOM destination as it is typed (on a worker)."""
        index = self.current
        if not 0 <= index < len(self.destinations):
            return
        entry = copy.deepcopy(self.destinations[index])
        if str(entry.get("kind", "dicom")) != "dicom":
            return
        name = str(entry.get("name", ""))
        self.echo_button.setEnabled(False)
        self.echo_result.setText("Asking…")
        self.echo_result.setStyleSheet(f"color: {TEXT_MUTED}; background: transparent;")
        self.bridge.call(
            echo_entry,
            self.bridge.engine,
            entry,
            on_done=lambda outcome: self._echo_done(name, outcome),
            on_error=lambda error: self._echoed(name, False, str(error)),
        )

    def _echo_done(self, name: str, outcome: object) -> None:
        field, ok, message = outcome  # type: ignore[misc]
        if field is not None and field in self.errors:
            self.errors[field].show_problem(message)
            message = f"not tried: {message}"
        self._echoed(name, ok, message)

    def _echoed(self, name: str, ok: bool, message: str) -> None:
        self.echo_button.setEnabled(True)
        text = f"{message}  ({datetime.now().strftime('%H:%M:%S')})"
        self._echoes[name] = (ok, text)
        current = (
            self.destinations[self.current] if 0 <= self.current < len(self.destinations) else {}
        )
        if str(current.get("name", "")) == name:
            show_outcome(self.echo_result, ok, text)
        for index, entry in enumerate(self.destinations):
            if str(entry.get("name", "")) == name:
                self._label(index)


def echo_entry(engine: Any, entry: dict[str, Any]) -> tuple[str | None, bool, str]:
    """C-ECHO a destination table as typed (worker thread).

    Returns ``(field, ok, message)``: ``field`` names the destination key whose value keeps
    the echo from being tried (the message says why), else ``None`` and the echo's outcome.
    The station's AE title and the network defaults are the running engine's.
    """
    entry = {**entry, "commitment": False}
    entry.pop("commitment_destination", None)
    trial = table_of(engine.settings)
    trial["destinations"] = [entry]
    for name in ("dispatch", "worklist"):
        trial.pop(name, None)
    try:
        destination: Destination = settings_from_table(trial, Path("settings")).destinations[0]
    except SettingsError as error:
        return error.key.removeprefix("destinations[0]."), False, error.problem
    result = engine.echo(destination)
    return None, bool(result.ok), str(result.message)
