"""Shared fixtures: every test runs with its own settings, data and log folders."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from izer.config import Settings, load_settings
from izer.engine import Engine
from izer.store import StudyStore

pytest_plugins = ["tests.peers.plugin"]

TEST_UID_ROOT = "1.2.826.0.1.3680043.10.1452"


@pytest.fixture(autouse=True)
def isolated_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the platform folders (XDG) at the test's own folder; forget IZER_CONFIG."""
    home = tmp_path / "home"
    for variable, folder in (
        ("XDG_CONFIG_HOME", "config"),
        ("XDG_DATA_HOME", "data"),
        ("XDG_STATE_HOME", "state"),
        ("XDG_CACHE_HOME", "cache"),
    ):
        monkeypatch.setenv(variable, str(home / folder))
    monkeypatch.delenv("IZER_CONFIG", raising=False)
    return home


@pytest.fixture
def write_settings(tmp_path: Path) -> Callable[[str], Path]:
    """Write a settings file from TOML text (dedented) and return its path."""

    def write(text: str, name: str = "izer.toml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return write


@pytest.fixture
def settings_path(write_settings: Callable[[str], Path], tmp_path: Path) -> Path:
    """A complete, valid settings file with a store in the test folder."""
    return write_settings(
        f"""
        [station]
        ae_title = "IZERTEST"
        uid_root = "{TEST_UID_ROOT}"
        station_name = "TESTROOM"

        [storage]
        folder = "{(tmp_path / "store").as_posix()}"

        [network]
        connect_timeout_s = 3
        acse_timeout_s = 3
        dimse_timeout_s = 5
        network_timeout_s = 5
        """
    )


@pytest.fixture
def settings(settings_path: Path) -> Settings:
    """The settings of :func:`settings_path`."""
    return load_settings(settings_path).settings


@pytest.fixture
def store(tmp_path: Path) -> StudyStore:
    """An empty study store, closed after the test."""
    with StudyStore(tmp_path / "store") as opened:
        yield opened


@pytest.fixture
def engine(settings: Settings) -> Engine:
    """An engine on a fresh store, closed after the test."""
    with Engine.open(settings) as opened:
        yield opened
