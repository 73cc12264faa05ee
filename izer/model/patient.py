"""The patient as izer knows it: from the worklist, a query or manual entry."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Sex(enum.StrEnum):
    """Patient's Sex (0010,0040), PS3.3 C.7.1.1; empty means unknown to the sender."""

    MALE = "M"
    FEMALE = "F"
    OTHER = "O"
    UNKNOWN = ""


@dataclass(frozen=True)
class Patient:
    """Demographics of one patient.

    Parameters
    ----------
    patient_id
        Patient ID (0010,0020).
    name
        Patient's Name (0010,0010) in DICOM PN form, ``Family^Given^Middle^Prefix^Suffix``.
    birth_date
        Patient's Birth Date (0010,0030) as ``YYYYMMDD``, or empty when unknown.
    sex
        Patient's Sex (0010,0040).
    issuer
        Issuer of Patient ID (0010,0021), empty when not known.
    """

    patient_id: str
    name: str
    birth_date: str = ""
    sex: Sex = Sex.UNKNOWN
    issuer: str = ""
