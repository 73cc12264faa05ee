"""pytest plugin providing real DICOM peers as fixtures.

Load it from the root ``tests/conftest.py`` with ``pytest_plugins = ["tests.peers.plugin"]``
(or ``-p tests.peers.plugin``). All peers start lazily, once per test session, the
first time a test requests `peer_set` or one of the per-peer fixtures.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.helpers.binaries import require_binaries
from tests.peers.harness import (
    ALL_PEERS,
    ORTHANC_GDCM_PLUGIN,
    ORTHANC_WORKLIST_PLUGIN,
    PEER_BINARIES,
    Peer,
    PeerError,
    PeerSet,
)

__all__ = ["dcmprscp", "dcmqrscp", "orthanc", "peer_set", "storescp", "wlmscpfs"]


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
