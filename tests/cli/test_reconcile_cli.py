"""``izer reconcile``: a study captured under a temporary patient, corrected from the shell."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest

from izer.cli.reconcile import main as reconcile_main
from izer.config import load_settings
from izer.engine import Engine
from izer.model import Patient, Sex
from tests.helpers.validators import dciodvfy

TEMPORARY = Patient("EMERG-0099", "Unknown^Trauma", "", Sex.UNKNOWN)


def _reconcile(settings_path: Path, *args: str) -> int:
    return reconcile_main([*args, "--config", str(settings_path)])


@pytest.fixture
def emergency_study(settings_path: Path) -> tuple[str, list[Path]]:
    with Engine.open(load_settings(settings_path).settings) as engine:
        procedure = engine.select_patient(TEMPORARY, accession_number="EM-9")
        engine.start()
        engine.capture_still()
        engine.capture_still()
        engine.review()
        engine.complete()
        engine.release()
        return procedure.study_uid, [r.path for r in engine.store.instances(procedure.study_uid)]


def test_reconcile_prints_what_changed_per_instance(
    settings_path: Path, emergency_study: tuple[str, list[Path]], capsys: pytest.CaptureFixture
) -> None:
    study, paths = emergency_study
    status = _reconcile(
        settings_path,
        study,
        "--patient-id", "PAT-5150",
        "--patient-name", "Roe^Richard",
        "--birth-date", "19601231",
        "--sex", "M",
        "--issuer", "HOSP-B",
        "--accession", "ACC-5150",
        "--reason", "coerce",
    )  # fmt: skip
    out = capsys.readouterr().out
    assert status == 0, out
    for path in paths:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        assert f"{ds.SOPInstanceUID}: PatientName: 'Unknown^Trauma' -> 'Roe^Richard'" in out
        assert (ds.PatientID, ds.IssuerOfPatientID, ds.PatientSex) == ("PAT-5150", "HOSP-B", "M")
        item = ds.OriginalAttributesSequence[-1]
        assert item.ReasonForTheAttributeModification == "COERCE"
        assert item.ModifiedAttributesSequence[0].AccessionNumber == "EM-9"
        assert dciodvfy(path).errors == []
    assert "IssuerOfPatientID: (absent) -> 'HOSP-B'" in out
    assert "2 reconciled, 0 unchanged, 0 failed" in out

    assert _reconcile(settings_path, study, "--patient-id", "PAT-5150", "--patient-name",
                      "Roe^Richard", "--birth-date", "19601231", "--sex", "m", "--issuer",
                      "HOSP-B") == 0  # fmt: skip
    assert "0 reconciled, 2 unchanged, 0 failed" in capsys.readouterr().out


def test_reconcile_refuses_bad_input_and_reports_failures(
    settings_path: Path, emergency_study: tuple[str, list[Path]], capsys: pytest.CaptureFixture
) -> None:
    study, paths = emergency_study
    before = [path.read_bytes() for path in paths]
    assert _reconcile(settings_path, study, "--patient-id", "P1", "--patient-name", "A^B",
                      "--birth-date", "1960-12-31") == 2  # fmt: skip
    assert "PatientBirthDate" in capsys.readouterr().err
    assert _reconcile(settings_path, "1.2.3.4", "--patient-id", "P1", "--patient-name", "A") == 2
    assert "no study 1.2.3.4" in capsys.readouterr().err
    assert [path.read_bytes() for path in paths] == before

    paths[0].unlink()
    paths[0].mkdir()
    status = _reconcile(settings_path, study, "--patient-id", "P1", "--patient-name", "A^B")
    captured = capsys.readouterr()
    assert status == 1
    assert "FAILED, left as it was" in captured.out
    assert "1 reconciled, 0 unchanged, 1 failed" in captured.out
    assert "1 instance(s) could not be reconciled" in captured.err
    assert pydicom.dcmread(paths[1], stop_before_pixels=True).PatientID == "P1"
