"""Reference DICOM servers the benchmarks start: DCMTK tools on a free loopback port."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from izer.bench.scratch import BENCH_ROOT
from izer.config import Destination, NetworkSettings, StationSettings
from izer.net import AssociationFactory, echo

#: izer's calling AE title in the benchmarks.
IZER_AET = "IZERBENCH"


def tool(name: str, benchmark: str) -> str:
    """The path of a reference program, or a RuntimeError saying the benchmark needs it."""
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(f"the {benchmark} benchmark needs {name} on the PATH (DCMTK, ffmpeg)")
    return path


def nodelay_env() -> dict[str, str]:
    """The environment with ``TCP_NODELAY=1``: DCMTK 3.6.7 keeps Nagle on without it."""
    return {**os.environ, "TCP_NODELAY": "1"}


def free_port() -> int:
    """A TCP port nothing listens on now, on loopback."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def running_scp(
    argv: Sequence[str], *, aet: str, port: int, log_path: Path, timeout_s: float
) -> Iterator[subprocess.Popen[bytes]]:
    """Start ``argv`` (a DCMTK SCP listening on ``port`` as ``aet``), wait until it answers
    C-ECHO, and stop it afterwards; its output goes to ``log_path``."""
    name = Path(argv[0]).name
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            list(argv), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            env=nodelay_env(),
        )  # fmt: skip
    try:
        factory = AssociationFactory(
            StationSettings(ae_title=IZER_AET, uid_root=BENCH_ROOT),
            NetworkSettings(connect_timeout_s=1, acse_timeout_s=5),
        )
        target = Destination(name=name, ae_title=aet, host="127.0.0.1", port=port)
        deadline = time.monotonic() + timeout_s
        while not echo(factory, target).ok:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"{name} did not start: {log_path.read_text(errors='replace')[-2000:]}"
                )
            time.sleep(0.1)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
