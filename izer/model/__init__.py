"""Plain data shared by every room of izer; imports nothing else from izer."""

from izer.model.patient import Patient, Sex
from izer.model.procedure import Procedure, ProcedureState, TransitionError
from izer.model.records import InstanceRecord, InstanceState, SeriesRecord, StudyRecord
from izer.model.sensitive import REDACTED, Sensitive
from izer.model.status import EngineStatus

__all__ = [
    "REDACTED",
    "EngineStatus",
    "InstanceRecord",
    "InstanceState",
    "Patient",
    "Procedure",
    "ProcedureState",
    "Sensitive",
    "SeriesRecord",
    "Sex",
    "StudyRecord",
    "TransitionError",
]
