"""Where izer keeps its settings, data and logs on this platform (via platformdirs)."""

from __future__ import annotations

from pathlib import Path

import platformdirs

APP_NAME = "izer"
SETTINGS_FILE_NAME = "izer.toml"


def default_config_path() -> Path:
    """The settings file used when neither ``--config`` nor ``IZER_CONFIG`` is given."""
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)) / SETTINGS_FILE_NAME


def default_storage_folder() -> Path:
    """The local study store used when ``storage.folder`` is empty."""
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)) / "store"


def default_log_folder() -> Path:
    """The folder of the rotating log file."""
    return Path(platformdirs.user_log_dir(APP_NAME, appauthor=False))
