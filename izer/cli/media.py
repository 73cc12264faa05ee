"""``izer media build|burn|drives``: patient CDs, DVDs, Blu-rays and USB sticks.

  izer media build TARGET... --out DIR | --iso FILE [--medium cd|dvd|bd|usb] [--profile auto]
      TARGET is a Study, Series or SOP Instance UID of the local store, a DICOM file or a
      folder. Writes an IHE PDI medium: DICOMDIR and DICOM/ (a DICOM file-set under the media
      profile the content allows, PS3.11: STD-GEN-CD, STD-GEN-DVD-JPEG, STD-GEN-USB-JPEG,
      STD-GEN-BD-MPEG4-HPLV41, STD-DVD-MPEG2-MPML...; or a general file-set, declared as
      such, when none fits, e.g. HEVC video), README.TXT, INDEX.HTM and IHE_PDI/ (a viewer
      for any web browser: no installation, no network, no autorun). --out on a USB stick
      gives the stick the same layout. When the instances do not fit on one disc of the
      medium, several are made (DIR_1, DIR_2... or NAME_1.iso...), each complete.
      The label text (patient, dates, institution, DICOM PLUS WEB) is printed at the end.

  izer media burn ISO|DIR --device DEV [--copies N] [--simulate] [--speed X]
      Burns through the outbox (one job per disc): the disc is checked (blank, large enough),
      written, read back and compared, and ejected; a drive without a blank disc makes the job
      wait (insert one: the job goes on by itself). DEV is /dev/sr0, or stdio:/path/file for
      a pseudo drive (an image file written as a disc would be).

  izer media drives
      The optical drives found and whether they can write.

Exit status: 0 done, 1 the build or a burn failed (or --timeout ran out: the jobs stay
queued), 2 a wrong target or option.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from izer.cli.common import (
    EXIT_FAILURE,
    EXIT_USAGE,
    add_wait_options,
    fail,
    global_options,
    settings_for,
    subcommand_main,
)
from izer.engine import Engine
from izer.engine.dispatching import DispatcherBusyError, Job, JobState
from izer.engine.media import (
    DEFAULT_BURN_TOOL,
    BurnTool,
    MediaBuildReport,
    MediaController,
    MediaProfile,
    Medium,
)

#: How often burn jobs are looked at while waiting.
POLL_S = 0.2
MEDIA_NAMES = ("cd", "dvd", "bd", "usb", "folder")


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "media",
        parents=[global_options()],
        help="build patient CDs/DVDs/USB sticks (DICOMDIR + web viewer), ISO images, burn",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="media_action", metavar="build|burn|drives")
    actions.required = True
    build = actions.add_parser(
        "build", parents=[global_options()], help="write a medium as a folder or an ISO image"
    )
    build.add_argument("targets", nargs="+", metavar="TARGET", help="store UIDs, files, folders")
    where = build.add_mutually_exclusive_group(required=True)
    where.add_argument("--out", type=Path, metavar="DIR", help="write the medium into DIR")
    where.add_argument("--iso", type=Path, metavar="FILE", help="write an ISO 9660 image")
    build.add_argument(
        "--medium",
        choices=MEDIA_NAMES,
        help="what it is for (capacity, profiles); default: cd for --iso, usb for --out",
    )
    build.add_argument(
        "--profile",
        default="auto",
        metavar="NAME",
        help="PS3.11 media profile to claim (STD-GEN-CD...); auto chooses from the content",
    )
    build.add_argument(
        "--no-web", dest="web", action="store_false", help="DICOM only: no web viewer"
    )
    build.add_argument("--institution", default="", help="on the label (default: [station])")
    build.set_defaults(handler=handle_build)

    burn = actions.add_parser(
        "burn", parents=[global_options()], help="burn an ISO image or a media folder"
    )
    burn.add_argument("image", type=Path, metavar="ISO|DIR")
    burn.add_argument("--device", required=True, metavar="DEV", help="/dev/sr0, stdio:/path")
    burn.add_argument("--copies", type=int, default=1, metavar="N", help="discs to write")
    burn.add_argument("--simulate", action="store_true", help="laser off (-dummy): a dry run")
    burn.add_argument("--speed", default="", metavar="X", help="8, 16, min, max (default: drive)")
    burn.add_argument("--no-verify", dest="verify", action="store_false", help="no read-back")
    burn.add_argument("--no-eject", dest="eject", action="store_false", help="leave it in")
    burn.add_argument(
        "--tool",
        choices=[tool.value for tool in BurnTool],
        default=DEFAULT_BURN_TOOL.value,
        help=f"the burning program (default here: {DEFAULT_BURN_TOOL.value})",
    )
    add_wait_options(burn, "burn now", queued="the jobs")
    burn.set_defaults(handler=handle_burn)

    drives = actions.add_parser("drives", parents=[global_options()], help="list drives")
    drives.set_defaults(handler=handle_drives)


def _progress(stage: str, done: int, total: int) -> None:
    if total > 0 and sys.stderr.isatty():
        print(f"\r{stage}: {100 * done // total:3d}%", end="", file=sys.stderr, flush=True)


def handle_build(args: argparse.Namespace) -> int:
    settings = settings_for(args).settings
    medium = Medium(args.medium or ("cd" if args.iso is not None else "usb"))
    profile = None
    if args.profile.strip().lower() != "auto":
        try:
            profile = MediaProfile(args.profile.strip().upper())
        except ValueError:
            names = ", ".join(p.value for p in MediaProfile)
            return fail(f"unknown media profile {args.profile!r}; use auto or one of: {names}")
    with Engine.open(settings) as engine:
        try:
            report = engine.media.build(
                args.targets,
                out=args.out,
                iso=args.iso,
                medium=medium,
                profile=profile,
                web=args.web,
                institution=args.institution,
                progress=_progress,
            )
        except (ValueError, FileExistsError) as exc:
            return fail(str(exc), EXIT_USAGE)
        except (OSError, RuntimeError) as exc:
            return fail(f"the medium could not be made: {exc}")
    if sys.stderr.isatty():
        print(file=sys.stderr)
    _print_build(report)
    return 0


def _print_build(report: MediaBuildReport) -> None:
    for note in report.notes:
        print(f"note: {note}")
    for number, volume in enumerate(report.volumes, start=1):
        fileset = volume.fileset
        where = volume.iso.path if volume.iso is not None else volume.folder
        profile = fileset.profile.value
        print(
            f"medium {number} of {len(report.volumes)}: {where} ({profile}; "
            f"{fileset.patients} patient(s), {fileset.studies} study/studies, "
            f"{len(fileset.entries)} instance(s), {fileset.bytes / 1_000_000:.1f} MB DICOM)"
        )
        for note in fileset.notes:
            print(f"  note: {note}")
        if volume.web is not None:
            web = volume.web
            print(
                f"  web viewer: INDEX.HTM ({web.stills} picture(s), {web.videos} video(s), "
                f"{web.documents} document(s))"
            )
            for line in web.skipped:
                print(f"  not in the viewer: {line}")
        print("  label:")
        for line in volume.label.text().splitlines():
            print(f"    {line}")


def handle_burn(args: argparse.Namespace) -> int:
    settings = settings_for(args).settings
    with Engine.open(settings) as engine:
        try:
            jobs = engine.media.queue_burn(
                args.image,
                args.device,
                copies=args.copies,
                simulate=args.simulate,
                speed=args.speed,
                verify=args.verify,
                eject=args.eject,
                tool=BurnTool(args.tool),
            )
        except ValueError as exc:
            return fail(str(exc), EXIT_USAGE)
        print(f"queued {len(jobs)} burn job(s) on {args.device}", flush=True)
        if not args.wait:
            print("izer serve, izer queue run or the GUI burns them")
            return 0
        return _wait(engine, jobs, args.timeout)


def _wait(engine: Engine, jobs: list[Job], timeout: float | None) -> int:
    dispatch = engine.dispatch
    try:
        dispatch.start()
    except DispatcherBusyError as exc:
        print(f"izer: {exc}; waiting for it to burn", file=sys.stderr)
    deadline = None if timeout is None else time.monotonic() + timeout
    seen: dict[int, tuple[JobState, int]] = {}
    failed = 0
    try:
        pending = {job.job_id for job in jobs}
        while pending:
            for job_id in sorted(pending):
                job = dispatch.outbox.job(job_id)
                if job is None:
                    pending.discard(job_id)
                    continue
                copy = f"disc {job.payload.get('copy', 1)} of {job.payload.get('copies', 1)}"
                state = (job.state, job.attempts)
                if seen.get(job_id) != state:
                    seen[job_id] = state
                    if job.state is JobState.WAITING:
                        reason = job.last_error.splitlines()[0] if job.last_error else ""
                        print(f"{copy}: waiting: {reason}", flush=True)
                if not job.pending:
                    pending.discard(job_id)
                    if job.state is JobState.DONE:
                        outcome = engine.media.outcome(job_id)
                        verified = "verified" if outcome and outcome.verified else "not verified"
                        print(f"{copy}: burned, {verified}", flush=True)
                        for note in outcome.notes if outcome else []:
                            print(f"  note: {note}")
                    else:
                        failed += 1
                        print(f"izer: {copy}: {job.state.value}: {job.last_error}", file=sys.stderr)
            if deadline is not None and time.monotonic() > deadline and pending:
                return fail(f"--timeout ran out; {len(pending)} burn job(s) stay queued")
            if pending:
                time.sleep(POLL_S)
    finally:
        dispatch.stop()
    return EXIT_FAILURE if failed else 0


def handle_drives(args: argparse.Namespace) -> int:
    settings_for(args)
    drives = MediaController.drives()
    if not drives:
        print("no optical drive found (a USB stick is a folder: izer media build --out)")
        return 0
    for drive in drives:
        can = "writes" if drive.writable else "reads only"
        print(f"{drive.device}  {drive.vendor} {drive.model}  ({can})")
    return 0


main = subcommand_main("media")
