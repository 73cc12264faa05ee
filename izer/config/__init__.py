"""Typed settings loaded from one TOML file, validated with one-line messages."""

from izer.config.loader import LoadedSettings, SettingsError, load_settings, settings_to_toml
from izer.config.paths import default_config_path, default_log_folder, default_storage_folder
from izer.config.settings import (
    CaptureSettings,
    Destination,
    DestinationKind,
    DispatchSettings,
    HotkeySettings,
    ListenerSettings,
    NetworkSettings,
    ReportSettings,
    Role,
    Settings,
    StationSettings,
    StorageSettings,
    TlsSettings,
)

__all__ = [
    "CaptureSettings",
    "Destination",
    "DestinationKind",
    "DispatchSettings",
    "HotkeySettings",
    "ListenerSettings",
    "LoadedSettings",
    "NetworkSettings",
    "ReportSettings",
    "Role",
    "Settings",
    "SettingsError",
    "StationSettings",
    "StorageSettings",
    "TlsSettings",
    "default_config_path",
    "default_log_folder",
    "default_storage_folder",
    "load_settings",
    "settings_to_toml",
]
