"""``izer echo`` against real peers, a closed port, a silent peer and a refusing peer."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from izer.cli.echo import main as echo_main
from tests.peers.harness import Peer, free_port

pytestmark = pytest.mark.peers


def _run(settings_path: Path, *args: str) -> int:
    return echo_main(["--config", str(settings_path), *args])


@pytest.mark.parametrize("peer_name", ["orthanc", "storescp", "dcmqrscp"])
def test_echo_succeeds_with_one_line(peer_name, request, settings_path, capsys) -> None:
    peer: Peer = request.getfixturevalue(peer_name)
    assert _run(settings_path, peer.address) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    assert out[0].startswith(f"{peer.address} answered C-ECHO")


def test_echo_a_configured_destination_by_name(orthanc, write_settings, capsys) -> None:
    path = write_settings(
        f"""
        [station]
        ae_title = "IZERTEST"
        uid_root = "1.2.3"

        [[destinations]]
        name = "pacs"
        ae_title = "{orthanc.aet}"
        host = "127.0.0.1"
        port = {orthanc.port}
        """
    )
    assert _run(path, "pacs") == 0
    assert "ORTHANC@127.0.0.1" in capsys.readouterr().out


def test_closed_port_fails_with_one_line(settings_path, capsys) -> None:
    port = free_port()
    assert _run(settings_path, f"NOBODY@127.0.0.1:{port}") == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert f"NOBODY@127.0.0.1:{port}" in err[0]
    assert "connection refused" in err[0]


@pytest.fixture
def silent_peer() -> Iterator[int]:
    """A TCP port that accepts connections and never says a word."""
    server = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for connection in held:
        connection.close()
    server.close()


def test_silent_peer_fails_within_the_configured_timeout(
    silent_peer, settings_path, capsys
) -> None:
    assert _run(settings_path, f"SILENT@127.0.0.1:{silent_peer}", "--timeout-s", "1") == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "did not answer" in err[0] and "1 s" in err[0]


def test_a_rejected_association_is_explained(wlmscpfs, settings_path, capsys) -> None:
    # wlmscpfs rejects a called AE title it has no worklist folder for.
    assert _run(settings_path, f"NOSUCHAE@127.0.0.1:{wlmscpfs.port}") == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "rejected the association" in err[0]
    assert "called ae title not recognised" in err[0].lower()


def test_an_unknown_destination_name_is_a_usage_error(settings_path, capsys) -> None:
    assert _run(settings_path, "archive") == 2
    assert "no destination called 'archive'" in capsys.readouterr().err
