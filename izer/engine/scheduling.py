"""The procedure's request context, and the MPPS steps made from it.

A worklist item selected for a procedure becomes its :class:`ProcedureContext` (IHE Scheduled
Workflow, acquisition modality): the Study Instance UID of the item, and for every instance
the Accession Number, Referring Physician, Admission ID, Procedure Code Sequence (PS3.3
C.7.2.1, C.7.2.2) and the Request Attributes Sequence (C.7.3.1, Table 10-9). An unscheduled
procedure has an empty context: its Study Instance UID is izer's own, and its MPPS carries
only that UID in the Scheduled Step Attributes Sequence (PS3.4 F.7.2.1).

The context is kept with the procedure in the store as JSON (the sequences as DICOM JSON,
PS3.18 F.2), so that every still and clip captured later, in this run or the next, carries the
same values. It also holds the state of the procedure's MPPS instance (its UID, PPS ID and
start), which the N-SET needs when the procedure ends.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from pydicom.dataset import Dataset

from izer.config import Settings
from izer.config.settings import expand_identifier
from izer.dispatch.mpps import PerformedSeries, PerformedStep, ScheduledStep
from izer.encode import StudyContext
from izer.encode.codes import Code
from izer.model import InstanceRecord, Procedure, SeriesRecord
from izer.worklist import WorklistItem

#: Version of the JSON written by :meth:`ProcedureContext.to_json`.
CONTEXT_VERSION = 1

#: SOP Class UID prefixes of non-image objects: they go into the Referenced Non-Image
#: Composite SOP Instance Sequence of an MPPS (PS3.4 F.7.2.2): encapsulated documents (PDF,
#: CDA), waveforms (audio), presentation states, structured reports and key objects.
NON_IMAGE_PREFIXES = (
    "1.2.840.10008.5.1.4.1.1.104.",
    "1.2.840.10008.5.1.4.1.1.9.",
    "1.2.840.10008.5.1.4.1.1.11.",
    "1.2.840.10008.5.1.4.1.1.88.",
)

_BASE36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def is_image(sop_class_uid: str) -> bool:
    """Whether an MPPS lists the instance under Referenced Image Sequence (PS3.4 F.7.2.2)."""
    return not sop_class_uid.startswith(NON_IMAGE_PREFIXES)


@dataclass(frozen=True)
class MppsState:
    """The procedure's current MPPS instance.

    Attributes
    ----------
    uid
        MPPS SOP Instance UID (izer chooses it, PS3.4 F.7.2.1.1).
    pps_id
        Performed Procedure Step ID (0040,0253).
    start
        PPS Start Date/Time, local.
    destinations
        The MPPS destinations its N-CREATE was queued for (its N-SET goes to the same).
    """

    uid: str
    pps_id: str
    start: datetime
    destinations: tuple[str, ...] = ()


@dataclass(frozen=True)
class ProcedureContext:
    """What a procedure was scheduled as; empty (``scheduled`` false) for unscheduled work.

    Attributes
    ----------
    scheduled_step
        The MPPS Scheduled Step Attributes Sequence item (PS3.4 Table F.7.2-1).
    mpps
        The open MPPS instance, ``None`` before the procedure starts or once it ended.
    reported
        SOP Instance UIDs already listed by an ended MPPS of this procedure (an appended
        procedure's new MPPS lists only what was added).
    report_marks
        SOP Instance UIDs of the stills marked at review for the report, in marking order
        (see :mod:`izer.engine.reviewing`).
    """

    scheduled: bool = False
    provider: str = ""
    accession_issuer: str = ""
    referring_physician: str = ""
    admission_id: str = ""
    performing_physician: str = ""
    requested_procedure_description: str = ""
    procedure_codes: tuple[Dataset, ...] = ()
    request_attributes: tuple[Dataset, ...] = ()
    scheduled_step: Dataset | None = None
    mpps: MppsState | None = None
    reported: tuple[str, ...] = field(default=())
    mpps_count: int = 0
    report_marks: tuple[str, ...] = ()

    @classmethod
    def from_item(cls, item: WorklistItem) -> ProcedureContext:
        """The context of a worklist item (see the module docstring).

        Raises
        ------
        WorklistItemError
            When the item has no Study Instance UID.
        """
        request = item.context()
        return cls(
            scheduled=True,
            provider=item.provider,
            accession_issuer=request.accession_issuer,
            referring_physician=request.referring_physician,
            admission_id=request.admission_id,
            performing_physician=item.performing_physician,
            requested_procedure_description=item.requested_procedure_description,
            procedure_codes=tuple(code.to_item() for code in request.procedure_codes),
            request_attributes=request.request_attributes,
            scheduled_step=request.scheduled_step,
        )

    # -- JSON -----------------------------------------------------------------------------------

    def to_json(self) -> str:
        """The context as JSON text (sequences as DICOM JSON)."""
        data: dict[str, Any] = {
            "version": CONTEXT_VERSION,
            "scheduled": self.scheduled,
            "provider": self.provider,
            "accession_issuer": self.accession_issuer,
            "referring_physician": self.referring_physician,
            "admission_id": self.admission_id,
            "performing_physician": self.performing_physician,
            "requested_procedure_description": self.requested_procedure_description,
            "procedure_codes": [item.to_json_dict() for item in self.procedure_codes],
            "request_attributes": [item.to_json_dict() for item in self.request_attributes],
            "scheduled_step": (
                self.scheduled_step.to_json_dict() if self.scheduled_step is not None else None
            ),
            "mpps": (
                {
                    "uid": self.mpps.uid,
                    "pps_id": self.mpps.pps_id,
                    "start": self.mpps.start.isoformat(),
                    "destinations": list(self.mpps.destinations),
                }
                if self.mpps is not None
                else None
            ),
            "reported": list(self.reported),
            "mpps_count": self.mpps_count,
            "report_marks": list(self.report_marks),
        }
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> ProcedureContext:
        """Read :meth:`to_json`; empty text (a procedure from before contexts) is unscheduled.

        Raises
        ------
        ValueError
            When the text is not a context this izer wrote.
        """
        if not text:
            return cls()
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"procedure context is not JSON ({exc})") from None
        version = data.get("version") if isinstance(data, Mapping) else None
        if version != CONTEXT_VERSION:
            raise ValueError(
                f"procedure context version {version!r}, this izer reads {CONTEXT_VERSION}"
            )
        mpps = data.get("mpps")
        step = data.get("scheduled_step")
        return cls(
            scheduled=bool(data.get("scheduled")),
            provider=str(data.get("provider", "")),
            accession_issuer=str(data.get("accession_issuer", "")),
            referring_physician=str(data.get("referring_physician", "")),
            admission_id=str(data.get("admission_id", "")),
            performing_physician=str(data.get("performing_physician", "")),
            requested_procedure_description=str(data.get("requested_procedure_description", "")),
            procedure_codes=_datasets(data.get("procedure_codes", [])),
            request_attributes=_datasets(data.get("request_attributes", [])),
            scheduled_step=Dataset.from_json(step) if step else None,
            mpps=(
                MppsState(
                    uid=str(mpps["uid"]),
                    pps_id=str(mpps["pps_id"]),
                    start=datetime.fromisoformat(mpps["start"]),
                    destinations=tuple(str(d) for d in mpps.get("destinations", [])),
                )
                if mpps
                else None
            ),
            reported=tuple(str(uid) for uid in data.get("reported", [])),
            mpps_count=int(data.get("mpps_count", 0)),
            report_marks=tuple(str(uid) for uid in data.get("report_marks", [])),
        )

    @classmethod
    def of(cls, procedure: Procedure) -> ProcedureContext:
        """The context of ``procedure``."""
        return cls.from_json(procedure.context)

    def with_mpps(
        self, mpps: MppsState | None, *, reported: Iterable[str] = ()
    ) -> ProcedureContext:
        """A copy with ``mpps`` as the open MPPS and ``reported`` added to the reported UIDs."""
        count = self.mpps_count + (1 if mpps is not None else 0)
        return replace(self, mpps=mpps, reported=(*self.reported, *reported), mpps_count=count)


def _datasets(items: Sequence[Mapping[str, Any]]) -> tuple[Dataset, ...]:
    return tuple(Dataset.from_json(dict(item)) for item in items)


# --------------------------------------------------------------------------- instances


def study_context(procedure: Procedure) -> StudyContext:
    """The study part of every header of ``procedure``, with its request context."""
    context = ProcedureContext.of(procedure)
    return StudyContext(
        patient=procedure.patient,
        study_instance_uid=procedure.study_uid,
        study_date=procedure.study_date,
        study_time=procedure.study_time,
        accession_number=procedure.accession_number,
        study_id=str(procedure.procedure_id),
        description=procedure.description,
        referring_physician_name=context.referring_physician,
        accession_issuer=context.accession_issuer,
        admission_id=context.admission_id,
        procedure_codes=context.procedure_codes,
        request_attributes=context.request_attributes,
    )


# --------------------------------------------------------------------------- identifiers


def new_identifier(pattern: str, station_ae: str, now: datetime | None = None) -> str:
    """Expand a ``[worklist]`` identifier pattern now (a temporary ID or an accession)."""
    random_text = "".join(secrets.choice(_BASE36) for _ in range(4))
    return expand_identifier(
        pattern, now=now or datetime.now(), station_ae=station_ae, random_text=random_text
    )


# --------------------------------------------------------------------------- MPPS


def _code(item: Dataset) -> Code:
    value = item.get("CodeValue") or item.get("LongCodeValue") or item.get("URNCodeValue") or ""
    return Code(
        str(value), str(item.get("CodingSchemeDesignator", "")), str(item.get("CodeMeaning", ""))
    )


def _text(item: Dataset, keyword: str) -> str:
    value = item.get(keyword, "")
    return "" if value is None else str(value)


def scheduled_step(item: Dataset) -> ScheduledStep:
    """The MPPS scheduled step of a Scheduled Step Attributes Sequence item."""
    return ScheduledStep(
        study_uid=_text(item, "StudyInstanceUID"),
        accession=_text(item, "AccessionNumber"),
        requested_procedure_id=_text(item, "RequestedProcedureID"),
        requested_procedure_description=_text(item, "RequestedProcedureDescription"),
        sps_id=_text(item, "ScheduledProcedureStepID"),
        sps_description=_text(item, "ScheduledProcedureStepDescription"),
        protocol_codes=tuple(_code(c) for c in item.get("ScheduledProtocolCodeSequence", [])),
        referenced_study=tuple(
            (_text(r, "ReferencedSOPClassUID"), _text(r, "ReferencedSOPInstanceUID"))
            for r in item.get("ReferencedStudySequence", [])
        ),
    )


def new_pps_id(settings: Settings, now: datetime) -> str:
    """A Performed Procedure Step ID: 12 base-36 characters from the time and the station."""
    return expand_identifier(
        "{stamp}", now=now, station_ae=settings.station.ae_title, random_text=""
    )


def protocol_name(procedure: Procedure, context: ProcedureContext) -> str:
    """Protocol Name of each performed series (type 1): what was done, in words."""
    step = context.scheduled_step
    sps = _text(step, "ScheduledProcedureStepDescription") if step is not None else ""
    return (
        sps
        or context.requested_procedure_description
        or procedure.description
        or ("Unscheduled procedure" if not context.scheduled else "Procedure")
    )


def performed_step(
    settings: Settings,
    procedure: Procedure,
    context: ProcedureContext,
    mpps: MppsState,
    *,
    end: datetime | None = None,
    series: Sequence[PerformedSeries] = (),
) -> PerformedStep:
    """The MPPS :class:`PerformedStep` of ``procedure`` (PS3.4 Table F.7.2-1).

    Scheduled: the item's Scheduled Step Attributes; unscheduled: only the procedure's Study
    Instance UID (F.7.2.1).
    """
    station = settings.station
    steps = (
        (scheduled_step(context.scheduled_step),)
        if context.scheduled and context.scheduled_step is not None
        else ()
    )
    return PerformedStep(
        sop_instance_uid=mpps.uid,
        pps_id=mpps.pps_id,
        station_ae=station.ae_title,
        station_name=station.station_name,
        location=station.institution_name,
        start=mpps.start,
        end=end,
        modality=settings.worklist.modality,
        patient=procedure.patient,
        scheduled_steps=steps,
        study_uid=procedure.study_uid,
        study_id=str(procedure.procedure_id),
        description=protocol_name(procedure, context),
        procedure_type_description=context.requested_procedure_description,
        procedure_codes=tuple(_code(item) for item in context.procedure_codes),
        performed_series=tuple(series),
        character_set=station.character_set,
    )


def performed_series(
    instances: Sequence[InstanceRecord],
    series: Sequence[SeriesRecord],
    *,
    protocol: str,
    performing_physician: str = "",
    leave_out: Iterable[str] = (),
) -> list[PerformedSeries]:
    """The Performed Series Sequence: every instance of ``instances`` not in ``leave_out``,
    by series, images apart from PDF, audio, presentation states and reports."""
    skipped = set(leave_out)
    descriptions = {s.series_instance_uid: s.description for s in series}
    grouped: dict[str, tuple[list[tuple[str, str]], list[tuple[str, str]]]] = {}
    for record in instances:
        if record.sop_instance_uid in skipped:
            continue
        images, others = grouped.setdefault(record.series_instance_uid, ([], []))
        reference = (record.sop_class_uid, record.sop_instance_uid)
        (images if is_image(record.sop_class_uid) else others).append(reference)
    return [
        PerformedSeries(
            series_uid=series_uid,
            protocol_name=protocol,
            description=descriptions.get(series_uid, ""),
            performing_physician=performing_physician,
            images=tuple(images),
            non_images=tuple(others),
        )
        for series_uid, (images, others) in grouped.items()
    ]


__all__ = [
    "CONTEXT_VERSION",
    "MppsState",
    "ProcedureContext",
    "is_image",
    "new_identifier",
    "new_pps_id",
    "performed_series",
    "performed_step",
    "scheduled_step",
    "study_context",
]
