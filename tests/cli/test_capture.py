"""``izer capture`` and ``izer devices`` from the command line, with real sources.

A synthetic camera, a file played as a camera and an HTTP stream served by a real ffmpeg on
loopback are captured headless; every instance they yield passes dciodvfy with no error.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest

from izer.cli.main import main
from tests.helpers.binaries import require_binaries
from tests.helpers.validators import dcentvfy, dciodvfy

PATIENT = ["--patient-name", "Capture^Cli", "--patient-id", "CLI-CAP-1"]
VIDEO_ENDOSCOPIC = "1.2.840.10008.5.1.4.1.1.77.1.1.1"


def _checked(out: Path) -> list[pydicom.Dataset]:
    files = sorted(out.glob("*.dcm"))
    assert files, "no instance was copied to --out"
    for path in files:
        result = dciodvfy(path)
        assert result.errors == [], str(result)
    assert dcentvfy(files).ok
    return [pydicom.dcmread(path, stop_before_pixels=True) for path in files]


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    ffmpeg = require_binaries("ffmpeg")["ffmpeg"]
    path = tmp_path_factory.mktemp("clips") / "scope.mp4"
    subprocess.run(
        [
            str(ffmpeg),
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=640x480:rate=25",
            "-t",
            "4",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            "-g",
            "25",
            str(path),
        ],
        check=True,
        timeout=120,
    )
    return path


def test_synthetic_capture_with_stills_during_a_clip(tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    argv = [
        "capture",
        "--source",
        "synthetic",
        "--size",
        "640x480",
        "--fps",
        "30",
        "--stills",
        "2",
        "--clip",
        "2",
        *PATIENT,
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "main: synthetic delivers 640x480@30" in printed
    assert re.search(r"still #2 at [\d.]+ s", printed)
    headers = _checked(out)
    kinds = sorted(h.SOPClassUID for h in headers)
    assert kinds.count(VIDEO_ENDOSCOPIC) == 1 and len(kinds) == 3
    video = next(h for h in headers if h.SOPClassUID == VIDEO_ENDOSCOPIC)
    assert 50 <= int(video.NumberOfFrames) <= 70  # 2 s at 30 fps, give or take start-up
    assert {h.PatientID for h in headers} == {"CLI-CAP-1"}


def test_a_file_played_as_a_camera_gives_valid_instances(clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    argv = [
        "capture",
        "--source",
        f"file:{clip}",
        "--stills",
        "1",
        "--clip",
        "2",
        *PATIENT,
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    headers = _checked(out)
    assert sorted(h.Modality for h in headers) == ["ES", "ES"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def http_stream(clip: Path) -> Iterator[str]:
    """ffmpeg serving the clip, in real time and looping, as MPEG-TS over HTTP on loopback."""
    ffmpeg = require_binaries("ffmpeg")["ffmpeg"]
    port = _free_port()
    server = subprocess.Popen(
        [
            str(ffmpeg),
            "-v",
            "error",
            "-re",
            "-stream_loop",
            "-1",
            "-i",
            str(clip),
            "-c",
            "copy",
            "-f",
            "mpegts",
            "-listen",
            "1",
            f"http://127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while not _listening(port) and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.kill()
        server.wait()


def _listening(port: int) -> bool:
    """Whether a TCP socket listens on ``port`` (read from /proc, so no connection is used:
    ffmpeg's ``-listen 1`` serves exactly one client)."""
    wanted = f":{port:04X} "
    table = Path("/proc/net/tcp").read_text()
    return any(wanted in line and line.split()[3] == "0A" for line in table.splitlines()[1:])


def test_a_network_stream_gives_valid_instances(http_stream: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    argv = [
        "capture",
        "--source",
        http_stream,
        "--stills",
        "1",
        "--clip",
        "2",
        *PATIENT,
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    headers = _checked(out)
    assert VIDEO_ENDOSCOPIC in {h.SOPClassUID for h in headers}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--size", "big"], "--size takes WIDTHxHEIGHT"),
        (["--patient-name", "A^B"], "give both --patient-name and --patient-id"),
        (["--clip", "0"], "--clip takes a number of seconds above 0"),
        ([], "no procedure is in progress"),
    ],
)
def test_usage_errors_say_what_to_do(argv: list[str], message: str, capsys) -> None:
    assert main(["capture", "--source", "synthetic", *argv]) == 2
    assert message in capsys.readouterr().err


def test_an_unknown_source_fails_in_one_line(capsys) -> None:
    assert main(["capture", "--source", "nonsense:thing", *PATIENT]) == 1
    err = capsys.readouterr().err
    assert "cannot open the source" in err and "Traceback" not in err


def test_devices_lists_source_kinds_and_works_without_cameras(capsys) -> None:
    assert main(["devices"]) == 0
    out = capsys.readouterr().out
    assert "source kinds:" in out and re.search(r"synthetic\s+available", out)
    assert main(["devices", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert {"kind": "synthetic", "available": True} in [
        {"kind": k["kind"], "available": k["available"]} for k in listed["kinds"]
    ]
