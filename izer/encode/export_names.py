"""Folder and file names for exported instances, safe on every file system.

A pattern such as ``{patient_name}_{patient_id}/{study_date}_{accession}`` names the folders
(the DICOM keywords of :data:`PATTERN_ALIASES` work too: ``{PatientID}_{PatientName}``); the
file is ``{instance_number:04d}_{kind}`` plus ``-f0001`` per frame of a multi-frame still and
the extension. Every value from the dataset is cleaned before it is put in the pattern
(so a patient named ``../../etc`` or ``C:\\Windows`` stays one harmless component), and every
resulting component is cleaned again: letters of any script, digits, space, ``-``, ``_`` and
``.`` are kept, everything else becomes ``_``; leading dots and trailing dots and spaces go;
an empty component becomes ``_``; at most 64 characters; Windows device names (``CON``,
``NUL``, ``COM1``...) get a ``_`` in front. :func:`contained` finally checks that the path
resolves inside the export folder. Pure functions: nothing here writes.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from izer.config.export_pattern import PATTERN_ALIASES, check_pattern

#: Longest folder or file name component, in characters.
MAX_COMPONENT = 64

_DOTS = re.compile(r"\.{2,}")
_WINDOWS_DEVICES = frozenset(
    {"CON", "PRN", "AUX", "NUL"}
    | {f"COM{n}" for n in "123456789¹²³"}
    | {f"LPT{n}" for n in "123456789¹²³"}
)


def naming_fields(ds: Dataset) -> dict[str, str | int]:
    """The pattern fields of one instance, from its (already decoded) header."""

    def text(keyword: str) -> str:
        return _value_text(ds.get(keyword)).strip()

    def number(keyword: str) -> int:
        try:
            return int(ds.get(keyword) or 0)
        except (TypeError, ValueError):
            return 0

    return {
        "patient_name": person_name(ds.get("PatientName")),
        "patient_id": text("PatientID"),
        "birth_date": text("PatientBirthDate"),
        "study_date": text("StudyDate"),
        "study_time": text("StudyTime").split(".")[0],
        "accession": text("AccessionNumber"),
        "study_id": text("StudyID"),
        "study_description": text("StudyDescription"),
        "study_uid": text("StudyInstanceUID"),
        "series_number": number("SeriesNumber"),
        "series_description": text("SeriesDescription"),
        "series_uid": text("SeriesInstanceUID"),
        "modality": text("Modality"),
        "instance_number": number("InstanceNumber"),
        "sop_uid": text("SOPInstanceUID"),
    }


def person_name(value: object) -> str:
    """A PN value as one readable group: alphabetic, else ideographic, else phonetic.

    Trailing empty components (``Doe^John^^^``) are dropped (PS3.5 6.2.1.1).
    """
    if value is None:
        return ""
    for group in _value_text(value).split("="):
        group = group.rstrip("^ ").strip()
        if group:
            return group
    return ""


def _value_text(value: object) -> str:
    """A value as text; the values of a multi-valued element joined by ``\\`` as on the wire
    (a name received with a backslash in it is two values, PS3.5 6.4)."""
    if value is None:
        return ""
    if isinstance(value, MultiValue | list | tuple):
        return "\\".join(str(item) for item in value)
    return str(value)


def clean_text(text: str) -> str:
    """``text`` with every character but letters, digits, space, ``-``, ``_``, ``.`` as ``_``.

    Runs of two or more dots become ``_`` as well, so that no ``..`` survives.
    """
    text = unicodedata.normalize("NFC", text)
    kept = "".join(ch if _allowed(ch) else "_" for ch in text)
    return _DOTS.sub("_", kept)


def _allowed(ch: str) -> bool:
    if ch in " -_.":
        return True
    category = unicodedata.category(ch)
    return category[0] in "LM" or category == "Nd"


def sanitize_component(text: str) -> str:
    """One folder or file name component, safe on Windows, macOS and Linux."""
    cleaned = clean_text(text).lstrip(". ").rstrip(". ")
    cleaned = cleaned[:MAX_COMPONENT].rstrip(". ")
    if not cleaned:
        return "_"
    if cleaned.split(".")[0].rstrip(" ").upper() in _WINDOWS_DEVICES:
        cleaned = ("_" + cleaned)[:MAX_COMPONENT].rstrip(". ")
    return cleaned


def folder_components(pattern: str, fields: Mapping[str, str | int]) -> list[str]:
    """The folder names ``pattern`` gives for ``fields`` (each one sanitized).

    Text values are cleaned before they are put in, so a ``/`` inside a patient name never
    starts a new folder; only the pattern's own ``/`` separates folders.

    Raises
    ------
    PatternError
        From :func:`check_pattern`.
    """
    check_pattern(pattern)
    values = {
        name: value if isinstance(value, int) else clean_text(value)
        for name, value in fields.items()
    }
    values.update(
        {alias: values[name] for alias, name in PATTERN_ALIASES.items() if name in values}
    )
    formatted = pattern.format_map(values)
    return [sanitize_component(part) for part in formatted.split("/") if part.strip()]


def file_stem(fields: Mapping[str, str | int], kind: str, frame: int | None = None) -> str:
    """``{instance_number:04d}_{kind}``, with ``-f0001`` for frame 1 of a multi-frame still."""
    stem = f"{int(fields.get('instance_number') or 0):04d}_{kind}"
    if frame is not None:
        stem += f"-f{frame:04d}"
    return sanitize_component(stem)


def numbered_name(stem: str, extension: str, taken: Callable[[str], bool]) -> str:
    """``stem + extension``, or ``stem-2 + extension``, ``-3``... whichever is not taken.

    The stem is shortened when needed so that the whole name stays within
    :data:`MAX_COMPONENT` characters plus the extension.
    """
    counter = 1
    while True:
        suffix = "" if counter == 1 else f"-{counter}"
        name = stem[: MAX_COMPONENT - len(suffix)].rstrip(". ") + suffix + extension
        if not taken(name):
            return name
        counter += 1


def contained(root: Path, components: Sequence[str]) -> Path:
    """``root / components...``, checked to resolve inside ``root``.

    Raises
    ------
    ValueError
        When the path would leave ``root`` (through ``..``, an absolute component or a
        symbolic link that points elsewhere).
    """
    base = Path(root).resolve()
    target = base.joinpath(*components)
    resolved = target.resolve()
    if resolved != base and base not in resolved.parents:
        raise ValueError(
            f"the output path {target} would be outside {base}; refusing to write there"
        )
    return target
