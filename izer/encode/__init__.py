"""Frames, clips and documents to DICOM instances; no network I/O here."""

from izer.encode.charset import CharacterSetError
from izer.encode.context import EquipmentContext, InstanceContext, SeriesContext, StudyContext
from izer.encode.pixels import CodecUnavailableError, PixelLayoutError
from izer.encode.secondary_capture import (
    ConversionType,
    FrameAxis,
    multiframe_secondary_capture,
    secondary_capture_image,
)
from izer.encode.selfcheck import InstanceCheckError
from izer.encode.transfer_syntaxes import TransferSyntax
from izer.encode.uids import UidFactory

__all__ = [
    "CharacterSetError",
    "CodecUnavailableError",
    "ConversionType",
    "EquipmentContext",
    "FrameAxis",
    "InstanceCheckError",
    "InstanceContext",
    "PixelLayoutError",
    "SeriesContext",
    "StudyContext",
    "TransferSyntax",
    "UidFactory",
    "multiframe_secondary_capture",
    "secondary_capture_image",
]
