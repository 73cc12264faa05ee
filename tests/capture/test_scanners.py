"""Scanners: SANE for real through python-sane and SANE's ``test`` backend; TWAIN's absence.

The ``test`` backend (in Debian's libsane1) is a virtual scanner with a flatbed and a document
feeder that runs empty after 10 pages; its ``read-return-value`` option makes ``sane_read``
fail with a chosen status (a jam, an empty feeder).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from izer.capture.base import SourceError, SourceKind
from izer.capture.scanners import SaneScanner, ScanMode, TwainScanner

REPO = Path(__file__).resolve().parents[2]
#: The test backend's default scan area is 80 mm x 100 mm; its feeder holds 10 pages.
FEEDER_PAGES = 10


def _sane_installed() -> bool:
    try:
        import sane  # noqa: F401
    except ImportError:
        return False
    return True


#: The test backend keeps option values from one opening of a device to the next (until
#: sane_exit), like many real backends: each test states the ones it relies on.
CLEAN = {"read-return-value": "Default", "test-picture": "Color pattern"}

needs_sane = pytest.mark.skipif(
    not _sane_installed(),
    reason="python-sane is not installed (pip install python-sane; apt libsane-dev sane-utils)",
)


@pytest.fixture(scope="module")
def sane_config(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A SANE configuration that enables only the ``test`` backend.

    Debian ships it commented out in /etc/sane.d/dll.conf. SANE reads SANE_CONFIG_DIR at its
    first ``sane_init`` in a process; opening ``test:0`` by name works either way, because
    SANE's dll backend loads a backend it is asked for by name.
    """
    folder = tmp_path_factory.mktemp("sane")
    (folder / "dll.conf").write_text("test\n")
    (folder / "test.conf").write_text("number_of_devices 2\nmode Gray\ndepth 8\nresolution 50\n")
    saved = os.environ.get("SANE_CONFIG_DIR")
    os.environ["SANE_CONFIG_DIR"] = str(folder)
    yield folder
    if saved is None:
        os.environ.pop("SANE_CONFIG_DIR", None)
    else:
        os.environ["SANE_CONFIG_DIR"] = saved


@needs_sane
def test_discover_lists_the_sane_test_scanners(sane_config: Path) -> None:
    # In a fresh process, so that SANE starts with this configuration.
    code = (
        "from izer.capture.scanners import SaneScanner\n"
        "for info in SaneScanner.discover(): print(info.kind, info.spec, info.label, sep='|')\n"
    )
    env = {**os.environ, "SANE_CONFIG_DIR": str(sane_config)}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "sane|sane:test:0|Noname frontend-tester" in lines
    assert "sane|sane:test:1|Noname frontend-tester" in lines


@needs_sane
def test_a_feeder_is_scanned_until_empty_at_full_16_bit_depth(sane_config: Path) -> None:
    scanner = SaneScanner(
        "sane:test:0",
        dpi=100,
        mode=ScanMode.GRAY,
        depth=16,
        source="adf",
        options=CLEAN,
    )
    assert SaneScanner.is_available() and SaneScanner.unavailable_reason() == ""
    assert scanner.spec == "sane:test:0" and scanner.kind is SourceKind.SANE
    pages = list(scanner.pages())
    assert [page.number for page in pages] == list(range(1, FEEDER_PAGES + 1))
    for page in pages:
        assert page.pixels.dtype == np.uint16 and page.pixels.ndim == 2
        assert page.pixels.flags.writeable
        assert page.bits_stored == 16
        assert page.dpi == 100
        # 80 mm x 100 mm at 100 dpi.
        assert page.pixels.shape == (int(100 / 25.4 * 100), int(80 / 25.4 * 100))
    # The pattern is a 16-bit ramp: far more than 256 levels, so nothing was cut to 8 bits.
    assert len(np.unique(pages[0].pixels)) > 4096


@needs_sane
def test_a_flatbed_scans_one_colour_page(sane_config: Path) -> None:
    scanner = SaneScanner(
        "test:0",
        dpi=75,
        mode="color",
        depth=8,
        source="Flatbed",
        options=CLEAN,
    )
    pages = list(scanner.pages())
    assert len(pages) == 1
    page = pages[0]
    assert page.pixels.dtype == np.uint8 and page.pixels.shape[2] == 3
    assert page.bits_stored == 8 and page.dpi == 75
    assert page.pixels.shape[:2] == (int(100 / 25.4 * 75), int(80 / 25.4 * 75))
    # A colour pattern: the three channels differ somewhere.
    assert not np.array_equal(page.pixels[:, :, 0], page.pixels[:, :, 2])


@needs_sane
def test_a_jam_raises_naming_the_page(sane_config: Path) -> None:
    scanner = SaneScanner(
        "test:0", source="adf", options={**CLEAN, "read-return-value": "SANE_STATUS_JAMMED"}
    )
    with pytest.raises(SourceError, match=r"stopped at page 1: Document feeder jammed"):
        list(scanner.pages())


@needs_sane
def test_a_jam_in_the_middle_of_a_batch_names_the_page(sane_config: Path) -> None:
    scanner = SaneScanner("test:0", dpi=50, source="adf", options=CLEAN)
    pages = []
    with pytest.raises(SourceError, match=r"page 3: Document feeder jammed \(2 page"):
        for page in scanner.pages():
            pages.append(page)
            if len(pages) == 2:
                # The test backend fails the next read as a jammed feeder would.
                _open_test_device(scanner).read_return_value = "SANE_STATUS_JAMMED"
    assert [page.number for page in pages] == [1, 2]


def _open_test_device(scanner: SaneScanner) -> Any:
    """The python-sane device the scanner has open (reached into only to simulate a jam)."""
    device = scanner._device
    assert device is not None, "the scanner should have its device open while scanning"
    return device


@needs_sane
def test_an_empty_feeder_ends_the_batch_cleanly(sane_config: Path) -> None:
    empty = {**CLEAN, "read-return-value": "SANE_STATUS_NO_DOCS"}
    assert list(SaneScanner("test:0", source="adf", options=empty).pages()) == []
    # On a flatbed "no documents" is not the end of a batch but an error.
    with pytest.raises(SourceError, match="page 1"):
        list(SaneScanner("test:0", source="flatbed", options=empty).pages())


@needs_sane
def test_stop_ends_a_feeder_batch_between_pages(sane_config: Path) -> None:
    stop = threading.Event()
    pages = []
    for page in SaneScanner("test:0", dpi=50, source="adf", options=CLEAN, stop=stop).pages():
        pages.append(page)
        if len(pages) == 3:
            stop.set()
    assert len(pages) == 3


@needs_sane
def test_wrong_settings_name_what_the_scanner_offers(sane_config: Path) -> None:
    with pytest.raises(SourceError, match="Flatbed, Automatic Document Feeder"):
        list(SaneScanner("test:0", source="Transparency Unit").pages())
    with pytest.raises(SourceError, match=r"resolution from 1\.0 to 1200\.0"):
        list(SaneScanner("test:0", dpi=5000).pages())
    with pytest.raises(SourceError, match="no option 'lamp_warmup'"):
        list(SaneScanner("test:0", options={"lamp-warmup": True}).pages())
    with pytest.raises(SourceError, match="cannot open scanner 'nosuchbackend:0'"):
        list(SaneScanner("nosuchbackend:0").pages())


def test_settings_are_checked_before_scanning() -> None:
    with pytest.raises(ValueError, match="depth must be 1, 8 or 16"):
        SaneScanner("test:0", depth=12)
    with pytest.raises(ValueError, match="grayscale only"):
        SaneScanner("test:0", mode="Color", depth=16)
    with pytest.raises(ValueError, match="mode must be Gray or Color"):
        SaneScanner("test:0", mode="Lineart")
    with pytest.raises(ValueError, match="dpi must be positive"):
        SaneScanner("test:0", dpi=0)


def test_without_python_sane_the_reason_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "sane", None)  # as if python-sane were not installed
    assert not SaneScanner.is_available()
    assert "pip install python-sane" in SaneScanner.unavailable_reason()
    assert SaneScanner.discover() == []
    with pytest.raises(SourceError, match="python-sane"):
        list(SaneScanner("test:0").pages())


@pytest.mark.skipif(sys.platform == "win32", reason="checks the behaviour off Windows")
def test_twain_is_unavailable_off_windows() -> None:
    assert not TwainScanner.is_available()
    assert "Windows only" in TwainScanner.unavailable_reason()
    assert TwainScanner.discover() == []
    scanner = TwainScanner("twain:Some Scanner", dpi=300)
    assert scanner.spec == "twain:Some Scanner"
    with pytest.raises(SourceError, match="Windows only"):
        list(scanner.pages())
