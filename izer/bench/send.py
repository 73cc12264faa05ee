"""C-STORE over loopback: izer's SCU against DCMTK ``storescu``, both to one DCMTK ``storescp``.

Two workloads, each sent over one association (PS3.7 9.1.1, PS3.8 9.3):

- **video** — one Video Endoscopic instance of ``video_mb`` MB in H.264 High Profile / Level
  4.1 (a noisy 1080p second at 40 Mbit/s looped by stream copy, wrapped with
  :func:`izer.encode.video.video_image`);
- **stills** — ``stills`` uncompressed 600x560 RGB Secondary Capture files of about 1 MB each.

For each maximum PDU size a ``storescp`` (DCMTK) is started on a free loopback port, taking
every transfer syntax (``+xa``) and writing what it receives as it is (``+B``) into a folder
of the scratch directory, ``--max-pdu`` set to that size: the receiver's maximum PDU length is
what bounds the P-DATA-TF PDUs a sender may send (PS3.8 9.3.1, D.1), and DCMTK accepts 4096 to
131072 bytes, so 128 KiB is the largest size this comparison can use. izer
(:func:`izer.dispatch.cstore.store_files`, destination ``max_pdu_bytes`` = the size) and
``storescu -R --max-pdu N --max-send-pdu N`` send the same files to it, alternately as
:func:`izer.bench.timing.paired` does (the ratio is the median of per-pair ratios): once with
izer in this process, once with izer as a whole process (a small driver, ``python -m
izer.bench.send``, since there is no ``izer send`` command; Python start-up and imports
included, as ``storescu``'s are). Before each side the receiver's folder is emptied and
``sync`` run (untimed); after it, the number of files the receiver wrote is checked.

A send that fails (an error, or fewer files written than sent) is tried again, untimed, up to
:data:`MAX_ATTEMPTS` times, and the report says how many failed and why. izer can fail here
through a race in pynetdicom 3.0: its association reactor thread may take the C-STORE
response off the DIMSE queue before ``send_c_store`` does (it logs "Received unexpected
C-STORE service message" and drops it); the send then waits for the DIMSE timeout (15 s
here) and the association is aborted. The report counts those log lines.

DCMTK 3.6.7 leaves Nagle's algorithm on unless the environment sets ``TCP_NODELAY=1``, which
costs ~40 ms per C-STORE with delayed ACKs; izer always sets TCP_NODELAY, so both
``storescp`` and ``storescu`` run with ``TCP_NODELAY=1``: the reference at its best.
"""

from __future__ import annotations

import json
import logging
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from izer.bench.peers import IZER_AET, free_port, nodelay_env, running_scp, tool
from izer.bench.scratch import BENCH_ROOT
from izer.bench.timing import PairedResult
from izer.dispatch.errors import DeliveryError

#: The receiver's AE title and the senders' calling AE titles.
SCP_AET = "BENCHSCP"
#: PDU sizes DCMTK accepts (``storescp``/``storescu --max-pdu``).
DCMTK_PDU_RANGE = (4096, 131072)
DEFAULT_PDUS = (16384, 65536, 131072)
START_TIMEOUT_S = 20.0
#: Tries of one side of a pair before the benchmark gives up.
MAX_ATTEMPTS = 3
#: What pynetdicom logs when its association reactor takes a response off the DIMSE queue
#: before ``send_c_store`` does (the response is dropped; see the module notes).
_STOLEN = "Received unexpected C-STORE service message"


@dataclass(frozen=True)
class SendCase:
    """One workload at one PDU size, with its two series of paired runs."""

    workload: str
    files: int
    size_bytes: int
    pdu: int
    in_process: PairedResult
    process: PairedResult


@dataclass(frozen=True)
class SendReport:
    """What :func:`run` measured."""

    cases: tuple[SendCase, ...]
    storescu_commands: tuple[str, ...]
    #: Reasons of the sends that failed and were tried again (not timed).
    izer_failures: tuple[str, ...] = ()
    storescu_failures: tuple[str, ...] = ()
    #: C-STORE responses pynetdicom's association reactor took and dropped.
    stolen_responses: int = 0

    def lines(self) -> list[str]:
        """Human-readable report: a table of rates and ratios (above 1: izer is faster)."""
        header = ("case", "izer MB/s", "storescu MB/s", "ratio", "pairs")
        rows = []
        for case in self.cases:
            mb = case.size_bytes / 1e6
            name = f"{case.workload}, {_pdu_name(case.pdu)} PDU"
            for how, t in (("process", case.process), ("in-process", case.in_process)):
                rows.append(
                    (
                        f"{name}, izer {how}",
                        f"{mb / t.izer_s:.0f}",
                        f"{mb / t.reference_s:.0f}",
                        f"{1 / t.ratio:.2f}",
                        str(t.runs),
                    )
                )
        widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]

        def line(row: Sequence[str]) -> str:
            cells = [row[0].ljust(widths[0])]
            cells += [cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)]
            return "  " + " | ".join(cells)

        workloads = list(dict.fromkeys(f"{c.workload}" for c in self.cases))
        lines = [
            "send: C-STORE over loopback to DCMTK storescp (+xa +B, TCP_NODELAY=1, one "
            "association per run), izer store_files vs storescu",
            f"  workloads: {'; '.join(_describe(self.cases, w) for w in workloads)}",
            line(header),
            "  " + "-+-".join("-" * width for width in widths),
            *(line(row) for row in rows),
            "  ratio = storescu time / izer time, median of per-pair ratios (above 1: izer "
            "faster); PDU = storescp --max-pdu",
        ]
        lines += [
            "  storescp: TCP_NODELAY=1 storescp --aetitle BENCHSCP +xa +B -dhl --max-pdu N "
            "-od DIR PORT",
            *(f"  storescu: TCP_NODELAY=1 {command}" for command in self.storescu_commands),
            "  izer process: python -m izer.bench.send FILES.json PORT N (store_files, "
            "max_pdu_bytes N)",
        ]
        # successful sends of each side: both series, each with its warm-up pair
        sends = sum(c.in_process.runs + c.process.runs + 2 for c in self.cases)
        for name, failed in (("izer", self.izer_failures), ("storescu", self.storescu_failures)):
            if failed:
                lines.append(
                    f"  {name} failed {len(failed)} of {sends + len(failed)} sends "
                    f"(tried again, not timed); first: {failed[0]}"
                )
        if self.stolen_responses:
            lines.append(
                f"  pynetdicom logged {self.stolen_responses} time(s) '{_STOLEN}': its "
                "association reactor took the C-STORE response meant for send_c_store"
            )
        return lines


def _describe(cases: Sequence[SendCase], workload: str) -> str:
    case = next(c for c in cases if c.workload == workload)
    return f"{workload} = {case.files} file(s), {case.size_bytes / 1e6:.1f} MB"


def _pdu_name(pdu: int) -> str:
    return f"{pdu // 1024} KB" if pdu % 1024 == 0 else f"{pdu} B"


# --------------------------------------------------------------------------- the receiver


def _tool(name: str) -> str:
    return tool(name, "send")


class _Receiver:
    """A running ``storescp``: its port and the folder it writes into."""

    def __init__(self, port: int, folder: Path, expected: int) -> None:
        self.port = port
        self.folder = folder
        self.expected = expected

    def check(self) -> None:
        """Raise :class:`_SideFailed` unless the receiver wrote every file sent."""
        written = sum(1 for _ in self.folder.iterdir())
        if written != self.expected:
            raise _SideFailed(f"storescp wrote {written} of the {self.expected} files sent")

    def empty(self) -> None:
        for path in self.folder.iterdir():
            path.unlink()


@contextmanager
def _storescp(root: Path, pdu: int, expected: int) -> Iterator[_Receiver]:
    """``storescp`` on a free loopback port writing into ``root/received``; stopped after."""
    folder = root / "received"
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    argv = [
        _tool("storescp"), "--aetitle", SCP_AET, "+xa", "+B", "-dhl",
        "--max-pdu", str(pdu), "-od", str(folder), str(port),
    ]  # fmt: skip
    log_path = root / f"storescp-{pdu}.log"
    with running_scp(argv, aet=SCP_AET, port=port, log_path=log_path, timeout_s=START_TIMEOUT_S):
        yield _Receiver(port, folder, expected)


# --------------------------------------------------------------------------- the senders


def send_files(paths: Sequence[Path], port: int, pdu: int) -> int:
    """izer's side: :func:`~izer.dispatch.cstore.store_files` of ``paths`` to the receiver on
    ``port`` over one association, destination ``max_pdu_bytes`` = ``pdu``; files stored."""
    from izer.config import Destination, NetworkSettings, StationSettings
    from izer.dispatch.cstore import store_files
    from izer.net import AssociationFactory

    factory = AssociationFactory(
        StationSettings(ae_title=IZER_AET, uid_root=BENCH_ROOT),
        NetworkSettings(dimse_timeout_s=15, network_timeout_s=60),
    )
    destination = Destination(
        name="storescp", ae_title=SCP_AET, host="127.0.0.1", port=port, max_pdu_bytes=pdu
    )
    return len(store_files(factory, destination, list(paths)))


def _driver_command(list_file: Path, port: int, pdu: int) -> list[str]:
    return [sys.executable, "-m", "izer.bench.send", str(list_file), str(port), str(pdu)]


def _storescu_command(
    paths: Sequence[Path], port: int | str, pdu: int | str, *, video: bool
) -> list[str]:
    proposal = ["-xn"] if video else []  # H.264 HP@L4.1 (PS3.5 8.2.7); else uncompressed
    return [
        _tool("storescu"), "-aet", "STORESCU", "-aec", SCP_AET, "-R", *proposal,
        "--max-pdu", str(pdu), "--max-send-pdu", str(pdu), "127.0.0.1", str(port),
        *(str(path) for path in paths),
    ]  # fmt: skip


def _shown_storescu(files: int, *, video: bool) -> str:
    """The ``storescu`` command line as run, with placeholders for the port and the files."""
    command = _storescu_command([], "PORT", "N", video=video)
    return " ".join(["storescu", *command[1:], f"FILE... ({files})"])


# --------------------------------------------------------------------------- workloads


def make_video(folder: Path, size_mb: float) -> Path:
    """A Video Endoscopic instance (H.264 HP@L4.1) of about ``size_mb`` MB in ``folder``."""
    from izer.bench.video import make_conforming_clip
    from izer.encode import (
        EquipmentContext,
        InstanceContext,
        SeriesContext,
        StudyContext,
        UidFactory,
    )
    from izer.encode.video import VideoKind, VideoSyntax, probe, video_image, write_video_instance
    from izer.model import Patient

    clip = make_conforming_clip(folder, size_mb)
    uids = UidFactory(BENCH_ROOT)
    study = StudyContext(
        patient=Patient("BENCH-0001", "Bench^Patient"),
        study_instance_uid=uids.new(),
        study_date="20260101",
        study_time="120000",
    )
    context = InstanceContext(
        study,
        SeriesContext(uids.new(), 1, "ES"),
        EquipmentContext("izer project", "izer", "bench"),
        uids.new(),
        1,
    )
    ds = video_image(
        clip, probe(clip), context, kind=VideoKind.ENDOSCOPIC, syntax=VideoSyntax.H264_HP41
    )
    path = folder / "video.dcm"
    write_video_instance(ds, path)
    clip.unlink()
    (folder / "second.mp4").unlink(missing_ok=True)
    return path


def make_stills(folder: Path, count: int) -> list[Path]:
    """``count`` uncompressed 600x560 RGB Secondary Capture files (~1 MB each)."""
    from izer.bench.store_import import make_files

    folder.mkdir(parents=True, exist_ok=True)
    make_files(folder, count, 600, 560)
    return sorted(folder.iterdir())


# --------------------------------------------------------------------------- the benchmark


def run(
    video_mb: float = 500,
    stills: int = 200,
    pdus: Sequence[int] = DEFAULT_PDUS,
    runs: int = 5,
) -> SendReport:
    """Measure sending the workloads at each PDU size, ``runs`` pairs each way after a
    warm-up pair. ``video_mb`` 0 or ``stills`` 0 leaves that workload out."""
    low, high = DCMTK_PDU_RANGE
    if not pdus or any(not low <= pdu <= high for pdu in pdus):
        raise ValueError(f"PDU sizes must be {low} to {high} bytes (DCMTK's limits), got {pdus}")
    if video_mb <= 0 and stills <= 0:
        raise ValueError("nothing to send: give --video-mb or --stills more than 0")
    for name in ("storescp", "storescu", "sync", *(("ffmpeg",) if video_mb > 0 else ())):
        _tool(name)
    with tempfile.TemporaryDirectory(prefix="izer-bench-") as scratch:
        root = Path(scratch)
        workloads: list[tuple[str, list[Path], bool]] = []
        if video_mb > 0:
            (root / "video").mkdir()
            workloads.append(("video", [make_video(root / "video", video_mb)], True))
        if stills > 0:
            workloads.append(("stills", make_stills(root / "stills", stills), False))
        cases: list[SendCase] = []
        commands: list[str] = []
        failures = _Failures()
        for name, paths, is_video in workloads:
            list_file = root / f"{name}.json"
            list_file.write_text(json.dumps([str(path) for path in paths]), encoding="utf-8")
            size = sum(path.stat().st_size for path in paths)
            for pdu in pdus:
                with _storescp(root / "scp", pdu, len(paths)) as receiver:
                    in_process, process = _measure(
                        receiver, paths, list_file, pdu, is_video, runs, failures
                    )
                cases.append(SendCase(name, len(paths), size, pdu, in_process, process))
            commands.append(_shown_storescu(len(paths), video=is_video))
    return SendReport(
        tuple(cases),
        tuple(commands),
        izer_failures=tuple(failures.izer),
        storescu_failures=tuple(failures.storescu),
        stolen_responses=failures.stolen_responses,
    )


class _SideFailed(RuntimeError):
    """One send did not deliver every file; the attempt is retried and not timed."""


@dataclass
class _Failures:
    """Failed attempts of each side (retried), with their first lines."""

    izer: list[str] = field(default_factory=list)
    storescu: list[str] = field(default_factory=list)
    stolen_responses: int = 0


def _paired_retrying(
    izer: Callable[[], None],
    reference: Callable[[], None],
    *,
    runs: int,
    prepare: Callable[[], None],
    check: Callable[[], None],
    failures: _Failures,
) -> PairedResult:
    """:func:`izer.bench.timing.paired`, except that a send that fails (an exception or
    ``check()`` raising :class:`_SideFailed`) is noted in ``failures`` and tried again, up to
    :data:`MAX_ATTEMPTS` times; only successful sends are timed."""
    izer_times: list[float] = []
    reference_times: list[float] = []
    for run in range(-1, runs):
        for name, side, times in (
            ("storescu", reference, reference_times),
            ("izer", izer, izer_times),
        ):
            for attempt in range(1, MAX_ATTEMPTS + 1):
                prepare()
                start = time.perf_counter()
                try:
                    side()
                    elapsed = time.perf_counter() - start
                    check()
                except (_SideFailed, DeliveryError, subprocess.CalledProcessError) as exc:
                    first = _first_line(exc)
                    getattr(failures, name).append(first)
                    if attempt == MAX_ATTEMPTS:
                        raise RuntimeError(
                            f"{name} failed {attempt} times in a row: {first}"
                        ) from exc
                    continue
                if run >= 0:
                    times.append(elapsed)
                break
    ratios = [a / b for a, b in zip(izer_times, reference_times, strict=True)]
    return PairedResult(
        izer_s=statistics.median(izer_times),
        reference_s=statistics.median(reference_times),
        ratio=statistics.median(ratios),
        runs=runs,
    )


def _first_line(exc: BaseException) -> str:
    if isinstance(exc, subprocess.CalledProcessError):
        err = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else ""
        err = err or (exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else "")
        lines = [line for line in err.splitlines() if line.strip()]
        return f"exit {exc.returncode}: {lines[-1] if lines else '(no output)'}"
    first = str(exc).splitlines()[0]
    failed = getattr(exc, "failures", None)  # StoreFailed: say why the first file failed
    if failed and len(failed) > 1:
        return f"{first.rstrip(':')}; the first: {failed[0].message}"
    return first


class _StolenResponses(logging.Handler):
    """Counts pynetdicom's note that its reactor took a C-STORE response (see the module)."""

    def __init__(self, failures: _Failures) -> None:
        super().__init__(logging.WARNING)
        self.failures = failures

    def emit(self, record: logging.LogRecord) -> None:
        if _STOLEN in record.getMessage():
            self.failures.stolen_responses += 1


def _measure(
    receiver: _Receiver,
    paths: list[Path],
    list_file: Path,
    pdu: int,
    is_video: bool,
    runs: int,
    failures: _Failures,
) -> tuple[PairedResult, PairedResult]:
    """Both series at one PDU size: izer in this process, then izer as a process."""
    sync = _tool("sync")
    storescu = _storescu_command(paths, receiver.port, pdu, video=is_video)
    driver = _driver_command(list_file, receiver.port, pdu)
    env = nodelay_env()

    def prepare() -> None:
        receiver.empty()
        subprocess.run([sync], check=True)

    def reference() -> None:
        subprocess.run(storescu, check=True, capture_output=True, env=env)

    def izer_in_process() -> None:
        send_files(paths, receiver.port, pdu)

    def izer_process() -> None:
        done = subprocess.run(driver, check=False, capture_output=True, text=True)
        lines = done.stdout.strip().splitlines()
        if lines and lines[-1].startswith("{"):
            failures.stolen_responses += int(json.loads(lines[-1]).get("stolen", 0))
        if done.returncode != 0:
            why = done.stderr.strip().splitlines() or ["(no output)"]
            raise _SideFailed(f"exit {done.returncode}: {why[-1]}")

    quiet = logging.getLogger("izer.dispatch")  # one warning per file not stored
    counter = _StolenResponses(failures)
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)
    logging.getLogger("pynetdicom").addHandler(counter)
    try:
        series = [
            _paired_retrying(
                izer, reference, runs=runs, prepare=prepare, check=receiver.check, failures=failures
            )
            for izer in (izer_in_process, izer_process)
        ]
    finally:
        quiet.setLevel(level)
        logging.getLogger("pynetdicom").removeHandler(counter)
    receiver.empty()
    return series[0], series[1]


def _drive(argv: Sequence[str]) -> int:
    """``python -m izer.bench.send LIST.json PORT PDU``: izer's side as a whole process.

    Prints ``{"stolen": N}`` (responses pynetdicom's reactor took) on stdout; on failure the
    reason on stderr and exit status 1.
    """
    list_file, port, pdu = argv
    paths = [Path(text) for text in json.loads(Path(list_file).read_text(encoding="utf-8"))]
    failures = _Failures()
    logging.getLogger("izer.dispatch").setLevel(logging.CRITICAL)
    logging.getLogger("pynetdicom").addHandler(_StolenResponses(failures))
    try:
        stored = send_files(paths, int(port), int(pdu))
        problem = "" if stored == len(paths) else f"{stored} of {len(paths)} files stored"
    except DeliveryError as exc:
        problem = _first_line(exc)
    print(json.dumps({"stolen": failures.stolen_responses}))
    if problem:
        print(problem, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(_drive(sys.argv[1:]))
