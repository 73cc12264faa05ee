"""Frozen snapshots of what the engine is doing, for the CLI and the GUI."""

from __future__ import annotations

from dataclasses import dataclass

from izer.model.procedure import ProcedureState


@dataclass(frozen=True)
class EngineStatus:
    """A consistent, immutable view of the engine at one moment.

    Counters only grow during the life of one engine object.
    """

    state: ProcedureState
    procedure_id: int | None
    study_instance_uid: str | None
    captured: int
    stored: int
    store_folder: str
