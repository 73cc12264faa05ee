"""The Linux package: installer/build.py makes the .deb, and the app inside it works.

One build per run (about a minute on two cores): PyInstaller freezes izer, dpkg-deb packs
it. The package is unpacked with ``dpkg-deb -x`` (no root needed) and the frozen app is run
from there without a screen: ``--version``, the headless demo, a JPEG conversion, the device
list and a PDF report sent to a stand-in ``lp``. A missing PyInstaller fails the build
fixture, so every test here errors rather than skips (it comes with the ``dev`` extra).
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import imagecodecs
import numpy as np
import pydicom
import pytest

import izer
from tests.helpers.binaries import require_binaries
from tests.helpers.validators import dciodvfy

pytestmark = pytest.mark.timeout(1500)

ROOT = Path(__file__).resolve().parents[2]
BUILD_TIMEOUT_S = 20 * 60
RUN_TIMEOUT_S = 300
UID_ROOT = "1.2.826.0.1.3680043.10.1452"
ARCHITECTURE = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), "")


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A folder for the build, removed afterwards (the app alone is over 600 MB)."""
    folder = tmp_path_factory.mktemp("ship")
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def package(build_dir: Path) -> Path:
    """``python installer/build.py --out DIR``: the .deb it reports on its last line."""
    if not sys.platform.startswith("linux"):
        pytest.skip("the .deb is built on Linux only")
    require_binaries("/usr/bin/dpkg-deb")
    out = build_dir / "out"
    done = subprocess.run(
        [sys.executable, str(ROOT / "installer" / "build.py"), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_S,
    )
    assert done.returncode == 0, f"build failed:\n{done.stdout}\n{done.stderr}"
    last = done.stdout.strip().splitlines()[-1]
    match = re.fullmatch(r"build: done in \d+ s: (\S+\.deb) \(\d+ MB\)", last)
    assert match, f"unexpected last line {last!r}"
    deb = Path(match.group(1))
    assert deb == out / f"izer_{izer.__version__}_{ARCHITECTURE}.deb"
    assert deb.is_file()
    shutil.rmtree(out / "pyinstaller")  # the package holds the app; free the space
    return deb


@pytest.fixture(scope="module")
def unpacked(package: Path, build_dir: Path) -> Path:
    """The package's files under a temporary root (``dpkg-deb -x``)."""
    root = build_dir / "root"
    subprocess.run(["dpkg-deb", "-x", str(package), str(root)], check=True, timeout=300)
    return root


@pytest.fixture(scope="module")
def app(unpacked: Path) -> Path:
    return unpacked / "opt" / "izer" / "izer"


@pytest.fixture(scope="module")
def station(build_dir: Path) -> Path:
    """A home folder, a settings file and a local store for the frozen app."""
    folder = build_dir / "station"
    (folder / "home").mkdir(parents=True)
    (folder / "izer.toml").write_text(
        f'[station]\nae_title = "IZER_SHIP"\nuid_root = "{UID_ROOT}"\n\n'
        f'[storage]\nfolder = "{(folder / "store").as_posix()}"\n',
        encoding="utf-8",
    )
    return folder


def headless_env(station: Path, path: str = "/usr/bin:/bin") -> dict[str, str]:
    """No screen (no DISPLAY/WAYLAND_DISPLAY), the station's home and XDG folders only."""
    home = station / "home"
    return {
        "PATH": path,
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_STATE_HOME": str(home / "state"),
        "XDG_CACHE_HOME": str(home / "cache"),
        "QT_QPA_PLATFORM": "offscreen",
    }


def run_app(
    app: Path, station: Path, *args: str, cwd: Path | None = None, path: str = "/usr/bin:/bin"
) -> subprocess.CompletedProcess[str]:
    """``izer --config STATION/izer.toml ARGS...`` from the unpacked package."""
    return subprocess.run(
        [str(app), "--config", str(station / "izer.toml"), *args],
        capture_output=True,
        text=True,
        env=headless_env(station, path),
        cwd=cwd or station,
        timeout=RUN_TIMEOUT_S,
    )


@pytest.fixture(scope="module")
def demo(app: Path, station: Path) -> list[Path]:
    """``izer demo --stills 2 --clip 1``: the files it printed."""
    done = run_app(app, station, "demo", "--stills", "2", "--clip", "1")
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    stills = re.findall(r"^  still #\d+ at [\d.]+ s: (\S+)$", done.stdout, re.MULTILINE)
    clips = re.findall(r"^    (\S+)$", done.stdout, re.MULTILINE)
    return [Path(p) for p in stills + clips]


def test_control_fields_and_files(package: Path, unpacked: Path) -> None:
    fields = subprocess.run(
        ["dpkg-deb", "-f", str(package)], capture_output=True, text=True, check=True
    ).stdout
    control = dict(re.findall(r"^(\S+): (.*)$", fields, re.MULTILINE))
    assert control["Package"] == "izer"
    assert control["Version"] == izer.__version__
    assert control["Architecture"] == ARCHITECTURE
    assert "@" in control["Maintainer"]
    depends = {d.strip() for d in control["Depends"].split(",")}
    assert {"libgl1", "libegl1", "libxcb-cursor0", "libxkbcommon-x11-0"} <= depends
    assert control["Description"].strip()

    listing = subprocess.run(
        ["dpkg-deb", "-c", str(package)], capture_output=True, text=True, check=True
    ).stdout
    entries = {line.split(None, 5)[5]: line.split()[0] for line in listing.splitlines()}
    assert entries["./opt/izer/izer"] == "-rwxr-xr-x"
    assert entries["./usr/bin/izer -> /opt/izer/izer"].startswith("l")
    assert "./usr/share/applications/izer.desktop" in entries
    assert "./usr/share/icons/hicolor/256x256/apps/izer.png" in entries
    assert "./opt/izer/_internal/assets/fonts/DejaVuSans.ttf" in entries
    assert "./opt/izer/_internal/assets/icons/capture.svg" in entries
    for platform_plugin in ("libqxcb.so", "libqoffscreen.so", "libqwayland.so"):
        assert f"./opt/izer/_internal/PyQt6/Qt6/plugins/platforms/{platform_plugin}" in entries
    assert not [name for name in entries if "libgtk-3" in name]  # left out by izer.spec

    desktop = (unpacked / "usr/share/applications/izer.desktop").read_text(encoding="utf-8")
    assert "\nExec=izer gui\n" in desktop
    assert "\nIcon=izer\n" in desktop
    with open(unpacked / "usr/share/icons/hicolor/256x256/apps/izer.png", "rb") as icon:
        assert icon.read(8) == b"\x89PNG\r\n\x1a\n"


def test_version_directly_and_through_a_symlink(app: Path, station: Path) -> None:
    link = station / "izer-link"  # as /usr/bin/izer -> /opt/izer/izer
    link.unlink(missing_ok=True)
    link.symlink_to(app)
    for executable in (app, link):
        done = subprocess.run(
            [str(executable), "--version"],
            capture_output=True,
            text=True,
            env=headless_env(station),
            timeout=RUN_TIMEOUT_S,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == f"izer {izer.__version__}"


def test_headless_demo_stores_valid_dicom(demo: list[Path], station: Path) -> None:
    assert len(demo) == 3  # 2 stills and the clip
    kinds = []
    for path in demo:
        assert path.is_relative_to(station / "store")
        ds = pydicom.dcmread(path)
        assert ds.PatientID == "IZER-DEMO-0001"
        assert ds.SOPInstanceUID.startswith(UID_ROOT + ".")
        result = dciodvfy(path)
        assert result.errors == [], str(result)
        kinds.append(result.iod)
    assert sorted(kinds) == ["VLEndoscopicImage", "VLEndoscopicImage", "VideoEndoscopicImage"]


def test_convert_a_jpeg_to_jpeg_ls(app: Path, station: Path, build_dir: Path) -> None:
    """imagecodecs in the bundle: JPEG decoded, then encoded lossless as JPEG-LS."""
    rows, columns = 48, 64
    picture = np.zeros((rows, columns, 3), np.uint8)
    picture[..., 0] = np.linspace(0, 255, columns, dtype=np.uint8)[None, :]
    picture[..., 1] = np.linspace(0, 255, rows, dtype=np.uint8)[:, None]
    picture[..., 2] = 90
    source = build_dir / "picture.jpg"
    source.write_bytes(imagecodecs.jpeg8_encode(picture, level=90))
    out = build_dir / "converted"
    done = run_app(
        app,
        station,
        "convert",
        str(source),
        "--patient-id",
        "SHIP-0001",
        "--patient-name",
        "Test^Ship",
        "--ts",
        "jpeg-ls-lossless",
        "--out",
        str(out),
    )
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    (path,) = out.glob("*.dcm")
    ds = pydicom.dcmread(path)
    assert ds.file_meta.TransferSyntaxUID == pydicom.uid.JPEGLSLossless
    assert ds.PatientID == "SHIP-0001"
    assert (ds.Rows, ds.Columns, ds.SamplesPerPixel) == (rows, columns, 3)
    expected = imagecodecs.jpeg8_decode(source.read_bytes())
    assert np.array_equal(ds.pixel_array, expected)
    result = dciodvfy(path)
    assert result.errors == [], str(result)


def test_devices_lists_opencv_and_av_sources(app: Path, station: Path) -> None:
    done = run_app(app, station, "devices")
    assert done.returncode == 0, done.stderr
    for kind in ("synthetic", "opencv", "av", "file", "stream"):
        assert re.search(rf"^\s+{kind}\s+available$", done.stdout, re.MULTILINE), done.stdout


def test_workstation_window_opens_offscreen_and_closes(app: Path, station: Path) -> None:
    """PyQt6, its offscreen platform plugin and the icons from assets/icons in the bundle."""
    done = run_app(app, station, "gui", "--quit-after", "0")
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    assert "Traceback" not in done.stderr, done.stderr


def test_report_with_bundled_fonts_goes_to_lp_without_the_bundle_library_path(
    app: Path, station: Path, demo: list[Path], build_dir: Path
) -> None:
    """reportlab and the assets in the bundle; programs izer runs get the system libraries."""
    tools = build_dir / "tools"
    tools.mkdir(exist_ok=True)
    seen = tools / "lp.environment"
    lp = tools / "lp"
    lp.write_text(
        f'#!/bin/sh\nenv > "{seen}"\necho "request id is fake-1 (1 file(s))"\n', encoding="utf-8"
    )
    lp.chmod(0o755)
    study = pydicom.dcmread(demo[0], stop_before_pixels=True).StudyInstanceUID
    pdf = build_dir / "report.pdf"
    done = run_app(
        app, station, "report", study, "--out", str(pdf), "--print", path=f"{tools}:/usr/bin:/bin"
    )
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    assert "print job fake-1" in done.stdout
    document = pdf.read_bytes()
    assert document.startswith(b"%PDF")
    assert b"DejaVuSans" in document  # the report font from assets/fonts
    environment = dict(
        line.split("=", 1) for line in seen.read_text(encoding="utf-8").splitlines() if "=" in line
    )
    bundle = (app.parent / "_internal").resolve()
    for folder in filter(None, environment.get("LD_LIBRARY_PATH", "").split(os.pathsep)):
        assert not Path(folder).resolve().is_relative_to(bundle), environment["LD_LIBRARY_PATH"]
