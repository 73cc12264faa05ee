"""A whole procedure from a worklist item: every instance carries the item's context.

The item is fetched for real from Orthanc's worklist plugin and from DCMTK wlmscpfs, with a
non-Latin patient name; stills and a clip are captured from the synthetic camera. Every
instance must carry the item's Study Instance UID, Accession Number and Request Attributes
Sequence; dcentvfy must find the study consistent and dciodvfy the instances conformant.
Every patient here is made up.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset

from izer.config import Settings
from izer.engine import Engine
from izer.engine.scheduling import ProcedureContext
from izer.model import ProcedureState, Sex
from izer.worklist import Code, WorklistItem, WorklistQuery
from tests.helpers.validators import dcentvfy, dciodvfy
from tests.peers.harness import PeerSet
from tests.worklist import WORKLIST_PEERS, worklist_items

VIDEO_ENDOSCOPIC = "1.2.840.10008.5.1.4.1.1.77.1.1.1"
STUDY_UID = "1.2.826.0.1.3680043.10.1452.88.1"


def _settings(settings: Settings, **capture: object) -> Settings:
    changed = dataclasses.replace(settings.capture, width=640, height=480, **capture)
    return dataclasses.replace(settings, capture=changed)


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    with Engine.open(_settings(settings)) as opened:
        yield opened


def _response() -> Dataset:
    """A decoded MWL response with everything the mapping uses (made-up patient)."""
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.PatientName = "Иванова^Мария"
    ds.PatientID = "IZT-CTX-1"
    ds.PatientBirthDate = "19750612"
    ds.PatientSex = "F"
    ds.AccessionNumber = "IZCTX0001"
    issuer = Dataset()
    issuer.LocalNamespaceEntityID = "IZRIS"
    ds.IssuerOfAccessionNumberSequence = [issuer]
    ds.ReferringPhysicianName = "Referrer^Rita"
    ds.AdmissionID = "ADM-42"
    ds.StudyInstanceUID = STUDY_UID
    ds.RequestedProcedureID = "RP-9"
    ds.RequestedProcedureDescription = "Upper GI endoscopy"
    ds.RequestedProcedureCodeSequence = [Code("1919006", "SCT", "Endoscopy of stomach").to_item()]
    step = Dataset()
    step.Modality = "ES"
    step.ScheduledStationAETitle = "IZERTEST"
    step.ScheduledProcedureStepStartDate = "20240501"
    step.ScheduledProcedureStepID = "SPS-9-1"
    step.ScheduledProcedureStepDescription = "Gastroscopy"
    step.ScheduledProtocolCodeSequence = [Code("386831001", "SCT", "Gastroscopy").to_item()]
    ds.ScheduledProcedureStepSequence = [step]
    return ds


def _wait_for_frames(engine: Engine, count: int = 3) -> None:
    deadline = time.monotonic() + 10
    while (frame := engine.capture.preview()) is None or frame.number < count:
        assert time.monotonic() < deadline, "the synthetic source delivered no frames"
        time.sleep(0.01)


def _capture(engine: Engine, *, stills: int = 2) -> list[Path]:
    """Stills, a short clip with a still during it; the procedure then ends."""
    engine.capture.open({"main": "synthetic"})
    try:
        _wait_for_frames(engine)
        for _ in range(stills):
            engine.capture.take_still("main")
        engine.capture.start_recording()
        time.sleep(0.6)
        engine.capture.take_still("main")
        time.sleep(0.4)
        engine.capture.stop_recording()
    finally:
        engine.capture.close()
    procedure = engine.procedure
    assert procedure is not None
    return [record.path for record in engine.store.instances(procedure.study_uid)]


def _check_instances(paths: list[Path], item: WorklistItem) -> None:
    classes = set()
    for path in paths:
        ds = pydicom.dcmread(path)
        classes.add(ds.SOPClassUID)
        assert ds.StudyInstanceUID == item.study_instance_uid
        assert ds.AccessionNumber == item.accession_number
        assert str(ds.PatientName) == item.patient.name
        assert ds.PatientID == item.patient.patient_id
        (request,) = ds.RequestAttributesSequence
        assert request.RequestedProcedureID == item.requested_procedure_id
        assert request.ScheduledProcedureStepID == item.sps_id
        assert request.AccessionNumber == item.accession_number
        assert request.StudyInstanceUID == item.study_instance_uid
        assert request.get("ScheduledProcedureStepDescription", "") == item.sps_description
        if item.referring_physician:
            assert str(ds.ReferringPhysicianName) == item.referring_physician
        if item.admission_id:
            assert ds.AdmissionID == item.admission_id
        if item.requested_procedure_codes:
            assert ds.ProcedureCodeSequence[0].CodeValue == item.requested_procedure_codes[0].value
        if ds.SOPClassUID != VIDEO_ENDOSCOPIC:  # dciodvfy (2022) cannot parse every video
            result = dciodvfy(path)
            assert result.errors == [], str(result)
    assert VIDEO_ENDOSCOPIC in classes and len(classes) >= 2
    result = dcentvfy(paths)
    assert result.errors == [], str(result)


def test_every_instance_carries_the_items_context(engine: Engine) -> None:
    item = WorklistItem.from_dataset(_response(), provider="ris")
    procedure = engine.select_worklist_item(item)
    assert procedure.study_uid == STUDY_UID
    assert procedure.accession_number == "IZCTX0001"
    assert procedure.description == "Upper GI endoscopy"
    engine.start()
    paths = _capture(engine)
    assert len(paths) == 4  # three stills and the clip
    _check_instances(paths, item)
    first = pydicom.dcmread(paths[0])
    assert first.IssuerOfAccessionNumberSequence[0].LocalNamespaceEntityID == "IZRIS"
    request = first.RequestAttributesSequence[0]
    assert request.RequestedProcedureCodeSequence[0].CodeValue == "1919006"
    assert request.ScheduledProtocolCodeSequence[0].CodeMeaning == "Gastroscopy"


def test_the_context_survives_a_restart(settings: Settings) -> None:
    item = WorklistItem.from_dataset(_response(), provider="ris")
    with Engine.open(_settings(settings)) as engine:
        engine.select_worklist_item(item)
    with Engine.open(_settings(settings)) as engine:
        procedure = engine.procedure
        assert procedure is not None and procedure.state is ProcedureState.PATIENT_SELECTED
        context = ProcedureContext.of(procedure)
        assert context.scheduled and context.admission_id == "ADM-42"
        engine.start()
        record = engine.capture_still()
        ds = pydicom.dcmread(record.path)
        assert ds.RequestAttributesSequence[0].ScheduledProcedureStepID == "SPS-9-1"
        assert ds.AdmissionID == "ADM-42"


def test_an_item_without_study_uid_is_refused_before_anything_is_stored(engine: Engine) -> None:
    response = _response()
    response.StudyInstanceUID = ""
    with pytest.raises(ValueError, match="Study Instance UID"):
        engine.select_worklist_item(WorklistItem.from_dataset(response))
    assert engine.state is ProcedureState.IDLE


def test_unscheduled_patient_gets_a_temporary_id_and_an_accession(engine: Engine) -> None:
    procedure = engine.select_unscheduled("Unknown^Female", sex=Sex.FEMALE)
    assert procedure.patient.patient_id.startswith("TMP-")
    assert len(procedure.accession_number) == 12 and procedure.accession_number.isalnum()
    assert not ProcedureContext.of(procedure).scheduled
    engine.start()
    ds = pydicom.dcmread(engine.capture_still().path)
    assert ds.PatientID == procedure.patient.patient_id
    assert ds.AccessionNumber == procedure.accession_number
    assert "RequestAttributesSequence" not in ds
    assert dciodvfy(engine.store.instances(procedure.study_uid)[0].path).errors == []


def test_unscheduled_needs_a_name(engine: Engine) -> None:
    with pytest.raises(ValueError, match="Patient's Name"):
        engine.select_unscheduled("  ")


@pytest.mark.peers
@pytest.mark.parametrize("provider", WORKLIST_PEERS)
def test_a_whole_procedure_from_a_worklist_provider(
    provider: str, peer_set: PeerSet, engine: Engine
) -> None:
    accession = f"IZCTX{WORKLIST_PEERS.index(provider) + 10}"
    peer = peer_set[provider]
    item_args = dict(
        patient_id=f"IZT-{accession}",
        accession=accession,
        patient_name="Иванова^Мария=イワノワ^マリヤ",
        station_aet="IZCTXSTATION",
        modality="ES",
        birth_date="19700101",
        sex="F",
        procedure_description="Gastroscopy",
    )
    with worklist_items(peer_set, [item_args]):
        result = engine.worklist(
            WorklistQuery(station_ae_title="IZCTXSTATION", accession_number=accession),
            providers=[f"{peer.aet}@{peer.host}:{peer.port}"],
        )
    (item,) = result.items
    assert item.patient.name == "Иванова^Мария=イワノワ^マリヤ"
    engine.select_worklist_item(item)
    engine.start()
    paths = _capture(engine, stills=3)
    engine.review()
    engine.complete()
    assert len(paths) == 5
    _check_instances(paths, item)


@pytest.mark.parametrize("still_iod", ["sc", "vl-endoscopic"])
def test_stills_with_the_context_are_conformant(settings: Settings, still_iod: str) -> None:
    with Engine.open(_settings(settings, still_iod=still_iod)) as engine:
        engine.select_worklist_item(WorklistItem.from_dataset(_response()))
        engine.start()
        record = engine.capture_still()
        ds = pydicom.dcmread(record.path)
        assert ds.RequestAttributesSequence[0].RequestedProcedureID == "RP-9"
        result = dciodvfy(record.path)
        assert result.errors == [], str(result)
