"""``izer worklist``: list the Modality Worklist (every provider at once, PS3.4 Annex K)."""

from __future__ import annotations

import argparse
import datetime as dt
import json

from izer.cli.common import (
    EXIT_FAILURE,
    EXIT_USAGE,
    fail,
    global_options,
    settings_for,
    subcommand_main,
)
from izer.engine import Engine, WorklistError, WorklistItem, WorklistQuery


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "worklist",
        parents=[global_options()],
        help="list the scheduled procedures of the worklist (MWL C-FIND)",
        description="Ask every worklist provider (or those named with --from) and list the "
        "scheduled procedure steps. Without options: today, this station's AE title and the "
        "[worklist] modality.",
    )
    parser.add_argument(
        "--from",
        dest="providers",
        action="append",
        metavar="DEST",
        help="a provider (configured name or AET@host:port); repeat for several "
        "(default: [worklist] providers, else every destination with role worklist)",
    )
    parser.add_argument(
        "--date",
        metavar="WHEN",
        help="today, any, YYYYMMDD or YYYYMMDD-YYYYMMDD (default: [worklist] date_range)",
    )
    parser.add_argument("--modality", metavar="CODE", help="Modality, e.g. ES (default: settings)")
    parser.add_argument(
        "--station", metavar="AET", help="Scheduled Station AE Title (default: this station)"
    )
    parser.add_argument("--any-station", action="store_true", help="do not match the station")
    parser.add_argument("--name", metavar="NAME", help="Patient's Name, wildcards * and ?")
    parser.add_argument("--id", dest="patient_id", metavar="ID", help="Patient ID (wildcards)")
    parser.add_argument("--accession", metavar="ACC", help="Accession Number (wildcards)")
    parser.add_argument("--json", action="store_true", help="print the items as JSON")
    parser.set_defaults(handler=handle)


def query_from(args: argparse.Namespace, engine: Engine) -> WorklistQuery:
    """The query the options ask for, on top of the settings' default.

    Raises
    ------
    ValueError
        For a malformed key (the message names it).
    """
    base = engine.default_worklist_query()
    date = base.start_date
    if args.date is not None:
        date = {"today": dt.date.today().strftime("%Y%m%d"), "any": ""}.get(args.date, args.date)
    station = base.station_ae_title
    if args.any_station:
        station = ""
    elif args.station:
        station = args.station
    return WorklistQuery(
        station_ae_title=station,
        start_date=date,
        modality=base.modality if args.modality is None else args.modality,
        patient_name=args.name or "",
        patient_id=args.patient_id or "",
        accession_number=args.accession or "",
        character_set=base.character_set,
    )


def item_json(item: WorklistItem) -> dict[str, object]:
    """One item as plain JSON data."""
    return {
        "provider": item.provider,
        "patient_id": item.patient.patient_id,
        "patient_name": item.patient.name,
        "birth_date": item.patient.birth_date,
        "sex": item.patient.sex.value,
        "accession_number": item.accession_number,
        "study_instance_uid": item.study_instance_uid,
        "requested_procedure_id": item.requested_procedure_id,
        "requested_procedure_description": item.requested_procedure_description,
        "sps_id": item.sps_id,
        "sps_description": item.sps_description,
        "sps_start_date": item.sps_start_date,
        "sps_start_time": item.sps_start_time,
        "modality": item.modality,
        "station_ae_title": item.station_ae_title,
        "referring_physician": item.referring_physician,
        "admission_id": item.admission_id,
        "description": item.description,
    }


def handle(args: argparse.Namespace) -> int:
    settings = settings_for(args).settings
    with Engine.open(settings) as engine:
        try:
            query = query_from(args, engine)
            result = engine.worklist(query, providers=args.providers)
        except ValueError as exc:
            return fail(str(exc), EXIT_USAGE)
        except WorklistError as exc:
            return fail(str(exc), EXIT_FAILURE)
    for error in result.errors:
        fail(f"worklist provider {error}", EXIT_FAILURE)
    for warning in result.warnings:
        fail(f"character set: {warning}", EXIT_FAILURE)
    if args.json:
        print(json.dumps([item_json(i) for i in result.items], ensure_ascii=False, indent=2))
    else:
        _print_table(result.items)
        note = " (cut at the result cap; narrow the query)" if result.truncated else ""
        print(f"{len(result.items)} item(s){note}")
    return 0


def _print_table(items: tuple[WorklistItem, ...]) -> None:
    header = ("Date", "Time", "Patient ID", "Patient name", "Birth", "Sex", "Accession", "Step")
    rows = [
        (
            item.sps_start_date,
            item.sps_start_time[:4],
            item.patient.patient_id,
            item.patient.name,
            item.patient.birth_date,
            item.patient.sex.value,
            item.accession_number,
            item.sps_description or item.requested_procedure_description,
        )
        for item in items
    ]
    if not rows:
        return
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    for row in (header, *rows):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


main = subcommand_main("worklist")
