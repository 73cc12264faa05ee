"""Video instances sent as they are to Orthanc 1.10 and DCMTK storescp 3.6.7.

Each association proposes exactly the file's transfer syntax, so nothing is transcoded. Both
peers store every single-fragment syntax (.100-.104, HEVC .107/.108, HEVC in several
fragments); neither knows the fragmentable twins (.100.1-.104.1, added to DCMTK in 3.6.8),
so they refuse that presentation context.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator

import pydicom
import pytest
from pydicom.dataset import Dataset

from tests.encode.interop_cases import dataset_bytes
from tests.encode.video.conforming import CASES, SyntaxCase, conforming_instance
from tests.helpers.sender import Sender
from tests.peers.harness import Peer, PeerSet

pytestmark = pytest.mark.peers

TIMEOUT = 30
#: A-ASSOCIATE-AC results for a refused context (PS3.8 9.3.3.2): Orthanc 1.10 answers 3
#: (abstract syntax not supported) although only the transfer syntax is unknown to it,
#: storescp 4 (transfer syntaxes not supported).
REJECTION = {"orthanc": 3, "storescp": 4}

ALL = list(CASES.values())
ACCEPTED = [case for case in ALL if case.dcmtk_3_6_7_accepts]
REFUSED = [case for case in ALL if not case.dcmtk_3_6_7_accepts]


def _ids(cases: list[SyntaxCase]) -> list[str]:
    return [case.name for case in cases]


def _headers() -> dict[str, Dataset]:
    return {
        name: pydicom.dcmread(conforming_instance(name), stop_before_pixels=True) for name in CASES
    }


class Link(Sender):
    """A :class:`Sender` whose cases are named (each a conforming video instance)."""

    def __init__(self, peer: Peer, headers: dict[str, Dataset]) -> None:
        pairs = {(ds.SOPClassUID, ds.file_meta.TransferSyntaxUID) for ds in headers.values()}
        super().__init__(peer, pairs, ae_title="IZERVIDEO", timeout_s=TIMEOUT)
        self.headers = headers

    def accepted(self, name: str) -> bool:  # type: ignore[override]
        """Whether the peer accepted the context of case ``name``."""
        return super().accepted(self.headers[name])

    def rejection(self, name: str) -> int | None:  # type: ignore[override]
        """The result the peer gave the context of case ``name``; None when accepted."""
        return super().rejection(self.headers[name])

    def store(self, name: str) -> int:  # type: ignore[override]
        """C-STORE the file of case ``name`` (sent from the file) and return the status."""
        return super().store(conforming_instance(name))


@pytest.fixture(scope="module")
def headers() -> dict[str, Dataset]:
    """The header of each case's instance."""
    return _headers()


@pytest.fixture(scope="module")
def links(peer_set: PeerSet, headers: dict[str, Dataset]) -> Iterator[dict[str, Link]]:
    """One association to Orthanc and one to storescp for the module."""
    made = {name: Link(peer_set[name], headers) for name in ("orthanc", "storescp")}
    yield made
    for link in made.values():
        link.close()


def _rest(peer: Peer, path: str, body: bytes | None = None) -> bytes:
    request = urllib.request.Request(
        f"{peer.http_url}{path}", data=body, method="POST" if body is not None else "GET"
    )
    with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
        return response.read()


@pytest.mark.parametrize("case", ACCEPTED, ids=_ids(ACCEPTED))
def test_orthanc_stores_the_instance_in_its_own_syntax(
    case: SyntaxCase, links: dict[str, Link], headers: dict[str, Dataset], orthanc: Peer
) -> None:
    link = links["orthanc"]
    assert link.accepted(case.name)
    assert link.store(case.name) == 0x0000
    ds = headers[case.name]
    found = json.loads(_rest(orthanc, "/tools/lookup", ds.SOPInstanceUID.encode()))
    (instance,) = [entry["ID"] for entry in found if entry["Type"] == "Instance"]
    syntax = _rest(orthanc, f"/instances/{instance}/metadata/TransferSyntax").decode()
    assert syntax == case.transfer_syntax
    tags = json.loads(_rest(orthanc, f"/instances/{instance}/simplified-tags"))
    assert int(tags["NumberOfFrames"]) == case.frames


@pytest.mark.parametrize("case", ACCEPTED, ids=_ids(ACCEPTED))
def test_storescp_writes_the_instance_bit_for_bit(
    case: SyntaxCase, links: dict[str, Link], headers: dict[str, Dataset], storescp: Peer
) -> None:
    link = links["storescp"]
    assert link.accepted(case.name)
    assert link.store(case.name) == 0x0000
    uid = headers[case.name].SOPInstanceUID
    (arrived,) = list(storescp.data_dir.glob(f"*.{uid}.dcm"))
    received = pydicom.dcmread(arrived)
    assert received.file_meta.TransferSyntaxUID == case.transfer_syntax
    assert dataset_bytes(arrived) == dataset_bytes(conforming_instance(case.name))


@pytest.mark.parametrize("peer", ["orthanc", "storescp"])
@pytest.mark.parametrize("case", REFUSED, ids=_ids(REFUSED))
def test_dcmtk_3_6_7_peers_refuse_the_fragmentable_syntaxes(
    case: SyntaxCase, peer: str, links: dict[str, Link]
) -> None:
    # The .1 syntaxes arrived in DCMTK 3.6.8: a sender must propose the single-fragment
    # syntax too, or keep streams under 4 GiB.
    assert not links[peer].accepted(case.name)
    assert links[peer].rejection(case.name) == REJECTION[peer]
