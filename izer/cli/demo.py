"""``izer demo``: a whole procedure on a made-up patient, headless, into the local store.

The synthetic camera (moving colour bars with the frame number drawn in) stands in for an
endoscope: izer records a short clip and takes stills during it, exactly as
``izer capture --source synthetic`` does, then completes the procedure.
"""

from __future__ import annotations

import argparse

from izer.cli import capture
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
    parser.add_argument(
        "--clip", type=float, default=3.0, help="seconds of video to record (default 3; 0: none)"
    )
    parser.set_defaults(handler=handle, stills=3, clip=3.0)


def handle(args: argparse.Namespace) -> int:
    if args.stills < 0 or args.clip < 0:
        return fail("--stills and --clip must be 0 or more", EXIT_USAGE)
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
        print(f"izer demo: patient {DEMO_PATIENT.patient_id}, study {procedure.study_uid}")
        engine.capture.open({"main": "synthetic"})
        try:
            files = capture.take(engine, args.stills, args.clip or None, None)
        finally:
            engine.capture.close()
        engine.review()
        engine.complete()
        engine.release()
        status = engine.status()
    print(f"{len(files)} instance(s) made; the local store is {status.store_folder}")
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
