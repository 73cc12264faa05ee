"""Frames, clips and documents to DICOM instances; no network I/O here."""

from izer.encode.context import EquipmentContext, SeriesContext, StudyContext
from izer.encode.secondary_capture import ConversionType, build_secondary_capture
from izer.encode.uids import UidFactory

__all__ = [
    "ConversionType",
    "EquipmentContext",
    "SeriesContext",
    "StudyContext",
    "UidFactory",
    "build_secondary_capture",
]
