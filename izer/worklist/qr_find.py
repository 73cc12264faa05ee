"""What to retrieve: the series and instances of a study (Study Root C-FIND, PS3.4 C.6.2.1).

Hierarchical queries (PS3.4 C.4.1.2.1): a SERIES-level identifier carries the Study Instance
UID, an IMAGE-level one the Study and Series Instance UIDs, each a single UID. Studies are
found with :func:`izer.worklist.query.find_studies`.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from pydicom.dataset import Dataset

from izer.config import Destination
from izer.net import AssociationFactory
from izer.worklist.mwl import WorklistQuery
from izer.worklist.query import QueryResult, _count, _text, study_root_find

#: A UID (PS3.5 9.1): digits and dots.
_UID = re.compile(r"[0-9]+(\.[0-9]+)*")


class QueryLevel(enum.StrEnum):
    """Query/Retrieve Level (0008,0052) of the Study Root model (PS3.4 C.6.2.1)."""

    STUDY = "STUDY"
    SERIES = "SERIES"
    IMAGE = "IMAGE"


@dataclass(frozen=True)
class SeriesMatch:
    """One series found by a Study Root query (SERIES level, PS3.4 C.6.2.1.2)."""

    study_instance_uid: str
    series_instance_uid: str
    modality: str = ""
    series_number: int | None = None
    description: str = ""
    instance_count: int | None = None


@dataclass(frozen=True)
class InstanceMatch:
    """One instance found by a Study Root query (IMAGE level, PS3.4 C.6.2.1.2)."""

    study_instance_uid: str
    series_instance_uid: str
    sop_instance_uid: str
    sop_class_uid: str = ""
    instance_number: int | None = None
    frames: int | None = None


def check_uid(name: str, value: str) -> None:
    """Check a unique key: one UID, no wildcard (PS3.4 C.2.2.2.1, PS3.5 9.1).

    Raises
    ------
    ValueError
        Naming the key when ``value`` is empty or not a UID.
    """
    if not value:
        raise ValueError(f"{name} is empty; give the UID (e.g. from `izer query`)")
    if len(value) > 64 or not _UID.fullmatch(value):
        raise ValueError(f"{name} {value!r} is not a UID (digits and dots, at most 64 characters)")


def _hierarchical(character_set: str, level: QueryLevel, study_uid: str) -> Dataset:
    """An identifier at ``level`` with the unique key of the study above it (PS3.4 C.4.1.2.1)."""
    check_uid("Study Instance UID", study_uid)
    ds = Dataset()
    ds.SpecificCharacterSet = (
        ["", character_set] if character_set.startswith("ISO 2022") else character_set
    )
    ds.QueryRetrieveLevel = level.value
    ds.StudyInstanceUID = study_uid
    return ds


def find_series(
    factory: AssociationFactory,
    destination: Destination,
    study_uid: str,
    *,
    modality: str = "",
    series_uid: str = "",
    character_set: str = "ISO_IR 192",
    limit: int | None = None,
    fallback_charset: str = "ISO_IR 100",
) -> QueryResult[SeriesMatch]:
    """The series of one study (Study Root, SERIES level, PS3.4 C.6.2.1.2 Table C.6-6).

    ``modality`` is single-value matching, ``series_uid`` list-of-UID matching; both empty
    match every series of the study.

    Raises
    ------
    ValueError
        When the study UID is not a UID, or a key is malformed.
    AssociationFailed, FindFailed
        When the peer cannot be reached or refuses the query.
    """
    WorklistQuery(modality=modality)  # the same single-value check as the worklist's
    identifier = _hierarchical(character_set, QueryLevel.SERIES, study_uid)
    identifier.SeriesInstanceUID = series_uid
    identifier.Modality = modality
    identifier.SeriesNumber = None
    identifier.SeriesDescription = ""
    identifier.NumberOfSeriesRelatedInstances = None
    outcome = study_root_find(factory, destination, identifier, limit, fallback_charset)
    matches = tuple(
        SeriesMatch(
            study_instance_uid=_text(ds, "StudyInstanceUID") or study_uid,
            series_instance_uid=_text(ds, "SeriesInstanceUID"),
            modality=_text(ds, "Modality"),
            series_number=_count(ds, "SeriesNumber"),
            description=_text(ds, "SeriesDescription"),
            instance_count=_count(ds, "NumberOfSeriesRelatedInstances"),
        )
        for ds in outcome.datasets
    )
    return QueryResult(
        tuple(sorted(matches, key=lambda m: (m.series_number or 0, m.series_instance_uid))),
        outcome.warnings,
        outcome.truncated,
    )


def find_instances(
    factory: AssociationFactory,
    destination: Destination,
    study_uid: str,
    series_uid: str,
    *,
    character_set: str = "ISO_IR 192",
    limit: int | None = None,
    fallback_charset: str = "ISO_IR 100",
) -> QueryResult[InstanceMatch]:
    """The instances of one series (Study Root, IMAGE level, PS3.4 C.6.2.1.2 Table C.6-7).

    Raises
    ------
    ValueError
        When a UID is not a UID.
    AssociationFailed, FindFailed
        When the peer cannot be reached or refuses the query.
    """
    check_uid("Series Instance UID", series_uid)
    identifier = _hierarchical(character_set, QueryLevel.IMAGE, study_uid)
    identifier.SeriesInstanceUID = series_uid
    identifier.SOPInstanceUID = ""
    identifier.SOPClassUID = ""
    identifier.InstanceNumber = None
    identifier.NumberOfFrames = None
    outcome = study_root_find(factory, destination, identifier, limit, fallback_charset)
    matches = tuple(
        InstanceMatch(
            study_instance_uid=_text(ds, "StudyInstanceUID") or study_uid,
            series_instance_uid=_text(ds, "SeriesInstanceUID") or series_uid,
            sop_instance_uid=_text(ds, "SOPInstanceUID"),
            sop_class_uid=_text(ds, "SOPClassUID"),
            instance_number=_count(ds, "InstanceNumber"),
            frames=_count(ds, "NumberOfFrames"),
        )
        for ds in outcome.datasets
    )
    return QueryResult(
        tuple(sorted(matches, key=lambda m: (m.instance_number or 0, m.sop_instance_uid))),
        outcome.warnings,
        outcome.truncated,
    )
