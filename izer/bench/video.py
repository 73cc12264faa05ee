"""Video clips into DICOM: remux throughput against ``cp``, transcode speed against ``ffmpeg``.

**remux** (:func:`run_remux`): ``izer convert`` of a conforming 1080p H.264 High 4.1 MP4 (one
noisy second at 40 Mbit/s looped with ``ffmpeg -c copy``, ``size_mb`` MB) into a Video
Endoscopic file, next to ``cp`` of the same file followed by ``sync``. Two sources: *as is*
(index first: izer encapsulates the file itself) and *remux* (index at the end: izer first
copies the packets into a new MP4, the path any non-conforming container takes). izer's
figure includes what makes the instance trustworthy: probing the clip, the fsync of the
instance, and reading its stream back to check it against the header. Timed in-process
(:meth:`izer.engine.Engine.convert`) and as a whole ``izer convert`` process.

**transcode** (:func:`run_transcode`): ``izer convert`` of ``frames`` 1080p frames from a
lossless FFV1 file (re-encoded to H.264 High 4.1 with x264 ``veryfast``, CRF 20, the VBV
limits of the level and one key frame a second, as izer always does) next to the ffmpeg
command line with the same encoder settings writing an MP4, both whole processes on the
same input.

Every side writes into an emptied folder, ``sync`` run before it (untimed); the sides
alternate (:func:`izer.bench.timing.paired`), so the ratio is what to trust.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from izer.bench.scratch import settings_file
from izer.bench.timing import PairedResult, paired
from izer.config import load_settings
from izer.engine import ConvertRequest, Engine
from izer.model import Patient
from izer.store import StudyStore

PATIENT = Patient("BENCH-0001", "Bench^Patient")
#: izer's x264 settings for H.264 High Profile Level 4.1 (see izer.encode.video.transcode).
X264_HP41 = (
    "-c:v", "libx264", "-preset", "veryfast", "-profile:v", "high", "-level:v", "4.1",
    "-pix_fmt", "yuv420p", "-crf", "20",
)  # fmt: skip


@dataclass(frozen=True)
class RemuxCase:
    """One source of the remux benchmark and its two series of paired runs."""

    name: str
    size_bytes: int
    in_process: PairedResult
    process: PairedResult


@dataclass(frozen=True)
class RemuxReport:
    """What :func:`run_remux` measured."""

    cases: tuple[RemuxCase, ...]

    def lines(self) -> list[str]:
        """Human-readable report."""
        lines = []
        for case in self.cases:
            mb = case.size_bytes / 1e6

            def rate(seconds: float, mb: float = mb) -> str:
                return f"{seconds:.2f} s ({mb / seconds:.0f} MB/s)"

            a, b = case.in_process, case.process
            lines += [
                f"remux ({case.name}): {mb:.0f} MB 1080p H.264 MP4 to Video Endoscopic, "
                f"{a.runs} paired runs",
                f"  cp + sync                        : median {rate(a.reference_s)}",
                f"  izer Engine.convert (in-process) : median {rate(a.izer_s)}",
                f"  ratio in-process izer / cp       : {a.ratio:.2f}",
                f"  cp + sync (second series)        : median {rate(b.reference_s)}",
                f"  izer convert (whole process)     : median {rate(b.izer_s)}",
                f"  ratio process izer / cp          : {b.ratio:.2f}",
            ]
        return lines


@dataclass(frozen=True)
class TranscodeReport:
    """What :func:`run_transcode` measured."""

    frames: int
    size: tuple[int, int]
    rate: Fraction
    timing: PairedResult
    izer_command: str
    ffmpeg_command: str

    def lines(self) -> list[str]:
        """Human-readable report."""
        t, n = self.timing, self.frames

        def fps(seconds: float) -> str:
            return f"{seconds:.2f} s ({n / seconds:.1f} frames/s)"

        width, height = self.size
        return [
            f"transcode: {n} frames {width}x{height} at {float(self.rate):g} frames/s from "
            f"FFV1 to H.264 High 4.1 (x264 veryfast, CRF 20), {t.runs} paired runs",
            f"  ffmpeg (whole process) : median {fps(t.reference_s)}",
            f"  izer convert (process) : median {fps(t.izer_s)}",
            f"  ratio izer / ffmpeg    : {t.ratio:.2f} (time; below 1 is faster)",
            f"  izer:   {self.izer_command}",
            f"  ffmpeg: {self.ffmpeg_command}",
        ]


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(f"the video benchmarks need {name} on the PATH")
    return path


def _ffmpeg(*args: str) -> None:
    subprocess.run(
        [_tool("ffmpeg"), "-v", "error", "-nostdin", "-y", *args], check=True, capture_output=True
    )


def _izer_command(config: Path, *args: str) -> list[str]:
    return [
        sys.executable, "-m", "izer", "--config", str(config), "convert", *args,
        "--patient-id", PATIENT.patient_id, "--patient-name", PATIENT.name,
    ]  # fmt: skip


def make_conforming_clip(folder: Path, size_mb: float, *, index_first: bool = True) -> Path:
    """A conforming 1080p30 H.264 High 4.1 MP4 of about ``size_mb`` MB (a noisy second at
    40 Mbit/s, made once in ``folder``, looped without re-encoding); the index (moov) first
    or at the end."""
    second = folder / "second.mp4"
    if not second.exists():
        _ffmpeg(
            "-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=30,noise=alls=60:allf=t+u",
            "-frames:v", "30", *X264_HP41[:-2], "-b:v", "40M", "-maxrate", "40M",
            "-bufsize", "40M", "-g", "30", "-movflags", "+faststart", str(second),
        )  # fmt: skip
    loops = max(0, round(size_mb * 1e6 / second.stat().st_size) - 1)
    name = "conforming.mp4" if index_first else "index-last.mp4"
    clip = folder / name
    flags = ["-movflags", "+faststart"] if index_first else []
    _ffmpeg("-stream_loop", str(loops), "-i", str(second), "-c", "copy", *flags, str(clip))
    return clip


def run_remux(size_mb: float = 1000, runs: int = 3) -> RemuxReport:
    """Measure converting a conforming clip of ``size_mb`` MB, ``runs`` pairs each way."""
    cp, sync = _tool("cp"), _tool("sync")
    with tempfile.TemporaryDirectory(prefix="izer-bench-") as scratch:
        root = Path(scratch)
        config = settings_file(root)
        settings = load_settings(config).settings
        request = ConvertRequest(patient=PATIENT, iod="video-endoscopic")
        cases = []
        for name, index_first in (("as is", True), ("remux, index at the end", False)):
            source_folder = root / "source"
            source_folder.mkdir(exist_ok=True)
            clip = make_conforming_clip(source_folder, size_mb, index_first=index_first)

            def prepare(run_index: int) -> None:
                for target in ("izer", "copy"):
                    shutil.rmtree(root / target, ignore_errors=True)
                    (root / target).mkdir()
                subprocess.run([sync], check=True)

            def reference(run_index: int, clip: Path = clip) -> None:
                subprocess.run([cp, str(clip), str(root / "copy" / clip.name)], check=True)
                subprocess.run([sync], check=True)

            with Engine(settings, StudyStore(root / "store")) as engine:

                def izer_in_process(run_index: int, clip: Path = clip) -> None:
                    report = engine.convert([clip], request, out=root / "izer")
                    if report.failures:
                        raise RuntimeError(f"izer convert failed: {report.failures[0]}")

                in_process = paired(izer_in_process, reference, runs=runs, prepare=prepare)
            command = _izer_command(config, str(clip), "--out", str(root / "izer"))

            def izer_process(run_index: int, command: list[str] = command) -> None:
                subprocess.run(command, check=True, capture_output=True)

            process = paired(izer_process, reference, runs=runs, prepare=prepare)
            cases.append(RemuxCase(name, clip.stat().st_size, in_process, process))
            clip.unlink()
    return RemuxReport(tuple(cases))


def run_transcode(
    frames: int = 300, width: int = 1920, height: int = 1080, rate: int = 30, runs: int = 1
) -> TranscodeReport:
    """Measure re-encoding ``frames`` frames with izer and with ffmpeg, ``runs`` pairs."""
    ffmpeg, sync = _tool("ffmpeg"), _tool("sync")
    with tempfile.TemporaryDirectory(prefix="izer-bench-") as scratch:
        root = Path(scratch)
        config = settings_file(root)
        source = root / "lossless.mkv"
        _ffmpeg(
            "-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate={rate},noise=alls=12:allf=t",
            "-frames:v", str(frames), "-c:v", "ffv1", "-level", "3", "-slices", "4",
            "-pix_fmt", "yuv420p", str(source),
        )  # fmt: skip
        izer_command = _izer_command(config, str(source), "--out", str(root / "izer"))
        x264 = [*X264_HP41, "-g", str(rate)]
        x264 += ["-x264-params", f"vbv-maxrate=50000:vbv-bufsize=62500:keyint={rate}"]
        ffmpeg_command = [
            ffmpeg, "-v", "error", "-nostdin", "-y", "-i", str(source), *x264,
            "-movflags", "+faststart", str(root / "ffmpeg" / "out.mp4"),
        ]  # fmt: skip

        def prepare(run_index: int) -> None:
            for target in ("izer", "ffmpeg"):
                shutil.rmtree(root / target, ignore_errors=True)
                (root / target).mkdir()
            subprocess.run([sync], check=True)

        def reference(run_index: int) -> None:
            subprocess.run(ffmpeg_command, check=True, capture_output=True)

        def izer(run_index: int) -> None:
            subprocess.run(izer_command, check=True, capture_output=True)

        timing = paired(izer, reference, runs=runs, prepare=prepare)
    shown = [Path(part).name if part.startswith(str(root)) else part for part in izer_command]
    return TranscodeReport(
        frames,
        (width, height),
        Fraction(rate),
        timing,
        " ".join(["izer", *shown[shown.index("convert") :]]),
        " ".join(
            Path(part).name if part.startswith(str(root)) or part == ffmpeg else part
            for part in ffmpeg_command
        ),
    )
