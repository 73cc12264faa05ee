"""Reading, checking and writing the settings file.

Every problem is a :class:`SettingsError` whose message is one line naming the file and the
key, so the command line can print it and exit with status 2.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import os
import re
import secrets
import string
import tomllib
import types
import typing
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from izer.config.export_pattern import PatternError, check_pattern
from izer.config.paths import default_config_path
from izer.config.settings import (
    CHARACTER_SETS,
    IDENTIFIER_FIELDS,
    IDENTIFIER_UNIQUE_FIELDS,
    VIDEO_SYNTAX_NAMES,
    Destination,
    DestinationKind,
    DispatchSettings,
    Role,
    Settings,
    StationSettings,
    WorklistSettings,
    expand_identifier,
    video_syntax_known,
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
    if settings.listener.min_free_mb < 0:
        fail(
            "listener.min_free_mb",
            f"{settings.listener.min_free_mb} is negative; give 0 (no check) or more megabytes",
        )
    for index, syntax in enumerate(settings.listener.transfer_syntaxes):
        fail(f"listener.transfer_syntaxes[{index}]", uid_problem(syntax))
    _check_capture(settings.capture, fail)
    seen: set[str] = set()
    for index, destination in enumerate(settings.destinations):
        key = f"destinations[{index}]"
        if destination.name.casefold() in seen:
            fail(f"{key}.name", f"destination name {destination.name!r} is used twice")
        seen.add(destination.name.casefold())
        _check_destination(destination, key, fail)
    for index, destination in enumerate(settings.destinations):
        _check_commitment_peer(settings, destination, f"destinations[{index}]", fail)
    _check_dispatch(settings, fail)
    _check_worklist(settings, fail)
    _check_report(settings.report, fail)
    _check_auto_export(settings, fail)


#: Video encoders the recorder offers; ``auto`` is H.264 up to 1080p60 and HEVC above.
VIDEO_CODECS = ("auto", "h264", "hevc")
#: x264/x265 presets, fastest first.
ENCODER_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium")
#: IODs a still can be stored as.
STILL_IODS = ("vl-endoscopic", "vl-photographic", "vl-microscopic", "sc")
#: Modem lines a serial contact closure can use, or ``data`` (any byte received).
SERIAL_LINES = ("cts", "dsr", "ri", "cd", "data")


def _check_capture(capture: Any, fail: typing.Callable[[str, str | None], None]) -> None:
    def choice(name: str, allowed: tuple[str, ...]) -> None:
        if getattr(capture, name) not in allowed:
            fail(
                f"capture.{name}", f"{getattr(capture, name)!r} is not one of: {', '.join(allowed)}"
            )

    if not (64 <= capture.width <= 8192 and 48 <= capture.height <= 8192):
        fail(
            "capture.width",
            f"{capture.width}x{capture.height} is out of range (64x48 to 8192x8192)",
        )
    if capture.width % 2 or capture.height % 2:
        fail(
            "capture.width",
            f"width and height must be even for video, got {capture.width}x{capture.height}",
        )
    if not 1 <= capture.fps <= 240:
        fail("capture.fps", f"{capture.fps} is out of range (1 to 240 frames per second)")
    choice("video_codec", VIDEO_CODECS)
    choice("encoder_preset", ENCODER_PRESETS)
    choice("still_iod", STILL_IODS)
    choice("serial_line", SERIAL_LINES)
    if not 0 <= capture.crf <= 51:
        fail("capture.crf", f"{capture.crf} is out of range (0 best to 51 worst; 18-23 is usual)")
    if not 0 <= capture.prerecord_s <= 10:
        fail("capture.prerecord_s", f"{capture.prerecord_s} is out of range (0 to 10 seconds)")
    if capture.max_clip_s < 0:
        fail("capture.max_clip_s", "must be 0 (no limit) or a number of seconds")
    if not 0.2 <= capture.fragment_s <= 10:
        fail("capture.fragment_s", f"{capture.fragment_s} is out of range (0.2 to 10 seconds)")
    if not 0.5 <= capture.queue_s <= 30:
        fail("capture.queue_s", f"{capture.queue_s} is out of range (0.5 to 30 seconds)")
    if capture.min_free_mb < 0:
        fail("capture.min_free_mb", "must be 0 or more megabytes")
    if not 1 <= capture.still_quality <= 100:
        fail("capture.still_quality", f"{capture.still_quality} is out of range (1 to 100)")


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
    _check_sending(destination, key, fail)
    for problem in destination.print.problems():
        fail(f"{key}.print", problem)


#: Most jobs one destination may run at once.
MAX_CONCURRENCY = 16
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _check_sending(
    destination: Destination, key: str, fail: typing.Callable[[str, str | None], None]
) -> None:
    """The dispatch keys of one destination: concurrency, ladder, commitment, auth, layout."""
    if not 1 <= destination.concurrency <= MAX_CONCURRENCY:
        fail(
            f"{key}.concurrency",
            f"{destination.concurrency} is out of range (1 to {MAX_CONCURRENCY} jobs at once)",
        )
    for index, name in enumerate(destination.transcode_ladder):
        if not video_syntax_known(name):
            fail(
                f"{key}.transcode_ladder[{index}]",
                f"{name!r} is not a video transfer syntax; use one of "
                + ", ".join(VIDEO_SYNTAX_NAMES),
            )
    if destination.commitment_timeout_s <= 0:
        fail(
            f"{key}.commitment_timeout_s",
            f"must be more than 0 seconds, got {destination.commitment_timeout_s}",
        )
    for name in ("password_env", "bearer_token_env"):
        variable = getattr(destination, name)
        if variable and not _ENV_NAME.match(variable):
            fail(f"{key}.{name}", f"{variable!r} is not an environment variable name")
    web_keys = [
        n for n in ("username", "password_env", "bearer_token_env") if getattr(destination, n)
    ]
    if web_keys and destination.kind is not DestinationKind.DICOMWEB:
        fail(f"{key}.{web_keys[0]}", "authentication keys are for dicomweb destinations only")
    if destination.password_env and destination.bearer_token_env:
        fail(f"{key}.bearer_token_env", "use password_env (basic) or bearer_token_env, not both")
    if bool(destination.username) != bool(destination.password_env):
        fail(
            f"{key}.password_env" if destination.username else f"{key}.username",
            "username and password_env go together (the password itself is never in this file)",
        )
    if destination.kind is DestinationKind.FOLDER:
        fail(f"{key}.folder_layout", _layout_problem(destination.folder_layout))


def _layout_problem(layout: str) -> str | None:
    """Why a folder layout cannot be used (as ``izer.dispatch.folder_sink`` checks it)."""
    from pydicom.datadict import dictionary_VR, keyword_dict

    if not layout.strip():
        return "empty; e.g. {PatientID}/{StudyInstanceUID}/{SOPInstanceUID}.dcm"
    if layout.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", layout):
        return f"{layout!r} must be relative to the folder"
    for segment in re.split(r"[/\\]", layout):
        if segment.strip() in ("", ".", ".."):
            return f"{layout!r} has an empty, '.' or '..' part"
        try:
            fields = list(string.Formatter().parse(segment))
        except ValueError as exc:
            return f"{layout!r}: {exc}"
        for _, name, spec, conversion in fields:
            if name is None:
                continue
            if spec or conversion or name not in keyword_dict or dictionary_VR(name) == "SQ":
                return (
                    f"{layout!r}: {{{name}}} is not a DICOM keyword of a plain value "
                    "(write e.g. {PatientID}, {StudyDate}, {SOPInstanceUID})"
                )
    return None


def _check_commitment_peer(
    settings: Settings,
    destination: Destination,
    key: str,
    fail: typing.Callable[[str, str | None], None],
) -> None:
    """A destination asking for storage commitment needs a DICOM commitment SCP."""
    if destination.commitment_destination:
        scp = settings.destination(destination.commitment_destination)
        if scp is None:
            fail(
                f"{key}.commitment_destination",
                f"no destination called {destination.commitment_destination!r}",
            )
    else:
        scp = destination
    if (destination.commitment or destination.commitment_destination) and (
        scp is not None and scp.kind is not DestinationKind.DICOM
    ):
        fail(
            f"{key}.commitment_destination"
            if destination.commitment_destination
            else f"{key}.commitment",
            f"storage commitment needs a dicom destination as its SCP, {scp.name!r} is "
            f"{scp.kind.value}; name one in commitment_destination",
        )


def _check_dispatch(settings: Settings, fail: typing.Callable[[str, str | None], None]) -> None:
    dispatch: DispatchSettings = settings.dispatch
    for index, name in enumerate(dispatch.auto_send):
        if settings.destination(name) is None:
            names = ", ".join(d.name for d in settings.destinations) or "none configured"
            fail(f"dispatch.auto_send[{index}]", f"no destination called {name!r} ({names})")
    if dispatch.backoff_base_s <= 0:
        fail(
            "dispatch.backoff_base_s", f"must be more than 0 seconds, got {dispatch.backoff_base_s}"
        )
    if dispatch.backoff_cap_s < dispatch.backoff_base_s:
        fail(
            "dispatch.backoff_cap_s",
            f"{dispatch.backoff_cap_s} is less than backoff_base_s ({dispatch.backoff_base_s})",
        )
    if dispatch.max_attempts < 1:
        fail("dispatch.max_attempts", f"must be 1 or more, got {dispatch.max_attempts}")
    if dispatch.retention_days < 0:
        fail("dispatch.retention_days", "must be 0 (keep forever) or a number of days")


def _check_auto_export(settings: Settings, fail: typing.Callable[[str, str | None], None]) -> None:
    """The ``[[auto_export]]`` rules: unique names, a folder, a usable pattern, destinations."""
    seen: set[str] = set()
    for index, rule in enumerate(settings.auto_export):
        key = f"auto_export[{index}]"
        if not rule.name.strip():
            fail(f"{key}.name", "give the rule a name (it keys what is pending in the store)")
        if rule.name.casefold() in seen:
            fail(f"{key}.name", f"rule name {rule.name!r} is used twice")
        seen.add(rule.name.casefold())
        if not rule.folder.strip():
            fail(f"{key}.folder", "give the folder to export into (created when missing)")
        fail(f"{key}.pattern", _export_pattern_problem(rule.pattern))
        if rule.quiet_seconds <= 0:
            fail(f"{key}.quiet_seconds", f"must be more than 0 seconds, got {rule.quiet_seconds}")
        if not 1 <= rule.quality <= 100:
            fail(f"{key}.quality", f"{rule.quality} is out of range (1 to 100)")
        for number, name in enumerate(rule.forward):
            if settings.destination(name) is None:
                names = ", ".join(d.name for d in settings.destinations) or "none configured"
                fail(f"{key}.forward[{number}]", f"no destination called {name!r} ({names})")
        for number, aet in enumerate(rule.calling_aets):
            fail(f"{key}.calling_aets[{number}]", ae_title_problem(aet))


def _export_pattern_problem(pattern: str) -> str | None:
    """Why an export folder pattern cannot be used (the exporter's own check)."""
    try:
        check_pattern(pattern)
    except PatternError as exc:
        return str(exc)
    return None


_WORKLIST_DATE = re.compile(r"^\d{8}(-\d{8})?$")


#: ``[report] layout`` names: pictures per page, portrait or landscape (izer.report.ReportLayout;
#: config may not import the report room, a test keeps the two in step).
REPORT_LAYOUTS = (
    "portrait-1",
    "portrait-2",
    "portrait-3",
    "portrait-6",
    "portrait-8",
    "landscape-1",
    "landscape-4",
    "landscape-9",
)
REPORT_PAGE_SIZES = ("A4", "LETTER")


def _check_report(report: Any, fail: typing.Callable[[str, str | None], None]) -> None:
    if report.layout not in REPORT_LAYOUTS:
        fail("report.layout", f"{report.layout!r} is not one of: {', '.join(REPORT_LAYOUTS)}")
    if report.page_size not in REPORT_PAGE_SIZES:
        fail(
            "report.page_size",
            f"{report.page_size!r} is not one of: {', '.join(REPORT_PAGE_SIZES)}",
        )
    if report.logo and not Path(report.logo).expanduser().is_file():
        fail("report.logo", f"no such file: {report.logo} (a PNG or JPEG of the institution)")


def _check_worklist(settings: Settings, fail: typing.Callable[[str, str | None], None]) -> None:
    worklist: WorklistSettings = settings.worklist
    for index, name in enumerate(worklist.providers):
        destination = settings.destination(name)
        if destination is None:
            names = ", ".join(d.name for d in settings.destinations) or "none configured"
            fail(f"worklist.providers[{index}]", f"no destination called {name!r} ({names})")
        elif destination.kind is not DestinationKind.DICOM:
            fail(f"worklist.providers[{index}]", f"{name!r} is not a dicom destination")
        elif Role.WORKLIST not in destination.roles:
            fail(f"worklist.providers[{index}]", f'{name!r} lacks the role "worklist"')
    if not re.fullmatch(r"[A-Z0-9_ ]{1,16}", worklist.modality):
        fail("worklist.modality", f"{worklist.modality!r}: use a code such as ES, XC or OT")
    date_range = worklist.date_range
    if date_range not in ("today", "any") and not _WORKLIST_DATE.match(date_range):
        fail(
            "worklist.date_range",
            f"{date_range!r}: use today, any, YYYYMMDD or YYYYMMDD-YYYYMMDD",
        )
    elif "-" in date_range and date_range.split("-")[0] > date_range.split("-")[1]:
        fail("worklist.date_range", f"{date_range!r}: the range ends before it starts")
    if worklist.station_ae:
        fail("worklist.station_ae", ae_title_problem(worklist.station_ae))
    if worklist.fallback_charset not in CHARACTER_SETS:
        fail(
            "worklist.fallback_charset",
            f"{worklist.fallback_charset!r} is not supported; use one of "
            + ", ".join(sorted(CHARACTER_SETS)),
        )
    if worklist.result_cap < 1:
        fail("worklist.result_cap", f"must be 1 or more, got {worklist.result_cap}")
    if worklist.refresh_s <= 0:
        fail("worklist.refresh_s", f"must be more than 0 seconds, got {worklist.refresh_s}")
    fail(
        "worklist.unscheduled_id_pattern",
        _identifier_pattern_problem(worklist.unscheduled_id_pattern, 64, settings),
    )
    fail(
        "worklist.accession_pattern",
        _identifier_pattern_problem(worklist.accession_pattern, 16, settings),
    )


def _identifier_pattern_problem(pattern: str, limit: int, settings: Settings) -> str | None:
    """Why an identifier pattern cannot be used: unknown placeholders, characters a DICOM
    LO/SH value cannot hold, no changing part, or results longer than ``limit``."""
    known = ", ".join("{" + name + "}" for name in IDENTIFIER_FIELDS)
    try:
        fields = list(string.Formatter().parse(pattern))
    except ValueError as exc:
        return f"{pattern!r}: {exc} (placeholders: {known})"
    names = set()
    for literal, name, spec, conversion in fields:
        if any(ch in "\\*?" or not 32 <= ord(ch) < 127 for ch in literal):
            return (
                f"{pattern!r}: use printable ASCII without \\, * or ? (it becomes a DICOM "
                "identifier and a query key)"
            )
        if name is None:
            continue
        if name not in IDENTIFIER_FIELDS or spec or conversion:
            return f"{pattern!r}: {{{name}}} is not a placeholder here (use {known})"
        names.add(name)
    if not names & set(IDENTIFIER_UNIQUE_FIELDS):
        return (
            f"{pattern!r} would give every patient the same value; add {{stamp}}, {{time}} "
            "or {random}"
        )
    from datetime import datetime

    sample = expand_identifier(
        pattern, now=datetime(2099, 12, 31, 23, 59, 59), station_ae=settings.station.ae_title,
        random_text="ZZZZ",
    )  # fmt: skip
    if not sample.strip() or len(sample) > limit:
        return f"{pattern!r} gives {sample!r} ({len(sample)} characters, at most {limit})"
    return None


# -- writing ----------------------------------------------------------------------------------


def settings_to_toml(settings: Settings) -> str:
    """The effective settings, defaults included, as TOML that :func:`load_settings` reads."""
    lines: list[str] = []
    for spec in dataclasses.fields(settings):
        value = getattr(settings, spec.name)
        if spec.name in ("destinations", "auto_export"):
            for item in value:
                lines += ["", f"[[{spec.name}]]"]
                lines += _table_lines(item, spec.name)
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
