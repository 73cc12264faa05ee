"""DICOM TLS (PS3.15 B.1): izer echo to DCMTK storescp with mutual authentication."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from izer.cli.echo import main as echo_main
from tests.helpers.binaries import require_binaries
from tests.peers.harness import free_port


def _self_signed(folder: Path, name: str, subject_alt_name: str) -> tuple[Path, Path]:
    key, cert = folder / f"{name}.key", folder / f"{name}.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            f"/CN={name}",
            "-addext",
            f"subjectAltName={subject_alt_name}",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return key, cert


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A server, a client and a stranger, each self-signed (so each is its own CA)."""
    require_binaries("storescp")
    folder = tmp_path_factory.mktemp("tls")
    server_key, server_cert = _self_signed(folder, "localhost", "DNS:localhost,IP:127.0.0.1")
    client_key, client_cert = _self_signed(folder, "izer-client", "DNS:izer-client")
    _, stranger_cert = _self_signed(folder, "stranger", "DNS:stranger")
    return {
        "server_key": server_key,
        "server_cert": server_cert,
        "client_key": client_key,
        "client_cert": client_cert,
        "stranger_cert": stranger_cert,
        "folder": folder,
    }


@pytest.fixture(scope="module")
def tls_storescp(certificates: dict[str, Path]) -> Iterator[int]:
    """storescp answering only TLS, trusting only izer's client certificate."""
    binary = require_binaries("storescp")["storescp"]
    port = free_port()
    received = certificates["folder"] / "received"
    received.mkdir()
    process = subprocess.Popen(
        [
            str(binary),
            "--aetitle",
            "TLSSCP",
            "+tls",
            str(certificates["server_key"]),
            str(certificates["server_cert"]),
            "+cf",
            str(certificates["client_cert"]),
            "-od",
            str(received),
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while True:
        assert process.poll() is None, "storescp with TLS exited at start"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            assert time.monotonic() < deadline, "storescp with TLS never listened"
            time.sleep(0.05)
    yield port
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _settings(write_settings, port: int, tls: str) -> Path:
    return write_settings(
        f"""
        [station]
        ae_title = "IZERTEST"
        uid_root = "1.2.3"

        [network]
        connect_timeout_s = 5
        acse_timeout_s = 5

        [[destinations]]
        name = "secure"
        ae_title = "TLSSCP"
        host = "127.0.0.1"
        port = {port}

        [destinations.tls]
        {tls}
        """
    )


def test_mutual_tls_echo_succeeds(tls_storescp, certificates, write_settings, capsys) -> None:
    path = _settings(
        write_settings,
        tls_storescp,
        f"""enabled = true
        ca_file = "{certificates["server_cert"].as_posix()}"
        cert_file = "{certificates["client_cert"].as_posix()}"
        key_file = "{certificates["client_key"].as_posix()}"
        """,
    )
    assert echo_main(["--config", str(path), "secure"]) == 0
    assert "TLSSCP@127.0.0.1" in capsys.readouterr().out


def test_an_untrusted_server_is_refused_with_the_reason(
    tls_storescp, certificates, write_settings, capsys
) -> None:
    path = _settings(
        write_settings,
        tls_storescp,
        f"""enabled = true
        ca_file = "{certificates["stranger_cert"].as_posix()}"
        cert_file = "{certificates["client_cert"].as_posix()}"
        key_file = "{certificates["client_key"].as_posix()}"
        """,
    )
    assert echo_main(["--config", str(path), "secure"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "certificate is not trusted" in err[0]


@pytest.mark.parametrize("tls", ["enabled = false", "enabled = true\nca_file = '{server}'"])
def test_without_tls_or_without_a_client_certificate_the_echo_fails(
    tls, tls_storescp, certificates, write_settings, capsys
) -> None:
    path = _settings(
        write_settings, tls_storescp, tls.format(server=certificates["server_cert"].as_posix())
    )
    assert echo_main(["--config", str(path), "secure"]) == 1
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
