"""Frame encoders: imagecodecs (libjpeg-turbo, CharLS, OpenJPEG, OpenJPH, libjxl), pydicom RLE.

Each takes one frame ``(rows, columns[, 3])``, the layout and a quality (``None`` for lossless
syntaxes) and returns the encoded bytes of that frame.
"""

from __future__ import annotations

import importlib.util

import numpy as np

from izer.encode.pixels.layout import PixelLayout


def native(frames: np.ndarray, layout: PixelLayout, quality: float | None) -> bytes:
    """Uncompressed, little endian, colour-by-pixel (Planar Configuration 0)."""
    return np.ascontiguousarray(frames, dtype=frames.dtype.newbyteorder("<")).tobytes()


def rle(frame: np.ndarray, layout: PixelLayout, quality: float | None) -> bytes:
    """RLE Lossless (PS3.5 G); pylibjpeg-rle when installed, else pydicom's own (slower)."""
    from pydicom.pixels.encoders import RLELosslessEncoder

    # pydicom's "pylibjpeg" plugin needs pylibjpeg itself besides the rle package.
    with_plugin = all(importlib.util.find_spec(name) for name in ("pylibjpeg", "rle"))
    plugin = "pylibjpeg" if with_plugin else "pydicom"
    return RLELosslessEncoder.encode(
        np.ascontiguousarray(frame),
        encoding_plugin=plugin,
        rows=layout.rows,
        columns=layout.columns,
        samples_per_pixel=layout.samples_per_pixel,
        bits_allocated=layout.bits_allocated,
        bits_stored=layout.bits_stored,
        pixel_representation=layout.pixel_representation,
        photometric_interpretation=layout.photometric,
        number_of_frames=1,
        planar_configuration=0,
    )


def jpeg_baseline(frame: np.ndarray, layout: PixelLayout, quality: float | None) -> bytes:
    """JPEG Baseline (Process 1); colour as YCbCr with 4:2:2 subsampling (YBR_FULL_422)."""
    import imagecodecs

    colour = layout.samples_per_pixel == 3
    return bytes(
        imagecodecs.jpeg8_encode(
            frame,
            level=int(quality or 95),
            subsampling="422" if colour else None,
            optimize=False,
        )
    )


def jpeg_extended(frame: np.ndarray, layout: PixelLayout, quality: float | None) -> bytes:
    """JPEG Extended (Process 2 and 4): 8-bit as Baseline, 12-bit grayscale as Process 4."""
    import imagecodecs

    if layout.bits_stored == 12:
        return bytes(imagecodecs.jpeg8_encode(frame, level=int(quality or 95), bitspersample=12))
    return jpeg_baseline(frame, layout, quality)


def jpeg_lossless(frame: np.ndarray, layout: PixelLayout, quality: float | None) -> bytes:
    """JPEG Lossless, Non-Hierarchical, First-Order Prediction (Process 14, SV1)."""
    import imagecodecs

    return bytes(
        imagecodecs.jpeg8_encode(
            frame, lossless=True, predictor=1, bitspersample=layout.bits_stored
        )
    )


def jpeg_ls(frame: np.ndarray, layout: PixelLayout, quality: float | None) -> bytes:
    """JPEG-LS; ``quality`` is the NEAR parameter (0 or ``None``: lossless)."""
    import imagecodecs

    return bytes(imagecodecs.jpegls_encode(np.ascontiguousarray(frame), level=int(quality or 0)))


def jpeg_2000(frame: np.ndarray, layout: PixelLayout, quality: float | None) -> bytes:
    """JPEG 2000 codestream: reversible without ``quality``, else its target PSNR in dB."""
    import imagecodecs

    colour = layout.samples_per_pixel == 3
    return bytes(
        imagecodecs.jpeg2k_encode(
            frame,
            level=quality or 0,
            codecformat="J2K",
            reversible=quality is None,
            mct=colour,
            bitspersample=layout.bits_stored,
        )
    )


def htj2k(frame: np.ndarray, layout: PixelLayout, quality: float | None) -> bytes:
    """High-Throughput JPEG 2000 (ISO/IEC 15444-15); ``quality`` is the quantization step."""
    import imagecodecs

    return bytes(
        imagecodecs.htj2k_encode(
            np.ascontiguousarray(frame),
            level=quality,
            reversible=quality is None,
            rgb=layout.samples_per_pixel == 3,
        )
    )


def htj2k_rpcl(frame: np.ndarray, layout: PixelLayout, quality: float | None) -> bytes:
    """HTJ2K lossless with RPCL progression and TLM markers, as .202 requires (PS3.5 A.4.11)."""
    import imagecodecs

    return bytes(
        imagecodecs.htj2k_encode(
            np.ascontiguousarray(frame),
            reversible=True,
            rgb=layout.samples_per_pixel == 3,
            tlm=True,
        )
    )


def jpeg_xl(frame: np.ndarray, layout: PixelLayout, quality: float | None) -> bytes:
    """JPEG XL codestream (ISO/IEC 18181-1); lossless without ``quality``, else the distance."""
    import imagecodecs

    if quality is None:
        return bytes(
            imagecodecs.jpegxl_encode(frame, lossless=True, bitspersample=layout.bits_stored)
        )
    return bytes(
        imagecodecs.jpegxl_encode(frame, distance=quality, bitspersample=layout.bits_stored)
    )
