"""What the local study store holds, as plain records."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path


class InstanceState(enum.StrEnum):
    """Life of a stored instance on this station."""

    STORED = "STORED"
    SENT = "SENT"
    COMMITTED = "COMMITTED"


@dataclass(frozen=True)
class InstanceRecord:
    """One SOP Instance kept as a Part-10 file in the local store."""

    sop_instance_uid: str
    sop_class_uid: str
    series_instance_uid: str
    study_instance_uid: str
    transfer_syntax_uid: str
    instance_number: int | None
    size_bytes: int
    path: Path
    state: InstanceState = InstanceState.STORED


@dataclass(frozen=True)
class SeriesRecord:
    """One series of a stored study."""

    series_instance_uid: str
    study_instance_uid: str
    modality: str
    series_number: int | None
    description: str
    instance_count: int


@dataclass(frozen=True)
class StudyRecord:
    """One stored study, with its patient's identity and counts."""

    study_instance_uid: str
    patient_id: str
    patient_name: str
    study_date: str
    study_time: str
    accession_number: str
    description: str
    series_count: int
    instance_count: int
    size_bytes: int
