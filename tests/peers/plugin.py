"""pytest plugin providing real DICOM peers as fixtures.

Load it from the root ``tests/conftest.py`` with ``pytest_plugins = ["tests.peers.plugin"]``
(or ``-p tests.peers.plugin``). All peers start lazily, once per test session, the
first time a test requests `peer_set` or one of the per-peer fixtures. The optional peers
(``orthanc_secure`` and the TLS storescps) start on first request of their own fixture;
their test certificates (`peer_pki`) are made with openssl into the session's run folder.
The MPPS SCPs (``mpps_pynetdicom``, ``mpps_node``) and the Node Print SCPs (``print_node``,
``print_node_gray``) run in a peer set of their own (`optional_peer_set`), so a test that needs
only them does not start Orthanc and DCMTK.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.helpers.binaries import require_binaries, running_in_ci
from tests.peers.harness import (
    ALL_PEERS,
    NODE_BIN,
    OPENSSL_BIN,
    ORTHANC_DICOMWEB_PLUGIN,
    ORTHANC_GDCM_PLUGIN,
    ORTHANC_WORKLIST_PLUGIN,
    PEER_BINARIES,
    Peer,
    PeerError,
    PeerPki,
    PeerSet,
    mpps_node_hint,
    mpps_node_ready,
)

__all__ = [
    "dcmprscp",
    "dcmqrscp",
    "mpps_node",
    "mpps_pynetdicom",
    "optional_peer_set",
    "orthanc",
    "orthanc_dicomweb",
    "orthanc_secure",
    "peer_pki",
    "peer_set",
    "print_node",
    "print_node_gray",
    "storescp",
    "storescp_tls",
    "storescp_tls_client",
    "storescp_tls_expired",
    "storescp_tls_untrusted",
    "wlmscpfs",
]


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``peers`` marker."""
    config.addinivalue_line(
        "markers",
        "peers: test talks to real third-party DICOM servers (Orthanc, DCMTK) "
        "started by tests/peers/harness.py",
    )


@pytest.fixture(scope="session")
def peer_set(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PeerSet]:
    """Start every peer once per session and stop them all at the end.

    Skips (fails under ``CI=true``) when a server binary is not installed.
    """
    require_binaries(*PEER_BINARIES.values(), ORTHANC_WORKLIST_PLUGIN, ORTHANC_GDCM_PLUGIN)
    peers = PeerSet(tmp_path_factory.mktemp("peers"))
    try:
        peers.start(ALL_PEERS)
    except PeerError as exc:
        peers.stop()
        pytest.fail(f"could not start DICOM peers: {exc}", pytrace=False)
    try:
        yield peers
    finally:
        peers.stop()


@pytest.fixture
def orthanc(peer_set: PeerSet) -> Peer:
    """Orthanc (AET ``ORTHANC``) with REST on `Peer.http_port` and a worklist."""
    return peer_set["orthanc"]


@pytest.fixture
def storescp(peer_set: PeerSet) -> Peer:
    """DCMTK storescp (AET ``STORESCP``) writing every object into `Peer.folder`."""
    return peer_set["storescp"]


@pytest.fixture
def wlmscpfs(peer_set: PeerSet) -> Peer:
    """DCMTK worklist SCP (AET ``WLMSCP``) serving `Peer.worklist_dir`."""
    return peer_set["wlmscpfs"]


@pytest.fixture
def dcmprscp(peer_set: PeerSet) -> Peer:
    """DCMTK grayscale print SCP (AET ``PRINTSCP``)."""
    return peer_set["dcmprscp"]


@pytest.fixture
def dcmqrscp(peer_set: PeerSet) -> Peer:
    """DCMTK query/retrieve archive (AET ``QRSCP``) storing into `Peer.data_dir`."""
    return peer_set["dcmqrscp"]


def _require_dicomweb_plugin() -> None:
    """Skip (fail under ``CI=true``) without Orthanc's DICOMweb plugin."""
    if not ORTHANC_DICOMWEB_PLUGIN.is_file():
        message = (
            f"missing {ORTHANC_DICOMWEB_PLUGIN} (Debian package orthanc-dicomweb). "
            "Fix: sudo apt-get install -y orthanc-dicomweb"
        )
        if running_in_ci():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)


def _start_optional(peer_set: PeerSet, name: str) -> Peer:
    """Start an optional peer once per session (later calls return the running one)."""
    try:
        return peer_set.start([name])[name]
    except PeerError as exc:
        pytest.fail(f"could not start {name}: {exc}", pytrace=False)


@pytest.fixture
def orthanc_dicomweb(orthanc: Peer) -> Peer:
    """`orthanc` with its DICOMweb plugin: STOW-RS at ``Peer.dicomweb_url + "/studies"``."""
    _require_dicomweb_plugin()
    assert orthanc.dicomweb_url is not None
    return orthanc


@pytest.fixture
def peer_pki(peer_set: PeerSet) -> PeerPki:
    """The session's throw-away test CAs and certificates (see `PeerPki`)."""
    require_binaries(OPENSSL_BIN)
    try:
        return peer_set.pki
    except PeerError as exc:
        pytest.fail(f"could not make test certificates: {exc}", pytrace=False)


@pytest.fixture
def orthanc_secure(peer_set: PeerSet, peer_pki: PeerPki) -> Peer:
    """Orthanc (AET ``ORTHANCSEC``) with DICOM TLS and HTTP basic authentication.

    DICOM over TLS only (server certificate `PeerPki.server`, client certificate optional);
    REST and DICOMweb (`Peer.dicomweb_url`) want `Peer.http_auth`.
    """
    _require_dicomweb_plugin()
    return _start_optional(peer_set, "orthanc_secure")


@pytest.fixture
def storescp_tls(peer_set: PeerSet, peer_pki: PeerPki) -> Peer:
    """storescp over TLS (AET ``TLSSCP``) with `PeerPki.server`; no client certificate needed."""
    return _start_optional(peer_set, "storescp_tls")


@pytest.fixture
def storescp_tls_client(peer_set: PeerSet, peer_pki: PeerPki) -> Peer:
    """storescp over TLS (AET ``TLSCLIENTSCP``) requiring a client certificate from `PeerPki.ca`."""
    return _start_optional(peer_set, "storescp_tls_client")


@pytest.fixture
def storescp_tls_expired(peer_set: PeerSet, peer_pki: PeerPki) -> Peer:
    """storescp over TLS (AET ``TLSEXPIREDSCP``) presenting `PeerPki.expired_server`."""
    return _start_optional(peer_set, "storescp_tls_expired")


@pytest.fixture
def storescp_tls_untrusted(peer_set: PeerSet, peer_pki: PeerPki) -> Peer:
    """storescp over TLS (AET ``TLSUNTRUSTSCP``) presenting `PeerPki.untrusted_server`."""
    return _start_optional(peer_set, "storescp_tls_untrusted")


@pytest.fixture(scope="session")
def optional_peer_set(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PeerSet]:
    """An empty peer set for optional peers that need none of the others (MPPS SCPs, Node
    Print SCPs); each is started by its own fixture on first use and all stop at the session's
    end."""
    peers = PeerSet(tmp_path_factory.mktemp("optional-peers"))
    try:
        yield peers
    finally:
        peers.stop()


@pytest.fixture
def mpps_pynetdicom(optional_peer_set: PeerSet) -> Peer:
    """pynetdicom MPPS SCP (AET ``MPPSSCP``) writing what it receives into `Peer.data_dir`:
    ``<uid>.000N.{create,set}.dcm`` per accepted message and ``<uid>.state.dcm``."""
    return _start_optional(optional_peer_set, "mpps_pynetdicom")


@pytest.fixture
def mpps_node(optional_peer_set: PeerSet) -> Peer:
    """MPPS SCP on dcmjs-dimse under Node.js (AET ``MPPSNODE``), same behaviour and files as
    `mpps_pynetdicom`. Skips (fails under ``CI=true``) without node or its node_modules."""
    _require_node_peers()
    return _start_optional(optional_peer_set, "mpps_node")


def _require_node_peers() -> None:
    """Skip (fail under ``CI=true``) without node or the Node peers' node_modules."""
    require_binaries(NODE_BIN)
    if not mpps_node_ready():
        if running_in_ci():
            pytest.fail(mpps_node_hint(), pytrace=False)
        pytest.skip(mpps_node_hint())


@pytest.fixture
def print_node(optional_peer_set: PeerSet) -> Peer:
    """Color and grayscale Print SCP on dcmjs-dimse under Node.js (AET ``PRINTNODE``).

    Each printed film lands in `Peer.data_dir` as ``film_NNNN/`` (``filmbox.json`` and one
    ``imagebox_<position>.dcm`` per image box set). Skips (fails under ``CI=true``) without
    node or its node_modules.
    """
    _require_node_peers()
    return _start_optional(optional_peer_set, "print_node")


@pytest.fixture
def print_node_gray(optional_peer_set: PeerSet) -> Peer:
    """The same Print SCP started with ``--gray-only`` (AET ``PRINTGRAY``): it rejects the
    Basic Color Print Management Meta context."""
    _require_node_peers()
    return _start_optional(optional_peer_set, "print_node_gray")
