"""Study Root and Patient Root C-FIND SCU against Orthanc and DCMTK dcmqrscp (PS3.4 C.6)."""

from __future__ import annotations

import pytest
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from pynetdicom import AE

from izer.model import Sex
from izer.worklist.query import find_patients, find_studies
from tests.helpers.dicom_samples import make_secondary_capture
from tests.peers.harness import Peer, PeerSet
from tests.worklist import destination, factory

pytestmark = pytest.mark.peers

QUERY_PEERS = ("orthanc", "dcmqrscp")
STUDY_UID = generate_uid(prefix="1.2.826.0.1.3680043.10.1452.")


def _store(peer: Peer, ds: Dataset) -> None:
    ae = AE(ae_title="IZERTEST")
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 10
    ae.add_requested_context(ds.SOPClassUID, ds.file_meta.TransferSyntaxUID)
    assoc = ae.associate(peer.host, peer.port, ae_title=peer.aet)
    assert assoc.is_established, f"cannot store to {peer.address}"
    try:
        status = assoc.send_c_store(ds)
    finally:
        assoc.release()
    assert status and int(status.Status) == 0, f"C-STORE to {peer.address} failed"


@pytest.fixture(scope="module")
def stored(peer_set: PeerSet) -> None:
    ds = make_secondary_capture(
        patient_name="Quist^Quentin",
        patient_id="IZT-RECON-1",
        accession="IZACCQR1",
        study_instance_uid=STUDY_UID,
    )
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.PatientBirthDate = "19800229"
    ds.PatientSex = "M"
    ds.StudyDescription = "Reconciliation test"
    for name in QUERY_PEERS:
        _store(peer_set[name], ds)


@pytest.fixture(params=QUERY_PEERS)
def archive(request: pytest.FixtureRequest, peer_set: PeerSet, stored: None) -> Peer:
    return peer_set[request.param]


def test_patient_root_finds_demographics_by_id(archive: Peer) -> None:
    result = find_patients(factory(), destination(archive), patient_id="IZT-RECON-1")
    assert len(result.matches) == 1
    patient = result.matches[0]
    assert (patient.name, patient.birth_date) == ("Quist^Quentin", "19800229")
    assert patient.sex is Sex.MALE
    assert result.warnings == ()


def test_patient_root_wildcard_on_name(archive: Peer) -> None:
    result = find_patients(factory(), destination(archive), name="Quist*")
    assert {p.patient_id for p in result.matches} == {"IZT-RECON-1"}


def test_study_root_finds_the_study_by_accession(archive: Peer) -> None:
    result = find_studies(factory(), destination(archive), accession="IZACCQR1")
    [study] = result.matches
    assert study.study_instance_uid == STUDY_UID
    assert study.patient.patient_id == "IZT-RECON-1"
    assert study.description == "Reconciliation test"


def test_study_root_by_study_uid_and_no_match(archive: Peer) -> None:
    found = find_studies(factory(), destination(archive), study_uid=STUDY_UID)
    assert [s.accession_number for s in found.matches] == ["IZACCQR1"]
    none = find_studies(factory(), destination(archive), patient_id="IZT-QR-NOBODY")
    assert none.matches == ()


def test_malformed_keys_are_refused_before_any_association(archive: Peer) -> None:
    with pytest.raises(ValueError, match="Patient's Birth Date"):
        find_patients(factory(), destination(archive), birth_date="1980")
