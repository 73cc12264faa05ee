"""The settings schema: frozen dataclasses whose fields are the TOML keys.

Every key is documented, with its default, in ``docs/configuration.md``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from datetime import datetime

from izer.model.printing import PrintPreset


class DestinationKind(enum.StrEnum):
    """How izer reaches a destination."""

    DICOM = "dicom"
    DICOMWEB = "dicomweb"
    FOLDER = "folder"


class Role(enum.StrEnum):
    """What a destination is used for."""

    STORE = "store"
    WORKLIST = "worklist"
    MPPS = "mpps"
    COMMITMENT = "commitment"
    PRINT = "print"
    QUERY = "query"


DEFAULT_CHARACTER_SET = "ISO_IR 192"

#: Specific Character Set values izer can write (PS3.3 C.12.1.1.2; PS3.5 6.1).
CHARACTER_SETS: frozenset[str] = frozenset(
    {
        "ISO_IR 192",
        "ISO_IR 100",
        "ISO_IR 101",
        "ISO_IR 109",
        "ISO_IR 110",
        "ISO_IR 126",
        "ISO_IR 127",
        "ISO_IR 138",
        "ISO_IR 144",
        "ISO_IR 148",
        "ISO_IR 166",
        "ISO 2022 IR 87",
        "ISO 2022 IR 149",
        "ISO 2022 IR 58",
        "GB18030",
        "GBK",
    }
)


@dataclass(frozen=True)
class StationSettings:
    """This workstation's identity on the network and in the headers it writes."""

    ae_title: str
    uid_root: str
    station_name: str = "IZER"
    institution_name: str = ""
    character_set: str = DEFAULT_CHARACTER_SET


@dataclass(frozen=True)
class StorageSettings:
    """The local study store; an empty folder means the platform data folder."""

    folder: str = ""


@dataclass(frozen=True)
class NetworkSettings:
    """Association defaults; each destination may override any of them."""

    connect_timeout_s: float = 5.0
    acse_timeout_s: float = 30.0
    dimse_timeout_s: float = 60.0
    network_timeout_s: float = 60.0
    max_pdu_bytes: int = 65536


@dataclass(frozen=True)
class ListenerSettings:
    """izer's own SCP: ``izer serve``, its Storage SCP and the receiver of storage-commitment
    reports.

    ``storage`` makes ``izer serve`` accept C-STORE (PS3.4 B) into the local store; below
    ``min_free_mb`` of free disk it refuses with 0xA700 (out of resources).
    ``transfer_syntaxes`` (UIDs) narrows what is accepted; empty: every syntax izer emits.
    """

    port: int = 11112
    allowed_calling_aets: tuple[str, ...] = ()
    storage: bool = True
    min_free_mb: int = 1024
    transfer_syntaxes: tuple[str, ...] = ()


@dataclass(frozen=True)
class HotkeySettings:
    """Keys that trigger capture actions; USB foot pedals that type keys work through these."""

    still: tuple[str, ...] = ("F1", "F4")
    record: tuple[str, ...] = ("F2", "F5")
    pause: tuple[str, ...] = ("Return",)
    end: tuple[str, ...] = ("Escape",)


@dataclass(frozen=True)
class CaptureSettings:
    """The live sources, the recorder and the stills."""

    source: str = "synthetic"
    second_source: str = ""
    width: int = 1280
    height: int = 720
    fps: float = 30.0
    pixel_format: str = ""
    backend: str = ""
    video_codec: str = "auto"
    encoder_preset: str = "veryfast"
    crf: int = 20
    prerecord_s: float = 0.0
    max_clip_s: float = 0.0
    fragment_s: float = 1.0
    queue_s: float = 2.0
    min_free_mb: int = 2048
    still_iod: str = "vl-endoscopic"
    still_transfer_syntax: str = "jpeg-baseline"
    still_quality: int = 90
    serial_port: str = ""
    serial_line: str = "cts"
    hotkeys: HotkeySettings = field(default_factory=HotkeySettings)


@dataclass(frozen=True)
class TlsSettings:
    """DICOM TLS (PS3.15 B.1) for one destination."""

    enabled: bool = False
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    check_hostname: bool = True


@dataclass(frozen=True)
class Destination:
    """A peer izer talks to; timeouts and PDU size left unset inherit ``[network]``."""

    name: str
    kind: DestinationKind = DestinationKind.DICOM
    ae_title: str = ""
    host: str = ""
    port: int = 104
    url: str = ""
    folder: str = ""
    roles: tuple[Role, ...] = (Role.STORE,)
    connect_timeout_s: float | None = None
    acse_timeout_s: float | None = None
    dimse_timeout_s: float | None = None
    network_timeout_s: float | None = None
    max_pdu_bytes: int | None = None
    transfer_syntaxes: tuple[str, ...] = ()
    tls: TlsSettings = field(default_factory=TlsSettings)
    concurrency: int = 1
    transcode_ladder: tuple[str, ...] = ()
    commitment: bool = False
    commitment_destination: str = ""
    commitment_timeout_s: float = 60.0
    username: str = ""
    password_env: str = ""
    bearer_token_env: str = ""
    folder_layout: str = "{PatientID}/{StudyInstanceUID}/{SOPInstanceUID}.dcm"
    print: PrintPreset = field(default_factory=PrintPreset)

    @property
    def address(self) -> str:
        """``AET@host:port``, the dcm4che convention."""
        return f"{self.ae_title}@{self.host}:{self.port}"

    def network(self, defaults: NetworkSettings) -> NetworkSettings:
        """The timeouts and PDU size in force for this destination."""
        overrides = {
            name: value
            for name in (
                "connect_timeout_s",
                "acse_timeout_s",
                "dimse_timeout_s",
                "network_timeout_s",
                "max_pdu_bytes",
            )
            if (value := getattr(self, name)) is not None
        }
        return replace(defaults, **overrides)


#: The video transfer syntaxes a ``transcode_ladder`` may name: settings name -> (enum name,
#: UID, fragmentable UID or ""). Mirrors :class:`izer.encode.video.VideoSyntax` (config may
#: not import the encoders; a test keeps the two in step).
VIDEO_SYNTAX_NAMES: dict[str, tuple[str, str, str]] = {
    "mpeg2-mpml": ("MPEG2_MPML", "1.2.840.10008.1.2.4.100", "1.2.840.10008.1.2.4.100.1"),
    "mpeg2-mphl": ("MPEG2_MPHL", "1.2.840.10008.1.2.4.101", "1.2.840.10008.1.2.4.101.1"),
    "h264-hp41": ("H264_HP41", "1.2.840.10008.1.2.4.102", "1.2.840.10008.1.2.4.102.1"),
    "h264-hp41-bd": ("H264_HP41_BD", "1.2.840.10008.1.2.4.103", "1.2.840.10008.1.2.4.103.1"),
    "h264-hp42": ("H264_HP42_2D", "1.2.840.10008.1.2.4.104", "1.2.840.10008.1.2.4.104.1"),
    "hevc-main": ("HEVC_MAIN", "1.2.840.10008.1.2.4.107", ""),
    "hevc-main10": ("HEVC_MAIN10", "1.2.840.10008.1.2.4.108", ""),
}


def video_syntax_known(text: str) -> bool:
    """Whether ``text`` names a video transfer syntax as ``VideoSyntax.from_text`` reads it
    (settings name, enum name or either UID; case and ``_``/``-`` do not matter)."""
    wanted = text.strip().lower().replace("_", "-")
    for name, (enum_name, uid, fragmentable) in VIDEO_SYNTAX_NAMES.items():
        keys = {name, enum_name.lower().replace("_", "-"), uid, fragmentable}
        if wanted in keys - {""}:
            return True
    return False


@dataclass(frozen=True)
class DispatchSettings:
    """Sending: what goes where automatically, retries, and how long local files stay."""

    auto_send: tuple[str, ...] = ()
    backoff_base_s: float = 5.0
    backoff_cap_s: float = 600.0
    max_attempts: int = 10
    retention_days: int = 0


@dataclass(frozen=True)
class ReportSettings:
    """The PDF procedure report (``izer report``): its look and where it goes."""

    layout: str = "portrait-6"
    page_size: str = "A4"
    title: str = "Procedure report"
    logo: str = ""
    institution_address: str = ""
    clinician: str = ""
    system_printer: str = ""


class ExportStillFormat(enum.StrEnum):
    """How ``[[auto_export]]`` writes stills."""

    JPEG = "jpeg"
    PNG = "png"


#: The default folder pattern of an ``[[auto_export]]`` rule (the example of issue 11).
DEFAULT_AUTO_EXPORT_PATTERN = "{PatientID}_{PatientName}/{StudyDate}_{AccessionNumber}"


@dataclass(frozen=True)
class AutoExportRule:
    """One ``[[auto_export]]`` table: received studies to export as ordinary files.

    A study received by ``izer serve`` (from any sender, or from ``calling_aets``) that has
    been quiet for ``quiet_seconds`` is exported to ``folder/<pattern folders>/``: video as
    MP4, stills as ``stills`` (JPEG at ``quality``, or PNG); then queued to the ``forward``
    destinations.
    """

    name: str
    folder: str
    pattern: str = DEFAULT_AUTO_EXPORT_PATTERN
    quiet_seconds: float = 30.0
    stills: ExportStillFormat = ExportStillFormat.JPEG
    quality: int = 95
    forward: tuple[str, ...] = ()
    calling_aets: tuple[str, ...] = ()

    def applies_to(self, calling_aet: str) -> bool:
        """Whether studies sent by ``calling_aet`` fall under this rule."""
        return not self.calling_aets or calling_aet.strip() in {
            aet.strip() for aet in self.calling_aets
        }


#: Placeholders of ``[worklist] unscheduled_id_pattern`` and ``accession_pattern``.
IDENTIFIER_FIELDS: dict[str, str] = {
    "date": "the local date, YYYYMMDD",
    "time": "the local time, HHMMSS",
    "random": "4 random characters 0-9 and A-Z",
    "station": "the station's AE title (characters other than A-Z, 0-9, '-' and '_' left out)",
    "stamp": "12 base-36 characters: 9 from the time in milliseconds, 3 from the AE title",
}
#: Placeholders that make each expansion different (a pattern needs one of them).
IDENTIFIER_UNIQUE_FIELDS = ("time", "random", "stamp")
_BASE36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _base36(number: int, width: int) -> str:
    digits = []
    for _ in range(width):
        number, digit = divmod(number, 36)
        digits.append(_BASE36[digit])
    return "".join(reversed(digits))


def expand_identifier(pattern: str, *, now: datetime, station_ae: str, random_text: str) -> str:
    """Expand an identifier pattern (see :data:`IDENTIFIER_FIELDS`).

    ``random_text`` gives ``{random}`` (4 characters of the caller's choice); the rest comes
    from ``now`` and ``station_ae``. The pattern is assumed checked (the loader does).
    """
    station = "".join(ch for ch in station_ae.upper() if ch.isalnum() or ch in "-_")
    millis = int(now.timestamp() * 1000)
    digest = sum((index + 1) * ord(ch) for index, ch in enumerate(station_ae)) % (36**3)
    return pattern.format(
        date=now.strftime("%Y%m%d"),
        time=now.strftime("%H%M%S"),
        random=random_text[:4].upper(),
        station=station,
        stamp=_base36(millis, 9) + _base36(digest, 3),
    )


@dataclass(frozen=True)
class WorklistSettings:
    """The Modality Worklist query and the unscheduled (emergency) path.

    ``providers`` empty means every destination with role ``worklist``; ``station_ae`` empty
    means the station's own AE title; ``date_range`` is ``today``, ``any``, ``YYYYMMDD`` or
    ``YYYYMMDD-YYYYMMDD``.
    """

    providers: tuple[str, ...] = ()
    modality: str = "ES"
    date_range: str = "today"
    station_ae: str = ""
    fallback_charset: str = "ISO_IR 100"
    result_cap: int = 500
    refresh_s: float = 60.0
    unscheduled_id_pattern: str = "TMP-{date}-{time}-{random}"
    accession_pattern: str = "{stamp}"


@dataclass(frozen=True)
class Settings:
    """All of izer's settings."""

    station: StationSettings
    storage: StorageSettings = field(default_factory=StorageSettings)
    network: NetworkSettings = field(default_factory=NetworkSettings)
    listener: ListenerSettings = field(default_factory=ListenerSettings)
    capture: CaptureSettings = field(default_factory=CaptureSettings)
    dispatch: DispatchSettings = field(default_factory=DispatchSettings)
    worklist: WorklistSettings = field(default_factory=WorklistSettings)
    report: ReportSettings = field(default_factory=ReportSettings)
    destinations: tuple[Destination, ...] = ()
    auto_export: tuple[AutoExportRule, ...] = ()

    def destination(self, name: str) -> Destination | None:
        """The configured destination called ``name`` (case-insensitive), if any."""
        wanted = name.casefold()
        return next((d for d in self.destinations if d.name.casefold() == wanted), None)
