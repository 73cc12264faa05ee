"""MPPS SCU: Modality Performed Procedure Step N-CREATE and N-SET (PS3.4 Annex F.7).

The procedure's start creates the MPPS instance (N-CREATE, status ``IN PROGRESS``) with every
attribute of the N-CREATE column of PS3.4 Table F.7.2-1, those to be set later created empty
(F.7.2.2: only attributes created at N-CREATE may be N-SET, so the discontinuation reason is
created empty too). Its end sets ``COMPLETED`` with the Performed Series Sequence listing every
instance (images under Referenced Image Sequence, PDF, audio and presentation states under
Referenced Non-Image Composite SOP Instance Sequence), or ``DISCONTINUED`` with a reason from
CID 9300 (F.7.2.2). An N-SET carries every item of the sequences it sets, not only new ones.

Unscheduled procedures (no worklist entry) follow F.7.2.1: one Scheduled Step Attributes item
holding only the Study Instance UID izer generated, its type 2 attributes empty and its type 3
attributes left out.

Messages are outbox jobs (:class:`~izer.dispatch.outbox.JobKind.MPPS`, strictly ordered per
destination): :func:`mpps_payload` turns a step and the message into the job's JSON payload and
:func:`mpps_job_handler` runs it. A duplicate N-CREATE (0x0111) is taken as success, so a retry
after a lost answer is harmless; a final N-SET answered "may no longer be updated" (0x0110) on a
retry is taken as applied by the earlier attempt.

Example::

    step = PerformedStep(sop_instance_uid=uid, pps_id="PPS1", station_ae="IZER", ...)
    outbox.enqueue(JobKind.MPPS, "ris", sop_uid=mpps_job_key(step, MppsMessage.CREATE),
                   payload=mpps_payload(step, MppsMessage.CREATE))
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydicom.dataset import Dataset
from pydicom.uid import UID
from pynetdicom.association import Association

from izer.config import Destination
from izer.dispatch.cstore import _association_transient
from izer.dispatch.errors import DeliveryError
from izer.dispatch.outbox import Handler, Job
from izer.dispatch.statuses import StatusKind, general_status_meaning
from izer.encode.charset import CharacterSetError, check_encodable, specific_character_set
from izer.encode.codes import Code
from izer.model import Patient, Sex
from izer.net.association import AssociationFactory, AssociationFailed

log = logging.getLogger(__name__)

#: Modality Performed Procedure Step SOP Class (PS3.4 F.7.1).
MPPS_SOP_CLASS = "1.2.840.10008.3.1.2.3.3"
#: Version of the job payload written by :func:`mpps_payload`.
PAYLOAD_VERSION = 1

#: A reference to a composite instance: (SOP Class UID, SOP Instance UID).
Reference = tuple[str, str]


class MppsStatus(enum.StrEnum):
    """Performed Procedure Step Status (0040,0252), PS3.3 C.4.14."""

    IN_PROGRESS = "IN PROGRESS"
    COMPLETED = "COMPLETED"
    DISCONTINUED = "DISCONTINUED"

    @property
    def is_final(self) -> bool:
        """True for COMPLETED and DISCONTINUED: no N-SET may follow (PS3.4 F.7.2.2)."""
        return self is not MppsStatus.IN_PROGRESS


class MppsMessage(enum.StrEnum):
    """Which DIMSE message an MPPS job sends."""

    CREATE = "create"
    SET = "set"


def _dcm(value: str, meaning: str) -> Code:
    return Code(value, "DCM", meaning)


class DiscontinuationReason(enum.Enum):
    """Performed Procedure Step Discontinuation Reasons, PS3.16 CID 9300.

    (Later editions list the same DCM codes as CID 9301 "Modality PPS Discontinuation
    Reason".) ``INCORRECT_WORKLIST_ENTRY`` (110514) is what the user picks after starting the
    wrong worklist entry; archives such as dcm4chee then hide that entry.
    """

    DOCTOR_CANCELED = _dcm("110500", "Doctor canceled procedure")
    EQUIPMENT_FAILURE = _dcm("110501", "Equipment failure")
    INCORRECT_PROCEDURE_ORDERED = _dcm("110502", "Incorrect procedure ordered")
    PATIENT_ALLERGIC = _dcm("110503", "Patient allergic to media/contrast")
    PATIENT_DIED = _dcm("110504", "Patient died")
    PATIENT_REFUSED = _dcm("110505", "Patient refused to continue procedure")
    PATIENT_TAKEN_FOR_TREATMENT = _dcm("110506", "Patient taken for treatment or surgery")
    PATIENT_DID_NOT_ARRIVE = _dcm("110507", "Patient did not arrive")
    PATIENT_PREGNANT = _dcm("110508", "Patient pregnant")
    CHANGE_FOR_CORRECT_CHARGING = _dcm("110509", "Change of procedure for correct charging")
    DUPLICATE_ORDER = _dcm("110510", "Duplicate order")
    NURSING_UNIT_CANCEL = _dcm("110511", "Nursing unit cancel")
    INCORRECT_SIDE_ORDERED = _dcm("110512", "Incorrect side ordered")
    UNSPECIFIED = _dcm("110513", "Discontinued for unspecified reason")
    INCORRECT_WORKLIST_ENTRY = _dcm("110514", "Incorrect worklist entry selected")
    PATIENT_CONDITION = _dcm("110515", "Patient condition prevented continuing")
    EQUIPMENT_CHANGE = _dcm("110516", "Equipment change")

    @property
    def code(self) -> Code:
        """The coded concept."""
        return self.value


# --------------------------------------------------------------------------- the step


def _check_uid(value: str, name: str) -> None:
    if not value or not UID(value).is_valid:
        raise ValueError(f"{name}: {value!r} is not a valid DICOM UID (digits and dots, 64 max)")


def _check_references(references: Sequence[Reference], name: str) -> None:
    for index, reference in enumerate(references):
        if len(reference) != 2:
            raise ValueError(f"{name}[{index}]: expected (SOP Class UID, SOP Instance UID)")
        _check_uid(reference[0], f"{name}[{index}] SOP Class UID")
        _check_uid(reference[1], f"{name}[{index}] SOP Instance UID")


@dataclass(frozen=True)
class ScheduledStep:
    """One item of the Scheduled Step Attributes Sequence (0040,0270), from the worklist.

    Parameters
    ----------
    study_uid
        Study Instance UID (0020,000D) of the requested procedure.
    accession
        Accession Number (0008,0050).
    requested_procedure_id, requested_procedure_description
        Requested Procedure ID (0040,1001) and Description (0032,1060).
    sps_id, sps_description
        Scheduled Procedure Step ID (0040,0009) and Description (0040,0007).
    protocol_codes
        Scheduled Protocol Code Sequence (0040,0008).
    referenced_study
        Referenced Study Sequence (0008,1110) items as (SOP Class UID, SOP Instance UID).
    """

    study_uid: str
    accession: str = ""
    requested_procedure_id: str = ""
    requested_procedure_description: str = ""
    sps_id: str = ""
    sps_description: str = ""
    protocol_codes: tuple[Code, ...] = ()
    referenced_study: tuple[Reference, ...] = ()

    def __post_init__(self) -> None:
        _check_uid(self.study_uid, "ScheduledStep.study_uid (Study Instance UID)")
        _check_references(self.referenced_study, "ScheduledStep.referenced_study")


@dataclass(frozen=True)
class PerformedSeries:
    """One item of the Performed Series Sequence (0040,0340), PS3.4 Table F.7.2-1.

    Parameters
    ----------
    series_uid
        Series Instance UID (0020,000E).
    protocol_name
        Protocol Name (0018,1030), type 1: say what was done (e.g. "Colonoscopy").
    description
        Series Description (0008,103E).
    performing_physician
        Performing Physician's Name (0008,1050), PN.
    operators
        Operators' Name (0008,1070), PN values.
    retrieve_ae
        Retrieve AE Title (0008,0054) where the instances can be had.
    images
        Image instances (SOP class, SOP instance): Referenced Image Sequence (0008,1140).
    non_images
        PDF, audio, presentation states and other non-image instances: Referenced Non-Image
        Composite SOP Instance Sequence (0040,0220).
    """

    series_uid: str
    protocol_name: str
    description: str = ""
    performing_physician: str = ""
    operators: tuple[str, ...] = ()
    retrieve_ae: str = ""
    images: tuple[Reference, ...] = ()
    non_images: tuple[Reference, ...] = ()

    def __post_init__(self) -> None:
        _check_uid(self.series_uid, "PerformedSeries.series_uid (Series Instance UID)")
        if not self.protocol_name.strip():
            raise ValueError(
                f"PerformedSeries {self.series_uid}: protocol_name (Protocol Name, type 1 in "
                "PS3.4 Table F.7.2-1) is empty; give the procedure's name"
            )
        _check_references(self.images, f"PerformedSeries {self.series_uid} images")
        _check_references(self.non_images, f"PerformedSeries {self.series_uid} non_images")


@dataclass(frozen=True)
class PerformedStep:
    """Everything an MPPS instance says about one performed procedure step.

    Parameters
    ----------
    sop_instance_uid
        The MPPS SOP Instance UID; the SCU chooses it (PS3.4 F.7.2.1.1).
    pps_id
        Performed Procedure Step ID (0040,0253), at most 16 characters.
    station_ae
        Performed Station AE Title (0040,0241).
    start
        PPS Start Date/Time (0040,0244/0245), local time.
    modality
        Modality (0008,0060), e.g. ``ES``, ``XC``, ``OT``.
    patient
        Patient's Name, ID, Birth Date, Sex (and Issuer of Patient ID when known).
    scheduled_steps
        Worklist entries performed; empty for an unscheduled procedure (F.7.2.1): then
        ``study_uid`` is required and one item with only it is sent.
    study_uid
        Study Instance UID for the unscheduled case (ignored when scheduled steps are given).
    station_name, location
        Performed Station Name (0040,0242) and Performed Location (0040,0243).
    end
        PPS End Date/Time (0040,0250/0251); required for COMPLETED and DISCONTINUED.
    study_id
        Study ID (0020,0010).
    description, procedure_type_description
        Performed Procedure Step Description (0040,0254) and Performed Procedure Type
        Description (0040,0255).
    procedure_codes
        Procedure Code Sequence (0008,1032), not the Performed Procedure Code Sequence.
    performed_protocol_codes
        Performed Protocol Code Sequence (0040,0260).
    performed_series
        Performed Series Sequence (0040,0340); sent with the N-SET, created empty.
    character_set
        Specific Character Set name (``ISO_IR 192`` UTF-8 by default, PS3.5 6.1).
    """

    sop_instance_uid: str
    pps_id: str
    station_ae: str
    start: datetime
    modality: str
    patient: Patient
    scheduled_steps: tuple[ScheduledStep, ...] = ()
    study_uid: str = ""
    station_name: str = ""
    location: str = ""
    end: datetime | None = None
    study_id: str = ""
    description: str = ""
    procedure_type_description: str = ""
    procedure_codes: tuple[Code, ...] = ()
    performed_protocol_codes: tuple[Code, ...] = ()
    performed_series: tuple[PerformedSeries, ...] = ()
    character_set: str = "ISO_IR 192"

    def __post_init__(self) -> None:
        _check_uid(self.sop_instance_uid, "PerformedStep.sop_instance_uid (MPPS SOP Instance)")
        for name, value, limit in (
            ("pps_id (Performed Procedure Step ID)", self.pps_id, 16),
            ("station_ae (Performed Station AE Title)", self.station_ae, 16),
            ("modality (Modality)", self.modality, 16),
        ):
            if not value.strip():
                raise ValueError(f"PerformedStep.{name} is type 1 (PS3.4 F.7.2-1): give a value")
            if len(value) > limit:
                raise ValueError(
                    f"PerformedStep.{name}: {value!r} is longer than {limit} characters"
                )
        if not self.scheduled_steps:
            if not self.study_uid:
                raise ValueError(
                    "PerformedStep: an unscheduled step (no scheduled_steps) needs study_uid, "
                    "the Study Instance UID izer generated (PS3.4 F.7.2.1)"
                )
            _check_uid(self.study_uid, "PerformedStep.study_uid (Study Instance UID)")
        if self.end is not None and self.end < self.start:
            raise ValueError(
                f"PerformedStep: end {self.end.isoformat()} is before start "
                f"{self.start.isoformat()}"
            )

    @property
    def scheduled(self) -> bool:
        """False for an unscheduled procedure (no worklist entry)."""
        return bool(self.scheduled_steps)

    @property
    def study_instance_uid(self) -> str:
        """The Study Instance UID the step's instances go into."""
        return self.scheduled_steps[0].study_uid if self.scheduled_steps else self.study_uid


# --------------------------------------------------------------------------- data sets


def _date(moment: datetime | None) -> str:
    return "" if moment is None else moment.strftime("%Y%m%d")


def _time(moment: datetime | None) -> str:
    return "" if moment is None else moment.strftime("%H%M%S")


def _codes(codes: Sequence[Code]) -> list[Dataset]:
    return [code.to_dataset() for code in codes]


def _references(references: Sequence[Reference]) -> list[Dataset]:
    items = []
    for sop_class, sop_uid in references:
        item = Dataset()
        item.ReferencedSOPClassUID = sop_class
        item.ReferencedSOPInstanceUID = sop_uid
        items.append(item)
    return items


def _scheduled_item(step: ScheduledStep) -> Dataset:
    item = Dataset()
    item.StudyInstanceUID = step.study_uid
    item.ReferencedStudySequence = _references(step.referenced_study)
    item.AccessionNumber = step.accession
    item.RequestedProcedureID = step.requested_procedure_id
    item.RequestedProcedureDescription = step.requested_procedure_description
    item.ScheduledProcedureStepID = step.sps_id
    item.ScheduledProcedureStepDescription = step.sps_description
    item.ScheduledProtocolCodeSequence = _codes(step.protocol_codes)
    return item


def _series_item(series: PerformedSeries) -> Dataset:
    item = Dataset()
    item.PerformingPhysicianName = series.performing_physician
    item.ProtocolName = series.protocol_name
    item.OperatorsName = list(series.operators)
    item.SeriesInstanceUID = series.series_uid
    item.SeriesDescription = series.description
    item.RetrieveAETitle = series.retrieve_ae
    item.ReferencedImageSequence = _references(series.images)
    item.ReferencedNonImageCompositeSOPInstanceSequence = _references(series.non_images)
    return item


def _checked(dataset: Dataset, what: str) -> Dataset:
    try:
        check_encodable(dataset)
    except CharacterSetError as exc:
        raise ValueError(f"MPPS {what}: {exc}") from None
    return dataset


def n_create_dataset(step: PerformedStep) -> Dataset:
    """The N-CREATE attribute list (PS3.4 Table F.7.2-1, N-CREATE column), status IN PROGRESS.

    Every type 2 attribute is present, empty when not known yet: PPS End Date/Time,
    Performed Series Sequence and the Discontinuation Reason Code Sequence (type 3, created
    empty so that a DISCONTINUED N-SET may set it, F.7.2.2).

    Raises
    ------
    ValueError
        When a text value does not fit the step's character set (naming the attribute).
    """
    ds = Dataset()
    ds.SpecificCharacterSet = specific_character_set(step.character_set)
    if step.scheduled:
        ds.ScheduledStepAttributesSequence = [_scheduled_item(s) for s in step.scheduled_steps]
    else:
        # F.7.2.1: the SCU generates the Study Instance UID; type 2 empty, type 3 absent.
        ds.ScheduledStepAttributesSequence = [_scheduled_item(ScheduledStep(step.study_uid))]
    patient = step.patient
    ds.PatientName = patient.name
    ds.PatientID = patient.patient_id
    if patient.issuer:
        ds.IssuerOfPatientID = patient.issuer
    ds.PatientBirthDate = patient.birth_date
    ds.PatientSex = Sex(patient.sex).value
    ds.ReferencedPatientSequence = []
    ds.PerformedProcedureStepID = step.pps_id
    ds.PerformedStationAETitle = step.station_ae
    ds.PerformedStationName = step.station_name
    ds.PerformedLocation = step.location
    ds.PerformedProcedureStepStartDate = _date(step.start)
    ds.PerformedProcedureStepStartTime = _time(step.start)
    ds.PerformedProcedureStepStatus = MppsStatus.IN_PROGRESS.value
    ds.PerformedProcedureStepDescription = step.description
    ds.PerformedProcedureTypeDescription = step.procedure_type_description
    ds.ProcedureCodeSequence = _codes(step.procedure_codes)
    ds.PerformedProcedureStepEndDate = ""
    ds.PerformedProcedureStepEndTime = ""
    ds.PerformedProcedureStepDiscontinuationReasonCodeSequence = []
    ds.Modality = step.modality
    ds.StudyID = step.study_id
    ds.PerformedProtocolCodeSequence = _codes(step.performed_protocol_codes)
    ds.PerformedSeriesSequence = []
    return _checked(ds, "N-CREATE")


def n_set_dataset(
    step: PerformedStep,
    status: MppsStatus,
    discontinuation: Code | DiscontinuationReason | None = None,
) -> Dataset:
    """The N-SET modification list (PS3.4 Table F.7.2-1, N-SET column).

    Only attributes the N-CREATE created are set, and each sequence with all its items
    (F.7.2.2): status, the settable descriptions and code sequences, the Performed Series
    Sequence; for COMPLETED and DISCONTINUED also the end date and time; for DISCONTINUED the
    reason when given.

    Raises
    ------
    ValueError
        When a final status lacks ``step.end``, COMPLETED has no performed series (PS3.4
        F.7.2.2, final state), a reason is given for another status than DISCONTINUED, or a
        text value does not fit the character set.
    """
    status = MppsStatus(status)
    if isinstance(discontinuation, DiscontinuationReason):
        discontinuation = discontinuation.code
    if discontinuation is not None and status is not MppsStatus.DISCONTINUED:
        raise ValueError(
            f"MPPS N-SET {status.value}: a discontinuation reason "
            f"({discontinuation.value} {discontinuation.meaning!r}) goes with DISCONTINUED only"
        )
    if status.is_final and step.end is None:
        raise ValueError(
            f"MPPS N-SET {status.value}: PerformedStep.end (PPS End Date/Time, type 1 in the "
            "final state) is not set; set it to when the procedure ended"
        )
    if status is MppsStatus.COMPLETED and not step.performed_series:
        raise ValueError(
            "MPPS N-SET COMPLETED: the Performed Series Sequence must list at least one series "
            "(PS3.4 F.7.2.2, final state); with nothing captured, DISCONTINUE the step instead"
        )
    ds = Dataset()
    ds.SpecificCharacterSet = specific_character_set(step.character_set)
    ds.PerformedProcedureStepStatus = status.value
    if status.is_final:
        ds.PerformedProcedureStepEndDate = _date(step.end)
        ds.PerformedProcedureStepEndTime = _time(step.end)
    ds.PerformedProcedureStepDescription = step.description
    ds.PerformedProcedureTypeDescription = step.procedure_type_description
    ds.ProcedureCodeSequence = _codes(step.procedure_codes)
    ds.PerformedProtocolCodeSequence = _codes(step.performed_protocol_codes)
    ds.PerformedSeriesSequence = [_series_item(s) for s in step.performed_series]
    if discontinuation is not None:
        ds.PerformedProcedureStepDiscontinuationReasonCodeSequence = [discontinuation.to_dataset()]
    return _checked(ds, f"N-SET {status.value}")


# --------------------------------------------------------------------------- statuses


#: What an N-CREATE/N-SET response status means for the sender.
MppsStatusKind = StatusKind


@dataclass(frozen=True)
class MppsResult:
    """The SCP's answer to one MPPS message.

    Attributes
    ----------
    code
        Response status.
    meaning
        The status in plain words (with the SCP's Error Comment).
    duplicate
        True when an N-CREATE was answered 0x0111 (the instance exists: taken as success),
        or a final N-SET retry was answered 0x0110 (taken as applied earlier).
    """

    code: int
    meaning: str
    duplicate: bool = False


_MEANINGS: dict[int, tuple[MppsStatusKind, str]] = {
    0x0000: (MppsStatusKind.SUCCESS, "success"),
    0x0001: (MppsStatusKind.WARNING, "requested optional attributes are not supported"),
    0x0105: (MppsStatusKind.PERMANENT, "no such attribute (it was not created at N-CREATE)"),
    0x0106: (MppsStatusKind.PERMANENT, "invalid attribute value"),
    0x0107: (MppsStatusKind.WARNING, "attribute list error (some attributes were not kept)"),
    0x0110: (MppsStatusKind.TRANSIENT, "processing failure"),
    0x0111: (MppsStatusKind.PERMANENT, "duplicate SOP instance"),
    0x0112: (MppsStatusKind.PERMANENT, "no such SOP instance (the SCP does not know this MPPS)"),
    0x0116: (MppsStatusKind.WARNING, "attribute value out of range"),
    0x0117: (MppsStatusKind.PERMANENT, "invalid SOP instance"),
    0x0118: (MppsStatusKind.PERMANENT, "no such SOP class"),
    0x0119: (MppsStatusKind.PERMANENT, "class-instance conflict"),
    0x0120: (MppsStatusKind.PERMANENT, "missing attribute"),
    0x0121: (MppsStatusKind.PERMANENT, "missing attribute value"),
    0x0122: (MppsStatusKind.PERMANENT, "refused: SOP class not supported"),
    0x0124: (MppsStatusKind.PERMANENT, "refused: not authorized"),
    0x0210: (MppsStatusKind.TRANSIENT, "duplicate invocation"),
    0x0211: (MppsStatusKind.PERMANENT, "unrecognized operation"),
    0x0212: (MppsStatusKind.PERMANENT, "mistyped argument"),
    0x0213: (MppsStatusKind.TRANSIENT, "resource limitation"),
}


def status_meaning(code: int, message: MppsMessage) -> tuple[MppsStatusKind, str]:
    """Kind and plain words of an MPPS response status (PS3.4 F.7.2.1.2, F.7.2.2.2; PS3.7 C).

    For N-SET, 0x0110 is "Performed Procedure Step object may no longer be updated": the
    step is already COMPLETED or DISCONTINUED, which trying again cannot change. Out of
    resources (A7xx), resource limitation and a processing failure of N-CREATE are transient.
    """
    if message is MppsMessage.SET and code == 0x0110:
        return (
            MppsStatusKind.PERMANENT,
            "the performed procedure step may no longer be updated (it is already "
            "COMPLETED or DISCONTINUED)",
        )
    if code in _MEANINGS:
        return _MEANINGS[code]
    return general_status_meaning(code) or (
        MppsStatusKind.PERMANENT,
        "a status DICOM does not define for MPPS",
    )


# --------------------------------------------------------------------------- sending


def _send(
    factory: AssociationFactory,
    destination: Destination,
    step: PerformedStep,
    message: MppsMessage,
    dataset: Dataset,
    label: str,
    *,
    already_tried: bool,
    final: bool,
) -> MppsResult:
    what = f"MPPS {label} of {step.sop_instance_uid} (PPS ID {step.pps_id})"
    peer = destination.address
    try:
        with factory.associate(
            destination, [MPPS_SOP_CLASS], peer_sends_requests=False
        ) as association:
            status, _ = _exchange(association, message, dataset, step.sop_instance_uid)
            if "Status" not in status:
                association.abort()
                raise DeliveryError(
                    f"{what}: no answer from {peer} (association aborted or timed out)",
                    transient=True,
                )
    except AssociationFailed as exc:
        text = str(exc)
        raise DeliveryError(f"{what}: {text}", transient=_association_transient(text)) from None
    code = int(status.Status)
    kind, meaning = status_meaning(code, message)
    comment = str(status.get("ErrorComment", "") or "").strip()
    words = f"0x{code:04X} {meaning}" + (f": {comment}" if comment else "")
    if message is MppsMessage.CREATE and code == 0x0111:
        log.info("%s: %s already has it (0x0111); taken as created", what, peer)
        return MppsResult(code, words, duplicate=True)
    if message is MppsMessage.SET and code == 0x0110 and already_tried and final:
        log.warning(
            "%s: %s says the step may no longer be updated; taken as set by the earlier "
            "attempt whose answer was lost",
            what,
            peer,
        )
        return MppsResult(code, words, duplicate=True)
    if kind is MppsStatusKind.WARNING:
        log.warning("%s: %s accepted it with a warning: %s", what, peer, words)
    elif kind is not MppsStatusKind.SUCCESS:
        raise DeliveryError(
            f"{what}: {peer} refused it: status {words}",
            transient=kind is MppsStatusKind.TRANSIENT,
        )
    return MppsResult(code, words)


def _exchange(
    association: Association, message: MppsMessage, dataset: Dataset, sop_uid: str
) -> tuple[Dataset, Dataset | None]:
    if message is MppsMessage.CREATE:
        return association.send_n_create(dataset, MPPS_SOP_CLASS, sop_uid)
    return association.send_n_set(dataset, MPPS_SOP_CLASS, sop_uid)


def send_n_create(
    factory: AssociationFactory, destination: Destination, step: PerformedStep
) -> MppsResult:
    """N-CREATE the MPPS instance, status IN PROGRESS (PS3.4 F.7.2.1).

    A duplicate (0x0111) is taken as success: the instance exists, so a retry after a lost
    answer does no harm.

    Raises
    ------
    DeliveryError
        Naming the step, the SCP and the status in plain words; ``transient`` when trying
        again may succeed (SCP unreachable, no answer, out of resources).
    """
    return _send(
        factory,
        destination,
        step,
        MppsMessage.CREATE,
        n_create_dataset(step),
        "N-CREATE",
        already_tried=False,
        final=False,
    )


def send_n_set(
    factory: AssociationFactory,
    destination: Destination,
    step: PerformedStep,
    status: MppsStatus,
    discontinuation: Code | DiscontinuationReason | None = None,
    *,
    already_tried: bool = False,
) -> MppsResult:
    """N-SET the MPPS instance (PS3.4 F.7.2.2): progress, COMPLETED or DISCONTINUED.

    Parameters
    ----------
    already_tried
        True when an earlier attempt of the same message may have reached the SCP; a final
        N-SET answered 0x0110 ("may no longer be updated") is then taken as applied.

    Raises
    ------
    DeliveryError
        As :func:`send_n_create`; 0x0110 ("may no longer be updated"), 0x0112 (unknown
        instance), 0x0105 and 0x0106 are permanent.
    """
    status = MppsStatus(status)
    return _send(
        factory,
        destination,
        step,
        MppsMessage.SET,
        n_set_dataset(step, status, discontinuation),
        f"N-SET {status.value}",
        already_tried=already_tried,
        final=status.is_final,
    )


# --------------------------------------------------------------------------- job payloads


def _code_json(code: Code) -> list[str]:
    return [code.value, code.scheme, code.meaning]


def _code_from(value: Sequence[str]) -> Code:
    return Code(str(value[0]), str(value[1]), str(value[2]))


def _moment(text: str | None) -> datetime | None:
    return None if not text else datetime.fromisoformat(text)


def step_to_payload(step: PerformedStep) -> dict[str, Any]:
    """``step`` as JSON data (see :func:`step_from_payload`)."""
    patient = step.patient
    return {
        "sop_instance_uid": step.sop_instance_uid,
        "pps_id": step.pps_id,
        "station_ae": step.station_ae,
        "station_name": step.station_name,
        "location": step.location,
        "start": step.start.isoformat(),
        "end": step.end.isoformat() if step.end else None,
        "modality": step.modality,
        "study_id": step.study_id,
        "study_uid": step.study_uid,
        "patient": {
            "patient_id": patient.patient_id,
            "name": patient.name,
            "birth_date": patient.birth_date,
            "sex": Sex(patient.sex).value,
            "issuer": patient.issuer,
        },
        "scheduled_steps": [
            {
                "study_uid": s.study_uid,
                "accession": s.accession,
                "requested_procedure_id": s.requested_procedure_id,
                "requested_procedure_description": s.requested_procedure_description,
                "sps_id": s.sps_id,
                "sps_description": s.sps_description,
                "protocol_codes": [_code_json(c) for c in s.protocol_codes],
                "referenced_study": [list(r) for r in s.referenced_study],
            }
            for s in step.scheduled_steps
        ],
        "description": step.description,
        "procedure_type_description": step.procedure_type_description,
        "procedure_codes": [_code_json(c) for c in step.procedure_codes],
        "performed_protocol_codes": [_code_json(c) for c in step.performed_protocol_codes],
        "performed_series": [
            {
                "series_uid": s.series_uid,
                "protocol_name": s.protocol_name,
                "description": s.description,
                "performing_physician": s.performing_physician,
                "operators": list(s.operators),
                "retrieve_ae": s.retrieve_ae,
                "images": [list(r) for r in s.images],
                "non_images": [list(r) for r in s.non_images],
            }
            for s in step.performed_series
        ],
        "character_set": step.character_set,
    }


def step_from_payload(data: Mapping[str, Any]) -> PerformedStep:
    """The :class:`PerformedStep` :func:`step_to_payload` wrote.

    Raises
    ------
    ValueError
        When the data is incomplete or invalid (naming what).
    """
    try:
        patient = data["patient"]
        return PerformedStep(
            sop_instance_uid=data["sop_instance_uid"],
            pps_id=data["pps_id"],
            station_ae=data["station_ae"],
            station_name=data.get("station_name", ""),
            location=data.get("location", ""),
            start=datetime.fromisoformat(data["start"]),
            end=_moment(data.get("end")),
            modality=data["modality"],
            study_id=data.get("study_id", ""),
            study_uid=data.get("study_uid", ""),
            patient=Patient(
                patient_id=patient["patient_id"],
                name=patient["name"],
                birth_date=patient.get("birth_date", ""),
                sex=Sex(patient.get("sex", "")),
                issuer=patient.get("issuer", ""),
            ),
            scheduled_steps=tuple(
                ScheduledStep(
                    study_uid=s["study_uid"],
                    accession=s.get("accession", ""),
                    requested_procedure_id=s.get("requested_procedure_id", ""),
                    requested_procedure_description=s.get("requested_procedure_description", ""),
                    sps_id=s.get("sps_id", ""),
                    sps_description=s.get("sps_description", ""),
                    protocol_codes=tuple(_code_from(c) for c in s.get("protocol_codes", [])),
                    referenced_study=tuple(
                        (str(r[0]), str(r[1])) for r in s.get("referenced_study", [])
                    ),
                )
                for s in data.get("scheduled_steps", [])
            ),
            description=data.get("description", ""),
            procedure_type_description=data.get("procedure_type_description", ""),
            procedure_codes=tuple(_code_from(c) for c in data.get("procedure_codes", [])),
            performed_protocol_codes=tuple(
                _code_from(c) for c in data.get("performed_protocol_codes", [])
            ),
            performed_series=tuple(
                PerformedSeries(
                    series_uid=s["series_uid"],
                    protocol_name=s["protocol_name"],
                    description=s.get("description", ""),
                    performing_physician=s.get("performing_physician", ""),
                    operators=tuple(s.get("operators", [])),
                    retrieve_ae=s.get("retrieve_ae", ""),
                    images=tuple((str(r[0]), str(r[1])) for r in s.get("images", [])),
                    non_images=tuple((str(r[0]), str(r[1])) for r in s.get("non_images", [])),
                )
                for s in data.get("performed_series", [])
            ),
            character_set=data.get("character_set", "ISO_IR 192"),
        )
    except KeyError as exc:
        raise ValueError(f"MPPS job payload: the step lacks {exc.args[0]!r}") from None
    except (TypeError, IndexError) as exc:
        raise ValueError(f"MPPS job payload: malformed step ({exc})") from None


@dataclass(frozen=True)
class MppsJob:
    """One MPPS message to send, as an outbox job holds it."""

    step: PerformedStep
    message: MppsMessage
    status: MppsStatus = MppsStatus.IN_PROGRESS
    discontinuation: Code | None = field(default=None)


def mpps_payload(
    step: PerformedStep,
    message: MppsMessage,
    status: MppsStatus = MppsStatus.IN_PROGRESS,
    discontinuation: Code | DiscontinuationReason | None = None,
) -> dict[str, Any]:
    """The JSON payload of an MPPS outbox job (checked now, so a bad step fails at enqueue).

    Raises
    ------
    ValueError
        When the message cannot be built (see :func:`n_create_dataset`, :func:`n_set_dataset`).
    """
    message = MppsMessage(message)
    status = MppsStatus(status)
    if isinstance(discontinuation, DiscontinuationReason):
        discontinuation = discontinuation.code
    if message is MppsMessage.CREATE:
        if status is not MppsStatus.IN_PROGRESS or discontinuation is not None:
            raise ValueError("MPPS N-CREATE is always IN PROGRESS, without a reason (F.7.2.1)")
        n_create_dataset(step)
    else:
        n_set_dataset(step, status, discontinuation)
    return {
        "version": PAYLOAD_VERSION,
        "message": message.value,
        "status": status.value,
        "discontinuation": _code_json(discontinuation) if discontinuation else None,
        "step": step_to_payload(step),
    }


def mpps_job_key(
    step: PerformedStep, message: MppsMessage, status: MppsStatus | None = None
) -> str:
    """A distinct outbox ``sop_uid`` key for each message of one MPPS instance.

    The outbox takes jobs with the same key for duplicates; N-CREATE and each N-SET need
    their own (see :mod:`izer.dispatch.outbox`).
    """
    message = MppsMessage(message)
    if message is MppsMessage.CREATE:
        return f"mpps:{step.sop_instance_uid}:create"
    return f"mpps:{step.sop_instance_uid}:set-{MppsStatus(status or 'IN PROGRESS').name}"


def job_from_payload(payload: Mapping[str, Any]) -> MppsJob:
    """Read an MPPS job payload (:func:`mpps_payload`).

    Raises
    ------
    ValueError
        When it is not a payload this izer understands.
    """
    version = payload.get("version")
    if version != PAYLOAD_VERSION:
        raise ValueError(f"MPPS job payload version {version!r}, this izer reads {PAYLOAD_VERSION}")
    try:
        message = MppsMessage(payload["message"])
        status = MppsStatus(payload.get("status", MppsStatus.IN_PROGRESS.value))
    except (KeyError, ValueError) as exc:
        raise ValueError(f"MPPS job payload: bad message or status ({exc})") from None
    reason = payload.get("discontinuation")
    return MppsJob(
        step=step_from_payload(payload["step"]),
        message=message,
        status=status,
        discontinuation=_code_from(reason) if reason else None,
    )


def handle_mpps_job(
    factory: AssociationFactory,
    destination: Destination,
    payload: Mapping[str, Any],
    *,
    already_tried: bool = False,
) -> MppsResult:
    """Send the message an MPPS job payload describes.

    Raises
    ------
    DeliveryError
        When sending fails (see :func:`send_n_create`), or permanently when the payload is
        unreadable.
    """
    try:
        job = job_from_payload(payload)
    except ValueError as exc:
        raise DeliveryError(f"MPPS to {destination.name}: {exc}", transient=False) from None
    try:
        if job.message is MppsMessage.CREATE:
            return send_n_create(factory, destination, job.step)
        return send_n_set(
            factory,
            destination,
            job.step,
            job.status,
            job.discontinuation,
            already_tried=already_tried,
        )
    except ValueError as exc:
        raise DeliveryError(f"MPPS to {destination.name}: {exc}", transient=False) from None


def mpps_job_handler(
    resolve_destination: Callable[[str], Destination], factory: AssociationFactory
) -> Handler:
    """An outbox :data:`~izer.dispatch.outbox.Handler` for :attr:`JobKind.MPPS` jobs.

    ``resolve_destination`` maps the job's destination name to its settings; a ``KeyError``
    or ``ValueError`` from it fails the job permanently (the destination was removed).
    """

    def handle(job: Job, progress: Callable[[int, int], None]) -> None:
        progress(0, 0)  # lets a cancelled job stop before anything is sent
        try:
            destination = resolve_destination(job.destination)
        except (KeyError, ValueError) as exc:
            raise DeliveryError(
                f"MPPS: no destination {job.destination!r} in the settings ({exc})",
                transient=False,
            ) from None
        handle_mpps_job(factory, destination, job.payload, already_tried=job.attempts > 1)

    return handle


__all__ = [
    "MPPS_SOP_CLASS",
    "DiscontinuationReason",
    "MppsJob",
    "MppsMessage",
    "MppsResult",
    "MppsStatus",
    "MppsStatusKind",
    "PerformedSeries",
    "PerformedStep",
    "ScheduledStep",
    "handle_mpps_job",
    "job_from_payload",
    "mpps_job_handler",
    "mpps_job_key",
    "mpps_payload",
    "n_create_dataset",
    "n_set_dataset",
    "send_n_create",
    "send_n_set",
    "status_meaning",
    "step_from_payload",
    "step_to_payload",
]
