"""``izer demo``: a whole procedure on a made-up patient, headless, into the local store."""

from __future__ import annotations

import argparse

from izer.cli.common import (
    EXIT_FAILURE,
    EXIT_USAGE,
    fail,
    global_options,
    settings_for,
    subcommand_main,
)
from izer.engine import Engine
from izer.model import Patient, ProcedureState, Sex

DEMO_PATIENT = Patient(
    patient_id="IZER-DEMO-0001", name="Demo^Patient", birth_date="19700101", sex=Sex.OTHER
)


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "demo",
        parents=[global_options()],
        help="run a demo procedure with the synthetic camera",
        description=__doc__,
    )
    parser.add_argument("--stills", type=int, default=3, help="stills to capture (default 3)")
    parser.set_defaults(handler=handle, stills=3)


def handle(args: argparse.Namespace) -> int:
    if args.stills < 1:
        return fail("--stills must be at least 1", EXIT_USAGE)
    settings = settings_for(args).settings
    with Engine.open(settings) as engine:
        unfinished = engine.procedure
        if unfinished is not None:
            if unfinished.patient.patient_id != DEMO_PATIENT.patient_id:
                return fail(
                    f"procedure {unfinished.procedure_id} is open ({unfinished.state.value}); "
                    "finish it before running the demo",
                    EXIT_FAILURE,
                )
            _put_away(engine)
        procedure = engine.select_patient(DEMO_PATIENT, description="izer demo procedure")
        engine.start()
        records = [engine.capture_still() for _ in range(args.stills)]
        engine.review()
        engine.complete()
        engine.release()
        status = engine.status()
    print(f"izer demo: patient {DEMO_PATIENT.patient_id}, study {procedure.study_uid}")
    for record in records:
        print(f"  stored SC image #{record.instance_number}: {record.path}")
    print(f"{status.stored} image(s) in the local store {status.store_folder}")
    print("list them with: izer studies")
    return 0


def _put_away(engine: Engine) -> None:
    """Close an earlier demo procedure that was interrupted."""
    if engine.state is ProcedureState.APPENDING:
        engine.review()
    if engine.state in (ProcedureState.IN_PROGRESS, ProcedureState.REVIEW):
        engine.discontinue()
    engine.release()


main = subcommand_main("demo")
