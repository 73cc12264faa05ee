"""VL Endoscopic, Microscopic and Photographic Image (PS3.3 A.32.1, A.32.2, A.32.4).

One constructor for the three single-frame VL IODs: the modules are the same (General Image,
Image Pixel, Acquisition Context, VL Image), only the SOP class and the Modality differ. The
Specimen module (conditional for Microscopic and Photographic, when the subject is a specimen)
is not written: izer photographs patients.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import (
    VLEndoscopicImageStorage,
    VLMicroscopicImageStorage,
    VLPhotographicImageStorage,
)

from izer.encode.codes import AnatomicRegion, Code, Laterality, image_type_values, write_anatomy
from izer.encode.context import InstanceContext
from izer.encode.modules import (
    COMMON_TYPE1,
    COMMON_TYPE2,
    IMAGE_PIXEL_TYPE1,
    StorageKind,
    dicom_datetime,
    new_instance,
    set_pixels,
)
from izer.encode.pixels import PreEncoded, encode_or_keep
from izer.encode.selfcheck import InstanceCheckError, check_instance
from izer.encode.transfer_syntaxes import TransferSyntax

#: Photometric Interpretations the VL Image module allows (PS3.3 C.8.12.1).
VL_PHOTOMETRICS = frozenset(
    {"MONOCHROME2", "RGB", "YBR_FULL_422", "YBR_PARTIAL_420", "YBR_RCT", "YBR_ICT"}
)


class VLKind(StorageKind):
    """Which VL image: SOP Class UID, Modality and IOD name (PS3.3 A.32)."""

    ENDOSCOPIC = (VLEndoscopicImageStorage, "ES", "VL Endoscopic Image")
    MICROSCOPIC = (VLMicroscopicImageStorage, "GM", "VL Microscopic Image")
    PHOTOGRAPHIC = (VLPhotographicImageStorage, "XC", "VL Photographic Image")


def vl_image(
    pixels: np.ndarray | PreEncoded,
    context: InstanceContext,
    *,
    kind: VLKind,
    transfer_syntax: TransferSyntax = TransferSyntax.JPEG_BASELINE,
    quality: float | None = None,
    anatomic_region: Code | AnatomicRegion | None = None,
    laterality: Laterality | None = None,
    image_type: Sequence[str] = ("ORIGINAL", "PRIMARY"),
    burned_in_annotation: bool = False,
) -> Dataset:
    """A VL Endoscopic, Microscopic or Photographic Image from one 8-bit frame.

    Parameters
    ----------
    pixels
        ``(rows, columns, 3)`` uint8 RGB or ``(rows, columns)`` uint8 grayscale. The VL
        Image module allows 8 bits only (PS3.3 C.8.12.1).
    kind
        Endoscopic (Modality ES), Microscopic (GM) or Photographic (XC); the series must have
        that Modality.
    transfer_syntax, quality
        Encoding; JPEG Baseline at quality 95 unless told otherwise.
    anatomic_region
        Written as the single item of Anatomic Region Sequence (0008,2218) (PS3.3 C.8.12.1).
    laterality
        Side of a paired region; see :func:`izer.encode.codes.write_anatomy`.
    image_type
        Image Type values: ``ORIGINAL|DERIVED``, ``PRIMARY|SECONDARY``, optional others.
    burned_in_annotation
        Whether identifying text is burned into the pixels.

    Raises
    ------
    ValueError
        With what to change when the pixels, the series or an option do not fit the IOD.
    """
    _check_modality(context, kind)
    if isinstance(pixels, np.ndarray):
        if pixels.ndim not in (2, 3) or (pixels.ndim == 3 and pixels.shape[2] != 3):
            raise ValueError(
                f"a {kind.iod_name} is one frame shaped (rows, columns) or (rows, columns, 3), "
                f"got an array shaped {pixels.shape}"
            )
        pixels = pixels[np.newaxis]
    bits = (
        pixels.layout.bits_allocated
        if isinstance(pixels, PreEncoded)
        else pixels.dtype.itemsize * 8
    )
    if bits != 8:
        raise ValueError(
            f"a {kind.iod_name} holds 8-bit samples only (PS3.3 C.8.12.1), got {bits}-bit; "
            "scale to 8 bits, or store 16-bit images with secondary_capture_image"
        )
    values = image_type_values(image_type)

    ds = new_instance(kind.sop_class_uid, context)
    ds.ImageType = values
    ds.PatientOrientation = ""
    ds.BurnedInAnnotation = "YES" if burned_in_annotation else "NO"
    ds.AcquisitionDateTime = dicom_datetime(context.acquired)
    write_anatomy(ds, anatomic_region, laterality)
    ds.AcquisitionContextSequence = []
    encoded, layout = encode_or_keep(pixels, transfer_syntax, quality=quality)
    if encoded.photometric not in VL_PHOTOMETRICS:
        raise InstanceCheckError(
            f"{kind.iod_name}: Photometric Interpretation {encoded.photometric} is not allowed "
            f"by the VL Image module; choose another transfer syntax"
        )
    set_pixels(ds, encoded, layout)
    check_instance(
        ds,
        iod=kind.iod_name,
        type1=(*COMMON_TYPE1, *IMAGE_PIXEL_TYPE1, "ImageType", "ContentDate", "ContentTime"),
        type2=(
            *COMMON_TYPE2,
            "PatientOrientation",
            "AcquisitionContextSequence",
            "LossyImageCompression",
        ),
    )
    return ds


def _check_modality(context: InstanceContext, kind: VLKind) -> None:
    if context.series.modality != kind.modality:
        raise ValueError(
            f"a {kind.iod_name} needs a series with Modality {kind.modality}, but this "
            f"series is {context.series.modality or 'without modality'}; start a "
            f"{kind.modality} series for it"
        )
