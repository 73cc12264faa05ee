"""``izer bench capture``: the recorder's sustained encoding rate, next to ffmpeg.

Both sides encode the same pre-rendered frames (:class:`~izer.capture.SyntheticSource`
bars with mild noise, written once as a raw RGB file that stays in the page cache) with the
same encoder options (:func:`izer.capture.recorder.encoder_plan`: x264 High Profile for
sizes H.264 Level 4.2 holds, x265 Main above) into fragmented MP4, one fragment per key
frame.

* **izer**: a :class:`~izer.capture.recorder.Recorder` in this process, fed without pacing
  as fast as it takes frames without dropping one (the feeder waits while the queue is
  full), from creating the recorder to :meth:`~izer.capture.recorder.Recorder.stop`
  returning (segments finalized, every fragment fsync'ed).
* **ffmpeg**: one whole ``ffmpeg -f rawvideo -pix_fmt rgb24`` process reading the file.

frames/s is frames over wall time: the highest rate each side sustains, to compare with
the camera's rate. CPU is user + system time (``getrusage``: this process for izer, the
child for ffmpeg) over wall time, 100 % being one core. The sides alternate
(:func:`izer.bench.timing.paired`); the ratio is the median of the per-pair ratios.
"""

from __future__ import annotations

import resource
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from izer.bench.timing import paired
from izer.capture.base import Frame, VideoMode
from izer.capture.fmp4 import scan_segment
from izer.capture.recorder import MOVFLAGS, EncoderPlan, EncoderSettings, Recorder, encoder_plan
from izer.capture.synthetic import SyntheticSource

#: Pixels of the 1080p reference size: other sizes get proportionally fewer frames.
_REFERENCE_PIXELS = 1920 * 1080


@dataclass(frozen=True)
class CaptureCase:
    """One frame size: what each side sustained and the CPU it used (medians)."""

    width: int
    height: int
    plan: EncoderPlan
    frames: int
    izer_fps: float
    ffmpeg_fps: float
    ratio: float  # izer fps / ffmpeg fps, median of the pairs
    izer_cpu: float  # cores busy on average (1.0 = one core)
    ffmpeg_cpu: float
    dropped: int
    runs: int
    ffmpeg_command: str


@dataclass(frozen=True)
class CaptureBenchReport:
    """What :func:`run` measured."""

    fps: Fraction
    cases: tuple[CaptureCase, ...]

    def lines(self) -> list[str]:
        """Human-readable report."""
        runs = self.cases[0].runs if self.cases else 0
        rate = f"{float(self.fps):g}"
        lines = [
            f"capture: synthetic RGB frames at {rate} frames/s encoded to fragmented MP4 as fast "
            f"as each side takes them, {runs} paired runs (medians)",
            "  izer: Recorder (cv2 RGB->I420, PyAV, fsync per fragment), fed without drops; "
            "ffmpeg: whole process, rawvideo rgb24 from a file",
            f"  {'size':<11}{'codec':<7}{'preset':<11}{'frames':>6}{'izer fps':>10}"
            f"{'ffmpeg fps':>12}{'izer/ffmpeg':>13}{'izer CPU':>10}{'ffmpeg CPU':>12}"
            f"{'real time':>11}{'dropped':>9}",
        ]
        for case in self.cases:
            size = f"{case.width}x{case.height}"
            headroom = case.izer_fps / float(self.fps)
            lines.append(
                f"  {size:<11}{case.plan.codec.value:<7}{case.plan.preset:<11}{case.frames:>6}"
                f"{case.izer_fps:>10.1f}{case.ffmpeg_fps:>12.1f}{case.ratio:>13.2f}"
                f"{case.izer_cpu * 100:>9.0f}%{case.ffmpeg_cpu * 100:>11.0f}%"
                f"{headroom:>10.2f}x{case.dropped:>9}"
            )
        lines.append("  (real time: izer frames/s over the camera's; CPU 100% = one core busy)")
        for case in self.cases:
            lines.append(f"  ffmpeg {case.width}x{case.height}: {case.ffmpeg_command}")
        return lines


def render_frames(path: Path, width: int, height: int, fps: Fraction, count: int) -> None:
    """Write ``count`` synthetic RGB frames with mild noise (sigma about 3) as raw rgb24."""
    source = SyntheticSource(width, height, fps, paced=False)
    rng = np.random.default_rng(0)
    noise = [
        rng.normal(0, 3, size=(height, width, 3)).astype(np.int16) for _ in range(min(4, count))
    ]
    with path.open("wb") as file:
        for number in range(count):
            frame = source.frame(number).astype(np.int16)
            frame += noise[number % len(noise)]
            file.write(np.clip(frame, 0, 255).astype(np.uint8).tobytes())


def _cpu_seconds(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def _frames_for(width: int, height: int, frames: int) -> int:
    return max(10, round(frames * min(1.0, _REFERENCE_PIXELS / (width * height))))


def _measure(
    root: Path,
    width: int,
    height: int,
    fps: Fraction,
    frames: int,
    settings: EncoderSettings,
    runs: int,
    ffmpeg: str,
) -> CaptureCase:
    mode = VideoMode(width, height, fps, "rgb24")
    plan = encoder_plan(mode, settings)
    raw = root / f"frames-{width}x{height}.rgb"
    render_frames(raw, width, height, fps, frames)
    pictures = np.memmap(raw, dtype=np.uint8, mode="r", shape=(frames, height, width, 3))
    output = root / "ffmpeg.mp4"
    command = [
        ffmpeg, "-v", "error", "-nostdin", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
        "-video_size", f"{width}x{height}", "-framerate", str(fps), "-i", str(raw),
        *plan.ffmpeg_arguments(), "-movflags", MOVFLAGS, "-f", "mp4", str(output),
    ]  # fmt: skip
    recordings = root / "recordings"
    izer_runs: list[tuple[float, float, int]] = []
    ffmpeg_runs: list[tuple[float, float]] = []
    open_recorders: list[Recorder] = []

    def prepare(run_index: int) -> None:
        while open_recorders:
            open_recorders.pop().close()
        shutil.rmtree(recordings, ignore_errors=True)
        output.unlink(missing_ok=True)

    def izer(run_index: int) -> None:
        cpu, start = _cpu_seconds(resource.RUSAGE_SELF), time.perf_counter()
        recorder = Recorder(recordings, mode, settings, queue_s=2.0)
        open_recorders.append(recorder)
        recorder.start({"bench": "capture"})
        for number in range(frames):
            while recorder.queue_free <= 0:
                time.sleep(0.0005)
            recorder.submit(Frame(np.asarray(pictures[number]), number, time.monotonic_ns()))
        clip = recorder.stop()
        wall = time.perf_counter() - start
        used = _cpu_seconds(resource.RUSAGE_SELF) - cpu
        written = sum(segment.frames for segment in clip.segments)
        if written != frames:
            raise RuntimeError(f"izer wrote {written} of {frames} frames")
        if run_index >= 0:
            izer_runs.append((wall, used, recorder.status.frames_dropped))

    def reference(run_index: int) -> None:
        cpu, start = _cpu_seconds(resource.RUSAGE_CHILDREN), time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        wall = time.perf_counter() - start
        used = _cpu_seconds(resource.RUSAGE_CHILDREN) - cpu
        written = scan_segment(output).samples
        if written != frames:
            raise RuntimeError(f"ffmpeg wrote {written} of {frames} frames")
        if run_index >= 0:
            ffmpeg_runs.append((wall, used))

    try:
        timing = paired(izer, reference, runs=runs, prepare=prepare)
    finally:
        prepare(runs)
        raw.unlink(missing_ok=True)
    shown = [
        Path(part).name if part.startswith(str(root)) or part == ffmpeg else part
        for part in command
    ]
    return CaptureCase(
        width=width,
        height=height,
        plan=plan,
        frames=frames,
        izer_fps=frames / timing.izer_s,
        ffmpeg_fps=frames / timing.reference_s,
        ratio=1 / timing.ratio,
        izer_cpu=statistics.median(used / wall for wall, used, _ in izer_runs),
        ffmpeg_cpu=statistics.median(used / wall for wall, used in ffmpeg_runs),
        dropped=max(dropped for _, _, dropped in izer_runs),
        runs=runs,
        ffmpeg_command=" ".join(shown),
    )


def run(
    sizes: Sequence[tuple[int, int]] = ((1920, 1080), (3840, 2160)),
    fps: float = 30.0,
    frames: int = 300,
    runs: int = 3,
    preset: str = "veryfast",
    hevc_preset: str | None = None,
    codec: str = "auto",
) -> CaptureBenchReport:
    """Measure each size, ``runs`` pairs after a warm-up pair.

    ``frames`` is the count at 1920x1080; larger sizes get proportionally fewer (at least
    10). ``hevc_preset`` overrides ``preset`` where the codec is HEVC.

    Raises
    ------
    RuntimeError
        Without ffmpeg on the PATH, or when a side did not write every frame.
    ValueError
        For a size, codec or preset the recorder refuses (the message says why).
    """
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise RuntimeError("the capture benchmark needs ffmpeg on the PATH")
    rate = Fraction(fps).limit_denominator(1001)
    cases = []
    with tempfile.TemporaryDirectory(prefix="izer-bench-") as scratch:
        root = Path(scratch)
        for width, height in sizes:
            probe = encoder_plan(VideoMode(width, height, rate), EncoderSettings(codec=codec))
            chosen = hevc_preset if hevc_preset and probe.codec.value == "hevc" else preset
            settings = EncoderSettings(codec=codec, preset=chosen)
            count = _frames_for(width, height, frames)
            cases.append(_measure(root, width, height, rate, count, settings, runs, ffmpeg))
    return CaptureBenchReport(rate, tuple(cases))
