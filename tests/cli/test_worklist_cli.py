"""``izer worklist``: the worklist from Orthanc and wlmscpfs, as a table and as JSON.

Every patient here is made up.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from izer.cli.worklist import main
from tests.peers.harness import PeerSet, free_port
from tests.worklist import WORKLIST_PEERS, worklist_items

STATION = "IZCLIWL"
ITEMS = [
    dict(patient_id="IZT-CLI-1", accession="IZCLI001", patient_name="Ødegård^Åse",
         station_aet=STATION, modality="ES", birth_date="19800101", sex="F",
         procedure_description="Colonoscopy"),
    dict(patient_id="IZT-CLI-2", accession="IZCLI002", patient_name="Иванов^Пётр",
         station_aet=STATION, modality="ES", birth_date="19700101", sex="M",
         procedure_description="Gastroscopy"),
]  # fmt: skip


def _config(write_settings: Callable[[str], Path], tmp_path: Path, providers: str) -> Path:
    return write_settings(
        f"""
        [station]
        ae_title = "IZERTEST"
        uid_root = "1.2.826.0.1.3680043.10.1452"

        [storage]
        folder = "{(tmp_path / "store").as_posix()}"

        [network]
        connect_timeout_s = 2
        acse_timeout_s = 5
        dimse_timeout_s = 10
        network_timeout_s = 10

        [worklist]
        station_ae = "{STATION}"
        {providers}
        """
    )


@pytest.mark.peers
@pytest.mark.parametrize("provider", WORKLIST_PEERS)
def test_the_worklist_as_json_and_as_a_table(
    provider: str,
    peer_set: PeerSet,
    write_settings: Callable[[str], Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    peer = peer_set[provider]
    config = _config(write_settings, tmp_path, "")
    address = f"{peer.aet}@{peer.host}:{peer.port}"
    with worklist_items(peer_set, ITEMS):
        assert main(["--config", str(config), "--from", address, "--json"]) == 0
        items = json.loads(capsys.readouterr().out)
        assert {i["accession_number"] for i in items} == {"IZCLI001", "IZCLI002"}
        by_id = {i["patient_id"]: i for i in items}
        assert by_id["IZT-CLI-2"]["patient_name"] == "Иванов^Пётр"
        assert by_id["IZT-CLI-1"]["sps_description"] == "Colonoscopy"
        assert by_id["IZT-CLI-1"]["study_instance_uid"]

        assert main(["--config", str(config), "--from", address, "--name", "Ødeg*"]) == 0
        out = capsys.readouterr().out
        assert "Ødegård^Åse" in out and "IZCLI001" in out and "IZCLI002" not in out
        assert "1 item(s)" in out

        assert main(["--config", str(config), "--from", address, "--modality", "XC"]) == 0
        assert "0 item(s)" in capsys.readouterr().out


def test_a_malformed_key_is_a_usage_error(
    write_settings: Callable[[str], Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(write_settings, tmp_path, "")
    status = main(["--config", str(config), "--from", "X@127.0.0.1:1", "--date", "2024-05-01"])
    assert status == 2
    assert "SPS Start Date" in capsys.readouterr().err


def test_no_provider_answering_is_a_failure_naming_it(
    write_settings: Callable[[str], Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(write_settings, tmp_path, "")
    status = main(["--config", str(config), "--from", f"NOBODY@127.0.0.1:{free_port()}"])
    assert status == 1
    assert "NOBODY" in capsys.readouterr().err


def test_no_provider_configured_says_so(
    write_settings: Callable[[str], Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", str(_config(write_settings, tmp_path, ""))]) == 1
    assert "role worklist" in capsys.readouterr().err


def test_bad_worklist_settings_are_one_line_errors(
    write_settings: Callable[[str], Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for line, key in (
        ('providers = ["nowhere"]', "worklist.providers[0]"),
        ('accession_pattern = "ACC-{date}"', "worklist.accession_pattern"),
        ('accession_pattern = "{stamp}{stamp}"', "worklist.accession_pattern"),
        ('unscheduled_id_pattern = "TMP-{nope}"', "worklist.unscheduled_id_pattern"),
        ('date_range = "yesterday"', "worklist.date_range"),
    ):
        config = _config(write_settings, tmp_path, line)
        assert main(["--config", str(config)]) == 2
        err = capsys.readouterr().err
        assert key in err and len(err.strip().splitlines()) == 1, err
