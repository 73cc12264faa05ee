"""US Image and US Multi-frame Image: valid per dciodvfy, pixels intact, cine attributes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from izer.capture import SyntheticSource
from izer.encode import TransferSyntax
from izer.encode.codes import AnatomicRegion, Laterality
from izer.encode.ultrasound import USApplication, USMode, us_image, us_multiframe_image
from tests.encode.factories import (
    DCIODVFY_BLIND,
    assert_round_trip,
    assert_valid_instance,
    is_lossy,
    make_context,
    smooth_image,
)

FRAMES = 3


def _clip(colour: bool, lossy: bool) -> np.ndarray:
    """Synthetic bars for lossless syntaxes, smooth photograph-like frames for lossy ones."""
    if lossy:
        frames = np.stack([smooth_image(240, 320, colour=colour, seed=i) for i in range(FRAMES)])
    else:
        source = SyntheticSource(320, 240)
        frames = np.stack([source.frame(i) for i in range(FRAMES)])
        if not colour:
            frames = np.ascontiguousarray(frames[..., 1])
    return frames


@pytest.mark.parametrize("colour", [True, False], ids=["rgb", "gray"])
@pytest.mark.parametrize("syntax", list(TransferSyntax), ids=lambda s: s.name.lower())
def test_us_image_in_every_syntax_is_valid_with_its_pixels(
    tmp_path: Path, syntax: TransferSyntax, colour: bool
) -> None:
    pixels = _clip(colour, is_lossy(syntax))[0]
    ds = us_image(
        pixels,
        make_context(1, "US"),
        transfer_syntax=syntax,
        application=USApplication.ABDOMINAL,
        modes=USMode.TWO_D,
        anatomic_region=AnatomicRegion.ABDOMEN,
    )
    path = tmp_path / "us.dcm"
    ds.save_as(path, enforce_file_format=True)

    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.6.1"
    assert "NumberOfFrames" not in ds
    if syntax not in DCIODVFY_BLIND:
        assert_valid_instance(path, "USImage")
    assert_round_trip(path, pixels[np.newaxis], syntax, peak=255)


@pytest.mark.parametrize("colour", [True, False], ids=["rgb", "gray"])
@pytest.mark.parametrize("syntax", list(TransferSyntax), ids=lambda s: s.name.lower())
def test_us_multiframe_in_every_syntax_is_valid_with_its_pixels(
    tmp_path: Path, syntax: TransferSyntax, colour: bool
) -> None:
    frames = _clip(colour, is_lossy(syntax))
    ds = us_multiframe_image(
        frames,
        make_context(1, "US"),
        frame_time_ms=33.367,
        transfer_syntax=syntax,
        application=USApplication.TTE,
        anatomic_region=AnatomicRegion.HEART,
    )
    path = tmp_path / "usmf.dcm"
    ds.save_as(path, enforce_file_format=True)

    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.3.1"
    assert ds.NumberOfFrames == FRAMES
    if syntax not in DCIODVFY_BLIND:
        assert_valid_instance(path, "USMultiFrameImage")
    assert_round_trip(path, frames, syntax, peak=255)


def test_the_cine_follows_the_frame_time() -> None:
    ds = us_multiframe_image(_clip(True, False), make_context(1, "US"), frame_time_ms=1000 / 29.97)
    assert ds.FrameIncrementPointer == 0x00181063
    assert len(str(ds["FrameTime"].value)) <= 16
    assert float(ds.FrameTime) == pytest.approx(33.3667, abs=1e-3)
    assert ds.CineRate == 30
    assert ds.RecommendedDisplayFrameRate == 30


@pytest.mark.parametrize(
    ("application", "modes", "expected"),
    [
        (None, None, ["ORIGINAL", "PRIMARY"]),
        (USApplication.OBSTETRICAL, None, ["ORIGINAL", "PRIMARY", "OBSTETRICAL"]),
        (
            USApplication.FETAL_HEART,
            USMode.TWO_D | USMode.COLOR_DOPPLER,
            ["ORIGINAL", "PRIMARY", "FETAL HEART", "0011"],
        ),
    ],
)
def test_image_type_carries_the_application_and_the_modes_in_hex(
    application: USApplication | None, modes: USMode | None, expected: list[str]
) -> None:
    ds = us_image(
        _clip(False, False)[0], make_context(1, "US"), application=application, modes=modes
    )
    assert list(ds.ImageType) == expected


def test_colour_stays_colour_by_pixel_and_jpeg_writes_ybr_full_422() -> None:
    ds = us_image(
        _clip(True, False)[0], make_context(1, "US"), transfer_syntax=TransferSyntax.JPEG_BASELINE
    )
    assert (ds.SamplesPerPixel, ds.PlanarConfiguration) == (3, 0)
    assert ds.PhotometricInterpretation == "YBR_FULL_422"
    assert ds.LossyImageCompression == "01"


def test_a_paired_region_with_its_side(tmp_path: Path) -> None:
    ds = us_image(
        _clip(False, False)[0],
        make_context(1, "US"),
        application=USApplication.BREAST,
        anatomic_region=AnatomicRegion.BREAST,
        laterality=Laterality.RIGHT,
    )
    path = tmp_path / "breast.dcm"
    ds.save_as(path, enforce_file_format=True)
    assert ds.Laterality == "R"
    assert_valid_instance(path, "USImage")


def test_modes_without_application_are_refused() -> None:
    with pytest.raises(ValueError, match="give application too"):
        us_image(_clip(False, False)[0], make_context(1, "US"), modes=USMode.M_MODE)


def test_a_modality_other_than_us_is_refused() -> None:
    with pytest.raises(ValueError, match="Modality US, but this series is ES"):
        us_image(_clip(False, False)[0], make_context(1, "ES"))


def test_16_bit_pixels_are_refused() -> None:
    with pytest.raises(ValueError, match="8-bit samples"):
        us_image(np.zeros((240, 320), np.uint16), make_context(1, "US"))


@pytest.mark.parametrize("frame_time_ms", [None, 0.0, -5.0, float("nan")])
def test_a_clip_without_a_usable_frame_time_is_refused(frame_time_ms: float | None) -> None:
    with pytest.raises(ValueError, match="frame_time_ms"):
        us_multiframe_image(
            _clip(False, False),
            make_context(1, "US"),
            frame_time_ms=frame_time_ms,  # type: ignore[arg-type]
        )


def test_a_clip_is_refused_as_a_single_image_and_the_other_way_round() -> None:
    clip = _clip(False, False)
    with pytest.raises(ValueError, match="use us_multiframe_image"):
        us_image(clip, make_context(1, "US"))
    with pytest.raises(ValueError, match="use us_image"):
        us_multiframe_image(clip[0], make_context(1, "US"), frame_time_ms=40)


def test_more_than_two_image_type_values_are_refused() -> None:
    with pytest.raises(ValueError, match="takes 2 values"):
        us_image(
            _clip(False, False)[0],
            make_context(1, "US"),
            image_type=("ORIGINAL", "PRIMARY", "ABDOMINAL"),
        )
