"""``izer serve``: DCMTK's echoscu gets an answer; a calling AE off the allow-list does not."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.binaries import require_binaries
from tests.peers.harness import free_port

ROOT = Path(__file__).resolve().parents[2]


def _echoscu(echoscu: Path, calling: str, called: str, port: int) -> int:
    return subprocess.run(
        [str(echoscu), "-aet", calling, "-aec", called, "-to", "5", "127.0.0.1", str(port)],
        capture_output=True,
        timeout=30,
    ).returncode


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
def test_serve_answers_allowed_callers_and_stops_cleanly(settings_path, stop_signal) -> None:
    echoscu = require_binaries("echoscu")["echoscu"]
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "izer",
            "--config",
            str(settings_path),
            "serve",
            "--port",
            str(port),
            "--aet",
            "IZERSCP",
            "--allow",
            "GOODSCU",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert server.stdout is not None
        banner = server.stdout.readline()
        assert f"listening as IZERSCP on port {port}" in banner
        assert "GOODSCU" in banner

        assert _echoscu(echoscu, "GOODSCU", "IZERSCP", port) == 0
        assert _echoscu(echoscu, "BADSCU", "IZERSCP", port) != 0
        assert _echoscu(echoscu, "GOODSCU", "OTHERAE", port) != 0

        server.send_signal(stop_signal)
        out, err = server.communicate(timeout=30)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    assert server.returncode == 0, err
    assert "listener stopped" in out
    assert "Traceback" not in err
    assert "rejected an association from BADSCU" in err


def test_serve_on_a_taken_port_fails_with_one_line(settings_path, capsys) -> None:
    import socket

    from izer.cli.serve import main as serve_main

    with socket.create_server(("", 0)) as taken:
        port = taken.getsockname()[1]
        assert serve_main(["--config", str(settings_path), "--port", str(port)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert f"cannot listen on port {port}" in err[0]
