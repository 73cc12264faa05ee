"""What pixels go into an encoder and what comes out."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PixelLayout:
    """The Image Pixel module values of the source frames (PS3.3 C.7.6.3).

    ``photometric`` is the source's: ``MONOCHROME2``, ``MONOCHROME1`` or ``RGB``; encoders may
    change it (JPEG Baseline colour becomes ``YBR_FULL_422``).
    """

    rows: int
    columns: int
    samples_per_pixel: int
    bits_allocated: int
    bits_stored: int
    photometric: str
    pixel_representation: int = 0

    @classmethod
    def of(cls, frames: np.ndarray, *, bits_stored: int | None = None) -> PixelLayout:
        """The layout of ``frames`` shaped ``(n, rows, columns[, 3])``, uint8 or uint16.

        Raises
        ------
        ValueError
            For other shapes or types, or ``bits_stored`` the type cannot hold.
        """
        if frames.ndim not in (3, 4) or (frames.ndim == 4 and frames.shape[3] != 3):
            raise ValueError(
                f"frames must be shaped (frames, rows, columns) or (frames, rows, columns, 3), "
                f"got {frames.shape}"
            )
        if frames.dtype not in (np.uint8, np.uint16):
            raise ValueError(f"pixels must be uint8 or uint16, got {frames.dtype}")
        allocated = frames.dtype.itemsize * 8
        stored = bits_stored or allocated
        if not 1 <= stored <= allocated:
            raise ValueError(f"bits stored {stored} does not fit {allocated}-bit samples")
        samples = 3 if frames.ndim == 4 else 1
        return cls(
            rows=frames.shape[1],
            columns=frames.shape[2],
            samples_per_pixel=samples,
            bits_allocated=allocated,
            bits_stored=stored,
            photometric="RGB" if samples == 3 else "MONOCHROME2",
        )


@dataclass(frozen=True)
class EncodedPixels:
    """Pixel Data ready for a dataset, with the attributes the encoding decided.

    ``pixel_data`` is the whole element value: native bytes, or for encapsulated syntaxes the
    Basic Offset Table item, the fragments and the sequence delimiter (PS3.5 A.4).
    """

    transfer_syntax: str
    pixel_data: bytes
    photometric: str
    number_of_frames: int
    lossy_method: str | None = None
    lossy_ratio: float | None = None


@dataclass(frozen=True)
class PreEncoded:
    """Frames compressed elsewhere and kept exactly as they are.

    A baseline JPEG or JPEG 2000 file is encapsulated without re-encoding (no generation
    loss); the IOD constructors accept this in place of a pixel array.
    """

    encoded: EncodedPixels
    layout: PixelLayout
