"""``izer capture``: headless capture of stills and clips from a live source into the store.

Opens the source, starts a procedure for the patient given (or continues the one in
progress), records ``--clip`` seconds while taking ``--stills`` stills spread over it (or takes
the stills at once without a clip), saves everything into the local store (and copies it to
``--out``), then completes the procedure. Recordings left unfinished by a crash are recovered
first. Ctrl-C stops the recording cleanly and keeps what was recorded.

With a scanner or a watched folder (``sane:DEVICE``, ``twain:NAME``, ``folder:PATH``) it scans
a batch instead: every page (the feeder until it is empty; the folder's files until none has
come for ``--idle`` seconds) becomes a Secondary Capture image of the procedure, with the
Conversion Type given (DF film, SD document, SI image) and the scan resolution.
"""

from __future__ import annotations

import argparse
import shutil
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
from izer.engine import Engine
from izer.model import CaptureNotice, ClipSaved, InstanceRecord, Patient, ProcedureState, Sex

SOURCE_HELP = (
    "synthetic, opencv:0, opencv:/dev/video0, av:v4l2:/dev/video0, file:clip.mp4, "
    "rtsp://..., http://..., srt://..., udp://...; scanners: sane:DEVICE, twain:NAME, "
    "folder:PATH (default: [capture] source)"
)
#: Source kinds that deliver pages (a batch) rather than video.
PAGE_PREFIXES = ("sane:", "twain:", "folder:")


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "capture",
        parents=[global_options()],
        help="capture stills and a clip from a live source, headless",
        description=__doc__,
    )
    parser.add_argument("--source", help=SOURCE_HELP)
    parser.add_argument("--second-source", help="a second source, recorded as its own series")
    parser.add_argument("--size", help="frame size asked of the source, WIDTHxHEIGHT")
    parser.add_argument("--fps", type=float, help="frame rate asked of the source")
    parser.add_argument("--stills", type=int, help="stills to take (default 1 without --clip)")
    parser.add_argument("--clip", type=float, metavar="SECONDS", help="record a clip this long")
    parser.add_argument("--patient-name", help="Patient's Name, e.g. 'DOE^JANE'")
    parser.add_argument("--patient-id", help="Patient ID")
    parser.add_argument("--birth-date", default="", help="YYYYMMDD")
    parser.add_argument("--sex", default="", choices=["", "M", "F", "O"])
    parser.add_argument("--accession", default="", help="Accession Number")
    parser.add_argument("--description", default="", help="Study Description")
    parser.add_argument("--out", type=Path, help="also copy every instance to this folder")
    scanning = parser.add_argument_group("scanners and watched folders")
    scanning.add_argument(
        "--conversion",
        default="DF",
        choices=["DF", "SD", "SI"],
        help="Conversion Type: DF digitized film (default), SD scanned document, SI image",
    )
    scanning.add_argument("--dpi", type=float, help="scan resolution when the source omits it")
    scanning.add_argument(
        "--idle", type=float, default=10.0, help="a watched folder ends after S quiet seconds"
    )
    parser.set_defaults(handler=handle)


def parse_size(text: str) -> tuple[int, int]:
    """``1920x1080`` as (width, height).

    Raises
    ------
    ValueError
        Saying what was expected.
    """
    width, sep, height = text.lower().partition("x")
    if not sep or not width.isdigit() or not height.isdigit():
        raise ValueError(f"--size takes WIDTHxHEIGHT, like 1920x1080, not {text!r}")
    return int(width), int(height)


def handle(args: argparse.Namespace) -> int:
    try:
        size = parse_size(args.size) if args.size else (None, None)
    except ValueError as exc:
        return fail(str(exc), EXIT_USAGE)
    if args.clip is not None and args.clip <= 0:
        return fail("--clip takes a number of seconds above 0", EXIT_USAGE)
    stills = args.stills if args.stills is not None else (0 if args.clip else 1)
    if stills < 0:
        return fail("--stills must be 0 or more", EXIT_USAGE)
    if bool(args.patient_name) != bool(args.patient_id):
        return fail("give both --patient-name and --patient-id", EXIT_USAGE)
    settings = settings_for(args).settings
    with Engine.open(settings) as engine:
        engine.events.capture_notice.connect(_print_notice)
        for clip in engine.capture.recover():
            _print_clip(clip, args.out)
        status = _begin(engine, args)
        if status:
            return status
        spec = args.source or settings.capture.source
        if spec.startswith(PAGE_PREFIXES):
            return _scan(engine, spec, args)
        sources = {"main": spec}
        if args.second_source:
            sources["second"] = args.second_source
        try:
            modes = engine.capture.open(sources, width=size[0], height=size[1], fps=args.fps)
        except (OSError, ValueError, RuntimeError) as exc:
            return fail(f"cannot open the source: {exc}", EXIT_FAILURE)
        for name, mode in modes.items():
            print(f"{name}: {sources[name]} delivers {mode}")
        try:
            records = take(engine, stills, args.clip, args.out)
        except KeyboardInterrupt:
            print("interrupted: saving what was recorded", file=sys.stderr)
            for clip in engine.capture.stop_recording():
                _print_clip(clip, args.out)
            records = []
        except (OSError, ValueError, RuntimeError) as exc:
            engine.capture.close()
            return fail(str(exc), EXIT_FAILURE)
        engine.capture.close()
        if engine.state in (ProcedureState.IN_PROGRESS, ProcedureState.APPENDING):
            engine.review()
        if engine.state is ProcedureState.REVIEW:
            engine.complete()
        engine.release()
        summary = engine.status()
    errors = [n for n in engine.capture.notices() if n.level == "error"]
    print(f"{summary.stored} instance(s) stored in {summary.store_folder}")
    return EXIT_FAILURE if errors and not records else 0


def _scan(engine: Engine, spec: str, args: argparse.Namespace) -> int:
    """Scan one batch into the procedure, printing each page as it is stored."""
    if args.clip or args.stills:
        return fail("--clip and --stills are for video sources, not scanners", EXIT_USAGE)
    made: list[Path] = []

    def stored(record: InstanceRecord, page: object) -> None:
        made.extend(_copy([record], args.out))
        print(f"  page {len(made)}: {made[-1]}", flush=True)

    try:
        engine.capture.scan(
            spec, conversion=args.conversion, dpi=args.dpi, idle_s=args.idle, on_page=stored
        )
    except KeyboardInterrupt:
        print("interrupted: the pages scanned so far are kept", file=sys.stderr)
    except (OSError, ValueError, RuntimeError) as exc:
        return fail(f"scanning stopped after {len(made)} page(s): {exc}", EXIT_FAILURE)
    finally:
        if engine.state in (ProcedureState.IN_PROGRESS, ProcedureState.APPENDING):
            engine.review()
        if engine.state is ProcedureState.REVIEW:
            engine.complete()
        engine.release()
    print(f"{len(made)} page(s) stored")
    return 0 if made else EXIT_FAILURE


def _begin(engine: Engine, args: argparse.Namespace) -> int:
    """Select the patient and start the procedure (or continue the one in progress)."""
    state = engine.state
    if args.patient_id:
        if state is not ProcedureState.IDLE:
            procedure = engine.procedure
            assert procedure is not None
            return fail(
                f"procedure {procedure.procedure_id} ({procedure.patient.patient_id}) is "
                f"{state.value}; finish it first, or capture into it without --patient-id",
                EXIT_FAILURE,
            )
        patient = Patient(
            patient_id=args.patient_id,
            name=args.patient_name,
            birth_date=args.birth_date,
            sex=Sex(args.sex),
        )
        engine.select_patient(
            patient, accession_number=args.accession, description=args.description
        )
        engine.start()
        return 0
    if state is ProcedureState.PATIENT_SELECTED:
        engine.start()
        return 0
    if state in (ProcedureState.IN_PROGRESS, ProcedureState.APPENDING):
        return 0
    return fail("no procedure is in progress: give --patient-name and --patient-id", EXIT_USAGE)


def take(engine: Engine, stills: int, clip_s: float | None, out: Path | None) -> list[Path]:
    """Take the stills (spread over the clip when there is one); return the files made.

    The procedure must be capturing and the main source open.
    """
    made: list[Path] = []
    _wait_for_first_frame(engine)
    if not clip_s:
        for _ in range(stills):
            made += _copy([engine.capture.take_still().record], out)
            print(f"  still #{len(made)}: {made[-1]}")
        return made
    engine.capture.start_recording()
    started = time.monotonic()
    moments = [clip_s * (index + 1) / (stills + 1) for index in range(stills)]
    next_report = 1.0
    while (elapsed := time.monotonic() - started) < clip_s:
        if moments and elapsed >= moments[0]:
            moments.pop(0)
            taken = engine.capture.take_still()
            made += _copy([taken.record], out)
            at = f" at {taken.clip_time_s:.2f} s" if taken.clip_time_s is not None else ""
            print(f"  still #{taken.count}{at}: {made[-1]}")
        if elapsed >= next_report:
            next_report += 1.0
            _print_recording(engine)
        time.sleep(0.01)
    for clip in engine.capture.stop_recording():
        made += _print_clip(clip, out)
    return made


def _wait_for_first_frame(engine: Engine, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while engine.capture.preview() is None:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the source delivered no frame in {timeout_s:g} s")
        time.sleep(0.01)


def _print_recording(engine: Engine) -> None:
    for status in engine.capture.recording_status():
        left = f", {status.minutes_left:.0f} min of disk left" if status.minutes_left else ""
        print(
            f"  REC {status.channel} {status.elapsed_s:5.1f} s: {status.frames} frames, "
            f"{status.dropped} dropped{left}",
            flush=True,
        )


def _print_clip(clip: ClipSaved, out: Path | None) -> list[Path]:
    what = "recovered clip" if clip.recovered else "clip"
    gaps = f", {clip.gaps} gap(s) of {clip.dropped} frame(s)" if clip.gaps else ""
    parts = len(clip.records)
    print(f"  {what} ({clip.channel}): {clip.frames} frames in {parts} instance(s){gaps}")
    paths = _copy(list(clip.records), out)
    for path in paths:
        print(f"    {path}")
    return paths


def _copy(records: list[InstanceRecord], out: Path | None) -> list[Path]:
    """The stored files, copied to ``out`` too when given (temporary name, then rename)."""
    if out is None:
        return [record.path for record in records]
    out.mkdir(parents=True, exist_ok=True)
    copies = []
    for record in records:
        target = out / f"{record.sop_instance_uid}.dcm"
        partial = target.with_name(f".{target.name}.partial")
        shutil.copyfile(record.path, partial)
        partial.replace(target)
        copies.append(target)
    return copies


def _print_notice(notice: CaptureNotice) -> None:
    print(f"izer: {notice.level}: {notice.message}", file=sys.stderr)


main = subcommand_main("capture")
