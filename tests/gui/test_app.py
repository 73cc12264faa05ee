"""``izer gui`` opens the workstation window on the settings in force and closes cleanly;
``izer`` without a command opens it only where there is a screen."""

from __future__ import annotations

import pytest

from izer.cli import gui as gui_cmd
from izer.cli.main import main


def test_izer_gui_opens_the_window_and_quits_by_itself(settings_path, capsys) -> None:
    status = main(["--config", str(settings_path), "gui", "--quit-after", "1.5"])
    assert status == 0, capsys.readouterr().err


def test_the_window_starts_on_the_worklist_with_every_screen(window) -> None:  # type: ignore[no-untyped-def]
    assert list(window.screens) == ["worklist", "capture", "review", "scan", "dispatch", "settings"]
    assert window.stack.currentWidget() is window.screens["worklist"]
    assert "No patient selected" in window.banner.name.text()


@pytest.mark.parametrize(
    ("environment", "expected"),
    [
        ({"QT_QPA_PLATFORM": "offscreen"}, False),
        ({"DISPLAY": ":0"}, True),
        ({"WAYLAND_DISPLAY": "wayland-0"}, True),
        ({}, False),
    ],
)
def test_a_screen_is_looked_for_before_opening_a_window(
    environment: dict[str, str], expected: bool, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    for name in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(gui_cmd.sys, "platform", "linux")
    assert gui_cmd.display_available() is expected


def test_izer_gui_without_a_screen_says_so(settings_path, monkeypatch, capsys) -> None:
    for name in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(gui_cmd.sys, "platform", "linux")
    assert main(["--config", str(settings_path), "gui"]) == 1
    assert "no screen here" in capsys.readouterr().err
