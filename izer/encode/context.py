"""Who, which study, which series and which equipment an instance belongs to."""

from __future__ import annotations

from dataclasses import dataclass

from izer.model import Patient


@dataclass(frozen=True)
class StudyContext:
    """General Study module values (PS3.3 C.7.2.1) plus the patient."""

    patient: Patient
    study_instance_uid: str
    study_date: str
    study_time: str
    accession_number: str = ""
    study_id: str = ""
    description: str = ""
    referring_physician_name: str = ""


@dataclass(frozen=True)
class SeriesContext:
    """General Series module values (PS3.3 C.7.3.1)."""

    series_instance_uid: str
    series_number: int
    modality: str
    description: str = ""


@dataclass(frozen=True)
class EquipmentContext:
    """General Equipment module values (PS3.3 C.7.5.1)."""

    manufacturer: str
    model_name: str
    software_versions: str
    station_name: str = ""
    institution_name: str = ""
