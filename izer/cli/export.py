"""``izer export TARGET... --to DIR``: DICOM instances back to ordinary files.

TARGET is a DICOM file, a folder (every file below it), or a Study, Series or SOP Instance
UID of the local store. Video instances become playable files without re-encoding (MP4
stored as MP4 byte for byte; MPEG-2 program streams remuxed to MP4); pictures become JPEG
(default; a baseline JPEG is written as stored) or PNG, one file per frame; Encapsulated PDF
becomes .pdf; Basic Voice Audio becomes a 16-bit .wav. Presentation states, structured
reports and other objects without pictures are skipped with a note.

Files go into folders named by --pattern (values from the dataset, made safe for every file
system), as <instance number>_<kind>.<ext>; an existing file is never replaced (-2, -3...).

Exit status: 0 when every instance was exported (or skipped), 1 when any failed (the others
are still exported; a failed instance leaves no file), 2 for wrong options.
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
from izer.engine import EXPORT_PATTERN_FIELDS, Engine, ExportOptions, ExportStep


def add_parser(commands: argparse._SubParsersAction) -> None:
    defaults = ExportOptions()
    fields = "; ".join(f"{{{name}}}: {what}" for name, what in EXPORT_PATTERN_FIELDS.items())
    parser = commands.add_parser(
        "export",
        parents=[global_options()],
        help="export DICOM instances as video, JPEG/PNG, PDF and WAV files",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"Pattern fields: {fields}.",
    )
    parser.add_argument(
        "targets", nargs="+", metavar="TARGET", help="DICOM files, folders, or store UIDs"
    )
    parser.add_argument(
        "--to", required=True, type=Path, metavar="DIR", help="folder to export into"
    )
    parser.add_argument(
        "--stills",
        choices=("jpeg", "png"),
        default=defaults.stills,
        help="file format of pictures (default: %(default)s)",
    )
    parser.add_argument(
        "--quality",
        type=int,
        default=defaults.quality,
        metavar="Q",
        help="JPEG quality 1-100 (default: %(default)s)",
    )
    parser.add_argument(
        "--pattern",
        default=defaults.pattern,
        metavar="PATTERN",
        help="folders under DIR, '/' between levels (default: %(default)s)",
    )
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    options = ExportOptions(stills=args.stills, quality=args.quality, pattern=args.pattern)
    verbose = bool(args.verbose or args.debug)
    settings = settings_for(args).settings
    with Engine.open(settings) as engine:
        try:
            report = engine.export(
                args.targets, args.to, options, progress=_Progress(args.to, verbose).show
            )
        except ValueError as exc:
            return fail(str(exc), EXIT_USAGE)
    files = len(report.files)
    print(
        f"{files} file{'s' if files != 1 else ''} from {report.instances} "
        f"instance{'s' if report.instances != 1 else ''} in {args.to}"
    )
    if report.skipped and not verbose:
        print(
            f"izer: {len(report.skipped)} object(s) with nothing to export skipped; -v lists them",
            file=sys.stderr,
        )
    for failure in report.failures:
        print(f"izer: failed: {failure.source}: {failure.error}", file=sys.stderr)
    return EXIT_FAILURE if report.failures else 0


class _Progress:
    """One line per instance with -v; otherwise a line rewritten in place on a terminal."""

    def __init__(self, to_dir: Path, verbose: bool) -> None:
        self.to_dir = to_dir
        self.verbose = verbose
        self.live = not verbose and sys.stderr.isatty()

    def show(self, step: ExportStep) -> None:
        head = f"[{step.index}/{step.total}] {step.source}"
        if self.verbose:
            if step.error is not None:
                print(f"{head}: FAILED: {step.error}")
            elif step.skipped is not None:
                print(f"{head}: skipped: {step.skipped}")
            else:
                print(f"{head} -> {', '.join(self._relative(p) for p in step.outputs)}")
            for note in step.notes:
                print(f"    note: {note}")
        elif self.live:
            end = "\n" if step.index == step.total else ""
            print(f"\r\033[K{head}", end=end, file=sys.stderr, flush=True)

    def _relative(self, path: Path) -> str:
        try:
            return str(path.resolve().relative_to(self.to_dir.resolve()))
        except ValueError:
            return str(path)


main = subcommand_main("export")
