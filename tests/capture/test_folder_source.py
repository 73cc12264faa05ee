"""The watched folder: files a film digitizer writes become pages, once, at full depth."""

from __future__ import annotations

import hashlib
import struct
import threading
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from izer.capture.base import SourceError
from izer.capture.folder_source import (
    JOURNAL_NAME,
    FolderProblem,
    FolderSource,
    read_image_file,
)

#: Fast timings for tests; settling must still exceed the writer's pauses between chunks.
FAST = {"settle_s": 0.3, "poll_s": 0.05}


def _gray16(rows: int, columns: int, peak: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, peak + 1, size=(rows, columns), dtype=np.uint16)
    pixels[0, 0] = peak
    return pixels


def _rgb8(rows: int, columns: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(rows, columns, 3), dtype=np.uint8)


def _save(pixels: np.ndarray, path: Path, **params: object) -> None:
    Image.fromarray(pixels).save(path, **params)


def _wait_until(condition: Callable[[], bool], stop: threading.Event, limit_s: float = 30) -> None:
    """Wait for ``condition``; on a hang, stop the source so the test fails instead of hanging."""
    deadline = time.monotonic() + limit_s
    while not condition():
        if time.monotonic() > deadline:
            stop.set()
            raise AssertionError(f"the folder source did not get to {condition}")
        time.sleep(0.01)


def _digest(folder: Path) -> dict[str, str]:
    return {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.iterdir())
        if path.name != JOURNAL_NAME
    }


def test_new_files_come_in_order_of_appearance_at_full_depth(tmp_path: Path) -> None:
    stop = threading.Event()
    source = FolderSource(tmp_path, stop=stop, idle_timeout_s=30, **FAST)
    twelve = _gray16(40, 50, 4095, seed=1)
    sixteen = _gray16(30, 20, 60000, seed=2)
    colour = _rgb8(16, 24, seed=3)
    gray8 = np.arange(12 * 10, dtype=np.uint8).reshape(12, 10)
    # Appearance order deliberately differs from name order.
    plan = [
        ("c-film.tif", lambda p: _save(twelve, p, dpi=(300, 300))),
        ("a-film.PNG", lambda p: _save(sixteen, p, dpi=(150, 150))),
        ("b-film.tiff", lambda p: _save(colour, p)),
        ("d-page.png", lambda p: _save(gray8, p)),
    ]
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            _wait_until(source.watching.is_set, stop)  # files from now on are new ones
            for name, write in plan:
                write(tmp_path / name)
                _wait_until(lambda name=name: name in source.seen, stop)
        except BaseException as exc:
            errors.append(exc)

    (tmp_path / "notes.txt").write_text("not an image")  # not matched by the patterns
    thread = threading.Thread(target=writer)
    thread.start()
    pages = []
    for page in source.pages():
        pages.append(page)
        if len(pages) == len(plan):
            stop.set()
    thread.join()
    assert not errors
    assert [page.origin.name for page in pages if page.origin] == [name for name, _ in plan]
    assert [page.number for page in pages] == [1, 2, 3, 4]
    assert all(page.pixels.flags.writeable for page in pages)

    first, second, third, fourth = pages
    assert first.pixels.dtype == np.uint16 and first.bits_stored == 12
    assert np.array_equal(first.pixels, twelve) and first.dpi == 300
    assert second.pixels.dtype == np.uint16 and second.bits_stored == 16
    assert np.array_equal(second.pixels, sixteen) and second.dpi == 150
    assert third.pixels.shape == (16, 24, 3) and third.bits_stored == 8
    assert np.array_equal(third.pixels, colour)
    assert fourth.pixels.dtype == np.uint8 and np.array_equal(fourth.pixels, gray8)
    assert fourth.dpi is None
    assert source.problems == []


def test_input_files_are_left_untouched_and_existing_ones_skipped_by_default(
    tmp_path: Path,
) -> None:
    _save(_gray16(8, 8, 4095, seed=4), tmp_path / "old.tif")
    before = _digest(tmp_path)
    pages = list(FolderSource(tmp_path, idle_timeout_s=0.5, **FAST).pages())
    assert pages == []  # present before watching started
    pages = list(FolderSource(tmp_path, idle_timeout_s=0.5, existing=True, **FAST).pages())
    assert [page.origin.name for page in pages if page.origin] == ["old.tif"]
    assert _digest(tmp_path) == before
    assert sorted(path.name for path in tmp_path.iterdir()) == [JOURNAL_NAME, "old.tif"]


def test_a_partly_written_file_is_taken_only_once_settled(tmp_path: Path) -> None:
    pixels = _gray16(200, 300, 65535, seed=5)
    staging = tmp_path / "staging"
    staging.mkdir()
    _save(pixels, staging / "whole.png")
    data = (staging / "whole.png").read_bytes()
    watched = tmp_path / "watched"
    watched.mkdir()
    stop = threading.Event()
    source = FolderSource(watched, stop=stop, idle_timeout_s=30, settle_s=1.0, poll_s=0.05)

    def writer() -> None:
        # Chunks far apart compared with the poll, close together compared with settle_s.
        source.watching.wait(30)
        with (watched / "slow.png").open("wb") as handle:
            step = len(data) // 8 + 1
            for start in range(0, len(data), step):
                handle.write(data[start : start + step])
                handle.flush()
                time.sleep(0.15)

    thread = threading.Thread(target=writer)
    thread.start()
    pages = []
    for page in source.pages():
        pages.append(page)
        stop.set()
    thread.join()
    assert source.problems == []  # a partial PNG would have failed to decode
    assert len(pages) == 1
    assert np.array_equal(pages[0].pixels, pixels)


def test_no_file_is_taken_twice_by_a_restarted_source(tmp_path: Path) -> None:
    for index in range(4):
        _save(_gray16(6, 6, 4095, seed=index), tmp_path / f"film-{index}.tif")
    first = FolderSource(tmp_path, existing=True, idle_timeout_s=0.5, **FAST)
    taken_first = []
    for page in first.pages():
        taken_first.append(page.origin)
        if len(taken_first) == 2:
            break  # the program stops half-way through the batch
    again = FolderSource(tmp_path, existing=True, idle_timeout_s=0.5, **FAST)
    taken_again = [page.origin for page in again.pages()]
    assert len(taken_first) == 2 and len(taken_again) == 2
    assert set(taken_first).isdisjoint(taken_again)
    assert {path.name for path in taken_first + taken_again if path} == {
        f"film-{index}.tif" for index in range(4)
    }


def test_two_sources_on_one_folder_share_the_files(tmp_path: Path) -> None:
    for index in range(8):
        _save(_gray16(64, 64, 65535, seed=index), tmp_path / f"film-{index}.tif")
    results: list[list[Path | None]] = [[], []]

    def run(slot: int) -> None:
        source = FolderSource(tmp_path, existing=True, idle_timeout_s=1.0, **FAST)
        results[slot] = [page.origin for page in source.pages()]

    threads = [threading.Thread(target=run, args=(slot,)) for slot in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    first, second = results
    assert set(first).isdisjoint(second)
    assert len(first) + len(second) == 8


def test_an_unreadable_file_is_reported_and_retaken_once_fixed(tmp_path: Path) -> None:
    good = _gray16(10, 10, 4095, seed=6)
    (tmp_path / "broken.tif").write_bytes(b"II*\x00 this is not really a TIFF file")
    _save(good, tmp_path / "good.tif")
    seen: list[FolderProblem] = []

    def fix(problem: FolderProblem) -> None:
        seen.append(problem)
        _save(good, problem.path)  # the technician rescans the film under the same name

    source = FolderSource(tmp_path, existing=True, idle_timeout_s=0.5, on_problem=fix, **FAST)
    pages = list(source.pages())
    assert [problem.path.name for problem in source.problems] == ["broken.tif"]
    assert seen == source.problems
    assert "broken.tif" in seen[0].message
    assert sorted(page.origin.name for page in pages if page.origin) == ["broken.tif", "good.tif"]


def test_an_unreadable_file_does_not_end_the_batch(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    _save(_rgb8(4, 4, seed=7), tmp_path / "b.png")
    source = FolderSource(tmp_path, existing=True, idle_timeout_s=0.5, **FAST)
    pages = list(source.pages())
    assert [page.origin.name for page in pages if page.origin] == ["b.png"]
    assert [problem.path.name for problem in source.problems] == ["a.png"]
    # Not taken: a later run reports it again instead of forgetting it.
    later = FolderSource(tmp_path, existing=True, idle_timeout_s=0.5, **FAST)
    assert list(later.pages()) == []
    assert [problem.path.name for problem in later.problems] == ["a.png"]


def _with_sbit(png: bytes, bits: int) -> bytes:
    """Insert a grayscale sBIT chunk after IHDR (PNG spec 11.3.3.4)."""
    ihdr_end = 8 + 8 + 13 + 4
    body = b"sBIT" + bytes([bits])
    chunk = struct.pack(">I", 1) + body + struct.pack(">I", zlib.crc32(body))
    return png[:ihdr_end] + chunk + png[ihdr_end:]


def test_bits_stored_comes_from_the_file_when_it_says(tmp_path: Path) -> None:
    pixels = _gray16(8, 8, 1000, seed=8)
    _save(pixels, tmp_path / "plain.png")
    (tmp_path / "ten.png").write_bytes(_with_sbit((tmp_path / "plain.png").read_bytes(), 10))
    assert read_image_file(tmp_path / "ten.png").bits_stored == 10
    assert read_image_file(tmp_path / "plain.png").bits_stored == 12  # heuristic: fits 12
    _save(pixels, tmp_path / "max.tif", tiffinfo={281: 1023})
    assert read_image_file(tmp_path / "max.tif").bits_stored == 10
    assert read_image_file(tmp_path / "plain.png", bits_stored=14).bits_stored == 14
    with pytest.raises(ValueError, match="do not fit in 9 bits"):
        read_image_file(tmp_path / "plain.png", bits_stored=9)


def test_clear_errors_for_a_missing_folder_or_journal(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="does not exist"):
        list(FolderSource(tmp_path / "absent", idle_timeout_s=0.1).pages())
    source = FolderSource(tmp_path, journal=tmp_path / "no" / "such" / "dir" / "journal")
    with pytest.raises(SourceError, match="journal"):
        list(source.pages())
    with pytest.raises(ValueError, match="patterns"):
        FolderSource(tmp_path, patterns=())
