"""A worklist item, typed, and what it becomes in the procedure's context.

The mapping follows IHE Scheduled Workflow as seen from the acquisition modality: the Study
Instance UID comes from the item (so that RIS, PACS and modality agree), and the scheduling
information goes into the Request Attributes Sequence (0040,0275) of each series (PS3.3
C.7.3.1, General Series; its items are the Request Attributes Macro, PS3.3 Table 10-9) and
into the MPPS Scheduled Step Attributes Sequence (0040,0270) (PS3.4 F.7.2, Table F.7.2-1).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from izer.model import Patient, Sex


class WorklistItemError(ValueError):
    """A response that cannot be used as a worklist item (the message says which and why)."""


@dataclass(frozen=True)
class Code:
    """One coded entry (PS3.3 Table 8.8-1: Code Value, Coding Scheme Designator, Meaning)."""

    value: str
    scheme: str
    meaning: str
    scheme_version: str = ""

    @classmethod
    def from_item(cls, item: Dataset) -> Code:
        """Read a code sequence item (Code Value, or Long Code Value / URN Code Value)."""
        value = item.get("CodeValue") or item.get("LongCodeValue") or item.get("URNCodeValue") or ""
        return cls(
            value=str(value),
            scheme=str(item.get("CodingSchemeDesignator", "") or ""),
            meaning=str(item.get("CodeMeaning", "") or ""),
            scheme_version=str(item.get("CodingSchemeVersion", "") or ""),
        )

    def to_item(self) -> Dataset:
        """A code sequence item; values over 16 characters go into Long Code Value."""
        item = Dataset()
        if len(self.value) > 16:
            item.LongCodeValue = self.value
        else:
            item.CodeValue = self.value
        item.CodingSchemeDesignator = self.scheme
        if self.scheme_version:
            item.CodingSchemeVersion = self.scheme_version
        item.CodeMeaning = self.meaning
        return item


def _codes(dataset: Dataset, keyword: str) -> tuple[Code, ...]:
    return tuple(Code.from_item(item) for item in dataset.get(keyword, None) or [])


def _code_sequence(codes: Iterable[Code]) -> Sequence:
    return Sequence([code.to_item() for code in codes])


def _text(dataset: Dataset, keyword: str) -> str:
    value = dataset.get(keyword, "")
    if value is None:
        return ""
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return "\\".join(str(v) for v in value)
    return str(value)


def _issuer(dataset: Dataset, keyword: str) -> str:
    """Local Namespace Entity ID of an issuer sequence (PS3.3 Table 10-17), or ""."""
    items = dataset.get(keyword, None) or []
    return str(items[0].get("LocalNamespaceEntityID", "") or "") if items else ""


def _sex(value: str, where: str) -> Sex:
    try:
        return Sex(value.strip().upper())
    except ValueError:
        # An unknown code is kept out rather than invented; the raw value stays in `raw`.
        return Sex.UNKNOWN


@dataclass(frozen=True)
class WorklistItem:
    """One scheduled procedure step of a Modality Worklist response (PS3.4 K.6, Table K.6-1).

    Text is already decoded (see :mod:`izer.worklist.charsets`); ``raw`` is the decoded
    response as received, kept for anything izer does not type.
    """

    patient: Patient
    accession_number: str
    study_instance_uid: str
    requested_procedure_id: str = ""
    requested_procedure_description: str = ""
    requested_procedure_codes: tuple[Code, ...] = ()
    sps_id: str = ""
    sps_description: str = ""
    sps_start_date: str = ""
    sps_start_time: str = ""
    modality: str = ""
    station_ae_title: str = ""
    station_name: str = ""
    sps_location: str = ""
    sps_status: str = ""
    performing_physician: str = ""
    protocol_codes: tuple[Code, ...] = ()
    referring_physician: str = ""
    requesting_physician: str = ""
    admission_id: str = ""
    study_description: str = ""
    accession_issuer: str = ""
    other_patient_ids: tuple[tuple[str, str], ...] = ()
    referenced_study: tuple[tuple[str, str], ...] = ()
    provider: str = ""
    raw: Dataset = field(default_factory=Dataset, compare=False, repr=False)

    @classmethod
    def from_dataset(cls, dataset: Dataset, *, provider: str = "") -> WorklistItem:
        """Type a decoded MWL response.

        Raises
        ------
        WorklistItemError
            When the Scheduled Procedure Step Sequence (0040,0100) is missing or empty:
            without it the response is no worklist item (PS3.4 Table K.6-1, type 1).
        """
        steps = dataset.get("ScheduledProcedureStepSequence", None) or []
        if not steps:
            accession = _text(dataset, "AccessionNumber") or "(no accession)"
            raise WorklistItemError(
                f"{provider or 'worklist'} response {accession}: no Scheduled Procedure Step "
                "Sequence (0040,0100); ask the RIS to send it"
            )
        step = steps[0]
        patient = Patient(
            patient_id=_text(dataset, "PatientID"),
            name=_text(dataset, "PatientName"),
            birth_date=_text(dataset, "PatientBirthDate"),
            sex=_sex(_text(dataset, "PatientSex"), "PatientSex"),
            issuer=_text(dataset, "IssuerOfPatientID"),
        )
        return cls(
            patient=patient,
            accession_number=_text(dataset, "AccessionNumber"),
            study_instance_uid=_text(dataset, "StudyInstanceUID"),
            requested_procedure_id=_text(dataset, "RequestedProcedureID"),
            requested_procedure_description=_text(dataset, "RequestedProcedureDescription"),
            requested_procedure_codes=_codes(dataset, "RequestedProcedureCodeSequence"),
            sps_id=_text(step, "ScheduledProcedureStepID"),
            sps_description=_text(step, "ScheduledProcedureStepDescription"),
            sps_start_date=_text(step, "ScheduledProcedureStepStartDate"),
            sps_start_time=_text(step, "ScheduledProcedureStepStartTime"),
            modality=_text(step, "Modality"),
            station_ae_title=_text(step, "ScheduledStationAETitle"),
            station_name=_text(step, "ScheduledStationName"),
            sps_location=_text(step, "ScheduledProcedureStepLocation"),
            sps_status=_text(step, "ScheduledProcedureStepStatus"),
            performing_physician=_text(step, "ScheduledPerformingPhysicianName"),
            protocol_codes=_codes(step, "ScheduledProtocolCodeSequence"),
            referring_physician=_text(dataset, "ReferringPhysicianName"),
            requesting_physician=_text(dataset, "RequestingPhysician"),
            admission_id=_text(dataset, "AdmissionID"),
            study_description=_text(dataset, "StudyDescription"),
            accession_issuer=_issuer(dataset, "IssuerOfAccessionNumberSequence"),
            other_patient_ids=tuple(
                (_text(item, "PatientID"), _text(item, "IssuerOfPatientID"))
                for item in dataset.get("OtherPatientIDsSequence", None) or []
            ),
            referenced_study=tuple(
                (_text(item, "ReferencedSOPClassUID"), _text(item, "ReferencedSOPInstanceUID"))
                for item in dataset.get("ReferencedStudySequence", None) or []
            ),
            provider=provider,
            raw=dataset,
        )

    @property
    def key(self) -> tuple[str, str]:
        """What identifies the step across providers: (Accession Number, SPS ID).

        Falls back to the Study Instance UID when both are empty.
        """
        if self.accession_number or self.sps_id:
            return (self.accession_number, self.sps_id)
        return (self.study_instance_uid, "")

    @property
    def description(self) -> str:
        """Study Description for the images: the item's own, else the requested procedure's,
        else the step's."""
        return (
            self.study_description or self.requested_procedure_description or (self.sps_description)
        )

    def request_attributes(self) -> list[Dataset]:
        """Items of the Request Attributes Sequence (0040,0275) for every series.

        One item per scheduled step (here: this one), per the Request Attributes Macro
        (PS3.3 Table 10-9, used by General Series, C.7.3.1): Requested Procedure ID (1C,
        present because the step was scheduled), Accession Number and Issuer of Accession
        Number Sequence, Study Instance UID, Referenced Study Sequence, Requested Procedure
        Description and Code Sequence, Scheduled Procedure Step ID (1C), Description and
        Scheduled Protocol Code Sequence (all type 3: left out when the RIS sent nothing).
        """
        item = Dataset()
        item.RequestedProcedureID = self.requested_procedure_id
        if self.accession_number:
            item.AccessionNumber = self.accession_number
        if self.accession_issuer:
            issuer = Dataset()
            issuer.LocalNamespaceEntityID = self.accession_issuer
            item.IssuerOfAccessionNumberSequence = [issuer]
        if self.study_instance_uid:
            item.StudyInstanceUID = self.study_instance_uid
        if self.referenced_study:
            item.ReferencedStudySequence = _referenced(self.referenced_study)
        if self.requested_procedure_description:
            item.RequestedProcedureDescription = self.requested_procedure_description
        if self.requested_procedure_codes:
            item.RequestedProcedureCodeSequence = _code_sequence(self.requested_procedure_codes)
        item.ScheduledProcedureStepID = self.sps_id
        if self.sps_description:
            item.ScheduledProcedureStepDescription = self.sps_description
        if self.protocol_codes:
            item.ScheduledProtocolCodeSequence = _code_sequence(self.protocol_codes)
        return [item]

    def scheduled_step_attributes(self) -> Dataset:
        """The MPPS Scheduled Step Attributes Sequence (0040,0270) item (PS3.4 Table F.7.2-1).

        Study Instance UID is type 1; Referenced Study Sequence, Accession Number, Requested
        Procedure ID and Description, SPS ID and Description and Scheduled Protocol Code
        Sequence are type 2 (sent empty when unknown).
        """
        item = Dataset()
        item.StudyInstanceUID = self.study_instance_uid
        item.ReferencedStudySequence = _referenced(self.referenced_study)
        item.AccessionNumber = self.accession_number
        if self.accession_issuer:
            issuer = Dataset()
            issuer.LocalNamespaceEntityID = self.accession_issuer
            item.IssuerOfAccessionNumberSequence = [issuer]
        item.RequestedProcedureID = self.requested_procedure_id
        item.RequestedProcedureDescription = self.requested_procedure_description
        item.ScheduledProcedureStepID = self.sps_id
        item.ScheduledProcedureStepDescription = self.sps_description
        item.ScheduledProtocolCodeSequence = _code_sequence(self.protocol_codes)
        return item

    def context(self) -> RequestContext:
        """The procedure's context built from this item."""
        return RequestContext.from_item(self)


def _referenced(pairs: tuple[tuple[str, str], ...]) -> Sequence:
    items = []
    for sop_class, sop_instance in pairs:
        item = Dataset()
        item.ReferencedSOPClassUID = sop_class
        item.ReferencedSOPInstanceUID = sop_instance
        items.append(item)
    return Sequence(items)


@dataclass(frozen=True)
class RequestContext:
    """What a selected worklist item gives the procedure: patient, study and request.

    ``study_attributes()`` is what every instance of the study carries (Patient and General
    Study modules, PS3.3 C.7.1.1 and C.7.2.1, plus the Request Attributes Sequence of C.7.3.1);
    the encoder adds its own study date/time and Study ID.
    """

    patient: Patient
    study_instance_uid: str
    accession_number: str
    accession_issuer: str
    referring_physician: str
    admission_id: str
    study_description: str
    procedure_codes: tuple[Code, ...]
    request_attributes: tuple[Dataset, ...]
    scheduled_step: Dataset
    other_patient_ids: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_item(cls, item: WorklistItem) -> RequestContext:
        """Map a worklist item (see the module docstring for the rules)."""
        if not item.study_instance_uid:
            raise WorklistItemError(
                f"worklist item {item.accession_number or '(no accession)'} has no Study "
                "Instance UID (0020,000D); the images would not match the RIS order. Ask the "
                "RIS to send it, or start the procedure as unscheduled"
            )
        return cls(
            patient=item.patient,
            study_instance_uid=item.study_instance_uid,
            accession_number=item.accession_number,
            accession_issuer=item.accession_issuer,
            referring_physician=item.referring_physician,
            admission_id=item.admission_id,
            study_description=item.description,
            procedure_codes=item.requested_procedure_codes,
            request_attributes=tuple(item.request_attributes()),
            scheduled_step=item.scheduled_step_attributes(),
            other_patient_ids=item.other_patient_ids,
        )

    def study_attributes(self) -> Dataset:
        """Patient, General Study and Request Attributes for each instance (copies).

        Patient's Name/ID/Birth Date/Sex and Referring Physician's Name and Accession
        Number are type 2 and always present; Procedure Code Sequence (0008,1032) carries the
        Requested Procedure Code Sequence (PS3.3 C.7.2.1; IHE SWF).
        """
        ds = Dataset()
        ds.PatientName = self.patient.name
        ds.PatientID = self.patient.patient_id
        if self.patient.issuer:
            ds.IssuerOfPatientID = self.patient.issuer
        ds.PatientBirthDate = self.patient.birth_date
        ds.PatientSex = self.patient.sex.value
        if self.other_patient_ids:
            others = []
            for patient_id, issuer in self.other_patient_ids:
                other = Dataset()
                other.PatientID = patient_id
                other.IssuerOfPatientID = issuer
                others.append(other)
            ds.OtherPatientIDsSequence = others
        ds.StudyInstanceUID = self.study_instance_uid
        ds.AccessionNumber = self.accession_number
        if self.accession_issuer:
            issuer = Dataset()
            issuer.LocalNamespaceEntityID = self.accession_issuer
            ds.IssuerOfAccessionNumberSequence = [issuer]
        ds.ReferringPhysicianName = self.referring_physician
        if self.admission_id:
            ds.AdmissionID = self.admission_id
        if self.study_description:
            ds.StudyDescription = self.study_description
        if self.procedure_codes:
            ds.ProcedureCodeSequence = _code_sequence(self.procedure_codes)
        ds.RequestAttributesSequence = [copy.deepcopy(item) for item in self.request_attributes]
        return ds
