"""``izer studies``: list the studies in the local store."""

from __future__ import annotations

import argparse

from izer.cli.common import global_options, settings_for, subcommand_main
from izer.engine import Engine


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "studies", parents=[global_options()], help="list the studies in the local store"
    )
    parser.set_defaults(handler=handle)


def _size(size_bytes: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size_bytes < 1024 or unit == "GB":
            return f"{size_bytes:.0f} {unit}" if unit == "B" else f"{size_bytes:.1f} {unit}"
        size_bytes /= 1024  # type: ignore[assignment]
    raise AssertionError("unreachable")


def handle(args: argparse.Namespace) -> int:
    settings = settings_for(args).settings
    with Engine.open(settings) as engine:
        studies = engine.store.studies()
        folder = engine.store.folder
    if not studies:
        print(f"no studies in {folder}")
        return 0
    header = ("Date", "Time", "Patient ID", "Patient name", "Accession", "Ser", "Img", "Size")
    rows = [
        (
            study.study_date,
            study.study_time[:6],
            study.patient_id,
            study.patient_name,
            study.accession_number,
            str(study.series_count),
            str(study.instance_count),
            _size(study.size_bytes),
        )
        for study in studies
    ]
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    for row in (header, *rows):
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
    print(f"{len(studies)} stud{'y' if len(studies) == 1 else 'ies'} in {folder}")
    return 0


main = subcommand_main("studies")
