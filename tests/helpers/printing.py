"""Reading what DCMTK dcmprscp printed: its database of Stored Print and Hardcopy Grayscale
objects (``Peer.data_dir``), shared by the whole test session."""

from __future__ import annotations

import numpy as np
import pydicom
from pydicom.dataset import Dataset

from tests.peers.harness import Peer


def database(peer: Peer) -> set[str]:
    """The names of the files in the printer's database now."""
    assert peer.data_dir is not None
    return {path.name for path in peer.data_dir.glob("*.dcm")}


def printed_films(peer: Peer, before: set[str]) -> list[tuple[Dataset, list[np.ndarray]]]:
    """The Stored Print objects added since ``before``, each with the pixels of its
    Hardcopy Grayscale images in Image Box Position order."""
    assert peer.data_dir is not None
    added = sorted(database(peer) - before)
    hardcopies = {}
    for name in added:
        if name.startswith("HG_"):
            ds = pydicom.dcmread(peer.data_dir / name)
            hardcopies[str(ds.SOPInstanceUID)] = ds
    films = []
    for name in added:
        if not name.startswith("SP_"):
            continue
        stored = pydicom.dcmread(peer.data_dir / name)
        boxes = sorted(stored.ImageBoxContentSequence, key=lambda item: item.ImageBoxPosition)
        pixels = [
            hardcopies.pop(str(box.ReferencedImageSequence[0].ReferencedSOPInstanceUID)).pixel_array
            for box in boxes
            if box.get("ReferencedImageSequence")
        ]
        films.append((stored, pixels))
    assert not hardcopies, f"hardcopy images outside any stored print: {sorted(hardcopies)}"
    return sorted(films, key=lambda film: -len(film[1]))


def assert_same_pixels(received: list[np.ndarray], sent: list[np.ndarray]) -> None:
    """Every image box holds exactly the pixels sent."""
    assert len(received) == len(sent)
    for position, (got, want) in enumerate(zip(received, sent, strict=True), start=1):
        assert got.shape == want.shape, f"image box {position}"
        assert np.array_equal(got, want), f"image box {position}: pixels differ"
