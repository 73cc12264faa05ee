"""Reading input files: formats by content, headers before pixels, frames as DICOM wants them."""

from __future__ import annotations

import struct
from pathlib import Path

import imagecodecs
import numpy as np
import pytest
from pydicom.encaps import generate_frames

from izer.encode.importers import (
    MAX_SIDE,
    FileFormat,
    InputError,
    InputKind,
    encapsulated,
    expand_input,
    parse_j2k,
    parse_jpeg,
    read_image,
    sniff,
)
from izer.encode.transfer_syntaxes import TransferSyntax
from tests.encode.malformed import makers


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda p: makers.jpeg(p), FileFormat.JPEG),
        (lambda p: makers.png(p), FileFormat.PNG),
        (lambda p: makers.tiff(p, [makers.rgb()]), FileFormat.TIFF),
        (lambda p: makers.write(p, bytes(imagecodecs.bmp_encode(makers.rgb()))), FileFormat.BMP),
        (lambda p: makers.write(p, bytes(imagecodecs.webp_encode(makers.rgb()))), FileFormat.WEBP),
        (lambda p: makers.j2k(p), FileFormat.J2K),
        (lambda p: makers.j2k(p, jp2=True), FileFormat.JP2),
        (lambda p: makers.pdf(p), FileFormat.PDF),
        (lambda p: makers.wav(p), FileFormat.WAV),
    ],
    ids=lambda v: v.name if isinstance(v, FileFormat) else "",
)
def test_formats_are_told_by_content_not_extension(make, expected, tmp_path: Path) -> None:
    path = make(tmp_path / "misleading.txt")
    assert sniff(path.read_bytes(), path) is expected


def test_kinds() -> None:
    assert FileFormat.TIFF.kind is InputKind.IMAGE
    assert FileFormat.PDF.kind is InputKind.DOCUMENT
    assert FileFormat.WAV.kind is InputKind.AUDIO


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty (0 bytes)"),
        (b"plain text\n", "text file"),
        ("déjà vu\n".encode(), "text file"),
        (b"GIF89a\x01\x00", "GIF images are not supported"),
        (b"\x00\x00\x00\x18ftypheic" + b"\x00" * 16, "'heic'"),
        (bytes(range(256)) * 2, "not an image, PDF or audio file"),
    ],
)
def test_sniff_refuses_with_the_file_name(data: bytes, message: str) -> None:
    with pytest.raises(InputError, match=r"^scan\.jpg: ") as caught:
        sniff(data, "scan.jpg")
    assert message in str(caught.value)


# -- JPEG ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subsampling", "photometric"),
    [("444", "YBR_FULL"), ("422", "YBR_FULL_422"), ("420", "YBR_FULL_422"), ("440", None)],
)
def test_jpeg_photometric_follows_its_subsampling(
    subsampling: str, photometric: str | None, tmp_path: Path
) -> None:
    path = makers.jpeg(tmp_path / "a.jpg", subsampling=subsampling)
    (frame,) = read_image(path).frames
    if photometric is None:
        assert frame.compressed is None  # no DICOM Photometric Interpretation for 4:4:0
    else:
        assert frame.compressed is not None
        assert frame.compressed.photometric == photometric
        assert frame.compressed.codestream == path.read_bytes()
        assert frame.compressed.syntaxes == (TransferSyntax.JPEG_BASELINE,)


def test_adobe_rgb_jpeg_is_rgb(tmp_path: Path) -> None:
    data = bytes(imagecodecs.jpeg8_encode(makers.rgb(), colorspace="RGB", outcolorspace="RGB"))
    header = parse_jpeg(data)
    assert header.adobe_transform == 0 or bytes(c[0] for c in header.components) == b"RGB"
    (frame,) = read_image(makers.write(tmp_path / "rgb.jpg", data)).frames
    assert frame.compressed is not None and frame.compressed.photometric == "RGB"


def test_progressive_and_12_bit_jpegs_are_decoded_not_kept(tmp_path: Path) -> None:
    gray12 = makers.gray16(top=4095)
    path = makers.write(
        tmp_path / "a.jpg", bytes(imagecodecs.jpeg8_encode(gray12, level=95, bitspersample=12))
    )
    (frame,) = read_image(path).frames
    assert frame.compressed is None
    assert frame.pixels().dtype == np.uint16
    assert frame.bits_stored == 12


def test_trailing_bytes_after_eoi_are_not_kept(tmp_path: Path) -> None:
    original = makers.jpeg(tmp_path / "a.jpg").read_bytes()
    path = makers.write(tmp_path / "b.jpg", original + b"CAMERA-TRAILER" * 10)
    (frame,) = read_image(path).frames
    assert frame.compressed is not None and frame.compressed.codestream == original


def test_exif_thumbnail_does_not_hide_a_truncated_scan() -> None:
    thumbnail = bytes(imagecodecs.jpeg8_encode(makers.rgb(8, 8), level=50))
    exif = b"Exif\x00\x00" + thumbnail
    main = bytes(imagecodecs.jpeg8_encode(makers.rgb(), level=90))
    data = main[:2] + b"\xff\xe1" + struct.pack(">H", len(exif) + 2) + exif + main[2:]
    assert parse_jpeg(data).end == len(data)
    with pytest.raises(InputError, match="truncated JPEG"):
        parse_jpeg(data[: len(data) - 200])


# -- JPEG 2000 -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reversible", "mct", "photometric", "syntaxes"),
    [
        (True, True, "YBR_RCT", (TransferSyntax.JPEG_2000, TransferSyntax.JPEG_2000_LOSSLESS)),
        (False, True, "YBR_ICT", (TransferSyntax.JPEG_2000,)),
        (True, False, "RGB", (TransferSyntax.JPEG_2000, TransferSyntax.JPEG_2000_LOSSLESS)),
    ],
)
def test_j2k_photometric_from_cod(
    reversible: bool, mct: bool, photometric: str, syntaxes: tuple, tmp_path: Path
) -> None:
    path = makers.j2k(tmp_path / "a.j2k", reversible=reversible, mct=mct)
    (frame,) = read_image(path).frames
    assert frame.compressed is not None
    assert frame.compressed.photometric == photometric
    assert frame.compressed.syntaxes == syntaxes
    assert (frame.compressed.lossy_method is None) is reversible


def test_jp2_box_wrapper_is_removed(tmp_path: Path) -> None:
    path = makers.j2k(tmp_path / "a.jp2", jp2=True)
    (frame,) = read_image(path).frames
    assert frame.compressed is not None
    codestream = frame.compressed.codestream
    assert codestream.startswith(b"\xff\x4f\xff\x51") and codestream.endswith(b"\xff\xd9")
    assert codestream in path.read_bytes()


def test_16_bit_j2k_header(tmp_path: Path) -> None:
    values = makers.gray16(top=4095)
    path = makers.j2k(tmp_path / "a.j2k", values, reversible=True, bitspersample=12)
    header = parse_j2k(path.read_bytes())
    assert (header.rows, header.columns, header.precisions) == (40, 50, (12,))
    (frame,) = read_image(path).frames
    assert frame.compressed is not None
    layout = frame.compressed.layout
    assert (layout.bits_allocated, layout.bits_stored) == (16, 12)
    assert np.array_equal(frame.pixels(), values)


# -- decoded pixels --------------------------------------------------------------------------------


def test_rgb_order_is_kept_for_every_format(tmp_path: Path) -> None:
    pixels = np.zeros((8, 8, 3), np.uint8)
    pixels[..., 0] = 250
    writers = {
        "a.png": lambda p: makers.png(p, pixels),
        "a.tif": lambda p: makers.tiff(p, [pixels]),
        "a.bmp": lambda p: makers.write(p, bytes(imagecodecs.bmp_encode(pixels))),
        "a.webp": lambda p: makers.write(p, bytes(imagecodecs.webp_encode(pixels, lossless=True))),
        "a.j2k": lambda p: makers.j2k(p, pixels),
    }
    for name, write in writers.items():
        (frame,) = read_image(write(tmp_path / name)).frames
        assert frame.pixels()[0, 0].tolist() == [250, 0, 0], name


def test_16_bit_gray_stays_16_bit_and_sbit_gives_bits_stored(tmp_path: Path) -> None:
    values = makers.gray16(top=1023)
    data = bytearray(imagecodecs.png_encode(values))
    ihdr_end = 8 + 8 + 13 + 4
    data[ihdr_end:ihdr_end] = makers.png_chunk(b"sBIT", b"\x0a")
    (frame,) = read_image(makers.write(tmp_path / "a.png", bytes(data))).frames
    assert frame.pixels().dtype == np.uint16
    assert np.array_equal(frame.pixels(), values)
    assert frame.bits_stored == 10


def test_multipage_tiff_pages(tmp_path: Path) -> None:
    pages = [makers.gray16(seed=i) for i in range(3)]
    image = read_image(makers.tiff(tmp_path / "a.tif", pages))
    assert [f.label for f in image.frames] == ["page 1", "page 2", "page 3"]
    for frame, page in zip(image.frames, pages, strict=True):
        assert np.array_equal(frame.pixels(), page)


def test_too_large_is_refused_before_decoding(tmp_path: Path, monkeypatch) -> None:
    def explode(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("decoded")

    for name in ("png_decode", "jpeg8_decode", "tiff_decode", "bmp_decode"):
        monkeypatch.setattr(imagecodecs, name, explode)
    side = MAX_SIDE + 1
    for path in (
        makers.png_with_header(tmp_path / "a.png", 30000, 30000),
        makers.jpeg_with_size(tmp_path / "a.jpg", side, 10),
        makers.tiff_with_size(tmp_path / "a.tif", 10, side),
        makers.bmp_with_size(tmp_path / "a.bmp", 30000, -30000),
    ):
        with pytest.raises(InputError, match="too large"):
            read_image(path)


def test_expand_input_sorts_and_skips_hidden_files(tmp_path: Path) -> None:
    for name in ("b.png", "a.png", ".hidden.png"):
        makers.png(tmp_path / "set" / name)
    (tmp_path / "set" / "sub").mkdir()
    assert [p.name for p in expand_input(tmp_path / "set")] == ["a.png", "b.png"]
    with pytest.raises(InputError, match="no such file or folder"):
        expand_input(tmp_path / "nothing")


# -- encapsulation ---------------------------------------------------------------------------------


def test_encapsulated_frames_are_fragments_with_an_offset_table(tmp_path: Path) -> None:
    paths = [makers.jpeg(tmp_path / f"{i}.jpg", makers.rgb(seed=i)) for i in range(2)]
    frames = [read_image(p).frames[0].compressed for p in paths]
    encoded, layout = encapsulated([f for f in frames if f is not None])
    assert encoded.transfer_syntax == TransferSyntax.JPEG_BASELINE.value
    assert (encoded.number_of_frames, encoded.photometric) == (2, "YBR_FULL_422")
    assert encoded.lossy_method == "ISO_10918_1" and encoded.lossy_ratio > 1
    assert (layout.rows, layout.columns, layout.samples_per_pixel) == (48, 64, 3)
    fragments = list(generate_frames(encoded.pixel_data, number_of_frames=2))
    assert [f.rstrip(b"\0") for f in fragments] == [p.read_bytes().rstrip(b"\0") for p in paths]


def test_encapsulated_refuses_frames_that_differ(tmp_path: Path) -> None:
    a = read_image(makers.jpeg(tmp_path / "a.jpg", makers.rgb(48, 64))).frames[0].compressed
    b = read_image(makers.jpeg(tmp_path / "b.jpg", makers.rgb(32, 64))).frames[0].compressed
    assert a is not None and b is not None
    with pytest.raises(ValueError, match="frame 2 differs from frame 1"):
        encapsulated([a, b])
