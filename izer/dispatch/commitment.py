"""Storage Commitment Push Model SCU (PS3.4 Annex J).

:func:`request_commitment` asks a destination to commit to keeping instances: an N-ACTION
(Action Type ID 1, "Request Storage Commitment", J.3.2) with a Transaction UID and the
Referenced SOP Sequence. The SCP answers the N-ACTION at once and reports the result later in
an N-EVENT-REPORT (J.3.3) with the same Transaction UID, either on the same association while
it is open or on a new association it opens to izer's :class:`~izer.net.Listener` (which must
then be known to the SCP by AE title, host and port). Both ways are watched: the association
is held open for a while after the N-ACTION, and a waiter for the Transaction UID is
registered with the listener before the N-ACTION is sent.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from pydicom.dataset import Dataset
from pydicom.uid import UID, generate_uid
from pynetdicom import evt
from pynetdicom.sop_class import StorageCommitmentPushModel

from izer.config import Destination
from izer.dispatch.errors import DeliveryError
from izer.net.association import AssociationFactory, AssociationFailed
from izer.net.listener import CommitmentReport, Listener, parse_commitment_report

log = logging.getLogger(__name__)

#: Well-known SOP Instance of the Storage Commitment Push Model SOP Class (PS3.4 J.3.5).
STORAGE_COMMITMENT_INSTANCE = "1.2.840.10008.1.20.1.1"
#: Action Type ID of "Request Storage Commitment" (PS3.4 Table J.3-1).
REQUEST_STORAGE_COMMITMENT = 1
_TRANSFER_SYNTAXES = ("1.2.840.10008.1.2.1", "1.2.840.10008.1.2")


class FailureReason(enum.IntEnum):
    """Failure Reason (0008,1197) of an instance the SCP did not commit (PS3.3 C.14.1.1)."""

    PROCESSING_FAILURE = 0x0110
    NO_SUCH_OBJECT_INSTANCE = 0x0112
    CLASS_INSTANCE_CONFLICT = 0x0119
    REFERENCED_SOP_CLASS_NOT_SUPPORTED = 0x0122
    RESOURCE_LIMITATION = 0x0213
    DUPLICATE_TRANSACTION_UID = 0x0131

    @property
    def meaning(self) -> str:
        """The reason in plain words."""
        return _REASONS[self]


_REASONS = {
    FailureReason.PROCESSING_FAILURE: "processing failure",
    FailureReason.NO_SUCH_OBJECT_INSTANCE: "no such object instance (the SCP does not have it)",
    FailureReason.CLASS_INSTANCE_CONFLICT: "class/instance conflict",
    FailureReason.REFERENCED_SOP_CLASS_NOT_SUPPORTED: "referenced SOP class not supported",
    FailureReason.RESOURCE_LIMITATION: "resource limitation",
    FailureReason.DUPLICATE_TRANSACTION_UID: "duplicate transaction UID",
}


def failure_meaning(code: int) -> str:
    """A Failure Reason in plain words, with its code."""
    try:
        return f"{FailureReason(code).meaning} (0x{code:04X})"
    except ValueError:
        return f"failure reason 0x{code:04X}"


@dataclass(frozen=True)
class CommitmentResult:
    """What the SCP committed to.

    Attributes
    ----------
    transaction_uid
        The Transaction UID of the request.
    committed
        SOP Instance UIDs the SCP committed to keep.
    failed
        SOP Instance UID -> Failure Reason (see :class:`FailureReason`).
    unreported
        Requested instances the report named neither committed nor failed.
    via
        ``"same association"`` or ``"listener"``: where the report arrived.
    """

    transaction_uid: str
    committed: frozenset[str]
    failed: dict[str, int] = field(default_factory=dict)
    unreported: frozenset[str] = frozenset()
    via: str = ""

    def failure_text(self) -> str:
        """The failed instances and reasons, one per line."""
        return "\n".join(f"{uid}: {failure_meaning(code)}" for uid, code in self.failed.items())


class _Waiter:
    """Receives the report of one transaction from whichever path brings it first."""

    def __init__(self, transaction_uid: str) -> None:
        self.transaction_uid = transaction_uid
        self.report: CommitmentReport | None = None
        self.via = ""
        self.answered_at: float | None = None
        """When the N-ACTION was answered (monotonic clock); the wait counts from there."""
        self.arrived = threading.Event()
        self._lock = threading.Lock()

    def offer(self, report: CommitmentReport, via: str = "listener") -> None:
        if report.transaction_uid != self.transaction_uid:
            return
        with self._lock:
            if self.report is None:
                self.report, self.via = report, via
                self.arrived.set()


def _action_information(transaction_uid: str, items: Sequence[tuple[str, str]]) -> Dataset:
    """Action Information of the N-ACTION (PS3.4 Table J.3-1)."""
    ds = Dataset()
    ds.TransactionUID = transaction_uid
    references = []
    for sop_class, sop_instance in items:
        item = Dataset()
        item.ReferencedSOPClassUID = sop_class
        item.ReferencedSOPInstanceUID = sop_instance
        references.append(item)
    ds.ReferencedSOPSequence = references
    return ds


def request_commitment(
    factory: AssociationFactory,
    destination: Destination,
    items: Sequence[tuple[str, str]],
    *,
    listener: Listener | None = None,
    timeout_s: float = 60.0,
    hold_association_s: float = 10.0,
    transaction_uid: str | None = None,
) -> CommitmentResult:
    """Ask ``destination`` to commit to storing ``items`` and wait for its answer.

    Parameters
    ----------
    factory
        Opens the association (calling AE title, timeouts, TLS).
    destination
        The Storage Commitment SCP.
    items
        (SOP Class UID, SOP Instance UID) of each instance, e.g. all of a study.
    listener
        izer's running listener, where the SCP may send the report on a new association;
        None to accept a report on the same association only.
    timeout_s
        How long to wait for the report after the N-ACTION was answered.
    hold_association_s
        How long to keep the association open for a report on it when a listener is
        given (without one, it is held for the whole ``timeout_s``).
    transaction_uid
        The Transaction UID to use (store it before calling to match a late report);
        a new one by default.

    Returns
    -------
    CommitmentResult
        Committed, failed (with the reason) and unreported instances.

    Raises
    ------
    DeliveryError
        Transient when the SCP cannot be reached, answers the N-ACTION with a failure that
        may pass, or sends no report within ``timeout_s``; not transient when it refuses the
        request (Storage Commitment not supported, a permanent N-ACTION failure).
    """
    if not items:
        raise ValueError("request_commitment needs at least one (SOP class, SOP instance) pair")
    uid = transaction_uid or generate_uid()
    waiter = _Waiter(uid)
    peer = destination.address
    if listener is not None:
        listener.add_commitment_handler(waiter.offer)
    try:
        _request(factory, destination, items, waiter, listener, timeout_s, hold_association_s)
        if not waiter.arrived.wait(timeout=_remaining(waiter, timeout_s)):
            where = (
                f"on that association or at izer's listener ({listener.ae_title} on port "
                f"{listener.port}; check that {destination.ae_title} knows this AE title, "
                "host and port)"
                if listener is not None
                else "on that association (no listener was running to receive it on a new one)"
            )
            raise DeliveryError(
                f"{peer} accepted the storage commitment request (transaction {uid}) but sent "
                f"no result within {timeout_s:g} s {where}",
                transient=True,
            )
    finally:
        if listener is not None:
            listener.remove_commitment_handler(waiter.offer)
    assert waiter.report is not None
    return _result(uid, items, waiter.report, waiter.via)


def _remaining(waiter: _Waiter, timeout_s: float) -> float:
    if waiter.answered_at is None:
        return timeout_s
    return max(0.0, timeout_s - (time.monotonic() - waiter.answered_at))


def _request(
    factory: AssociationFactory,
    destination: Destination,
    items: Sequence[tuple[str, str]],
    waiter: _Waiter,
    listener: Listener | None,
    timeout_s: float,
    hold_association_s: float,
) -> None:
    """Send the N-ACTION and hold the association open for a report on it."""
    peer = destination.address

    def on_report(event: evt.Event) -> tuple[int, Dataset | None]:
        try:
            report = parse_commitment_report(
                int(event.request.EventTypeID or 0),
                event.event_information,
                event.assoc.acceptor.ae_title,
            )
        except ValueError as exc:
            log.warning("storage commitment report from %s not taken: %s", peer, exc)
            return 0x0115, None
        waiter.offer(report, "same association")
        return 0x0000, None

    try:
        with factory.associate(
            destination, [(StorageCommitmentPushModel, _TRANSFER_SYNTAXES)]
        ) as association:
            association.bind(evt.EVT_N_EVENT_REPORT, on_report)
            status, _ = association.send_n_action(
                _action_information(waiter.transaction_uid, items),
                REQUEST_STORAGE_COMMITMENT,
                StorageCommitmentPushModel,
                STORAGE_COMMITMENT_INSTANCE,
            )
            _check_action_status(peer, status)
            waiter.answered_at = time.monotonic()
            hold = timeout_s if listener is None else min(timeout_s, hold_association_s)
            deadline = time.monotonic() + hold
            while association.is_established and time.monotonic() < deadline:
                if waiter.arrived.wait(timeout=0.05):
                    break
            closed_early = not association.is_established
    except AssociationFailed as exc:
        message = str(exc)
        refused = "accepted none of the requested presentation contexts" in message
        raise DeliveryError(
            message + (": it does not support Storage Commitment Push Model" if refused else ""),
            transient=not refused and "rejected (permanent)" not in message,
        ) from None
    if not waiter.arrived.is_set() and listener is None and closed_early:
        raise DeliveryError(
            f"the association with {peer} ended (closed by the peer, or idle for "
            "network_timeout_s) before the storage commitment result of transaction "
            f"{waiter.transaction_uid} arrived, and no listener was running to receive it on "
            "a new association",
            transient=True,
        )


def _check_action_status(peer: str, status: Dataset) -> None:
    """Raise when the N-ACTION was not answered with success (PS3.4 J.3.2.1.3)."""
    if "Status" not in status:
        raise DeliveryError(
            f"{peer} did not answer the storage commitment request (association aborted or "
            "dimse_timeout_s ran out)",
            transient=True,
        )
    code = int(status.Status)
    if code in (0x0000, 0x0001) or 0xB000 <= code <= 0xBFFF:
        return
    comment = str(status.get("ErrorComment", "") or "").strip()
    transient = code in (0x0110, 0x0213, 0x0210) or 0xA700 <= code <= 0xA7FF
    raise DeliveryError(
        f"{peer} refused the storage commitment request: status 0x{code:04X}"
        + (f" ({comment})" if comment else ""),
        transient=transient,
    )


def _result(
    uid: str, items: Sequence[tuple[str, str]], report: CommitmentReport, via: str
) -> CommitmentResult:
    requested = {str(UID(instance)) for _, instance in items}
    committed = {instance for _, instance in report.committed}
    failed = {instance: reason for _, instance, reason in report.failed}
    strangers = (committed | set(failed)) - requested
    if strangers:
        log.warning(
            "storage commitment report for transaction %s names %d instances that were not "
            "requested (ignored): %s",
            uid,
            len(strangers),
            ", ".join(sorted(strangers)[:5]),
        )
    if failed:
        log.warning(
            "storage commitment transaction %s: %d of %d instances not committed",
            uid,
            len(failed.keys() & requested),
            len(requested),
        )
    return CommitmentResult(
        transaction_uid=uid,
        committed=frozenset(committed & requested),
        failed={instance: reason for instance, reason in failed.items() if instance in requested},
        unreported=frozenset(requested - committed - set(failed)),
        via=via,
    )
