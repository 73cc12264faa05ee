"""Specific Character Set (0008,0005): always written, and every text value must fit it.

pydicom replaces characters a set cannot hold by ``?`` with only a warning; izer refuses
instead, naming the attribute (PS3.5 6.1, PS3.3 C.12.1.1.2).
"""

from __future__ import annotations

import warnings

from pydicom.charset import convert_encodings, encode_string
from pydicom.dataset import Dataset
from pydicom.valuerep import PersonName

#: Code-extension sets are written with an empty first value (ISO-IR 6 as the default
#: repertoire) followed by the set, as PS3.5 6.1.2.5 shows for Japanese and Korean.
_WITH_EXTENSIONS = {"ISO 2022 IR 87", "ISO 2022 IR 149", "ISO 2022 IR 58"}

#: Value representations whose text is encoded with the Specific Character Set.
TEXT_VRS = frozenset({"SH", "LO", "ST", "LT", "UC", "UT", "PN"})


class CharacterSetError(ValueError):
    """A text value that cannot be written in the chosen character set."""


def specific_character_set(name: str) -> str | list[str]:
    """The (0008,0005) value for a configured set name such as ``ISO 2022 IR 87``."""
    return ["", name] if name in _WITH_EXTENSIONS else name


def check_encodable(dataset: Dataset) -> None:
    """Raise :class:`CharacterSetError` for the first value ``dataset``'s set cannot hold.

    Sequences are checked item by item, each item with its own or its parent's set.
    """
    _check(dataset, dataset.get("SpecificCharacterSet", "ISO_IR 6"), "")


def _check(dataset: Dataset, charset: str | list[str], prefix: str) -> None:
    own = dataset.get("SpecificCharacterSet", charset)
    encodings = convert_encodings(own)
    for element in dataset:
        name = f"{prefix}{element.keyword or element.tag}"
        if element.VR == "SQ":
            for index, item in enumerate(element.value):
                _check(item, own, f"{name}[{index}].")
            continue
        if element.VR not in TEXT_VRS or element.value in (None, ""):
            continue
        values = element.value if element.VM > 1 else [element.value]
        for value in values:
            if not _fits(value, encodings):
                shown = "\\".join(own) if isinstance(own, list) else own
                raise CharacterSetError(
                    f"{name}: {str(value)!r} cannot be written in the character set "
                    f"{shown!r}; choose another station.character_set (e.g. ISO_IR 192)"
                )


def _fits(value: object, encodings: list[str]) -> bool:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if isinstance(value, PersonName):
            value.encode(encodings)
        else:
            encode_string(str(value), encodings)
    return not any("Failed to encode" in str(warning.message) for warning in caught)
