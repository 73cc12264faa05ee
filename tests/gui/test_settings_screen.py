"""The settings screen: Echo a real peer, refuse invalid values inline without touching the
file, and write a valid change that loads again."""

from __future__ import annotations

from pathlib import Path

import pytest
from PyQt6.QtCore import Qt

from izer.config import DestinationKind, load_settings
from izer.gui.bridge import EngineBridge
from izer.gui.screens.settings import SettingsScreen
from izer.gui.theme import OK_GREEN
from izer.gui.widgets.settings_form import collect_problems, table_of


@pytest.fixture
def screen(bridge: EngineBridge, settings_path: Path, qtbot) -> SettingsScreen:
    bridge.settings_path = settings_path
    made = SettingsScreen(bridge)
    made.discover_devices = False  # camera and scanner discovery take seconds
    qtbot.addWidget(made)
    made.resize(1300, 760)
    made.show()
    made.on_shown()
    return made


def type_into(qtbot, line, text: str) -> None:
    line.clear()
    qtbot.keyClicks(line, text)


def add_dicom_destination(screen: SettingsScreen, qtbot, name: str, ae: str, port: str) -> None:
    tab = screen.connectivity
    qtbot.mouseClick(tab.add_button, Qt.MouseButton.LeftButton)
    type_into(qtbot, tab.name, name)
    type_into(qtbot, tab.ae_title, ae)
    type_into(qtbot, tab.host, "127.0.0.1")
    type_into(qtbot, tab.port, port)


@pytest.mark.peers
def test_echo_a_destination_as_typed_answers_green_with_the_time(
    screen: SettingsScreen, storescp, qtbot
) -> None:
    add_dicom_destination(screen, qtbot, "archive", storescp.aet, str(storescp.port))
    qtbot.mouseClick(screen.connectivity.echo_button, Qt.MouseButton.LeftButton)
    result = screen.connectivity.echo_result
    qtbot.waitUntil(lambda: result.text().startswith(("✓", "✗")), timeout=20000)
    assert result.text().startswith("✓"), result.text()
    assert "answered C-ECHO" in result.text() and ":" in result.text().rsplit("(", 1)[1]
    assert OK_GREEN in result.styleSheet()


def test_an_echo_to_a_closed_port_is_red(screen: SettingsScreen, qtbot) -> None:
    add_dicom_destination(screen, qtbot, "nobody", "NOBODY", "1")
    qtbot.mouseClick(screen.connectivity.echo_button, Qt.MouseButton.LeftButton)
    result = screen.connectivity.echo_result
    qtbot.waitUntil(lambda: result.text().startswith(("✓", "✗")), timeout=20000)
    assert result.text().startswith("✗") and "NOBODY@127.0.0.1:1" in result.text()


def test_invalid_values_are_shown_inline_and_the_file_is_untouched(
    screen: SettingsScreen, settings_path: Path, qtbot
) -> None:
    before = settings_path.read_bytes()
    add_dicom_destination(screen, qtbot, "pacs", "ORTHANC", "99999")
    type_into(qtbot, screen.workstation.ae_title, "A_TITLE_FAR_TOO_LONG")
    qtbot.mouseClick(screen.save_button, Qt.MouseButton.LeftButton)
    port_error = screen.connectivity.errors["port"]
    qtbot.waitUntil(lambda: not screen._saving, timeout=20000)
    assert not port_error.isHidden() and "99999" in port_error.text()
    ae_error = screen.workstation.errors["station.ae_title"]
    assert "16" in ae_error.text()  # both problems at once, each by its field
    assert "2 problem(s)" in screen.status.text()
    assert screen.tabs.currentIndex() == 0  # the tab in front has a problem: it stays
    assert settings_path.read_bytes() == before

    type_into(qtbot, screen.connectivity.port, "80a")
    qtbot.mouseClick(screen.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not screen._saving, timeout=20000)
    assert "integer" in port_error.text()
    assert settings_path.read_bytes() == before
    assert sorted(p.name for p in settings_path.parent.glob(".*saving")) == []


def test_a_valid_change_is_written_and_loads_again(
    screen: SettingsScreen, settings_path: Path, qtbot
) -> None:
    type_into(qtbot, screen.workstation.station_name, "ENDO3")
    tab = screen.connectivity
    qtbot.mouseClick(tab.add_button, Qt.MouseButton.LeftButton)
    type_into(qtbot, tab.name, "nas")
    tab.kind.setCurrentIndex(tab.kind.findData("folder"))
    type_into(qtbot, tab.folder, str(settings_path.parent / "nas"))
    assert screen.revert_button.isEnabled()
    qtbot.keyClick(screen, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: "Saved" in screen.status.text(), timeout=20000)
    assert "Restart" in screen.status.text()

    loaded = load_settings(settings_path).settings
    assert loaded.station.station_name == "ENDO3"
    assert loaded.station.ae_title == "IZERTEST"  # the rest is kept
    nas = loaded.destination("nas")
    assert nas is not None and nas.kind is DestinationKind.FOLDER
    assert not screen.dirty
    assert [p.name for p in settings_path.parent.glob(".*saving")] == []


def test_the_uid_root_changes_only_after_change_is_ticked(screen: SettingsScreen, qtbot) -> None:
    screen.tabs.setCurrentIndex(1)
    tab = screen.workstation
    assert tab.uid_root.isReadOnly()
    tab.uid_change.setChecked(True)
    assert not tab.uid_root.isReadOnly() and tab.uid_warning.isVisible()
    type_into(qtbot, tab.uid_root, "1.02.3")
    qtbot.mouseClick(screen.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not screen._saving, timeout=20000)
    assert "not a UID" in tab.errors["station.uid_root"].text()


def test_the_device_test_shows_live_pictures_from_the_source(screen: SettingsScreen, qtbot) -> None:
    screen.tabs.setCurrentIndex(1)
    tab = screen.workstation
    assert tab.source.currentText() == "synthetic"
    qtbot.mouseClick(tab.test_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: tab.thumbnail.pixmap() is not None, timeout=10000)
    qtbot.waitUntil(lambda: not tab.thumbnail.pixmap().isNull(), timeout=10000)
    first = tab.thumbnail.pixmap().toImage()
    qtbot.waitUntil(lambda: tab.thumbnail.pixmap().toImage() != first, timeout=10000)  # live
    assert tab.test_result.text().startswith("✓") and "1280x720" in tab.test_result.text()
    screen.tabs.setCurrentIndex(0)  # leaving the tab ends the test
    assert tab._probe is None and tab.test_button.text().strip() == "Test"


def test_every_problem_of_a_table_is_found(bridge: EngineBridge, tmp_path: Path) -> None:
    table = table_of(bridge.engine.settings)
    table["station"]["ae_title"] = ""
    table["listener"]["port"] = 0
    table["capture"].update(width=63, fps=0)
    table["destinations"] = [
        {"name": "a", "kind": "dicom", "ae_title": "A", "host": "", "port": 0},
        {"name": "a", "kind": "dicomweb", "url": "ftp://x"},
    ]
    problems = collect_problems(table, tmp_path / "izer.toml")
    assert set(problems) == {
        "station.ae_title",
        "listener.port",
        "capture.width",
        "capture.fps",
        "destinations[0].host",
        "destinations[0].port",
        "destinations[1].name",
        "destinations[1].url",
    }
    assert "used twice" in problems["destinations[1].name"]
