"""A worklist item becomes the procedure's context (PS3.3 C.7.3.1 / Table 10-9; PS3.4 F.7.2)."""

from __future__ import annotations

import pytest
from pydicom.dataset import Dataset

from izer.model import Sex
from izer.worklist import Code, WorklistItem, WorklistItemError

STUDY_UID = "1.2.826.0.1.3680043.10.1452.77.1"


def _code(value: str, meaning: str) -> Dataset:
    return Code(value, "SCT", meaning).to_item()


def _response() -> Dataset:
    """A decoded MWL response as a RIS sends it (made-up patient)."""
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.PatientName = "Lindqvist^Märta"
    ds.PatientID = "IZT-MAP-1"
    ds.IssuerOfPatientID = "IZHOSP"
    ds.PatientBirthDate = "19750612"
    ds.PatientSex = "F"
    other = Dataset()
    other.PatientID = "OLD-77"
    other.IssuerOfPatientID = "OLDHOSP"
    ds.OtherPatientIDsSequence = [other]
    ds.AccessionNumber = "IZACCMAP1"
    issuer = Dataset()
    issuer.LocalNamespaceEntityID = "IZRIS"
    ds.IssuerOfAccessionNumberSequence = [issuer]
    ds.ReferringPhysicianName = "Referrer^Rita"
    ds.AdmissionID = "ADM-42"
    ds.StudyInstanceUID = STUDY_UID
    ds.RequestedProcedureID = "RP-9"
    ds.RequestedProcedureDescription = "Upper GI endoscopy"
    ds.RequestedProcedureCodeSequence = [_code("1919006", "Endoscopy of stomach")]
    step = Dataset()
    step.Modality = "ES"
    step.ScheduledStationAETitle = "IZERTEST"
    step.ScheduledProcedureStepStartDate = "20240501"
    step.ScheduledProcedureStepStartTime = "093000"
    step.ScheduledProcedureStepID = "SPS-9-1"
    step.ScheduledProcedureStepDescription = "Gastroscopy"
    step.ScheduledProtocolCodeSequence = [_code("386831001", "Gastroscopy")]
    ds.ScheduledProcedureStepSequence = [step]
    return ds


def test_item_is_typed_from_the_response() -> None:
    item = WorklistItem.from_dataset(_response(), provider="ris")
    assert item.patient.name == "Lindqvist^Märta"
    assert (item.patient.patient_id, item.patient.issuer) == ("IZT-MAP-1", "IZHOSP")
    assert (item.patient.birth_date, item.patient.sex) == ("19750612", Sex.FEMALE)
    assert item.other_patient_ids == (("OLD-77", "OLDHOSP"),)
    assert (item.accession_number, item.accession_issuer) == ("IZACCMAP1", "IZRIS")
    assert (item.sps_id, item.sps_start_date, item.sps_start_time) == (
        "SPS-9-1",
        "20240501",
        "093000",
    )
    assert item.protocol_codes == (Code("386831001", "SCT", "Gastroscopy"),)
    assert item.requested_procedure_codes[0].meaning == "Endoscopy of stomach"
    assert item.key == ("IZACCMAP1", "SPS-9-1")
    assert item.provider == "ris"


def test_request_attributes_sequence_items() -> None:
    [request] = WorklistItem.from_dataset(_response()).request_attributes()
    assert request.RequestedProcedureID == "RP-9"
    assert request.AccessionNumber == "IZACCMAP1"
    assert request.IssuerOfAccessionNumberSequence[0].LocalNamespaceEntityID == "IZRIS"
    assert request.StudyInstanceUID == STUDY_UID
    assert request.RequestedProcedureDescription == "Upper GI endoscopy"
    assert request.RequestedProcedureCodeSequence[0].CodeValue == "1919006"
    assert request.ScheduledProcedureStepID == "SPS-9-1"
    assert request.ScheduledProcedureStepDescription == "Gastroscopy"
    assert request.ScheduledProtocolCodeSequence[0].CodeMeaning == "Gastroscopy"
    assert "PatientName" not in request


def test_context_carries_study_uid_accession_and_demographics() -> None:
    context = WorklistItem.from_dataset(_response()).context()
    study = context.study_attributes()
    assert study.StudyInstanceUID == STUDY_UID  # from the item: RIS and PACS match
    assert study.AccessionNumber == "IZACCMAP1"
    assert study.ReferringPhysicianName == "Referrer^Rita"
    assert study.AdmissionID == "ADM-42"
    assert study.StudyDescription == "Upper GI endoscopy"
    assert study.ProcedureCodeSequence[0].CodeValue == "1919006"
    assert str(study.PatientName) == "Lindqvist^Märta"
    assert (study.PatientID, study.PatientBirthDate, study.PatientSex) == (
        "IZT-MAP-1",
        "19750612",
        "F",
    )
    assert study.OtherPatientIDsSequence[0].PatientID == "OLD-77"
    assert study.RequestAttributesSequence[0].ScheduledProcedureStepID == "SPS-9-1"


def test_study_description_falls_back_to_the_step() -> None:
    response = _response()
    del response.RequestedProcedureDescription
    assert WorklistItem.from_dataset(response).description == "Gastroscopy"
    response.StudyDescription = "RIS study text"
    assert WorklistItem.from_dataset(response).description == "RIS study text"


def test_mpps_scheduled_step_has_type_2_attributes_even_when_empty() -> None:
    response = _response()
    del response.RequestedProcedureCodeSequence
    del response.ScheduledProcedureStepSequence[0].ScheduledProtocolCodeSequence
    step = WorklistItem.from_dataset(response).scheduled_step_attributes()
    assert step.StudyInstanceUID == STUDY_UID
    for keyword in (
        "ReferencedStudySequence",
        "AccessionNumber",
        "RequestedProcedureID",
        "RequestedProcedureDescription",
        "ScheduledProcedureStepID",
        "ScheduledProcedureStepDescription",
        "ScheduledProtocolCodeSequence",
    ):
        assert keyword in step, keyword
    assert list(step.ScheduledProtocolCodeSequence) == []


def test_type_3_request_attributes_are_left_out_when_unknown() -> None:
    response = _response()
    for keyword in ("RequestedProcedureDescription", "RequestedProcedureCodeSequence"):
        del response[keyword]
    [request] = WorklistItem.from_dataset(response).request_attributes()
    assert "RequestedProcedureDescription" not in request
    assert "RequestedProcedureCodeSequence" not in request
    assert request.RequestedProcedureID == "RP-9"  # 1C: the step was scheduled


def test_a_response_without_a_step_is_refused() -> None:
    response = _response()
    del response.ScheduledProcedureStepSequence
    with pytest.raises(WorklistItemError, match=r"IZACCMAP1.*Scheduled Procedure Step Sequence"):
        WorklistItem.from_dataset(response)


def test_an_item_without_study_uid_cannot_become_a_context() -> None:
    response = _response()
    response.StudyInstanceUID = ""
    with pytest.raises(WorklistItemError, match="Study Instance UID"):
        WorklistItem.from_dataset(response).context()


def test_long_code_values_go_into_long_code_value() -> None:
    item = Code("A" * 20, "99LOCAL", "Local procedure").to_item()
    assert item.LongCodeValue == "A" * 20
    assert "CodeValue" not in item
    assert Code.from_item(item).value == "A" * 20
