"""Who, which study, which series, which equipment and when: the context of an instance."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from pydicom.dataset import Dataset

from izer.config.settings import DEFAULT_CHARACTER_SET
from izer.model import Patient


@dataclass(frozen=True)
class StudyContext:
    """General Study module values (PS3.3 C.7.2.1) plus the patient and the request.

    Parameters
    ----------
    accession_issuer
        Issuer of Accession Number Sequence (0008,0051) Local Namespace Entity ID, type 3.
    admission_id
        Admission ID (0038,0010), Patient Study module (PS3.3 C.7.2.2), type 3.
    procedure_codes
        Items of the Procedure Code Sequence (0008,1032), General Study module, type 3
        (the worklist's Requested Procedure Code Sequence, IHE SWF).
    request_attributes
        Items of the Request Attributes Sequence (0040,0275), General Series module
        (PS3.3 C.7.3.1, Request Attributes Macro Table 10-9), type 3: the scheduled step(s)
        every series of a worklist procedure carries. Empty for unscheduled work.
    """

    patient: Patient
    study_instance_uid: str
    study_date: str
    study_time: str
    accession_number: str = ""
    study_id: str = ""
    description: str = ""
    referring_physician_name: str = ""
    accession_issuer: str = ""
    admission_id: str = ""
    procedure_codes: tuple[Dataset, ...] = ()
    request_attributes: tuple[Dataset, ...] = ()


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


@dataclass(frozen=True)
class InstanceContext:
    """Everything an IOD constructor needs besides its own content.

    Parameters
    ----------
    sop_instance_uid, instance_number
        Identity of the new instance in its series.
    character_set
        Configured Specific Character Set name (``ISO_IR 192`` by default).
    content_time
        Content Date/Time (when the image or document content was created).
    acquisition_time
        Acquisition DateTime; the content time when not given.
    """

    study: StudyContext
    series: SeriesContext
    equipment: EquipmentContext
    sop_instance_uid: str
    instance_number: int
    character_set: str = DEFAULT_CHARACTER_SET
    content_time: datetime = field(default_factory=datetime.now)
    acquisition_time: datetime | None = None

    @property
    def acquired(self) -> datetime:
        """Acquisition time, falling back to the content time."""
        return self.acquisition_time or self.content_time
