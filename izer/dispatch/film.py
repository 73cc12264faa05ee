"""Film geometry and the pixels of each image box (PS3.3 C.13.3, C.13.5; PS3.4 Annex H).

A print SCU sends each image already rendered for display: the printer applies no Modality
or VOI LUT (the Image Box pixels are P-values, PS3.4 H.2.2). :func:`display_pixels` makes a
stored instance ready for print: Modality LUT, then the first VOI window or the minimum to
maximum, MONOCHROME1 inverted, as 12-bit grayscale; color as 8-bit RGB (YBR converted).
:func:`box_pixels` then fits one image into one box: converted to gray (ITU-R BT.601 luma) or
color as needed, scaled to 8 or 12 bits, its aspect kept (never stretched, never enlarged),
the margins filled with the empty-image density. :func:`box_aspect` gives a box's shape on
the film.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
from pydicom.dataset import Dataset
from pydicom.pixels import apply_color_lut, pixel_array

from izer.encode.extract import (
    ExportKind,
    _modality_values,
    _pixel_source,
    _signed,
    _to_uint8_color,
    _window,
    read_instance,
    window,
)
from izer.model.printing import (
    FilmOrientation,
    FilmSize,
    ImageDisplayFormat,
    density_value,
)

#: Largest value of the 12-bit grayscale display pixels.
GRAY_MAX = 4095
#: Film size assumed when a preset does not set one.
DEFAULT_FILM_SIZE = FilmSize.IN14X17
#: A numeric density (hundredths of OD) at or above this fills a margin black.
_BLACK_DENSITY = 300


def display_pixels(path: Path) -> np.ndarray:
    """The first frame of a stored image instance, ready for print.

    Returns
    -------
    numpy.ndarray
        ``(rows, columns)`` uint16 in 0..4095 for grayscale: the Modality LUT, then the first
        VOI window (PS3.3 C.11.2.1.2) or the frame's minimum to maximum; 8-bit unsigned
        stored values are scaled as they are; MONOCHROME1 is inverted (C.7.6.3.1.2).
        ``(rows, columns, 3)`` uint8 RGB for color (YBR and palette color converted).

    Raises
    ------
    ValueError
        Naming the file, when it is not DICOM, holds no still image (video, PDF, SR ...) or
        its pixels cannot be decoded here.
    """
    path = Path(path)
    source = read_instance(path)  # NotDicomError / ValueError already name the file
    if source.kind is None:
        raise ValueError(f"{path}: cannot be printed: {source.skip_reason or 'no image'}")
    if source.kind is not ExportKind.IMAGE:
        what = {
            ExportKind.VIDEO: "a video",
            ExportKind.DOCUMENT: "an encapsulated document",
            ExportKind.AUDIO: "an audio waveform",
        }[source.kind]
        raise ValueError(f"{path}: cannot be printed: {what}, not a still image")
    header = source.header
    try:
        frame = pixel_array(_pixel_source(source), index=0)
    except (NotImplementedError, RuntimeError, ValueError, AttributeError, KeyError) as exc:
        raise ValueError(f"{path}: the pixels cannot be decoded here: {exc}") from None
    photometric = str(header.get("PhotometricInterpretation", "")).strip()
    if photometric == "PALETTE COLOR":
        frame = _to_uint8_color(apply_color_lut(frame, header))
    if frame.ndim == 3:
        if frame.shape[2] != 3:
            raise ValueError(f"{path}: {frame.shape[2]} samples per pixel cannot be printed")
        bits = int(header.get("BitsStored") or 8)
        return np.ascontiguousarray(_to_uint8_color(frame, bits if frame.dtype != np.uint8 else 8))
    if frame.ndim != 2:
        raise ValueError(f"{path}: pixel array shaped {frame.shape} is not one image")
    return display_gray_12bit(frame, header)


def display_gray_12bit(frame: np.ndarray, header: Dataset) -> np.ndarray:
    """A grayscale frame as 12-bit display values 0..4095 (PS3.3 C.11.2.1.2, C.7.6.3.1.2).

    The 12-bit counterpart of :func:`izer.encode.extract.display_gray_8bit`.
    """
    bits = int(header.get("BitsStored") or 8)
    if bits == 8 and not _signed(header) and frame.dtype == np.uint8:
        scaled = frame.astype(np.float64) * (GRAY_MAX / 255.0)
    else:
        values = _modality_values(frame, header)
        center, width = _window(header)
        if center is not None and width is not None:
            function = str(header.get("VOILUTFunction", "LINEAR") or "LINEAR").upper()
            scaled = window(values, center, width, function) * (GRAY_MAX / 255.0)
        else:
            low, high = (float(values.min()), float(values.max())) if values.size else (0, 0)
            span = high - low
            scaled = (values - low) * (GRAY_MAX / span) if span > 0 else np.zeros_like(values)
    out = np.rint(np.clip(scaled, 0, GRAY_MAX)).astype(np.uint16)
    if str(header.get("PhotometricInterpretation", "")).strip() == "MONOCHROME1":
        out = GRAY_MAX - out
    return out


def _background(background: str, top: int) -> int:
    """The pixel value of an empty-image density: BLACK 0, WHITE ``top``; a number in
    hundredths of OD on a linear scale from 0.00 OD (white) to 3.00 OD (black)."""
    value = density_value(background)
    if value == "BLACK":
        return 0
    if value == "WHITE":
        return top
    density = min(int(value), _BLACK_DENSITY)
    return round(top * (1 - density / _BLACK_DENSITY))


def _as_gray(image: np.ndarray, bit_depth: int) -> np.ndarray:
    """``image`` as grayscale of ``bit_depth`` bits (BT.601 luma for RGB)."""
    top = (1 << bit_depth) - 1
    if image.ndim == 3:
        rgb = image.astype(np.float64)
        levels = (0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]) / 255.0
    elif image.dtype == np.uint8:
        levels = image.astype(np.float64) / 255.0
    else:
        levels = image.astype(np.float64) / GRAY_MAX
    out = np.rint(np.clip(levels, 0.0, 1.0) * top)
    return out.astype(np.uint8 if bit_depth == 8 else np.uint16)


def _as_rgb(image: np.ndarray) -> np.ndarray:
    """``image`` as 8-bit RGB (gray replicated into the three samples)."""
    if image.ndim == 3:
        return image
    if image.dtype == np.uint8:
        gray = image
    else:
        gray = np.rint(np.clip(image.astype(np.float64), 0, GRAY_MAX) * (255.0 / GRAY_MAX))
        gray = gray.astype(np.uint8)
    return np.repeat(gray[..., np.newaxis], 3, axis=2)


def box_pixels(
    image: np.ndarray,
    box_aspect: float,
    *,
    color: bool,
    bit_depth: int,
    background: str = "BLACK",
    max_side: int = 4096,
) -> np.ndarray:
    """One image rendered for one image box.

    Parameters
    ----------
    image
        From :func:`display_pixels`: ``(rows, columns)`` uint16 0..4095 (uint8 0..255 is
        taken too) or ``(rows, columns, 3)`` uint8 RGB.
    box_aspect
        The box's width / height on the film (:func:`box_aspect`).
    color
        Render RGB for a Basic Color Image Box, else grayscale (BT.601 luma of color).
    bit_depth
        8 or 12 bits for grayscale (PS3.3 C.13.5: Bits Stored 8 or 12); color is 8 bits.
    background
        Empty Image Density for the margins: BLACK (0), WHITE (the largest value) or
        hundredths of OD.
    max_side
        Longest side of the result.

    Returns
    -------
    numpy.ndarray
        ``(rows, columns)`` uint8 (8-bit) or uint16 (12-bit), or ``(rows, columns, 3)``
        uint8: a canvas with the box's aspect whose long side is the image's long side
        (capped at ``max_side``), the image fitted and centred in it, its aspect kept.

    Raises
    ------
    ValueError
        For an image, aspect, bit depth or background that does not fit.
    """
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 3) or image.size == 0:
        raise ValueError(
            f"box_pixels: expected (rows, columns) gray or (rows, columns, 3) RGB, got an "
            f"array shaped {image.shape}"
        )
    if image.ndim == 3 and image.dtype != np.uint8:
        raise ValueError(f"box_pixels: RGB must be uint8, got {image.dtype}")
    if not (math.isfinite(box_aspect) and box_aspect > 0):
        raise ValueError(f"box_pixels: box aspect must be a positive number, got {box_aspect}")
    if bit_depth not in (8, 12):
        raise ValueError(f"box_pixels: bit depth must be 8 or 12, got {bit_depth}")
    if max_side < 1:
        raise ValueError(f"box_pixels: max_side must be 1 or more, got {max_side}")
    if color:
        pixels, top = _as_rgb(image), 255
    else:
        pixels, top = _as_gray(image, bit_depth), (1 << bit_depth) - 1
    fill = _background(background, top)

    rows, columns = pixels.shape[:2]
    long_side = min(max(rows, columns), max_side)
    if box_aspect >= 1:
        canvas_columns = long_side
        canvas_rows = max(1, min(long_side, round(long_side / box_aspect)))
    else:
        canvas_rows = long_side
        canvas_columns = max(1, min(long_side, round(long_side * box_aspect)))
    scale = min(canvas_columns / columns, canvas_rows / rows, 1.0)
    fit_columns = max(1, min(canvas_columns, round(columns * scale)))
    fit_rows = max(1, min(canvas_rows, round(rows * scale)))
    if (fit_rows, fit_columns) != (rows, columns):
        pixels = cv2.resize(
            np.ascontiguousarray(pixels), (fit_columns, fit_rows), interpolation=cv2.INTER_AREA
        )
    shape = (canvas_rows, canvas_columns, 3) if color else (canvas_rows, canvas_columns)
    canvas = np.full(shape, fill, dtype=pixels.dtype)
    top_row = (canvas_rows - fit_rows) // 2
    left = (canvas_columns - fit_columns) // 2
    canvas[top_row : top_row + fit_rows, left : left + fit_columns] = pixels
    return canvas


def box_aspect(
    display_format: ImageDisplayFormat,
    position: int,
    film_size: FilmSize | None,
    orientation: FilmOrientation,
) -> float:
    """Width / height of image box ``position`` (1-based, PS3.3 C.13.5.1) on the film.

    The film is ``film_size`` (14INX17IN when not set), turned for LANDSCAPE.

    Raises
    ------
    ValueError
        When ``position`` is not a box of ``display_format``.
    """
    rects = display_format.box_rects(orientation)
    if not 1 <= position <= len(rects):
        raise ValueError(
            f"image box position {position}: {display_format} has positions 1 to {len(rects)}"
        )
    width_mm, height_mm = FilmSize(film_size or DEFAULT_FILM_SIZE).size_mm
    if FilmOrientation(orientation) is FilmOrientation.LANDSCAPE:
        width_mm, height_mm = height_mm, width_mm
    _, _, width, height = rects[position - 1]
    return (width * width_mm) / (height * height_mm)


__all__ = [
    "DEFAULT_FILM_SIZE",
    "GRAY_MAX",
    "box_aspect",
    "box_pixels",
    "display_gray_12bit",
    "display_pixels",
]
