"""Plain data shared by every room of izer; imports nothing else from izer."""

from izer.model.capture import (
    CaptureNotice,
    ClipSaved,
    NoticeLevel,
    RecordingStatus,
    StillTaken,
)
from izer.model.patient import Patient, Sex, display_date, display_name
from izer.model.procedure import Procedure, ProcedureState, TransitionError
from izer.model.records import InstanceRecord, InstanceState, SeriesRecord, StudyRecord
from izer.model.sensitive import REDACTED, Sensitive
from izer.model.status import EngineStatus

__all__ = [
    "REDACTED",
    "CaptureNotice",
    "ClipSaved",
    "EngineStatus",
    "InstanceRecord",
    "InstanceState",
    "NoticeLevel",
    "Patient",
    "Procedure",
    "ProcedureState",
    "RecordingStatus",
    "Sensitive",
    "SeriesRecord",
    "Sex",
    "StillTaken",
    "StudyRecord",
    "TransitionError",
    "display_date",
    "display_name",
]
