"""System printing against a real CUPS scheduler (tests/report/cups_peer.py)."""

from __future__ import annotations

import io
import re
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen.canvas import Canvas

from izer.report.system_print import (
    JobState,
    PrinterState,
    SystemPrinter,
    SystemPrintError,
    job_state,
    print_pdf,
    system_printers,
)
from tests.peers.harness import free_port
from tests.report.cups_peer import (
    CANCEL,
    LP,
    PAUSED_PRINTER,
    PRINTER,
    REJECTING_PRINTER,
    SLOW_PRINTER,
    CupsPeer,
)

#: Upper bound for a job to reach a state; the loop stops as soon as it does.
STATE_WAIT_S = 20.0


def report_pdf(line: str) -> bytes:
    """A one-page PDF report for a made-up patient, *line* making it unique."""
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=A4, invariant=True)
    canvas.setTitle("izer test report")
    canvas.drawString(72, 770, "Patient: DOE^JANE (made-up)  ID: IZ-0001")
    canvas.drawString(72, 750, line)
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def wait_for_state(job_id: str, server: str, wanted: str) -> str:
    """Poll `job_state` until it is *wanted* (or `STATE_WAIT_S` passed); return the last."""
    deadline = time.monotonic() + STATE_WAIT_S
    state = job_state(job_id, server=server)
    while state != wanted and time.monotonic() < deadline:
        time.sleep(0.05)
        state = job_state(job_id, server=server)
    return state


def cancel(cups: CupsPeer, job_id: str) -> None:
    subprocess.run([str(CANCEL), "-h", cups.server, job_id], check=False, capture_output=True)


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Make `tempfile` use an empty folder of this test, to see what print_pdf leaves."""
    folder = tmp_path / "tempdir"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


# --------------------------------------------------------------------------- printing


def test_pdf_bytes_print_on_the_default_queue(cups: CupsPeer, private_tmp: Path) -> None:
    pdf = report_pdf("bytes to the default queue")
    cups.output(PRINTER).unlink(missing_ok=True)

    job_id = print_pdf(pdf, server=cups.server)

    assert re.fullmatch(rf"{PRINTER}-\d+", job_id)
    assert wait_for_state(job_id, cups.server, JobState.COMPLETED) == "completed"
    printed = cups.output(PRINTER).read_bytes()
    assert printed.startswith(b"%PDF-")
    assert printed == pdf
    assert list(private_tmp.iterdir()) == []  # the temporary copy is gone


def test_pdf_file_prints_two_copies_on_a_named_queue(cups: CupsPeer, tmp_path: Path) -> None:
    pdf = report_pdf("a file, two copies")
    path = tmp_path / "report.pdf"
    path.write_bytes(pdf)
    cups.output(PRINTER).unlink(missing_ok=True)

    job_id = print_pdf(path, printer=PRINTER, copies=2, title="two copies", server=cups.server)

    assert wait_for_state(job_id, cups.server, JobState.COMPLETED) == "completed"
    assert cups.output(PRINTER).read_bytes() == pdf + pdf
    assert path.read_bytes() == pdf  # the caller's file is left alone


def test_the_title_names_the_job(cups: CupsPeer) -> None:
    job_id = print_pdf(report_pdf("titled"), title="DOE^JANE report", server=cups.server)

    assert wait_for_state(job_id, cups.server, JobState.COMPLETED) == "completed"
    page_log = (cups.folder / "log" / "page_log").read_text()
    number = job_id.rpartition("-")[2]
    assert re.search(rf"^{PRINTER} \S+ {number} .* DOE\^JANE report ", page_log, re.MULTILINE)


def test_unknown_printer_names_the_printers_there_are(cups: CupsPeer, private_tmp: Path) -> None:
    with pytest.raises(SystemPrintError, match="unknown printer 'NOSUCHQUEUE'") as caught:
        print_pdf(report_pdf("nowhere"), printer="NOSUCHQUEUE", server=cups.server)

    for name in (PRINTER, PAUSED_PRINTER, REJECTING_PRINTER, SLOW_PRINTER):
        assert name in str(caught.value)
    assert list(private_tmp.iterdir()) == []


def test_a_queue_that_rejects_jobs_reports_what_lp_said(cups: CupsPeer) -> None:
    with pytest.raises(SystemPrintError, match="not accepting jobs") as caught:
        print_pdf(report_pdf("rejected"), printer=REJECTING_PRINTER, server=cups.server)

    assert REJECTING_PRINTER in str(caught.value)


def test_no_default_printer_and_none_named_lists_them(bare_cups: CupsPeer) -> None:
    bare_cups.add_printer("IZERSPARE")

    with pytest.raises(SystemPrintError, match=r"no default printer.*name one of: IZERSPARE"):
        print_pdf(report_pdf("no default"), server=bare_cups.server)


def test_no_printers_at_all(bare_cups: CupsPeer) -> None:
    assert system_printers(server=bare_cups.server) == []
    with pytest.raises(SystemPrintError, match=r"no default printer.*there are no printers"):
        print_pdf(report_pdf("no printers"), server=bare_cups.server)


def test_unreachable_scheduler_is_reported() -> None:
    server = f"127.0.0.1:{free_port()}"

    with pytest.raises(SystemPrintError, match=r"(?i)scheduler is not running"):
        print_pdf(report_pdf("unreachable"), server=server, timeout_s=10)
    with pytest.raises(SystemPrintError, match=f"cannot list the printers on {server}"):
        system_printers(server=server)
    with pytest.raises(SystemPrintError, match=f"cannot list the printers on {server}"):
        job_state(f"{PRINTER}-1", server=server)


def test_a_scheduler_that_never_answers_times_out(private_tmp: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts, never replies
        server = f"127.0.0.1:{silent.getsockname()[1]}"
        with pytest.raises(SystemPrintError, match=r"lp did not finish within 0\.5 s"):
            print_pdf(report_pdf("silent"), server=server, timeout_s=0.5)
    assert list(private_tmp.iterdir()) == []


def test_without_lp_the_error_says_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, private_tmp: Path
) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))

    with pytest.raises(SystemPrintError) as caught:
        print_pdf(report_pdf("no lp"), printer=PRINTER)
    assert str(caught.value) == (
        "no CUPS client (`lp`) here; install cups-client, or save the PDF and print it yourself"
    )
    with pytest.raises(SystemPrintError, match=r"no CUPS client \(`lpstat`\)"):
        system_printers()
    assert list(private_tmp.iterdir()) == []


# --------------------------------------------------------------------------- printers


def test_system_printers_lists_the_queues_and_the_default(cups: CupsPeer) -> None:
    printers = {p.name: p for p in system_printers(server=cups.server)}

    assert printers[PRINTER] == SystemPrinter(
        PRINTER, is_default=True, state=PrinterState.IDLE, info=f"izer test queue {PRINTER}"
    )
    assert printers[PRINTER].state == "idle"
    assert printers[PAUSED_PRINTER].state == "disabled"
    assert printers[REJECTING_PRINTER].state == "disabled"
    assert [p.name for p in printers.values() if p.is_default] == [PRINTER]
    assert set(printers) == {PRINTER, PAUSED_PRINTER, REJECTING_PRINTER, SLOW_PRINTER}


# --------------------------------------------------------------------------- job states


def test_job_on_a_paused_queue_is_pending(cups: CupsPeer) -> None:
    job_id = print_pdf(report_pdf("pending"), printer=PAUSED_PRINTER, server=cups.server)
    try:
        assert job_state(job_id, server=cups.server) == JobState.PENDING
    finally:
        cancel(cups, job_id)
    # lpstat does not tell cancelled from printed: both are finished.
    assert wait_for_state(job_id, cups.server, JobState.COMPLETED) == "completed"


def test_held_job_is_held(cups: CupsPeer) -> None:
    path = cups.folder / "held.pdf"
    path.write_bytes(report_pdf("held"))
    queued = subprocess.run(
        [str(LP), "-h", cups.server, "-d", PRINTER, "-H", "indefinite", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    job_id = re.search(r"request id is (\S+)", queued.stdout).group(1)
    try:
        assert job_state(job_id, server=cups.server) == "held"
    finally:
        cancel(cups, job_id)


def test_job_being_printed_is_processing(cups: CupsPeer) -> None:
    pdf = report_pdf("slow")
    cups.close_gate()
    job_id = print_pdf(pdf, printer=SLOW_PRINTER, server=cups.server)
    try:
        assert wait_for_state(job_id, cups.server, JobState.PROCESSING) == "processing"
        assert [p.state for p in system_printers(server=cups.server) if p.name == SLOW_PRINTER] == [
            "printing"
        ]
    finally:
        cups.open_gate()
    assert wait_for_state(job_id, cups.server, JobState.COMPLETED) == "completed"
    assert cups.output(SLOW_PRINTER).read_bytes() == pdf


def test_a_job_the_scheduler_never_had_is_unknown(cups: CupsPeer) -> None:
    assert job_state(f"{PRINTER}-999999", server=cups.server) == JobState.UNKNOWN


def test_job_on_an_unknown_printer_is_an_error(cups: CupsPeer) -> None:
    with pytest.raises(SystemPrintError, match="unknown printer 'NOSUCHQUEUE'"):
        job_state("NOSUCHQUEUE-1", server=cups.server)


# --------------------------------------------------------------------------- inputs


@pytest.mark.parametrize("job_id", ["", "IZERTEST", "IZERTEST-", "-12", "IZERTEST-1a"])
def test_job_id_must_look_like_printer_number(job_id: str) -> None:
    with pytest.raises(ValueError, match="job_id"):
        job_state(job_id)


@pytest.mark.parametrize("copies", [0, -1, True, 1.5])
def test_copies_must_be_a_whole_number_of_at_least_one(copies: object) -> None:
    with pytest.raises(ValueError, match="copies"):
        print_pdf(report_pdf("copies"), copies=copies)  # type: ignore[arg-type]


def test_bytes_that_are_not_a_pdf_are_refused(private_tmp: Path) -> None:
    with pytest.raises(ValueError, match="not a PDF"):
        print_pdf(b"GIF89a not a report")
    assert list(private_tmp.iterdir()) == []


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no file"):
        print_pdf(tmp_path / "missing.pdf")


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [({"printer": " "}, "printer"), ({"server": ""}, "server"), ({"timeout_s": 0}, "timeout_s")],
)
def test_unusable_options_are_refused(kwargs: dict[str, object], name: str) -> None:
    with pytest.raises(ValueError, match=name):
        print_pdf(report_pdf("options"), **kwargs)  # type: ignore[arg-type]
