"""The PDF procedure report for the engine: chosen stills in, a PDF out, and where it goes.

:class:`ReportController` (``engine.report``) reads a stored study's header and stills, asks
:mod:`izer.report` for the PDF (bytes only), then does what the user asked with it:

* ``save(pdf, path)``: written under a temporary name, fsync'ed, then renamed into place;
* ``store(pdf, study_uid)``: wrapped as Encapsulated PDF (PS3.3 A.45.1, Conversion Type WSD:
  made on a workstation) in a new DOC series of the study, in the local store, from where it
  is sent like any other instance;
* ``print_system(pdf)``: printed on a system printer (CUPS ``lp``; the Windows print path).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from pydicom import dcmread
from pydicom.dataset import Dataset

from izer.encode import (
    ConversionType,
    InstanceContext,
    SeriesContext,
    StudyContext,
    encapsulated_pdf,
)
from izer.encode.extract import ExportKind, StillFormat, outputs, read_instance
from izer.model import InstanceRecord, Patient, display_date, display_name
from izer.model.patient import Sex
from izer.report import (
    ReportContent,
    ReportHeader,
    ReportLayout,
    ReportOptions,
    ReportPicture,
    build_report,
    default_assets_dir,
    print_pdf,
)
from izer.store import atomic_write_bytes

if TYPE_CHECKING:
    from izer.engine.core import Engine

__all__ = ["ReportController", "ReportRequest", "ReportResult"]

#: JPEG quality of pictures decoded and re-encoded for the report (baseline JPEG stills go in
#: as stored).
PICTURE_QUALITY = 90
#: Series Description of the series that holds stored reports.
REPORT_SERIES_DESCRIPTION = "Procedure report"


@dataclass(frozen=True)
class ReportRequest:
    """What goes into a report.

    Parameters
    ----------
    study_uid
        The stored study the report is about.
    stills
        SOP Instance UIDs of the pictures, in report order; empty: every picture of the study,
        in series and instance order (video, documents and sound are left out).
    findings
        Free text; paragraphs and line breaks are kept.
    clinician
        Who signs; ``None``: ``[report] clinician``.
    layout
        A :class:`izer.report.ReportLayout` name; ``None``: ``[report] layout``.
    anonymized
        Leave out the name, patient ID, birth date and accession number.
    captions
        One caption per still (same order); missing ones are made from the instance.
    """

    study_uid: str
    stills: tuple[str, ...] = ()
    findings: str = ""
    clinician: str | None = None
    layout: str | None = None
    anonymized: bool = False
    captions: tuple[str, ...] = ()


@dataclass
class ReportResult:
    """A built report and the instances that went into it."""

    pdf: bytes
    pictures: list[str]
    skipped: list[str] = field(default_factory=list)


class ReportController:
    """Builds, saves, stores and prints procedure reports (see the module documentation)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    # -- building -------------------------------------------------------------------------------

    def build(self, request: ReportRequest) -> ReportResult:
        """The report of ``request.study_uid`` as PDF bytes.

        Raises
        ------
        ValueError
            For an unknown study, a still that is not in it or is not a picture, or an unknown
            layout.
        """
        settings = self._engine.settings.report
        layout = ReportLayout.parse(request.layout or settings.layout)
        records = self._engine.store.instances(request.study_uid)
        if not records:
            raise ValueError(f"no study {request.study_uid} in the local store")
        header_dataset = _header_of(records[0].path)
        pictures, used, skipped = self._pictures(records, request)
        logo = Path(settings.logo).expanduser() if settings.logo else _default_logo()
        content = ReportContent(
            header=self._header(header_dataset),
            pictures=tuple(pictures),
            findings=request.findings,
            clinician=settings.clinician if request.clinician is None else request.clinician,
            title=settings.title,
            created=datetime.now(),
        )
        options = ReportOptions(
            layout=layout,
            anonymized=request.anonymized,
            logo=logo,
            page_size=settings.page_size,
        )
        return ReportResult(build_report(content, options), used, skipped)

    def _header(self, ds: Dataset) -> ReportHeader:
        station = self._engine.settings.station
        return ReportHeader(
            patient_name=display_name(str(ds.get("PatientName", "") or "")),
            patient_id=str(ds.get("PatientID", "") or ""),
            birth_date=display_date(str(ds.get("PatientBirthDate", "") or "")),
            sex={"M": "male", "F": "female", "O": "other"}.get(str(ds.get("PatientSex", "")), ""),
            accession_number=str(ds.get("AccessionNumber", "") or ""),
            study_date=display_date(str(ds.get("StudyDate", "") or "")),
            procedure=str(ds.get("StudyDescription", "") or ""),
            referring_physician=display_name(str(ds.get("ReferringPhysicianName", "") or "")),
            performing_physician=display_name(
                str(ds.get("PerformingPhysicianName", "") or ds.get("OperatorsName", "") or "")
            ),
            institution=str(ds.get("InstitutionName", "") or station.institution_name),
            institution_address=self._engine.settings.report.institution_address,
        )

    def _pictures(
        self, records: list[InstanceRecord], request: ReportRequest
    ) -> tuple[list[ReportPicture], list[str], list[str]]:
        by_uid = {record.sop_instance_uid: record for record in records}
        if request.stills:
            unknown = [uid for uid in request.stills if uid not in by_uid]
            if unknown:
                raise ValueError(
                    f"not in study {request.study_uid}: {', '.join(unknown)} "
                    "(izer studies --instances lists its instances)"
                )
            chosen = [by_uid[uid] for uid in request.stills]
        else:
            chosen = records
        pictures: list[ReportPicture] = []
        used: list[str] = []
        skipped: list[str] = []
        for record in chosen:
            source = read_instance(record.path)
            if source.kind is not ExportKind.IMAGE:
                what = source.kind.value if source.kind else source.skip_reason or "no picture"
                if request.stills:
                    raise ValueError(
                        f"{record.sop_instance_uid} is not a picture ({what}); a report shows "
                        "stills only"
                    )
                skipped.append(f"{record.sop_instance_uid}: {what}")
                continue
            first = next(outputs(source, stills=StillFormat.JPEG, quality=PICTURE_QUALITY))
            buffer = io.BytesIO()
            first.write(buffer)
            index = len(pictures)
            caption = (
                request.captions[index]
                if index < len(request.captions)
                else _caption(source.header, index + 1)
            )
            pictures.append(ReportPicture(buffer.getvalue(), caption))
            used.append(record.sop_instance_uid)
        return pictures, used, skipped

    # -- where the PDF goes -----------------------------------------------------------------------

    @staticmethod
    def save(pdf: bytes, path: Path) -> Path:
        """Write ``pdf`` to ``path`` atomically (a temporary name, fsync, rename)."""
        path = Path(path).expanduser()
        if path.is_dir():
            raise ValueError(f"{path} is a folder; name the PDF file to write")
        if not path.parent.is_dir():
            raise ValueError(f"no folder {path.parent} to write {path.name} into")
        atomic_write_bytes(path, pdf)
        return path

    def store(self, pdf: bytes, study_uid: str, *, title: str | None = None) -> InstanceRecord:
        """Store ``pdf`` in study ``study_uid`` as Encapsulated PDF, in a new DOC series.

        The study, patient and request attributes are copied from a stored instance of the
        study, so the document files under the same patient and study at the PACS.
        """
        engine = self._engine
        records = engine.store.instances(study_uid)
        if not records:
            raise ValueError(f"no study {study_uid} in the local store")
        header = _header_of(records[0].path)
        numbers = [s.series_number or 0 for s in engine.store.series(study_uid)]
        context = InstanceContext(
            study=_study_context(header),
            series=SeriesContext(
                series_instance_uid=engine.uids.new(),
                series_number=max(numbers, default=0) + 1,
                modality="DOC",
                description=REPORT_SERIES_DESCRIPTION,
            ),
            equipment=engine._equipment(),
            sop_instance_uid=engine.uids.new(),
            instance_number=1,
            character_set=engine.settings.station.character_set,
        )
        dataset = encapsulated_pdf(
            pdf,
            context,
            document_title=title or engine.settings.report.title,
            conversion_type=ConversionType.WORKSTATION,
        )
        return engine.store.add_dataset(dataset)

    def print_system(
        self, pdf: bytes, *, printer: str | None = None, copies: int = 1, title: str = ""
    ) -> str:
        """Print ``pdf`` on a system printer; returns the print system's job id.

        ``printer`` ``None``: ``[report] system_printer``, else the system's default printer.
        """
        chosen = printer or self._engine.settings.report.system_printer or None
        return print_pdf(
            pdf, printer=chosen, copies=copies, title=title or self._engine.settings.report.title
        )


def _caption(header: Dataset, number: int) -> str:
    time = str(header.get("ContentTime", "") or "")
    shown = f"{time[:2]}:{time[2:4]}:{time[4:6]}" if len(time) >= 6 else ""
    series = str(header.get("SeriesDescription", "") or "")
    parts = [f"Image {number}", shown, series]
    return " · ".join(part for part in parts if part)


def _header_of(path: Path) -> Dataset:
    return dcmread(path, stop_before_pixels=True, specific_tags=None)


def _study_context(ds: Dataset) -> StudyContext:
    sex_text = str(ds.get("PatientSex", "") or "")
    patient = Patient(
        patient_id=str(ds.get("PatientID", "") or ""),
        name=str(ds.get("PatientName", "") or ""),
        birth_date=str(ds.get("PatientBirthDate", "") or ""),
        sex=Sex(sex_text) if sex_text in ("M", "F", "O") else Sex.UNKNOWN,
        issuer=str(ds.get("IssuerOfPatientID", "") or ""),
    )
    issuer = ds.get("IssuerOfAccessionNumberSequence")
    return StudyContext(
        patient=patient,
        study_instance_uid=str(ds.StudyInstanceUID),
        study_date=str(ds.get("StudyDate", "") or ""),
        study_time=str(ds.get("StudyTime", "") or ""),
        accession_number=str(ds.get("AccessionNumber", "") or ""),
        study_id=str(ds.get("StudyID", "") or ""),
        description=str(ds.get("StudyDescription", "") or ""),
        referring_physician_name=str(ds.get("ReferringPhysicianName", "") or ""),
        accession_issuer=str(issuer[0].get("LocalNamespaceEntityID", "")) if issuer else "",
        admission_id=str(ds.get("AdmissionID", "") or ""),
        procedure_codes=tuple(ds.get("ProcedureCodeSequence", []) or []),
        request_attributes=tuple(ds.get("RequestAttributesSequence", []) or []),
    )


def _default_logo() -> Path | None:
    try:
        logo = default_assets_dir() / "logo.png"
    except FileNotFoundError:
        return None
    return logo if logo.is_file() else None
