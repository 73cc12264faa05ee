"""``izer convert INPUT...``: images, PDF, audio and video files into DICOM instances (one study).

Inputs are files or folders (their files in name order). Each image (each page of a
multi-page TIFF) becomes one instance; with --multiframe each input becomes one multi-frame
instance. Baseline JPEG and JPEG 2000 files are kept as they are (no re-encoding) unless --ts
asks for another transfer syntax. Without --iod, images become Secondary Capture, PDFs
Encapsulated PDF, sound files Basic Voice Audio and video clips (MP4, MOV, MKV, WebM, AVI,
MPEG program and transport streams..., recognised by content) Video Endoscopic.

A clip's coded video is kept when it already fits a DICOM video transfer syntax, otherwise
it is remuxed or re-encoded (H.264 High Profile by default; --ts h264-hp41, hevc-main,
mpeg2-mpml... names one, --video-preference lists acceptable ones). Nothing is split by
default, except a stream over 4 GiB for MPEG-2/H.264, which becomes several instances of one
series (or one instance in the fragmentable syntax with --fragmentable). --max-clip-s and
--max-clip-mb split a clip into parts; each part plays on its own. --iod sc-multiframe,
us-multiframe, xa and xrf store every frame of a clip as an image instead (short clips only).

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
import time
from pathlib import Path

from izer.cli.common import (
    EXIT_FAILURE,
    EXIT_USAGE,
    fail,
    global_options,
    settings_for,
    subcommand_main,
)
from izer.engine import ConvertRequest, ConvertStep, Engine, FrameProgress
from izer.model import Patient, Sex

_DATE = re.compile(r"^(\d{4})-?(\d{2})-?(\d{2})$")


def add_parser(commands: argparse._SubParsersAction) -> None:
    iods = "; ".join(f"{name} ({title})" for name, title in Engine.convert_iods())
    parser = commands.add_parser(
        "convert",
        parents=[global_options()],
        help="convert images, PDF, audio and video files into DICOM files",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"IODs: {iods}.",
    )
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="files or folders")
    parser.add_argument("--iod", metavar="NAME", help="the IOD to make (see the list below)")
    parser.add_argument(
        "--ts",
        metavar="NAME",
        help="transfer syntax (e.g. explicit-vr-little-endian, jpeg-baseline, jpeg-2000-lossless;"
        " for video: h264-hp41, h264-hp42, hevc-main, hevc-main10, mpeg2-mpml...)",
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
    video = parser.add_argument_group("video clips")
    video.add_argument(
        "--video-preference",
        metavar="LIST",
        help="video transfer syntaxes acceptable, best first (e.g. h264-hp41,hevc-main)",
    )
    video.add_argument("--start", type=float, metavar="S", help="keep the clip from S seconds")
    video.add_argument("--end", type=float, metavar="S", help="keep the clip up to S seconds")
    video.add_argument(
        "--max-clip-s",
        type=float,
        metavar="N",
        help="split a clip into instances of at most N seconds (default: no split)",
    )
    video.add_argument(
        "--max-clip-mb",
        type=float,
        metavar="N",
        help="split a clip into instances of at most N MB (10^6 bytes; default: only a stream "
        "over 4 GiB is split)",
    )
    video.add_argument("--no-audio", action="store_true", help="drop the sound of clips")
    video.add_argument(
        "--fragmentable",
        action="store_true",
        help="a stream over 4 GiB stays one instance in the fragmentable syntax (not split)",
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
        video_preference=args.video_preference,
        start_s=args.start,
        end_s=args.end,
        max_clip_s=args.max_clip_s,
        max_clip_mb=args.max_clip_mb,
        audio=not args.no_audio,
        fragmentable=args.fragmentable,
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
    shown = _Progress(verbose)
    with Engine.open(settings) as engine:
        try:
            report = engine.convert(
                args.inputs,
                request,
                out=args.out,
                progress=shown.show,
                frame_progress=shown.frames if shown.frames_live else None,
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
    """One line per input with -v; otherwise a line rewritten in place on a terminal.

    With -v on a terminal, a clip being remuxed or re-encoded also shows its frames done on a
    line rewritten in place (on stderr), cleared before the input's own line.
    """

    #: Seconds between two updates of the frame line.
    INTERVAL_S = 0.25

    def __init__(self, verbose: bool) -> None:
        self.verbose = verbose
        self.live = not verbose and sys.stderr.isatty()
        self.frames_live = verbose and sys.stderr.isatty()
        self._shown_at = 0.0
        self._frame_line = False

    def frames(self, progress: FrameProgress) -> None:
        now = time.monotonic()
        if progress.done < progress.total and now - self._shown_at < self.INTERVAL_S:
            return
        self._shown_at = now
        share = f" ({100 * progress.done // max(progress.total, 1)} %)"
        line = f"    {progress.source}: {progress.stage} {progress.done}/{progress.total} frames"
        print(f"\r\033[K{line}{share}", end="", file=sys.stderr, flush=True)
        self._frame_line = True

    def show(self, step: ConvertStep) -> None:
        head = f"[{step.index}/{step.total}] {step.source}"
        if self._frame_line:
            print("\r\033[K", end="", file=sys.stderr, flush=True)
            self._frame_line = False
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
