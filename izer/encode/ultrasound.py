"""US Image and US Multi-frame Image (PS3.3 A.6 and A.7), from a scanner's video output.

Both carry the US Image module (PS3.3 C.8.5.6); the multi-frame one adds the Cine and
Multi-frame modules (C.7.6.5, C.7.6.6) with frames along time. Samples are 8-bit: grayscale
(MONOCHROME2) or colour, kept colour-by-pixel (Planar Configuration 0).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence

import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import UltrasoundImageStorage, UltrasoundMultiFrameImageStorage

from izer.encode.codes import AnatomicRegion, Code, Laterality, image_type_values, write_anatomy
from izer.encode.context import InstanceContext
from izer.encode.modules import (
    COMMON_TYPE1,
    COMMON_TYPE2,
    IMAGE_PIXEL_TYPE1,
    check_frame_time,
    dicom_datetime,
    new_instance,
    set_pixels,
    write_cine,
)
from izer.encode.pixels import PixelLayout, encode_frames
from izer.encode.selfcheck import InstanceCheckError, check_instance
from izer.encode.transfer_syntaxes import TransferSyntax

MODALITY = "US"

#: Photometric Interpretations the US Image module allows (PS3.3 C.8.5.6.1.2).
US_PHOTOMETRICS = frozenset(
    {
        "MONOCHROME2",
        "PALETTE COLOR",
        "RGB",
        "YBR_FULL",
        "YBR_FULL_422",
        "YBR_PARTIAL_422",
        "YBR_PARTIAL_420",
        "YBR_RCT",
        "YBR_ICT",
    }
)


class USApplication(enum.StrEnum):
    """Image Type (0008,0008) value 3 of US images: the exam (PS3.3 C.8.5.6.1.1)."""

    ABDOMINAL = "ABDOMINAL"
    BREAST = "BREAST"
    CHEST = "CHEST"
    ENDOCAVITARY = "ENDOCAVITARY"
    ENDORECTAL = "ENDORECTAL"
    ENDOVAGINAL = "ENDOVAGINAL"
    EPICARDIAL = "EPICARDIAL"
    FETAL_HEART = "FETAL HEART"
    GYNECOLOGY = "GYNECOLOGY"
    INTRACARDIAC = "INTRACARDIAC"
    INTRAOPERATIVE = "INTRAOPERATIVE"
    INTRAVASCULAR = "INTRAVASCULAR"
    MUSCULOSKELETAL = "MUSCULOSKELETAL"
    NEONATAL_HEAD = "NEONATAL HEAD"
    OBSTETRICAL = "OBSTETRICAL"
    OPHTHALMIC = "OPHTHALMIC"
    PEDIATRIC = "PEDIATRIC"
    PELVIC = "PELVIC"
    RETROPERITONEAL = "RETROPERITONEAL"
    SCROTAL = "SCROTAL"
    SMALL_PARTS = "SMALL PARTS"
    TEE = "TEE"
    THYROID = "THYROID"
    TRANSCRANIAL = "TRANSCRANIAL"
    TTE = "TTE"
    US_BIOPSY = "US BIOPSY"
    VASCULAR = "VASCULAR"


class USMode(enum.IntFlag):
    """Image Type value 4 of US images: the modes shown, OR-ed (PS3.3 C.8.5.6.1.1)."""

    TWO_D = 0x0001
    M_MODE = 0x0002
    CW_DOPPLER = 0x0004
    PW_DOPPLER = 0x0008
    COLOR_DOPPLER = 0x0010
    COLOR_M_MODE = 0x0020
    THREE_D_RENDERING = 0x0040
    COLOR_POWER = 0x0100
    TISSUE_CHARACTERIZATION = 0x0200
    SPATIALLY_RELATED_FRAMES = 0x0400


def us_image(
    pixels: np.ndarray,
    context: InstanceContext,
    *,
    transfer_syntax: TransferSyntax = TransferSyntax.EXPLICIT_VR_LITTLE_ENDIAN,
    quality: float | None = None,
    application: USApplication | None = None,
    modes: USMode | None = None,
    image_type: Sequence[str] = ("ORIGINAL", "PRIMARY"),
    anatomic_region: Code | AnatomicRegion | None = None,
    laterality: Laterality | None = None,
    burned_in_annotation: bool = False,
) -> Dataset:
    """A US Image (single frame) from a scanner's video output.

    Parameters
    ----------
    pixels
        ``(rows, columns)`` uint8 grayscale or ``(rows, columns, 3)`` uint8 RGB.
    application
        Image Type value 3, the kind of exam (``ABDOMINAL``, ``OBSTETRICAL``...).
    modes
        Image Type value 4, the modes on screen (``USMode.TWO_D | USMode.COLOR_DOPPLER``);
        needs ``application``.
    image_type
        Image Type values 1 and 2.
    anatomic_region, laterality
        Anatomic Region Sequence (PS3.3 C.8.5.6) and Laterality; see
        :func:`izer.encode.codes.write_anatomy`.

    Raises
    ------
    ValueError
        With what to change when the pixels, the series or an option do not fit the IOD.
    """
    if pixels.ndim not in (2, 3) or (pixels.ndim == 3 and pixels.shape[2] != 3):
        raise ValueError(
            "a US Image is one frame shaped (rows, columns) or (rows, columns, 3), got an "
            f"array shaped {pixels.shape}; use us_multiframe_image for a clip"
        )
    return _build(
        UltrasoundImageStorage,
        "US Image",
        pixels[np.newaxis],
        context,
        transfer_syntax=transfer_syntax,
        quality=quality,
        image_type=_us_image_type(image_type, application, modes),
        anatomic_region=anatomic_region,
        laterality=laterality,
        burned_in_annotation=burned_in_annotation,
        multiframe=False,
        frame_time_ms=None,
    )


def us_multiframe_image(
    frames: np.ndarray,
    context: InstanceContext,
    *,
    frame_time_ms: float,
    transfer_syntax: TransferSyntax = TransferSyntax.EXPLICIT_VR_LITTLE_ENDIAN,
    quality: float | None = None,
    application: USApplication | None = None,
    modes: USMode | None = None,
    image_type: Sequence[str] = ("ORIGINAL", "PRIMARY"),
    anatomic_region: Code | AnatomicRegion | None = None,
    laterality: Laterality | None = None,
    burned_in_annotation: bool = False,
) -> Dataset:
    """A US Multi-frame Image (a cine loop) from a scanner's video output.

    Parameters
    ----------
    frames
        ``(n, rows, columns)`` uint8 grayscale or ``(n, rows, columns, 3)`` uint8 RGB.
    frame_time_ms
        Time between frames in milliseconds: Frame Time, the Frame Increment Pointer's
        target; Cine Rate and Recommended Display Frame Rate follow from it.

    Other parameters are those of :func:`us_image`.

    Raises
    ------
    ValueError
        With what to change when the frames, the series or an option do not fit the IOD.
    """
    if frames.ndim not in (3, 4) or (frames.ndim == 4 and frames.shape[3] != 3):
        raise ValueError(
            "US Multi-frame frames must be shaped (n, rows, columns) or (n, rows, columns, 3), "
            f"got {frames.shape}; use us_image for a single frame"
        )
    return _build(
        UltrasoundMultiFrameImageStorage,
        "US Multi-frame Image",
        frames,
        context,
        transfer_syntax=transfer_syntax,
        quality=quality,
        image_type=_us_image_type(image_type, application, modes),
        anatomic_region=anatomic_region,
        laterality=laterality,
        burned_in_annotation=burned_in_annotation,
        multiframe=True,
        frame_time_ms=frame_time_ms,
    )


def _us_image_type(
    image_type: Sequence[str], application: USApplication | None, modes: USMode | None
) -> list[str]:
    values = image_type_values(image_type, max_values=2)
    if modes is not None and application is None:
        raise ValueError(
            "US Image Type value 4 (modes) comes after value 3: give application too "
            "(e.g. USApplication.ABDOMINAL)"
        )
    if application is not None:
        values.append(USApplication(application).value)
    if modes is not None:
        if not 0 < int(modes) <= 0xFFFF:
            raise ValueError(f"modes must combine USMode flags, got {modes!r}")
        values.append(f"{int(modes):04X}")
    return values


def _build(
    sop_class_uid: str,
    iod: str,
    frames: np.ndarray,
    context: InstanceContext,
    *,
    transfer_syntax: TransferSyntax,
    quality: float | None,
    image_type: list[str],
    anatomic_region: Code | AnatomicRegion | None,
    laterality: Laterality | None,
    burned_in_annotation: bool,
    multiframe: bool,
    frame_time_ms: float | None,
) -> Dataset:
    if context.series.modality != MODALITY:
        raise ValueError(
            f"a {iod} needs a series with Modality US, but this series is "
            f"{context.series.modality or 'without modality'}; start a US series for it"
        )
    if frames.dtype != np.uint8:
        raise ValueError(
            f"a {iod} from a video output holds 8-bit samples, got {frames.dtype}; scale to "
            "uint8, or store 16-bit images with secondary_capture_image"
        )
    if multiframe:
        check_frame_time(frame_time_ms)
    layout = PixelLayout.of(frames)

    ds = new_instance(sop_class_uid, context)
    ds.ImageType = image_type
    ds.PatientOrientation = ""
    ds.BurnedInAnnotation = "YES" if burned_in_annotation else "NO"
    ds.AcquisitionDateTime = dicom_datetime(context.acquired)
    write_anatomy(ds, anatomic_region, laterality)
    if multiframe:
        write_cine(ds, len(frames), frame_time_ms)
    encoded = encode_frames(frames, layout, transfer_syntax, quality=quality)
    if encoded.photometric not in US_PHOTOMETRICS:
        raise InstanceCheckError(
            f"{iod}: Photometric Interpretation {encoded.photometric} is not allowed by the "
            "US Image module; choose another transfer syntax"
        )
    set_pixels(ds, encoded, layout)
    type1 = [*COMMON_TYPE1, *IMAGE_PIXEL_TYPE1, "LossyImageCompression"]
    if multiframe:
        type1 += ["NumberOfFrames", "FrameIncrementPointer", "FrameTime"]
    check_instance(
        ds,
        iod=iod,
        type1=type1,
        type2=(*COMMON_TYPE2, "PatientOrientation", "ImageType"),
    )
    return ds
