"""Reading, checking and writing the settings file.

Every problem is a :class:`SettingsError` whose message is one line naming the file and the
key, so the command line can print it and exit with status 2.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import os
import secrets
import tomllib
import types
import typing
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from izer.config.paths import default_config_path
from izer.config.settings import (
    CHARACTER_SETS,
    Destination,
    DestinationKind,
    Settings,
    StationSettings,
)
from izer.config.validate import (
    MAX_UID_ROOT_LENGTH,
    ae_title_problem,
    port_problem,
    uid_problem,
)

ENV_VAR = "IZER_CONFIG"


class SettingsError(Exception):
    """A settings file that cannot be used; ``str()`` is one line for the user."""

    def __init__(self, path: Path, key: str, problem: str) -> None:
        self.path = path
        self.key = key
        self.problem = problem
        where = f"{path}: {key}: " if key else f"{path}: "
        super().__init__(where + problem)


@dataclass(frozen=True)
class LoadedSettings:
    """Settings together with where they came from."""

    settings: Settings
    path: Path
    created: bool


def generate_ae_title() -> str:
    """``IZER_`` and four random digits, as DICOM Izer does on first run."""
    return f"IZER_{secrets.randbelow(10_000):04d}"


def generate_uid_root() -> str:
    """A UID root of our own under 2.25 (a UUID as integer, PS3.5 B.2)."""
    return f"2.25.{uuid.uuid4().int}"


def resolve_path(explicit: str | os.PathLike[str] | None) -> tuple[Path, bool]:
    """The settings path and whether it was chosen by the user (flag or environment)."""
    if explicit:
        return Path(explicit), True
    if env := os.environ.get(ENV_VAR):
        return Path(env), True
    return default_config_path(), False


def load_settings(explicit: str | os.PathLike[str] | None = None) -> LoadedSettings:
    """Load and validate the settings.

    The file is ``explicit``, else ``$IZER_CONFIG``, else the platform default. Only the
    platform default is created when missing (with a new AE title and UID root); a file the
    user named must exist.

    Raises
    ------
    SettingsError
        For a missing or unreadable file, bad TOML, an unknown key, a wrong type or a value
        out of its rules.
    """
    path, chosen = resolve_path(explicit)
    created = False
    if not path.exists():
        if chosen:
            raise SettingsError(path, "", "no such settings file")
        write_initial_settings(path)
        created = True
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SettingsError(path, "", f"cannot read the settings file ({exc.strerror})") from exc
    try:
        table = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise SettingsError(path, "", "the settings file is not UTF-8 text") from exc
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(path, "", f"invalid TOML: {exc}") from exc
    settings = settings_from_table(table, path)
    return LoadedSettings(settings=settings, path=path, created=created)


def settings_from_table(table: Mapping[str, Any], path: Path) -> Settings:
    """Build and check :class:`Settings` from parsed TOML."""
    if "station" not in table:
        raise SettingsError(path, "station", "missing table; it needs ae_title and uid_root")
    settings = _convert(Settings, table, "", path)
    _check_values(settings, path)
    return settings


def write_initial_settings(path: Path) -> None:
    """Write a first settings file with a fresh AE title and UID root, atomically."""
    text = (
        "# izer settings, written on first run. Every key is documented in\n"
        "# docs/configuration.md; keys left out take their defaults.\n\n"
        "[station]\n"
        f'ae_title = "{generate_ae_title()}"\n'
        f'uid_root = "{generate_uid_root()}"\n'
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


# -- conversion from TOML tables to the dataclasses -------------------------------------------

_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}


def _describe(value: Any) -> str:
    return json.dumps(value, default=str) if not isinstance(value, dict) else "a table"


def _convert(tp: Any, value: Any, key: str, path: Path) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        (inner,) = [arg for arg in typing.get_args(tp) if arg is not type(None)]
        return _convert(inner, value, key, path)
    if origin is tuple:
        item_type = typing.get_args(tp)[0]
        if not isinstance(value, list):
            raise SettingsError(path, key, f"expected a list, got {_describe(value)}")
        return tuple(
            _convert(item_type, item, f"{key}[{index}]", path) for index, item in enumerate(value)
        )
    if dataclasses.is_dataclass(tp):
        return _convert_table(tp, value, key, path)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        choices = [member.value for member in tp]
        if value not in choices:
            raise SettingsError(
                path, key, f"{_describe(value)} is not one of: {', '.join(choices)}"
            )
        return tp(value)
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if (tp is int and isinstance(value, bool)) or not isinstance(value, tp):
        raise SettingsError(path, key, f"expected {_TYPE_NAMES[tp]}, got {_describe(value)}")
    return value


def _convert_table(cls: Any, value: Any, key: str, path: Path) -> Any:
    if not isinstance(value, dict):
        raise SettingsError(path, key, f"expected a table, got {_describe(value)}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    for name in value:
        if name not in fields:
            raise SettingsError(
                path,
                _join(key, name),
                f"unknown key (known keys here: {', '.join(fields)})",
            )
    kwargs = {}
    for name, spec in fields.items():
        if name in value:
            kwargs[name] = _convert(hints[name], value[name], _join(key, name), path)
        elif spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING:
            raise SettingsError(path, _join(key, name), "missing required key")
    return cls(**kwargs)


def _join(key: str, name: str) -> str:
    return f"{key}.{name}" if key else name


# -- value rules ------------------------------------------------------------------------------


def _check_values(settings: Settings, path: Path) -> None:
    def fail(key: str, problem: str | None) -> None:
        if problem:
            raise SettingsError(path, key, problem)

    station = settings.station
    fail("station.ae_title", ae_title_problem(station.ae_title))
    fail("station.uid_root", uid_problem(station.uid_root, max_length=MAX_UID_ROOT_LENGTH))
    if station.character_set not in CHARACTER_SETS:
        fail(
            "station.character_set",
            f"{station.character_set!r} is not supported; use one of "
            + ", ".join(sorted(CHARACTER_SETS)),
        )
    _check_network(settings.network, "network", fail)
    fail("listener.port", port_problem(settings.listener.port))
    for index, aet in enumerate(settings.listener.allowed_calling_aets):
        fail(f"listener.allowed_calling_aets[{index}]", ae_title_problem(aet))
    seen: set[str] = set()
    for index, destination in enumerate(settings.destinations):
        key = f"destinations[{index}]"
        if destination.name.casefold() in seen:
            fail(f"{key}.name", f"destination name {destination.name!r} is used twice")
        seen.add(destination.name.casefold())
        _check_destination(destination, key, fail)


def _check_network(network: Any, key: str, fail: typing.Callable[[str, str | None], None]) -> None:
    for name in ("connect_timeout_s", "acse_timeout_s", "dimse_timeout_s", "network_timeout_s"):
        seconds = getattr(network, name)
        if seconds is not None and seconds <= 0:
            fail(f"{key}.{name}", f"a timeout must be more than 0 seconds, got {seconds}")
    pdu = network.max_pdu_bytes
    if pdu is not None and pdu != 0 and not 4096 <= pdu <= 0xFFFFFFFF:
        fail(f"{key}.max_pdu_bytes", f"{pdu} is out of range: 0 (no limit) or 4096-4294967295")


def _check_destination(
    destination: Destination, key: str, fail: typing.Callable[[str, str | None], None]
) -> None:
    name = destination.name
    if not name.strip() or "@" in name or ":" in name:
        fail(f"{key}.name", f"{name!r} is not a usable name (non-empty, no '@' or ':')")
    _check_network(destination, key, fail)
    for index, uid in enumerate(destination.transfer_syntaxes):
        fail(f"{key}.transfer_syntaxes[{index}]", uid_problem(uid))
    if destination.kind is DestinationKind.DICOM:
        fail(f"{key}.ae_title", ae_title_problem(destination.ae_title))
        if not destination.host.strip():
            fail(f"{key}.host", "a dicom destination needs a host name or address")
        fail(f"{key}.port", port_problem(destination.port))
    elif destination.kind is DestinationKind.DICOMWEB and not destination.url.startswith(
        ("http://", "https://")
    ):
        fail(f"{key}.url", f"a dicomweb destination needs an http(s) URL, got {destination.url!r}")
    elif destination.kind is DestinationKind.FOLDER and not destination.folder.strip():
        fail(f"{key}.folder", "a folder destination needs a folder")
    tls = destination.tls
    if tls.enabled:
        for name in ("ca_file", "cert_file", "key_file"):
            file_name = getattr(tls, name)
            if file_name and not Path(file_name).is_file():
                fail(f"{key}.tls.{name}", f"no such file: {file_name}")
        if bool(tls.cert_file) != bool(tls.key_file):
            fail(f"{key}.tls.key_file", "cert_file and key_file go together")


# -- writing ----------------------------------------------------------------------------------


def settings_to_toml(settings: Settings) -> str:
    """The effective settings, defaults included, as TOML that :func:`load_settings` reads."""
    lines: list[str] = []
    for spec in dataclasses.fields(settings):
        value = getattr(settings, spec.name)
        if spec.name == "destinations":
            for destination in value:
                lines += ["", "[[destinations]]"]
                lines += _table_lines(destination, "destinations")
        else:
            lines += ["", f"[{spec.name}]"]
            lines += _table_lines(value, spec.name)
    return "\n".join(lines).lstrip("\n") + "\n"


def _table_lines(table: Any, prefix: str) -> list[str]:
    lines: list[str] = []
    nested: list[tuple[str, Any]] = []
    for spec in dataclasses.fields(table):
        value = getattr(table, spec.name)
        if dataclasses.is_dataclass(value):
            nested.append((spec.name, value))
        elif value is not None:
            lines.append(f"{spec.name} = {_toml_value(value)}")
    for name, value in nested:
        lines += ["", f"[{prefix}.{name}]", *_table_lines(value, f"{prefix}.{name}")]
    return lines


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, enum.Enum):
        return json.dumps(value.value)
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, tuple):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)


__all__ = [
    "ENV_VAR",
    "LoadedSettings",
    "SettingsError",
    "StationSettings",
    "generate_ae_title",
    "generate_uid_root",
    "load_settings",
    "settings_from_table",
    "settings_to_toml",
]
