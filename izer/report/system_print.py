"""Print a PDF report on a system printer: CUPS ``lp`` (Linux, macOS) or the Windows shell.

This is the operating system's printing, not DICOM Print Management (PS3.4 Annex H). On
POSIX it runs the CUPS command-line clients, which honour ``-h server`` (or ``CUPS_SERVER``),
the user's ``lpoptions`` and ``LPDEST``/``PRINTER`` like any other program:

- `system_printers`: ``lpstat -l -p -d``
- `print_pdf`: ``lp [-h server] [-d printer] -n copies -t title FILE``
- `job_state`: ``lpstat -W not-completed -l -o PRINTER``, then ``-W completed``

The clients' messages are read with ``LC_ALL=C`` so their wording does not depend on the
user's language. On Windows the list comes from pywin32's ``win32print`` or PowerShell, and
printing goes through the shell's print verb of the PDF handler (no job id there).
"""

from __future__ import annotations

import contextlib
import enum
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "JobState",
    "PrinterState",
    "SystemPrintError",
    "SystemPrinter",
    "job_state",
    "print_pdf",
    "system_printers",
]

DEFAULT_TITLE = "izer report"
QUERY_TIMEOUT_S = 15.0

#: What to say when a CUPS client program is not installed.
NO_CUPS_CLIENT = (
    "no CUPS client (`{program}`) here; install cups-client, or save the PDF and print it yourself"
)

_PDF_MAGIC = b"%PDF-"
#: PDF 32000-1 7.5.2 only asks for the header "at the beginning"; readers look this far.
_PDF_HEADER_WINDOW = 1024


class PrinterState(enum.StrEnum):
    """A printer's state as `system_printers` reports it (a plain ``str`` too)."""

    IDLE = "idle"
    PRINTING = "printing"
    DISABLED = "disabled"
    HOLDING = "holding"
    OFFLINE = "offline"
    UNKNOWN = "unknown"


class JobState(enum.StrEnum):
    """A print job's state as `job_state` reports it (a plain ``str`` too).

    ``lpstat`` tells finished jobs apart from waiting ones but not printed from cancelled
    or aborted ones: all finished jobs are `COMPLETED`.
    """

    PENDING = "pending"
    HELD = "held"
    PROCESSING = "processing"
    COMPLETED = "completed"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class SystemPrinter:
    """One printer queue of the system.

    Attributes
    ----------
    name
        Queue name, the value for ``print_pdf(printer=...)``.
    is_default
        True for the default destination.
    state
        A `PrinterState` value.
    info
        Its description (CUPS ``printer-info``, Windows comment), may be empty.
    """

    name: str
    is_default: bool
    state: str
    info: str = ""


class SystemPrintError(RuntimeError):
    """Printing or asking the print system failed; the message says what to do."""


# --------------------------------------------------------------------------- public API


def system_printers(
    *, server: str | None = None, timeout_s: float = QUERY_TIMEOUT_S
) -> list[SystemPrinter]:
    """List the printer queues (``lpstat -l -p -d``; on Windows win32print or PowerShell).

    Parameters
    ----------
    server
        CUPS server ``host[:port]`` (``lpstat -h``); None for the client's own default.
    timeout_s
        How long ``lpstat`` may take.

    Returns
    -------
    list[SystemPrinter]
        In the order the print system gives; empty when it has no printers (and on Windows
        when neither win32print nor PowerShell is there).

    Raises
    ------
    SystemPrintError
        No ``lpstat``, the scheduler cannot be reached, or ``lpstat`` failed.
    """
    _check_server(server)
    _check_timeout(timeout_s)
    if os.name == "nt":
        return _windows_printers(timeout_s)
    result = _run("lpstat", [*_server_args(server), "-l", "-p", "-d"], timeout_s)
    printers = _parse_lpstat_printers(result.stdout)
    if result.returncode != 0 and not printers:
        if "no destinations added" in result.stderr.lower():
            return []
        raise SystemPrintError(
            f"cannot list the printers{_on(server)} ({_said(result)}); check that the CUPS "
            "scheduler runs (`lpstat -r`), or save the PDF and print it yourself"
        )
    return printers


def print_pdf(
    pdf: bytes | Path,
    *,
    printer: str | None = None,
    copies: int = 1,
    title: str = DEFAULT_TITLE,
    server: str | None = None,
    timeout_s: float = 30.0,
) -> str:
    """Send a PDF to a system printer.

    POSIX: ``lp [-h server] [-d printer] -n copies -t title FILE``. PDF bytes go to a
    private temporary file (mode 0600) that is removed as soon as ``lp`` returns (``lp``
    has uploaded the document to the scheduler by then). Windows: the shell's ``print``
    verb (``printto`` with pywin32 when *printer* is named); the file is left in the temp
    folder because the PDF handler reads it after the call returns.

    Parameters
    ----------
    pdf
        The document: PDF bytes or the path of a PDF file.
    printer
        Queue name; None for the default destination.
    copies
        Number of copies, at least 1.
    title
        Job name shown in the queue.
    server
        CUPS server ``host[:port]`` (``lp -h``, like ``CUPS_SERVER``); None for the default.
    timeout_s
        How long ``lp`` may take.

    Returns
    -------
    str
        The CUPS job id (``"printer-123"``) from ``lp``'s "request id is ..." line;
        ``""`` on Windows.

    Raises
    ------
    ValueError
        *pdf* is not a PDF, or *copies*, *printer*, *server* or *timeout_s* is unusable.
    FileNotFoundError
        *pdf* names no file.
    SystemPrintError
        No CUPS client, unknown printer, no default printer, or ``lp`` failed (its
        message is included).
    """
    if not isinstance(copies, int) or isinstance(copies, bool) or copies < 1:
        raise ValueError(f"copies: {copies!r}; give a whole number of at least 1")
    if printer is not None and not printer.strip():
        raise ValueError("printer: empty name; give a queue name, or None for the default")
    _check_server(server)
    _check_timeout(timeout_s)
    title = title.strip() or DEFAULT_TITLE
    if os.name == "nt":
        _print_windows(pdf, printer, copies)
        return ""
    options = [*_server_args(server)]
    if printer is not None:
        options += ["-d", printer]
    options += ["-n", str(copies), "-t", title]
    with _pdf_file(pdf, keep=False) as path:
        result = _run("lp", [*options, str(path)], timeout_s)
    if result.returncode != 0:
        raise _lp_failure(result, printer, server)
    match = re.search(r"request id is (\S+)", result.stdout)
    if match is None:
        raise SystemPrintError(
            f"lp gave no job id ({_said(result)}); check the queue with `lpstat -o`"
        )
    return match.group(1)


def job_state(job_id: str, *, server: str | None = None, timeout_s: float = QUERY_TIMEOUT_S) -> str:
    """Return the state of a CUPS job (a `JobState` value).

    Looks the job up with ``lpstat -W not-completed -l -o PRINTER`` (held jobs carry a
    ``job-hold-until`` alert; the processing one is the printer's "now printing" job),
    then with ``lpstat -W completed -o PRINTER``.

    Parameters
    ----------
    job_id
        A job id as `print_pdf` returns it, ``"printer-123"``.
    server
        CUPS server ``host[:port]``; None for the default.
    timeout_s
        How long each ``lpstat`` call may take.

    Returns
    -------
    str
        `JobState.PENDING`, `HELD`, `PROCESSING`, `COMPLETED` (printed, cancelled or
        aborted), or `UNKNOWN` when the scheduler no longer (or never) knew the job.

    Raises
    ------
    ValueError
        *job_id* is not of the form ``printer-123``.
    SystemPrintError
        No ``lpstat``, the printer is unknown, or the scheduler cannot be reached.
    """
    printer, _, number = job_id.rpartition("-")
    if not printer or not number.isdigit():
        raise ValueError(f"job_id: {job_id!r} is not a CUPS job id like 'printer-123'")
    _check_server(server)
    _check_timeout(timeout_s)
    if os.name == "nt":
        return JobState.UNKNOWN
    base = _server_args(server)
    active = _run("lpstat", [*base, "-W", "not-completed", "-l", "-o", printer], timeout_s)
    _check_jobs_listed(active, printer, server)
    block = _job_block(active.stdout, job_id)
    if block is not None:
        if any(line.strip().startswith("Alerts:") and "job-hold" in line for line in block):
            return JobState.HELD
        status = _run("lpstat", [*base, "-p", printer], timeout_s)
        if re.search(rf"now printing {re.escape(job_id)}\.", status.stdout):
            return JobState.PROCESSING
        return JobState.PENDING
    done = _run("lpstat", [*base, "-W", "completed", "-o", printer], timeout_s)
    _check_jobs_listed(done, printer, server)
    if _job_block(done.stdout, job_id) is not None:
        return JobState.COMPLETED
    return JobState.UNKNOWN


# --------------------------------------------------------------------------- POSIX helpers


def _client(program: str) -> str:
    """The path of a CUPS client program on ``PATH``, or the no-CUPS error."""
    found = shutil.which(program)
    if found is None:
        raise SystemPrintError(NO_CUPS_CLIENT.format(program=program))
    return found


def _run(
    program: str, args: list[str], timeout_s: float, *, executable: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run *program* (found on ``PATH`` unless *executable* is given) with C-locale messages.

    Its ``argv[0]`` is the bare name, so CUPS prefixes its messages with ``lp:``, not a path.
    A timeout or a failure to start becomes a `SystemPrintError`.
    """
    path = executable or _client(program)
    try:
        return subprocess.run(
            [program, *args],
            executable=path,
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",
            timeout=timeout_s,
            env={**os.environ, "LC_ALL": "C", "LANG": "C"},
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise SystemPrintError(
            f"{program} did not finish within {timeout_s:g} s; check that the CUPS scheduler "
            "answers (`lpstat -r`), or save the PDF and print it yourself"
        ) from exc
    except OSError as exc:
        raise SystemPrintError(f"cannot run {path}: {exc}") from exc


def _server_args(server: str | None) -> list[str]:
    return [] if server is None else ["-h", server]


def _on(server: str | None) -> str:
    return "" if server is None else f" on {server}"


def _said(result: subprocess.CompletedProcess[str]) -> str:
    """What a failed client said (stderr, else stdout), for an error message."""
    text = " ".join((result.stderr.strip() or result.stdout.strip()).split())
    return text or f"exit status {result.returncode}, no message"


def _check_server(server: str | None) -> None:
    if server is not None and (not server.strip() or any(c.isspace() for c in server)):
        raise ValueError(f"server: {server!r}; give host[:port] such as 'localhost:631'")


def _check_timeout(timeout_s: float) -> None:
    if not timeout_s > 0:
        raise ValueError(f"timeout_s: {timeout_s!r}; give a number of seconds above 0")


_PRINTER_LINE = re.compile(r"^printer (?P<name>\S+) (?P<rest>.*)$")
_DEFAULT_LINE = re.compile(r"^system default destination: (?P<name>\S+)")


def _parse_lpstat_printers(text: str) -> list[SystemPrinter]:
    """Parse ``LC_ALL=C lpstat -l -p -d`` (lpstat(1)): printer lines, their indented
    details (``Description:``) and the default destination line."""
    found: list[dict[str, str]] = []
    default = ""
    for line in text.splitlines():
        if line.startswith(("\t", " ")):
            detail = line.strip()
            if found and detail.startswith("Description:"):
                found[-1]["info"] = detail.removeprefix("Description:").strip()
            continue
        if match := _PRINTER_LINE.match(line):
            found.append({"name": match["name"], "state": _state_of(match["rest"]), "info": ""})
        elif match := _DEFAULT_LINE.match(line):
            default = match["name"].split("/", 1)[0]
    return [SystemPrinter(p["name"], p["name"] == default, p["state"], p["info"]) for p in found]


def _state_of(rest: str) -> PrinterState:
    if rest.startswith("is idle"):
        return PrinterState.IDLE
    if rest.startswith("now printing"):
        return PrinterState.PRINTING
    if rest.startswith("disabled"):
        return PrinterState.DISABLED
    if rest.startswith("is holding new jobs"):
        return PrinterState.HOLDING
    return PrinterState.UNKNOWN


def _job_block(text: str, job_id: str) -> list[str] | None:
    """The line of *job_id* in ``lpstat -o`` output plus its indented ``-l`` lines."""
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if line.split(maxsplit=1)[:1] == [job_id]:
            block = [line]
            for more in lines[index + 1 :]:
                if not more.startswith(("\t", " ")):
                    break
                block.append(more)
            return block
    return None


def _check_jobs_listed(
    result: subprocess.CompletedProcess[str], printer: str, server: str | None
) -> None:
    """Explain a failed ``lpstat -o PRINTER``: unknown printer, or no scheduler."""
    if result.returncode == 0:
        return
    names = [p.name for p in system_printers(server=server)]  # raises when unreachable
    if printer not in names:
        raise SystemPrintError(f"unknown printer {printer!r}{_on(server)}; {_there_are(names)}")
    raise SystemPrintError(
        f"cannot list the jobs of {printer!r}{_on(server)} ({_said(result)}); check that the "
        "CUPS scheduler runs (`lpstat -r`)"
    )


def _there_are(names: list[str]) -> str:
    return f"the printers there are: {', '.join(names)}" if names else "there are no printers"


def _lp_failure(
    result: subprocess.CompletedProcess[str], printer: str | None, server: str | None
) -> SystemPrintError:
    """Explain a failed ``lp``: ask the scheduler which printers there are."""
    try:
        printers = system_printers(server=server)
    except SystemPrintError as exc:
        return SystemPrintError(f"lp could not print ({_said(result)}); {exc}")
    names = ", ".join(p.name for p in printers)
    if printer is not None and printer not in {p.name for p in printers}:
        there = _there_are([p.name for p in printers])
        return SystemPrintError(f"unknown printer {printer!r}{_on(server)}; {there}")
    if printer is None and not any(p.is_default for p in printers):
        if not names:
            return SystemPrintError(
                f"no default printer and none named: there are no printers{_on(server)}; "
                "add one in the system's printer settings, or save the PDF"
            )
        return SystemPrintError(
            f"no default printer{_on(server)} and none named; name one of: {names}"
        )
    target = repr(printer) if printer is not None else "the default printer"
    return SystemPrintError(f"lp could not print to {target}{_on(server)} ({_said(result)})")


@contextlib.contextmanager
def _pdf_file(pdf: bytes | Path, *, keep: bool) -> Iterator[Path]:
    """Yield a path holding the PDF: *pdf* itself, or a private temp file of its bytes
    (removed on exit unless *keep*)."""
    if isinstance(pdf, bytes | bytearray | memoryview):
        data = bytes(pdf)
        _check_pdf_header(data[:_PDF_HEADER_WINDOW], "pdf: the bytes")
        fd, name = tempfile.mkstemp(prefix="izer-report-", suffix=".pdf")
        path = Path(name)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            yield path
        finally:
            if not keep:
                path.unlink(missing_ok=True)
        return
    path = Path(pdf).expanduser().resolve()
    if not path.is_file():
        raise FileNotFoundError(f"pdf: no file {path}; save the report first")
    with path.open("rb") as handle:
        _check_pdf_header(handle.read(_PDF_HEADER_WINDOW), f"pdf: {path}")
    yield path


def _check_pdf_header(head: bytes, what: str) -> None:
    if _PDF_MAGIC not in head:
        raise ValueError(f"{what} is not a PDF (no %PDF- header); render the report to PDF first")


# --------------------------------------------------------------------------- Windows (thin)


def _windows_printers(timeout_s: float) -> list[SystemPrinter]:
    """win32print when pywin32 is installed, else PowerShell's Win32_Printer, else []."""
    try:
        import win32print  # type: ignore[import-not-found]
    except ImportError:
        return _powershell_printers(timeout_s)
    try:
        default = win32print.GetDefaultPrinter()
    except Exception:  # pywintypes.error: no default printer
        default = ""
    flags = win32print.PRINTER_ENUM_LOCAL | win32print.PRINTER_ENUM_CONNECTIONS
    printers = []
    for info in win32print.EnumPrinters(flags, None, 2):
        status = int(info.get("Status", 0))
        if status & 0x1:  # PRINTER_STATUS_PAUSED
            state = PrinterState.DISABLED
        elif status & 0x80:  # PRINTER_STATUS_OFFLINE
            state = PrinterState.OFFLINE
        elif status & 0x400:  # PRINTER_STATUS_PRINTING
            state = PrinterState.PRINTING
        else:
            state = PrinterState.IDLE if status == 0 else PrinterState.UNKNOWN
        name = info["pPrinterName"]
        printers.append(SystemPrinter(name, name == default, state, info.get("pComment") or ""))
    return printers


#: Win32_Printer.PrinterStatus values (CIM_Printer).
_CIM_STATES = {
    3: PrinterState.IDLE,
    4: PrinterState.PRINTING,
    5: PrinterState.PRINTING,
    6: PrinterState.DISABLED,
    7: PrinterState.OFFLINE,
}


def _powershell_printers(timeout_s: float) -> list[SystemPrinter]:
    shell = shutil.which("powershell") or shutil.which("pwsh")
    if shell is None:
        return []
    command = (
        "Get-CimInstance -ClassName Win32_Printer | "
        "Select-Object Name,Default,PrinterStatus,Comment | ConvertTo-Json -Compress"
    )
    result = _run(
        "powershell",
        ["-NoProfile", "-NonInteractive", "-Command", command],
        timeout_s,
        executable=shell,
    )
    if result.returncode != 0 or not result.stdout.strip():
        return []
    rows = json.loads(result.stdout)
    rows = [rows] if isinstance(rows, dict) else rows
    return [
        SystemPrinter(
            str(row["Name"]),
            bool(row.get("Default")),
            _CIM_STATES.get(row.get("PrinterStatus") or 0, PrinterState.UNKNOWN),
            str(row.get("Comment") or ""),
        )
        for row in rows
    ]


def _print_windows(pdf: bytes | Path, printer: str | None, copies: int) -> None:
    """Hand the PDF to the shell's print verb, once per copy (untested here)."""
    shell_execute = None
    if printer is not None:
        try:
            import win32api  # type: ignore[import-not-found]
        except ImportError as exc:
            raise SystemPrintError(
                f"printing to {printer!r} needs pywin32 (pip install pywin32); "
                "print to the default printer, or save the PDF and print it yourself"
            ) from exc
        shell_execute = win32api.ShellExecute
    with _pdf_file(pdf, keep=True) as path:
        try:
            for _ in range(copies):
                if shell_execute is None:
                    os.startfile(str(path), "print")  # type: ignore[attr-defined]
                else:
                    shell_execute(0, "printto", str(path), f'"{printer}"', ".", 0)
        except Exception as exc:  # OSError, or pywintypes.error from ShellExecute
            raise SystemPrintError(
                f"Windows could not print {path.name}: {exc}; install a PDF reader that "
                "registers a print command, or save the PDF and print it yourself"
            ) from exc
