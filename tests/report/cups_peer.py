"""A private CUPS scheduler for the tests: ``cupsd`` on 127.0.0.1 with ``file://`` queues.

`CupsPeer` writes its own ``cupsd.conf`` and ``cups-files.conf`` into a folder of its own
(ServerRoot, RequestRoot, TempDir, StateDir, CacheDir, logs and printcap all inside it),
runs ``cupsd -f -c ... -s ...`` listening on 127.0.0.1 only, and adds queues with
``lpadmin``. Every queue prints to ``file://<folder>/out/<QUEUE>.pdf`` (``FileDevice Yes``).

Why not ``lpadmin -m raw``: CUPS 2.4 accepts a raw queue on a ``file:`` device but starts no
process for it, so the job "completes" and nothing is written (cups-files.conf(5): "File
devices cannot be used with raw print queues - a PPD file is required"). Each queue gets a
small PPD instead, whose only filter (`FILTER_SCRIPT`) copies the PDF through unchanged,
once per copy CUPS asks for (``*cupsManualCopies: True`` makes CUPS pass the copies to it).
Queue ``IZERSLOW`` holds its job in that filter until `CupsPeer.open_gate` is called, so a
test can see a job being processed.

The folder is made with `tempfile.mkdtemp` (not pytest's tmp_path) and opened to ``0o755``:
cupsd runs filters as user ``lp``, who must reach the spool and the filter script.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

from tests.peers.harness import free_port

#: Server binary and client programs the peer and the tests run, with their Debian packages.
CUPS_BINARIES: dict[Path, str] = {
    Path("/usr/sbin/cupsd"): "cups-daemon",
    Path("/usr/sbin/lpadmin"): "cups-client",
    Path("/usr/sbin/cupsdisable"): "cups-client",
    Path("/usr/bin/lp"): "cups-client",
    Path("/usr/bin/lpstat"): "cups-client",
    Path("/usr/bin/cancel"): "cups-client",
}
CUPS_PACKAGES: tuple[str, ...] = ("cups-daemon", "cups-client")

CUPSD, LPADMIN, CUPSDISABLE, LP, LPSTAT, CANCEL = CUPS_BINARIES

#: The default queue: accepts jobs, prints them at once.
PRINTER = "IZERTEST"
#: Accepts jobs but is disabled (paused): its jobs stay pending.
PAUSED_PRINTER = "IZERPAUSED"
#: Disabled and rejecting jobs: ``lp`` refuses to queue anything.
REJECTING_PRINTER = "IZEROFF"
#: Accepts jobs and holds each one in its filter until `CupsPeer.open_gate`.
SLOW_PRINTER = "IZERSLOW"

START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0
POLL_INTERVAL = 0.05

#: The queues' only filter: ``filter job-id user title copies options [file]`` (CUPS filter
#: interface, filter(7)); writes the document to stdout *copies* times.
FILTER_SCRIPT = """\
#!/bin/sh
# izer test peer: pass the PDF through unchanged, once per copy.
if [ "$PRINTER" = "{slow}" ]; then
    waited=0
    while [ ! -e "{gate}" ] && [ "$waited" -lt 600 ]; do sleep 0.05; waited=$((waited + 1)); done
fi
copies=${{4:-1}}
i=0
while [ "$i" -lt "$copies" ]; do
    cat "${{6:-/dev/stdin}}" || exit 1
    i=$((i + 1))
done
"""

#: A minimal PPD for a PDF printer whose "driver" is `FILTER_SCRIPT`.
PPD_TEXT = """\
*PPD-Adobe: "4.3"
*FormatVersion: "4.3"
*FileVersion: "1.0"
*LanguageVersion: English
*LanguageEncoding: ISOLatin1
*PCFileName: "IZERTEST.PPD"
*Manufacturer: "izer"
*Product: "(izer test PDF printer)"
*ModelName: "izer test PDF printer"
*ShortNickName: "izer test PDF printer"
*NickName: "izer test PDF printer"
*PSVersion: "(3010.000) 0"
*LanguageLevel: "3"
*ColorDevice: False
*DefaultColorSpace: Gray
*FileSystem: False
*Throughput: "1"
*TTRasterizer: Type42
*cupsVersion: 2.4
*cupsManualCopies: True
*cupsFilter2: "application/pdf application/vnd.cups-pdf 0 {filter}"
*OpenUI *PageSize/Media Size: PickOne
*OrderDependency: 10 AnySetup *PageSize
*DefaultPageSize: A4
*PageSize A4/A4: "<</PageSize[595 842]>>setpagedevice"
*CloseUI: *PageSize
*OpenUI *PageRegion: PickOne
*OrderDependency: 10 AnySetup *PageRegion
*DefaultPageRegion: A4
*PageRegion A4/A4: "<</PageSize[595 842]>>setpagedevice"
*CloseUI: *PageRegion
*DefaultImageableArea: A4
*ImageableArea A4/A4: "0 0 595 842"
*DefaultPaperDimension: A4
*PaperDimension A4/A4: "595 842"
"""

CUPS_FILES_CONF = """\
# izer test peer: every file of this scheduler stays under {folder}
ServerRoot {folder}/etc
RequestRoot {folder}/spool
TempDir {folder}/spool/tmp
StateDir {folder}/run
CacheDir {folder}/cache
ErrorLog {folder}/log/error_log
AccessLog {folder}/log/access_log
PageLog {folder}/log/page_log
Printcap {folder}/printcap
FileDevice Yes
{identity}
"""

CUPSD_CONF = """\
# izer test peer: loopback only, no browsing, no authentication
LogLevel info
MaxLogSize 0
Listen 127.0.0.1:{port}
Browsing No
BrowseLocalProtocols none
WebInterface No
DefaultShared No
PreserveJobHistory Yes
PreserveJobFiles No
ErrorPolicy abort-job
<Location />
  Order allow,deny
  Allow from 127.0.0.1
</Location>
<Policy default>
  <Limit All>
    Order deny,allow
  </Limit>
</Policy>
"""


class CupsPeerError(RuntimeError):
    """cupsd did not start, or an ``lpadmin``/``lpstat`` call failed; the message says why."""


def missing_cups_binaries() -> list[Path]:
    """Return the CUPS programs of `CUPS_BINARIES` that are absent or not executable."""
    return [p for p in CUPS_BINARIES if not (p.is_file() and os.access(p, os.X_OK))]


def cups_install_hint(missing: Iterable[Path]) -> str:
    """Name the missing programs and the apt command that installs them."""
    missing = list(missing)
    packages = sorted({CUPS_BINARIES[p] for p in missing})
    listing = ", ".join(f"{p} (Debian package {CUPS_BINARIES[p]})" for p in missing)
    return f"missing binary: {listing}. Fix: sudo apt-get install -y {' '.join(packages)}"


def _identity_lines() -> str:
    """``User``/``Group`` lines for a scheduler run by an ordinary user (root uses lp)."""
    if os.geteuid() == 0:
        return "SystemGroup root"
    import grp
    import pwd

    user = pwd.getpwuid(os.geteuid()).pw_name
    group = grp.getgrgid(os.getegid()).gr_name
    return f"User {user}\nGroup {group}\nSystemGroup {group}"


@dataclass
class CupsPeer:
    """One private ``cupsd``; use `start` (or ``with``) and `stop`.

    Attributes
    ----------
    folder
        Its own tree (configuration, spool, logs, ``out/`` with the printed files).
    port
        The TCP port on 127.0.0.1 it listens on (chosen free at `start`).
    printers
        Queues added so far, in order.
    default
        The default queue, or None.
    """

    folder: Path
    port: int = 0
    printers: list[str] = field(default_factory=list)
    default: str | None = None
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @classmethod
    def in_temp_folder(cls) -> CupsPeer:
        """A peer in a new folder under the system temp folder, reachable by user ``lp``."""
        folder = Path(tempfile.mkdtemp(prefix="izer-cups-"))
        folder.chmod(0o755)
        return cls(folder)

    @property
    def server(self) -> str:
        """``host:port``, the value for ``lp -h`` and ``server=``."""
        return f"127.0.0.1:{self.port}"

    @property
    def error_log(self) -> Path:
        """cupsd's error log."""
        return self.folder / "log" / "error_log"

    @property
    def gate(self) -> Path:
        """The file whose existence lets `SLOW_PRINTER` jobs through."""
        return self.folder / "gate" / "open"

    def output(self, printer: str = PRINTER) -> Path:
        """The file a queue prints into (overwritten by every job)."""
        return self.folder / "out" / f"{printer}.pdf"

    def log_tail(self, lines: int = 30) -> str:
        """The last *lines* lines of the error log and of cupsd's own stdout/stderr."""
        parts = []
        for path in (self.folder / "log" / "cupsd.out", self.error_log):
            try:
                text = path.read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue
            parts.append(f"--- {path.name}\n" + "\n".join(text.splitlines()[-lines:]))
        return "\n".join(parts) or "(no log)"

    # ------------------------------------------------------------------ lifecycle

    def start(
        self,
        printers: Iterable[str] = (PRINTER,),
        default: str | None = PRINTER,
        timeout: float = START_TIMEOUT,
    ) -> Self:
        """Write the configuration, run cupsd, wait until it answers, add *printers*.

        Raises
        ------
        CupsPeerError
            cupsd exited or did not answer within *timeout* seconds (message holds the log).
        """
        self._write_tree()
        self.port = free_port()
        (self.folder / "cupsd.conf").write_text(CUPSD_CONF.format(port=self.port))
        log = (self.folder / "log" / "cupsd.out").open("wb")
        with log:
            self.proc = subprocess.Popen(
                [
                    str(CUPSD),
                    "-f",
                    "-c",
                    str(self.folder / "cupsd.conf"),
                    "-s",
                    str(self.folder / "cups-files.conf"),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._wait_running(time.monotonic() + timeout)
        for name in printers:
            self.add_printer(name)
        if default is not None:
            self.run(LPADMIN, "-d", default)
            self.default = default
        return self

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """SIGTERM cupsd, SIGKILL after *timeout* seconds; then remove the folder."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ queues

    def add_printer(self, name: str) -> None:
        """Add queue *name* printing to `output`; `PAUSED_PRINTER` is disabled afterwards,
        `REJECTING_PRINTER` is left disabled and rejecting."""
        argv = ["-p", name, "-v", self.output(name).as_uri(), "-P", str(self._ppd())]
        argv += ["-D", f"izer test queue {name}"]
        if name != REJECTING_PRINTER:
            argv.insert(2, "-E")
        self.run(LPADMIN, *argv)
        if name == PAUSED_PRINTER:
            self.run(CUPSDISABLE, name)
        self.printers.append(name)

    def open_gate(self) -> None:
        """Let the jobs of `SLOW_PRINTER` through."""
        self.gate.touch()

    def close_gate(self) -> None:
        """Hold new `SLOW_PRINTER` jobs in their filter again."""
        self.gate.unlink(missing_ok=True)

    def run(self, program: Path, *args: str) -> str:
        """Run a CUPS client program against this scheduler; return its stdout.

        Raises
        ------
        CupsPeerError
            The program failed; the message holds its output and the log tail.
        """
        argv = [str(program), "-h", self.server, *args]
        result = subprocess.run(
            argv, capture_output=True, text=True, timeout=30, env=_c_locale(), check=False
        )
        if result.returncode != 0:
            raise CupsPeerError(
                f"{' '.join(argv)} failed ({result.returncode}): "
                f"{result.stdout.strip()} {result.stderr.strip()}\n{self.log_tail()}"
            )
        return result.stdout

    # ------------------------------------------------------------------ internals

    def _write_tree(self) -> None:
        for sub in ("etc", "spool", "spool/tmp", "run", "cache", "log", "out", "gate", "bin"):
            (self.folder / sub).mkdir(parents=True, exist_ok=True)
        (self.folder / "cups-files.conf").write_text(
            CUPS_FILES_CONF.format(folder=self.folder, identity=_identity_lines())
        )
        script = self.folder / "bin" / "izer-passthrough"
        script.write_text(FILTER_SCRIPT.format(slow=SLOW_PRINTER, gate=self.gate))
        script.chmod(0o755)
        self._ppd().write_text(PPD_TEXT.format(filter=script))

    def _ppd(self) -> Path:
        return self.folder / "izertest.ppd"

    def _wait_running(self, deadline: float) -> None:
        assert self.proc is not None
        while True:
            if self.proc.poll() is not None:
                raise CupsPeerError(
                    f"cupsd exited with status {self.proc.returncode}\n{self.log_tail()}"
                )
            with contextlib.suppress(subprocess.TimeoutExpired):
                result = subprocess.run(
                    [str(LPSTAT), "-h", self.server, "-r"],
                    capture_output=True,
                    text=True,
                    timeout=5,
                    env=_c_locale(),
                    check=False,
                )
                if result.returncode == 0 and "scheduler is running" in result.stdout:
                    return
            if time.monotonic() > deadline:
                self.stop_process_only()
                raise CupsPeerError(f"cupsd did not answer on {self.server}\n{self.log_tail()}")
            time.sleep(POLL_INTERVAL)

    def stop_process_only(self) -> None:
        """Stop cupsd but keep the folder (for its logs)."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)


def _c_locale() -> dict[str, str]:
    """This environment with untranslated (C locale) messages, for parsing."""
    return {**os.environ, "LC_ALL": "C", "LANG": "C"}
