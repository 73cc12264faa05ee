"""Importing Part-10 files into the local store, against ``cp`` followed by ``sync``.

izer writes each file under a temporary name, fsyncs it, reads its header back, renames it
and indexes it in SQLite; the reference copies the same files and flushes them to disk once.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from izer.bench.scratch import BENCH_ROOT
from izer.bench.timing import PairedResult, paired
from izer.capture import SyntheticSource
from izer.encode import (
    EquipmentContext,
    InstanceContext,
    SeriesContext,
    StudyContext,
    UidFactory,
    secondary_capture_image,
)
from izer.model import Patient
from izer.store import StudyStore


@dataclass(frozen=True)
class StoreImportReport:
    """What was measured."""

    files: int
    total_bytes: int
    timing: PairedResult

    def lines(self) -> list[str]:
        """Human-readable report."""
        megabytes = self.total_bytes / 1e6
        t = self.timing
        return [
            f"store import: {self.files} SC files, {megabytes:.1f} MB, {t.runs} paired runs",
            f"  reference cp + sync : median {t.reference_s:.3f} s "
            f"({megabytes / t.reference_s:.0f} MB/s)",
            f"  izer store import   : median {t.izer_s:.3f} s ({megabytes / t.izer_s:.0f} MB/s)",
            f"  ratio izer / cp     : {t.ratio:.2f} (median of per-pair ratios)",
        ]


def make_files(folder: Path, count: int, width: int, height: int) -> int:
    """Write ``count`` SC files of one made-up patient; return their total size."""
    uids = UidFactory(BENCH_ROOT)
    source = SyntheticSource(width, height)
    study = StudyContext(
        patient=Patient("BENCH-0001", "Bench^Patient"),
        study_instance_uid=uids.new(),
        study_date="20260101",
        study_time="120000",
    )
    series = SeriesContext(uids.new(), 1, "OT")
    equipment = EquipmentContext("izer project", "izer", "bench")
    total = 0
    for index in range(count):
        context = InstanceContext(study, series, equipment, uids.new(), index + 1)
        ds = secondary_capture_image(source.frame(index), context)
        path = folder / f"IM{index:06d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        total += path.stat().st_size
    return total


def run(count: int = 200, runs: int = 5, width: int = 640, height: int = 480) -> StoreImportReport:
    """Measure importing ``count`` files, ``runs`` pairs after one warm-up pair."""
    cp = shutil.which("cp")
    sync = shutil.which("sync")
    if cp is None or sync is None:
        raise RuntimeError("the store benchmark needs cp and sync (coreutils)")
    with tempfile.TemporaryDirectory(prefix="izer-bench-") as scratch:
        root = Path(scratch)
        source = root / "source"
        source.mkdir()
        total = make_files(source, count, width, height)
        files = sorted(source.iterdir())

        def prepare(run_index: int) -> None:
            for target in ("store", "copy"):
                shutil.rmtree(root / target, ignore_errors=True)
            subprocess.run([sync], check=True)

        def reference(run_index: int) -> None:
            subprocess.run([cp, "-r", str(source), str(root / "copy")], check=True)
            subprocess.run([sync, "-f", str(root / "copy")], check=True)

        def izer(run_index: int) -> None:
            with StudyStore(root / "store") as store:
                for path in files:
                    store.import_file(path)

        timing = paired(izer, reference, runs=runs, prepare=prepare)
    return StoreImportReport(files=count, total_bytes=total, timing=timing)
