"""Secondary Capture: single-frame (PS3.3 A.8.1) and multi-frame (A.8.2 to A.8.5) images."""

from __future__ import annotations

import enum

import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import (
    MultiFrameGrayscaleByteSecondaryCaptureImageStorage,
    MultiFrameGrayscaleWordSecondaryCaptureImageStorage,
    MultiFrameTrueColorSecondaryCaptureImageStorage,
    SecondaryCaptureImageStorage,
)
from pydicom.valuerep import format_number_as_ds

from izer.encode.context import InstanceContext
from izer.encode.modules import (
    COMMON_TYPE1,
    COMMON_TYPE2,
    IMAGE_PIXEL_TYPE1,
    dicom_date,
    dicom_time,
    new_instance,
    set_pixels,
    write_cine,
)
from izer.encode.pixels import PixelLayout, PreEncoded, encode_or_keep
from izer.encode.selfcheck import check_instance
from izer.encode.transfer_syntaxes import TransferSyntax

MM_PER_INCH = 25.4


class ConversionType(enum.StrEnum):
    """Conversion Type (0008,0064), PS3.3 C.8.6.1."""

    DIGITIZED_VIDEO = "DV"
    DIGITAL_INTERFACE = "DI"
    DIGITIZED_FILM = "DF"
    WORKSTATION = "WSD"
    SCANNED_DOCUMENT = "SD"
    SCANNED_IMAGE = "SI"
    DRAWING = "DRW"
    SYNTHETIC = "SYN"


class FrameAxis(enum.Enum):
    """What advances from frame to frame: the Frame Increment Pointer (PS3.3 C.8.6.3)."""

    TIME = "FrameTime"
    PAGE = "PageNumberVector"


#: Conversion Types for which Nominal Scanned Pixel Spacing is allowed (PS3.3 C.8.6.2).
_SCANNED = {
    ConversionType.DIGITIZED_FILM,
    ConversionType.SCANNED_DOCUMENT,
    ConversionType.SCANNED_IMAGE,
}


def _sc_equipment(
    ds: Dataset,
    context: InstanceContext,
    conversion_type: ConversionType,
    scanner_dpi: float | None,
) -> None:
    ds.ConversionType = conversion_type.value
    ds.SecondaryCaptureDeviceManufacturer = context.equipment.manufacturer
    ds.SecondaryCaptureDeviceManufacturerModelName = context.equipment.model_name
    ds.SecondaryCaptureDeviceSoftwareVersions = context.equipment.software_versions
    ds.DateOfSecondaryCapture = dicom_date(context.content_time)
    ds.TimeOfSecondaryCapture = dicom_time(context.content_time)
    if scanner_dpi is not None:
        if conversion_type not in _SCANNED:
            raise ValueError(
                "a scanner resolution (Nominal Scanned Pixel Spacing) only belongs to "
                f"Conversion Type DF, SD or SI, not {conversion_type.value}"
            )
        if scanner_dpi <= 0:
            raise ValueError(f"the scanner resolution must be more than 0 dpi, got {scanner_dpi}")
        spacing = format_number_as_ds(MM_PER_INCH / scanner_dpi)
        ds.NominalScannedPixelSpacing = [spacing, spacing]
    elif conversion_type is ConversionType.DIGITIZED_FILM:
        raise ValueError(
            "a digitized film (Conversion Type DF) needs the scanner's resolution in dpi "
            "for Nominal Scanned Pixel Spacing"
        )


def _general_image(ds: Dataset, context: InstanceContext, burned_in_annotation: bool) -> None:
    ds.PatientOrientation = ""
    ds.BurnedInAnnotation = "YES" if burned_in_annotation else "NO"
    ds.Laterality = ""
    ds.AcquisitionDateTime = context.acquired.strftime("%Y%m%d%H%M%S.%f")


def secondary_capture_image(
    pixels: np.ndarray | PreEncoded,
    context: InstanceContext,
    *,
    conversion_type: ConversionType = ConversionType.DIGITIZED_VIDEO,
    transfer_syntax: TransferSyntax = TransferSyntax.EXPLICIT_VR_LITTLE_ENDIAN,
    quality: float | None = None,
    bits_stored: int | None = None,
    scanner_dpi: float | None = None,
    burned_in_annotation: bool = False,
) -> Dataset:
    """Secondary Capture Image Storage from one image.

    Parameters
    ----------
    pixels
        ``(rows, columns)`` grayscale (uint8 or uint16) or ``(rows, columns, 3)`` uint8 RGB;
        or one frame already compressed, kept as it is.
    conversion_type
        How the image was obtained (DV from a video grabber, DF from a film digitizer...).
    bits_stored
        For uint16 grayscale, the significant bits (12 for a 12-bit film scan).
    scanner_dpi
        Scanner resolution; gives Nominal Scanned Pixel Spacing (required for DF).
    burned_in_annotation
        Whether identifying text is burned into the pixels.

    Raises
    ------
    ValueError
        With what to change, when the pixels, syntax or options do not fit.
    """
    if isinstance(pixels, np.ndarray):
        if pixels.ndim not in (2, 3):
            raise ValueError(f"an SC image is one frame, got an array shaped {pixels.shape}")
        pixels = pixels[np.newaxis]
    encoded, layout = encode_or_keep(
        pixels, transfer_syntax, quality=quality, bits_stored=bits_stored
    )
    if encoded.number_of_frames != 1:
        raise ValueError("an SC image is one frame; use multiframe_secondary_capture")
    ds = new_instance(SecondaryCaptureImageStorage, context)
    _sc_equipment(ds, context, conversion_type, scanner_dpi)
    _general_image(ds, context, burned_in_annotation)
    set_pixels(ds, encoded, layout)
    check_instance(
        ds,
        iod="Secondary Capture Image",
        type1=(*COMMON_TYPE1, *IMAGE_PIXEL_TYPE1, "ConversionType"),
        type2=(*COMMON_TYPE2, "PatientOrientation"),
    )
    return ds


class MultiFrameKind(enum.Enum):
    """The three multi-frame SC SOP classes and their pixel rules (PS3.3 C.8.6.3)."""

    GRAYSCALE_BYTE = MultiFrameGrayscaleByteSecondaryCaptureImageStorage
    GRAYSCALE_WORD = MultiFrameGrayscaleWordSecondaryCaptureImageStorage
    TRUE_COLOR = MultiFrameTrueColorSecondaryCaptureImageStorage

    @classmethod
    def for_layout(cls, layout: PixelLayout) -> MultiFrameKind:
        """The kind that fits the frames (8-bit gray, 16-bit gray or RGB)."""
        if layout.samples_per_pixel == 3:
            return cls.TRUE_COLOR
        return cls.GRAYSCALE_WORD if layout.bits_allocated == 16 else cls.GRAYSCALE_BYTE


def multiframe_secondary_capture(
    frames: np.ndarray | PreEncoded,
    context: InstanceContext,
    *,
    conversion_type: ConversionType = ConversionType.DIGITIZED_VIDEO,
    transfer_syntax: TransferSyntax = TransferSyntax.EXPLICIT_VR_LITTLE_ENDIAN,
    quality: float | None = None,
    bits_stored: int | None = None,
    frame_axis: FrameAxis = FrameAxis.TIME,
    frame_time_ms: float | None = None,
    scanner_dpi: float | None = None,
    burned_in_annotation: bool = False,
) -> Dataset:
    """A Multi-frame Grayscale Byte, Grayscale Word or True Color SC image.

    Parameters
    ----------
    frames
        ``(n, rows, columns)`` uint8 or uint16 grayscale, or ``(n, rows, columns, 3)`` uint8;
        or frames already compressed, kept as they are.
    bits_stored
        For Grayscale Word, 9 to 16 (12 for a 12-bit film scan).
    frame_axis
        ``TIME`` for frames from video (then ``frame_time_ms`` is required), ``PAGE`` for
        pages or films of a batch.

    Raises
    ------
    ValueError
        With what to change, when the frames or options do not fit the SOP class.
    """
    if isinstance(frames, np.ndarray) and frames.ndim not in (3, 4):
        raise ValueError(f"frames must be shaped (n, rows, columns[, 3]), got {frames.shape}")
    encoded, layout = encode_or_keep(
        frames, transfer_syntax, quality=quality, bits_stored=bits_stored
    )
    kind = MultiFrameKind.for_layout(layout)
    if kind is MultiFrameKind.GRAYSCALE_WORD and not 9 <= layout.bits_stored <= 16:
        raise ValueError(
            "Multi-frame Grayscale Word SC needs 9 to 16 bits stored; give bits_stored "
            f"(got {layout.bits_stored})"
        )
    if kind is MultiFrameKind.GRAYSCALE_BYTE and layout.bits_stored != 8:
        raise ValueError("Multi-frame Grayscale Byte SC needs 8 bits stored")
    ds = new_instance(kind.value, context)
    _sc_equipment(ds, context, conversion_type, scanner_dpi)
    _general_image(ds, context, burned_in_annotation)
    count = encoded.number_of_frames
    if frame_axis is FrameAxis.TIME:
        write_cine(ds, count, frame_time_ms)
    else:
        ds.NumberOfFrames = count
        ds.FrameIncrementPointer = 0x00182001
        ds.PageNumberVector = list(range(1, count + 1))
    if kind is not MultiFrameKind.TRUE_COLOR:
        ds.RescaleIntercept = "0"
        ds.RescaleSlope = "1"
        ds.RescaleType = "US"
        ds.PresentationLUTShape = "IDENTITY"
    set_pixels(ds, encoded, layout)
    type1 = [*COMMON_TYPE1, *IMAGE_PIXEL_TYPE1, "ConversionType", "NumberOfFrames"]
    type1 += ["FrameIncrementPointer", "BurnedInAnnotation"]
    if kind is not MultiFrameKind.TRUE_COLOR:
        type1 += ["RescaleIntercept", "RescaleSlope", "RescaleType", "PresentationLUTShape"]
    check_instance(
        ds,
        iod=f"Multi-frame {kind.name.replace('_', ' ').title()} SC Image",
        type1=type1,
        type2=(*COMMON_TYPE2, "PatientOrientation"),
    )
    return ds
