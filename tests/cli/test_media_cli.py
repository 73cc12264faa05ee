"""``izer media build|burn``: from store instances to an ISO that lists and extracts with
tools we did not write (isoinfo, xorriso), opens in headless Chromium, and burns through the
outbox to a pseudo drive (xorriso ``stdio:``) that reads back identical. Patients are made up."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest

from izer.cli.media import main as media_main
from izer.config import load_settings
from izer.dispatch.media import check_fileset, read_fileset
from izer.engine import Engine
from tests.dispatch.media.conftest import media_folder, media_study_mixed  # noqa: F401 (fixtures)
from tests.helpers.binaries import require_binaries
from tests.helpers.chromium import chromium_dom


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture
def stored_study(settings_path: Path, media_study_mixed: list[Path]) -> str:  # noqa: F811
    """The mixed study (stills, PDF, H.264 and MPEG-2 video, sound) in the local store."""
    with Engine.open(load_settings(settings_path).settings) as engine:
        engine.dispatch.resolve_targets(media_study_mixed)
        return engine.store.instances()[0].study_instance_uid


def test_iso_of_a_stored_study_lists_extracts_and_opens_in_a_browser(
    settings_path,
    stored_study,
    media_study_mixed,  # noqa: F811
    tmp_path,
    capsys,
) -> None:
    tools = require_binaries("isoinfo", "xorriso")
    iso = tmp_path / "disc.iso"
    status = media_main(["--config", str(settings_path), "build", stored_study, "--iso", str(iso)])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "label:" in out and "DICOM PLUS WEB" in out
    listing = subprocess.run(
        [str(tools["isoinfo"]), "-i", str(iso), "-l"], capture_output=True, text=True, check=True
    ).stdout
    assert "DICOMDIR" in listing and "INDEX.HTM" in listing
    found = subprocess.run(
        [str(tools["xorriso"]), "-indev", str(iso), "-find", "/", "-type", "f"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "'/IHE_PDI/st01.htm'" in found
    extracted = tmp_path / "extracted"
    subprocess.run(
        [
            str(tools["xorriso"]),
            "-osirrox",
            "on",
            "-indev",
            str(iso),
            "-extract",
            "/",
            str(extracted),
        ],
        capture_output=True,
        check=True,
    )
    assert check_fileset(extracted) == []
    fileset = read_fileset(extracted)
    sources = {_md5(path) for path in media_study_mixed}
    assert {_md5(extracted.joinpath(*e.file_id)) for e in fileset.entries} == sources
    dom = chromium_dom(extracted / "IHE_PDI" / "st01.htm", tmp_path / "chromium")
    thumbnails = [img for img in dom.find("img") if "loaded" in img.classes]
    assert thumbnails, "no thumbnail loaded"
    durations = [span.words for span in dom.find("span", "duration")]
    assert any(text and text != "0:00" for text in durations), durations


def test_burn_through_the_outbox_to_a_pseudo_drive_verifies(
    settings_path, stored_study, tmp_path, capsys
) -> None:
    iso = tmp_path / "disc.iso"
    assert (
        media_main(["--config", str(settings_path), "build", stored_study, "--iso", str(iso)]) == 0
    )
    disc = tmp_path / "burned.iso"
    status = media_main(
        ["--config", str(settings_path), "burn", str(iso), "--device", f"stdio:{disc}"]
    )
    out = capsys.readouterr().out
    assert status == 0, out
    assert "disc 1 of 1: burned, verified" in out
    written = disc.read_bytes()
    assert written[: iso.stat().st_size] == iso.read_bytes()


def test_cdrskin_simulated_burn_writes_nothing(
    settings_path, stored_study, tmp_path, capsys
) -> None:
    require_binaries("cdrskin")
    folder = tmp_path / "medium"
    assert (
        media_main(["--config", str(settings_path), "build", stored_study, "--out", str(folder)])
        == 0
    )
    # cdrskin run as root takes no other pseudo drive than stdio:/dev/null
    status = media_main(
        [
            "--config",
            str(settings_path),
            "burn",
            str(folder),
            "--device",
            "stdio:/dev/null",
            "--tool",
            "cdrskin",
            "--simulate",
        ]
    )
    out = capsys.readouterr().out
    assert status == 0, out
    assert "disc 1 of 1: burned, not verified" in out
    assert "simulated with the laser off" in out


def test_media_build_refuses_bad_requests(settings_path, stored_study, tmp_path, capsys) -> None:
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "x").write_text("keep me", encoding="utf-8")
    status = media_main(
        ["--config", str(settings_path), "build", stored_study, "--out", str(taken)]
    )
    assert status == 2
    assert (taken / "x").read_text(encoding="utf-8") == "keep me"
    status = media_main(
        [
            "--config",
            str(settings_path),
            "build",
            stored_study,
            "--iso",
            str(tmp_path / "a.iso"),
            "--profile",
            "STD-GEN-CD",
        ]
    )
    err = capsys.readouterr().err
    assert status == 2
    assert "STD-GEN-CD" in err
    assert not (tmp_path / "a.iso").exists()
    assert media_main(["--config", str(settings_path), "burn", str(tmp_path), "--device", "x"]) == 2
