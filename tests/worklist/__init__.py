"""Worklist and query tests: helpers shared by the test modules."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from izer.config import Destination, NetworkSettings, Role, StationSettings
from izer.net import AssociationFactory
from tests.peers.harness import Peer, PeerSet
from tests.peers.worklist import write_worklist_item_in

#: The worklist providers every MWL acceptance test runs against.
WORKLIST_PEERS = ("orthanc", "wlmscpfs")


def factory(ae_title: str = "IZERTEST") -> AssociationFactory:
    """An association factory as the test station, with short timeouts."""
    network = NetworkSettings(
        connect_timeout_s=3, acse_timeout_s=10, dimse_timeout_s=15, network_timeout_s=15
    )
    return AssociationFactory(
        StationSettings(ae_title=ae_title, uid_root="1.2.826.0.1.3680043.10.1452"), network
    )


def destination(peer: Peer, *roles: Role) -> Destination:
    """A destination for ``peer`` (worklist role unless told otherwise)."""
    return Destination(
        name=peer.name,
        ae_title=peer.aet,
        host=peer.host,
        port=peer.port,
        roles=roles or (Role.WORKLIST,),
    )


@contextmanager
def worklist_items(
    peer_set: PeerSet, items: list[dict[str, object]], character_set: object = "ISO_IR 192"
) -> Iterator[list[Path]]:
    """Write ``items`` (keyword arguments of ``write_worklist_item``) into every worklist
    peer, each as ``<accession>.wl``, in ``character_set``; remove them afterwards."""
    paths: list[Path] = []
    try:
        for item in items:
            arguments = dict(item)
            charset = arguments.pop("character_set", character_set)
            for name in WORKLIST_PEERS:
                folder = peer_set[name].worklist_dir
                assert folder is not None
                path = folder / f"{item['accession']}.wl"
                write_worklist_item_in(path, charset, **arguments)  # type: ignore[arg-type]
                paths.append(path)
        yield paths
    finally:
        for path in paths:
            path.unlink(missing_ok=True)
