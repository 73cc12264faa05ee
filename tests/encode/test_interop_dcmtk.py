"""What izer writes, decoded by other software: DCMTK 3.6.7, pydicom, imagecodecs, dciodvfy.

Lossless syntaxes must give back the source pixels exactly; lossy ones at their default
quality at least :data:`~tests.encode.interop_cases.SMOOTH_PSNR_DB` on a photographic-like
image. DCMTK 3.6.7 has no JPEG 2000, HTJ2K or JPEG XL decoder: those are decoded with pydicom
(pylibjpeg-openjpeg) and imagecodecs (JPEG XL, which pydicom 3.0 cannot decode).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import imagecodecs
import numpy as np
import pydicom
import pytest
from pydicom.encaps import generate_frames

from izer.encode import TransferSyntax
from tests.encode.interop_cases import (
    CATALOGUE,
    DCIODVFY_CANNOT_PARSE,
    DCM2PNM,
    DCMJ2PNM,
    DCML2PNM,
    DCMTK_DECOMPRESS,
    DCMTK_RENDERER,
    InstanceMaker,
    makers,
    peak_of,
    png_size,
    psnr,
    small_pdf,
    write,
)
from tests.helpers.binaries import require_binaries
from tests.helpers.validators import dciodvfy

TS = TransferSyntax
JPEG_XL = {TS.JPEG_XL_LOSSLESS, TS.JPEG_XL}

PIXEL_MAKERS = makers(lambda maker: maker.source is not None)
DCMTK_DECODES = [m for m in PIXEL_MAKERS if m.transfer_syntax in DCMTK_DECOMPRESS]
DCMTK_CANNOT = [m for m in PIXEL_MAKERS if m.transfer_syntax not in DCMTK_DECOMPRESS]


def _ids(selected: list[InstanceMaker]) -> list[str]:
    return [maker.name for maker in selected]


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every catalogue instance saved once, by maker name."""
    folder = tmp_path_factory.mktemp("interop-dcmtk")
    return {name: write(maker.build(), folder, name) for name, maker in CATALOGUE.items()}


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    require_binaries(argv[0])
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)


def _assert_pixels_match(maker: InstanceMaker, decoded: np.ndarray, bits_stored: int) -> None:
    source = maker.source()
    assert decoded.size == source.size, f"{decoded.shape} decoded, {source.shape} encoded"
    decoded = decoded.reshape(source.shape)
    assert decoded.dtype == source.dtype
    if maker.lossless:
        assert np.array_equal(decoded, source), (
            f"{maker.name}: lossless decode differs in {np.count_nonzero(decoded != source)} "
            "samples"
        )
    else:
        value = psnr(source, decoded, peak_of(source, bits_stored))
        assert value >= maker.min_psnr_db, f"{maker.name}: PSNR {value:.2f} dB"


def _decode_jpeg_xl(ds: pydicom.Dataset) -> np.ndarray:
    frames = generate_frames(ds.PixelData, number_of_frames=int(ds.get("NumberOfFrames", 1)))
    return np.stack([imagecodecs.jpegxl_decode(frame) for frame in frames])


@pytest.mark.parametrize("maker", DCMTK_DECODES, ids=_ids(DCMTK_DECODES))
def test_dcmtk_decompresses_to_the_source_pixels(
    maker: InstanceMaker, written: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "native.dcm"
    proc = _run([*DCMTK_DECOMPRESS[maker.transfer_syntax], str(written[maker.name]), str(out)])
    assert proc.returncode == 0, proc.stderr
    native = pydicom.dcmread(out)
    assert native.file_meta.TransferSyntaxUID == TS.EXPLICIT_VR_LITTLE_ENDIAN
    # dcmdjpeg turns lossy YBR_FULL_422 back into RGB; nothing else changes colour space.
    assert native.PhotometricInterpretation in ("RGB", "MONOCHROME2")
    _assert_pixels_match(maker, native.pixel_array, native.BitsStored)


@pytest.mark.parametrize("maker", PIXEL_MAKERS, ids=_ids(PIXEL_MAKERS))
def test_pydicom_or_imagecodecs_decode_every_instance(
    maker: InstanceMaker, written: dict[str, Path]
) -> None:
    ds = pydicom.dcmread(written[maker.name])
    assert ds.file_meta.TransferSyntaxUID == maker.transfer_syntax
    # pydicom returns RGB for YBR_FULL_422 (converted) and for YBR_RCT / YBR_ICT (the JPEG
    # 2000 decoder undoes the multiple-component transform itself); it has no JPEG XL decoder.
    decoded = _decode_jpeg_xl(ds) if maker.transfer_syntax in JPEG_XL else ds.pixel_array
    _assert_pixels_match(maker, decoded, ds.BitsStored)


@pytest.mark.parametrize("maker", DCMTK_DECODES, ids=_ids(DCMTK_DECODES))
def test_dcmtk_renders_the_first_frame(
    maker: InstanceMaker, written: dict[str, Path], tmp_path: Path
) -> None:
    png = tmp_path / "frame.png"
    renderer = DCMTK_RENDERER[maker.transfer_syntax]
    proc = _run([renderer, "+on", str(written[maker.name]), str(png)])
    assert proc.returncode == 0, proc.stderr
    assert png_size(png.read_bytes()) == maker.source().shape[1:3]


@pytest.mark.parametrize("maker", DCMTK_CANNOT, ids=_ids(DCMTK_CANNOT))
def test_dcmtk_3_6_7_cannot_render_jpeg_2000_htj2k_or_jpeg_xl(
    maker: InstanceMaker, written: dict[str, Path], tmp_path: Path
) -> None:
    # None of the three renderers has a decoder for these; pydicom decodes them above. For
    # JPEG 2000 DCMTK says it "can't determine 'PhotometricInterpretation' of decompressed
    # image"; HTJ2K and JPEG XL are unknown syntaxes to it: "no pixel data found".
    png = tmp_path / "frame.png"
    for renderer in (DCM2PNM, DCMJ2PNM, DCML2PNM):
        proc = _run([renderer, "+on", str(written[maker.name]), str(png)])
        assert proc.returncode != 0, f"{renderer} now decodes {maker.transfer_syntax.name}"
        assert proc.stderr.startswith("E: ")
        assert not png.exists()


PDFS = makers(lambda maker: maker.payload == ("EncapsulatedDocument",))


@pytest.mark.parametrize("maker", PDFS, ids=_ids(PDFS))
def test_dcmtk_dcm2pdf_gives_back_the_pdf(
    maker: InstanceMaker, written: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "document.pdf"
    proc = _run(["/usr/bin/dcm2pdf", str(written[maker.name]), str(out)])
    assert proc.returncode == 0, proc.stderr
    # The DICOM value is padded to even length; Encapsulated Document Length gives the PDF's.
    assert out.read_bytes() == small_pdf()


PARSED_BY_DCIODVFY = [
    m for m in CATALOGUE.values() if m.transfer_syntax not in DCIODVFY_CANNOT_PARSE
]


@pytest.mark.parametrize("maker", PARSED_BY_DCIODVFY, ids=_ids(PARSED_BY_DCIODVFY))
def test_dciodvfy_recognises_the_iod_without_errors(
    maker: InstanceMaker, written: dict[str, Path]
) -> None:
    result = dciodvfy(written[maker.name])
    assert result.iod == maker.iod
    assert result.ok, str(result)
