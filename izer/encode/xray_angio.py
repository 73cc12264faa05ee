"""X-Ray Angiographic and X-Ray Radiofluoroscopic Image (PS3.3 A.14 and A.16).

For a DICOMizer that digitizes the video output of a C-arm or a fluoroscopy table: the pixels
are display values (Pixel Intensity Relationship DISP), the exposure factors are unknown (KVP,
X-Ray Tube Current and Exposure Time written empty, as their types 2 and 2C allow) and the
Radiation Setting is GR. Each default can be overridden. Frames along time get the Cine and
Multi-frame modules (PS3.3 C.7.6.5, C.7.6.6).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence

import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import XRayAngiographicImageStorage, XRayRadiofluoroscopicImageStorage
from pydicom.valuerep import format_number_as_ds

from izer.encode.codes import AnatomicRegion, Code, Laterality, image_type_values, write_anatomy
from izer.encode.context import InstanceContext
from izer.encode.modules import (
    COMMON_TYPE1,
    COMMON_TYPE2,
    IMAGE_PIXEL_TYPE1,
    StorageKind,
    check_frame_time,
    dicom_datetime,
    new_instance,
    set_pixels,
    write_cine,
)
from izer.encode.pixels import PixelLayout, encode_frames
from izer.encode.selfcheck import check_instance
from izer.encode.transfer_syntaxes import TransferSyntax

#: Bits Stored the X-Ray Image module allows, per Bits Allocated (PS3.3 C.8.7.1.1).
_BITS_STORED = {8: (8,), 16: (10, 12, 16)}


class XRayKind(StorageKind):
    """Which X-ray image: SOP Class UID, Modality and IOD name (PS3.3 A.14, A.16)."""

    XA = (XRayAngiographicImageStorage, "XA", "X-Ray Angiographic Image")
    RF = (XRayRadiofluoroscopicImageStorage, "RF", "X-Ray Radiofluoroscopic Image")


class Plane(enum.StrEnum):
    """Image Type (0008,0008) value 3 of X-ray images (PS3.3 C.8.7.1.1.1)."""

    SINGLE = "SINGLE PLANE"
    BIPLANE_A = "BIPLANE A"
    BIPLANE_B = "BIPLANE B"


class PixelIntensityRelationship(enum.StrEnum):
    """Pixel Intensity Relationship (0028,1040) (PS3.3 C.8.7.1.1.2)."""

    LINEAR = "LIN"
    LOGARITHMIC = "LOG"
    DISPLAY = "DISP"


class RadiationSetting(enum.StrEnum):
    """Radiation Setting (0018,1155): SC low-dose fluoroscopy, GR acquisition (C.8.7.2.1.1)."""

    SC = "SC"
    GR = "GR"


class PositionerMotion(enum.StrEnum):
    """Positioner Motion (0018,1500) of a multi-frame XA image (PS3.3 C.8.7.5)."""

    STATIC = "STATIC"
    DYNAMIC = "DYNAMIC"


def xray_image(
    pixels: np.ndarray,
    context: InstanceContext,
    *,
    kind: XRayKind = XRayKind.XA,
    frame_time_ms: float | None = None,
    transfer_syntax: TransferSyntax = TransferSyntax.EXPLICIT_VR_LITTLE_ENDIAN,
    quality: float | None = None,
    bits_stored: int | None = None,
    image_type: Sequence[str] = ("ORIGINAL", "PRIMARY"),
    plane: Plane = Plane.SINGLE,
    other_plane: tuple[str, str] | None = None,
    pixel_intensity_relationship: PixelIntensityRelationship = PixelIntensityRelationship.DISPLAY,
    radiation_setting: RadiationSetting = RadiationSetting.GR,
    kvp: float | None = None,
    tube_current_ma: int | None = None,
    exposure_time_ms: int | None = None,
    positioner_primary_angle: float | None = None,
    positioner_secondary_angle: float | None = None,
    positioner_motion: PositionerMotion | None = None,
    anatomic_region: Code | AnatomicRegion | None = None,
    laterality: Laterality | None = None,
    burned_in_annotation: bool = False,
) -> Dataset:
    """An XA or XRF image: one frame, or a run of frames along time.

    Parameters
    ----------
    pixels
        ``(rows, columns)`` for one frame or ``(frames, rows, columns)`` for a run, uint8 or
        uint16 grayscale (the X-Ray Image module allows MONOCHROME2 only).
    kind
        XA (Modality XA) or RF (X-Ray Radiofluoroscopic, Modality RF); the series must have
        that Modality.
    frame_time_ms
        Time between frames in milliseconds; required for a run of frames (Frame Time).
    bits_stored
        For uint16 pixels: 10, 12 or 16 (PS3.3 C.8.7.1.1); 8 for uint8.
    image_type, plane
        Image Type values 1 and 2, and value 3: single plane, or which plane of a biplane
        pair.
    other_plane
        ``(SOP Class UID, SOP Instance UID)`` of the other image of a biplane pair: the
        Referenced Image Sequence required for ``BIPLANE A`` and ``BIPLANE B``.
    pixel_intensity_relationship
        ``DISP`` (display values, as a video output gives) or ``LIN``. ``LOG`` needs a
        Modality LUT (PS3.3 A.14), which izer does not write, and is refused.
    radiation_setting, kvp, tube_current_ma, exposure_time_ms
        X-Ray Acquisition module (C.8.7.2); unknown exposure factors are written empty.
    positioner_primary_angle, positioner_secondary_angle, positioner_motion
        XA Positioner module (C.8.7.5), XA only: angles in degrees (primary -180 to 180,
        secondary -90 to 90), empty when unknown; the motion of a run, empty when unknown.
    anatomic_region, laterality
        Anatomic Region Sequence (C.8.7.1.1) and Laterality; see
        :func:`izer.encode.codes.write_anatomy`.

    Raises
    ------
    ValueError
        With what to change when the pixels, the series or an option do not fit the IOD.
    """
    iod = kind.iod_name
    if context.series.modality != kind.modality:
        raise ValueError(
            f"an {iod} needs a series with Modality {kind.modality}, but this series is "
            f"{context.series.modality or 'without modality'}; start a {kind.modality} "
            "series for it"
        )
    frames, multiframe = _frames_of(pixels, iod)
    if multiframe:
        frame_time_ms = check_frame_time(frame_time_ms)
    elif frame_time_ms is not None:
        raise ValueError(
            "frame_time_ms belongs to a run of frames; pass pixels shaped (frames, rows, columns)"
        )
    layout = PixelLayout.of(frames, bits_stored=bits_stored)
    allowed_bits = _BITS_STORED[layout.bits_allocated]
    if layout.bits_stored not in allowed_bits:
        raise ValueError(
            f"an {iod} with {layout.bits_allocated}-bit samples needs bits_stored "
            f"{' or '.join(map(str, allowed_bits))} (PS3.3 C.8.7.1.1), got {layout.bits_stored}"
        )
    relationship = PixelIntensityRelationship(pixel_intensity_relationship)
    if relationship is PixelIntensityRelationship.LOGARITHMIC:
        raise ValueError(
            "Pixel Intensity Relationship LOG requires a Modality LUT (PS3.3 A.14), which "
            "izer does not write; use DISP for frames from a video output, or LIN"
        )
    values = [*image_type_values(image_type, max_values=2), Plane(plane).value]
    reference = _biplane_reference(Plane(plane), other_plane)
    positioner = _positioner(
        kind,
        multiframe,
        positioner_primary_angle,
        positioner_secondary_angle,
        positioner_motion,
    )
    acquisition = _acquisition(radiation_setting, kvp, tube_current_ma, exposure_time_ms)

    ds = new_instance(kind.sop_class_uid, context)
    ds.ImageType = values
    ds.PatientOrientation = ""
    ds.BurnedInAnnotation = "YES" if burned_in_annotation else "NO"
    ds.AcquisitionDateTime = dicom_datetime(context.acquired)
    write_anatomy(ds, anatomic_region, laterality)
    ds.PixelIntensityRelationship = relationship.value
    if reference is not None:
        ds.ReferencedImageSequence = [reference]
    ds.update(acquisition)
    ds.update(positioner)
    if multiframe:
        write_cine(ds, len(frames), frame_time_ms)
    encoded = encode_frames(frames, layout, transfer_syntax, quality=quality)
    set_pixels(ds, encoded, layout)
    type1 = [*COMMON_TYPE1, *IMAGE_PIXEL_TYPE1, "ImageType", "PixelIntensityRelationship"]
    type1 += ["RadiationSetting", "LossyImageCompression"]
    type2 = [*COMMON_TYPE2, "PatientOrientation", "KVP"]
    if multiframe:
        type1 += ["NumberOfFrames", "FrameIncrementPointer", "FrameTime"]
    if kind is XRayKind.XA:
        type2 += ["PositionerPrimaryAngle", "PositionerSecondaryAngle"]
    check_instance(ds, iod=iod, type1=type1, type2=type2)
    return ds


def _frames_of(pixels: np.ndarray, iod: str) -> tuple[np.ndarray, bool]:
    if pixels.ndim == 4 or (pixels.ndim == 3 and pixels.shape[2] == 3):
        raise ValueError(
            f"an {iod} is grayscale (MONOCHROME2 only, PS3.3 C.8.7.1.1), but the pixels look "
            f"like colour (shape {pixels.shape}); convert to grayscale, or store colour as "
            "secondary capture"
        )
    if pixels.ndim == 2:
        return pixels[np.newaxis], False
    if pixels.ndim == 3:
        return pixels, True
    raise ValueError(
        f"an {iod} takes (rows, columns) or (frames, rows, columns), got shape {pixels.shape}"
    )


def _biplane_reference(plane: Plane, other_plane: tuple[str, str] | None) -> Dataset | None:
    if plane is Plane.SINGLE:
        if other_plane is not None:
            raise ValueError("other_plane is for a biplane image: set plane to BIPLANE_A or _B")
        return None
    if other_plane is None:
        raise ValueError(
            f"a {plane.value} image must reference the other plane's image (Referenced Image "
            "Sequence, PS3.3 C.8.7.1.1): give other_plane=(SOP Class UID, SOP Instance UID)"
        )
    item = Dataset()
    item.ReferencedSOPClassUID, item.ReferencedSOPInstanceUID = other_plane
    return item


def _acquisition(
    radiation_setting: RadiationSetting,
    kvp: float | None,
    tube_current_ma: int | None,
    exposure_time_ms: int | None,
) -> Dataset:
    """X-Ray Acquisition module (PS3.3 C.8.7.2): Exposure is left out, so that X-Ray Tube
    Current and Exposure Time are the 2C attributes written (empty when unknown)."""
    for name, value in (
        ("kvp", kvp),
        ("tube_current_ma", tube_current_ma),
        ("exposure_time_ms", exposure_time_ms),
    ):
        if value is not None and not value > 0:
            raise ValueError(f"{name} must be more than 0 when given, got {value}")
    ds = Dataset()
    ds.KVP = format_number_as_ds(float(kvp)) if kvp is not None else ""
    ds.RadiationSetting = RadiationSetting(radiation_setting).value
    ds.XRayTubeCurrent = int(tube_current_ma) if tube_current_ma is not None else None
    ds.ExposureTime = int(exposure_time_ms) if exposure_time_ms is not None else None
    return ds


def _positioner(
    kind: XRayKind,
    multiframe: bool,
    primary: float | None,
    secondary: float | None,
    motion: PositionerMotion | None,
) -> Dataset:
    """XA Positioner module (PS3.3 C.8.7.5); nothing for XRF."""
    ds = Dataset()
    if kind is not XRayKind.XA:
        if primary is not None or secondary is not None or motion is not None:
            raise ValueError(
                "positioner angles and motion belong to the XA Positioner module; an X-Ray "
                "Radiofluoroscopic Image has none"
            )
        return ds
    if motion is not None and not multiframe:
        raise ValueError("positioner_motion describes a run of frames, not a single frame")
    for name, value, limit in (("primary", primary, 180), ("secondary", secondary, 90)):
        if value is not None and not -limit <= value <= limit:
            raise ValueError(
                f"the positioner {name} angle must be from -{limit} to {limit} degrees "
                f"(PS3.3 C.8.7.5), got {value}"
            )
    ds.PositionerPrimaryAngle = format_number_as_ds(float(primary)) if primary is not None else ""
    ds.PositionerSecondaryAngle = (
        format_number_as_ds(float(secondary)) if secondary is not None else ""
    )
    if multiframe:
        ds.PositionerMotion = PositionerMotion(motion).value if motion is not None else ""
        if motion is PositionerMotion.DYNAMIC:
            ds.PositionerPrimaryAngleIncrement = None
            ds.PositionerSecondaryAngleIncrement = None
    return ds
