"""``izer bench store|convert|encode|remux|transcode``: measure izer against a reference tool."""

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
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    if getattr(args, "files", 1) < 1 or args.runs < 1:
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
    else:
        from izer.bench import still_encode

        report = still_encode.run(runs=args.runs)
    print("\n".join(report.lines()))
    return 0


main = subcommand_main("bench")
