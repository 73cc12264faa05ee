"""Looking a patient or study up: Patient Root and Study Root C-FIND SCU (PS3.4 C.6.1, C.6.2).

For demographics without a worklist entry and for reconciliation. Matching keys are checked
as in :class:`~izer.worklist.mwl.WorklistQuery`: names and IDs allow wildcards, dates ranges.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from pydicom.dataset import Dataset
from pynetdicom.sop_class import (
    PatientRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelFind,
)

from izer.config import Destination
from izer.model import Patient, Sex
from izer.net import AssociationFactory
from izer.worklist.charsets import CharsetWarning
from izer.worklist.mwl import FindOutcome, WorklistQuery, run_find


@dataclass(frozen=True)
class StudyMatch:
    """One study found by a Study Root query (STUDY level, PS3.4 C.6.2.1)."""

    patient: Patient
    study_instance_uid: str
    accession_number: str = ""
    study_date: str = ""
    study_time: str = ""
    study_id: str = ""
    description: str = ""
    referring_physician: str = ""
    modalities: tuple[str, ...] = ()
    series_count: int | None = None
    instance_count: int | None = None


T = TypeVar("T")


@dataclass(frozen=True)
class QueryResult(Generic[T]):
    """Matches, character-set warnings, and whether the cap cut the list."""

    matches: tuple[T, ...]
    warnings: tuple[CharsetWarning, ...] = ()
    truncated: bool = False


def _text(dataset: Dataset, keyword: str) -> str:
    value = dataset.get(keyword, "")
    return "" if value is None else str(value)


def _patient(dataset: Dataset) -> Patient:
    try:
        sex = Sex(_text(dataset, "PatientSex").strip().upper())
    except ValueError:
        sex = Sex.UNKNOWN
    return Patient(
        patient_id=_text(dataset, "PatientID"),
        name=_text(dataset, "PatientName"),
        birth_date=_text(dataset, "PatientBirthDate"),
        sex=sex,
        issuer=_text(dataset, "IssuerOfPatientID"),
    )


def _values(dataset: Dataset, keyword: str) -> tuple[str, ...]:
    value = dataset.get(keyword, None)
    if value in (None, ""):
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value)


def _count(dataset: Dataset, keyword: str) -> int | None:
    value = dataset.get(keyword, None)
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _validated(
    *, patient_id: str, name: str, birth_date: str, accession: str = "", study_date: str = ""
) -> WorklistQuery:
    """Reuse the worklist query checks for the keys both kinds of query share."""
    return WorklistQuery(
        patient_id=patient_id,
        patient_name=name,
        birth_date=birth_date,
        accession_number=accession,
        start_date=study_date,
    )


def find_patients(
    factory: AssociationFactory,
    destination: Destination,
    *,
    patient_id: str = "",
    name: str = "",
    birth_date: str = "",
    character_set: str = "ISO_IR 192",
    limit: int | None = None,
    fallback_charset: str = "ISO_IR 100",
) -> QueryResult[Patient]:
    """Patients matching the keys (Patient Root, PATIENT level, PS3.4 C.6.1.1.2).

    Raises
    ------
    ValueError
        When a key is malformed (see :class:`WorklistQuery`).
    AssociationFailed, FindFailed
        When the peer cannot be reached or refuses the query.
    """
    _validated(patient_id=patient_id, name=name, birth_date=birth_date)
    identifier = _base(character_set, "PATIENT", patient_id, name, birth_date)
    outcome = run_find(
        factory,
        destination,
        PatientRootQueryRetrieveInformationModelFind,
        identifier,
        limit=limit,
        fallback_charset=fallback_charset,
    )
    return QueryResult(
        tuple(_patient(ds) for ds in outcome.datasets), outcome.warnings, outcome.truncated
    )


def find_studies(
    factory: AssociationFactory,
    destination: Destination,
    *,
    patient_id: str = "",
    name: str = "",
    birth_date: str = "",
    accession: str = "",
    study_date: str = "",
    study_uid: str = "",
    character_set: str = "ISO_IR 192",
    limit: int | None = None,
    fallback_charset: str = "ISO_IR 100",
) -> QueryResult[StudyMatch]:
    """Studies matching the keys (Study Root, STUDY level, PS3.4 C.6.2.1.2).

    Study Instance UID is list-of-UID matching (C.2.2.2.2); the others as in
    :class:`WorklistQuery`.

    Raises
    ------
    ValueError
        When a key is malformed.
    AssociationFailed, FindFailed
        When the peer cannot be reached or refuses the query.
    """
    _validated(
        patient_id=patient_id,
        name=name,
        birth_date=birth_date,
        accession=accession,
        study_date=study_date,
    )
    identifier = _base(character_set, "STUDY", patient_id, name, birth_date)
    identifier.StudyInstanceUID = study_uid
    identifier.AccessionNumber = accession
    identifier.StudyDate = study_date
    identifier.StudyTime = ""
    identifier.StudyID = ""
    identifier.StudyDescription = ""
    identifier.ReferringPhysicianName = ""
    identifier.ModalitiesInStudy = ""
    identifier.NumberOfStudyRelatedSeries = None
    identifier.NumberOfStudyRelatedInstances = None
    outcome = study_root_find(factory, destination, identifier, limit, fallback_charset)
    matches = tuple(
        StudyMatch(
            patient=_patient(ds),
            study_instance_uid=_text(ds, "StudyInstanceUID"),
            accession_number=_text(ds, "AccessionNumber"),
            study_date=_text(ds, "StudyDate"),
            study_time=_text(ds, "StudyTime"),
            study_id=_text(ds, "StudyID"),
            description=_text(ds, "StudyDescription"),
            referring_physician=_text(ds, "ReferringPhysicianName"),
            modalities=_values(ds, "ModalitiesInStudy"),
            series_count=_count(ds, "NumberOfStudyRelatedSeries"),
            instance_count=_count(ds, "NumberOfStudyRelatedInstances"),
        )
        for ds in outcome.datasets
    )
    return QueryResult(matches, outcome.warnings, outcome.truncated)


def study_root_find(
    factory: AssociationFactory,
    destination: Destination,
    identifier: Dataset,
    limit: int | None,
    fallback_charset: str,
) -> FindOutcome:
    """Run a Study Root C-FIND (PS3.4 C.6.2.1) with ``identifier`` at its level."""
    return run_find(
        factory,
        destination,
        StudyRootQueryRetrieveInformationModelFind,
        identifier,
        limit=limit,
        fallback_charset=fallback_charset,
    )


def _base(character_set: str, level: str, patient_id: str, name: str, birth_date: str) -> Dataset:
    ds = Dataset()
    ds.SpecificCharacterSet = (
        ["", character_set] if character_set.startswith("ISO 2022") else (character_set)
    )
    ds.QueryRetrieveLevel = level
    ds.PatientName = name
    ds.PatientID = patient_id
    ds.IssuerOfPatientID = ""
    ds.PatientBirthDate = birth_date
    ds.PatientSex = ""
    return ds
