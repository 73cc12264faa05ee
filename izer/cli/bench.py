"""``izer bench <benchmark>``: izer against a reference tool, side by side in one run."""

from __future__ import annotations

import argparse

from izer.cli.common import EXIT_USAGE, fail, global_options, subcommand_main


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "bench",
        parents=[global_options()],
        help="benchmarks against reference tools (not tests)",
        description=__doc__,
    )
    which = parser.add_subparsers(dest="benchmark", metavar="<benchmark>", required=True)
    store = which.add_parser("store", help="store import vs cp + sync")
    store.add_argument("--files", type=int, default=200, help="files per run (default 200)")
    store.add_argument("--runs", type=int, default=5, help="paired runs (default 5)")
    convert = which.add_parser(
        "convert", help="izer convert of 1080p JPEGs to VL Endoscopic vs DCMTK img2dcm"
    )
    convert.add_argument("--files", type=int, default=500, help="files per run (default 500)")
    convert.add_argument("--runs", type=int, default=3, help="paired runs (default 3)")
    encode = which.add_parser(
        "encode", help="1080p still encode per transfer syntax vs dcmcjpeg, dcmcjpls, dcmcrle"
    )
    encode.add_argument("--runs", type=int, default=10, help="runs per codec (default 10)")
    remux = which.add_parser(
        "remux", help="izer convert of a conforming 1080p MP4 to Video Endoscopic vs cp + sync"
    )
    remux.add_argument("--mb", type=float, default=1000, help="clip size in MB (default 1000)")
    remux.add_argument("--runs", type=int, default=3, help="paired runs (default 3)")
    transcode = which.add_parser(
        "transcode", help="izer convert re-encoding 1080p frames to H.264 vs the ffmpeg CLI"
    )
    transcode.add_argument("--frames", type=int, default=300, help="frames (default 300)")
    transcode.add_argument(
        "--size", default="1920x1080", metavar="WxH", help="frame size (default 1920x1080)"
    )
    transcode.add_argument("--runs", type=int, default=1, help="paired runs (default 1)")
    capture = which.add_parser(
        "capture", help="recorder encoding rate and CPU at 1080p and 2160p vs the ffmpeg CLI"
    )
    capture.add_argument(
        "--sizes",
        default="1920x1080,3840x2160",
        metavar="WxH,...",
        help="frame sizes (default 1920x1080,3840x2160)",
    )
    capture.add_argument("--fps", type=float, default=30.0, help="frame rate (default 30)")
    capture.add_argument(
        "--frames", type=int, default=300, help="frames at 1080p, fewer above (default 300)"
    )
    capture.add_argument("--runs", type=int, default=3, help="paired runs (default 3)")
    capture.add_argument("--preset", default="veryfast", help="x264/x265 preset (veryfast)")
    capture.add_argument("--hevc-preset", default=None, help="x265 preset (default --preset)")
    capture.add_argument(
        "--codec", default="auto", choices=("auto", "h264", "hevc"), help="codec (default auto)"
    )
    latency = which.add_parser(
        "still-latency", help="still trigger-to-file latency vs a plain JPEG write + fsync"
    )
    latency.add_argument("--stills", type=int, default=50, help="stills to take (default 50)")
    latency.add_argument("--size", default="1920x1080", help="frame size (default 1920x1080)")
    latency.add_argument(
        "--idle", action="store_true", help="without recording (default: while recording)"
    )
    send = which.add_parser(
        "send", help="C-STORE of a video and of 1 MB stills to DCMTK storescp vs storescu"
    )
    send.add_argument(
        "--video-mb",
        type=float,
        default=500,
        help="video instance in MB (at least ~5 MB), 0: none (default 500)",
    )
    send.add_argument("--stills", type=int, default=200, help="~1 MB stills, 0: none (default 200)")
    send.add_argument(
        "--pdus",
        default="16384,65536,131072",
        metavar="BYTES,...",
        help="receiver max PDU sizes, 4096-131072 (default 16384,65536,131072)",
    )
    send.add_argument(
        "--runs", "--repeats", dest="runs", type=int, default=5, help="paired runs (default 5)"
    )
    worklist = which.add_parser(
        "worklist", help="default MWL query + mapping of 1,000 items vs DCMTK findscu (wlmscpfs)"
    )
    worklist.add_argument("--items", type=int, default=1000, help="scheduled items (default 1000)")
    worklist.add_argument("--runs", type=int, default=5, help="paired runs (default 5)")
    gui = which.add_parser(
        "gui", help="launch to worklist on screen vs a bare PyQt6 window (offscreen without X)"
    )
    gui.add_argument("--runs", type=int, default=5, help="paired runs (default 5)")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    if getattr(args, "files", 1) < 1 or getattr(args, "runs", 1) < 1:
        return fail("--files and --runs must be at least 1", EXIT_USAGE)
    if args.benchmark == "store":
        from izer.bench import store_import

        report = store_import.run(count=args.files, runs=args.runs)
    elif args.benchmark == "convert":
        from izer.bench import convert

        report = convert.run(count=args.files, runs=args.runs)
    elif args.benchmark == "remux":
        from izer.bench import video

        if args.mb <= 0:
            return fail("--mb must be more than 0", EXIT_USAGE)
        report = video.run_remux(size_mb=args.mb, runs=args.runs)
    elif args.benchmark == "transcode":
        from izer.bench import video

        try:
            width, height = (int(side) for side in args.size.lower().split("x"))
        except ValueError:
            return fail(f"--size {args.size!r}: use WIDTHxHEIGHT, e.g. 1920x1080", EXIT_USAGE)
        if args.frames < 1 or width < 16 or height < 16 or width % 2 or height % 2:
            return fail("--frames must be at least 1 and --size even, 16x16 or more", EXIT_USAGE)
        report = video.run_transcode(frames=args.frames, width=width, height=height, runs=args.runs)
    elif args.benchmark == "capture":
        return _capture(args)
    elif args.benchmark == "send":
        return _send(args)
    elif args.benchmark == "gui":
        from izer.gui import bench as gui_bench

        report = gui_bench.run(runs=args.runs)
    elif args.benchmark == "worklist":
        from izer.bench import worklist

        if args.items < 1:
            return fail("--items must be at least 1", EXIT_USAGE)
        report = worklist.run(items=args.items, runs=args.runs)
    elif args.benchmark == "still-latency":
        from izer.bench import still_latency

        try:
            width, height = (int(side) for side in args.size.lower().split("x"))
        except ValueError:
            return fail(f"--size {args.size!r}: use WIDTHxHEIGHT, e.g. 1920x1080", EXIT_USAGE)
        if args.stills < 1:
            return fail("--stills must be at least 1", EXIT_USAGE)
        report = still_latency.run(
            width=width, height=height, stills=args.stills, recording=not args.idle
        )
    else:
        from izer.bench import still_encode

        report = still_encode.run(runs=args.runs)
    print("\n".join(report.lines()))
    return 0


def _capture(args: argparse.Namespace) -> int:
    from izer.bench import capture

    sizes = []
    for text in args.sizes.split(","):
        try:
            width, height = (int(side) for side in text.lower().strip().split("x"))
        except ValueError:
            return fail(f"--sizes {text!r}: use WIDTHxHEIGHT, e.g. 1920x1080", EXIT_USAGE)
        if width < 64 or height < 48 or width % 2 or height % 2:
            return fail(f"--sizes {text!r}: use an even size of 64x48 or more", EXIT_USAGE)
        sizes.append((width, height))
    if args.frames < 1 or args.fps <= 0:
        return fail("--frames must be at least 1 and --fps more than 0", EXIT_USAGE)
    try:
        report = capture.run(
            sizes,
            fps=args.fps,
            frames=args.frames,
            runs=args.runs,
            preset=args.preset,
            hevc_preset=args.hevc_preset,
            codec=args.codec,
        )
    except ValueError as error:
        return fail(str(error), EXIT_USAGE)
    print("\n".join(report.lines()))
    return 0


def _send(args: argparse.Namespace) -> int:
    from izer.bench import send

    try:
        pdus = [int(text) for text in args.pdus.split(",")]
    except ValueError:
        return fail(f"--pdus {args.pdus!r}: use byte counts, e.g. 16384,131072", EXIT_USAGE)
    if args.video_mb < 0 or args.stills < 0:
        return fail("--video-mb and --stills must be 0 or more", EXIT_USAGE)
    try:
        report = send.run(video_mb=args.video_mb, stills=args.stills, pdus=pdus, runs=args.runs)
    except ValueError as error:
        return fail(str(error), EXIT_USAGE)
    print("\n".join(report.lines()))
    return 0


main = subcommand_main("bench")
