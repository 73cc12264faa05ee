"""One codec per transfer syntax, with its rules (PS3.5 8.2 and A.4) checked before encoding."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from pydicom.encaps import encapsulate

from izer.encode.pixels import backends
from izer.encode.pixels.layout import EncodedPixels, PixelLayout, PreEncoded
from izer.encode.transfer_syntaxes import TransferSyntax as TS

FrameEncoder = Callable[[np.ndarray, PixelLayout, float | None], bytes]
LayoutRule = Callable[[PixelLayout], str | None]


class CodecUnavailableError(RuntimeError):
    """The transfer syntax has no encoder on this machine; the message names what to install."""


class PixelLayoutError(ValueError):
    """The pixels do not suit the transfer syntax; the message says which rule and why."""


def _eight_bit(layout: PixelLayout) -> str | None:
    if layout.bits_allocated != 8 or layout.bits_stored != 8:
        return f"needs 8-bit samples, got {layout.bits_stored} bits stored"
    return None


def _eight_or_twelve_bit(layout: PixelLayout) -> str | None:
    if layout.bits_stored == 8 and layout.bits_allocated == 8:
        return None
    if layout.bits_stored == 12 and layout.bits_allocated == 16 and layout.samples_per_pixel == 1:
        return None
    return (
        f"needs 8-bit samples or 12-bit grayscale, got {layout.bits_stored} bits stored "
        f"and {layout.samples_per_pixel} sample(s) per pixel"
    )


def _up_to_sixteen_bit(layout: PixelLayout) -> str | None:
    if layout.samples_per_pixel == 3 and layout.bits_stored != 8:
        return f"colour needs 8-bit samples, got {layout.bits_stored} bits stored"
    if not 2 <= layout.bits_stored <= 16:
        return f"needs 2 to 16 bits stored, got {layout.bits_stored}"
    return None


def _any(layout: PixelLayout) -> str | None:
    return None


def _same_photometric(layout: PixelLayout) -> str:
    return layout.photometric


def _ycbcr_if_colour(colour: str) -> Callable[[PixelLayout], str]:
    def photometric(layout: PixelLayout) -> str:
        return colour if layout.samples_per_pixel == 3 else layout.photometric

    return photometric


@dataclass(frozen=True)
class PixelCodec:
    """Encoder of one transfer syntax.

    Parameters
    ----------
    transfer_syntax
        What it writes.
    lossy
        Whether decoding gives back other values than were encoded.
    method
        Lossy Image Compression Method (0028,2114) when lossy (PS3.3 C.7.6.1.1.5).
    dependencies
        Importable modules it needs.
    accepts
        Returns why a layout does not suit the syntax, or ``None``.
    photometric
        The Photometric Interpretation of the encoded pixels (PS3.5 8.2).
    encode_frame
        Encodes one frame.
    default_quality
        Quality used when the caller gives none, in the backend's own terms: JPEG 1-100,
        JPEG-LS the NEAR value, JPEG 2000 the target PSNR in dB, HTJ2K the quantization step,
        JPEG XL the distance (smaller is better for the last two).
    """

    transfer_syntax: TS
    lossy: bool
    method: str | None
    dependencies: tuple[str, ...]
    accepts: LayoutRule
    photometric: Callable[[PixelLayout], str]
    encode_frame: FrameEncoder
    default_quality: float | None = None

    @property
    def missing_dependencies(self) -> list[str]:
        """The modules it needs that cannot be imported here."""
        return [name for name in self.dependencies if importlib.util.find_spec(name) is None]

    def is_available(self) -> bool:
        """True when every dependency can be imported."""
        return not self.missing_dependencies


_CODECS: dict[TS, PixelCodec] = {
    codec.transfer_syntax: codec
    for codec in (
        PixelCodec(
            TS.EXPLICIT_VR_LITTLE_ENDIAN, False, None, (), _any, _same_photometric, backends.native
        ),
        PixelCodec(
            TS.IMPLICIT_VR_LITTLE_ENDIAN, False, None, (), _any, _same_photometric, backends.native
        ),
        PixelCodec(
            TS.RLE_LOSSLESS, False, None, ("pydicom",), _any, _same_photometric, backends.rle
        ),
        PixelCodec(
            TS.JPEG_BASELINE,
            True,
            "ISO_10918_1",
            ("imagecodecs",),
            _eight_bit,
            _ycbcr_if_colour("YBR_FULL_422"),
            backends.jpeg_baseline,
            default_quality=95,
        ),
        PixelCodec(
            TS.JPEG_EXTENDED,
            True,
            "ISO_10918_1",
            ("imagecodecs",),
            _eight_or_twelve_bit,
            _ycbcr_if_colour("YBR_FULL_422"),
            backends.jpeg_extended,
            default_quality=95,
        ),
        PixelCodec(
            TS.JPEG_LOSSLESS_SV1,
            False,
            None,
            ("imagecodecs",),
            _up_to_sixteen_bit,
            _same_photometric,
            backends.jpeg_lossless,
        ),
        PixelCodec(
            TS.JPEG_LS_LOSSLESS,
            False,
            None,
            ("imagecodecs",),
            _up_to_sixteen_bit,
            _same_photometric,
            backends.jpeg_ls,
        ),
        PixelCodec(
            TS.JPEG_LS_NEAR_LOSSLESS,
            True,
            "ISO_14495_1",
            ("imagecodecs",),
            _up_to_sixteen_bit,
            _same_photometric,
            backends.jpeg_ls,
            default_quality=2,
        ),
        PixelCodec(
            TS.JPEG_2000_LOSSLESS,
            False,
            None,
            ("imagecodecs",),
            _up_to_sixteen_bit,
            _ycbcr_if_colour("YBR_RCT"),
            backends.jpeg_2000,
        ),
        PixelCodec(
            TS.JPEG_2000,
            True,
            "ISO_15444_1",
            ("imagecodecs",),
            _up_to_sixteen_bit,
            _ycbcr_if_colour("YBR_ICT"),
            backends.jpeg_2000,
            default_quality=48,
        ),
        PixelCodec(
            TS.HTJ2K_LOSSLESS,
            False,
            None,
            ("imagecodecs",),
            _up_to_sixteen_bit,
            _ycbcr_if_colour("YBR_RCT"),
            backends.htj2k,
        ),
        PixelCodec(
            TS.HTJ2K_LOSSLESS_RPCL,
            False,
            None,
            ("imagecodecs",),
            _up_to_sixteen_bit,
            _ycbcr_if_colour("YBR_RCT"),
            backends.htj2k_rpcl,
        ),
        PixelCodec(
            TS.HTJ2K,
            True,
            "ISO_15444_15",
            ("imagecodecs",),
            _up_to_sixteen_bit,
            _ycbcr_if_colour("YBR_ICT"),
            backends.htj2k,
            default_quality=0.005,
        ),
        PixelCodec(
            TS.JPEG_XL_LOSSLESS,
            False,
            None,
            ("imagecodecs",),
            _up_to_sixteen_bit,
            _same_photometric,
            backends.jpeg_xl,
        ),
        PixelCodec(
            TS.JPEG_XL,
            True,
            "ISO_18181_1",
            ("imagecodecs",),
            _up_to_sixteen_bit,
            _same_photometric,
            backends.jpeg_xl,
            default_quality=0.2,
        ),
    )
}


def get_codec(transfer_syntax: TS | str) -> PixelCodec:
    """The codec of ``transfer_syntax`` (a member, a name or a UID).

    Raises
    ------
    ValueError
        For a transfer syntax izer does not write stills in.
    CodecUnavailableError
        When its encoder's dependencies are missing, naming them.
    """
    syntax = transfer_syntax if isinstance(transfer_syntax, TS) else TS.from_text(transfer_syntax)
    codec = _CODECS[syntax]
    if missing := codec.missing_dependencies:
        raise CodecUnavailableError(
            f"{syntax.name.lower()} needs {', '.join(missing)}: pip install {' '.join(missing)}"
        )
    return codec


def available_codecs() -> list[PixelCodec]:
    """Every codec that can run here."""
    return [codec for codec in _CODECS.values() if codec.is_available()]


def encode_frames(
    frames: np.ndarray,
    layout: PixelLayout,
    transfer_syntax: TS | str,
    *,
    quality: float | None = None,
) -> EncodedPixels:
    """Encode ``frames`` (``(n, rows, columns[, 3])``) in ``transfer_syntax``.

    Raises
    ------
    PixelLayoutError
        When the layout breaks a rule of the syntax (checked before any work).
    CodecUnavailableError
        When the encoder cannot run here.
    """
    codec = get_codec(transfer_syntax)
    if problem := codec.accepts(layout):
        raise PixelLayoutError(f"{codec.transfer_syntax.name.lower()} {problem}")
    chosen_quality = quality if quality is not None else codec.default_quality
    if not codec.transfer_syntax.is_encapsulated:
        pixel_data = backends.native(frames, layout, None)
        return EncodedPixels(
            transfer_syntax=codec.transfer_syntax.value,
            pixel_data=pixel_data,
            photometric=codec.photometric(layout),
            number_of_frames=len(frames),
        )
    fragments = [codec.encode_frame(frame, layout, chosen_quality) for frame in frames]
    encoded_size = sum(len(fragment) for fragment in fragments)
    ratio = frames.nbytes / max(encoded_size, 1)
    return EncodedPixels(
        transfer_syntax=codec.transfer_syntax.value,
        pixel_data=encapsulate(fragments, has_bot=len(fragments) > 1),
        photometric=codec.photometric(layout),
        number_of_frames=len(frames),
        lossy_method=codec.method if codec.lossy else None,
        lossy_ratio=round(ratio, 2) if codec.lossy else None,
    )


def encode_or_keep(
    frames: np.ndarray | PreEncoded,
    transfer_syntax: TS | str,
    *,
    quality: float | None = None,
    bits_stored: int | None = None,
) -> tuple[EncodedPixels, PixelLayout]:
    """Encode ``frames`` (``(n, rows, columns[, 3])``), or keep pre-encoded frames as they are.

    Raises
    ------
    PixelLayoutError, CodecUnavailableError
        As :func:`encode_frames`.
    """
    if isinstance(frames, PreEncoded):
        return frames.encoded, frames.layout
    layout = PixelLayout.of(frames, bits_stored=bits_stored)
    return encode_frames(frames, layout, transfer_syntax, quality=quality), layout
