"""Retrieving studies: Study Root C-MOVE and C-GET SCU (PS3.4 C.4.2, C.4.3).

C-MOVE asks the archive to send the instances to a Storage SCP it knows by AE title (izer's
own listener); C-GET has them sent back over the requesting association, so izer proposes
the storage SOP classes with the SCP role (SCP/SCU Role Selection, PS3.4 C.4.3.1, PS3.7
D.3.3.4) and files each C-STORE through a :data:`~izer.net.listener.StoreHandler`.

Both report the final response's Number of Completed, Failed, Warning and Remaining
Sub-operations and its Failed SOP Instance UID List (PS3.4 C.4.2.1.4, C.4.3.1.4). A failure
status raises :class:`RetrieveFailed`, naming the status and what to do.
"""

from __future__ import annotations

import enum
import logging
import socket
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from pydicom.dataset import Dataset
from pydicom.uid import UID
from pynetdicom import build_role, evt
from pynetdicom.association import Association
from pynetdicom.sop_class import (
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
)

from izer.config import Destination
from izer.net import AssociationFactory
from izer.net.listener import (
    DEFAULT_STORAGE_TRANSFER_SYNTAXES,
    StoreHandler,
    handle_store,
    store_response,
)
from izer.worklist.qr_find import QueryLevel, check_uid
from izer.worklist.qr_models import (
    FIND_MODELS,
    GET_MODELS,
    GET_STORAGE_CLASSES,
    MAX_REQUESTED_CONTEXTS,
    MOVE_MODELS,
    VIDEO_SYNTAXES,
    get_contexts,
)

log = logging.getLogger(__name__)

__all__ = [
    "FIND_MODELS",
    "GET_MODELS",
    "GET_STORAGE_CLASSES",
    "MAX_REQUESTED_CONTEXTS",
    "MOVE_MODELS",
    "VIDEO_SYNTAXES",
    "RetrieveFailed",
    "RetrieveProgress",
    "RetrieveResult",
    "RetrieveStatus",
    "get",
    "get_contexts",
    "move",
    "retrieve_identifier",
]

_PENDING = frozenset({0xFF00, 0xFF01})

#: Longest wait for a C-MOVE or C-GET response, in seconds (see :func:`_allow_long_retrieve`).
RETRIEVE_TIMEOUT_S = 3600.0


class RetrieveStatus(enum.Enum):
    """C-MOVE / C-GET response statuses (PS3.4 Tables C.4-2 and C.4-3, PS3.7 C.4)."""

    SUCCESS = (0x0000, "sub-operations complete, no failures")
    WARNING = (0xB000, "sub-operations complete, one or more failures or warnings")
    CANCELLED = (0xFE00, "sub-operations terminated due to cancel indication")
    PENDING = (0xFF00, "sub-operations are continuing")
    OUT_OF_RESOURCES_MATCHES = (0xA701, "out of resources: unable to calculate number of matches")
    OUT_OF_RESOURCES_SUBOPERATIONS = (
        0xA702,
        "out of resources: unable to perform sub-operations",
    )
    MOVE_DESTINATION_UNKNOWN = (0xA801, "move destination unknown")
    IDENTIFIER_DOES_NOT_MATCH = (0xA900, "identifier does not match SOP class")
    SOP_CLASS_NOT_SUPPORTED = (0x0122, "SOP class not supported")
    UNABLE_TO_PROCESS = (0xC000, "unable to process")
    UNKNOWN = (-1, "unknown status")

    def __init__(self, code: int, meaning: str) -> None:
        self.code = code
        self.meaning = meaning

    @classmethod
    def of(cls, code: int) -> RetrieveStatus:
        """The status ``code`` stands for; any 0xCxxx is :attr:`UNABLE_TO_PROCESS`."""
        for member in cls:
            if member.code == code:
                return member
        if code == 0xFF01:
            return cls.PENDING
        if 0xC000 <= code <= 0xCFFF:
            return cls.UNABLE_TO_PROCESS
        return cls.UNKNOWN

    @property
    def failed(self) -> bool:
        """True for a failure (the retrieve did not complete), not for warning or cancel."""
        return self not in (
            RetrieveStatus.SUCCESS,
            RetrieveStatus.WARNING,
            RetrieveStatus.CANCELLED,
            RetrieveStatus.PENDING,
        )


@dataclass(frozen=True)
class RetrieveProgress:
    """Sub-operation counts of one pending C-MOVE / C-GET response."""

    completed: int
    failed: int
    warning: int
    remaining: int | None


@dataclass(frozen=True)
class RetrieveResult:
    """The final response of one C-MOVE or C-GET (PS3.4 C.4.2.1.4, C.4.3.1.4).

    Attributes
    ----------
    status
        The Status (0000,0900) code; ``meaning`` is its :class:`RetrieveStatus`.
    completed, failed, warning, remaining
        Number of ... Sub-operations of the final response (``remaining`` mostly 0).
    failed_sop_uids
        Failed SOP Instance UID List (0008,0058), when the peer sends it.
    """

    status: int
    meaning: RetrieveStatus
    completed: int = 0
    failed: int = 0
    warning: int = 0
    remaining: int = 0
    failed_sop_uids: tuple[str, ...] = ()
    error_comment: str = ""

    @property
    def retrieved(self) -> int:
        """Instances stored by the sub-operations (completed and with warning)."""
        return self.completed + self.warning


class RetrieveFailed(RuntimeError):
    """The peer answered with a failure status, or no final status.

    Attributes
    ----------
    status
        The status code, ``None`` when no final response came.
    meaning
        What it means, in plain words.
    result
        The final response's counts, when there was one.
    """

    def __init__(self, status: int | None, meaning: str, result: RetrieveResult | None = None):
        self.status = status
        self.meaning = meaning
        self.result = result
        super().__init__(meaning)


Progress = Callable[[RetrieveProgress], None]


def retrieve_identifier(
    study_uid: str, series_uid: str = "", sop_uids: Sequence[str] = ()
) -> Dataset:
    """The C-MOVE / C-GET identifier: the unique keys down to the level asked for.

    STUDY level with only a study, SERIES with a series, IMAGE with SOP Instance UIDs (a list
    of UIDs is allowed at the retrieve level, PS3.4 C.4.2.2.1; hierarchical, C.4.2.1.4.1).

    Raises
    ------
    ValueError
        When a UID is malformed, or SOP Instance UIDs come without their series.
    """
    check_uid("Study Instance UID", study_uid)
    ds = Dataset()
    ds.QueryRetrieveLevel = QueryLevel.STUDY.value
    ds.StudyInstanceUID = study_uid
    if series_uid:
        check_uid("Series Instance UID", series_uid)
        ds.QueryRetrieveLevel = QueryLevel.SERIES.value
        ds.SeriesInstanceUID = series_uid
    if sop_uids:
        if not series_uid:
            raise ValueError("SOP Instance UIDs need the Series Instance UID of their series")
        for uid in sop_uids:
            check_uid("SOP Instance UID", uid)
        ds.QueryRetrieveLevel = QueryLevel.IMAGE.value
        ds.SOPInstanceUID = list(sop_uids) if len(sop_uids) > 1 else sop_uids[0]
    return ds


def _number(status: Dataset, keyword: str) -> int | None:
    value = status.get(keyword, None)
    try:
        return None if value in (None, "") else int(value)
    except (TypeError, ValueError):
        return None


def _uids(identifier: Dataset | None) -> tuple[str, ...]:
    if identifier is None:
        return ()
    value = identifier.get("FailedSOPInstanceUIDList", None)
    if value in (None, ""):
        return ()
    if isinstance(value, str):
        return tuple(v for v in value.split("\\") if v)
    return tuple(str(v) for v in value)


def _collect(
    responses: Iterator[tuple[Dataset, Dataset | None]],
    what: str,
    progress: Progress | None,
) -> RetrieveResult:
    """Follow the responses to the final one; call ``progress`` for each pending one."""
    final: RetrieveResult | None = None
    for status, identifier in responses:
        if not status or "Status" not in status:
            raise RetrieveFailed(None, f"{what}: no response (timed out or connection lost)")
        code = int(status.Status)
        counts = {
            "completed": _number(status, "NumberOfCompletedSuboperations") or 0,
            "failed": _number(status, "NumberOfFailedSuboperations") or 0,
            "warning": _number(status, "NumberOfWarningSuboperations") or 0,
        }
        remaining = _number(status, "NumberOfRemainingSuboperations")
        if code in _PENDING:
            if progress is not None:
                progress(RetrieveProgress(remaining=remaining, **counts))
            continue
        final = RetrieveResult(
            status=code,
            meaning=RetrieveStatus.of(code),
            remaining=remaining or 0,
            failed_sop_uids=_uids(identifier),
            error_comment=str(status.get("ErrorComment", "") or ""),
            **counts,
        )
    if final is None:
        raise RetrieveFailed(None, f"{what}: the peer ended without a final response")
    return final


def _check_offered(association: Association, model: str, destination: Destination) -> None:
    if not any(c.abstract_syntax == model and c.result == 0 for c in association.accepted_contexts):
        raise RetrieveFailed(
            None,
            f"{destination.name} ({destination.address}) does not offer {UID(model).name} "
            f"({model}); check that it is a Q/R archive and accepts izer's calling AE title",
        )


def _local_address(association: Association) -> str:
    """The address this computer reaches the peer from (for the advice on 0xA801)."""
    raw = getattr(getattr(association.dul, "socket", None), "socket", None)
    try:
        return str(raw.getsockname()[0]) if raw is not None else socket.gethostname()
    except OSError:
        return socket.gethostname()


def _failure(
    result: RetrieveResult, destination: Destination, operation: str, hint: str
) -> RetrieveFailed:
    code = f"0x{result.status:04X}"
    comment = f" ({result.error_comment})" if result.error_comment else ""
    message = (
        f"{destination.name} refused the {operation}: {result.meaning.meaning} ({code}){comment}"
    )
    return RetrieveFailed(result.status, message + (f"; {hint}" if hint else ""), result)


def _allow_long_retrieve(association: Association) -> None:
    """Wait up to :data:`RETRIEVE_TIMEOUT_S` for the archive's responses.

    An archive need not send Pending responses (PS3.4 C.4.2.3.1, C.4.3.3.1): the final one
    may come only once every sub-operation is done, long after the destination's DIMSE and
    network timeouts, which would abort a retrieve that is working.
    """
    association.dimse_timeout = max(association.dimse_timeout or 0, RETRIEVE_TIMEOUT_S)
    association.network_timeout = max(association.network_timeout or 0, RETRIEVE_TIMEOUT_S)


def move(
    factory: AssociationFactory,
    destination: Destination,
    move_destination_aet: str,
    *,
    study_uid: str,
    series_uid: str = "",
    sop_uids: Sequence[str] = (),
    progress: Progress | None = None,
    listener_port: int | None = None,
) -> RetrieveResult:
    """Have ``destination`` send a study (series, instances) to ``move_destination_aet``.

    Study Root C-MOVE (PS3.4 C.4.2). ``listener_port`` only completes the advice given when
    the archive does not know the move destination.

    Raises
    ------
    ValueError
        When a UID is malformed.
    AssociationFailed
        When the archive cannot be reached.
    RetrieveFailed
        For a failure status (e.g. 0xA801: the archive does not know the AE title).
    """
    identifier = retrieve_identifier(study_uid, series_uid, sop_uids)
    model = StudyRootQueryRetrieveInformationModelMove
    with factory.associate(destination, [model], peer_sends_requests=False) as association:
        _check_offered(association, model, destination)
        _allow_long_retrieve(association)
        result = _collect(
            association.send_c_move(identifier, move_destination_aet, model),
            f"C-MOVE from {destination.name}",
            progress,
        )
        host = _local_address(association)
    log.info(
        "C-MOVE of %s from %s to %s: status 0x%04X, %d completed, %d failed, %d warning",
        study_uid, destination.name, move_destination_aet, result.status, result.completed,
        result.failed, result.warning,
    )  # fmt: skip
    if result.meaning.failed:
        hint = ""
        if result.meaning is RetrieveStatus.MOVE_DESTINATION_UNKNOWN:
            port = f" port {listener_port}" if listener_port is not None else ""
            raise RetrieveFailed(
                result.status,
                f"{destination.name} does not know izer's AE title {move_destination_aet} as "
                f"a move destination (0xA801): add it to {destination.name}'s modality list "
                f"with host {host}{port}",
                result,
            )
        where = f"host {host}" + (f" port {listener_port}" if listener_port is not None else "")
        if result.meaning is RetrieveStatus.OUT_OF_RESOURCES_SUBOPERATIONS:
            hint = (
                f"it could not send to {move_destination_aet}: is izer's listener running and "
                f"reachable from it at {where}?"
            )
        elif result.meaning is RetrieveStatus.UNABLE_TO_PROCESS:
            hint = (
                f"check that {destination.name} knows izer's AE title {move_destination_aet} "
                f"as a move destination ({where}); some archives (Orthanc) answer 0xC000 "
                "for an unknown one"
            )
        raise _failure(result, destination, "C-MOVE", hint)
    return result


def _store_answer(store_handler: StoreHandler, event: evt.Event) -> Dataset:
    """Answer one C-STORE sub-operation of a C-GET (PS3.4 C.4.3.3) as the handler says."""
    return store_response(handle_store(store_handler, event, event.assoc.acceptor.ae_title))


def get(
    factory: AssociationFactory,
    destination: Destination,
    store_handler: StoreHandler,
    *,
    study_uid: str,
    series_uid: str = "",
    sop_uids: Sequence[str] = (),
    progress: Progress | None = None,
    transfer_syntaxes: Sequence[str] = DEFAULT_STORAGE_TRANSFER_SYNTAXES,
    sop_classes: Sequence[str] = (),
) -> RetrieveResult:
    """Retrieve a study (series, instances) over this association (Study Root C-GET, C.4.3).

    Proposes :data:`GET_MODELS` and the storage contexts of :func:`get_contexts` (for
    ``sop_classes``, e.g. the study's, else :data:`GET_STORAGE_CLASSES`) with the SCP role;
    every instance received goes to ``store_handler``, whose status answers the C-STORE.

    Raises
    ------
    ValueError
        When a UID is malformed.
    AssociationFailed
        When the archive cannot be reached.
    RetrieveFailed
        For a failure status.
    """
    identifier = retrieve_identifier(study_uid, series_uid, sop_uids)
    model = StudyRootQueryRetrieveInformationModelGet
    storage = get_contexts(sop_classes, transfer_syntaxes)
    contexts = [model, *storage]
    roles = [build_role(uid, scp_role=True) for uid in dict.fromkeys(uid for uid, _ in storage)]
    handlers = [(evt.EVT_C_STORE, lambda event: _store_answer(store_handler, event))]
    # The archive's C-STOREs arrive only while send_c_get reads (blocking) in this thread.
    with factory.associate(
        destination, contexts, peer_sends_requests=False, ext_neg=roles, evt_handlers=handlers
    ) as association:
        _check_offered(association, model, destination)
        _allow_long_retrieve(association)
        result = _collect(
            association.send_c_get(identifier, model), f"C-GET from {destination.name}", progress
        )
    log.info(
        "C-GET of %s from %s: status 0x%04X, %d completed, %d failed, %d warning",
        study_uid, destination.name, result.status, result.completed, result.failed,
        result.warning,
    )  # fmt: skip
    if result.meaning.failed:
        hint = ""
        if result.meaning is RetrieveStatus.OUT_OF_RESOURCES_SUBOPERATIONS:
            hint = "it could not send the instances back over the C-GET association"
        raise _failure(result, destination, "C-GET", hint)
    return result
