"""Encoding one 1080p still in every transfer syntax, next to DCMTK's compressors.

izer's figure is the in-process encode of one frame (:func:`izer.encode.pixels.encode_frames`,
median over the runs); DCMTK's is a whole ``dcmcjpeg`` / ``dcmcjpls`` / ``dcmcrle`` process
from an uncompressed Part-10 file to a compressed one (start-up and file I/O included), run
alternately with izer's encode by :func:`izer.bench.timing.paired`. ``dcmconv`` copying the
same file without encoding shows how much of DCMTK's figure is start-up and file I/O.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from izer.bench.scratch import BENCH_ROOT
from izer.bench.timing import PairedResult, paired
from izer.encode import (
    EquipmentContext,
    InstanceContext,
    SeriesContext,
    StudyContext,
    TransferSyntax,
    UidFactory,
    secondary_capture_image,
)
from izer.encode.pixels import PixelLayout, available_codecs, encode_frames
from izer.model import Patient

#: DCMTK command (after the program name, before the input and output files) doing the same
#: encode as izer's codec, where DCMTK has one.
DCMTK_EQUIVALENTS: dict[TransferSyntax, tuple[str, ...]] = {
    TransferSyntax.JPEG_BASELINE: ("dcmcjpeg", "+eb", "+q", "95", "+s2"),
    TransferSyntax.JPEG_EXTENDED: ("dcmcjpeg", "+ee", "+q", "95", "+s2"),
    TransferSyntax.JPEG_LOSSLESS_SV1: ("dcmcjpeg", "+e1"),
    TransferSyntax.JPEG_LS_LOSSLESS: ("dcmcjpls", "+el"),
    TransferSyntax.JPEG_LS_NEAR_LOSSLESS: ("dcmcjpls", "+en", "+md", "2"),
    TransferSyntax.RLE_LOSSLESS: ("dcmcrle",),
}


def photographic_frame(width: int = 1920, height: int = 1080, seed: int = 0) -> np.ndarray:
    """An RGB frame with the statistics of a photograph: smooth shading, edges, fine noise.

    Flat test patterns compress far better than real pictures; this frame gives JPEG sizes
    close to those of endoscopy stills (about 0.3 MB at quality 90 for 1080p).
    """
    rng = np.random.default_rng(seed)
    coarse = rng.integers(30, 225, size=(height // 32 + 1, width // 32 + 1, 3), dtype=np.uint8)
    frame = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    for _ in range(12):
        centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        colour = tuple(int(c) for c in rng.integers(0, 255, 3))
        cv2.circle(frame, centre, int(rng.integers(20, height // 3)), colour, -1, cv2.LINE_AA)
    frame = cv2.GaussianBlur(frame, (0, 0), 2.0)
    noise = rng.normal(0, 3.0, frame.shape)
    return np.clip(frame + noise, 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class CodecTiming:
    """One transfer syntax: izer's median ms per frame, its output size, DCMTK alongside."""

    transfer_syntax: TransferSyntax
    izer_ms: float
    encoded_bytes: int
    dcmtk: PairedResult | None
    dcmtk_command: str | None


@dataclass(frozen=True)
class StillEncodeReport:
    """What was measured."""

    width: int
    height: int
    runs: int
    timings: list[CodecTiming]
    dcmtk_copy_ms: float | None = None

    def lines(self) -> list[str]:
        """Human-readable report."""
        raw = self.width * self.height * 3
        out = [
            f"still encode: one {self.width}x{self.height} RGB frame ({raw / 1e6:.1f} MB), "
            f"{self.runs} runs; izer in-process, DCMTK whole process file to file",
            f"  {'transfer syntax':<24}{'izer ms':>9}{'ratio':>8}{'DCMTK ms':>10}"
            f"{'izer/DCMTK':>12}  DCMTK command",
        ]
        for t in self.timings:
            ratio = f"{raw / max(t.encoded_bytes, 1):.1f}:1"
            if t.dcmtk is not None:
                dcmtk = f"{t.dcmtk.reference_s * 1000:>10.1f}{t.dcmtk.ratio:>12.2f}"
                command = f"  {t.dcmtk_command}"
            else:
                dcmtk, command = f"{'-':>10}{'-':>12}", ""
            name = t.transfer_syntax.name.lower().replace("_", "-")
            out.append(f"  {name:<24}{t.izer_ms:>9.1f}{ratio:>8}{dcmtk}{command}")
        if self.dcmtk_copy_ms is not None:
            out.append(
                f"  DCMTK start-up and file I/O alone (dcmconv, no encoding): "
                f"{self.dcmtk_copy_ms:.1f} ms"
            )
        return out


def write_source_file(path: Path, frame: np.ndarray) -> None:
    """The uncompressed SC file the DCMTK compressors read."""
    uids = UidFactory(BENCH_ROOT)
    study = StudyContext(
        patient=Patient("BENCH-0001", "Bench^Patient"),
        study_instance_uid=uids.new(),
        study_date="20260101",
        study_time="120000",
    )
    context = InstanceContext(
        study,
        SeriesContext(uids.new(), 1, "OT"),
        EquipmentContext("izer project", "izer", "bench"),
        uids.new(),
        1,
    )
    secondary_capture_image(frame, context).save_as(path, enforce_file_format=True)


def run(runs: int = 10, width: int = 1920, height: int = 1080) -> StillEncodeReport:
    """Time every available codec, and DCMTK's where it has one."""
    frame = photographic_frame(width, height)
    frames = frame[np.newaxis]
    layout = PixelLayout.of(frames)
    timings: list[CodecTiming] = []
    with tempfile.TemporaryDirectory(prefix="izer-bench-") as scratch:
        source = Path(scratch) / "source.dcm"
        target = Path(scratch) / "target.dcm"
        write_source_file(source, frame)
        for codec in available_codecs():
            syntax = codec.transfer_syntax
            if (
                not syntax.is_encapsulated
                and syntax is not TransferSyntax.EXPLICIT_VR_LITTLE_ENDIAN
            ):
                continue
            encoded = encode_frames(frames, layout, syntax)

            def izer(run_index: int, syntax: TransferSyntax = syntax) -> None:
                encode_frames(frames, layout, syntax)

            command = DCMTK_EQUIVALENTS.get(syntax)
            program = shutil.which(command[0]) if command else None
            dcmtk_result = None
            if command and program:
                argv = [program, *command[1:], str(source), str(target)]

                def dcmtk(run_index: int, argv: list[str] = argv) -> None:
                    subprocess.run(argv, check=True, capture_output=True)

                dcmtk_result = paired(izer, dcmtk, runs=runs)
                izer_ms = dcmtk_result.izer_s * 1000
            else:
                izer_ms = _median_ms(izer, runs)
            timings.append(
                CodecTiming(
                    syntax,
                    izer_ms,
                    len(encoded.pixel_data),
                    dcmtk_result,
                    " ".join(command) if command and program else None,
                )
            )
        copy_ms = None
        if dcmconv := shutil.which("dcmconv"):
            argv = [dcmconv, str(source), str(target)]
            copy_ms = _median_ms(
                lambda run_index: subprocess.run(argv, check=True, capture_output=True), runs
            )
    return StillEncodeReport(width, height, runs, timings, copy_ms)


def _median_ms(work, runs: int) -> float:  # type: ignore[no-untyped-def]
    work(-1)
    times = []
    for index in range(runs):
        start = time.perf_counter()
        work(index)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000
