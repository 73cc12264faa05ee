"""``izer reconcile STUDY_UID --patient-id ID --patient-name NAME``: correct a study's patient.

Every local instance of the study gets the new demographics; what they replace is kept in
the Original Attributes Sequence (PS3.3 C.12.1.1.9), SOP Instance UIDs unchanged.
"""

from __future__ import annotations

import argparse

from izer.cli.common import EXIT_USAGE, fail, global_options, settings_for, subcommand_main
from izer.engine import Engine
from izer.engine.reconciling import ModificationReason, ReconcileReport, reconcile_study
from izer.model import Patient, Sex

_SEXES = {"m": Sex.MALE, "f": Sex.FEMALE, "o": Sex.OTHER, "": Sex.UNKNOWN}


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "reconcile",
        parents=[global_options()],
        help="correct the patient of a local study (emergency and unscheduled cases)",
        description=__doc__,
    )
    parser.add_argument("study_uid", metavar="STUDY_UID", help="Study Instance UID")
    parser.add_argument("--patient-id", required=True, metavar="ID", help="Patient ID")
    parser.add_argument(
        "--patient-name",
        required=True,
        metavar="NAME",
        help="Patient's Name in DICOM form, Family^Given^Middle (ideographic after '=')",
    )
    parser.add_argument("--issuer", default="", help="Issuer of Patient ID")
    parser.add_argument("--birth-date", default="", metavar="YYYYMMDD", help="birth date")
    parser.add_argument(
        "--sex", default="", type=str.lower, choices=["m", "f", "o", ""], help="M, F or O"
    )
    parser.add_argument(
        "--accession", default=None, help="new Accession Number (kept when not given)"
    )
    parser.add_argument(
        "--reason",
        default="correct",
        type=str.lower,
        choices=[member.value.lower() for member in ModificationReason],
        help="CORRECT (the values were wrong, default) or COERCE (local values imposed)",
    )
    parser.add_argument(
        "--modifying-system", default="izer", help="Modifying System recorded (default izer)"
    )
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    patient = Patient(
        patient_id=args.patient_id,
        name=args.patient_name,
        birth_date=args.birth_date,
        sex=_SEXES[args.sex],
        issuer=args.issuer,
    )
    settings = settings_for(args).settings
    with Engine.open(settings) as engine:
        try:
            report = reconcile_study(
                engine,
                args.study_uid,
                patient,
                accession_number=args.accession,
                reason=ModificationReason.from_text(args.reason),
                modifying_system=args.modifying_system,
            )
        except ValueError as exc:
            return fail(str(exc), EXIT_USAGE)
    _print(report)
    if not report.ok:
        return fail(f"{len(report.failed)} instance(s) could not be reconciled (left as they were)")
    return 0


def _print(report: ReconcileReport) -> None:
    for done in report.reconciled:
        changes = "; ".join(
            f"{c.keyword}: {_shown(c.old)} -> {_shown(c.new)}" for c in done.changes
        )
        print(f"{done.sop_instance_uid}: {changes}")
        if done.character_set_from:
            print(
                f"{done.sop_instance_uid}: Specific Character Set {done.character_set_from} "
                "-> ISO_IR 192 (the new values did not fit; every text value re-encoded)"
            )
    for sop_uid in report.unchanged:
        print(f"{sop_uid}: unchanged (already holds these values)")
    for failure in report.failed:
        print(f"{failure.sop_instance_uid}: FAILED, left as it was: {failure.reason}")
    for procedure in report.procedures:
        print(f"procedure {procedure.procedure_id}: patient now {procedure.patient.patient_id}")
    print(
        f"{len(report.reconciled)} reconciled, {len(report.unchanged)} unchanged, "
        f"{len(report.failed)} failed in study {report.study_instance_uid}"
    )


def _shown(value: str | None) -> str:
    return "(absent)" if value is None else repr(value)


main = subcommand_main("reconcile")
