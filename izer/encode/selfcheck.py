"""The last check before an instance leaves ``encode``: required attributes and value formats.

Required attributes come from :mod:`izer.encode.iods` (one table per IOD, from PS3.3); value
formats are PS3.5 6.2 as pydicom's validators implement them (DS at most 16 characters, CS
upper case, UI at most 64, dates and times well formed...).
"""

from __future__ import annotations

from collections.abc import Iterable

from pydicom import config
from pydicom.dataset import Dataset
from pydicom.valuerep import validate_value

from izer.encode.charset import check_encodable

#: Value representations whose format is checked.
CHECKED_VRS = frozenset(
    {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM", "UI", "UR"}
)


class InstanceCheckError(ValueError):
    """An instance that must not leave ``encode``; the message names the attribute."""


def check_instance(
    dataset: Dataset,
    *,
    iod: str,
    type1: Iterable[str],
    type2: Iterable[str] = (),
) -> None:
    """Check ``dataset`` before it is written or sent.

    Parameters
    ----------
    iod
        Name of the IOD, for the messages.
    type1
        Keywords that must be present and not empty (PS3.5 7.4.1).
    type2
        Keywords that must be present, possibly empty (PS3.5 7.4.3).

    Raises
    ------
    InstanceCheckError
        For a missing or empty required attribute, or a malformed value.
    """
    for keyword in type1:
        if keyword not in dataset:
            raise InstanceCheckError(f"{iod}: {keyword} is required (type 1) and missing")
        value = dataset[keyword].value
        if value is None or value == "" or (hasattr(value, "__len__") and len(value) == 0):
            raise InstanceCheckError(f"{iod}: {keyword} is required (type 1) and empty")
    for keyword in type2:
        if keyword not in dataset:
            raise InstanceCheckError(f"{iod}: {keyword} must be present (type 2), even empty")
    _check_formats(dataset, iod, "")
    try:
        check_encodable(dataset)
    except ValueError as exc:
        raise InstanceCheckError(f"{iod}: {exc}") from exc


def _check_formats(dataset: Dataset, iod: str, prefix: str) -> None:
    for element in dataset:
        name = f"{prefix}{element.keyword or element.tag}"
        if element.VR == "SQ":
            for index, item in enumerate(element.value):
                _check_formats(item, iod, f"{name}[{index}].")
            continue
        if element.VR not in CHECKED_VRS or element.value in (None, ""):
            continue
        values = element.value if element.VM > 1 else [element.value]
        for value in values:
            try:
                validate_value(element.VR, str(value), config.RAISE)
            except ValueError as exc:
                reason = str(exc).split(". Please see")[0]
                raise InstanceCheckError(f"{iod}: {name}: {reason}") from exc
