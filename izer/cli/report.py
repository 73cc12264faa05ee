"""``izer report STUDY``: the PDF procedure report of a stored study.

STUDY is a Study Instance UID of the local store (izer studies lists them). The report has
the patient and procedure header on every page, the institution's logo ([report] logo, else
izer's), the chosen stills with captions in a grid of 1, 2, 3, 6 or 8 per page (portrait) or
1, 4 or 9 (landscape), the findings, the clinician's name and a signature line, and page
numbers. Names in any script print with real glyphs (the fonts are embedded).

What happens to it (any together; without one, it is saved as report.pdf here):
  --out FILE      saved (written under a temporary name, then renamed into place)
  --store         stored in the study as Encapsulated PDF (a new DOC series), ready to send
  --print [NAME]  printed on a system printer (CUPS lp; NAME or [report] system_printer,
                  else the system's default printer)

Exit status: 0 done, 1 saving, storing or printing failed, 2 a wrong study, still or option.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from izer.cli.common import (
    EXIT_FAILURE,
    EXIT_USAGE,
    fail,
    global_options,
    settings_for,
    subcommand_main,
)
from izer.engine import Engine
from izer.engine.reporting import ReportRequest

#: Written when no --out, --store or --print says where the report goes.
DEFAULT_NAME = "report.pdf"


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "report",
        parents=[global_options()],
        help="make the PDF procedure report of a study (save, store, print)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("study", metavar="STUDY", help="Study Instance UID of the local store")
    parser.add_argument(
        "--stills",
        metavar="UID[,UID]",
        action="append",
        help="SOP Instance UIDs of the pictures, in report order (default: every picture)",
    )
    parser.add_argument(
        "--findings", metavar="FILE", help="text file with the findings ('-': standard input)"
    )
    parser.add_argument("--clinician", metavar="NAME", help="who signs ([report] clinician)")
    parser.add_argument(
        "--layout",
        metavar="NAME",
        help="portrait-1/2/3/6/8 or landscape-1/4/9 ([report] layout; default portrait-6)",
    )
    parser.add_argument(
        "--anonymized",
        action="store_true",
        help="leave out the patient's name, ID, birth date and the accession number",
    )
    parser.add_argument("--out", metavar="FILE", type=Path, help="save the PDF as FILE")
    parser.add_argument(
        "--store", action="store_true", help="store it in the study as Encapsulated PDF"
    )
    parser.add_argument(
        "--print",
        dest="system_printer",
        nargs="?",
        const="",
        metavar="NAME",
        help="print it on a system printer (default: [report] system_printer, else the default)",
    )
    parser.add_argument("--copies", type=int, default=1, metavar="N", help="printed copies")
    parser.set_defaults(handler=handle)


def _findings(name: str | None) -> str:
    if name is None:
        return ""
    if name == "-":
        return sys.stdin.read()
    try:
        return Path(name).read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"--findings {name}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ValueError(f"--findings {name}: not UTF-8 text") from None


def handle(args: argparse.Namespace) -> int:
    settings = settings_for(args).settings
    if args.copies < 1:
        return fail(f"--copies must be 1 or more, got {args.copies}", EXIT_USAGE)
    out: Path | None = args.out
    if out is None and not args.store and args.system_printer is None:
        out = Path(DEFAULT_NAME)
        if out.exists():
            return fail(f"{out} exists; name the file with --out FILE to replace it", EXIT_USAGE)
    stills = tuple(
        uid.strip() for value in args.stills or [] for uid in value.split(",") if uid.strip()
    )
    with Engine.open(settings) as engine:
        try:
            request = ReportRequest(
                study_uid=args.study.strip(),
                stills=stills,
                findings=_findings(args.findings),
                clinician=args.clinician,
                layout=args.layout,
                anonymized=args.anonymized,
            )
            result = engine.report.build(request)
        except ValueError as exc:
            return fail(str(exc), EXIT_USAGE)
        for line in result.skipped:
            print(f"izer: left out {line}", file=sys.stderr)
        print(f"report of {len(result.pictures)} picture(s), {len(result.pdf):,} bytes")
        status = 0
        if out is not None:
            try:
                saved = engine.report.save(result.pdf, out)
            except (OSError, ValueError) as exc:
                status = fail(f"cannot save the report: {exc}")
            else:
                print(f"saved {saved}")
        if args.store:
            try:
                record = engine.report.store(result.pdf, request.study_uid)
            except (OSError, ValueError) as exc:
                status = fail(f"cannot store the report: {exc}")
            else:
                print(
                    f"stored as Encapsulated PDF {record.sop_instance_uid} in study "
                    f"{record.study_instance_uid} (izer send sends it)"
                )
        if args.system_printer is not None:
            try:
                job = engine.report.print_system(
                    result.pdf, printer=args.system_printer or None, copies=args.copies
                )
            except (OSError, RuntimeError, ValueError) as exc:
                status = fail(f"cannot print the report: {exc}")
            else:
                print(f"sent to the printer (print job {job or 'accepted'})")
        return status if status == 0 else EXIT_FAILURE


main = subcommand_main("report")
