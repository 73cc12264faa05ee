"""Still trigger-to-file latency: from the key press to an fsync'ed, indexed DICOM still.

izer: :meth:`CaptureController.take_still` on a live, paced synthetic camera, while recording
or not: the frame on screen at the trigger becomes a VL Endoscopic image (JPEG), written under
a temporary name, fsync'ed, renamed, indexed. Reference, measured the same way in the same
run on the same frames: what a plain capture tool does at best — ``cv2.imencode`` JPEG of
the frame, write, fsync, rename. The ratio (izer / reference) is of the medians.
"""

from __future__ import annotations

import os
import random
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import cv2

from izer.bench.scratch import settings_file
from izer.config import load_settings
from izer.engine import Engine
from izer.model import Patient


@dataclass(frozen=True)
class LatencyReport:
    """Latencies in milliseconds of both sides."""

    size: tuple[int, int]
    stills: int
    recording: bool
    izer_ms: list[float]
    reference_ms: list[float]

    def lines(self) -> list[str]:
        """The table ``izer bench still-latency`` prints."""

        def p99(values: list[float]) -> float:
            ordered = sorted(values)
            return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]

        izer_median = statistics.median(self.izer_ms)
        reference_median = statistics.median(self.reference_ms)
        width, height = self.size
        return [
            f"still trigger-to-file latency, {width}x{height}, {self.stills} stills"
            + (", while recording" if self.recording else ""),
            f"  {'':<34} {'median ms':>10} {'p99 ms':>8}",
            f"  {'izer (VL Endoscopic, fsync, index)':<34} {izer_median:>10.1f} "
            f"{p99(self.izer_ms):>8.1f}",
            f"  {'reference (cv2 JPEG, fsync)':<34} {reference_median:>10.1f} "
            f"{p99(self.reference_ms):>8.1f}",
            f"  ratio izer/reference (medians): {izer_median / reference_median:.2f}",
        ]


def run(
    *,
    width: int = 1920,
    height: int = 1080,
    stills: int = 50,
    recording: bool = True,
    seed: int = 1,
) -> LatencyReport:
    """Take ``stills`` stills at random moments and time each, izer and reference alternately."""
    rng = random.Random(seed)
    izer_ms: list[float] = []
    reference_ms: list[float] = []
    with tempfile.TemporaryDirectory(prefix="izer-bench-latency-") as scratch:
        root = Path(scratch)
        settings = load_settings(settings_file(root)).settings
        reference_folder = root / "reference"
        reference_folder.mkdir()
        with Engine.open(settings) as engine:
            engine.select_patient(Patient("BENCH-LATENCY", "Bench^Latency"))
            engine.start()
            engine.capture.open({"main": "synthetic"}, width=width, height=height, fps=30)
            while engine.capture.preview() is None:
                time.sleep(0.01)
            engine.capture.take_still("main")  # warm-up: codecs loaded, series made
            _save_jpeg(engine.capture.preview().pixels, reference_folder / "warm-up.jpg")
            if recording:
                engine.capture.start_recording()
            for index in range(stills):
                time.sleep(rng.uniform(0.05, 0.25))
                trigger = time.monotonic_ns()
                engine.capture.take_still("main", trigger)
                izer_ms.append((time.monotonic_ns() - trigger) / 1e6)

                time.sleep(rng.uniform(0.05, 0.25))
                trigger = time.monotonic_ns()
                frame = engine.capture.preview()
                assert frame is not None
                _save_jpeg(frame.pixels, reference_folder / f"{index:04d}.jpg")
                reference_ms.append((time.monotonic_ns() - trigger) / 1e6)
            engine.capture.close()
            engine.review()
            engine.discontinue()
            engine.release()
    return LatencyReport((width, height), stills, recording, izer_ms, reference_ms)


def _save_jpeg(rgb, target: Path) -> None:  # type: ignore[no-untyped-def]
    ok, data = cv2.imencode(
        ".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90]
    )
    if not ok:
        raise OSError("JPEG encoding failed")
    partial = target.with_suffix(".part")
    with open(partial, "wb") as handle:
        handle.write(data.tobytes())
        handle.flush()
        os.fsync(handle.fileno())
    partial.replace(target)
    descriptor = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
