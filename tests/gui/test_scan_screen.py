"""The technician's scan screen: scan into a QC strip, check the pages, store them.

Real sources: a folder of 12-bit PNG films (the engine's watched-folder source) and the SANE
test backend; the pages end up in the engine's store as instances of the procedure's study.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import cv2
import numpy as np
import pydicom
import pytest
from PyQt6.QtCore import QDate, Qt

from izer.engine import Engine
from izer.gui.screens.scan import ScanScreen
from izer.model import Patient, ProcedureState, Sex
from tests.helpers.validators import dciodvfy

PATIENT = Patient("FILM-0042", "Nakamura^Aiko", "19580312", Sex.FEMALE)
OTHER = Patient("FILM-0043", "Lindqvist^Per", "19610704", Sex.MALE)
#: Three films told apart by their size (rows, columns).
SIZES = [(120, 80), (90, 100), (60, 140)]


def write_films(folder: Path, sizes: list[tuple[int, int]], start: int = 0) -> None:
    folder.mkdir(exist_ok=True)
    for index, (rows, columns) in enumerate(sizes, start=start):
        ramp = (np.arange(rows * columns, dtype=np.uint32) * 7 % 4096).astype(np.uint16)
        cv2.imwrite(str(folder / f"film-{index}.png"), ramp.reshape(rows, columns))


@pytest.fixture
def screen(bridge, qtbot) -> ScanScreen:
    made = ScanScreen(bridge)
    made.folder_idle_s = 0.4
    made.discover_devices = False  # SANE and camera discovery take seconds
    qtbot.addWidget(made)
    made.resize(1300, 760)
    made.show()
    made.on_shown()
    return made


def scan_all(screen: ScanScreen, qtbot, expected: int) -> None:
    qtbot.mouseClick(screen.scan_button, Qt.MouseButton.LeftButton)
    try:
        qtbot.waitUntil(
            lambda: screen.strip.count() == expected and not screen._busy, timeout=20000
        )
    except Exception as exc:
        message = f"scan did not finish; the screen says: {screen.status.text()}"
        raise AssertionError(message) from exc


def select(screen: ScanScreen, row: int) -> None:
    screen.select_page(row + 1)


def test_without_a_procedure_the_screen_points_to_the_worklist(screen: ScanScreen, qtbot) -> None:
    assert screen.pages_stack.currentIndex() == 0
    with qtbot.waitSignal(screen.navigate, timeout=2000) as asked:
        qtbot.mouseClick(screen.to_worklist, Qt.MouseButton.LeftButton)
    assert asked.args == ["worklist"]


def test_a_folder_batch_is_checked_then_stored_with_the_exam_date(
    screen: ScanScreen, engine: Engine, qtbot, tmp_path: Path
) -> None:
    films = tmp_path / "digitizer"
    write_films(films, SIZES)
    procedure = engine.select_patient(PATIENT)
    qtbot.waitUntil(lambda: screen.pages_stack.currentIndex() == 1, timeout=5000)
    assert "Nakamura" in screen.target.text().upper() or "NAKAMURA" in screen.target.text()
    screen.source.setEditText(f"folder:{films}")
    scan_all(screen, qtbot, 3)
    assert [p.pixels.shape for p in screen.pages()] == SIZES
    assert not screen.store_button.isEnabled()  # no exam date yet

    select(screen, 0)
    qtbot.mouseClick(screen.rotate_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: screen.pages()[0].pixels.shape == (80, 120), timeout=5000)
    select(screen, 2)
    qtbot.keyClick(screen.strip.view, Qt.Key.Key_Left, Qt.KeyboardModifier.ControlModifier)
    assert [p.pixels.shape for p in screen.pages()] == [(80, 120), (60, 140), (90, 100)]
    assert [screen.strip.label(str(k)) for k in screen.page_keys()] == ["1", "2", "3"]
    select(screen, 2)
    qtbot.mouseClick(screen.delete_button, Qt.MouseButton.LeftButton)
    assert screen.strip.count() == 2

    screen.exam_date.setDate(QDate(2019, 5, 4))
    assert screen.store_button.isEnabled()
    qtbot.mouseClick(screen.store_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: screen.strip.count() == 0 and not screen._busy, timeout=20000)

    assert engine.state is ProcedureState.IN_PROGRESS  # storing started the procedure
    records = sorted(engine.store.instances(procedure.study_uid), key=lambda r: r.instance_number)
    assert len(records) == 2
    headers = [pydicom.dcmread(r.path) for r in records]
    assert [(int(h.Rows), int(h.Columns)) for h in headers] == [(80, 120), (60, 140)]
    for header in headers:
        assert header.PatientID == "FILM-0042"
        assert header.StudyInstanceUID == procedure.study_uid
        assert header.AcquisitionDate == "20190504"
        assert str(header.AcquisitionDateTime).startswith("20190504")
        assert header.ConversionType == "DF" and header.BodyPartExamined == "CHEST"
        assert int(header.BitsStored) == 12
    assert len({h.SeriesInstanceUID for h in headers}) == 1
    assert "Stored" in screen.status.text()
    checked = dciodvfy(records[0].path)
    assert checked.errors == [], str(checked)


def test_rescan_replaces_only_the_selected_page(
    screen: ScanScreen, engine: Engine, qtbot, tmp_path: Path
) -> None:
    films = tmp_path / "digitizer"
    write_films(films, SIZES[:2])
    engine.select_patient(PATIENT)
    screen.source.setEditText(f"folder:{films}")
    scan_all(screen, qtbot, 2)
    write_films(films, [(50, 50)], start=7)  # the film scanned again
    select(screen, 0)
    qtbot.mouseClick(screen.rescan_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: screen.pages()[0].pixels.shape == (50, 50), timeout=20000)
    qtbot.waitUntil(lambda: not screen._busy, timeout=20000)
    assert [p.pixels.shape for p in screen.pages()] == [(50, 50), (90, 100)]


def test_pages_of_one_patient_cannot_go_to_another(
    screen: ScanScreen, engine: Engine, qtbot, tmp_path: Path
) -> None:
    films = tmp_path / "digitizer"
    write_films(films, SIZES[:1])
    engine.select_patient(PATIENT)
    screen.source.setEditText(f"folder:{films}")
    screen.exam_date.setDate(QDate(2020, 1, 2))
    scan_all(screen, qtbot, 1)
    assert screen.store_button.isEnabled()
    engine.release()
    engine.select_patient(OTHER)
    qtbot.waitUntil(lambda: not screen.store_button.isEnabled(), timeout=5000)
    assert "another patient" in screen.status.text()
    assert screen.exam() == date(2020, 1, 2)  # kept with the pages it belongs to

    screen.select_page(1)
    qtbot.mouseClick(screen.delete_button, Qt.MouseButton.LeftButton)
    engine.release()
    engine.select_patient(PATIENT)
    qtbot.waitUntil(lambda: screen.exam() is None, timeout=5000)  # a new patient's date


def test_a_document_from_the_sane_test_scanner_becomes_one_pdf(
    screen: ScanScreen, engine: Engine, qtbot
) -> None:
    procedure = engine.select_patient(PATIENT)
    qtbot.mouseClick(screen.findChild(type(screen.scan_button), "preset_document"),
                     Qt.MouseButton.LeftButton)  # fmt: skip
    assert screen.preset.key == "document"
    screen.dpi.setValue(75)
    # the test backend keeps options between opens in one process: ask for the flatbed
    screen.sane_options = {"test-picture": "Color pattern", "source": "Flatbed"}
    screen.source.setEditText("sane:test:0")
    scan_all(screen, qtbot, 1)
    assert screen.pages()[0].pixels.ndim == 3  # colour document
    screen.exam_date.setDate(QDate(2023, 11, 30))
    qtbot.mouseClick(screen.store_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: screen.strip.count() == 0 and not screen._busy, timeout=20000)
    (record,) = engine.store.instances(procedure.study_uid)
    header = pydicom.dcmread(record.path)
    assert header.Modality == "DOC" and header.ConversionType == "SD"
    assert bytes(header.EncapsulatedDocument).startswith(b"%PDF-")
    assert str(header.AcquisitionDateTime).startswith("20231130")
    checked = dciodvfy(record.path)
    assert checked.errors == [], str(checked)
    assert date(2023, 11, 30) == screen.exam()
