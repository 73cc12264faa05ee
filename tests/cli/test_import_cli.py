"""``izer import``: list a media, import it as is or reconciled, send it; bad media refused."""

from __future__ import annotations

import io
import shutil
import sys
from pathlib import Path

import pydicom
import pytest

from izer.cli.import_cmd import main as import_main
from izer.config import load_settings
from izer.engine import Engine
from tests.importing import write_media
from tests.peers.harness import PeerSet
from tests.worklist import worklist_items


@pytest.fixture
def config(write_settings, tmp_path: Path) -> Path:
    """Settings with a store and a folder destination ``nas``."""
    (tmp_path / "nas").mkdir()
    return write_settings(
        f"""
        [station]
        ae_title = "IZERTEST"
        uid_root = "1.2.826.0.1.3680043.10.1452"
        station_name = "IMPORT1"

        [storage]
        folder = "{(tmp_path / "store").as_posix()}"

        [network]
        connect_timeout_s = 3
        acse_timeout_s = 5
        dimse_timeout_s = 10
        network_timeout_s = 10

        [[destinations]]
        name = "nas"
        kind = "folder"
        folder = "{(tmp_path / "nas").as_posix()}"
        """
    )


@pytest.fixture
def media(tmp_path: Path) -> Path:
    folder = tmp_path / "cd"
    write_media(folder)
    return folder


def _run(config: Path, *args: str | Path) -> int:
    return import_main([*(str(a) for a in args), "--config", str(config)])


def _stored(config: Path) -> list[pydicom.Dataset]:
    with Engine.open(load_settings(config).settings) as engine:
        return [pydicom.dcmread(r.path, stop_before_pixels=True) for r in engine.store.instances()]


def test_list_shows_patients_and_studies_and_imports_nothing(
    config: Path, media: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(config, media, "--list") == 0
    out = capsys.readouterr().out
    assert f"DICOMDIR {media / 'DICOMDIR'}: 2 patient(s), 2 study(ies)" in out
    assert "patient MUELLER^HANS, ID EXT-4711, born 19610315, M" in out
    assert "patient SMITH ANNA, ID EXT-0815, born 19800101, F" in out
    assert "[1] 20231001, Gastroscopy, ES/OT, 2 series, 2 file(s)" in out
    assert "[2] 20231107, Gastroscopy, ES/PR, 2 series, 3 file(s)" in out
    assert "accession EXTACC1, Praxis Süd" in out
    assert _stored(config) == []


def test_import_as_is_and_send_to_a_folder(
    config: Path, media: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(config, media, "--send", "nas") == 0
    out = capsys.readouterr().out
    assert "study 1: imported 2 instance(s) as study" in out
    assert "study 2: imported 3 instance(s) as study" in out
    assert "study 2: queued 3 job(s) for nas" in out
    assert "5 of 5 job(s) delivered" in out and "2 of 2 study(ies) imported" in out
    stored = _stored(config)
    assert len(stored) == 5
    assert all(ds.ContributingEquipmentSequence[0].StationName == "IMPORT1" for ds in stored)
    assert len([p for p in (tmp_path / "nas").rglob("*") if p.is_file()]) == 5


def test_typed_demographics_reconcile_one_patient(
    config: Path, media: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    given = ("--patient-id", "IZT-7", "--patient-name", "Müller^Hans", "--birth-date", "19610315")
    assert _run(config, media, *given) == 2
    assert "would merge several patients" in capsys.readouterr().err
    assert _run(config, media, "--study", "2", *given, "--sex", "m", "--accession", "ACC7") == 0
    out = capsys.readouterr().out
    assert "study 2: reconciled to Müller^Hans, ID IZT-7, born 19610315, M: 3 instance(s)" in out
    assert "1 of 1 study(ies) imported" in out
    stored = _stored(config)
    assert {(ds.PatientID, ds.AccessionNumber) for ds in stored} == {("IZT-7", "ACC7")}
    for ds in stored:
        old = ds.OriginalAttributesSequence[0].ModifiedAttributesSequence[0]
        assert (str(old.PatientName), old.PatientID) == ("MUELLER^HANS", "EXT-4711")
    assert _run(config, media, "--study", "2") == 1
    assert "already in the local store" in capsys.readouterr().err
    assert _run(config, media, "--study", "2", "--new-uids") == 0


def test_reconcile_needs_a_pick_when_nobody_can_be_asked(
    config: Path, media: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(config, media, "--reconcile") == 2
    captured = capsys.readouterr()
    assert "study 1 (SMITH ANNA, ID EXT-0815, born 19800101, F): 0 candidate(s)" in captured.out
    assert "no candidate picked for study(ies) 1, 2" in captured.err
    assert _run(config, media, "--reconcile", "--pick", "1") == 2
    assert "say which with STUDY:N" in capsys.readouterr().err
    assert _run(config, media, "--reconcile", "--pick", "1:3") == 2
    assert "there is no candidate 3" in capsys.readouterr().err
    assert _run(config, media, "--pick", "1:1") == 2
    assert "add --reconcile" in capsys.readouterr().err
    assert _stored(config) == []
    assert _run(config, media, "--reconcile", "--pick", "1:0", "--pick", "2:0") == 0
    assert {ds.PatientID for ds in _stored(config)} == {"EXT-0815", "EXT-4711"}


def test_on_a_terminal_the_pick_is_asked(
    config: Path, media: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    answers = iter(["7", "0", ""])  # out of range, keep the media's patient, skip
    prompts: list[str] = []

    def answer(prompt: str = "") -> str:
        prompts.append(prompt)
        return next(answers)

    monkeypatch.setattr(sys, "stdin", Terminal())
    monkeypatch.setattr("builtins.input", answer)
    assert _run(config, media, "--reconcile") == 0
    out = capsys.readouterr().out
    assert prompts[0].startswith("candidate for study 1 (0 keeps the media's patient")
    assert "type a number from 0 to 0" in out
    assert "study 2: skipped" in out and "1 of 1 study(ies) imported" in out
    assert {ds.PatientID for ds in _stored(config)} == {"EXT-0815"}


@pytest.mark.parametrize("case", ["empty", "not-dicom", "missing-files", "bad-destination"])
def test_bad_input_is_named_and_nothing_is_half_imported(
    config: Path, tmp_path: Path, case: str, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "media"
    folder.mkdir()
    args: list[str | Path] = [folder]
    if case == "not-dicom":
        (folder / "README.TXT").write_text("no images here\n")
    elif case in ("missing-files", "bad-destination"):
        write_media(folder)
        if case == "missing-files":
            shutil.rmtree(next(folder.glob("PT*")) / "ST000000" / "SE000001")
        else:
            args += ["--send", "NOWHERE"]
    status = _run(config, *args)
    captured = capsys.readouterr()
    expected = {
        "empty": (2, "holds no files"),
        "not-dicom": (2, "no DICOM file among its 1 file"),
        "missing-files": (1, "is incomplete: 1 file"),
        "bad-destination": (2, "NOWHERE"),
    }[case]
    assert (status, expected[1] in captured.err) == (expected[0], True), captured.err
    if case == "missing-files":
        assert "INCOMPLETE: 1 file(s) missing or unreadable" in captured.out
        assert "note: the DICOMDIR references 1 file(s) that are not on the media" in captured.out
        # the complete study went in, nothing of the incomplete one
        assert len({ds.StudyInstanceUID for ds in _stored(config)}) == 1
        assert _run(config, folder, "--partial", "--study", "2") == 0
    else:
        assert _stored(config) == []


@pytest.mark.peers
def test_reconcile_against_the_worklist_and_send_to_orthanc(
    write_settings, tmp_path: Path, peer_set: PeerSet, capsys: pytest.CaptureFixture[str]
) -> None:
    orthanc, wlmscpfs = peer_set["orthanc"], peer_set["wlmscpfs"]
    media = tmp_path / "cd"
    write_media(media)
    config = write_settings(
        f"""
        [station]
        ae_title = "IZERTEST"
        uid_root = "1.2.826.0.1.3680043.10.1452"

        [storage]
        folder = "{(tmp_path / "store").as_posix()}"

        [[destinations]]
        name = "RIS"
        ae_title = "{wlmscpfs.aet}"
        host = "{wlmscpfs.host}"
        port = {wlmscpfs.port}
        roles = ["worklist"]

        [[destinations]]
        name = "PACS"
        ae_title = "{orthanc.aet}"
        host = "{orthanc.host}"
        port = {orthanc.port}
        roles = ["store"]
        """
    )
    entry = {
        "patient_id": "IZT-M4-0101",
        "accession": "IZACCM4101",
        "station_aet": "IMPORTER",
        "modality": "OT",
        "patient_name": "Müller^Hans",
        "birth_date": "19610315",
        "sex": "M",
    }
    with worklist_items(peer_set, [entry]):
        assert _run(config, media, "--study", "2", "--reconcile", "--list") == 0
        out = capsys.readouterr().out
        first = out.split("  1. ", 1)[1].split("\n  2. ")[0]
        assert "Müller^Hans, ID IZT-M4-0101, born 19610315, M" in first
        assert "from worklist RIS, accession IZACCM4101" in first
        assert "name same apart from case, accents or separators" in first
        status = _run(config, media, "--study", "2", "--reconcile", "--pick", "1", "--send", "PACS")
    out = capsys.readouterr().out
    assert status == 0, out
    assert "study 2: reconciled to Müller^Hans, ID IZT-M4-0101" in out
    assert "3 of 3 job(s) delivered" in out
    stored = _stored(config)
    assert {(ds.PatientID, ds.AccessionNumber) for ds in stored} == {("IZT-M4-0101", "IZACCM4101")}
    for ds in stored:
        old = ds.OriginalAttributesSequence[0].ModifiedAttributesSequence[0]
        assert (str(old.PatientName), old.PatientID, old.AccessionNumber) == (
            "MUELLER^HANS",
            "EXT-4711",
            "EXTACC1",
        )
