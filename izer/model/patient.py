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


def display_name(value: object, *, groups: int = 3) -> str:
    """A DICOM PN value as people read it (PS3.5 6.2.1).

    ``Family^Given^Middle^Prefix^Suffix`` becomes ``FAMILY, Prefix Given Middle Suffix``; the
    ideographic and phonetic groups (``Yamada^Taro=山田^太郎``) follow in parentheses,
    components spaced. ``groups`` 2 leaves the phonetic group out.
    """
    components = str(value or "").split("=")[:groups]
    family, given, middle, prefix, suffix = [*components[0].split("^"), "", "", "", ""][:5]
    forenames = " ".join(p.strip() for p in (prefix, given, middle) if p.strip())
    family = family.strip()
    shown = f"{family.upper()}, {forenames}" if family and forenames else family or forenames
    if suffix.strip():
        shown = f"{shown} {suffix.strip()}"
    others = [" ".join(g.replace("^", " ").split()) for g in components[1:] if g.strip("^ ")]
    if others:
        shown = f"{shown} ({' / '.join(others)})" if shown else " / ".join(others)
    return shown


def display_date(value: str) -> str:
    """A DA value ``YYYYMMDD`` as ``YYYY-MM-DD`` (anything else as given)."""
    value = value.strip()
    if len(value) == 8 and value.isdigit():
        return f"{value[:4]}-{value[4:6]}-{value[6:]}"
    return value
