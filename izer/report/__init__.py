"""The PDF procedure report: header on every page, stills in a grid, findings, signature.

Bytes out: the caller hands encoded stills (JPEG or PNG) and plain strings, and wraps the
PDF in DICOM (Encapsulated PDF) itself; :mod:`izer.report.system_print` prints a PDF on a
system printer (CUPS ``lp``). This room imports only `izer.model`.
"""

from izer.report.assets import default_assets_dir
from izer.report.content import (
    ReportContent,
    ReportHeader,
    ReportOptions,
    ReportPicture,
    anonymized_header,
)
from izer.report.layouts import ReportLayout, pages_needed
from izer.report.pdf import build_report
from izer.report.system_print import (
    JobState,
    PrinterState,
    SystemPrinter,
    SystemPrintError,
    job_state,
    print_pdf,
    system_printers,
)

__all__ = [
    "JobState",
    "PrinterState",
    "ReportContent",
    "ReportHeader",
    "ReportLayout",
    "ReportOptions",
    "ReportPicture",
    "SystemPrintError",
    "SystemPrinter",
    "anonymized_header",
    "build_report",
    "default_assets_dir",
    "job_state",
    "pages_needed",
    "print_pdf",
    "system_printers",
]
