"""Start and stop real third-party DICOM servers for integration tests.

`PeerSet` launches Orthanc and several DCMTK servers on free loopback ports, each in
its own folder under a run directory, waits until each one answers a C-ECHO and stops
them again by recorded PID::

    with PeerSet(tmp_path) as peers:
        started = peers.start(["orthanc", "storescp"])
        print(started["orthanc"].address)   # ORTHANC@127.0.0.1:40123

Every peer's command line contains the run directory, which `stop` checks in
``/proc/PID/cmdline`` before it signals anything, so a reused PID is never hit.

Besides `ALL_PEERS`, a few optional peers start only when asked for (`OPTIONAL_PEERS`):
``orthanc_secure`` (DICOM TLS, HTTP basic authentication, DICOMweb) and DCMTK storescp
over TLS (``storescp_tls``, ``storescp_tls_client`` requiring a client certificate,
``storescp_tls_expired`` and ``storescp_tls_untrusted``). Their keys and certificates are
made with ``openssl`` into ``<run_dir>/pki`` by `make_peer_pki` (`PeerSet.pki`); none is
ever committed. Two MPPS SCPs are optional too (test-peers.md §4): ``mpps_pynetdicom``
(``tests/peers/mpps_pynetdicom.py``) and ``mpps_node`` (``tests/peers/node_peers/mpps_scp.js``
on dcmjs-dimse, a DIMSE stack independent of pynetdicom; its ``node_modules`` come from
``npm ci`` in that folder, done by ``installer/setup.sh test``). Both write what they
receive into `Peer.data_dir` as ``<uid>.000N.{create,set}.dcm`` and ``<uid>.state.dcm``.
Two Print SCPs on dcmjs-dimse are optional as well (``tests/peers/node_peers/print_scp.js``,
PS3.4 Annex H): ``print_node`` accepts the Basic Color and the Basic Grayscale Print
Management Meta SOP Classes, ``print_node_gray`` (``--gray-only``) the grayscale one only. Each
printed film lands in `Peer.data_dir` as ``film_NNNN/`` holding ``filmbox.json`` and one
``imagebox_<position>.dcm`` per image box set.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import json
import logging
import os
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Self

from pynetdicom import AE
from pynetdicom.sop_class import Verification

from tests.helpers.binaries import install_hint, missing_binaries
from tests.peers.worklist import WorklistItem, write_default_worklist, write_worklist_item

__all__ = [
    "ALL_PEERS",
    "OPTIONAL_PEERS",
    "PEER_AETS",
    "PEER_BINARIES",
    "CertKey",
    "MissingBinaryError",
    "Peer",
    "PeerError",
    "PeerPki",
    "PeerSet",
    "PeerStartError",
    "PortInUseError",
    "WorklistItem",
    "c_echo",
    "free_port",
    "make_peer_pki",
    "mpps_node_hint",
    "mpps_node_ready",
    "port_in_use",
    "stop_recorded_peers",
    "write_worklist_item",
]

TEMPLATES = Path(__file__).resolve().parent / "templates"
ORTHANC_BIN = Path("/usr/sbin/Orthanc")
ORTHANC_WORKLIST_PLUGIN = Path("/usr/share/orthanc/plugins/libModalityWorklists.so")
#: GDCM decoder plugin (package orthanc-gdcm): lets Orthanc decode JPEG 2000 for previews.
ORTHANC_GDCM_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancGdcm.so")
#: DICOMweb plugin (package orthanc-dicomweb): STOW-RS/QIDO-RS/WADO-RS under /dicom-web/.
ORTHANC_DICOMWEB_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")
OPENSSL_BIN = Path("/usr/bin/openssl")
NODE_BIN = Path("/usr/bin/node")
#: The Node test peers (dcmjs-dimse): scripts, package.json, package-lock.json, node_modules.
NODE_PEERS_DIR = Path(__file__).resolve().parent / "node_peers"
MPPS_PYNETDICOM_SCRIPT = Path(__file__).resolve().parent / "mpps_pynetdicom.py"

#: AE title of every supported peer, keyed by peer name.
PEER_AETS: dict[str, str] = {
    "orthanc": "ORTHANC",
    "storescp": "STORESCP",
    "wlmscpfs": "WLMSCP",
    "dcmprscp": "PRINTSCP",
    "dcmqrscp": "QRSCP",
}
#: Binary each peer needs (always absolute: venvs shadow DCMTK names on PATH).
PEER_BINARIES: dict[str, Path] = {
    "orthanc": ORTHANC_BIN,
    "storescp": Path("/usr/bin/storescp"),
    "wlmscpfs": Path("/usr/bin/wlmscpfs"),
    "dcmprscp": Path("/usr/bin/dcmprscp"),
    "dcmqrscp": Path("/usr/bin/dcmqrscp"),
}
ALL_PEERS: tuple[str, ...] = tuple(PEER_AETS)

#: TLS storescp variants: name -> (AE title, `PeerPki` attribute of its server certificate,
#: whether it requires a client certificate signed by the test CA).
TLS_STORESCP_VARIANTS: dict[str, tuple[str, str, bool]] = {
    "storescp_tls": ("TLSSCP", "server", False),
    "storescp_tls_client": ("TLSCLIENTSCP", "server", True),
    "storescp_tls_expired": ("TLSEXPIREDSCP", "expired_server", False),
    "storescp_tls_untrusted": ("TLSUNTRUSTSCP", "untrusted_server", False),
}
#: AE title of every optional peer (started only on request, never by `ALL_PEERS`).
OPTIONAL_PEER_AETS: dict[str, str] = {
    "orthanc_secure": "ORTHANCSEC",
    **{name: variant[0] for name, variant in TLS_STORESCP_VARIANTS.items()},
    "mpps_pynetdicom": "MPPSSCP",
    "mpps_node": "MPPSNODE",
    "print_node": "PRINTNODE",
    "print_node_gray": "PRINTGRAY",
}
OPTIONAL_PEER_BINARIES: dict[str, Path] = {
    "orthanc_secure": ORTHANC_BIN,
    **{name: PEER_BINARIES["storescp"] for name in TLS_STORESCP_VARIANTS},
    "mpps_pynetdicom": Path(sys.executable),
    "mpps_node": NODE_BIN,
    "print_node": NODE_BIN,
    "print_node_gray": NODE_BIN,
}
#: Optional peers that need no test certificates.
_WITHOUT_PKI = frozenset({"mpps_pynetdicom", "mpps_node", "print_node", "print_node_gray"})
OPTIONAL_PEERS: tuple[str, ...] = tuple(OPTIONAL_PEER_AETS)
#: User name of ``orthanc_secure``'s HTTP basic authentication (the password is random).
SECURE_HTTP_USER = "izer"

DEFAULT_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0
POLL_INTERVAL = 0.1
PROBE_AET = "IZERPROBE"

_log = logging.getLogger(__name__)
_PLACEHOLDER = re.compile(r"@([A-Z][A-Z0-9_]*)@")


class PeerError(RuntimeError):
    """Base class for peer harness failures."""


class MissingBinaryError(PeerError):
    """A peer's executable (or plugin) is not installed."""

    def __init__(self, missing: list[Path]) -> None:
        self.missing = missing
        super().__init__(install_hint(missing))


class PortInUseError(PeerError):
    """A requested port is already bound by someone else."""


class PeerStartError(PeerError):
    """A peer died or did not answer in time; the message holds its log tail."""


@dataclass(frozen=True)
class Peer:
    """A running DICOM peer.

    Attributes
    ----------
    name
        Harness name (``"orthanc"``, ``"storescp"`` ...).
    aet
        Its AE title (the called AE to use).
    port
        DICOM port on `host`.
    folder
        Folder holding its config, log and results.
    host
        Always ``"127.0.0.1"``.
    http_port
        REST port (Orthanc only).
    http_auth
        ``(user, password)`` the REST API and DICOMweb require (``orthanc_secure``), else None.
    dicomweb_url
        DICOMweb root without trailing slash (Orthanc with its DICOMweb plugin), else None.
    tls
        True when the DICOM port speaks TLS only.
    data_dir
        Where received objects land (storescp files, dcmqrscp/dcmprscp database,
        Orthanc storage area).
    worklist_dir
        Folder of ``.wl`` files it serves (wlmscpfs, Orthanc), else None.
    log_path
        stdout/stderr of the process.
    pid
        Process id.
    """

    name: str
    aet: str
    port: int
    folder: Path
    host: str = "127.0.0.1"
    http_port: int | None = None
    http_auth: tuple[str, str] | None = field(default=None, repr=False)
    dicomweb_url: str | None = None
    tls: bool = False
    data_dir: Path | None = None
    worklist_dir: Path | None = None
    log_path: Path | None = None
    pid: int | None = field(default=None, compare=False)

    @property
    def address(self) -> str:
        """``AET@host:port``."""
        return f"{self.aet}@{self.host}:{self.port}"

    @property
    def http_url(self) -> str | None:
        """Base REST URL (Orthanc only), without trailing slash."""
        return None if self.http_port is None else f"http://{self.host}:{self.http_port}"

    def log_tail(self, lines: int = 40) -> str:
        """Return the last *lines* lines of the peer's log."""
        return _tail(self.log_path, lines) if self.log_path else ""


@dataclass
class _Launch:
    """What `PeerSet` needs to launch and probe one peer."""

    peer: Peer
    argv: list[str]
    proc: subprocess.Popen[bytes] | None = None
    probe_tls: ssl.SSLContext | None = None


# --------------------------------------------------------------------------- ports


def free_port(exclude: Iterable[int] = ()) -> int:
    """Return a currently free TCP port on 127.0.0.1 that is not in *exclude*."""
    excluded = set(exclude)
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port not in excluded:
            return port


def port_in_use(port: int) -> bool:
    """Return True if something listens on *port* or it cannot be bound on 0.0.0.0."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        if sock.connect_ex(("127.0.0.1", port)) == 0:
            return True
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            return True
    return False


# --------------------------------------------------------------------------- probes


@contextlib.contextmanager
def _quiet_pynetdicom() -> Iterator[None]:
    """Silence pynetdicom's connection-refused errors while polling."""
    logger = logging.getLogger("pynetdicom")
    old = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(old)


def c_echo(
    host: str,
    port: int,
    called_aet: str,
    calling_aet: str = PROBE_AET,
    timeout: float = 2.0,
    tls: ssl.SSLContext | None = None,
) -> bool:
    """Send one C-ECHO with pynetdicom (over TLS with *tls*); return True on status 0x0000."""
    ae = AE(ae_title=calling_aet)
    ae.add_requested_context(Verification)
    ae.acse_timeout = timeout
    ae.dimse_timeout = timeout
    ae.network_timeout = timeout
    ae.connection_timeout = timeout
    with _quiet_pynetdicom():
        tls_args = (tls, None) if tls is not None else None
        assoc = ae.associate(host, port, ae_title=called_aet, tls_args=tls_args)
        if not assoc.is_established:
            return False
        try:
            status = assoc.send_c_echo()
        finally:
            assoc.release()
    return bool(status) and status.Status == 0x0000


def _http_ok(url: str, timeout: float = 1.0, auth: tuple[str, str] | None = None) -> bool:
    request = urllib.request.Request(url, headers=_basic_auth_header(auth))
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _basic_auth_header(auth: tuple[str, str] | None) -> dict[str, str]:
    if auth is None:
        return {}
    token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode("ascii")
    return {"Authorization": f"Basic {token}"}


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])


# --------------------------------------------------------------------------- processes


def _cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode("utf-8", errors="replace")


def _marker(run_dir: Path) -> str:
    """Command-line fragment that identifies processes of *run_dir* (``<run_dir>/``)."""
    return f"{run_dir}{os.sep}"


def _owned_group(pgid: int, marker: str) -> list[int]:
    """Return live processes of process group *pgid* whose command line has *marker*."""
    members = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) < 3 or int(fields[2]) != pgid or fields[0] == "Z":
            continue
        pid = int(entry.name)
        if marker in _cmdline(pid):
            members.append(pid)
    return members


def _signal_all(pids: Iterable[int], sig: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def _stop_pid(
    pid: int,
    marker: str,
    proc: subprocess.Popen[bytes] | None = None,
    timeout: float = STOP_TIMEOUT,
) -> None:
    """SIGTERM a peer (and its forked children), SIGKILL after *timeout* seconds.

    Only processes in the process group led by *pid* whose ``/proc/PID/cmdline``
    contains *marker* (the run directory) are signalled.
    """
    members = _owned_group(pid, marker)
    _signal_all(members, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while members and time.monotonic() < deadline:
        if proc is not None:
            proc.poll()
        time.sleep(0.05)
        members = _owned_group(pid, marker)
    if members:
        _log.warning("peer pid %s ignored SIGTERM for %.0f s; killing", pid, timeout)
        _signal_all(members, signal.SIGKILL)
        kill_deadline = time.monotonic() + 5
        while _owned_group(pid, marker) and time.monotonic() < kill_deadline:
            time.sleep(0.05)
    if proc is not None:
        try:
            proc.wait(timeout=1)
        except subprocess.TimeoutExpired:
            _log.error("peer pid %s could not be reaped", pid)


def stop_recorded_peers(run_dir: Path, timeout: float = STOP_TIMEOUT) -> list[str]:
    """Stop every peer recorded under ``<run_dir>/pids`` (e.g. left by a crashed run).

    Returns
    -------
    list[str]
        Names whose PID file was processed.
    """
    run_dir = Path(run_dir).resolve()
    pid_files = sorted((run_dir / "pids").glob("*.pid"))
    threads = []
    for pid_file in pid_files:
        try:
            pid = int(pid_file.read_text().strip())
        except ValueError:
            _log.warning("ignoring unreadable pid file %s", pid_file)
            continue
        thread = threading.Thread(target=_stop_pid, args=(pid, _marker(run_dir), None, timeout))
        thread.start()
        threads.append(thread)
    for thread in threads:
        thread.join()
    for pid_file in pid_files:
        pid_file.unlink(missing_ok=True)
    return [p.stem for p in pid_files]


# --------------------------------------------------------------------------- templates


def render_template(name: str, dest: Path, values: Mapping[str, object]) -> Path:
    """Render ``templates/<name>`` into *dest*, replacing ``@KEY@`` with ``values[KEY]``."""
    text = (TEMPLATES / name).read_text(encoding="utf-8")

    def substitute(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            raise KeyError(f"template {name} needs a value for @{key}@")
        return str(values[key])

    dest.write_text(_PLACEHOLDER.sub(substitute, text), encoding="utf-8")
    return dest


# --------------------------------------------------------------------------- TLS keys


@dataclass(frozen=True)
class CertKey:
    """A PEM certificate and its unencrypted PEM private key."""

    cert: Path
    key: Path


@dataclass(frozen=True)
class PeerPki:
    """Throw-away certificates for DICOM TLS and HTTPS tests (see `make_peer_pki`).

    Attributes
    ----------
    folder
        Where everything lives (inside the test session's run directory).
    ca
        Certificate of the test CA that izer is told to trust.
    server
        Server certificate from `ca` for ``localhost`` and ``127.0.0.1``, valid 2 days.
    client
        Client certificate from `ca` (extended key usage clientAuth).
    expired_server
        Like `server` but valid only in January 2020.
    untrusted_ca
        A second CA that izer is never told to trust.
    untrusted_server, untrusted_client
        Certificates from `untrusted_ca`.
    """

    folder: Path
    ca: Path
    server: CertKey
    client: CertKey
    expired_server: CertKey
    untrusted_ca: Path
    untrusted_server: CertKey
    untrusted_client: CertKey


#: openssl arguments for a new unencrypted key: EC P-256 (milliseconds, unlike RSA).
_NEW_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]


def _openssl(args: list[str], cwd: Path) -> None:
    result = subprocess.run(
        [str(OPENSSL_BIN), *args], cwd=cwd, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise PeerError(f"openssl {args[0]} failed in {cwd}: {result.stderr.strip()}")


def _new_ca(folder: Path, common_name: str) -> Path:
    """Create a self-signed CA (EC P-256, 3 days) in its own *folder*; return its cert."""
    folder.mkdir(parents=True)
    (folder / "issued").mkdir()
    (folder / "index.txt").write_bytes(b"")
    shutil.copyfile(TEMPLATES / "openssl-ca.cnf", folder / "ca.cnf")
    _openssl(
        ["req", "-x509", "-config", "ca.cnf", "-extensions", "ca_ext", *_NEW_KEY,
         "-keyout", "ca.key", "-out", "ca.pem", "-days", "3", "-subj", f"/CN={common_name}"],
        folder,
    )  # fmt: skip
    return folder / "ca.pem"


def _issue(
    ca_folder: Path, name: str, common_name: str, extensions: str, validity: list[str]
) -> CertKey:
    """Make a key and have the CA in *ca_folder* sign its certificate (``openssl ca``)."""
    _openssl(
        ["req", "-new", "-config", "ca.cnf", *_NEW_KEY, "-keyout", f"{name}.key",
         "-out", f"{name}.csr", "-subj", f"/CN={common_name}"],
        ca_folder,
    )  # fmt: skip
    _openssl(
        ["ca", "-config", "ca.cnf", "-batch", "-notext", "-cert", "ca.pem", "-keyfile",
         "ca.key", "-in", f"{name}.csr", "-out", f"{name}.pem", "-extensions", extensions,
         *validity],
        ca_folder,
    )  # fmt: skip
    return CertKey(ca_folder / f"{name}.pem", ca_folder / f"{name}.key")


def make_peer_pki(folder: Path) -> PeerPki:
    """Generate the test CAs and certificates of `PeerPki` into *folder* with openssl.

    Server certificates name ``localhost`` and ``127.0.0.1`` (subjectAltName). The expired
    one is signed with ``openssl ca -startdate/-enddate`` in 2020, so no clock faking is
    needed. Keys are EC P-256; the whole set takes about 0.1 s.

    Raises
    ------
    MissingBinaryError
        When ``/usr/bin/openssl`` is not installed (Debian package ``openssl``).
    PeerError
        When an openssl command fails (its stderr is in the message).
    """
    missing = missing_binaries(OPENSSL_BIN)
    if missing:
        raise MissingBinaryError(missing)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    two_days = ["-days", "2"]
    ca_dir, other_dir = folder / "ca", folder / "untrusted-ca"
    ca = _new_ca(ca_dir, "izer test CA")
    untrusted_ca = _new_ca(other_dir, "izer untrusted test CA")
    return PeerPki(
        folder=folder,
        ca=ca,
        server=_issue(ca_dir, "server", "localhost", "server_ext", two_days),
        client=_issue(ca_dir, "client", "izer test client", "client_ext", two_days),
        expired_server=_issue(
            ca_dir,
            "expired-server",
            "localhost",
            "server_ext",
            ["-startdate", "20200101000000Z", "-enddate", "20200201000000Z"],
        ),
        untrusted_ca=untrusted_ca,
        untrusted_server=_issue(other_dir, "server", "localhost", "server_ext", two_days),
        untrusted_client=_issue(other_dir, "client", "izer rogue client", "client_ext", two_days),
    )


def _probe_context(client: CertKey | None) -> ssl.SSLContext:
    """A TLS client context for readiness probes: no verification, optional client cert."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    if client is not None:
        context.load_cert_chain(client.cert, client.key)
    return context


def mpps_node_ready() -> bool:
    """True when node and the Node test peers' ``node_modules`` (dcmjs-dimse) are installed.

    The Node Print SCPs (``print_node``, ``print_node_gray``) need the same.
    """
    return NODE_BIN.is_file() and (NODE_PEERS_DIR / "node_modules" / "dcmjs-dimse").is_dir()


def mpps_node_hint() -> str:
    """What to run when `mpps_node_ready` is False."""
    if not NODE_BIN.is_file():
        return (
            f"missing {NODE_BIN} (Debian packages nodejs and npm). "
            "Fix: sudo apt-get install -y nodejs npm, then "
            f"(cd {NODE_PEERS_DIR} && npm ci --omit=dev)"
        )
    return (
        f"dcmjs-dimse is not installed in {NODE_PEERS_DIR}/node_modules. "
        f"Fix: (cd {NODE_PEERS_DIR} && npm ci --omit=dev), or bash installer/setup.sh test"
    )


# --------------------------------------------------------------------------- peer set


class PeerSet:
    """A group of real DICOM peers living under one run directory.

    Parameters
    ----------
    run_dir
        Folder for every peer's config, data and log; created if missing. Its path
        appears on every peer's command line (used as the PID-reuse guard).
    listener_aet
        AE title of the tests' own listener (izer); peers that call back
        (Orthanc storage commitment, dcmqrscp C-MOVE) know it under this title.
    listener_port
        Port that listener will use on 127.0.0.1; a free one is picked if None.
    timeout
        Seconds each start may take; defaults to env ``PEERS_TIMEOUT`` or 30.
    """

    def __init__(
        self,
        run_dir: Path,
        listener_aet: str = "IZERTEST",
        listener_port: int | None = None,
        timeout: float | None = None,
    ) -> None:
        self.run_dir = Path(run_dir).resolve()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.listener_aet = listener_aet
        self.listener_port = listener_port if listener_port is not None else free_port()
        if timeout is None:
            timeout = float(os.environ.get("PEERS_TIMEOUT", DEFAULT_TIMEOUT))
        self.timeout = timeout
        self.peers: dict[str, Peer] = {}
        self._launches: dict[str, _Launch] = {}
        self._used_ports: set[int] = {self.listener_port}
        self._lock = threading.Lock()
        self._pki: PeerPki | None = None

    # -- public ---------------------------------------------------------------------

    @property
    def listener_address(self) -> str:
        """``AET@127.0.0.1:port`` of the tests' listener."""
        return f"{self.listener_aet}@127.0.0.1:{self.listener_port}"

    @property
    def pki(self) -> PeerPki:
        """The test certificates under ``<run_dir>/pki``, made on first use (`make_peer_pki`)."""
        if self._pki is None:
            folder = self.run_dir / "pki"
            if folder.exists():
                shutil.rmtree(folder)
            self._pki = make_peer_pki(folder)
        return self._pki

    @property
    def pid_dir(self) -> Path:
        """Folder with one ``<name>.pid`` file per running peer."""
        return self.run_dir / "pids"

    def __getitem__(self, name: str) -> Peer:
        return self.peers[name]

    def __contains__(self, name: object) -> bool:
        return name in self.peers

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(
        self, names: Iterable[str], ports: Mapping[str, int] | None = None
    ) -> dict[str, Peer]:
        """Start the named peers and wait until each answers a C-ECHO.

        Parameters
        ----------
        names
            Any of `ALL_PEERS` or `OPTIONAL_PEERS`. Peers already running are returned as
            they are.
        ports
            Force DICOM ports per peer name; ``"orthanc_http"`` (``"orthanc_secure_http"``)
            forces Orthanc's REST port. A forced port that is taken raises `PortInUseError`.

        Returns
        -------
        dict[str, Peer]
            The requested peers by name.

        Raises
        ------
        MissingBinaryError, PortInUseError, PeerStartError
            Nothing started by this call is left running when it raises.
        """
        names = list(dict.fromkeys(names))
        unknown = [n for n in names if n not in PEER_AETS and n not in OPTIONAL_PEER_AETS]
        if unknown:
            raise ValueError(
                f"unknown peer(s) {unknown}; choose from {list(ALL_PEERS + OPTIONAL_PEERS)}"
            )
        new = [n for n in names if n not in self.peers]
        needed = [{**PEER_BINARIES, **OPTIONAL_PEER_BINARIES}[n] for n in new]
        if "orthanc" in new:
            needed += [ORTHANC_WORKLIST_PLUGIN, ORTHANC_GDCM_PLUGIN]
        if "orthanc_secure" in new:
            needed.append(ORTHANC_DICOMWEB_PLUGIN)
        if any(n in OPTIONAL_PEER_AETS and n not in _WITHOUT_PKI for n in new):
            needed.append(OPENSSL_BIN)
        missing = missing_binaries(*needed)
        if missing:
            raise MissingBinaryError(missing)

        ports = dict(ports or {})
        for key, port in ports.items():
            if port_in_use(port):
                raise PortInUseError(f"port {port} requested for {key} is already in use")
            self._used_ports.add(port)

        launched: list[str] = []
        try:
            for name in new:
                launch = self._prepare(name, ports)
                self._spawn(launch)
                launched.append(name)
            deadline = time.monotonic() + self.timeout
            for name in launched:
                self._wait_ready(self._launches[name], deadline)
        except BaseException:
            self._stop_names(launched)
            raise
        return {n: self.peers[n] for n in names}

    def stop(self) -> None:
        """Stop every peer of this set in parallel (SIGTERM, SIGKILL after 15 s)."""
        self._stop_names(list(self._launches))

    def write_worklist_item(self, filename: str, **kwargs: object) -> list[Path]:
        """Write one worklist item into every running worklist peer (wlmscpfs, Orthanc).

        Parameters
        ----------
        filename
            File name such as ``"ACC42.wl"``.
        **kwargs
            Arguments of `tests.peers.worklist.write_worklist_item`; ``station_aet``
            defaults to `listener_aet`.
        """
        kwargs.setdefault("station_aet", self.listener_aet)
        paths = []
        for peer in self.peers.values():
            if peer.worklist_dir is not None:
                path = peer.worklist_dir / filename
                write_worklist_item(path, **kwargs)  # type: ignore[arg-type]
                paths.append(path)
        return paths

    # -- internals ------------------------------------------------------------------

    def _port(self, key: str, ports: Mapping[str, int]) -> int:
        if key in ports:
            return ports[key]
        with self._lock:
            port = free_port(self._used_ports)
            while port_in_use(port):
                port = free_port(self._used_ports | {port})
            self._used_ports.add(port)
        return port

    def _prepare(self, name: str, ports: Mapping[str, int]) -> _Launch:
        folder = self.run_dir / name
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        aet = PEER_AETS.get(name) or OPTIONAL_PEER_AETS[name]
        port = self._port(name, ports)
        log_path = folder / f"{name}.log"
        if name in TLS_STORESCP_VARIANTS:
            return self._prepare_storescp_tls(name, aet, port, folder, log_path)
        builder = getattr(self, f"_prepare_{name}")
        return builder(aet, port, folder, log_path, ports)

    def _prepare_orthanc(
        self, aet: str, port: int, folder: Path, log_path: Path, ports: Mapping[str, int]
    ) -> _Launch:
        return self._orthanc_launch("orthanc", aet, port, folder, log_path, ports, secure=False)

    def _prepare_orthanc_secure(
        self, aet: str, port: int, folder: Path, log_path: Path, ports: Mapping[str, int]
    ) -> _Launch:
        return self._orthanc_launch(
            "orthanc_secure", aet, port, folder, log_path, ports, secure=True
        )

    def _orthanc_launch(
        self,
        name: str,
        aet: str,
        port: int,
        folder: Path,
        log_path: Path,
        ports: Mapping[str, int],
        *,
        secure: bool,
    ) -> _Launch:
        """Orthanc; *secure* adds DICOM TLS (test CA) and HTTP basic authentication.

        The DICOMweb plugin is loaded when installed (``orthanc_secure`` requires it and
        loads neither the worklist nor the GDCM plugin). Orthanc 1.10.1 (Debian 12) dies
        on its first HTTPS request (exit 139), so REST and DICOMweb stay plain HTTP.
        """
        http_port = self._port(f"{name}_http", ports)
        storage = folder / "storage"
        worklists = folder / "worklists"
        for path in (storage, worklists):
            path.mkdir()
        write_default_worklist(worklists, self.listener_aet)
        plugins = [] if secure else [ORTHANC_WORKLIST_PLUGIN, ORTHANC_GDCM_PLUGIN]
        web = ORTHANC_DICOMWEB_PLUGIN.is_file()
        if web:
            plugins.append(ORTHANC_DICOMWEB_PLUGIN)
        auth = (SECURE_HTTP_USER, secrets.token_urlsafe(12)) if secure else None
        pki = self.pki if secure else None
        config = render_template(
            "orthanc.json.in",
            folder / "orthanc.json",
            {
                "AET": json.dumps(aet),
                "DICOM_PORT": port,
                "HTTP_PORT": http_port,
                "STORAGE_DIR": json.dumps(str(storage)),
                "INDEX_DIR": json.dumps(str(storage)),
                "PLUGINS": json.dumps([str(plugin) for plugin in plugins]),
                "WORKLIST_DIR": json.dumps(str(worklists)),
                "LISTENER_AET": json.dumps(self.listener_aet),
                "LISTENER_PORT": self.listener_port,
                "AUTH_ENABLED": json.dumps(secure),
                "REGISTERED_USERS": json.dumps(dict([auth]) if auth else {}),
                "DICOM_TLS_ENABLED": json.dumps(secure),
                "DICOM_TLS_CERT": json.dumps(str(pki.server.cert) if pki else ""),
                "DICOM_TLS_KEY": json.dumps(str(pki.server.key) if pki else ""),
                "DICOM_TLS_CA": json.dumps(str(pki.ca) if pki else ""),
            },
        )
        json.loads(config.read_text(encoding="utf-8"))  # fail early on a broken template
        peer = Peer(
            name, aet, port, folder, http_port=http_port, http_auth=auth,
            dicomweb_url=f"http://127.0.0.1:{http_port}/dicom-web" if web else None,
            tls=secure, data_dir=storage, worklist_dir=None if secure else worklists,
            log_path=log_path,
        )  # fmt: skip
        probe = _probe_context(None) if secure else None
        return _Launch(peer, [str(ORTHANC_BIN), str(config)], probe_tls=probe)

    def _prepare_storescp(
        self, aet: str, port: int, folder: Path, log_path: Path, ports: Mapping[str, int]
    ) -> _Launch:
        argv = [
            str(PEER_BINARIES["storescp"]), "--aetitle", aet, "+xa", "-pm", "+B", "-dhl",
            "-od", str(folder), "-fe", ".dcm", str(port),
        ]  # fmt: skip
        peer = Peer("storescp", aet, port, folder, data_dir=folder, log_path=log_path)
        return _Launch(peer, argv)

    def _prepare_storescp_tls(
        self, name: str, aet: str, port: int, folder: Path, log_path: Path
    ) -> _Launch:
        """storescp over TLS (BCP 195 non-downgrading profile, DCMTK's default)."""
        _, cert_name, require_client = TLS_STORESCP_VARIANTS[name]
        pki = self.pki
        server: CertKey = getattr(pki, cert_name)
        peer_cert = ["-rc"] if require_client else ["-ic"]
        argv = [
            str(PEER_BINARIES["storescp"]), "--aetitle", aet, "+xa", "-pm", "+B", "-dhl",
            "-od", str(folder), "-fe", ".dcm",
            "+tls", str(server.key), str(server.cert), "+cf", str(pki.ca), *peer_cert,
            str(port),
        ]  # fmt: skip
        peer = Peer(name, aet, port, folder, tls=True, data_dir=folder, log_path=log_path)
        probe = _probe_context(pki.client if require_client else None)
        return _Launch(peer, argv, probe_tls=probe)

    def _prepare_wlmscpfs(
        self, aet: str, port: int, folder: Path, log_path: Path, ports: Mapping[str, int]
    ) -> _Launch:
        database = folder / "wlm"
        worklists = database / aet
        requests = folder / "requests"
        worklists.mkdir(parents=True)
        requests.mkdir()
        (worklists / "lockfile").write_bytes(b"")
        write_default_worklist(worklists, self.listener_aet)
        argv = [
            str(PEER_BINARIES["wlmscpfs"]), "-dfp", str(database), "-dhl", "-csk",
            "-rfp", str(requests), str(port),
        ]  # fmt: skip
        peer = Peer(
            "wlmscpfs", aet, port, folder, data_dir=requests, worklist_dir=worklists,
            log_path=log_path,
        )  # fmt: skip
        return _Launch(peer, argv)

    def _prepare_dcmprscp(
        self, aet: str, port: int, folder: Path, log_path: Path, ports: Mapping[str, int]
    ) -> _Launch:
        dirs = {key: folder / key.lower() for key in ("LOG", "SPOOL", "DB")}
        for path in dirs.values():
            path.mkdir()
        config = render_template(
            "dcmpstat.cfg.in",
            folder / "dcmpstat.cfg",
            {
                "AET": aet,
                "PORT": port,
                "LOG_DIR": dirs["LOG"],
                "SPOOL_DIR": dirs["SPOOL"],
                "DB_DIR": dirs["DB"],
            },
        )
        argv = [str(PEER_BINARIES["dcmprscp"]), "-c", str(config), "-p", aet]
        peer = Peer("dcmprscp", aet, port, folder, data_dir=dirs["DB"], log_path=log_path)
        return _Launch(peer, argv)

    def _prepare_dcmqrscp(
        self, aet: str, port: int, folder: Path, log_path: Path, ports: Mapping[str, int]
    ) -> _Launch:
        database = folder / "db"
        database.mkdir()
        config = render_template(
            "dcmqrscp.cfg.in",
            folder / "dcmqrscp.cfg",
            {
                "AET": aet,
                "PORT": port,
                "DB_DIR": database,
                "LISTENER_AET": self.listener_aet,
                "LISTENER_PORT": self.listener_port,
            },
        )
        assoc_cfg = folder / "qrassoc.cfg"
        shutil.copyfile(TEMPLATES / "qrassoc.cfg", assoc_cfg)
        argv = [
            str(PEER_BINARIES["dcmqrscp"]), "-c", str(config), "-xf", str(assoc_cfg),
            "QRIn", "QROut", "-dhl",
        ]  # fmt: skip
        peer = Peer("dcmqrscp", aet, port, folder, data_dir=database, log_path=log_path)
        return _Launch(peer, argv)

    def _prepare_mpps_pynetdicom(
        self, aet: str, port: int, folder: Path, log_path: Path, ports: Mapping[str, int]
    ) -> _Launch:
        """pynetdicom MPPS SCP (test-peers.md §4), run by this Python."""
        received = folder / "mpps"
        argv = [
            sys.executable, "-u", str(MPPS_PYNETDICOM_SCRIPT), "--port", str(port),
            "--aet", aet, "--outdir", str(received),
        ]  # fmt: skip
        peer = Peer("mpps_pynetdicom", aet, port, folder, data_dir=received, log_path=log_path)
        return _Launch(peer, argv)

    def _prepare_mpps_node(
        self, aet: str, port: int, folder: Path, log_path: Path, ports: Mapping[str, int]
    ) -> _Launch:
        """MPPS SCP on dcmjs-dimse (Node.js), same behaviour as the pynetdicom one."""
        if not mpps_node_ready():
            raise PeerError(mpps_node_hint())
        received = folder / "mpps"
        argv = [
            str(NODE_BIN), str(NODE_PEERS_DIR / "mpps_scp.js"), "--port", str(port),
            "--aet", aet, "--outdir", str(received),
        ]  # fmt: skip
        peer = Peer("mpps_node", aet, port, folder, data_dir=received, log_path=log_path)
        return _Launch(peer, argv)

    def _prepare_print_node(
        self, aet: str, port: int, folder: Path, log_path: Path, ports: Mapping[str, int]
    ) -> _Launch:
        """Color and grayscale Print SCP on dcmjs-dimse (Node.js), PS3.4 Annex H."""
        return self._print_node_launch("print_node", aet, port, folder, log_path, gray_only=False)

    def _prepare_print_node_gray(
        self, aet: str, port: int, folder: Path, log_path: Path, ports: Mapping[str, int]
    ) -> _Launch:
        """The dcmjs-dimse Print SCP with ``--gray-only``: it rejects the color meta context."""
        return self._print_node_launch(
            "print_node_gray", aet, port, folder, log_path, gray_only=True
        )

    def _print_node_launch(
        self, name: str, aet: str, port: int, folder: Path, log_path: Path, *, gray_only: bool
    ) -> _Launch:
        """``node print_scp.js``; films land in ``<folder>/print/film_NNNN/``."""
        if not mpps_node_ready():
            raise PeerError(mpps_node_hint())
        films = folder / "print"
        argv = [
            str(NODE_BIN), str(NODE_PEERS_DIR / "print_scp.js"), "--port", str(port),
            "--aet", aet, "--outdir", str(films), *(["--gray-only"] if gray_only else []),
        ]  # fmt: skip
        peer = Peer(name, aet, port, folder, data_dir=films, log_path=log_path)
        return _Launch(peer, argv)

    def _spawn(self, launch: _Launch) -> None:
        peer = launch.peer
        if _marker(self.run_dir) not in " ".join(launch.argv):
            raise PeerError(f"{peer.name}: run_dir must appear on its command line")
        assert peer.log_path is not None
        with peer.log_path.open("ab") as log:
            launch.proc = subprocess.Popen(
                launch.argv,
                cwd=peer.folder,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.pid_dir.mkdir(exist_ok=True)
        (self.pid_dir / f"{peer.name}.pid").write_text(f"{launch.proc.pid}\n")
        launch.peer = dataclasses.replace(peer, pid=launch.proc.pid)
        self._launches[peer.name] = launch

    def _wait_ready(self, launch: _Launch, deadline: float) -> None:
        peer, proc = launch.peer, launch.proc
        assert proc is not None
        started = time.monotonic()
        while True:
            code = proc.poll()
            if code is not None:
                raise PeerStartError(
                    f"{peer.name} exited with status {code} during start-up "
                    f"({' '.join(launch.argv)}); log tail:\n{peer.log_tail()}"
                )
            if self._answers(peer, launch.probe_tls):
                break
            if time.monotonic() > deadline:
                raise PeerStartError(
                    f"{peer.name} did not answer C-ECHO on {peer.address} within "
                    f"{self.timeout:.0f} s (env PEERS_TIMEOUT); log tail:\n{peer.log_tail()}"
                )
            time.sleep(POLL_INTERVAL)
        _log.info("%s ready after %.2f s", peer.address, time.monotonic() - started)
        self.peers[peer.name] = peer

    @staticmethod
    def _answers(peer: Peer, tls: ssl.SSLContext | None = None) -> bool:
        if peer.http_url is not None and not _http_ok(
            f"{peer.http_url}/system", auth=peer.http_auth
        ):
            return False
        return c_echo(peer.host, peer.port, peer.aet, timeout=1.0, tls=tls)

    def _stop_names(self, names: list[str]) -> None:
        threads = []
        for name in names:
            launch = self._launches.get(name)
            if launch is None or launch.proc is None:
                continue
            thread = threading.Thread(
                target=_stop_pid,
                args=(launch.proc.pid, _marker(self.run_dir), launch.proc),
                name=f"stop-{name}",
            )
            thread.start()
            threads.append(thread)
        for thread in threads:
            thread.join()
        for name in names:
            self._launches.pop(name, None)
            self.peers.pop(name, None)
            (self.pid_dir / f"{name}.pid").unlink(missing_ok=True)
