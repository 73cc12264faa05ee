"""``izer convert`` of 1080p JPEG files to VL Endoscopic, next to DCMTK's ``img2dcm``.

Both sides encapsulate the JPEG data as it is. izer is timed twice: in-process through
:meth:`izer.engine.Engine.convert`, and as a whole ``izer convert`` process over the folder
(Python start-up included). ``img2dcm`` converts one file per process, as DCMTK users run it:
it has no VL Endoscopic class, so it writes VL Photographic (``-vlp``), the first file with the
patient keys (``-k``) and every next one with patient, study and series read from the previous
output (``--series-from``, ``--instance-inc``), so that all files land in one series as with
izer. Each side writes into an empty folder; the folders are emptied and ``sync`` run before
each side, untimed.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import imagecodecs

from izer.bench.scratch import settings_file
from izer.bench.still_encode import photographic_frame
from izer.bench.timing import PairedResult, paired
from izer.config import load_settings
from izer.engine import ConvertRequest, Engine
from izer.model import Patient
from izer.store import StudyStore

PATIENT = Patient("BENCH-0001", "Bench^Patient")


@dataclass(frozen=True)
class ConvertBenchReport:
    """What was measured."""

    files: int
    total_bytes: int
    in_process: PairedResult
    process: PairedResult

    def lines(self) -> list[str]:
        """Human-readable report."""
        n, mb = self.files, self.total_bytes / 1e6

        def rate(seconds: float) -> str:
            return f"{seconds:.3f} s ({n / seconds:.0f} images/s)"

        a, b = self.in_process, self.process
        return [
            f"convert: {n} 1080p JPEG files ({mb:.1f} MB) to VL Endoscopic as-is, "
            f"{a.runs} paired runs",
            f"  img2dcm -vlp, one process per file : median {rate(a.reference_s)}",
            f"  izer Engine.convert (in-process)   : median {rate(a.izer_s)}",
            f"  ratio in-process izer / img2dcm    : {a.ratio:.2f}",
            f"  img2dcm (second series of pairs)   : median {rate(b.reference_s)}",
            f"  izer convert (one whole process)   : median {rate(b.izer_s)}",
            f"  ratio process izer / img2dcm       : {b.ratio:.2f}",
        ]


def make_files(folder: Path, count: int, width: int = 1920, height: int = 1080) -> int:
    """Write ``count`` photographic-like JPEG files (quality 90, 4:2:0); return their size."""
    frames = [photographic_frame(width, height, seed) for seed in range(min(count, 8))]
    total = 0
    for index in range(count):
        data = imagecodecs.jpeg8_encode(frames[index % len(frames)], level=90)
        path = folder / f"img{index:05d}.jpg"
        path.write_bytes(data)
        total += len(data)
    return total


def run(count: int = 500, runs: int = 3) -> ConvertBenchReport:
    """Measure converting ``count`` files, ``runs`` pairs (after one warm-up pair) each way."""
    img2dcm = shutil.which("img2dcm")
    sync = shutil.which("sync")
    if img2dcm is None or sync is None:
        raise RuntimeError("the convert benchmark needs DCMTK's img2dcm and sync")
    with tempfile.TemporaryDirectory(prefix="izer-bench-") as scratch:
        root = Path(scratch)
        source = root / "source"
        source.mkdir()
        total = make_files(source, count)
        files = sorted(source.iterdir())
        config = settings_file(root)
        settings = load_settings(config).settings
        request = ConvertRequest(patient=PATIENT, iod="vl-endoscopic")

        def prepare(run_index: int) -> None:
            for target in ("izer", "dcmtk"):
                shutil.rmtree(root / target, ignore_errors=True)
                (root / target).mkdir()
            subprocess.run([sync], check=True)

        def reference(run_index: int) -> None:
            previous: Path | None = None
            for index, path in enumerate(files):
                target = root / "dcmtk" / f"img{index:05d}.dcm"
                if previous is None:
                    keys = ["-k", f"PatientName={PATIENT.name}", "-k", "InstanceNumber=1"]
                    keys += ["-k", f"PatientID={PATIENT.patient_id}"]
                else:
                    keys = ["--series-from", str(previous), "--instance-inc"]
                subprocess.run(
                    [img2dcm, "-q", "-vlp", *keys, str(path), str(target)],
                    check=True,
                    capture_output=True,
                )
                previous = target

        with Engine(settings, StudyStore(root / "store")) as engine:

            def izer_in_process(run_index: int) -> None:
                report = engine.convert([source], request, out=root / "izer")
                if report.failures:
                    raise RuntimeError(f"izer convert failed: {report.failures[0]}")

            in_process = paired(izer_in_process, reference, runs=runs, prepare=prepare)

        command = [sys.executable, "-m", "izer", "--config", str(config), "convert"]
        command += ["--iod", "vl-endoscopic", "--patient-id", PATIENT.patient_id]
        command += ["--patient-name", PATIENT.name, "--out", str(root / "izer"), str(source)]

        def izer_process(run_index: int) -> None:
            subprocess.run(command, check=True, capture_output=True)

        process = paired(izer_process, reference, runs=runs, prepare=prepare)
    return ConvertBenchReport(count, total, in_process, process)
