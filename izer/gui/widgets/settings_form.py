"""The settings screen's model and checks: the TOML table being edited, every problem in it,
and writing the file safely.

The screen edits the *table* (parsed TOML, as :func:`izer.config.loader.settings_from_table`
reads it), not the frozen dataclasses: a port typed as ``"80a"`` stays what was typed until
the loader names the problem. :func:`collect_problems` runs the loader's checks again and
again, setting aside each offending value, so that every problem is found at once and shown
next to its field (the loader itself stops at the first). :func:`write_settings_file` writes
only a file that loads: temporary file, fsync, load it back, rename.
"""

from __future__ import annotations

import copy
import os
import re
import tomllib
from pathlib import Path
from typing import Any

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QLabel, QVBoxLayout, QWidget

from izer.config import Settings, SettingsError, load_settings, settings_to_toml
from izer.config.loader import settings_from_table
from izer.gui.theme import ACCENT, OK_GREEN, RECORD_RED, SURFACE

#: Check boxes, scroll bars and the tab pane of the settings screen in the dark theme (the
#: application style sheet leaves them to the platform style).
SETTINGS_STYLE = f"""
QCheckBox {{ spacing: 10px; }}
QCheckBox::indicator {{ width: 24px; height: 24px; border: 2px solid #5c6470;
    border-radius: 5px; background: {SURFACE}; }}
QCheckBox::indicator:checked {{ background: {ACCENT}; border-color: {ACCENT}; }}
QCheckBox::indicator:disabled {{ border-color: #2a2f38; }}
QCheckBox:focus {{ color: {ACCENT}; }}
QTabWidget::pane {{ border: none; }}
QScrollBar:vertical {{ background: {SURFACE}; width: 14px; margin: 0; }}
QScrollBar:horizontal {{ background: {SURFACE}; height: 14px; margin: 0; }}
QScrollBar::handle {{ background: #3a404c; border-radius: 6px; min-height: 40px;
    min-width: 40px; }}
QScrollBar::add-line, QScrollBar::sub-line {{ width: 0; height: 0; }}
QScrollBar::add-page, QScrollBar::sub-page {{ background: none; }}
"""

Table = dict[str, Any]

_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
#: Values that stand in for a required key while the other problems are looked for.
_REQUIRED_STAND_INS = {"station.ae_title": "IZER", "station.uid_root": "1.2"}
#: Values that stand in for a destination's key whose default is not valid either.
_DESTINATION_STAND_INS = {
    "ae_title": "SETASIDE",
    "host": "localhost",
    "port": 104,
    "url": "https://set-aside.invalid",
    "folder": "set-aside",
}
#: Most loader runs one check makes (each sets one problem aside).
MAX_PROBLEMS = 60


def key_parts(key: str) -> list[str | int]:
    """``destinations[2].print`` -> ``["destinations", 2, "print"]``."""
    return [name if name else int(index) for name, index in _PART.findall(key)]


def get_value(table: Table, key: str, default: Any = None) -> Any:
    """The value at ``key`` (dotted, with ``[i]`` for list items), or ``default``."""
    node: Any = table
    for part in key_parts(key):
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return default
    return node


def set_value(table: Table, key: str, value: Any) -> None:
    """Set ``key`` (making tables on the way); ``None`` removes it (the default applies)."""
    parts = key_parts(key)
    node: Any = table
    for part in parts[:-1]:
        node = node[part] if isinstance(part, int) else node.setdefault(part, {})
    last = parts[-1]
    if value is None:
        if isinstance(node, dict):
            node.pop(last, None)
    else:
        node[last] = value


def table_of(settings: Settings) -> Table:
    """The settings as the table the loader reads (every key written out)."""
    return tomllib.loads(settings_to_toml(settings))


def collect_problems(table: Table, path: Path) -> dict[str, str]:
    """Every problem the loader finds in ``table``, by settings key (``""``: the whole file).

    The loader stops at the first problem; each one found is set aside (the key removed so
    its default applies, a stand-in for a required key, or, when that is not enough, a
    stand-in for the whole destination or table) and the check runs again.
    """
    work = copy.deepcopy(table)
    problems: dict[str, str] = {}
    widened: set[str] = set()
    for _ in range(MAX_PROBLEMS):
        try:
            settings_from_table(work, path)
        except SettingsError as error:
            key = error.key
            if key not in problems:
                problems[key] = error.problem
                if key and _set_aside(work, key, "missing" in error.problem):
                    continue
            # Setting the value aside was not enough (it depends on others): set aside what
            # holds it, once, keeping what was found so far.
            holder = _holder(key)
            if holder is None or holder in widened or not _set_aside_holder(work, holder):
                return problems
            widened.add(holder)
        else:
            return problems
    return problems


_DESTINATION = re.compile(r"^destinations\[(\d+)\]")


def _holder(key: str) -> str | None:
    """The destination or top-level table that holds ``key``."""
    match = _DESTINATION.match(key)
    if match:
        return match.group(0)
    top = key_parts(key)[0] if key else None
    return top if isinstance(top, str) and top not in ("station", "destinations") else None


def _set_aside_holder(work: Table, holder: str) -> bool:
    match = _DESTINATION.match(holder)
    if match is None:
        work.pop(holder, None)
        return True
    index = int(match.group(1))
    destinations = work.get("destinations")
    if not isinstance(destinations, list) or index >= len(destinations):
        return False
    entry = destinations[index] if isinstance(destinations[index], dict) else {}
    name = entry.get("name")
    roles = entry.get("roles")
    stand_in: dict[str, Any] = {
        "name": name if isinstance(name, str) and name.strip() else f"set-aside-{index}",
        "kind": "dicom",
        "ae_title": "SETASIDE",
        "host": "localhost",
        "port": 104,
    }
    if isinstance(roles, list) and all(isinstance(r, str) for r in roles):
        stand_in["roles"] = roles
    destinations[index] = stand_in
    return True


def _set_aside(work: Table, key: str, required: bool) -> bool:
    parts = key_parts(key)
    if key == "station":
        work["station"] = {"ae_title": "IZER", "uid_root": "1.2"}
        return True
    if isinstance(parts[-1], int):
        # A list item: the whole list goes back to its default.
        key = key[: key.rindex("[")]
        parts = key_parts(key)
    if key in _REQUIRED_STAND_INS:
        set_value(work, key, _REQUIRED_STAND_INS[key])
        return True
    if len(parts) == 3 and parts[0] == "destinations" and parts[2] == "name":
        set_value(work, key, f"destination-{parts[1]}-set-aside")
        return True
    if len(parts) == 3 and parts[0] == "destinations" and parts[2] in _DESTINATION_STAND_INS:
        set_value(work, key, _DESTINATION_STAND_INS[str(parts[2])])
        return True
    if key == "capture.width":  # the problem names width and height together
        set_value(work, "capture.height", None)
    if required:
        return False
    try:
        set_value(work, key, None)
    except (KeyError, IndexError, TypeError):
        return False
    return True


def write_settings_file(path: Path, settings: Settings) -> Path:
    """Write ``settings`` to ``path`` atomically, and only as a file that loads back.

    The text goes to a temporary file next to ``path`` (fsync'ed), is loaded with
    :func:`izer.config.load_settings` and checked, and only then renamed over ``path``.

    Raises
    ------
    SettingsError
        When the written file would not load (``path`` is left as it was).
    OSError
        When the folder cannot be written (``path`` is left as it was).
    """
    text = settings_to_toml(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.saving")
    try:
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        load_settings(temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    try:
        descriptor = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return path
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
    return path


def int_or_text(text: str) -> int | str:
    """A whole number from typed text, or the text itself (the loader then names it)."""
    stripped = text.strip()
    try:
        return int(stripped)
    except ValueError:
        return stripped


def float_or_text(text: str) -> float | str:
    """A number from typed text, or the text itself."""
    stripped = text.strip()
    try:
        return float(stripped)
    except ValueError:
        return stripped


class ErrorLabel(QLabel):
    """The inline problem under one field: hidden while there is none."""

    def __init__(self, key: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.key = key
        self.setObjectName("fieldError")
        self.setWordWrap(True)
        self.setStyleSheet(
            f"#fieldError {{ color: {RECORD_RED}; font-size: 12pt; font-weight: 600;"
            " background: transparent; }"
        )
        self.hide()

    def show_problem(self, problem: str | None) -> None:
        """Show ``problem`` (``None`` or empty: hide)."""
        self.setText(problem or "")
        self.setVisible(bool(problem))


def with_error(widget: QWidget, key: str, note: str = "") -> tuple[QWidget, ErrorLabel]:
    """``widget`` with an :class:`ErrorLabel` (and an optional muted note) under it."""
    cell = QWidget()
    cell.setObjectName("fieldCell")
    cell.setStyleSheet("#fieldCell { background: transparent; }")
    column = QVBoxLayout(cell)
    column.setContentsMargins(0, 0, 0, 0)
    column.setSpacing(2)
    column.addWidget(widget)
    if note:
        hint = QLabel(note)
        hint.setProperty("role", "muted")
        hint.setWordWrap(True)
        hint.setStyleSheet("background: transparent;")
        column.addWidget(hint)
    error = ErrorLabel(key)
    column.addWidget(error)
    return cell, error


def result_label(name: str) -> QLabel:
    """A label for an inline outcome (echo, device test)."""
    label = QLabel()
    label.setObjectName(name)
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


def show_outcome(label: QLabel, ok: bool, text: str) -> None:
    """Green for good, red for a problem."""
    label.setText(("✓ " if ok else "✗ ") + text)
    label.setStyleSheet(
        f"color: {OK_GREEN if ok else RECORD_RED}; font-weight: 600; background: transparent;"
    )
