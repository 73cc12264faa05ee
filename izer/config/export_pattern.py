"""The folder patterns of ``izer export`` and ``[[auto_export]]`` rules, and their check.

A pattern names folders from an instance's header with :data:`PATTERN_FIELDS` (or the DICOM
keywords of :data:`PATTERN_ALIASES`) and harmless format specs. Standard library only, so that
the settings loader checks a rule's pattern exactly as the exporter does
(:mod:`izer.encode.export_names` fills and cleans the names).
"""

from __future__ import annotations

import re
import string

#: The default folder pattern of ``izer export``.
DEFAULT_PATTERN = "{patient_name}_{patient_id}/{study_date}_{accession}/{series_number}_{modality}"

#: What a pattern may use: field name -> where its value comes from.
PATTERN_FIELDS: dict[str, str] = {
    "patient_name": "Patient's Name (alphabetic group; ideographic when that is empty)",
    "patient_id": "Patient ID",
    "birth_date": "Patient's Birth Date (YYYYMMDD)",
    "study_date": "Study Date (YYYYMMDD)",
    "study_time": "Study Time (HHMMSS)",
    "accession": "Accession Number",
    "study_id": "Study ID",
    "study_description": "Study Description",
    "study_uid": "Study Instance UID",
    "series_number": "Series Number (a number: {series_number:03d} pads it)",
    "series_description": "Series Description",
    "series_uid": "Series Instance UID",
    "modality": "Modality",
    "instance_number": "Instance Number (a number)",
    "sop_uid": "SOP Instance UID",
}

#: DICOM keywords a pattern may use instead of a field name: keyword -> field of
#: :data:`PATTERN_FIELDS` (``{PatientID}_{PatientName}/{StudyDate}_{AccessionNumber}`` is
#: ``{patient_id}_{patient_name}/{study_date}_{accession}``; the values are the same).
PATTERN_ALIASES: dict[str, str] = {
    "PatientName": "patient_name",
    "PatientID": "patient_id",
    "PatientBirthDate": "birth_date",
    "StudyDate": "study_date",
    "StudyTime": "study_time",
    "AccessionNumber": "accession",
    "StudyID": "study_id",
    "StudyDescription": "study_description",
    "StudyInstanceUID": "study_uid",
    "SeriesNumber": "series_number",
    "SeriesDescription": "series_description",
    "SeriesInstanceUID": "series_uid",
    "Modality": "modality",
    "InstanceNumber": "instance_number",
    "SOPInstanceUID": "sop_uid",
}

NUMBER_FIELDS = frozenset({"series_number", "instance_number"})
#: Format specs a pattern may use: alignment, zero padding and width up to 99, precision.
_SPEC = re.compile(r"^(?:[<>^]?0?\d{0,2}(?:\.\d{1,2})?[ds]?)$")


class PatternError(ValueError):
    """A ``--pattern`` that cannot name folders; the message says what to change."""


def check_pattern(pattern: str) -> None:
    """Check that ``pattern`` uses only known fields (or their DICOM keyword aliases) and
    harmless format specs.

    Raises
    ------
    PatternError
        Naming the offending field or spec and the fields that exist.
    """
    if not pattern.strip():
        raise PatternError("the folder pattern is empty; use e.g. " + DEFAULT_PATTERN)
    try:
        parsed = list(string.Formatter().parse(pattern))
    except ValueError as exc:
        raise PatternError(f"pattern {pattern!r}: {exc} (write {{{{ and }}}} for braces)") from None
    known = ", ".join(PATTERN_FIELDS)
    for _literal, field, spec, conversion in parsed:
        if field is None:
            continue
        if field not in PATTERN_FIELDS and field not in PATTERN_ALIASES:
            raise PatternError(
                f"pattern field {{{field}}} is unknown; use one of: {known} "
                f"(or the DICOM keywords {', '.join(PATTERN_ALIASES)})"
            )
        if conversion:
            raise PatternError(f"pattern field {{{field}!{conversion}}}: drop the !{conversion}")
        if spec and not _SPEC.match(spec):
            raise PatternError(
                f"pattern field {{{field}:{spec}}}: only widths, zero padding and precision "
                "up to 99 are allowed (e.g. {series_number:03d})"
            )
        if spec and spec.endswith("d") and PATTERN_ALIASES.get(field, field) not in NUMBER_FIELDS:
            raise PatternError(f"pattern field {{{field}:{spec}}}: 'd' is for number fields only")
