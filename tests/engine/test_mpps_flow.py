"""MPPS driven by the engine, against the pynetdicom and the dcmjs-dimse MPPS SCPs.

The procedure state machine queues the messages (N-CREATE at the start, N-SET COMPLETED or
DISCONTINUED at the end) as outbox jobs; the SCPs write each message they accept as a file,
which is checked attribute by attribute. Every patient here is made up.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset

from izer.config import Destination, Role, Settings
from izer.dispatch.mpps import job_from_payload, n_create_dataset, n_set_dataset
from izer.dispatch.outbox import JobKind, JobState
from izer.engine import Engine
from izer.model import Procedure, Sex
from izer.worklist import WorklistItem
from tests.dispatch.test_mpps import assert_same_attributes
from tests.engine.test_procedure_context import STUDY_UID, _response
from tests.peers.harness import Peer, PeerSet, free_port

SCPS = ["mpps_pynetdicom", "mpps_node"]
VL_ENDOSCOPIC = "1.2.840.10008.5.1.4.1.1.77.1.1"

pytestmark = pytest.mark.peers


def _with_mpps(settings: Settings, destination: Destination) -> Settings:
    dispatch = dataclasses.replace(
        settings.dispatch, backoff_base_s=0.1, backoff_cap_s=0.3, max_attempts=100
    )
    capture = dataclasses.replace(settings.capture, width=640, height=480)
    return dataclasses.replace(
        settings, destinations=(destination,), dispatch=dispatch, capture=capture
    )


def _destination(peer: Peer) -> Destination:
    return Destination(
        name="ris-mpps", ae_title=peer.aet, host=peer.host, port=peer.port, roles=(Role.MPPS,)
    )


@pytest.fixture(params=SCPS)
def scp(request: pytest.FixtureRequest) -> Peer:
    return request.getfixturevalue(request.param)


@pytest.fixture
def engine(settings: Settings, scp: Peer) -> Iterator[Engine]:
    with Engine.open(_with_mpps(settings, _destination(scp))) as opened:
        yield opened


def _item() -> WorklistItem:
    return WorklistItem.from_dataset(_response(), provider="ris")


def _files(peer: Peer, mpps_uid: str) -> list[Path]:
    assert peer.data_dir is not None
    return sorted(peer.data_dir.glob(f"{mpps_uid}.0*.dcm"))


def _state(peer: Peer, mpps_uid: str) -> Dataset:
    assert peer.data_dir is not None
    return dcmread(peer.data_dir / f"{mpps_uid}.state.dcm")


def _sent(engine: Engine) -> list[Dataset]:
    """What izer sent, rebuilt from the MPPS jobs' payloads, in queue order."""
    datasets = []
    for job in engine.dispatch.outbox.jobs(kind=JobKind.MPPS):
        message = job_from_payload(job.payload)
        if message.message.value == "create":
            sent = n_create_dataset(message.step)
        else:
            sent = n_set_dataset(message.step, message.status, message.discontinuation)
        # as on the wire: an empty multi-valued attribute is one empty value
        datasets.append(Dataset.from_json(sent.to_json_dict()))
    return datasets


def _pairs(items: object) -> set[tuple[str, str]]:
    return {(str(r.ReferencedSOPClassUID), str(r.ReferencedSOPInstanceUID)) for r in items}  # type: ignore[attr-defined]


def _send(engine: Engine) -> None:
    assert engine.dispatch.run_until_idle(30.0)
    for job in engine.dispatch.outbox.jobs(kind=JobKind.MPPS):
        assert job.state is JobState.DONE, job.last_error


def _two_stills(engine: Engine) -> None:
    engine.capture_still()
    engine.capture_still()


def test_create_then_completed_with_every_instance(engine: Engine, scp: Peer) -> None:
    item = _item()
    engine.select_worklist_item(item)
    procedure = engine.start()
    mpps_uid = procedure.mpps_uid
    assert mpps_uid
    _send(engine)  # IN PROGRESS goes out while the procedure runs
    assert _state(scp, mpps_uid).PerformedProcedureStepStatus == "IN PROGRESS"
    _two_stills(engine)
    engine.review()
    engine.complete()
    _send(engine)

    create_file, set_file = _files(scp, mpps_uid)
    assert create_file.name.endswith(".0001.create.dcm")
    assert set_file.name.endswith(".0002.set.dcm")
    sent_create, sent_set = _sent(engine)
    assert_same_attributes(dcmread(create_file), sent_create)
    assert_same_attributes(dcmread(set_file), sent_set)

    created = dcmread(create_file)
    (scheduled,) = created.ScheduledStepAttributesSequence
    assert scheduled.StudyInstanceUID == STUDY_UID
    assert scheduled.AccessionNumber == item.accession_number
    assert scheduled.RequestedProcedureID == "RP-9"
    assert scheduled.ScheduledProcedureStepID == "SPS-9-1"
    assert scheduled.ScheduledProtocolCodeSequence[0].CodeValue == "386831001"
    assert str(created.PatientName) == "Иванова^Мария"
    assert (created.PatientID, created.PatientSex) == ("IZT-CTX-1", "F")
    assert created.PerformedStationAETitle == "IZERTEST"
    assert created.Modality == "ES"
    assert created.ProcedureCodeSequence[0].CodeValue == "1919006"

    final = _state(scp, mpps_uid)
    assert final.PerformedProcedureStepStatus == "COMPLETED"
    assert final.PerformedProcedureStepEndDate and final.PerformedProcedureStepEndTime
    stored = engine.store.instances(STUDY_UID)
    listed = set()
    for series in final.PerformedSeriesSequence:
        assert series.ProtocolName == "Gastroscopy"
        listed |= _pairs(series.ReferencedImageSequence)
        assert not list(series.ReferencedNonImageCompositeSOPInstanceSequence)
    assert listed == {(r.sop_class_uid, r.sop_instance_uid) for r in stored}
    assert len(listed) == 2


def test_discontinued_with_incorrect_worklist_entry(engine: Engine, scp: Peer) -> None:
    engine.select_worklist_item(_item())
    procedure = engine.start()
    engine.capture_still()
    engine.discontinue("110514")
    _send(engine)
    final = _state(scp, procedure.mpps_uid)
    assert final.PerformedProcedureStepStatus == "DISCONTINUED"
    (reason,) = final.PerformedProcedureStepDiscontinuationReasonCodeSequence
    assert (reason.CodeValue, reason.CodingSchemeDesignator) == ("110514", "DCM")
    assert reason.CodeMeaning == "Incorrect worklist entry selected"
    (series,) = final.PerformedSeriesSequence
    assert len(series.ReferencedImageSequence) == 1


def test_unscheduled_procedure_follows_f_7_2_1(engine: Engine, scp: Peer) -> None:
    procedure = engine.select_unscheduled("Unknown^Male", sex=Sex.MALE)
    procedure = engine.start()
    engine.capture_still()
    engine.review()
    engine.complete()
    _send(engine)
    (create_file, _) = _files(scp, procedure.mpps_uid)
    (item,) = dcmread(create_file).ScheduledStepAttributesSequence
    assert item.StudyInstanceUID == procedure.study_uid
    for keyword in ("AccessionNumber", "RequestedProcedureID", "ScheduledProcedureStepID"):
        assert item.get(keyword) in ("", None), keyword
    assert len(item.ReferencedStudySequence) == 0
    final = _state(scp, procedure.mpps_uid)
    assert final.PerformedProcedureStepStatus == "COMPLETED"
    assert final.PatientID == procedure.patient.patient_id


def test_appending_opens_a_new_mpps_listing_only_the_new_instances(
    engine: Engine, scp: Peer
) -> None:
    engine.select_worklist_item(_item())
    first = engine.start()
    engine.capture_still()
    engine.review()
    engine.complete()
    appended = engine.append()
    assert appended.mpps_uid and appended.mpps_uid != first.mpps_uid
    added = engine.capture_still()
    engine.review()
    engine.complete()
    _send(engine)
    assert _state(scp, first.mpps_uid).PerformedProcedureStepStatus == "COMPLETED"
    second = _state(scp, appended.mpps_uid)
    assert second.PerformedProcedureStepStatus == "COMPLETED"
    (series,) = second.PerformedSeriesSequence
    assert _pairs(series.ReferencedImageSequence) == {(VL_ENDOSCOPIC, added.sop_instance_uid)}


def test_completing_with_nothing_captured_is_refused(engine: Engine) -> None:
    engine.select_worklist_item(_item())
    engine.start()
    engine.review()
    with pytest.raises(ValueError, match="discontinue"):
        engine.complete()
    engine.discontinue()  # 110513 unspecified
    _send(engine)


def _wait(predicate: Callable[[], bool], timeout_s: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("name", SCPS)
def test_scp_down_during_the_procedure_messages_arrive_in_order_once_back(
    name: str, settings: Settings, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if name == "mpps_node":
        request.getfixturevalue("mpps_node")  # skips without node / node_modules
    port = free_port()
    late_destination = Destination(
        name="ris-mpps", ae_title="LATESCP", host="127.0.0.1", port=port, roles=(Role.MPPS,)
    )
    with (
        Engine.open(_with_mpps(settings, late_destination)) as engine,
        PeerSet(tmp_path / "peers") as peers,
    ):
        engine.dispatch.start()
        try:
            engine.select_worklist_item(_item())
            procedure: Procedure = engine.start()
            outbox = engine.dispatch.outbox
            assert _wait(lambda: any(j.attempts >= 2 for j in outbox.jobs(kind=JobKind.MPPS)))
            engine.capture_still()
            engine.review()
            engine.complete()
            create, complete = outbox.jobs(kind=JobKind.MPPS)
            assert create.state is not JobState.DONE and "connection refused" in create.last_error
            assert complete.state is JobState.QUEUED and complete.attempts == 0

            late = peers.start([name], ports={name: port})[name]
            assert engine.dispatch.run_until_idle(30.0, wait_for_retries=True)
        finally:
            engine.dispatch.stop()
        files = _files(late, procedure.mpps_uid)
        assert [f.name.split(".")[-2] for f in files] == ["create", "set"]
        assert _state(late, procedure.mpps_uid).PerformedProcedureStepStatus == "COMPLETED"
