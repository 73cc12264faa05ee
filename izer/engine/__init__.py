"""The engine: the one object the command line and the GUI drive (see :mod:`izer.engine.core`)."""

from izer.engine.capturing import CAPTURING_STATES
from izer.engine.converting import (
    ConvertFailure,
    ConvertReport,
    ConvertRequest,
    ConvertStep,
    FrameProgress,
)
from izer.engine.core import MANUFACTURER, MODEL_NAME, Engine, EngineEvents
from izer.engine.exporting import (
    EXPORT_PATTERN_FIELDS,
    ExportOptions,
    ExportReport,
    ExportStep,
)
from izer.worklist import WorklistError, WorklistItem, WorklistQuery, WorklistResult

__all__ = [
    "CAPTURING_STATES",
    "EXPORT_PATTERN_FIELDS",
    "MANUFACTURER",
    "MODEL_NAME",
    "ConvertFailure",
    "ConvertReport",
    "ConvertRequest",
    "ConvertStep",
    "Engine",
    "EngineEvents",
    "ExportOptions",
    "ExportReport",
    "ExportStep",
    "FrameProgress",
    "WorklistError",
    "WorklistItem",
    "WorklistQuery",
    "WorklistResult",
]
