"""``izer`` with no command runs the demo (a clip and stills from the synthetic camera).

Its output is valid DICOM by dciodvfy and consistent by dcentvfy.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pydicom

from izer.cli.main import main
from izer.cli.studies import main as studies_main
from izer.config import default_config_path, default_storage_folder
from tests.helpers.validators import dcentvfy, dciodvfy

ROOT = Path(__file__).resolve().parents[2]


def _stored_paths(output: str) -> list[Path]:
    """Files the demo printed: ``still #n at t s: PATH`` lines and the clip's ``    PATH``."""
    stills = re.findall(r"^  still #\d+(?: at [\d.]+ s)?: (\S+)$", output, re.MULTILINE)
    clips = re.findall(r"^    (\S+)$", output, re.MULTILINE)
    return [Path(p) for p in stills + clips]


def test_no_command_runs_the_demo_on_embedded_defaults(capsys) -> None:
    assert main([]) == 0
    captured = capsys.readouterr()
    assert default_config_path().is_file()
    paths = _stored_paths(captured.out)
    assert len(paths) == 4  # 3 stills and the clip
    for path in paths:
        assert path.is_file()
        assert path.is_relative_to(default_storage_folder())
    assert "created settings file" in captured.err


def test_demo_instances_pass_dciodvfy_and_agree_with_each_other(capsys) -> None:
    assert main(["demo", "--stills", "2", "--clip", "2"]) == 0
    paths = _stored_paths(capsys.readouterr().out)
    kinds = []
    for path in paths:
        result = dciodvfy(path)
        kinds.append(result.iod)
        assert result.errors == [], str(result)
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        assert ds.SpecificCharacterSet == "ISO_IR 192"
        assert ds.PatientID == "IZER-DEMO-0001"
    assert sorted(kinds) == ["VLEndoscopicImage", "VLEndoscopicImage", "VideoEndoscopicImage"]
    assert dcentvfy(paths).ok


def test_demo_twice_gives_two_studies_listed_by_izer_studies(capsys) -> None:
    assert main(["demo", "--stills", "1", "--clip", "0"]) == 0
    assert main(["demo", "--stills", "1", "--clip", "0"]) == 0
    capsys.readouterr()
    assert studies_main([]) == 0
    out = capsys.readouterr().out
    assert out.count("IZER-DEMO-0001") == 2
    assert "2 studies in" in out


def test_store_rebuild_finds_the_demo_files(capsys) -> None:
    assert main(["demo", "--stills", "2", "--clip", "0"]) == 0
    (default_storage_folder() / "index.sqlite3").unlink()
    for suffix in ("-wal", "-shm"):
        (default_storage_folder() / f"index.sqlite3{suffix}").unlink(missing_ok=True)
    capsys.readouterr()
    assert main(["store", "rebuild"]) == 0
    assert "indexed 2 file(s)" in capsys.readouterr().out
    assert main(["studies"]) == 0
    assert "IZER-DEMO-0001" in capsys.readouterr().out


def test_demo_refuses_to_touch_another_open_procedure(settings_path, capsys) -> None:
    from izer.config import load_settings
    from izer.engine import Engine
    from izer.model import Patient

    with Engine.open(load_settings(settings_path).settings) as engine:
        engine.select_patient(Patient("REAL-1", "Someone^Else"))
    assert main(["--config", str(settings_path), "demo"]) == 1
    assert "finish it before running the demo" in capsys.readouterr().err


def test_usage_errors_exit_2_without_traceback(capsys) -> None:
    assert main(["no-such-command"]) == 2
    assert main(["demo", "--stills", "-1"]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_console_script_runs_as_a_process() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "izer", "--version"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0
    assert result.stdout.startswith("izer ")
