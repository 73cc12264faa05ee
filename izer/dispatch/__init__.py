"""Delivery that loses nothing: the outbox and one sink per kind of destination.

The engine wires them together (:mod:`izer.engine.dispatching`): each outbox job kind gets a
handler that calls one of the sinks below.
"""

from izer.dispatch.commitment import CommitmentResult, request_commitment
from izer.dispatch.cstore import StoreFailed, StoreOutcome, store_files
from izer.dispatch.errors import DeliveryError
from izer.dispatch.folder_sink import copy_to_folder
from izer.dispatch.outbox import (
    OUTBOX_NAME,
    PENDING_STATES,
    DestinationProgress,
    Dispatcher,
    DispatcherBusyError,
    Job,
    JobInterrupted,
    JobKind,
    JobState,
    Outbox,
    StudyProgress,
)
from izer.dispatch.stow import BasicAuth, BearerToken, StowFailed, stow_destination, stow_files

__all__ = [
    "OUTBOX_NAME",
    "PENDING_STATES",
    "BasicAuth",
    "BearerToken",
    "CommitmentResult",
    "DeliveryError",
    "DestinationProgress",
    "Dispatcher",
    "DispatcherBusyError",
    "Job",
    "JobInterrupted",
    "JobKind",
    "JobState",
    "Outbox",
    "StoreFailed",
    "StoreOutcome",
    "StowFailed",
    "StudyProgress",
    "copy_to_folder",
    "request_commitment",
    "store_files",
    "stow_destination",
    "stow_files",
]
