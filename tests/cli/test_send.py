"""``izer send`` and ``izer queue``: queueing, waiting, exit statuses, and steering the outbox.

A folder destination stands in for a receiver; a closed port is a receiver that is down; a
running ``izer serve`` takes the jobs when it holds the outbox.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from izer.cli.queue import main as queue_main
from izer.cli.send import main as send_main
from izer.config import load_settings
from izer.engine import Engine
from tests.engine.test_dispatching import sop_uid, study_uid, wait_for, write_study
from tests.peers.harness import free_port

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def config(write_settings, tmp_path: Path) -> Path:
    """Settings with a folder destination ``nas``, one retry after 1.5 s (long enough for
    ``izer send`` to see the job wait) and 2 attempts at most."""
    (tmp_path / "nas").mkdir()
    return write_settings(
        f"""
        [station]
        ae_title = "IZERTEST"
        uid_root = "1.2.826.0.1.3680043.10.1452"

        [storage]
        folder = "{(tmp_path / "store").as_posix()}"

        [network]
        connect_timeout_s = 2
        acse_timeout_s = 3
        dimse_timeout_s = 5
        network_timeout_s = 5

        [listener]
        port = {free_port()}

        [dispatch]
        backoff_base_s = 1.5
        backoff_cap_s = 1.5
        max_attempts = 2

        [[destinations]]
        name = "nas"
        kind = "folder"
        folder = "{(tmp_path / "nas").as_posix()}"
        """
    )


def _queue_json(config: Path, capsys: pytest.CaptureFixture[str]) -> list[dict]:
    capsys.readouterr()
    assert queue_main(["--config", str(config), "list", "--all", "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_send_waits_and_prints_a_line_per_instance(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = write_study(tmp_path / "in", 2)

    status = send_main(["--config", str(config), str(tmp_path / "in"), "--to", "nas"])

    out = capsys.readouterr().out
    assert status == 0
    assert "nas: 1/2 instances" in out and "nas: 2/2 instances" in out
    assert f"sent {sop_uid(files[1])}" in out
    assert "2 of 2 job(s) delivered" in out
    for path in files:
        assert len(list((tmp_path / "nas").rglob(f"{sop_uid(path)}.dcm"))) == 1
    jobs = _queue_json(config, capsys)
    assert [(job["kind"], job["state"]) for job in jobs] == [("store", "done")] * 2

    again = send_main(["--config", str(config), study_uid(files[0]), "--to", "nas"])
    out = capsys.readouterr().out
    assert again == 0
    assert "2 job(s) already done before (--again sends them again)" in out
    assert len(_queue_json(config, capsys)) == 2


def test_a_failed_job_exits_1_with_its_reason_then_retry_and_cancel(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = write_study(tmp_path / "in", 1)
    down = f"NOBODY@127.0.0.1:{free_port()}"

    status = send_main(["--config", str(config), str(files[0]), "--to", f"nas,{down}"])

    captured = capsys.readouterr()
    assert status == 1
    assert "next try at" in captured.out  # the first attempt is retried after a backoff
    assert f"{down}: 0/1 instances sent" in captured.out and ", 1 failed" in captured.out
    assert "connection refused" in captured.err and "gave up after 2 attempts" in captured.err
    assert "1 of 2 job(s) delivered" in captured.out
    failed = [job for job in _queue_json(config, capsys) if job["state"] == "failed"]
    assert [job["destination"] for job in failed] == [down]

    assert queue_main(["--config", str(config)]) == 0  # plain `izer queue` lists what is left
    listing = capsys.readouterr().out
    assert "failed" in listing and down in listing and "connection refused" in listing

    assert queue_main(["--config", str(config), "retry", str(failed[0]["job_id"])]) == 0
    assert "1 job(s) queued" in capsys.readouterr().out
    assert queue_main(["--config", str(config), "cancel"]) == 2  # cancel what?
    assert queue_main(["--config", str(config), "cancel", "--destination", down]) == 0
    assert "1 job(s) cancelled" in capsys.readouterr().out
    states = {job["destination"]: job["state"] for job in _queue_json(config, capsys)}
    assert states == {"nas": "done", down: "cancelled"}


def test_no_wait_queues_and_queue_run_sends_unless_paused(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = write_study(tmp_path / "in", 2)
    assert send_main(["--config", str(config), *map(str, files), "--to", "NAS", "--no-wait"]) == 0
    assert "queued 2 job(s)" in capsys.readouterr().out

    assert queue_main(["--config", str(config), "pause", "nas"]) == 0
    assert queue_main(["--config", str(config), "run", "--timeout", "30"]) == 0
    assert "2 job(s) still pending" in capsys.readouterr().out
    assert queue_main(["--config", str(config), "list"]) == 0
    listing = capsys.readouterr().out
    assert "paused: nas" in listing and listing.count("queued") == 2

    assert queue_main(["--config", str(config), "resume", "nas"]) == 0
    assert queue_main(["--config", str(config), "run", "--timeout", "30"]) == 0
    assert "0 job(s) still pending, 0 failed" in capsys.readouterr().out
    assert len(list((tmp_path / "nas").rglob("*.dcm"))) == 2


def test_bad_targets_and_destinations_exit_2(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = write_study(tmp_path / "in", 1)
    assert send_main(["--config", str(config), "1.2.3.4.5", "--to", "nas"]) == 2
    assert "1.2.3.4.5 is not a Study, Series or SOP Instance UID" in capsys.readouterr().err
    assert send_main(["--config", str(config), str(files[0]), "--to", "archive"]) == 2
    assert "no destination called 'archive'" in capsys.readouterr().err
    assert queue_main(["--config", str(config), "pause", "archive@"]) == 2


def test_a_running_serve_sends_the_jobs_of_izer_send(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = write_study(tmp_path / "in", 2)
    server = subprocess.Popen(
        [sys.executable, "-m", "izer", "--config", str(config), "serve"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert server.stdout is not None
        assert "listening as IZERTEST" in server.stdout.readline()
        assert "sending queued jobs" in server.stdout.readline()

        status = send_main(["--config", str(config), str(tmp_path / "in"), "--to", "nas"])

        captured = capsys.readouterr()
        assert status == 0
        assert "waiting for it to send these jobs" in captured.err
        assert "2 of 2 job(s) delivered" in captured.out
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert server.returncode == 0
    with Engine.open(load_settings(config).settings) as engine:
        wait_for(lambda: len(engine.dispatch.jobs()) == 2, 5)
        assert {job.sop_uid for job in engine.dispatch.jobs()} == {sop_uid(p) for p in files}
