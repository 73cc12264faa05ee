"""What a procedure report shows: header fields, stills, findings, and how it is laid out."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from izer.report.assets import DEFAULT_LOGO
from izer.report.layouts import ReportLayout

#: What the anonymized variant prints instead of the patient's name.
ANONYMIZED_NAME = "Anonymized"

#: Page sizes a report can be set on.
PAGE_SIZES = ("A4", "LETTER")

_JPEG_MAGIC = b"\xff\xd8\xff"
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class ReportPicture:
    """One still of the report: encoded JPEG or PNG bytes and an optional caption."""

    data: bytes = field(repr=False)
    caption: str = ""

    @property
    def format(self) -> str | None:
        """``"JPEG"`` or ``"PNG"`` from the file signature, None for anything else."""
        head = (
            bytes(self.data[:8]) if isinstance(self.data, bytes | bytearray | memoryview) else b""
        )
        if head.startswith(_JPEG_MAGIC):
            return "JPEG"
        if head.startswith(_PNG_MAGIC):
            return "PNG"
        return None


@dataclass(frozen=True)
class ReportHeader:
    """Patient and procedure fields printed at the top of every page, as given.

    The caller formats them (``"Yamada^Taro"`` becomes ``"Yamada Taro"``); empty fields
    are left out of the page. Identifying fields are kept out of ``repr`` (and so of logs).
    """

    patient_name: str = field(default="", repr=False)
    patient_id: str = field(default="", repr=False)
    birth_date: str = field(default="", repr=False)
    sex: str = ""
    accession_number: str = field(default="", repr=False)
    study_date: str = ""
    procedure: str = ""
    referring_physician: str = ""
    performing_physician: str = ""
    institution: str = ""
    institution_address: str = ""

    def fields(self) -> list[tuple[str, str]]:
        """``(label, value)`` of the patient and procedure fields that are not empty."""
        labelled = [
            ("Patient", self.patient_name),
            ("Patient ID", self.patient_id),
            ("Birth date", self.birth_date),
            ("Sex", self.sex),
            ("Accession", self.accession_number),
            ("Study date", self.study_date),
            ("Procedure", self.procedure),
            ("Referring physician", self.referring_physician),
            ("Performing physician", self.performing_physician),
        ]
        return [(label, value) for label, value in labelled if value.strip()]


@dataclass(frozen=True)
class ReportContent:
    """Everything one report says: header, stills (in order), findings, who signs."""

    header: ReportHeader
    pictures: tuple[ReportPicture, ...] = ()
    findings: str = ""
    clinician: str = ""
    title: str = "Procedure report"
    created: datetime | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.header, ReportHeader):
            raise ValueError(
                f"ReportContent.header must be a ReportHeader, not {type(self.header).__name__}"
            )
        object.__setattr__(self, "pictures", tuple(self.pictures))
        for index, picture in enumerate(self.pictures):
            if not isinstance(picture, ReportPicture):
                raise ValueError(
                    f"picture {index} must be a ReportPicture (JPEG or PNG bytes and a "
                    f"caption), not {type(picture).__name__}"
                )


@dataclass(frozen=True)
class ReportOptions:
    """How the report is laid out.

    ``layout`` also accepts a layout name (``"l4"``); ``logo`` None prints no logo;
    ``page_size`` is ``"A4"`` or ``"LETTER"``, turned for landscape layouts.
    """

    layout: ReportLayout = ReportLayout.PORTRAIT_6
    anonymized: bool = False
    logo: Path | None = DEFAULT_LOGO
    page_size: str = "A4"

    def __post_init__(self) -> None:
        if not isinstance(self.layout, ReportLayout):
            object.__setattr__(self, "layout", ReportLayout.parse(str(self.layout)))
        size = str(self.page_size).strip().upper()
        if size not in PAGE_SIZES:
            raise ValueError(
                f"unknown report page size {self.page_size!r}: use {' or '.join(PAGE_SIZES)}"
            )
        object.__setattr__(self, "page_size", size)
        if self.logo is not None and not isinstance(self.logo, Path):
            object.__setattr__(self, "logo", Path(self.logo))


def anonymized_header(header: ReportHeader) -> ReportHeader:
    """The header the anonymized variant prints.

    The patient's name becomes ``"Anonymized"``; patient ID, birth date and accession
    number are left out; sex, study date, procedure, physicians and institution are kept.
    """
    return dataclasses.replace(
        header,
        patient_name=ANONYMIZED_NAME,
        patient_id="",
        birth_date="",
        accession_number="",
    )
