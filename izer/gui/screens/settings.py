"""The settings screen: Connectivity, Workstation, Print presets and Media, saved only valid.

Edits go into a copy of the settings table. "Save" checks it with the loader's own rules on a
worker (:func:`izer.gui.widgets.settings_form.collect_problems`: every problem at once), shows
each problem next to its field, and writes the file (temporary file, load it back, rename) to
``bridge.settings_path`` only when there is none. The running engine keeps the settings it
was opened with: the screen says so ("restart to apply").
"""

from __future__ import annotations

import copy
from datetime import datetime
from pathlib import Path

from PyQt6.QtCore import QSize, Qt
from PyQt6.QtGui import QKeySequence, QShortcut
from PyQt6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from izer.config import Settings, load_settings
from izer.config.loader import settings_from_table
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
from izer.gui.widgets.settings_connectivity import ConnectivityTab
from izer.gui.widgets.settings_form import (
    SETTINGS_STYLE,
    Table,
    collect_problems,
    table_of,
    write_settings_file,
)
from izer.gui.widgets.settings_print import PrintTab
from izer.gui.widgets.settings_workstation import WorkstationTab

#: Tab indexes.
CONNECTIVITY, WORKSTATION, PRINT, MEDIA = range(4)
#: Settings tables shown on the Workstation tab.
WORKSTATION_TABLES = ("station", "storage", "listener", "capture")


def save_settings(table: Table, path: Path) -> tuple[dict[str, str], Settings | None]:
    """Check ``table`` and, when it has no problem, write it to ``path`` (worker thread).

    Returns every problem by key (nothing written), or no problem and the settings written.
    """
    problems = collect_problems(table, path)
    if problems:
        return problems, None
    settings = settings_from_table(table, path)
    write_settings_file(path, settings)
    return {}, settings


def read_settings(path: Path) -> Settings:
    """The settings in the file now (worker thread)."""
    return load_settings(path).settings


def tab_of(key: str) -> int | None:
    """The tab that shows the field of a settings key, if any."""
    if key.startswith("destinations[") and ".print" in key:
        return PRINT
    if key.startswith("destinations"):
        return CONNECTIVITY
    if key.split(".", 1)[0].split("[", 1)[0] in WORKSTATION_TABLES:
        return WORKSTATION
    return None


class MediaTab(QWidget):
    """What patient media are made with; informational (no settings exist for them yet)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 12, 0, 0)
        card = QFrame()
        card.setObjectName("mediaCard")
        card.setStyleSheet(
            f"#mediaCard {{ background: {SURFACE}; border-radius: 12px; }}"
            "#mediaCard QLabel { background: transparent; }"
        )
        inner = QVBoxLayout(card)
        inner.setContentsMargins(24, 20, 24, 20)
        inner.setSpacing(12)
        heading = QLabel("Patient CDs, DVDs and USB sticks")
        heading.setStyleSheet("font-size: 17pt; font-weight: 600;")
        inner.addWidget(heading)
        self.text = QLabel()
        self.text.setObjectName("mediaText")
        self.text.setWordWrap(True)
        self.text.setTextFormat(Qt.TextFormat.RichText)
        inner.addWidget(self.text)
        note = QLabel(
            "The settings file has no media section yet, so these are chosen for each disc "
            "when it is made (izer media build) and cannot be changed here."
        )
        note.setWordWrap(True)
        note.setStyleSheet(f"color: {WARNING_AMBER}; font-weight: 600;")
        inner.addWidget(note)
        column.addWidget(card)
        column.addStretch(1)

    def show_institution(self, institution: str) -> None:
        """Refresh the text (the institution goes on the label)."""
        label = institution or "not set (Workstation tab, Institution)"
        self.text.setText(
            f"<p><b>Medium</b>: a CD for an ISO image, a USB stick for a folder; DVD and "
            f"Blu-ray on request. Large studies are split over several discs.</p>"
            f"<p><b>Web viewer</b>: on. Every medium carries an IHE PDI web viewer "
            f"(INDEX.HTM) next to the DICOMDIR, unless it is left out for that disc.</p>"
            f"<p><b>Institution on the label</b>: {label}.</p>"
            f"<p style='color:{TEXT_MUTED}'>Burning waits in the Sending queue, one job per "
            f"disc, until a blank disc is in the drive.</p>"
        )


class SettingsScreen(Screen):
    """Settings in four tabs, checked before they are saved.

    Attributes
    ----------
    table
        The settings table being edited (parsed TOML).
    discover_devices
        List the capture devices when the screen is first shown (a few seconds, on a worker).
    """

    key = "settings"
    title = "Settings"
    icon_name = "settings"

    def __init__(self, bridge: EngineBridge, parent: QWidget | None = None) -> None:
        super().__init__(bridge, parent)
        self.discover_devices = True
        self.table: Table = table_of(bridge.engine.settings)
        self.saved_table: Table = copy.deepcopy(self.table)
        self._devices_listed = False
        self._saving = False
        self._build()

    def _build(self) -> None:
        touch = touch_px()
        self.setStyleSheet(SETTINGS_STYLE)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(24, 18, 24, 18)
        layout.setSpacing(10)
        heading = QHBoxLayout()
        title = QLabel("Settings")
        title.setProperty("role", "title")
        self.file_label = QLabel()
        self.file_label.setProperty("role", "muted")
        heading.addWidget(title)
        heading.addSpacing(18)
        heading.addWidget(self.file_label, 1)
        layout.addLayout(heading)

        self.tabs = QTabWidget()
        self.tabs.setObjectName("settingsTabs")
        self.tabs.setDocumentMode(True)
        self.tabs.tabBar().setDrawBase(False)
        self.connectivity = ConnectivityTab(self.bridge, self.table)
        self.workstation = WorkstationTab(self.bridge, self.table)
        self.printing = PrintTab(self.table)
        self.media = MediaTab()
        self.tabs.addTab(self.connectivity, icon("echo"), "Connectivity")
        self.tabs.addTab(self.workstation, icon("settings"), "Workstation")
        self.tabs.addTab(self.printing, icon("print"), "Print presets")
        self.tabs.addTab(self.media, icon("disc"), "Media")
        self.tabs.setIconSize(QSize(24, 24))
        self.tabs.currentChanged.connect(self._tab_changed)
        layout.addWidget(self.tabs, 1)
        for tab in (self.connectivity, self.workstation, self.printing):
            tab.changed.connect(self._changed)

        bottom = QHBoxLayout()
        self.status = QLabel()
        self.status.setObjectName("settingsStatus")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.revert_button = QPushButton(icon("refresh"), "  Revert")
        self.revert_button.setObjectName("settingsRevert")
        self.revert_button.setToolTip("Forget the changes not saved")
        self.save_button = QPushButton(icon("finish", "#0b1220"), "  Save")
        self.save_button.setObjectName("settingsSave")
        self.save_button.setProperty("role", "primary")
        self.save_button.setToolTip("Check and save the settings (Ctrl+S)")
        for button in (self.revert_button, self.save_button):
            button.setIconSize(QSize(touch // 2, touch // 2))
            button.setMinimumWidth(int(touch * 2))
        self.save_button.setDefault(True)
        self.revert_button.clicked.connect(self.revert)
        self.save_button.clicked.connect(self.save)
        bottom.addWidget(self.status, 1)
        bottom.addWidget(self.revert_button)
        bottom.addWidget(self.save_button)
        layout.addLayout(bottom)
        shortcut = QShortcut(QKeySequence("Ctrl+S"), self)
        shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        shortcut.activated.connect(self.save)
        self._show_file()
        self.media.show_institution(str(self.table.get("station", {}).get("institution_name", "")))
        self._update_actions()

    # -- screen life --------------------------------------------------------------------------

    def on_shown(self) -> None:
        """Read the file again (unless there are unsaved changes) and list the devices."""
        path = self.bridge.settings_path
        self._show_file()
        if path is not None and not self.dirty and not self._saving:
            self.bridge.call(
                read_settings, Path(path), on_done=self._loaded, on_error=self._load_failed
            )
        if self.discover_devices and not self._devices_listed:
            self._devices_listed = True
            self.bridge.call(
                self.bridge.engine.devices,
                on_done=lambda found: self.workstation.show_devices(found[0]),
                on_error=lambda _e: None,
            )

    def on_hidden(self) -> None:
        """Stop a device test."""
        self.workstation.stop_test()

    def _tab_changed(self, index: int) -> None:
        if index != WORKSTATION:
            self.workstation.stop_test()
        if index == PRINT:
            self.printing.reload(self.table)
        if index == MEDIA:
            self.media.show_institution(
                str(self.table.get("station", {}).get("institution_name", ""))
            )

    def _loaded(self, settings: object) -> None:
        if self.dirty or not isinstance(settings, Settings):
            return
        self._use(table_of(settings))

    def _load_failed(self, error: BaseException) -> None:
        self._say(
            f"The settings file cannot be used ({error}); showing the settings in use.",
            WARNING_AMBER,
        )

    def _use(self, table: Table) -> None:
        self.table = table
        self.saved_table = copy.deepcopy(table)
        self.connectivity.reload(table)
        self.workstation.reload(table)
        self.printing.reload(table)
        self._clear_problems()
        self._update_actions()

    # -- editing ------------------------------------------------------------------------------

    @property
    def dirty(self) -> bool:
        """Whether there are changes not saved."""
        return self.table != self.saved_table

    def _changed(self) -> None:
        if self.dirty:
            self._say("Changes not saved yet.", WARNING_AMBER)
        else:
            self._say("", TEXT_MUTED)
        self._update_actions()

    def revert(self) -> None:
        """Back to the settings last read or saved."""
        self._use(copy.deepcopy(self.saved_table))
        self._say("Changes undone.", TEXT_MUTED)

    def _show_file(self) -> None:
        path = self.bridge.settings_path
        self.file_label.setText(
            f"File: {path}" if path is not None else "Not started from a settings file"
        )

    def _update_actions(self) -> None:
        has_file = self.bridge.settings_path is not None
        self.save_button.setEnabled(has_file and not self._saving)
        self.revert_button.setEnabled(self.dirty and not self._saving)

    # -- saving -------------------------------------------------------------------------------

    def save(self) -> None:
        """Check every setting; write the file only when all are valid (on a worker)."""
        path = self.bridge.settings_path
        if path is None:
            self._say("There is no settings file to save to (izer --config FILE).", RECORD_RED)
            return
        if self._saving:
            return
        self._saving = True
        self._update_actions()
        self._say("Checking…", ACCENT)
        self.bridge.call(
            save_settings,
            copy.deepcopy(self.table),
            Path(path),
            on_done=self._saved,
            on_error=self._save_failed,
        )

    def _saved(self, outcome: object) -> None:
        self._saving = False
        problems, settings = outcome  # type: ignore[misc]
        shown = self._show_problems(problems)
        if problems:
            rest = [f"{k or 'file'}: {p}" for k, p in problems.items() if k not in shown]
            count = len(problems)
            text = f"{count} problem(s): nothing was saved. Fix the fields marked in red."
            if rest:
                text += "\n" + "\n".join(rest[:6])
            self._say(text, RECORD_RED)
            tabs = {tab_of(k) for k in problems} - {None}
            if tabs and self.tabs.currentIndex() not in tabs:
                self.tabs.setCurrentIndex(min(t for t in tabs if t is not None))
            self._update_actions()
            return
        assert isinstance(settings, Settings)
        self._use(table_of(settings))
        when = datetime.now().strftime("%H:%M")
        self._say(
            f"Saved at {when}. Restart izer to apply: the running workstation keeps the "
            "settings it started with.",
            OK_GREEN,
        )

    def _save_failed(self, error: BaseException) -> None:
        self._saving = False
        self._update_actions()
        self._say(f"Nothing was saved: {error}", RECORD_RED)

    def _show_problems(self, problems: dict[str, str]) -> set[str]:
        shown: set[str] = set()
        for tab in (self.connectivity, self.workstation, self.printing):
            shown |= tab.show_problems(problems)
        for index in (CONNECTIVITY, WORKSTATION, PRINT):
            bad = any(tab_of(k) == index for k in problems)
            name = ("echo", "settings", "print")[index]
            self.tabs.setTabIcon(index, icon("warning", RECORD_RED) if bad else icon(name))
        return shown

    def _clear_problems(self) -> None:
        self._show_problems({})

    def _say(self, text: str, colour: str) -> None:
        self.status.setText(text)
        self.status.setStyleSheet(f"#settingsStatus {{ color: {colour}; font-weight: 600; }}")


__all__ = ["SettingsScreen", "save_settings"]
