"""The procedure report through the engine and ``izer report``: stills of a stored study into
a PDF (read back with poppler), stored as Encapsulated PDF (checked with dciodvfy), saved, and
printed on a real CUPS scheduler (tests/report/cups_peer.py)."""

from __future__ import annotations

import dataclasses
import subprocess
import time
from pathlib import Path

import pydicom
import pytest

from izer.cli.report import main as report_main
from izer.encode import TransferSyntax, UidFactory, VLKind, vl_image
from izer.engine import Engine
from izer.engine.reporting import ReportRequest
from izer.model import Patient, Sex
from tests.encode.factories import UID_ROOT, make_context, smooth_image
from tests.helpers.binaries import require_binaries
from tests.helpers.validators import dciodvfy
from tests.report.conftest import cups  # noqa: F401  (the CUPS scheduler fixture)
from tests.report.cups_peer import PRINTER, CupsPeer

JAPANESE = Patient("RPT-0001", "Yamada^Taro=山田^太郎", "19610402", Sex.MALE)


def _stills(engine: Engine, count: int, *, patient: Patient = JAPANESE) -> list[str]:
    """``count`` VL Endoscopic stills of one new study in the engine's store; their UIDs."""
    uids = UidFactory(UID_ROOT)
    base = make_context(1, "ES")
    base = dataclasses.replace(base, study=dataclasses.replace(base.study, patient=patient))
    found = []
    for n in range(1, count + 1):
        context = dataclasses.replace(base, sop_instance_uid=uids.new(), instance_number=n)
        ds = vl_image(
            smooth_image(48, 64, colour=True, seed=n),
            context,
            kind=VLKind.ENDOSCOPIC,
            transfer_syntax=TransferSyntax.JPEG_BASELINE,
        )
        found.append(engine.store.add_dataset(ds).sop_instance_uid)
    return found


def _pdf_text(pdf: Path) -> str:
    tools = require_binaries("pdftotext")
    return subprocess.run(
        [str(tools["pdftotext"]), "-enc", "UTF-8", str(pdf), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def _pages(pdf: Path) -> int:
    tools = require_binaries("pdfinfo")
    info = subprocess.run(
        [str(tools["pdfinfo"]), str(pdf)], capture_output=True, text=True, check=True
    ).stdout
    return int(next(line.split()[-1] for line in info.splitlines() if line.startswith("Pages:")))


def test_report_of_a_stored_study_has_every_still_and_the_header(engine, tmp_path) -> None:
    uids = _stills(engine, 7)
    study = engine.store.instances()[0].study_instance_uid
    result = engine.report.build(
        ReportRequest(study, findings="Polyp removed.\nFollow-up in 5 years.", clinician="Dr. X")
    )
    assert result.pictures == uids
    pdf = engine.report.save(result.pdf, tmp_path / "report.pdf")
    text = _pdf_text(pdf)
    assert "RPT-0001" in text
    assert "山田" in text  # the ideographic name, set in the embedded CJK font
    assert "Follow-up in 5 years." in text
    assert "Dr. X" in text
    assert _pages(pdf) >= 2  # 7 stills on 6 per page, plus the findings


def test_chosen_stills_layout_and_anonymized_variant(engine, tmp_path) -> None:
    uids = _stills(engine, 5)
    study = engine.store.instances()[0].study_instance_uid
    chosen = (uids[3], uids[0])
    result = engine.report.build(
        ReportRequest(study, stills=chosen, layout="landscape-1", anonymized=True)
    )
    assert result.pictures == list(chosen)
    pdf = engine.report.save(result.pdf, tmp_path / "anon.pdf")
    assert _pages(pdf) == 2  # one still per landscape page, no findings
    text = _pdf_text(pdf)
    assert "RPT-0001" not in text
    assert "山田" not in text and "YAMADA" not in text
    assert b"RPT-0001" not in result.pdf


def test_bad_requests_are_refused_with_the_reason(engine) -> None:
    _stills(engine, 1)
    study = engine.store.instances()[0].study_instance_uid
    with pytest.raises(ValueError, match=r"no study 1\.2\.3\.4"):
        engine.report.build(ReportRequest("1.2.3.4"))
    with pytest.raises(ValueError, match="not in study"):
        engine.report.build(ReportRequest(study, stills=("1.2.3.999",)))
    with pytest.raises(ValueError, match="portrait-6"):
        engine.report.build(ReportRequest(study, layout="portrait-5"))


def test_a_document_in_the_study_is_left_out_or_refused(engine) -> None:
    uids = _stills(engine, 2)
    study = engine.store.instances()[0].study_instance_uid
    stored = engine.report.store(engine.report.build(ReportRequest(study)).pdf, study)
    result = engine.report.build(ReportRequest(study))
    assert result.pictures == uids
    assert any(stored.sop_instance_uid in line for line in result.skipped)
    with pytest.raises(ValueError, match="not a picture"):
        engine.report.build(ReportRequest(study, stills=(stored.sop_instance_uid,)))


def test_stored_report_is_a_valid_encapsulated_pdf_in_the_study(engine) -> None:
    _stills(engine, 3)
    first = engine.store.instances()[0]
    study = first.study_instance_uid
    result = engine.report.build(ReportRequest(study, findings="Normal."))
    record = engine.report.store(result.pdf, study)
    assert record.study_instance_uid == study
    assert record.series_instance_uid != first.series_instance_uid
    check = dciodvfy(record.path)
    assert check.iod == "EncapsulatedPDF"
    assert check.errors == [], check.errors
    ds = pydicom.dcmread(record.path)
    original = pydicom.dcmread(first.path, stop_before_pixels=True)
    assert ds.Modality == "DOC"
    assert ds.ConversionType == "WSD"
    assert ds.PatientName == original.PatientName
    assert ds.PatientID == original.PatientID
    assert ds.AccessionNumber == original.AccessionNumber
    assert ds.SeriesNumber == 2
    assert ds.DocumentTitle == engine.settings.report.title
    assert ds.EncapsulatedDocument[: ds.EncapsulatedDocumentLength] == result.pdf


def test_report_command_saves_stores_and_prints(
    settings_path,
    engine,
    tmp_path,
    capsys,
    monkeypatch,
    cups: CupsPeer,  # noqa: F811
) -> None:
    _stills(engine, 2)
    study = engine.store.instances()[0].study_instance_uid
    engine.close()
    findings = tmp_path / "findings.txt"
    findings.write_text("Findings in a file: ulcer, Forrest III.\n", encoding="utf-8")
    out = tmp_path / "out" / "r.pdf"
    out.parent.mkdir()
    monkeypatch.setenv("CUPS_SERVER", cups.server)
    status = report_main(
        [
            "--config",
            str(settings_path),
            study,
            "--findings",
            str(findings),
            "--out",
            str(out),
            "--store",
            "--print",
            PRINTER,
        ]
    )
    captured = capsys.readouterr()
    assert status == 0, captured.err
    assert "Forrest III" in _pdf_text(out)
    assert "stored as Encapsulated PDF" in captured.out
    assert "sent to the printer" in captured.out
    printed = cups.output(PRINTER)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (
        printed.is_file() and printed.read_bytes() == out.read_bytes()
    ):
        time.sleep(0.1)  # the scheduler prints in the background
    assert printed.read_bytes() == out.read_bytes(), cups.log_tail()


def test_report_command_errors_are_one_line(settings_path, tmp_path, capsys) -> None:
    status = report_main(["--config", str(settings_path), "1.2.3.4", "--out", str(tmp_path / "x")])
    assert status == 2
    err = capsys.readouterr().err
    assert err.startswith("izer: no study 1.2.3.4")
    assert not (tmp_path / "x").exists()
