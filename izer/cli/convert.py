"""``izer convert INPUT...``: images, PDF and audio files into DICOM instances of one study.

Inputs are files or folders (their files in name order). Each image (each page of a
multi-page TIFF) becomes one instance; with --multiframe each input becomes one multi-frame
instance. Baseline JPEG and JPEG 2000 files are kept as they are (no re-encoding) unless --ts
asks for another transfer syntax. Without --iod, images become Secondary Capture, PDFs
Encapsulated PDF and sound files Basic Voice Audio.

Without --accession, --patient-id and --patient-name are required. With --accession they may
be left out (Patient ID and Name are then written empty); the worklist lookup by accession
number comes in a later version.

Exit status: 0 when every input was converted, 1 when any failed (the others are still
converted; a failed input leaves no file), 2 for wrong options.
"""

from __future__ import annotations

import argparse
import re
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
from izer.engine import ConvertRequest, ConvertStep, Engine
from izer.model import Patient, Sex

_DATE = re.compile(r"^(\d{4})-?(\d{2})-?(\d{2})$")


def add_parser(commands: argparse._SubParsersAction) -> None:
    iods = "; ".join(f"{name} ({title})" for name, title in Engine.convert_iods())
    parser = commands.add_parser(
        "convert",
        parents=[global_options()],
        help="convert images, PDF and audio files into DICOM files",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"IODs: {iods}.",
    )
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="files or folders")
    parser.add_argument("--iod", metavar="NAME", help="the IOD to make (see the list below)")
    parser.add_argument(
        "--ts",
        metavar="NAME",
        help="transfer syntax (e.g. explicit-vr-little-endian, jpeg-baseline, jpeg-2000-lossless)",
    )
    parser.add_argument("--quality", type=float, metavar="Q", help="encoder quality (JPEG 1-100)")
    parser.add_argument(
        "--multiframe",
        action="store_true",
        help="one multi-frame instance per folder or multi-page TIFF (images of one size)",
    )
    parser.add_argument(
        "--conversion-type", metavar="CODE", help="Conversion Type: WSD (default), SD, SI, DF..."
    )
    parser.add_argument(
        "--bits-stored", type=int, metavar="N", help="significant bits of 16-bit grayscale input"
    )
    parser.add_argument(
        "--dpi",
        type=float,
        metavar="N",
        help="scanner resolution, for Nominal Scanned Pixel Spacing (needed with DF)",
    )
    who = parser.add_argument_group("patient and study")
    who.add_argument("--patient-name", metavar="NAME", help="Family^Given (DICOM PN form)")
    who.add_argument("--patient-id", metavar="ID")
    who.add_argument(
        "--accession",
        metavar="A",
        help="Accession Number (the worklist lookup by accession comes later)",
    )
    who.add_argument("--birth-date", metavar="YYYYMMDD")
    who.add_argument("--sex", metavar="M|F|O", help="M, F or O")
    who.add_argument("--study-description", metavar="TEXT", default="")
    parser.add_argument(
        "--out",
        metavar="DIR",
        type=Path,
        help="write the DICOM files to DIR (default: into the local store)",
    )
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    try:
        patient = _patient(args)
    except ValueError as exc:
        return fail(str(exc), EXIT_USAGE)
    request = ConvertRequest(
        patient=patient,
        accession_number=args.accession or "",
        study_description=args.study_description,
        iod=args.iod,
        transfer_syntax=args.ts,
        quality=args.quality,
        conversion_type=args.conversion_type,
        bits_stored=args.bits_stored,
        scanner_dpi=args.dpi,
        multiframe=args.multiframe,
    )
    if args.out is not None and args.out.exists() and not args.out.is_dir():
        return fail(f"--out {args.out}: is not a folder", EXIT_USAGE)
    if args.accession and not (args.patient_id or args.patient_name):
        print(
            "izer: no --patient-id or --patient-name: Patient ID and Name are written empty",
            file=sys.stderr,
        )
    verbose = bool(args.verbose or args.debug)
    settings = settings_for(args).settings
    with Engine.open(settings) as engine:
        try:
            report = engine.convert(
                args.inputs, request, out=args.out, progress=_Progress(verbose).show
            )
        except RuntimeError as exc:  # a codec that cannot run here
            return fail(str(exc), EXIT_USAGE)
        except ValueError as exc:
            return fail(str(exc), EXIT_USAGE)
    where = f" to {args.out}" if args.out is not None else " into the local store"
    print(
        f"{report.converted} converted, {len(report.failures)} failed "
        f"({report.instances} instance{'s' if report.instances != 1 else ''} written{where})"
    )
    if report.notes and not verbose:
        print(f"izer: {len(report.notes)} note(s) about the inputs; -v shows them", file=sys.stderr)
    for failure in report.failures:
        print(f"izer: failed: {failure.source}: {failure.reason}", file=sys.stderr)
    return EXIT_FAILURE if report.failures else 0


def _patient(args: argparse.Namespace) -> Patient:
    if not args.accession and not (args.patient_id and args.patient_name):
        raise ValueError(
            "give --patient-id and --patient-name (or --accession, to fill them from the "
            "worklist once that exists)"
        )
    birth_date = ""
    if args.birth_date:
        match = _DATE.match(args.birth_date.strip())
        if match is None:
            raise ValueError(f"--birth-date {args.birth_date!r}: use YYYYMMDD or YYYY-MM-DD")
        birth_date = "".join(match.groups())
    try:
        sex = Sex((args.sex or "").strip().upper())
    except ValueError:
        raise ValueError(f"--sex {args.sex!r}: use M, F or O") from None
    return Patient(
        patient_id=args.patient_id or "",
        name=args.patient_name or "",
        birth_date=birth_date,
        sex=sex,
    )


class _Progress:
    """One line per input with -v; otherwise a line rewritten in place on a terminal."""

    def __init__(self, verbose: bool) -> None:
        self.verbose = verbose
        self.live = not verbose and sys.stderr.isatty()

    def show(self, step: ConvertStep) -> None:
        head = f"[{step.index}/{step.total}] {step.source}"
        if self.verbose:
            if step.error is not None:
                print(f"{head}: FAILED: {step.error}")
            else:
                names = ", ".join(Path(output).name for output in step.outputs)
                print(f"{head} -> {names}")
            for note in step.notes:
                print(f"    note: {note}")
        elif self.live:
            end = "\n" if step.index == step.total else ""
            print(f"\r\033[K{head}", end=end, file=sys.stderr, flush=True)


main = subcommand_main("convert")
