"""What izer writes, sent as is to Orthanc 1.10 and DCMTK storescp, then looked at there.

Each instance goes out in its own transfer syntax: one association per peer proposes one
presentation context per (SOP class, syntax) of the catalogue, so nothing is transcoded on the
way. Orthanc must store it in that syntax and render a PNG preview where it has a decoder;
storescp (``+B``, bit preserving) must write the dataset byte for byte.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset

from tests.encode.interop_cases import (
    CATALOGUE,
    InstanceMaker,
    OrthancSupport,
    dataset_bytes,
    makers,
    orthanc_content_path,
    payload_bytes,
    png_size,
    write,
)
from tests.helpers.sender import Sender
from tests.peers.harness import Peer, PeerSet

pytestmark = pytest.mark.peers

TIMEOUT = 20
#: A-ASSOCIATE-AC result for a rejected context (PS3.8 9.3.3.2): Orthanc 1.10 answers
#: 3 "abstract syntax not supported" although only the transfer syntax is unknown to it,
#: storescp 4 "transfer syntaxes not supported".
ORTHANC_REJECTION, STORESCP_REJECTION = 3, 4

ORTHANC_TAKES = makers(lambda m: m.orthanc is not OrthancSupport.REJECTED)
ORTHANC_REJECTS = makers(lambda m: m.orthanc is OrthancSupport.REJECTED)
STILLS = makers(lambda m: m.orthanc in (OrthancSupport.PREVIEW, OrthancSupport.NO_DECODER))
DOCUMENTS = makers(lambda m: m.payload is not None)
STORESCP_TAKES = makers(lambda m: m.storescp_accepts)
STORESCP_REJECTS = makers(lambda m: not m.storescp_accepts)


def _ids(selected: list[InstanceMaker]) -> list[str]:
    return [maker.name for maker in selected]


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every catalogue instance saved once, by maker name."""
    folder = tmp_path_factory.mktemp("interop-peers")
    return {name: write(maker.build(), folder, name) for name, maker in CATALOGUE.items()}


@pytest.fixture(scope="module")
def datasets(written: dict[str, Path]) -> dict[str, Dataset]:
    """The saved instances read back, as a PACS sender would send them."""
    return {name: pydicom.dcmread(path) for name, path in written.items()}


def _pairs(datasets: dict[str, Dataset]) -> set[tuple[str, str]]:
    return {(ds.SOPClassUID, ds.file_meta.TransferSyntaxUID) for ds in datasets.values()}


@pytest.fixture(scope="module")
def to_orthanc(peer_set: PeerSet, datasets: dict[str, Dataset]) -> Iterator[Sender]:
    """One association to Orthanc for the whole module.

    ``peer_set["orthanc"]`` is the peer of the per-test ``orthanc`` fixture.
    """
    sender = Sender(
        peer_set["orthanc"], _pairs(datasets), ae_title="IZERINTEROP", timeout_s=TIMEOUT
    )
    yield sender
    sender.close()


@pytest.fixture(scope="module")
def to_storescp(peer_set: PeerSet, datasets: dict[str, Dataset]) -> Iterator[Sender]:
    """One association to storescp for the whole module."""
    sender = Sender(
        peer_set["storescp"], _pairs(datasets), ae_title="IZERINTEROP", timeout_s=TIMEOUT
    )
    yield sender
    sender.close()


def _rest(peer: Peer, path: str, body: bytes | None = None) -> bytes:
    request = urllib.request.Request(
        f"{peer.http_url}{path}", data=body, method="POST" if body is not None else "GET"
    )
    with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
        return response.read()


def _orthanc_instance(peer: Peer, sop_instance_uid: str) -> str:
    found = json.loads(_rest(peer, "/tools/lookup", sop_instance_uid.encode()))
    ids = [entry["ID"] for entry in found if entry["Type"] == "Instance"]
    assert len(ids) == 1, f"Orthanc lookup of {sop_instance_uid}: {found}"
    return ids[0]


class OrthancStore:
    """Stores each instance in Orthanc once, when a test first needs it."""

    def __init__(self, sender: Sender, datasets: dict[str, Dataset]) -> None:
        self.sender, self.datasets = sender, datasets
        self._ids: dict[str, str] = {}

    def instance_id(self, maker: InstanceMaker) -> str:
        """Orthanc's id of ``maker``'s instance, C-STOREd on first use (status 0 asserted)."""
        if maker.name not in self._ids:
            ds = self.datasets[maker.name]
            status = self.sender.store(ds)
            assert status == 0x0000, f"Orthanc answered C-STORE with 0x{status:04X}"
            self._ids[maker.name] = _orthanc_instance(self.sender.peer, ds.SOPInstanceUID)
        return self._ids[maker.name]

    def get(self, path: str) -> bytes:
        """A REST GET."""
        return _rest(self.sender.peer, path)


@pytest.fixture(scope="module")
def in_orthanc(to_orthanc: Sender, datasets: dict[str, Dataset]) -> OrthancStore:
    """The module's instances in Orthanc, stored over one association."""
    return OrthancStore(to_orthanc, datasets)


# --------------------------------------------------------------------------- Orthanc


@pytest.mark.parametrize("maker", ORTHANC_TAKES, ids=_ids(ORTHANC_TAKES))
def test_orthanc_stores_each_instance_in_its_own_syntax(
    maker: InstanceMaker, in_orthanc: OrthancStore
) -> None:
    instance = in_orthanc.instance_id(maker)
    syntax = in_orthanc.get(f"/instances/{instance}/metadata/TransferSyntax").decode()
    assert syntax == maker.transfer_syntax.value


@pytest.mark.parametrize("maker", STILLS, ids=_ids(STILLS))
def test_orthanc_previews_what_it_can_decode(
    maker: InstanceMaker, in_orthanc: OrthancStore
) -> None:
    preview = f"/instances/{in_orthanc.instance_id(maker)}/preview"
    if maker.orthanc is OrthancSupport.NO_DECODER:
        # JPEG 2000 (.90/.91): Orthanc 1.10 decodes it only through the GDCM plugin (Debian
        # package orthanc-gdcm), which the test peers do not load.
        with pytest.raises(urllib.error.HTTPError) as refused:
            in_orthanc.get(preview)
        assert refused.value.code == 415
        return
    assert png_size(in_orthanc.get(preview)) == maker.source().shape[1:3]


@pytest.mark.parametrize("maker", DOCUMENTS, ids=_ids(DOCUMENTS))
def test_orthanc_gives_back_the_document_or_waveform_bytes(
    maker: InstanceMaker, in_orthanc: OrthancStore, datasets: dict[str, Dataset]
) -> None:
    route = orthanc_content_path(maker.payload)
    content = in_orthanc.get(f"/instances/{in_orthanc.instance_id(maker)}/content/{route}")
    assert content == payload_bytes(datasets[maker.name], maker.payload)


@pytest.mark.parametrize("maker", ORTHANC_REJECTS, ids=_ids(ORTHANC_REJECTS))
def test_orthanc_1_10_refuses_htj2k_and_jpeg_xl_contexts(
    maker: InstanceMaker, to_orthanc: Sender, datasets: dict[str, Dataset]
) -> None:
    # HTJ2K (.201/.202/.203) and JPEG XL (.110/.112) are unknown to Orthanc 1.10 (DCMTK
    # 3.6.7 inside): a sender has to transcode or propose another syntax.
    ds = datasets[maker.name]
    assert not to_orthanc.accepted(ds)
    assert to_orthanc.rejection(ds) == ORTHANC_REJECTION


# --------------------------------------------------------------------------- storescp


@pytest.mark.parametrize("maker", STORESCP_TAKES, ids=_ids(STORESCP_TAKES))
def test_storescp_writes_each_instance_bit_for_bit(
    maker: InstanceMaker,
    to_storescp: Sender,
    datasets: dict[str, Dataset],
    written: dict[str, Path],
) -> None:
    ds = datasets[maker.name]
    assert to_storescp.store(ds) == 0x0000
    arrived = list(to_storescp.peer.data_dir.glob(f"*.{ds.SOPInstanceUID}.dcm"))
    assert len(arrived) == 1, f"storescp files for {ds.SOPInstanceUID}: {arrived}"
    received = pydicom.dcmread(arrived[0])
    assert received.file_meta.TransferSyntaxUID == maker.transfer_syntax
    if maker.source is not None:
        assert received["PixelData"].value == ds["PixelData"].value
    assert dataset_bytes(arrived[0]) == dataset_bytes(written[maker.name])


@pytest.mark.parametrize("maker", STORESCP_REJECTS, ids=_ids(STORESCP_REJECTS))
def test_storescp_3_6_7_refuses_htj2k_and_jpeg_xl_contexts(
    maker: InstanceMaker, to_storescp: Sender, datasets: dict[str, Dataset]
) -> None:
    ds = datasets[maker.name]
    assert not to_storescp.accepted(ds)
    assert to_storescp.rejection(ds) == STORESCP_REJECTION
