"""Decoding C-FIND responses by the character set each one declares (PS3.5 6.1).

pynetdicom hands over each identifier as a pydicom Dataset whose text is decoded lazily with
the Specific Character Set (0008,0005) it carries. A response without one is, by the
standard, ISO-IR 6 (ASCII) only; RIS that send Latin-1 or UTF-8 without saying so are common,
so izer decodes such a response with a configured fallback and says so. Bytes that do not
decode in the declared set are shown with replacement characters and reported, never hidden.
"""

from __future__ import annotations

import enum
import warnings
from dataclasses import dataclass

from pydicom.charset import convert_encodings
from pydicom.datadict import keyword_for_tag, tag_for_keyword
from pydicom.dataelem import RawDataElement, convert_raw_data_element
from pydicom.dataset import Dataset
from pydicom.tag import BaseTag

#: Value representations whose bytes depend on the Specific Character Set (PS3.5 6.1.2.3).
TEXT_VRS = frozenset({"SH", "LO", "ST", "LT", "UC", "UT", "PN"})

_CHARSET_TAG = BaseTag(0x00080005)


class CharsetProblem(enum.StrEnum):
    """What went wrong while decoding the text of a response."""

    FALLBACK_USED = "fallback"
    """No (0008,0005) but non-ASCII bytes: decoded with the configured fallback set."""
    UNDECODABLE = "undecodable"
    """Bytes that are not valid in the set used; shown with replacement characters."""
    UNKNOWN_CHARSET = "unknown-charset"
    """A (0008,0005) value pydicom does not know; decoded as Latin-1."""


@dataclass(frozen=True)
class CharsetWarning:
    """One character-set problem in one response.

    Parameters
    ----------
    item
        Which response (provider, position, accession) it is in.
    attribute
        The attribute path, e.g. ``ScheduledProcedureStepSequence[0].ScheduledStationName``.
    problem
        What happened.
    detail
        pydicom's message or what izer did.
    """

    item: str
    attribute: str
    problem: CharsetProblem
    detail: str

    def __str__(self) -> str:
        return f"{self.item}: {self.attribute}: {self.detail}"


@dataclass(frozen=True)
class DecodedResponse:
    """A response with all text decoded, the set it declared and the problems found."""

    dataset: Dataset
    declared: str | list[str] | None
    used: list[str]
    warnings: tuple[CharsetWarning, ...]


def declared_character_set(dataset: Dataset) -> str | list[str] | None:
    """The (0008,0005) value of ``dataset`` (raw or converted), or ``None`` when absent/empty."""
    if _CHARSET_TAG not in dataset:
        return None
    element = dataset.get_item(_CHARSET_TAG)
    if isinstance(element, RawDataElement):
        raw = element.value or b""
        text = raw.decode("ascii", errors="replace").strip(" \0")
        values = [part.strip() for part in text.split("\\")]
        value: str | list[str] = values if len(values) > 1 else values[0]
    else:
        value = element.value
    if not value or (isinstance(value, list) and not any(value)):
        return None
    return value


def decode_response(dataset: Dataset, fallback: str, *, item: str) -> DecodedResponse:
    """Decode every text value of a C-FIND response now, reporting any problem.

    Parameters
    ----------
    dataset
        The identifier as pynetdicom returned it (raw elements); converted in place.
    fallback
        Specific Character Set term used when the response declares none (e.g.
        ``ISO_IR 100``); it is then also written into the dataset so that it re-encodes the
        same way.
    item
        How warnings name this response.

    Returns
    -------
    DecodedResponse
        The dataset, the declared set, the Python encodings used and the warnings.
    """
    declared = declared_character_set(dataset)
    problems: list[CharsetWarning] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        encodings = convert_encodings(declared if declared is not None else fallback)
    for warning in caught:
        problems.append(
            CharsetWarning(
                item, "SpecificCharacterSet", CharsetProblem.UNKNOWN_CHARSET, str(warning.message)
            )
        )
    _convert(dataset, encodings, item, "", problems)
    if declared is None:
        non_ascii = sorted(_non_ascii_attributes(dataset, ""))
        if non_ascii:
            problems.extend(
                CharsetWarning(
                    item,
                    attribute,
                    CharsetProblem.FALLBACK_USED,
                    f"no Specific Character Set (0008,0005) but non-ASCII text: decoded as "
                    f"{fallback} (the fallback); check that it reads right",
                )
                for attribute in non_ascii
            )
            dataset.SpecificCharacterSet = fallback
    return DecodedResponse(dataset, declared, list(encodings), tuple(problems))


def peek_text(dataset: Dataset, keyword: str) -> str:
    """A top-level value read as ASCII without decoding the dataset (for labels)."""
    tag = tag_for_keyword(keyword)
    if tag is None or tag not in dataset:
        return ""
    element = dataset.get_item(tag)
    value = element.value
    if isinstance(value, bytes):
        return value.decode("ascii", errors="replace").strip(" \0")
    return "" if value is None else str(value)


def _convert(
    dataset: Dataset,
    encodings: list[str],
    item: str,
    prefix: str,
    problems: list[CharsetWarning],
) -> None:
    """Convert each raw element of ``dataset`` with ``encodings`` (or the item's own set)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _convert_recorded(dataset, encodings, item, prefix, problems, caught)


def _convert_recorded(
    dataset: Dataset,
    encodings: list[str],
    item: str,
    prefix: str,
    problems: list[CharsetWarning],
    caught: list[warnings.WarningMessage],
) -> None:
    """:func:`_convert` inside one ``catch_warnings``: new entries belong to the element."""
    own = declared_character_set(dataset)
    if own is not None and prefix:
        encodings = convert_encodings(own)
        del caught[:]
    for tag in list(dataset.keys()):
        element = dataset.get_item(tag)
        name = f"{prefix}{_keyword(tag)}"
        if isinstance(element, RawDataElement):
            seen = len(caught)
            converted = convert_raw_data_element(element, encoding=encodings, ds=dataset)
            if converted.VR == "PN" and converted.value is not None:
                # PersonName decodes its bytes only when first read: do it here.
                values = converted.value if converted.VM > 1 else [converted.value]
                for value in values:
                    str(value)
            dataset[tag] = converted
            for warning in caught[seen:]:
                problems.append(_problem(item, name, str(warning.message)))
        converted = dataset[tag]
        if converted.VR == "SQ" and converted.value is not None:
            for index, child in enumerate(converted.value):
                _convert_recorded(child, encodings, item, f"{name}[{index}].", problems, caught)


def _problem(item: str, name: str, text: str) -> CharsetWarning:
    if "decode" not in text.lower():
        return CharsetWarning(item, name, CharsetProblem.UNKNOWN_CHARSET, text)
    return CharsetWarning(
        item,
        name,
        CharsetProblem.UNDECODABLE,
        f"bytes that are not valid in the character set used ({text}); the value is shown "
        "with \N{REPLACEMENT CHARACTER} and may be wrong: check the provider's Specific "
        "Character Set",
    )


def _non_ascii_attributes(dataset: Dataset, prefix: str) -> set[str]:
    found: set[str] = set()
    for element in dataset:
        name = f"{prefix}{element.keyword or element.tag}"
        if element.VR == "SQ":
            for index, child in enumerate(element.value or []):
                found |= _non_ascii_attributes(child, f"{name}[{index}].")
        elif element.VR in TEXT_VRS and element.value not in (None, ""):
            values = element.value if element.VM > 1 else [element.value]
            if any(not str(value).isascii() for value in values):
                found.add(name)
    return found


def _keyword(tag: BaseTag) -> str:
    return keyword_for_tag(tag) or str(tag)
