"""Free space for recordings: minutes left, low space, plain messages, the watch thread."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from izer.capture.disk_guard import GIB, MIB, DiskGuard, DiskState, format_size


def fixed(free: int) -> Callable[[Path], int]:
    def free_bytes(path: Path) -> int:
        return free

    return free_bytes


def test_minutes_left_come_from_the_bit_rate(tmp_path: Path) -> None:
    guard = DiskGuard(tmp_path, 2 * GIB, free_bytes=fixed(10 * GIB))
    state = guard.check(8_000_000)
    assert state.free_bytes == 10 * GIB
    assert not state.low
    # 8 GiB above the minimum at 8 Mbit/s
    assert state.minutes_left == pytest.approx(8 * GIB * 8 / 8_000_000 / 60)
    assert state.message == f"10.0 GB free on {tmp_path}: about 2.4 hours of recording left"
    assert guard.check(80_000_000).message.endswith("about 14 minutes of recording left")


def test_without_a_bit_rate_only_the_free_space_is_told(tmp_path: Path) -> None:
    guard = DiskGuard(tmp_path, 2 * GIB, free_bytes=fixed(10 * GIB))
    for bitrate in (None, 0.0):
        state = guard.check(bitrate)
        assert state.minutes_left is None
        assert state.message == f"10.0 GB free on {tmp_path}"


def test_low_space_is_said_in_plain_words() -> None:
    folder = Path("/data")
    guard = DiskGuard(folder, 2048 * MIB, free_bytes=fixed(int(1.2 * GIB)))
    state = guard.check(8_000_000)
    assert state.low
    assert state.minutes_left == 0
    assert state.message == "only 1.2 GB free on /data; recording stops below 2.0 GB"


def test_exactly_the_minimum_is_not_low(tmp_path: Path) -> None:
    guard = DiskGuard(tmp_path, 2 * GIB, free_bytes=fixed(2 * GIB))
    assert not guard.check(None).low
    assert DiskGuard(tmp_path, 2 * GIB, free_bytes=fixed(2 * GIB - 1)).check(None).low


def test_a_folder_not_made_yet_is_checked_on_its_parent(tmp_path: Path) -> None:
    asked: list[Path] = []

    def free_bytes(path: Path) -> int:
        asked.append(path)
        return 5 * GIB

    DiskGuard(tmp_path / "recordings" / "today", GIB, free_bytes=free_bytes).check(None)
    assert asked == [tmp_path]


def test_an_unreadable_disk_counts_as_low(tmp_path: Path) -> None:
    def free_bytes(path: Path) -> int:
        raise OSError(5, "Input/output error")

    state = DiskGuard(tmp_path, GIB, free_bytes=free_bytes).check(8e6)
    assert state.low
    assert state.free_bytes == 0
    assert state.error == f"cannot read the free space of {tmp_path}: Input/output error"
    assert state.message.endswith("recording there is not possible")


def test_the_real_disk(tmp_path: Path) -> None:
    state = DiskGuard(tmp_path, 0).check(8_000_000)
    total = shutil.disk_usage(tmp_path).total
    assert 0 < state.free_bytes <= total
    assert not state.low
    assert state.minutes_left is not None and state.minutes_left > 0
    assert DiskGuard(tmp_path, 2 * total).check(None).low


def test_sizes_read_like_a_file_manager() -> None:
    assert format_size(1288490188) == "1.2 GB"
    assert format_size(2048 * MIB) == "2.0 GB"
    assert format_size(640 * MIB) == "640 MB"


def test_bad_settings_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="min_free_bytes cannot be negative"):
        DiskGuard(tmp_path, -1)
    with pytest.raises(ValueError, match="interval must be positive"):
        DiskGuard(tmp_path, 0).watch(0, lambda: None, lambda state: None)


def test_the_watch_calls_on_low_once_each_time_space_runs_low(tmp_path: Path) -> None:
    free = [10 * GIB, 5 * GIB, GIB, GIB, 3 * GIB, GIB]
    done = threading.Event()
    position = 0

    def free_bytes(path: Path) -> int:
        nonlocal position
        value = free[min(position, len(free) - 1)]
        position += 1
        if position > len(free) + 2:  # the last value stays: still low, no new call
            done.set()
        return value

    def bitrate() -> float | None:
        raise RuntimeError("recorder gone")  # a failing bit rate does not stop the watch

    low: list[DiskState] = []
    checks: list[DiskState] = []
    guard = DiskGuard(tmp_path, 2 * GIB, free_bytes=free_bytes)
    with guard.watch(0.001, bitrate, low.append, on_check=checks.append) as watch:
        assert done.wait(30)
        watch.stop()
    assert [state.free_bytes for state in low] == [GIB, GIB]
    assert [state.free_bytes for state in checks[:6]] == free
    assert all(state.minutes_left is None for state in checks)
    assert watch.last is not None and watch.last.low
