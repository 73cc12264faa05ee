"""Film geometry and image box pixels (izer.dispatch.film) on instances made by izer's encoders.

Every patient here is made up (tests.encode.factories).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from izer.dispatch.film import GRAY_MAX, box_aspect, box_pixels, display_pixels
from izer.encode import (
    TransferSyntax,
    VLKind,
    encapsulated_pdf,
    secondary_capture_image,
    vl_image,
)
from izer.model.printing import FilmOrientation, FilmSize, ImageDisplayFormat
from tests.encode.factories import UID_ROOT, make_context, smooth_image
from tests.encode.interop_cases import small_pdf

GRAY8 = smooth_image(40, 56, colour=False, seed=3)
RGB = smooth_image(48, 64, colour=True, seed=4)


def _save(ds: Dataset, path: Path) -> Path:
    ds.save_as(path, enforce_file_format=True)
    return path


def _scaled(values: np.ndarray) -> np.ndarray:
    """8-bit display values as the 12-bit values display_pixels gives."""
    return np.rint(values.astype(np.float64) * GRAY_MAX / 255).astype(np.uint16)


# --------------------------------------------------------------------------- display_pixels


def test_8_bit_grayscale_is_scaled_to_12_bits(tmp_path: Path) -> None:
    path = _save(secondary_capture_image(GRAY8, make_context(1, "OT")), tmp_path / "sc.dcm")
    pixels = display_pixels(path)
    assert pixels.dtype == np.uint16 and pixels.shape == GRAY8.shape
    assert np.array_equal(pixels, _scaled(GRAY8))
    assert pixels.max() <= GRAY_MAX


def test_monochrome1_is_inverted(tmp_path: Path) -> None:
    ds = secondary_capture_image(GRAY8, make_context(1, "OT"))
    ds.PhotometricInterpretation = "MONOCHROME1"
    pixels = display_pixels(_save(ds, tmp_path / "mono1.dcm"))
    assert np.array_equal(pixels, GRAY_MAX - _scaled(GRAY8))


def test_ct_like_16_bit_image_goes_through_rescale_and_window(tmp_path: Path) -> None:
    # Stored values 0..4000 with intercept -1024: Hounsfield -1024..2976; soft tissue window.
    stored = smooth_image(32, 48, colour=False, peak=4000, seed=5)
    ds = secondary_capture_image(stored, make_context(1, "OT"), bits_stored=16)
    ds.RescaleSlope, ds.RescaleIntercept, ds.RescaleType = "1", "-1024", "HU"
    ds.WindowCenter, ds.WindowWidth = "40", "400"
    pixels = display_pixels(_save(ds, tmp_path / "ct.dcm"))
    hu = stored.astype(np.float64) - 1024
    # PS3.3 C.11.2.1.2.1 linear window, to 0..4095.
    expected = np.clip(((hu - 39.5) / 399 + 0.5) * GRAY_MAX, 0, GRAY_MAX)
    assert pixels.dtype == np.uint16
    assert np.abs(pixels.astype(np.float64) - expected).max() <= 1
    assert pixels[hu <= 40 - 200].max() == 0 and pixels[hu > 40 + 200].min() == GRAY_MAX


def test_16_bit_image_without_window_spans_its_minimum_to_maximum(tmp_path: Path) -> None:
    stored = smooth_image(30, 40, colour=False, peak=60000, seed=6)
    ds = secondary_capture_image(stored, make_context(1, "OT"), bits_stored=16)
    pixels = display_pixels(_save(ds, tmp_path / "wide.dcm"))
    assert pixels[stored == stored.min()].max() == 0
    assert pixels[stored == stored.max()].min() == GRAY_MAX
    order = np.argsort(stored, axis=None)
    assert np.all(np.diff(pixels.ravel()[order].astype(int)) >= 0)  # monotonic


def test_color_comes_out_as_rgb(tmp_path: Path) -> None:
    exact = vl_image(
        RGB,
        make_context(1, "ES"),
        kind=VLKind.ENDOSCOPIC,
        transfer_syntax=TransferSyntax.EXPLICIT_VR_LITTLE_ENDIAN,
    )
    pixels = display_pixels(_save(exact, tmp_path / "rgb.dcm"))
    assert pixels.dtype == np.uint8 and np.array_equal(pixels, RGB)
    jpeg = vl_image(RGB, make_context(2, "ES"), kind=VLKind.ENDOSCOPIC)  # YBR_FULL_422
    assert jpeg.PhotometricInterpretation.startswith("YBR")
    pixels = display_pixels(_save(jpeg, tmp_path / "ybr.dcm"))
    assert pixels.shape == RGB.shape and pixels.dtype == np.uint8
    assert np.abs(pixels.astype(int) - RGB.astype(int)).mean() < 4  # RGB, not YBR


def test_a_pdf_instance_is_not_printable_and_named(tmp_path: Path) -> None:
    path = _save(
        encapsulated_pdf(small_pdf(), make_context(1, "DOC"), document_title="Report"),
        tmp_path / "report.dcm",
    )
    with pytest.raises(ValueError, match="encapsulated document") as caught:
        display_pixels(path)
    assert str(path) in str(caught.value)


def test_an_instance_without_pixels_is_not_printable_and_named(tmp_path: Path) -> None:
    ds = Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.88.33"  # Comprehensive SR
    ds.SOPInstanceUID = generate_uid(prefix=f"{UID_ROOT}.")
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    path = _save(ds, tmp_path / "sr.dcm")
    with pytest.raises(ValueError, match="cannot be printed: Comprehensive SR") as caught:
        display_pixels(path)
    assert str(path) in str(caught.value)


def test_a_file_that_is_not_dicom_is_named(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("not a picture\n")
    with pytest.raises(ValueError, match="not a DICOM file") as caught:
        display_pixels(path)
    assert str(path) in str(caught.value)


# --------------------------------------------------------------------------- box_pixels


def _content(box: np.ndarray, fill: int) -> tuple[slice, slice]:
    """Rows and columns of ``box`` that hold something else than the ``fill`` margin."""
    plane = box if box.ndim == 2 else box[..., 0]
    rows = np.flatnonzero((plane != fill).any(axis=1))
    columns = np.flatnonzero((plane != fill).any(axis=0))
    return slice(rows[0], rows[-1] + 1), slice(columns[0], columns[-1] + 1)


def test_a_wide_image_fits_a_square_box_with_bands_above_and_below() -> None:
    image = np.full((100, 200), 2000, np.uint16)
    box = box_pixels(image, 1.0, color=False, bit_depth=12)
    assert box.shape == (200, 200) and box.dtype == np.uint16
    assert np.all(box[:50] == 0) and np.all(box[150:] == 0)
    assert np.all(box[50:150] == 2000)


def test_the_aspect_is_kept_in_a_tall_box() -> None:
    image = np.full((60, 80), 3000, np.uint16)
    box = box_pixels(image, 0.5, color=False, bit_depth=12)
    assert box.shape == (80, 40)  # long side of the image, box aspect 1:2
    rows, columns = _content(box, 0)
    assert (rows.stop - rows.start, columns.stop - columns.start) == (30, 40)


def test_images_are_never_enlarged_and_the_long_side_is_capped() -> None:
    small = (np.arange(100, dtype=np.uint16).reshape(10, 10) * 40).astype(np.uint16)
    box = box_pixels(small, 1.0, color=False, bit_depth=12)
    assert np.array_equal(box, small)
    long = np.full((50, 3000), 1000, np.uint16)
    box = box_pixels(long, 2.0, color=False, bit_depth=12, max_side=1000)
    assert box.shape == (500, 1000)
    rows, columns = _content(box, 0)
    assert columns.stop - columns.start == 1000 and rows.stop - rows.start == 17  # 50/3


def test_white_padding_is_the_largest_value_at_every_depth() -> None:
    image = np.full((20, 40), 100, np.uint16)
    for color, depth, top in ((False, 12, 4095), (False, 8, 255), (True, 8, 255)):
        box = box_pixels(image, 1.0, color=color, bit_depth=depth, background="WHITE")
        assert box[0, 0].tolist() == ([top] * 3 if color else top)
        assert box[-1, -1].tolist() == ([top] * 3 if color else top)
    numeric = box_pixels(image, 1.0, color=False, bit_depth=8, background="150")
    assert numeric[0, 0] == 128  # 1.50 OD: half way between white (0.00) and black (3.00)


def test_bit_depth_scales_12_bit_display_values() -> None:
    image = np.array([[0, 1, 2048, 4095]], np.uint16)
    assert box_pixels(image, 4.0, color=False, bit_depth=12).tolist() == [[0, 1, 2048, 4095]]
    eight = box_pixels(image, 4.0, color=False, bit_depth=8)
    assert eight.dtype == np.uint8 and eight.tolist() == [[0, 0, 128, 255]]


def test_gray_to_color_and_color_to_gray() -> None:
    gray = np.array([[0, 4095], [2048, 1024]], np.uint16)
    rgb = box_pixels(gray, 1.0, color=True, bit_depth=8)
    assert rgb.shape == (2, 2, 3) and rgb.dtype == np.uint8
    assert np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2])
    assert rgb[..., 0].tolist() == [[0, 255], [128, 64]]
    primaries = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255]]], np.uint8)
    luma = box_pixels(primaries, 4.0, color=False, bit_depth=12)  # ITU-R BT.601
    assert luma.tolist() == [[round(0.299 * 4095), round(0.587 * 4095), round(0.114 * 4095), 4095]]
    assert box_pixels(primaries, 4.0, color=False, bit_depth=8).tolist() == [[76, 150, 29, 255]]


def test_color_keeps_the_picture() -> None:
    box = box_pixels(RGB, RGB.shape[1] / RGB.shape[0], color=True, bit_depth=8)
    assert np.array_equal(box, RGB)


@pytest.mark.parametrize(
    ("image", "aspect", "depth", "words"),
    [
        (np.zeros((2, 2, 4), np.uint8), 1.0, 8, "shaped"),
        (np.zeros((2, 2, 3), np.uint16), 1.0, 8, "uint8"),
        (np.zeros((0, 4), np.uint16), 1.0, 8, "shaped"),
        (np.zeros((2, 2), np.uint16), 0.0, 8, "aspect"),
        (np.zeros((2, 2), np.uint16), 1.0, 10, "8 or 12"),
    ],
)
def test_box_pixels_refuses_what_it_cannot_render(
    image: np.ndarray, aspect: float, depth: int, words: str
) -> None:
    with pytest.raises(ValueError, match=words):
        box_pixels(image, aspect, color=False, bit_depth=depth)


# --------------------------------------------------------------------------- box_aspect


def test_box_aspect_follows_film_size_and_orientation() -> None:
    two_by_two = ImageDisplayFormat.parse("STANDARD\\2,2")
    portrait = box_aspect(two_by_two, 1, FilmSize.IN14X17, FilmOrientation.PORTRAIT)
    assert portrait == pytest.approx(14 / 17)
    landscape = box_aspect(two_by_two, 4, FilmSize.IN14X17, FilmOrientation.LANDSCAPE)
    assert landscape == pytest.approx(17 / 14)
    assert box_aspect(two_by_two, 2, None, FilmOrientation.PORTRAIT) == portrait  # default film
    a4 = box_aspect(ImageDisplayFormat.parse("3x4"), 5, FilmSize.A4, FilmOrientation.PORTRAIT)
    assert a4 == pytest.approx((210 / 3) / (297 / 4))


def test_box_aspect_of_unequal_rows_and_columns() -> None:
    col = ImageDisplayFormat.parse("COL\\1,3")
    size, portrait = FilmSize.CM24X24, FilmOrientation.PORTRAIT
    assert box_aspect(col, 1, size, portrait) == pytest.approx(0.5)
    assert box_aspect(col, 2, size, portrait) == pytest.approx(1.5)
    row = ImageDisplayFormat.parse("ROW\\2,1")
    assert box_aspect(row, 3, size, portrait) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="positions 1 to 4"):
        box_aspect(col, 5, size, portrait)
