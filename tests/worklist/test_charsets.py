"""Each response is decoded by the character set it declares (PS3.5 6.1), with a flagged
fallback when it declares none and a warning when bytes do not decode."""

from __future__ import annotations

import pytest
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset
from pynetdicom.dsutils import decode

from izer.worklist import CharsetProblem, WorklistQuery, find_worklist
from izer.worklist.charsets import decode_response
from tests.peers.harness import PeerSet
from tests.peers.worklist import mislabel_character_set
from tests.worklist import WORKLIST_PEERS, destination, factory, worklist_items

STATION = "IZWLCHARS"

#: Made-up names per character set, with the (0008,0005) the item file is written in.
NAMES = {
    "IZCS100": ("ISO_IR 100", "Müller^Jürgen"),
    "IZCS192": ("ISO_IR 192", "Ødegård^Åse=Ωμέγα"),
    "IZCS87": (["", "ISO 2022 IR 87"], "Yamada^Tarou=山田^太郎=やまだ^たろう"),
}


def _received(
    charset: str | list[str] | None,
    name: str,
    claimed: str | None = None,
    description: str = "Koloskopie für",
) -> Dataset:
    """A dataset as pynetdicom hands it over: raw elements from the encoded bytes."""
    ds = Dataset()
    if charset is not None:
        ds.SpecificCharacterSet = charset
    ds.AccessionNumber = "IZACC1"
    ds.PatientName = name
    step = Dataset()
    step.ScheduledProcedureStepDescription = description
    ds.ScheduledProcedureStepSequence = [step]
    buffer = DicomBytesIO()
    buffer.is_little_endian, buffer.is_implicit_VR = True, False
    if charset is None:
        ds.SpecificCharacterSet = "ISO_IR 100"  # encode as Latin-1 ...
        write_dataset(buffer, ds)
        data = buffer.getvalue()[18:]  # ... then drop (0008,0005) (8 header + 10 value)
    else:
        write_dataset(buffer, ds)
        data = buffer.getvalue()
    if claimed is not None:
        data = data.replace(str(charset).encode(), claimed.encode())
    return decode(DicomBytesIO(data), False, True)


def test_declared_character_set_is_used_without_warning() -> None:
    decoded = decode_response(_received("ISO_IR 100", "Müller^Jürgen"), "ISO_IR 192", item="r1")
    assert decoded.warnings == ()
    assert str(decoded.dataset.PatientName) == "Müller^Jürgen"


def test_undeclared_latin1_is_decoded_by_the_fallback_and_flagged() -> None:
    received = _received(None, "Weiß^Zoë")
    assert "SpecificCharacterSet" not in received
    decoded = decode_response(received, "ISO_IR 100", item="ris response 3")
    assert str(decoded.dataset.PatientName) == "Weiß^Zoë"
    step = decoded.dataset.ScheduledProcedureStepSequence[0]
    assert step.ScheduledProcedureStepDescription == "Koloskopie für"
    flagged = {w.attribute for w in decoded.warnings if w.problem is CharsetProblem.FALLBACK_USED}
    assert flagged == {"PatientName", "ScheduledProcedureStepSequence[0]."
                       "ScheduledProcedureStepDescription"}  # fmt: skip
    assert all(w.item == "ris response 3" for w in decoded.warnings)
    assert decoded.declared is None


def test_undeclared_ascii_is_not_flagged() -> None:
    received = _received(None, "Doe^Jane", description="Colonoscopy")
    decoded = decode_response(received, "ISO_IR 100", item="r1")
    assert decoded.warnings == ()


def test_bytes_that_do_not_decode_are_flagged_with_the_attribute() -> None:
    received = _received("ISO_IR 100", "Brückner^Jörg", claimed="ISO_IR 192")
    decoded = decode_response(received, "ISO_IR 100", item="ris response 7")
    assert [(w.attribute, w.problem) for w in decoded.warnings] == [
        ("PatientName", CharsetProblem.UNDECODABLE),
        ("ScheduledProcedureStepSequence[0].ScheduledProcedureStepDescription",
         CharsetProblem.UNDECODABLE),
    ]  # fmt: skip
    assert "\N{REPLACEMENT CHARACTER}" in str(decoded.dataset.PatientName)
    assert "ris response 7: PatientName" in str(decoded.warnings[0])


# --------------------------------------------------------------------------- real peers


@pytest.fixture(scope="module")
def charset_items(peer_set: PeerSet):
    items = [
        dict(
            patient_id=accession, accession=accession, patient_name=name,
            station_aet=STATION, modality="ES", character_set=charset,
        )
        for accession, (charset, name) in NAMES.items()
    ]  # fmt: skip
    items.append(
        dict(
            patient_id="IZCSNONE", accession="IZCSNONE", patient_name="Weiß^Zoë",
            station_aet=STATION, modality="ES", character_set=None,
        )
    )  # fmt: skip
    items.append(
        dict(
            patient_id="IZCSBAD", accession="IZCSBAD", patient_name="Brückner^Jörg",
            station_aet=STATION, modality="ES", character_set="ISO_IR 100",
        )
    )  # fmt: skip
    with worklist_items(peer_set, items) as paths:
        for path in paths:
            if path.name == "IZCSBAD.wl":
                mislabel_character_set(path, "ISO_IR 100", "ISO_IR 192")
        yield


@pytest.mark.peers
@pytest.mark.parametrize("peer_name", WORKLIST_PEERS)
@pytest.mark.parametrize("accession", list(NAMES))
def test_names_come_back_intact(
    peer_set: PeerSet, charset_items: None, peer_name: str, accession: str
) -> None:
    query = WorklistQuery(station_ae_title=STATION, patient_id=accession)
    result = find_worklist(factory(), destination(peer_set[peer_name]), query)
    assert [item.patient.name for item in result.items] == [NAMES[accession][1]]
    assert result.warnings == ()


@pytest.mark.peers
def test_wlmscpfs_undeclared_latin1_is_decoded_by_the_fallback_and_flagged(
    peer_set: PeerSet, charset_items: None
) -> None:
    query = WorklistQuery(station_ae_title=STATION, patient_id="IZCSNONE")
    result = find_worklist(factory(), destination(peer_set["wlmscpfs"]), query)
    [item] = result.items
    assert "SpecificCharacterSet" not in item.raw or item.raw.SpecificCharacterSet == "ISO_IR 100"
    assert item.patient.name == "Weiß^Zoë"
    [warning] = result.warnings
    assert warning.problem is CharsetProblem.FALLBACK_USED
    assert warning.attribute == "PatientName"
    assert "IZCSNONE" in warning.item


@pytest.mark.peers
def test_wlmscpfs_fallback_is_configurable(peer_set: PeerSet, charset_items: None) -> None:
    query = WorklistQuery(station_ae_title=STATION, patient_id="IZCSNONE")
    result = find_worklist(
        factory(), destination(peer_set["wlmscpfs"]), query, fallback_charset="ISO_IR 192"
    )
    [item] = result.items
    assert "\N{REPLACEMENT CHARACTER}" in item.patient.name  # Latin-1 is not UTF-8
    assert {w.problem for w in result.warnings} == {
        CharsetProblem.UNDECODABLE,
        CharsetProblem.FALLBACK_USED,
    }


@pytest.mark.peers
@pytest.mark.parametrize("peer_name", WORKLIST_PEERS)
def test_bytes_that_do_not_decode_give_a_visible_warning(
    peer_set: PeerSet, charset_items: None, peer_name: str
) -> None:
    """A file declaring UTF-8 with Latin-1 bytes: both peers pass the bytes on as UTF-8."""
    query = WorklistQuery(station_ae_title=STATION, patient_id="IZCSBAD")
    result = find_worklist(factory(), destination(peer_set[peer_name]), query)
    [item] = result.items
    assert item.patient.name.startswith("Br")
    [warning] = result.warnings
    assert (warning.attribute, warning.problem) == ("PatientName", CharsetProblem.UNDECODABLE)
    assert "IZCSBAD" in warning.item


@pytest.mark.peers
def test_orthanc_relabels_an_undeclared_item_and_izer_flags_the_bytes(
    peer_set: PeerSet, charset_items: None
) -> None:
    """Orthanc reads a file without (0008,0005) in its DefaultEncoding (UTF-8 in the test
    configuration) and answers ISO_IR 192, so Latin-1 bytes arrive mislabelled: flagged."""
    query = WorklistQuery(station_ae_title=STATION, patient_id="IZCSNONE")
    result = find_worklist(factory(), destination(peer_set["orthanc"]), query)
    [item] = result.items
    assert item.raw.SpecificCharacterSet == "ISO_IR 192"
    assert [w.problem for w in result.warnings] == [CharsetProblem.UNDECODABLE]
