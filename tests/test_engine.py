"""The engine: procedure state machine, persistence, events, captures."""

from __future__ import annotations

import dataclasses

import pydicom
import pytest

from izer.config import Settings
from izer.engine import Engine
from izer.model import Patient, ProcedureState, Sex, TransitionError

S = ProcedureState
PATIENT = Patient("ENG-0001", "Test^Engine", "19900214", Sex.MALE)


def test_a_whole_procedure_emits_events_and_records_every_step(engine: Engine) -> None:
    moves: list[tuple[ProcedureState, ProcedureState]] = []
    stored = []
    engine.events.state_changed.connect(lambda old, new: moves.append((old, new)))
    engine.events.instance_stored.connect(stored.append)

    procedure = engine.select_patient(PATIENT, accession_number="ACC-9")
    engine.start()
    first = engine.capture_still()
    second = engine.capture_still()
    engine.review()
    engine.complete()

    expected = [
        (S.IDLE, S.PATIENT_SELECTED),
        (S.PATIENT_SELECTED, S.IN_PROGRESS),
        (S.IN_PROGRESS, S.REVIEW),
        (S.REVIEW, S.COMPLETED),
    ]
    assert moves == expected
    assert engine.store.transitions(procedure.procedure_id) == expected
    assert stored == [first, second]
    assert (first.instance_number, second.instance_number) == (1, 2)
    ds = pydicom.dcmread(second.path)
    assert ds.StudyInstanceUID == procedure.study_uid
    assert ds.AccessionNumber == "ACC-9"
    assert ds.PatientID == PATIENT.patient_id
    assert ds.SOPInstanceUID.startswith(engine.settings.station.uid_root + ".")
    status = engine.status()
    assert (status.state, status.captured, status.stored) == (S.COMPLETED, 2, 2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        status.stored = 5  # type: ignore[misc]


def test_capture_outside_a_running_procedure_is_refused(engine: Engine) -> None:
    with pytest.raises(TransitionError):
        engine.capture_still()
    engine.select_patient(PATIENT)
    with pytest.raises(TransitionError, match="PATIENT_SELECTED"):
        engine.capture_still()
    assert engine.store.instances() == []


def test_illegal_moves_are_refused_and_change_nothing(engine: Engine) -> None:
    with pytest.raises(TransitionError):
        engine.complete()
    engine.select_patient(PATIENT)
    with pytest.raises(TransitionError):
        engine.select_patient(PATIENT)
    with pytest.raises(TransitionError):
        engine.complete()
    assert engine.state is S.PATIENT_SELECTED


def test_a_restarted_engine_resumes_where_it_stopped(settings: Settings) -> None:
    with Engine.open(settings) as engine:
        procedure = engine.select_patient(PATIENT)
        engine.start()
        engine.capture_still()
    with Engine.open(settings) as engine:
        assert engine.state is S.IN_PROGRESS
        assert engine.procedure is not None
        assert engine.procedure.procedure_id == procedure.procedure_id
        engine.capture_still()
        engine.review()
        engine.discontinue()
        engine.release()
        assert engine.state is S.IDLE
    with Engine.open(settings) as engine:
        assert engine.state is S.IDLE
        assert len(engine.store.instances(procedure.study_uid)) == 2


def test_appending_reopens_a_completed_study_in_a_new_series(engine: Engine) -> None:
    procedure = engine.select_patient(PATIENT)
    engine.start()
    engine.capture_still()
    engine.review()
    engine.complete()
    engine.release()
    engine.append(procedure.procedure_id)
    assert engine.state is S.APPENDING
    engine.capture_still()
    engine.review()
    engine.complete()
    series = engine.store.series(procedure.study_uid)
    assert [s.series_number for s in series] == [1, 2]
    assert [s.instance_count for s in series] == [1, 1]
