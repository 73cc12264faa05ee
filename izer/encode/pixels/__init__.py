"""Pixel encoding per transfer syntax, through one registry (in the style of pydicom 3).

Each transfer syntax has a :class:`~izer.encode.pixels.registry.PixelCodec` that says whether
it can run here (``is_available()``, ``missing_dependencies``), checks that the pixels suit the
syntax before any work starts, and encodes frames.
"""

from izer.encode.pixels.layout import EncodedPixels, PixelLayout, PreEncoded
from izer.encode.pixels.registry import (
    CodecUnavailableError,
    PixelCodec,
    PixelLayoutError,
    available_codecs,
    encode_frames,
    encode_or_keep,
    get_codec,
)

__all__ = [
    "CodecUnavailableError",
    "EncodedPixels",
    "PixelCodec",
    "PixelLayout",
    "PixelLayoutError",
    "PreEncoded",
    "available_codecs",
    "encode_frames",
    "encode_or_keep",
    "get_codec",
]
