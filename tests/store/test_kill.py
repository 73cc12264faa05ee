"""A process killed with SIGKILL while storing never leaves a partial file under its final name."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pydicom

from izer.store import StudyStore, is_temporary_name

ROOT = Path(__file__).resolve().parents[2]
KILLS = 8


def _start_writer(folder: Path) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.store.kill_writer", str(folder)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "ready"
    return process


def test_sigkill_during_store_writes_leaves_only_complete_files(tmp_path: Path) -> None:
    folder = tmp_path / "store"
    chooser = random.Random(20261122)
    acknowledged = 0
    interrupted_writes = 0
    for _ in range(KILLS):
        writer = _start_writer(folder)
        assert writer.stdout is not None
        # Let it get at least one instance out, then kill it at an arbitrary moment.
        assert writer.stdout.readline().startswith("stored")
        acknowledged += 1
        time.sleep(chooser.uniform(0.0, 0.2))
        writer.send_signal(signal.SIGKILL)
        leftover = writer.stdout.read()
        acknowledged += leftover.count("stored")
        writer.wait()
        assert writer.returncode == -signal.SIGKILL
        studies = folder / "studies"
        interrupted_writes += any(is_temporary_name(p) for p in studies.rglob("*"))

    # The scenario must really have happened: some kill landed in the middle of a write.
    assert interrupted_writes > 0

    files = [p for p in (folder / "studies").rglob("*") if p.is_file()]
    final = [p for p in files if not is_temporary_name(p)]
    assert len(final) >= acknowledged
    for path in final:
        ds = pydicom.dcmread(path)
        assert len(ds.PixelData) == 4096 * 4096, f"{path} is truncated"

    with StudyStore(folder) as store:
        report = store.rebuild()
        assert report.unreadable == []
        assert report.indexed == len(final)
        assert not any(is_temporary_name(p) for p in (folder / "studies").rglob("*"))
