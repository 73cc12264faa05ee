"""Frames, clips, documents and sound to DICOM instances; no network I/O here.

One constructor per IOD family (PS3.3 Annex A), each validated when built; pixel encoding per
transfer syntax through :mod:`izer.encode.pixels`.
"""

from izer.encode.charset import CharacterSetError
from izer.encode.codes import AnatomicRegion, Code, Laterality, anatomic_region
from izer.encode.context import EquipmentContext, InstanceContext, SeriesContext, StudyContext
from izer.encode.encapsulated_pdf import encapsulated_pdf, read_pdf
from izer.encode.pixels import CodecUnavailableError, PixelLayoutError
from izer.encode.presentation_state import (
    GraphicAnnotation,
    GraphicType,
    Justification,
    TextAnnotation,
    presentation_state,
)
from izer.encode.secondary_capture import (
    ConversionType,
    FrameAxis,
    multiframe_secondary_capture,
    secondary_capture_image,
)
from izer.encode.selfcheck import InstanceCheckError
from izer.encode.transfer_syntaxes import TransferSyntax
from izer.encode.uids import UidFactory
from izer.encode.ultrasound import USApplication, USMode, us_image, us_multiframe_image
from izer.encode.visible_light import VLKind, vl_image
from izer.encode.voice_audio import (
    AudioSource,
    SampleEncoding,
    voice_audio,
    voice_audio_from_samples,
)
from izer.encode.xray_angio import (
    PixelIntensityRelationship,
    Plane,
    PositionerMotion,
    RadiationSetting,
    XRayKind,
    xray_image,
)

__all__ = [
    "AnatomicRegion",
    "AudioSource",
    "CharacterSetError",
    "Code",
    "CodecUnavailableError",
    "ConversionType",
    "EquipmentContext",
    "FrameAxis",
    "GraphicAnnotation",
    "GraphicType",
    "InstanceCheckError",
    "InstanceContext",
    "Justification",
    "Laterality",
    "PixelIntensityRelationship",
    "PixelLayoutError",
    "Plane",
    "PositionerMotion",
    "RadiationSetting",
    "SampleEncoding",
    "SeriesContext",
    "StudyContext",
    "TextAnnotation",
    "TransferSyntax",
    "USApplication",
    "USMode",
    "UidFactory",
    "VLKind",
    "XRayKind",
    "anatomic_region",
    "encapsulated_pdf",
    "multiframe_secondary_capture",
    "presentation_state",
    "read_pdf",
    "secondary_capture_image",
    "us_image",
    "us_multiframe_image",
    "vl_image",
    "voice_audio",
    "voice_audio_from_samples",
    "xray_image",
]
