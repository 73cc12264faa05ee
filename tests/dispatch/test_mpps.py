"""MPPS SCU (izer.dispatch.mpps) against two MPPS SCPs on different DIMSE stacks.

``mpps_pynetdicom`` (pynetdicom) and ``mpps_node`` (dcmjs-dimse under Node.js) write each
message they accept as a DICOM file, so what arrived is checked attribute by attribute on the
SCP side. Every patient here is made up.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from izer.config import Destination, NetworkSettings, StationSettings
from izer.dispatch.errors import DeliveryError
from izer.dispatch.mpps import (
    DiscontinuationReason,
    MppsMessage,
    MppsStatus,
    MppsStatusKind,
    PerformedSeries,
    PerformedStep,
    ScheduledStep,
    handle_mpps_job,
    mpps_job_handler,
    mpps_job_key,
    mpps_payload,
    n_create_dataset,
    n_set_dataset,
    send_n_create,
    send_n_set,
    status_meaning,
    step_from_payload,
    step_to_payload,
)
from izer.dispatch.outbox import Dispatcher, JobKind, JobState, Outbox
from izer.encode.codes import Code
from izer.model import Patient, Sex
from izer.net import AssociationFactory
from tests.peers.harness import Peer, PeerSet, free_port

TEST_UID_ROOT = "1.2.826.0.1.3680043.10.1452"
VL_ENDOSCOPIC = "1.2.840.10008.5.1.4.1.1.77.1.1"
VIDEO_ENDOSCOPIC = "1.2.840.10008.5.1.4.1.1.77.1.1.1"
ENCAPSULATED_PDF = "1.2.840.10008.5.1.4.1.1.104.1"
GENERAL_AUDIO = "1.2.840.10008.5.1.4.1.1.9.4.2"
GSPS = "1.2.840.10008.5.1.4.1.1.11.1"
STUDY_ROOT_SOP = "1.2.840.10008.3.1.2.3.1"
SCPS = ["mpps_pynetdicom", "mpps_node"]
#: Written by the SCPs into their files only (to make them Part-10 files).
SCP_ADDED = {"SOPClassUID", "SOPInstanceUID"}

CREATE_KEYWORDS = {
    "SpecificCharacterSet",
    "ScheduledStepAttributesSequence",
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "ReferencedPatientSequence",
    "PerformedProcedureStepID",
    "PerformedStationAETitle",
    "PerformedStationName",
    "PerformedLocation",
    "PerformedProcedureStepStartDate",
    "PerformedProcedureStepStartTime",
    "PerformedProcedureStepStatus",
    "PerformedProcedureStepDescription",
    "PerformedProcedureTypeDescription",
    "ProcedureCodeSequence",
    "PerformedProcedureStepEndDate",
    "PerformedProcedureStepEndTime",
    "PerformedProcedureStepDiscontinuationReasonCodeSequence",
    "Modality",
    "StudyID",
    "PerformedProtocolCodeSequence",
    "PerformedSeriesSequence",
}
SCHEDULED_KEYWORDS = {
    "StudyInstanceUID",
    "ReferencedStudySequence",
    "AccessionNumber",
    "RequestedProcedureID",
    "RequestedProcedureDescription",
    "ScheduledProcedureStepID",
    "ScheduledProcedureStepDescription",
    "ScheduledProtocolCodeSequence",
}


def uid() -> str:
    return generate_uid(prefix=f"{TEST_UID_ROOT}.")


def make_step(*, scheduled: bool = True, charset: str = "ISO_IR 192") -> PerformedStep:
    """A made-up colonoscopy: two image series (stills and a video) and one with a PDF
    report, an audio note and a presentation state."""
    study = uid()
    scheduled_steps = (
        (
            ScheduledStep(
                study_uid=study,
                accession="ACC0042",
                requested_procedure_id="RP42",
                requested_procedure_description="Colonoscopy",
                sps_id="SPS42",
                sps_description="Screening colonoscopy",
                protocol_codes=(Code("COLO1", "99IZER", "Colonoscopy protocol"),),
                referenced_study=((STUDY_ROOT_SOP, study),),
            ),
        )
        if scheduled
        else ()
    )
    return PerformedStep(
        sop_instance_uid=uid(),
        pps_id="PPS0042",
        station_ae="IZERTEST",
        station_name="ENDO1",
        location="Endoscopy room 1",
        start=datetime(2024, 5, 1, 9, 30, 5),
        modality="ES",
        study_id="S42",
        study_uid="" if scheduled else study,
        patient=Patient("TEST-0042", "Ölund^Åsa^^Dr", "19800229", Sex.FEMALE, "IZERTEST"),
        scheduled_steps=scheduled_steps,
        description="Colonoscopy",
        procedure_type_description="Screening",
        procedure_codes=(Code("45378", "C4", "Colonoscopy"),),
        character_set=charset,
    )


def finished(step: PerformedStep) -> PerformedStep:
    """``step`` ended, with every instance of the procedure."""
    stills = PerformedSeries(
        series_uid=uid(),
        protocol_name="Colonoscopy",
        description="Stills",
        performing_physician="Doe^Jane",
        operators=("Nurse^Anna", "Nurse^Ben"),
        retrieve_ae="ARCHIVE",
        images=(*((VL_ENDOSCOPIC, uid()) for _ in range(3)), (VIDEO_ENDOSCOPIC, uid())),
        non_images=((GSPS, uid()),),
    )
    documents = PerformedSeries(
        series_uid=uid(),
        protocol_name="Colonoscopy",
        description="Report and dictation",
        operators=("Nurse^Anna",),
        non_images=((ENCAPSULATED_PDF, uid()), (GENERAL_AUDIO, uid())),
    )
    return dataclasses.replace(
        step,
        end=datetime(2024, 5, 1, 10, 2, 0),
        performed_series=(stills, documents),
        performed_protocol_codes=(Code("COLO1", "99IZER", "Colonoscopy protocol"),),
    )


@pytest.fixture
def factory() -> AssociationFactory:
    station = StationSettings(ae_title="IZERTEST", uid_root=TEST_UID_ROOT)
    network = NetworkSettings(
        connect_timeout_s=2.0, acse_timeout_s=5.0, dimse_timeout_s=5.0, network_timeout_s=5.0
    )
    return AssociationFactory(station, network)


def destination(peer: Peer) -> Destination:
    return Destination(name="ris", ae_title=peer.aet, host=peer.host, port=peer.port)


@pytest.fixture(params=SCPS)
def scp(request: pytest.FixtureRequest) -> Peer:
    return request.getfixturevalue(request.param)


def received(peer: Peer, step: PerformedStep) -> list[Path]:
    """The message files the SCP wrote for ``step``, in the order it accepted them."""
    assert peer.data_dir is not None
    return sorted(peer.data_dir.glob(f"{step.sop_instance_uid}.0*.dcm"))


def state(peer: Peer, step: PerformedStep) -> Dataset:
    assert peer.data_dir is not None
    return dcmread(peer.data_dir / f"{step.sop_instance_uid}.state.dcm")


def _plain(value: Any) -> Any:
    """A comparable form of an element value: text, lists of text, lists of item dicts."""
    if isinstance(value, Dataset):
        return {e.keyword: _plain(e.value) for e in value if e.keyword not in SCP_ADDED}
    if isinstance(value, list | tuple) or type(value).__name__ in ("MultiValue", "Sequence"):
        values = [_plain(v) for v in value]
        return values[0] if len(values) == 1 and not isinstance(values[0], dict) else values
    if value is None:
        return ""
    return str(value)


def assert_same_attributes(got: Dataset, sent: Dataset) -> None:
    """Every attribute sent arrived with the same value (recursively), and nothing else."""
    assert _plain(got) == _plain(sent)


# --------------------------------------------------------------------------- data sets


def test_n_create_holds_every_attribute_of_the_table_those_set_later_empty() -> None:
    step = make_step()
    ds = n_create_dataset(step)
    assert {e.keyword for e in ds} == CREATE_KEYWORDS | {"IssuerOfPatientID"}
    assert ds.PerformedProcedureStepStatus == "IN PROGRESS"
    assert ds.SpecificCharacterSet == "ISO_IR 192"
    for keyword in ("PerformedProcedureStepEndDate", "PerformedProcedureStepEndTime"):
        assert ds[keyword].value in ("", None)
    assert len(ds.PerformedSeriesSequence) == 0
    assert len(ds.PerformedProcedureStepDiscontinuationReasonCodeSequence) == 0
    assert ds.PerformedProcedureStepStartDate == "20240501"
    assert ds.PerformedProcedureStepStartTime == "093005"
    assert ds.ProcedureCodeSequence[0].CodeValue == "45378"
    assert "PerformedProcedureCodeSequence" not in ds  # (0040,A372): the pynetdicom trap
    (item,) = ds.ScheduledStepAttributesSequence
    assert {e.keyword for e in item} == SCHEDULED_KEYWORDS
    assert item.AccessionNumber == "ACC0042"
    assert item.ReferencedStudySequence[0].ReferencedSOPInstanceUID == item.StudyInstanceUID


def test_unscheduled_n_create_has_one_item_with_the_study_uid_and_empty_type_2() -> None:
    step = make_step(scheduled=False)
    (item,) = n_create_dataset(step).ScheduledStepAttributesSequence
    assert item.StudyInstanceUID == step.study_uid
    assert {e.keyword for e in item} == SCHEDULED_KEYWORDS
    for element in item:
        if element.keyword != "StudyInstanceUID":
            assert element.value in ("", None) or len(element.value) == 0, element.keyword


def test_unscheduled_step_needs_a_study_uid() -> None:
    step = make_step(scheduled=False)
    with pytest.raises(ValueError, match="study_uid"):
        dataclasses.replace(step, study_uid="")


def test_n_set_completed_lists_every_instance_and_sets_only_created_attributes() -> None:
    step = finished(make_step())
    ds = n_set_dataset(step, MppsStatus.COMPLETED)
    assert {e.keyword for e in ds} <= CREATE_KEYWORDS
    assert "PerformedProcedureStepDiscontinuationReasonCodeSequence" not in ds
    assert ds.PerformedProcedureStepStatus == "COMPLETED"
    assert (ds.PerformedProcedureStepEndDate, ds.PerformedProcedureStepEndTime) == (
        "20240501",
        "100200",
    )
    stills, documents = ds.PerformedSeriesSequence
    assert [r.ReferencedSOPClassUID for r in stills.ReferencedImageSequence] == [
        VL_ENDOSCOPIC,
        VL_ENDOSCOPIC,
        VL_ENDOSCOPIC,
        VIDEO_ENDOSCOPIC,
    ]
    assert [
        r.ReferencedSOPClassUID for r in stills.ReferencedNonImageCompositeSOPInstanceSequence
    ] == [GSPS]
    assert len(documents.ReferencedImageSequence) == 0
    assert [
        r.ReferencedSOPClassUID for r in documents.ReferencedNonImageCompositeSOPInstanceSequence
    ] == [ENCAPSULATED_PDF, GENERAL_AUDIO]
    assert list(stills.OperatorsName) == ["Nurse^Anna", "Nurse^Ben"]
    sent = {r.ReferencedSOPInstanceUID for s in ds.PerformedSeriesSequence for r in [
        *s.ReferencedImageSequence, *s.ReferencedNonImageCompositeSOPInstanceSequence]}  # fmt: skip
    expected = {ref[1] for s in step.performed_series for ref in (*s.images, *s.non_images)}
    assert sent == expected


def test_n_set_discontinued_carries_the_cid_9300_reason() -> None:
    step = dataclasses.replace(make_step(), end=datetime(2024, 5, 1, 9, 31))
    ds = n_set_dataset(
        step, MppsStatus.DISCONTINUED, DiscontinuationReason.INCORRECT_WORKLIST_ENTRY
    )
    (reason,) = ds.PerformedProcedureStepDiscontinuationReasonCodeSequence
    assert (reason.CodeValue, reason.CodingSchemeDesignator, reason.CodeMeaning) == (
        "110514",
        "DCM",
        "Incorrect worklist entry selected",
    )
    assert len(ds.PerformedSeriesSequence) == 0
    assert DiscontinuationReason.UNSPECIFIED.code.value == "110513"
    assert DiscontinuationReason.EQUIPMENT_FAILURE.code.meaning == "Equipment failure"


def test_n_set_refuses_what_the_standard_forbids() -> None:
    step = make_step()
    with pytest.raises(ValueError, match="end"):
        n_set_dataset(step, MppsStatus.COMPLETED)
    ended = dataclasses.replace(step, end=datetime(2024, 5, 1, 10, 0))
    with pytest.raises(ValueError, match="at least one series"):
        n_set_dataset(ended, MppsStatus.COMPLETED)
    with pytest.raises(ValueError, match="DISCONTINUED only"):
        n_set_dataset(finished(step), MppsStatus.COMPLETED, DiscontinuationReason.EQUIPMENT_FAILURE)
    with pytest.raises(ValueError, match="before start"):
        dataclasses.replace(step, end=datetime(2024, 5, 1, 9, 0))


def test_text_that_the_character_set_cannot_hold_is_refused_naming_the_attribute() -> None:
    step = dataclasses.replace(
        make_step(charset="ISO_IR 100"), patient=Patient("TEST-7", "Yamada^Tarou=山田^太郎")
    )
    with pytest.raises(ValueError, match="PatientName"):
        n_create_dataset(step)


def test_payload_round_trips_through_json() -> None:
    import json

    step = finished(make_step())
    assert step_from_payload(json.loads(json.dumps(step_to_payload(step)))) == step
    unscheduled = make_step(scheduled=False)
    assert step_from_payload(step_to_payload(unscheduled)) == unscheduled
    payload = mpps_payload(step, MppsMessage.SET, MppsStatus.COMPLETED)
    assert payload["message"] == "set" and payload["status"] == "COMPLETED"
    with pytest.raises(ValueError, match="end"):
        mpps_payload(make_step(), MppsMessage.SET, MppsStatus.COMPLETED)
    assert mpps_job_key(step, MppsMessage.CREATE) != mpps_job_key(
        step, MppsMessage.SET, MppsStatus.COMPLETED
    )


def test_statuses_are_classified_for_retrying() -> None:
    assert status_meaning(0xA700, MppsMessage.CREATE)[0] is MppsStatusKind.TRANSIENT
    assert status_meaning(0x0213, MppsMessage.SET)[0] is MppsStatusKind.TRANSIENT
    assert status_meaning(0x0110, MppsMessage.CREATE)[0] is MppsStatusKind.TRANSIENT
    kind, words = status_meaning(0x0110, MppsMessage.SET)
    assert kind is MppsStatusKind.PERMANENT and "may no longer be updated" in words
    for code in (0x0105, 0x0106, 0x0112, 0x0122, 0xC000):
        assert status_meaning(code, MppsMessage.SET)[0] is MppsStatusKind.PERMANENT
    assert status_meaning(0x0001, MppsMessage.SET)[0] is MppsStatusKind.WARNING


def test_unreachable_scp_is_a_transient_error(factory: AssociationFactory) -> None:
    nobody = Destination(name="ris", ae_title="NOBODY", host="127.0.0.1", port=free_port())
    with pytest.raises(DeliveryError, match="connection refused") as caught:
        send_n_create(factory, nobody, make_step())
    assert caught.value.transient


# --------------------------------------------------------------------------- against SCPs


@pytest.mark.peers
def test_create_then_completed_arrive_attribute_by_attribute(
    scp: Peer, factory: AssociationFactory
) -> None:
    step = make_step()
    done = finished(step)
    send_n_create(factory, destination(scp), step)
    send_n_set(factory, destination(scp), done, MppsStatus.COMPLETED)

    create_file, set_file = received(scp, step)
    assert create_file.name.endswith(".0001.create.dcm")
    assert set_file.name.endswith(".0002.set.dcm")
    assert_same_attributes(dcmread(create_file), n_create_dataset(step))
    assert_same_attributes(dcmread(set_file), n_set_dataset(done, MppsStatus.COMPLETED))
    final = state(scp, step)
    assert final.PerformedProcedureStepStatus == "COMPLETED"
    assert str(final.PatientName) == "Ölund^Åsa^^Dr"
    series = final.PerformedSeriesSequence
    assert [s.SeriesInstanceUID for s in series] == [s.series_uid for s in done.performed_series]
    for item, sent in zip(series, done.performed_series, strict=True):
        assert _pairs(item.ReferencedImageSequence) == list(sent.images)
        assert _pairs(item.ReferencedNonImageCompositeSOPInstanceSequence) == list(sent.non_images)


def _pairs(items: Any) -> list[tuple[str, str]]:
    return [(str(r.ReferencedSOPClassUID), str(r.ReferencedSOPInstanceUID)) for r in items]


@pytest.mark.peers
def test_discontinued_with_incorrect_worklist_entry(scp: Peer, factory: AssociationFactory) -> None:
    step = make_step()
    send_n_create(factory, destination(scp), step)
    ended = dataclasses.replace(step, end=datetime(2024, 5, 1, 9, 32))
    send_n_set(
        factory,
        destination(scp),
        ended,
        MppsStatus.DISCONTINUED,
        DiscontinuationReason.INCORRECT_WORKLIST_ENTRY,
    )
    final = state(scp, step)
    assert final.PerformedProcedureStepStatus == "DISCONTINUED"
    (reason,) = final.PerformedProcedureStepDiscontinuationReasonCodeSequence
    assert (reason.CodeValue, reason.CodingSchemeDesignator) == ("110514", "DCM")
    assert reason.CodeMeaning == "Incorrect worklist entry selected"
    assert final.PerformedProcedureStepEndTime == "093200"


@pytest.mark.peers
def test_unscheduled_step_arrives_with_the_generated_study_uid(
    scp: Peer, factory: AssociationFactory
) -> None:
    step = make_step(scheduled=False)
    send_n_create(factory, destination(scp), step)
    send_n_set(factory, destination(scp), finished(step), MppsStatus.COMPLETED)
    (item,) = state(scp, step).ScheduledStepAttributesSequence
    assert item.StudyInstanceUID == step.study_uid
    assert_same_attributes(item, n_create_dataset(step).ScheduledStepAttributesSequence[0])
    assert item.get("AccessionNumber") in ("", None)


@pytest.mark.peers
def test_duplicate_n_create_on_retry_is_taken_as_success(
    scp: Peer, factory: AssociationFactory
) -> None:
    step = make_step()
    first = send_n_create(factory, destination(scp), step)
    again = send_n_create(factory, destination(scp), step)
    assert not first.duplicate
    assert again.duplicate and again.code == 0x0111
    assert len(received(scp, step)) == 1


@pytest.mark.peers
def test_n_set_after_completed_is_refused_permanently(
    scp: Peer, factory: AssociationFactory
) -> None:
    step = make_step()
    done = finished(step)
    send_n_create(factory, destination(scp), step)
    send_n_set(factory, destination(scp), done, MppsStatus.COMPLETED)
    with pytest.raises(DeliveryError, match="may no longer be updated") as caught:
        send_n_set(
            factory,
            destination(scp),
            done,
            MppsStatus.DISCONTINUED,
            DiscontinuationReason.UNSPECIFIED,
        )
    assert not caught.value.transient
    assert "0x0110" in str(caught.value) and scp.aet in str(caught.value)
    assert state(scp, step).PerformedProcedureStepStatus == "COMPLETED"
    # A retry of the same final N-SET whose first answer was lost is taken as applied.
    assert send_n_set(
        factory, destination(scp), done, MppsStatus.COMPLETED, already_tried=True
    ).duplicate


@pytest.mark.peers
def test_n_set_of_an_unknown_instance_is_refused_permanently(
    scp: Peer, factory: AssociationFactory
) -> None:
    with pytest.raises(DeliveryError, match="no such SOP instance") as caught:
        send_n_set(factory, destination(scp), finished(make_step()), MppsStatus.COMPLETED)
    assert not caught.value.transient


@pytest.mark.peers
@pytest.mark.parametrize("name", SCPS)
def test_scp_down_during_the_procedure_messages_arrive_in_order_once_back(
    name: str, factory: AssociationFactory, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if name == "mpps_node":
        request.getfixturevalue("mpps_node")  # skips without node / node_modules
    port = free_port()
    target = Destination(name="ris", ae_title="LATESCP", host="127.0.0.1", port=port)
    step = make_step()
    done = finished(step)
    outbox = Outbox(tmp_path / "outbox", backoff_base_s=0.1, backoff_cap_s=0.3, max_attempts=100)
    handler = mpps_job_handler({"ris": target}.__getitem__, factory)
    dispatcher = Dispatcher(outbox, {JobKind.MPPS: handler}, poll_s=0.1)
    create = outbox.enqueue(
        JobKind.MPPS,
        "ris",
        sop_uid=mpps_job_key(step, MppsMessage.CREATE),
        payload=mpps_payload(step, MppsMessage.CREATE),
    )
    complete = outbox.enqueue(
        JobKind.MPPS,
        "ris",
        sop_uid=mpps_job_key(done, MppsMessage.SET, MppsStatus.COMPLETED),
        payload=mpps_payload(done, MppsMessage.SET, MppsStatus.COMPLETED),
    )
    with PeerSet(tmp_path / "peers") as peers:
        try:
            dispatcher.start()
            assert _wait(lambda: (outbox.job(create.job_id) or create).attempts >= 2)
            waiting = outbox.job(create.job_id)
            assert waiting is not None and waiting.state is not JobState.DONE
            assert "connection refused" in waiting.last_error
            held = outbox.job(complete.job_id)
            assert held is not None and held.state is JobState.QUEUED and held.attempts == 0

            late = peers.start([name], ports={name: port})[name]
            assert dispatcher.run_until_idle(15.0, wait_for_retries=True)
        finally:
            dispatcher.stop()
            outbox.close()
        files = received(late, step)
        assert [f.name.split(".")[-2] for f in files] == ["create", "set"]
        assert state(late, step).PerformedProcedureStepStatus == "COMPLETED"


def _wait(predicate: Callable[[], bool], timeout_s: float = 10.0) -> bool:
    import time

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_handle_mpps_job_refuses_an_unreadable_payload(factory: AssociationFactory) -> None:
    target = Destination(name="ris", ae_title="X", host="127.0.0.1", port=free_port())
    with pytest.raises(DeliveryError, match="payload") as caught:
        handle_mpps_job(factory, target, {"version": 1, "message": "create", "step": {}})
    assert not caught.value.transient
