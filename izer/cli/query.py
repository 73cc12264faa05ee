"""``izer query``: studies, series or instances on a Q/R archive (Study Root C-FIND, PS3.4 C.6.2).

Without ``--study``: the studies matching the patient and study keys; with ``--study UID``:
that study's series; with ``--series UID`` too: that series' instances.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections.abc import Sequence

from izer.cli.common import (
    EXIT_FAILURE,
    EXIT_USAGE,
    fail,
    global_options,
    settings_for,
    subcommand_main,
)
from izer.engine import Engine
from izer.engine.retrieving import (
    AssociationFailed,
    FindFailed,
    InstanceMatch,
    QueryLevel,
    SeriesMatch,
    StudyMatch,
)


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "query",
        parents=[global_options()],
        help="find studies, series or instances on a Q/R archive (C-FIND)",
        description="Ask a query source (a destination with role query) for the studies "
        "matching the keys, the series of one study (--study) or the instances of one series "
        "(--study and --series). Names and IDs take wildcards * and ?.",
    )
    parser.add_argument(
        "--source",
        metavar="NAME",
        help="the query source (configured name or AET@host:port; default: the only one)",
    )
    parser.add_argument("--patient-id", metavar="ID", help="Patient ID (wildcards)")
    parser.add_argument("--name", metavar="NAME", help="Patient's Name, e.g. 'DOE*'")
    parser.add_argument(
        "--date", metavar="RANGE", help="Study Date: YYYYMMDD or YYYYMMDD-YYYYMMDD (open ends)"
    )
    parser.add_argument("--accession", metavar="ACC", help="Accession Number (wildcards)")
    parser.add_argument("--study", metavar="UID", help="list the series of this study")
    parser.add_argument("--series", metavar="UID", help="with --study: list this series' instances")
    parser.add_argument("--json", action="store_true", help="print the matches as JSON")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    if args.series and not args.study:
        return fail("--series needs --study (the query is hierarchical)", EXIT_USAGE)
    study_keys = (args.patient_id, args.name, args.date, args.accession)
    if args.study and any(study_keys):
        return fail(
            "--patient-id, --name, --date and --accession match studies; with --study they "
            "are not used: leave them out",
            EXIT_USAGE,
        )
    settings = settings_for(args).settings
    with Engine.open(settings) as engine:
        try:
            if args.series:
                level, keys = QueryLevel.IMAGE, {"study_uid": args.study, "series_uid": args.series}
            elif args.study:
                level, keys = QueryLevel.SERIES, {"study_uid": args.study}
            else:
                level = QueryLevel.STUDY
                keys = {
                    "patient_id": args.patient_id or "",
                    "name": args.name or "",
                    "study_date": args.date or "",
                    "accession": args.accession or "",
                }
            source = engine.retrieve.source(args.source)
            result = engine.retrieve.find(source, level, **keys)
        except ValueError as exc:
            return fail(str(exc), EXIT_USAGE)
        except (AssociationFailed, FindFailed) as exc:
            return fail(str(exc), EXIT_FAILURE)
    for warning in result.warnings:
        fail(f"character set: {warning}", EXIT_FAILURE)
    matches = list(result.matches)
    if args.json:
        print(json.dumps([_json(m) for m in matches], ensure_ascii=False, indent=2))
        return 0
    _print_table(matches)
    one, many = {
        QueryLevel.STUDY: ("study", "studies"),
        QueryLevel.SERIES: ("series", "series"),
        QueryLevel.IMAGE: ("instance", "instances"),
    }[level]
    word = one if len(matches) == 1 else many
    note = " (cut at the result cap; narrow the query)" if result.truncated else ""
    print(f"{len(matches)} {word} on {source.name}{note}")
    return 0


def _json(match: StudyMatch | SeriesMatch | InstanceMatch) -> dict[str, object]:
    data = dataclasses.asdict(match)
    if isinstance(match, StudyMatch):
        patient = data.pop("patient")
        data = {
            "patient_id": patient["patient_id"],
            "patient_name": patient["name"],
            "birth_date": patient["birth_date"],
            "sex": match.patient.sex.value,
            **data,
        }
    return data


def _row(match: StudyMatch | SeriesMatch | InstanceMatch) -> tuple[str, ...]:
    def number(value: int | None) -> str:
        return "" if value is None else str(value)

    if isinstance(match, StudyMatch):
        return (
            match.study_date,
            match.patient.patient_id,
            match.patient.name,
            match.accession_number,
            "/".join(match.modalities),
            number(match.instance_count),
            match.description,
            match.study_instance_uid,
        )
    if isinstance(match, SeriesMatch):
        return (
            number(match.series_number),
            match.modality,
            number(match.instance_count),
            match.description,
            match.series_instance_uid,
        )
    return (
        number(match.instance_number),
        number(match.frames),
        match.sop_class_uid,
        match.sop_instance_uid,
    )


_HEADERS = {
    StudyMatch: ("Date", "Patient ID", "Patient name", "Accession", "Mod", "Inst", "Description",
                 "Study Instance UID"),
    SeriesMatch: ("No", "Mod", "Inst", "Description", "Series Instance UID"),
    InstanceMatch: ("No", "Frames", "SOP Class UID", "SOP Instance UID"),
}  # fmt: skip


def _print_table(matches: Sequence[StudyMatch | SeriesMatch | InstanceMatch]) -> None:
    if not matches:
        return
    header = _HEADERS[type(matches[0])]
    rows = [_row(m) for m in matches]
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    for row in (header, *rows):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


main = subcommand_main("query")
