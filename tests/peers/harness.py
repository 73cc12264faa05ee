"""Start and stop real third-party DICOM servers for integration tests.

`PeerSet` launches Orthanc and several DCMTK servers on free loopback ports, each in
its own folder under a run directory, waits until each one answers a C-ECHO and stops
them again by recorded PID::

    with PeerSet(tmp_path) as peers:
        started = peers.start(["orthanc", "storescp"])
        print(started["orthanc"].address)   # ORTHANC@127.0.0.1:40123

Every peer's command line contains the run directory, which `stop` checks in
``/proc/PID/cmdline`` before it signals anything, so a reused PID is never hit.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
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
    "PEER_AETS",
    "PEER_BINARIES",
    "MissingBinaryError",
    "Peer",
    "PeerError",
    "PeerSet",
    "PeerStartError",
    "PortInUseError",
    "WorklistItem",
    "c_echo",
    "free_port",
    "port_in_use",
    "stop_recorded_peers",
    "write_worklist_item",
]

TEMPLATES = Path(__file__).resolve().parent / "templates"
ORTHANC_BIN = Path("/usr/sbin/Orthanc")
ORTHANC_WORKLIST_PLUGIN = Path("/usr/share/orthanc/plugins/libModalityWorklists.so")
#: GDCM decoder plugin (package orthanc-gdcm): lets Orthanc decode JPEG 2000 for previews.
ORTHANC_GDCM_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancGdcm.so")

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
    host: str, port: int, called_aet: str, calling_aet: str = PROBE_AET, timeout: float = 2.0
) -> bool:
    """Send one C-ECHO with pynetdicom; return True on status 0x0000."""
    ae = AE(ae_title=calling_aet)
    ae.add_requested_context(Verification)
    ae.acse_timeout = timeout
    ae.dimse_timeout = timeout
    ae.network_timeout = timeout
    ae.connection_timeout = timeout
    with _quiet_pynetdicom():
        assoc = ae.associate(host, port, ae_title=called_aet)
        if not assoc.is_established:
            return False
        try:
            status = assoc.send_c_echo()
        finally:
            assoc.release()
    return bool(status) and status.Status == 0x0000


def _http_ok(url: str, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


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

    # -- public ---------------------------------------------------------------------

    @property
    def listener_address(self) -> str:
        """``AET@127.0.0.1:port`` of the tests' listener."""
        return f"{self.listener_aet}@127.0.0.1:{self.listener_port}"

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
            Any of `ALL_PEERS`. Peers already running are returned as they are.
        ports
            Force DICOM ports per peer name; ``"orthanc_http"`` forces Orthanc's REST
            port. A forced port that is taken raises `PortInUseError`.

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
        unknown = [n for n in names if n not in PEER_AETS]
        if unknown:
            raise ValueError(f"unknown peer(s) {unknown}; choose from {list(ALL_PEERS)}")
        new = [n for n in names if n not in self.peers]
        needed = [PEER_BINARIES[n] for n in new]
        if "orthanc" in new:
            needed += [ORTHANC_WORKLIST_PLUGIN, ORTHANC_GDCM_PLUGIN]
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
        aet = PEER_AETS[name]
        port = self._port(name, ports)
        log_path = folder / f"{name}.log"
        builder = getattr(self, f"_prepare_{name}")
        return builder(aet, port, folder, log_path, ports)

    def _prepare_orthanc(
        self, aet: str, port: int, folder: Path, log_path: Path, ports: Mapping[str, int]
    ) -> _Launch:
        http_port = self._port("orthanc_http", ports)
        storage = folder / "storage"
        worklists = folder / "worklists"
        for path in (storage, worklists):
            path.mkdir()
        write_default_worklist(worklists, self.listener_aet)
        config = render_template(
            "orthanc.json.in",
            folder / "orthanc.json",
            {
                "AET": json.dumps(aet),
                "DICOM_PORT": port,
                "HTTP_PORT": http_port,
                "STORAGE_DIR": json.dumps(str(storage)),
                "INDEX_DIR": json.dumps(str(storage)),
                "WORKLIST_PLUGIN": json.dumps(str(ORTHANC_WORKLIST_PLUGIN)),
                "GDCM_PLUGIN": json.dumps(str(ORTHANC_GDCM_PLUGIN)),
                "WORKLIST_DIR": json.dumps(str(worklists)),
                "LISTENER_AET": json.dumps(self.listener_aet),
                "LISTENER_PORT": self.listener_port,
            },
        )
        json.loads(config.read_text(encoding="utf-8"))  # fail early on a broken template
        peer = Peer(
            "orthanc", aet, port, folder, http_port=http_port, data_dir=storage,
            worklist_dir=worklists, log_path=log_path,
        )  # fmt: skip
        return _Launch(peer, [str(ORTHANC_BIN), str(config)])

    def _prepare_storescp(
        self, aet: str, port: int, folder: Path, log_path: Path, ports: Mapping[str, int]
    ) -> _Launch:
        argv = [
            str(PEER_BINARIES["storescp"]), "--aetitle", aet, "+xa", "-pm", "+B", "-dhl",
            "-od", str(folder), "-fe", ".dcm", str(port),
        ]  # fmt: skip
        peer = Peer("storescp", aet, port, folder, data_dir=folder, log_path=log_path)
        return _Launch(peer, argv)

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
            if self._answers(peer):
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
    def _answers(peer: Peer) -> bool:
        if peer.http_url is not None and not _http_ok(f"{peer.http_url}/system"):
            return False
        return c_echo(peer.host, peer.port, peer.aet, timeout=1.0)

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
