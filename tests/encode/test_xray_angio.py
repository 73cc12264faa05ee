"""XA and XRF images: valid per dciodvfy, pixels intact, DICOMizer defaults, refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from izer.capture import SyntheticSource
from izer.encode import PixelLayoutError, TransferSyntax
from izer.encode.codes import AnatomicRegion, anatomic_region
from izer.encode.xray_angio import (
    PixelIntensityRelationship,
    Plane,
    PositionerMotion,
    RadiationSetting,
    XRayKind,
    xray_image,
)
from tests.encode.factories import (
    DCIODVFY_BLIND,
    assert_round_trip,
    assert_valid_instance,
    is_lossy,
    make_context,
    smooth_image,
)

FRAMES = 3
IOD_NAMES = {XRayKind.XA: "XAImage", XRayKind.RF: "XRFImage"}
#: Bits stored of each grayscale variant; 12 bits come in 16-bit samples.
DEPTHS = {"gray8": 8, "gray12": 12}


def _run(bits: int, lossy: bool) -> np.ndarray:
    """``FRAMES`` grayscale frames: synthetic bars (lossless) or smooth frames (lossy)."""
    peak = (1 << bits) - 1
    if lossy:
        return np.stack(
            [smooth_image(240, 320, colour=False, peak=peak, seed=i) for i in range(FRAMES)]
        )
    source = SyntheticSource(320, 240)
    gray = np.stack([source.frame(i)[..., 1] for i in range(FRAMES)])
    if bits == 8:
        return gray
    wide = gray.astype(np.uint16)
    return (wide << 4) | (wide >> 4)


MATRIX = [
    pytest.param(kind, syntax, depth, id=f"{kind.name.lower()}-{syntax.name.lower()}-{depth}")
    for kind in XRayKind
    for syntax in TransferSyntax
    for depth in DEPTHS
    if not (syntax is TransferSyntax.JPEG_BASELINE and depth == "gray12")
]


@pytest.mark.parametrize(("kind", "syntax", "depth"), MATRIX)
def test_every_syntax_gives_a_valid_run_with_its_pixels(
    tmp_path: Path, kind: XRayKind, syntax: TransferSyntax, depth: str
) -> None:
    bits = DEPTHS[depth]
    frames = _run(bits, is_lossy(syntax))
    ds = xray_image(
        frames,
        make_context(1, kind.modality),
        kind=kind,
        frame_time_ms=66.667,
        transfer_syntax=syntax,
        bits_stored=bits,
        anatomic_region=AnatomicRegion.HEART,
    )
    path = tmp_path / "xa.dcm"
    ds.save_as(path, enforce_file_format=True)

    assert (ds.BitsAllocated, ds.BitsStored, ds.HighBit) == (8 if bits == 8 else 16, bits, bits - 1)
    assert ds.NumberOfFrames == FRAMES
    if syntax not in DCIODVFY_BLIND:
        assert_valid_instance(path, IOD_NAMES[kind])
    assert_round_trip(path, frames, syntax, peak=(1 << bits) - 1)


@pytest.mark.parametrize("kind", list(XRayKind), ids=lambda k: k.name.lower())
def test_a_single_frame_has_no_cine(tmp_path: Path, kind: XRayKind) -> None:
    pixels = _run(8, False)[0]
    ds = xray_image(
        pixels, make_context(1, kind.modality), kind=kind, anatomic_region=AnatomicRegion.STOMACH
    )
    path = tmp_path / "single.dcm"
    ds.save_as(path, enforce_file_format=True)
    for keyword in ("NumberOfFrames", "FrameIncrementPointer", "FrameTime", "PositionerMotion"):
        assert keyword not in ds
    assert_valid_instance(path, IOD_NAMES[kind])
    assert_round_trip(path, pixels[np.newaxis], TransferSyntax.EXPLICIT_VR_LITTLE_ENDIAN, 255)


def test_dicomizer_defaults_for_a_video_output() -> None:
    ds = xray_image(_run(8, False), make_context(1, "XA"), frame_time_ms=33.367)
    assert list(ds.ImageType) == ["ORIGINAL", "PRIMARY", "SINGLE PLANE"]
    assert ds.PixelIntensityRelationship == "DISP"
    assert ds.RadiationSetting == "GR"
    for keyword in (
        "KVP",
        "XRayTubeCurrent",
        "ExposureTime",
        "PositionerPrimaryAngle",
        "PositionerSecondaryAngle",
        "PositionerMotion",
    ):
        assert keyword in ds and ds[keyword].value in (None, ""), keyword
    assert "Exposure" not in ds
    assert ds.file_meta.TransferSyntaxUID == TransferSyntax.EXPLICIT_VR_LITTLE_ENDIAN
    assert (ds.FrameIncrementPointer, ds.FrameTime, ds.CineRate) == (0x00181063, "33.367", 30)


def test_every_default_can_be_overridden(tmp_path: Path) -> None:
    ds = xray_image(
        _run(8, False),
        make_context(1, "XA"),
        frame_time_ms=66.667,
        pixel_intensity_relationship=PixelIntensityRelationship.LINEAR,
        radiation_setting=RadiationSetting.SC,
        kvp=72.5,
        tube_current_ma=12,
        exposure_time_ms=8,
        positioner_primary_angle=-30.5,
        positioner_secondary_angle=20,
        positioner_motion=PositionerMotion.STATIC,
        anatomic_region=anatomic_region("heart"),
    )
    path = tmp_path / "xa.dcm"
    ds.save_as(path, enforce_file_format=True)
    assert ds.PixelIntensityRelationship == "LIN"
    assert ds.RadiationSetting == "SC"
    assert (float(ds.KVP), ds.XRayTubeCurrent, ds.ExposureTime) == (72.5, 12, 8)
    assert (float(ds.PositionerPrimaryAngle), float(ds.PositionerSecondaryAngle)) == (-30.5, 20)
    assert ds.PositionerMotion == "STATIC"
    assert_valid_instance(path, "XAImage")


def test_dynamic_positioner_motion_writes_the_increments_empty(tmp_path: Path) -> None:
    ds = xray_image(
        _run(8, False),
        make_context(1, "XA"),
        frame_time_ms=66.667,
        positioner_motion=PositionerMotion.DYNAMIC,
        anatomic_region=AnatomicRegion.HEART,
    )
    path = tmp_path / "xa.dcm"
    ds.save_as(path, enforce_file_format=True)
    assert ds.PositionerMotion == "DYNAMIC"
    assert "PositionerPrimaryAngleIncrement" in ds
    assert "PositionerSecondaryAngleIncrement" in ds
    assert_valid_instance(path, "XAImage")


def test_rf_has_no_xa_positioner() -> None:
    ds = xray_image(_run(8, False), make_context(1, "RF"), kind=XRayKind.RF, frame_time_ms=40)
    assert "PositionerPrimaryAngle" not in ds
    assert "PositionerMotion" not in ds


def test_a_biplane_image_references_the_other_plane(tmp_path: Path) -> None:
    other = ("1.2.840.10008.5.1.4.1.1.12.1", "1.2.826.0.1.3680043.10.1452.99")
    ds = xray_image(
        _run(8, False),
        make_context(1, "XA"),
        frame_time_ms=66.667,
        plane=Plane.BIPLANE_A,
        other_plane=other,
        anatomic_region=AnatomicRegion.HEART,
    )
    path = tmp_path / "biplane.dcm"
    ds.save_as(path, enforce_file_format=True)
    assert ds.ImageType[2] == "BIPLANE A"
    (item,) = ds.ReferencedImageSequence
    assert (item.ReferencedSOPClassUID, item.ReferencedSOPInstanceUID) == other
    assert_valid_instance(path, "XAImage")


def test_a_biplane_image_without_the_other_plane_is_refused() -> None:
    with pytest.raises(ValueError, match="other_plane"):
        xray_image(_run(8, False), make_context(1, "XA"), frame_time_ms=40, plane=Plane.BIPLANE_B)


@pytest.mark.parametrize(
    "pixels",
    [np.zeros((240, 320, 3), np.uint8), np.zeros((2, 240, 320, 3), np.uint8)],
    ids=["rgb-frame", "rgb-run"],
)
def test_colour_is_refused(pixels: np.ndarray) -> None:
    with pytest.raises(ValueError, match=r"grayscale.*convert to grayscale"):
        xray_image(pixels, make_context(1, "XA"), frame_time_ms=40)


def test_log_without_a_modality_lut_is_refused() -> None:
    with pytest.raises(ValueError, match=r"LOG requires a Modality LUT.*use DISP"):
        xray_image(
            _run(8, False),
            make_context(1, "XA"),
            frame_time_ms=40,
            pixel_intensity_relationship=PixelIntensityRelationship.LOGARITHMIC,
        )


@pytest.mark.parametrize(("kind", "modality"), [(XRayKind.XA, "RF"), (XRayKind.RF, "XA")])
def test_the_series_modality_must_match_the_kind(kind: XRayKind, modality: str) -> None:
    with pytest.raises(
        ValueError, match=rf"Modality {kind.modality}, but this series is {modality}"
    ):
        xray_image(_run(8, False), make_context(1, modality), kind=kind, frame_time_ms=40)


@pytest.mark.parametrize("bits", [9, 11, 14])
def test_bits_stored_outside_8_10_12_16_are_refused(bits: int) -> None:
    with pytest.raises(ValueError, match="bits_stored 10 or 12 or 16"):
        xray_image(
            _run(12, False).astype(np.uint16),
            make_context(1, "XA"),
            frame_time_ms=40,
            bits_stored=bits,
        )


def test_jpeg_baseline_refuses_12_bit_and_names_the_rule() -> None:
    with pytest.raises(PixelLayoutError, match="jpeg_baseline needs 8-bit samples"):
        xray_image(
            _run(12, False),
            make_context(1, "XA"),
            frame_time_ms=40,
            bits_stored=12,
            transfer_syntax=TransferSyntax.JPEG_BASELINE,
        )


def test_a_run_needs_a_frame_time_and_a_single_frame_takes_none() -> None:
    with pytest.raises(ValueError, match="frame_time_ms"):
        xray_image(_run(8, False), make_context(1, "XA"))
    with pytest.raises(ValueError, match="belongs to a run of frames"):
        xray_image(_run(8, False)[0], make_context(1, "XA"), frame_time_ms=40)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"positioner_primary_angle": 181.0}, "primary angle must be from -180 to 180"),
        ({"positioner_secondary_angle": -91.0}, "secondary angle must be from -90 to 90"),
        ({"kvp": 0.0}, "kvp must be more than 0"),
        ({"tube_current_ma": -1}, "tube_current_ma must be more than 0"),
    ],
)
def test_implausible_acquisition_values_are_refused(
    options: dict[str, float], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        xray_image(_run(8, False), make_context(1, "XA"), frame_time_ms=40, **options)


def test_positioner_values_for_rf_are_refused() -> None:
    with pytest.raises(ValueError, match="XA Positioner module"):
        xray_image(
            _run(8, False),
            make_context(1, "RF"),
            kind=XRayKind.RF,
            frame_time_ms=40,
            positioner_primary_angle=10.0,
        )


def test_positioner_motion_of_a_single_frame_is_refused() -> None:
    with pytest.raises(ValueError, match="run of frames"):
        xray_image(
            _run(8, False)[0], make_context(1, "XA"), positioner_motion=PositionerMotion.STATIC
        )
