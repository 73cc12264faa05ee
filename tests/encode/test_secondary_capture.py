"""Secondary Capture constructors: the options that change the header, and their errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest

from izer.capture import SyntheticSource
from izer.encode import (
    ConversionType,
    EquipmentContext,
    FrameAxis,
    InstanceCheckError,
    InstanceContext,
    SeriesContext,
    StudyContext,
    TransferSyntax,
    multiframe_secondary_capture,
    secondary_capture_image,
)
from izer.model import Patient, Sex
from tests.helpers.validators import dciodvfy

ROOT = "1.2.826.0.1.3680043.10.1452.77"
RGB = SyntheticSource(160, 120).frame(5)
GRAY12 = (np.arange(120 * 160, dtype=np.uint32).reshape(120, 160) % 4096).astype(np.uint16)


def _context(number: int = 1, name: str = "Doe^Jane", charset: str = "ISO_IR 192"):
    return InstanceContext(
        study=StudyContext(
            Patient("SC-0001", name, "19800101", Sex.FEMALE),
            f"{ROOT}.1",
            "20261122",
            "101500",
            accession_number="ACC-SC",
            study_id="7",
        ),
        series=SeriesContext(f"{ROOT}.2", 3, "OT"),
        equipment=EquipmentContext("izer project", "izer", "0.1.0", "ROOM1"),
        sop_instance_uid=f"{ROOT}.3.{number}",
        instance_number=number,
        character_set=charset,
    )


def _valid(ds, tmp_path: Path, iod: str) -> pydicom.Dataset:
    path = tmp_path / f"{ds.SOPInstanceUID}.dcm"
    ds.save_as(path, enforce_file_format=True)
    result = dciodvfy(path)
    assert result.iod == iod
    assert result.ok, str(result)
    return pydicom.dcmread(path)


def test_digitized_film_carries_the_scanner_spacing(tmp_path: Path) -> None:
    ds = secondary_capture_image(
        GRAY12,
        _context(),
        conversion_type=ConversionType.DIGITIZED_FILM,
        bits_stored=12,
        scanner_dpi=254,
    )
    back = _valid(ds, tmp_path, "SCImage")
    assert back.ConversionType == "DF"
    assert [float(v) for v in back.NominalScannedPixelSpacing] == [0.1, 0.1]
    assert (back.BitsAllocated, back.BitsStored, back.HighBit) == (16, 12, 11)
    assert np.array_equal(back.pixel_array, GRAY12)


def test_digitized_film_without_resolution_says_what_is_missing() -> None:
    with pytest.raises(ValueError, match="needs the scanner's resolution in dpi"):
        secondary_capture_image(
            GRAY12, _context(), conversion_type=ConversionType.DIGITIZED_FILM, bits_stored=12
        )
    with pytest.raises(ValueError, match="only belongs to Conversion Type DF, SD or SI"):
        secondary_capture_image(RGB, _context(), scanner_dpi=300)


@pytest.mark.parametrize("conversion", list(ConversionType))
def test_every_conversion_type_is_valid(conversion: ConversionType, tmp_path: Path) -> None:
    dpi = 300.0 if conversion is ConversionType.DIGITIZED_FILM else None
    ds = secondary_capture_image(RGB, _context(), conversion_type=conversion, scanner_dpi=dpi)
    assert _valid(ds, tmp_path, "SCImage").ConversionType == conversion.value


def test_multiframe_true_colour_along_time(tmp_path: Path) -> None:
    frames = np.stack([SyntheticSource(160, 120).frame(i) for i in range(4)])
    ds = multiframe_secondary_capture(
        frames, _context(), transfer_syntax=TransferSyntax.JPEG_BASELINE, frame_time_ms=1000 / 30
    )
    back = _valid(ds, tmp_path, "MultiframeTrueColorSCImage")
    assert back.NumberOfFrames == 4
    assert back.FrameIncrementPointer == 0x00181063
    assert back.FrameTime == "33.3333333333333"
    assert back.LossyImageCompression == "01"
    assert back.LossyImageCompressionMethod == "ISO_10918_1"


def test_multiframe_word_pages_of_a_film_batch(tmp_path: Path) -> None:
    frames = np.stack([GRAY12, GRAY12[::-1]])
    ds = multiframe_secondary_capture(
        frames,
        _context(),
        transfer_syntax=TransferSyntax.JPEG_LS_LOSSLESS,
        bits_stored=12,
        frame_axis=FrameAxis.PAGE,
        conversion_type=ConversionType.DIGITIZED_FILM,
        scanner_dpi=150,
    )
    back = _valid(ds, tmp_path, "MultiframeGrayscaleWordSCImage")
    assert list(back.PageNumberVector) == [1, 2]
    assert (back.RescaleType, back.PresentationLUTShape) == ("US", "IDENTITY")
    assert np.array_equal(back.pixel_array, frames)


def test_multiframe_rules_are_explained() -> None:
    with pytest.raises(ValueError, match="needs 9 to 16 bits stored"):
        multiframe_secondary_capture(
            np.stack([GRAY12]), _context(), bits_stored=8, frame_axis=FrameAxis.PAGE
        )
    with pytest.raises(ValueError, match="frame_time_ms"):
        multiframe_secondary_capture(np.stack([RGB, RGB]), _context())


def test_a_name_the_character_set_cannot_hold_is_refused() -> None:
    with pytest.raises(InstanceCheckError, match="PatientName"):
        secondary_capture_image(RGB, _context(name="Иванов^Иван", charset="ISO_IR 100"))


def test_latin1_is_written_as_latin1(tmp_path: Path) -> None:
    ds = secondary_capture_image(RGB, _context(name="Müller^Jürgen", charset="ISO_IR 100"))
    back = _valid(ds, tmp_path, "SCImage")
    assert back.SpecificCharacterSet == "ISO_IR 100"
    assert str(back.PatientName) == "Müller^Jürgen"
    raw = (tmp_path / f"{ds.SOPInstanceUID}.dcm").read_bytes()
    assert "Müller".encode("latin-1") in raw
