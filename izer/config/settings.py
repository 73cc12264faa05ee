"""The settings schema: frozen dataclasses whose fields are the TOML keys.

Every key is documented, with its default, in ``docs/configuration.md``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace


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
    """izer's own SCP: ``izer serve`` and the receiver of storage-commitment reports."""

    port: int = 11112
    allowed_calling_aets: tuple[str, ...] = ()


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


@dataclass(frozen=True)
class Settings:
    """All of izer's settings."""

    station: StationSettings
    storage: StorageSettings = field(default_factory=StorageSettings)
    network: NetworkSettings = field(default_factory=NetworkSettings)
    listener: ListenerSettings = field(default_factory=ListenerSettings)
    destinations: tuple[Destination, ...] = ()

    def destination(self, name: str) -> Destination | None:
        """The configured destination called ``name`` (case-insensitive), if any."""
        wanted = name.casefold()
        return next((d for d in self.destinations if d.name.casefold() == wanted), None)
