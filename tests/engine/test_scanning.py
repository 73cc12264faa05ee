"""Scanning a batch into a procedure: a SANE feeder and a watched folder, for real.

Every page becomes a Secondary Capture image (Conversion Type DF, Nominal Scanned Pixel
Spacing from the resolution) at full depth, and passes dciodvfy.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pydicom
import pytest

from izer.capture.scanners import SaneScanner, ScanMode
from izer.cli.main import main
from izer.config import Settings
from izer.engine import Engine
from izer.model import Patient, Sex
from tests.helpers.validators import dciodvfy

PATIENT = Patient("SCAN-0001", "Scan^Batch", "19600101", Sex.MALE)
#: The SANE test backend's feeder holds 10 sheets; a plain pattern, no errors injected.
CLEAN = {"read-return-value": "Default", "test-picture": "Color pattern"}


def test_a_feeder_batch_becomes_one_series_of_16_bit_film_images(settings: Settings) -> None:
    scanner = SaneScanner(
        "test:0", dpi=50, mode=ScanMode.GRAY, depth=16, source="adf", options=CLEAN
    )
    with Engine.open(settings) as engine:
        engine.select_patient(PATIENT)
        engine.start()
        pages = []
        records = engine.capture.scan(scanner, on_page=lambda record, page: pages.append(page))

    assert len(records) == len(pages) == 10
    headers = [pydicom.dcmread(r.path) for r in records]
    assert len({h.SeriesInstanceUID for h in headers}) == 1
    assert [int(h.InstanceNumber) for h in headers] == list(range(1, 11))
    first = headers[0]
    assert first.ConversionType == "DF" and first.BitsStored == 16
    assert [float(v) for v in first.NominalScannedPixelSpacing] == pytest.approx([0.508, 0.508])
    assert np.array_equal(first.pixel_array, pages[0].pixels)
    result = dciodvfy(records[0].path)
    assert result.errors == [], str(result)


def test_izer_capture_takes_a_watched_folder_of_12_bit_films(tmp_path: Path, capsys) -> None:
    films = tmp_path / "digitizer"
    films.mkdir()
    ramp = (np.arange(300 * 200, dtype=np.uint32) % 4096).astype(np.uint16).reshape(300, 200)
    for index in range(3):
        cv2.imwrite(str(films / f"film-{index}.png"), np.roll(ramp, index, axis=0))
    out = tmp_path / "out"

    argv = [
        "capture",
        "--source",
        f"folder:{films}",
        "--idle",
        "1.5",
        "--dpi",
        "150",
        "--patient-name",
        "Film^Batch",
        "--patient-id",
        "FILM-1",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "3 page(s) stored" in printed
    files = sorted(out.glob("*.dcm"))
    assert len(files) == 3
    for path in files:
        ds = pydicom.dcmread(path)
        assert ds.ConversionType == "DF" and ds.BitsStored == 12
        assert ds.pixel_array.max() == 4095
        result = dciodvfy(path)
        assert result.errors == [], str(result)
    assert sorted(p.name for p in films.iterdir() if p.suffix == ".png") == [
        "film-0.png",
        "film-1.png",
        "film-2.png",
    ]  # the inputs are left as they were


def test_scanning_needs_a_capturing_procedure(engine: Engine, tmp_path: Path) -> None:
    from izer.model import TransitionError

    with pytest.raises(TransitionError):
        engine.capture.scan(f"folder:{tmp_path}")
