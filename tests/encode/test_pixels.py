"""The codec registry: availability, the syntaxes' rules, lossless round trips."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from pydicom.encaps import generate_frames

from izer.encode import TransferSyntax as TS
from izer.encode.pixels import (
    CodecUnavailableError,
    PixelLayout,
    PixelLayoutError,
    available_codecs,
    encode_frames,
    get_codec,
)
from izer.encode.pixels.registry import PixelCodec

RNG = np.random.default_rng(20261122)
RGB = RNG.integers(0, 256, (2, 24, 32, 3), dtype=np.uint8)
GRAY12 = RNG.integers(0, 4096, (2, 24, 32), dtype=np.uint16)

LOSSLESS_ENCAPSULATED = [
    TS.RLE_LOSSLESS,
    TS.JPEG_LOSSLESS_SV1,
    TS.JPEG_LS_LOSSLESS,
    TS.JPEG_2000_LOSSLESS,
    TS.HTJ2K_LOSSLESS,
    TS.HTJ2K_LOSSLESS_RPCL,
    TS.JPEG_XL_LOSSLESS,
]


def _decode(syntax: TS, fragment: bytes) -> np.ndarray:
    import imagecodecs

    decoders = {
        TS.JPEG_LOSSLESS_SV1: imagecodecs.jpeg8_decode,
        TS.JPEG_LS_LOSSLESS: imagecodecs.jpegls_decode,
        TS.JPEG_2000_LOSSLESS: imagecodecs.jpeg2k_decode,
        TS.HTJ2K_LOSSLESS: imagecodecs.htj2k_decode,
        TS.HTJ2K_LOSSLESS_RPCL: imagecodecs.htj2k_decode,
        TS.JPEG_XL_LOSSLESS: imagecodecs.jpegxl_decode,
    }
    return decoders[syntax](fragment)


def test_every_still_syntax_is_available_here() -> None:
    assert {codec.transfer_syntax for codec in available_codecs()} == set(TS)


@pytest.mark.parametrize("syntax", [s for s in LOSSLESS_ENCAPSULATED if s is not TS.RLE_LOSSLESS])
@pytest.mark.parametrize("frames", [RGB, GRAY12], ids=["rgb", "gray12"])
def test_lossless_syntaxes_give_back_every_frame(syntax: TS, frames: np.ndarray) -> None:
    layout = PixelLayout.of(frames, bits_stored=12 if frames.dtype == np.uint16 else None)
    encoded = encode_frames(frames, layout, syntax)
    fragments = list(generate_frames(encoded.pixel_data, number_of_frames=len(frames)))
    assert len(fragments) == len(frames)
    for fragment, frame in zip(fragments, frames, strict=True):
        assert np.array_equal(_decode(syntax, fragment), frame)
    assert encoded.lossy_method is None


def test_rle_round_trips_through_pydicom() -> None:
    layout = PixelLayout.of(RGB)
    encoded = encode_frames(RGB, layout, TS.RLE_LOSSLESS)
    decoded = pydicom.pixels.decoders.RLELosslessDecoder.as_array(
        encoded.pixel_data,
        rows=24,
        columns=32,
        samples_per_pixel=3,
        bits_allocated=8,
        bits_stored=8,
        pixel_representation=0,
        photometric_interpretation="RGB",
        number_of_frames=2,
        planar_configuration=0,
    )[0]
    assert np.array_equal(decoded, RGB)


@pytest.mark.parametrize(
    ("syntax", "photometric", "method"),
    [
        (TS.JPEG_BASELINE, "YBR_FULL_422", "ISO_10918_1"),
        (TS.JPEG_2000, "YBR_ICT", "ISO_15444_1"),
        (TS.JPEG_2000_LOSSLESS, "YBR_RCT", None),
        (TS.HTJ2K, "YBR_ICT", "ISO_15444_15"),
        (TS.JPEG_XL, "RGB", "ISO_18181_1"),
        (TS.JPEG_LS_NEAR_LOSSLESS, "RGB", "ISO_14495_1"),
    ],
)
def test_colour_photometric_and_lossy_method_follow_the_syntax(syntax, photometric, method):
    encoded = encode_frames(RGB, PixelLayout.of(RGB), syntax)
    assert encoded.photometric == photometric
    assert encoded.lossy_method == method
    assert (encoded.lossy_ratio is not None) == (method is not None)


def test_the_rules_of_a_syntax_are_checked_before_encoding() -> None:
    layout = PixelLayout.of(GRAY12, bits_stored=12)
    with pytest.raises(PixelLayoutError, match="jpeg_baseline needs 8-bit samples"):
        encode_frames(GRAY12, layout, TS.JPEG_BASELINE)
    colour16 = np.zeros((1, 4, 4, 3), dtype=np.uint16)
    with pytest.raises(PixelLayoutError, match="colour needs 8-bit"):
        encode_frames(colour16, PixelLayout.of(colour16), TS.JPEG_LS_LOSSLESS)


def test_a_missing_dependency_is_named_with_the_fix() -> None:
    codec = get_codec(TS.JPEG_2000)
    broken = PixelCodec(
        codec.transfer_syntax,
        codec.lossy,
        codec.method,
        ("no_such_module_izer",),
        codec.accepts,
        codec.photometric,
        codec.encode_frame,
    )
    assert not broken.is_available()
    assert broken.missing_dependencies == ["no_such_module_izer"]


def test_unavailable_codec_error_names_the_package(monkeypatch) -> None:
    from izer.encode.pixels import registry

    codec = registry._CODECS[TS.JPEG_XL]
    monkeypatch.setitem(
        registry._CODECS,
        TS.JPEG_XL,
        PixelCodec(
            codec.transfer_syntax,
            True,
            codec.method,
            ("izer_missing_codec",),
            codec.accepts,
            codec.photometric,
            codec.encode_frame,
        ),
    )
    with pytest.raises(CodecUnavailableError, match="pip install izer_missing_codec"):
        get_codec(TS.JPEG_XL)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("jpeg-baseline", TS.JPEG_BASELINE),
        ("HTJ2K_LOSSLESS_RPCL", TS.HTJ2K_LOSSLESS_RPCL),
        ("1.2.840.10008.1.2.4.110", TS.JPEG_XL_LOSSLESS),
    ],
)
def test_transfer_syntax_names_and_uids_parse(text: str, expected: TS) -> None:
    assert TS.from_text(text) is expected


def test_unknown_transfer_syntax_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match="jpeg-baseline"):
        TS.from_text("mpeg7")


def test_jpeg_xl_uids_are_known_to_pydicom() -> None:
    assert pydicom.uid.UID(TS.JPEG_XL.value).is_transfer_syntax
    assert pydicom.uid.UID(TS.JPEG_XL_LOSSLESS.value).is_compressed
