"""The procedure state machine's table."""

from __future__ import annotations

import itertools

import pytest

from izer.model import ProcedureState, TransitionError
from izer.model.procedure import ALLOWED_TRANSITIONS, check_transition

S = ProcedureState


def test_every_state_has_a_way_out() -> None:
    assert set(ALLOWED_TRANSITIONS) == set(S)
    assert all(ALLOWED_TRANSITIONS[state] for state in S)


@pytest.mark.parametrize(
    ("current", "requested"),
    [
        (S.IDLE, S.IN_PROGRESS),
        (S.PATIENT_SELECTED, S.COMPLETED),
        (S.IN_PROGRESS, S.COMPLETED),
        (S.COMPLETED, S.IN_PROGRESS),
        (S.DISCONTINUED, S.APPENDING),
        (S.APPENDING, S.DISCONTINUED),
    ],
)
def test_forbidden_moves_raise_and_say_what_is_allowed(current, requested) -> None:
    with pytest.raises(TransitionError) as raised:
        check_transition(current, requested)
    message = str(raised.value)
    assert current.value in message and requested.value in message
    for allowed in ALLOWED_TRANSITIONS[current]:
        assert allowed.value in message


def test_the_main_path_is_allowed() -> None:
    path = [S.IDLE, S.PATIENT_SELECTED, S.IN_PROGRESS, S.REVIEW, S.COMPLETED, S.APPENDING]
    for current, requested in itertools.pairwise(path):
        check_transition(current, requested)
