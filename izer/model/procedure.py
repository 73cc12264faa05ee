"""The procedure and its state machine (IHE Scheduled Workflow, seen from the modality).

``IDLE -> PATIENT_SELECTED -> IN_PROGRESS -> REVIEW -> COMPLETED | DISCONTINUED``, with
``APPENDING`` for adding captures to a completed study. MPPS N-CREATE belongs to entering
``IN_PROGRESS`` and N-SET COMPLETED/DISCONTINUED to leaving ``REVIEW`` (PS3.4 F.7).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from izer.model.patient import Patient


class ProcedureState(enum.StrEnum):
    """Where a procedure stands."""

    IDLE = "IDLE"
    PATIENT_SELECTED = "PATIENT_SELECTED"
    IN_PROGRESS = "IN_PROGRESS"
    REVIEW = "REVIEW"
    COMPLETED = "COMPLETED"
    DISCONTINUED = "DISCONTINUED"
    APPENDING = "APPENDING"

    @property
    def is_closed(self) -> bool:
        """True once the procedure has ended (nothing more is captured into it)."""
        return self in (ProcedureState.COMPLETED, ProcedureState.DISCONTINUED)


#: The allowed moves; anything else is a :class:`TransitionError`.
ALLOWED_TRANSITIONS: dict[ProcedureState, frozenset[ProcedureState]] = {
    ProcedureState.IDLE: frozenset({ProcedureState.PATIENT_SELECTED}),
    ProcedureState.PATIENT_SELECTED: frozenset({ProcedureState.IN_PROGRESS, ProcedureState.IDLE}),
    ProcedureState.IN_PROGRESS: frozenset({ProcedureState.REVIEW, ProcedureState.DISCONTINUED}),
    ProcedureState.REVIEW: frozenset(
        {ProcedureState.IN_PROGRESS, ProcedureState.COMPLETED, ProcedureState.DISCONTINUED}
    ),
    ProcedureState.COMPLETED: frozenset({ProcedureState.APPENDING, ProcedureState.IDLE}),
    ProcedureState.DISCONTINUED: frozenset({ProcedureState.IDLE}),
    ProcedureState.APPENDING: frozenset({ProcedureState.REVIEW}),
}


class TransitionError(ValueError):
    """A requested state change that the procedure state machine does not allow."""

    def __init__(self, current: ProcedureState, requested: ProcedureState) -> None:
        allowed = ", ".join(sorted(s.value for s in ALLOWED_TRANSITIONS[current])) or "none"
        super().__init__(
            f"cannot go from {current.value} to {requested.value}; from {current.value} "
            f"the next step can be: {allowed}"
        )
        self.current = current
        self.requested = requested


def check_transition(current: ProcedureState, requested: ProcedureState) -> None:
    """Raise :class:`TransitionError` unless ``current -> requested`` is allowed."""
    if requested not in ALLOWED_TRANSITIONS[current]:
        raise TransitionError(current, requested)


@dataclass(frozen=True)
class Procedure:
    """One procedure performed on one patient: the unit a nurse starts and ends.

    Parameters
    ----------
    procedure_id
        Key of the procedure in the local store.
    patient
        Whom it is performed on.
    study_uid
        Study Instance UID (0020,000D) all its captures go into.
    study_date, study_time
        Study Date and Time (0008,0020/0030): when the procedure was opened.
    state
        Current state.
    accession_number
        Accession Number (0008,0050), empty when unscheduled.
    description
        Study or procedure description.
    context
        The request context as JSON text (worklist item or unscheduled, MPPS state), written
        and read by the engine; empty for procedures made before it existed.
    mpps_uid
        SOP Instance UID of the procedure's current MPPS instance, empty before one exists.
    """

    procedure_id: int
    patient: Patient
    study_uid: str
    study_date: str
    study_time: str
    state: ProcedureState
    accession_number: str = ""
    description: str = ""
    context: str = ""
    mpps_uid: str = ""
