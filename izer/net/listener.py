"""izer's own SCP: Verification, Storage Commitment reports and, optionally, Storage.

Storage (PS3.4 B): with a :data:`StoreHandler` the listener accepts every storage SOP class
pynetdicom knows in the transfer syntaxes given (by default
:data:`DEFAULT_STORAGE_TRANSFER_SYNTAXES`: the uncompressed, JPEG, JPEG-LS, JPEG 2000, HTJ2K,
JPEG XL, RLE, Deflated, MPEG-2, H.264 and HEVC syntaxes). Each C-STORE data set goes to the
handler, which files it durably; the C-STORE response carries the status it returns, so a
success (0x0000) is only sent once the instance is on disk. One log line per association
and per study received sums up what came in.

Storage Commitment (PS3.4 J): a Storage Commitment SCP may send its N-EVENT-REPORT on a new
association that it opens to izer (J.3.3). It then proposes SCP/SCU Role Selection (PS3.7
D.3.3.4) to take the SCP role of the Storage Commitment Push Model SOP Class while izer, the
acceptor, takes the SCU role; the listener accepts both roles. Each report is parsed into a
:class:`CommitmentReport` and handed to every handler added with
:meth:`Listener.add_commitment_handler`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from pydicom.dataset import Dataset, FileMetaDataset
from pynetdicom import AE, AllStoragePresentationContexts, evt
from pynetdicom.sop_class import StorageCommitmentPushModel, Verification
from pynetdicom.transport import ThreadedAssociationServer

from izer.net.association import enable_nodelay

log = logging.getLogger(__name__)

#: N-EVENT-REPORT statuses the listener answers with (PS3.7 10.1.1.1.8, Annex C).
_SUCCESS = 0x0000
_PROCESSING_FAILURE = 0x0110
_NO_SUCH_EVENT_TYPE = 0x0113
_INVALID_ARGUMENT_VALUE = 0x0115
#: C-STORE "Error: Cannot understand" (PS3.4 Table B.2-1).
STORE_CANNOT_UNDERSTAND = 0xC000

#: Transfer syntaxes the Storage SCP accepts by default: all those izer emits (PS3.5 Annex A,
#: PS3.6 Table A-1), uncompressed first.
DEFAULT_STORAGE_TRANSFER_SYNTAXES: tuple[str, ...] = (
    "1.2.840.10008.1.2.1",  # Explicit VR Little Endian
    "1.2.840.10008.1.2",  # Implicit VR Little Endian
    "1.2.840.10008.1.2.1.99",  # Deflated Explicit VR Little Endian
    "1.2.840.10008.1.2.4.50",  # JPEG Baseline (Process 1)
    "1.2.840.10008.1.2.4.51",  # JPEG Extended (Process 2 & 4)
    "1.2.840.10008.1.2.4.57",  # JPEG Lossless (Process 14)
    "1.2.840.10008.1.2.4.70",  # JPEG Lossless SV1
    "1.2.840.10008.1.2.4.80",  # JPEG-LS Lossless
    "1.2.840.10008.1.2.4.81",  # JPEG-LS Near-Lossless
    "1.2.840.10008.1.2.4.90",  # JPEG 2000 Lossless
    "1.2.840.10008.1.2.4.91",  # JPEG 2000
    "1.2.840.10008.1.2.4.201",  # HTJ2K Lossless
    "1.2.840.10008.1.2.4.202",  # HTJ2K Lossless RPCL
    "1.2.840.10008.1.2.4.203",  # HTJ2K
    "1.2.840.10008.1.2.4.110",  # JPEG XL Lossless
    "1.2.840.10008.1.2.4.111",  # JPEG XL JPEG Recompression
    "1.2.840.10008.1.2.4.112",  # JPEG XL
    "1.2.840.10008.1.2.5",  # RLE Lossless
    "1.2.840.10008.1.2.4.100",  # MPEG-2 MP@ML
    "1.2.840.10008.1.2.4.101",  # MPEG-2 MP@HL
    "1.2.840.10008.1.2.4.102",  # H.264 HP@L4.1
    "1.2.840.10008.1.2.4.103",  # H.264 BD-compatible HP@L4.1
    "1.2.840.10008.1.2.4.104",  # H.264 HP@L4.2 2D video
    "1.2.840.10008.1.2.4.105",  # H.264 HP@L4.2 3D video
    "1.2.840.10008.1.2.4.106",  # H.264 Stereo HP@L4.2
    "1.2.840.10008.1.2.4.100.1",  # MPEG-2 MP@ML, fragmentable
    "1.2.840.10008.1.2.4.101.1",  # MPEG-2 MP@HL, fragmentable
    "1.2.840.10008.1.2.4.102.1",  # H.264 HP@L4.1, fragmentable
    "1.2.840.10008.1.2.4.103.1",  # H.264 BD-compatible HP@L4.1, fragmentable
    "1.2.840.10008.1.2.4.104.1",  # H.264 HP@L4.2 2D video, fragmentable
    "1.2.840.10008.1.2.4.107",  # HEVC Main@L5.1
    "1.2.840.10008.1.2.4.108",  # HEVC Main 10@L5.1
)


@dataclass(frozen=True)
class StoreOutcome:
    """What a :data:`StoreHandler` answers for one C-STORE (PS3.4 B.2.3, Table B.2-1).

    Attributes
    ----------
    status
        0x0000 once the instance is durably stored; 0xA7xx out of resources; 0xA900 data set
        does not match SOP class; 0xCxxx cannot understand.
    comment
        Error Comment (0000,0902) sent with a failure, at most 64 characters.
    study_uid, patient_id
        Of the instance stored, for the per-study log line.
    """

    status: int
    comment: str = ""
    study_uid: str = ""
    patient_id: str = ""


#: Files one received instance: (data set, its file meta (transfer syntax, SOP class and
#: instance from the C-STORE request), calling AE title) -> outcome. It returns only once the
#: instance is durable; the listener answers the C-STORE with its status.
StoreHandler = Callable[[Dataset, FileMetaDataset, str], StoreOutcome]


@dataclass
class _Tally:
    """What one association has stored so far."""

    calling_aet: str
    instances: int = 0
    failures: int = 0
    bytes: int = 0
    #: study UID -> [patient ID, instances]
    studies: dict[str, list] = field(default_factory=dict)


@dataclass(frozen=True)
class CommitmentReport:
    """One Storage Commitment result (N-EVENT-REPORT Event Information, PS3.4 J.3.3.1).

    Attributes
    ----------
    transaction_uid
        Transaction UID (0008,1195) of the N-ACTION it answers.
    event_type
        1: every instance committed; 2: some failed (PS3.4 Table J.3-2).
    committed
        (Referenced SOP Class UID, Referenced SOP Instance UID) of each committed instance.
    failed
        (SOP Class UID, SOP Instance UID, Failure Reason) of each failed instance.
    reporter
        Calling AE title of the association the report came on.
    """

    transaction_uid: str
    event_type: int
    committed: tuple[tuple[str, str], ...]
    failed: tuple[tuple[str, str, int], ...]
    reporter: str = ""


def parse_commitment_report(
    event_type: int, information: Dataset | None, reporter: str = ""
) -> CommitmentReport:
    """Read a Storage Commitment N-EVENT-REPORT (PS3.4 J.3.3.1, Tables J.3-2 and J.3-3).

    Raises
    ------
    ValueError
        When the event type is not 1 or 2, or the Transaction UID is missing.
    """
    if event_type not in (1, 2):
        raise ValueError(
            f"Event Type ID {event_type} is not a storage commitment result (1 or 2, PS3.4 J.3.3)"
        )
    if information is None or not information.get("TransactionUID"):
        raise ValueError("the report has no Transaction UID (0008,1195)")
    committed = tuple(
        (str(item.get("ReferencedSOPClassUID", "")), str(item.get("ReferencedSOPInstanceUID", "")))
        for item in information.get("ReferencedSOPSequence", [])
    )
    failed = tuple(
        (
            str(item.get("ReferencedSOPClassUID", "")),
            str(item.get("ReferencedSOPInstanceUID", "")),
            int(item.get("FailureReason", 0x0110)),
        )
        for item in information.get("FailedSOPSequence", [])
    )
    return CommitmentReport(
        transaction_uid=str(information.TransactionUID),
        event_type=event_type,
        committed=committed,
        failed=failed,
        reporter=reporter,
    )


CommitmentHandler = Callable[[CommitmentReport], None]


def handle_store(handler: StoreHandler, event: evt.Event, sender_aet: str) -> StoreOutcome:
    """Decode a received C-STORE's data set and give it to ``handler``; a data set that
    cannot be decoded, or a handler that fails, gives 0xC000 (cannot understand)."""
    try:
        dataset, file_meta = event.dataset, event.file_meta
    except Exception as exc:
        log.warning("C-STORE from %s could not be decoded: %s", sender_aet, exc)
        return StoreOutcome(STORE_CANNOT_UNDERSTAND, f"cannot decode: {exc}")
    try:
        return handler(dataset, file_meta, sender_aet)
    except Exception as exc:
        log.exception("storing an instance from %s failed", sender_aet)
        return StoreOutcome(STORE_CANNOT_UNDERSTAND, f"not stored: {exc}")


def store_response(outcome: StoreOutcome) -> Dataset:
    """The C-STORE response's status (and Error Comment, 64 characters at most, on failure)."""
    response = Dataset()
    response.Status = outcome.status
    if outcome.status != _SUCCESS and outcome.comment:
        response.ErrorComment = outcome.comment[:64]
    return response


class Listener:
    """A background association server.

    Parameters
    ----------
    ae_title
        The called AE title it answers to.
    port
        TCP port.
    allowed_calling_aets
        Calling AE titles it accepts; empty accepts any (and says so in the log).
    host
        Address to bind; all interfaces by default.
    max_pdu_bytes
        Largest PDU izer accepts.
    store_handler
        When given, the listener is also a Storage SCP (PS3.4 B) that hands every received
        instance to it; without it, C-STORE is not accepted.
    transfer_syntaxes
        Transfer syntaxes accepted for storage; empty: :data:`DEFAULT_STORAGE_TRANSFER_SYNTAXES`.
    """

    def __init__(
        self,
        ae_title: str,
        port: int,
        *,
        allowed_calling_aets: Sequence[str] = (),
        host: str = "",
        max_pdu_bytes: int = 65536,
        store_handler: StoreHandler | None = None,
        transfer_syntaxes: Sequence[str] = (),
    ) -> None:
        self.ae_title = ae_title
        self.port = port
        self.host = host
        self.allowed_calling_aets = tuple(allowed_calling_aets)
        self._ae = AE(ae_title=ae_title)
        self._ae.maximum_pdu_size = max_pdu_bytes
        self._ae.require_called_aet = True
        if self.allowed_calling_aets:
            self._ae.require_calling_aet = list(self.allowed_calling_aets)
        self._ae.add_supported_context(Verification)
        # The reporting SCP proposes to be the SCP: accept that role for it and the SCU
        # role for izer (PS3.4 J.3.3, PS3.7 D.3.3.4).
        self._ae.add_supported_context(StorageCommitmentPushModel, scu_role=True, scp_role=True)
        self.store_handler = store_handler
        self.transfer_syntaxes = tuple(transfer_syntaxes) or DEFAULT_STORAGE_TRANSFER_SYNTAXES
        if store_handler is not None:
            # Any number of abstract syntaxes may be supported; pynetdicom only limits the
            # contexts a peer may propose in one association (128, PS3.8 9.3.2.2).
            for context in AllStoragePresentationContexts:
                self._ae.add_supported_context(
                    context.abstract_syntax, list(self.transfer_syntaxes)
                )
        self._server: ThreadedAssociationServer | None = None
        self._handlers: list[CommitmentHandler] = []
        self._lock = threading.Lock()
        self._tallies: dict[int, _Tally] = {}

    def add_commitment_handler(self, handler: CommitmentHandler) -> None:
        """Call ``handler`` with every storage commitment report received from now on.

        Handlers run in the association's thread; one that raises makes the listener answer
        0x0110 (processing failure), so that the SCP knows the report was not taken.
        """
        with self._lock:
            self._handlers.append(handler)

    def remove_commitment_handler(self, handler: CommitmentHandler) -> None:
        """Stop calling ``handler`` (no error when it was not added)."""
        with self._lock:
            if handler in self._handlers:
                self._handlers.remove(handler)

    def start(self) -> None:
        """Start listening in the background.

        Raises
        ------
        OSError
            When the port cannot be bound (in use, or privileged).
        """
        handlers = [
            (evt.EVT_CONN_OPEN, enable_nodelay),
            (evt.EVT_C_ECHO, self._on_echo),
            (evt.EVT_N_EVENT_REPORT, self._on_event_report),
            (evt.EVT_REJECTED, self._on_rejected),
        ]
        if self.store_handler is not None:
            handlers += [
                (evt.EVT_C_STORE, self._on_store),
                (evt.EVT_RELEASED, self._on_association_end),
                (evt.EVT_ABORTED, self._on_association_end),
                (evt.EVT_CONN_CLOSE, self._on_association_end),
            ]
        self._server = self._ae.start_server(
            (self.host, self.port), block=False, evt_handlers=handlers
        )
        self.port = self._server.server_address[1]
        if not self.allowed_calling_aets:
            log.warning("listener accepts any calling AE title (no allow-list configured)")

    def stop(self) -> None:
        """Stop listening and close open associations."""
        if self._server is not None:
            self._server.shutdown()
            self._server = None
        self._ae.shutdown()

    def __enter__(self) -> Listener:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _on_echo(self, event: evt.Event) -> int:
        log.info("C-ECHO from %s", event.assoc.requestor.ae_title)
        return 0x0000

    @property
    def accepts_storage(self) -> bool:
        """True when the listener is also a Storage SCP."""
        return self.store_handler is not None

    def _on_store(self, event: evt.Event) -> Dataset:
        """Answer a C-STORE (PS3.4 B.2.3) with the status the store handler returns."""
        assert self.store_handler is not None
        outcome = handle_store(self.store_handler, event, event.assoc.requestor.ae_title)
        self._count(event, outcome)
        return store_response(outcome)

    def _count(self, event: evt.Event, outcome: StoreOutcome) -> None:
        data = getattr(event.request, "DataSet", None)
        size = data.getbuffer().nbytes if hasattr(data, "getbuffer") else 0
        with self._lock:
            tally = self._tallies.setdefault(
                id(event.assoc), _Tally(event.assoc.requestor.ae_title)
            )
            if outcome.status != _SUCCESS and not 0xB000 <= outcome.status <= 0xBFFF:
                tally.failures += 1
                return
            tally.instances += 1
            tally.bytes += size
            study = tally.studies.setdefault(outcome.study_uid, [outcome.patient_id, 0])
            study[1] += 1

    def _on_association_end(self, event: evt.Event) -> None:
        with self._lock:
            tally = self._tallies.pop(id(event.assoc), None)
        if tally is None:
            return
        log.info(
            "association from %s: %d instances stored (%d bytes) in %d studies, %d refused",
            tally.calling_aet,
            tally.instances,
            tally.bytes,
            len(tally.studies),
            tally.failures,
        )
        for study_uid, (patient_id, count) in tally.studies.items():
            log.info(
                "study %s of patient %r: %d instances received from %s",
                study_uid,
                patient_id,
                count,
                tally.calling_aet,
            )

    def _on_event_report(self, event: evt.Event) -> tuple[int, Dataset | None]:
        """Answer an N-EVENT-REPORT (PS3.7 10.1.1): the only context that allows one is
        Storage Commitment Push Model's."""
        request = event.request
        reporter = event.assoc.requestor.ae_title
        try:
            report = parse_commitment_report(
                int(request.EventTypeID or 0), event.event_information, reporter
            )
        except ValueError as exc:
            log.warning("storage commitment report from %s not taken: %s", reporter, exc)
            status = _NO_SUCH_EVENT_TYPE if "Event Type" in str(exc) else _INVALID_ARGUMENT_VALUE
            return status, None
        except Exception as exc:  # a malformed Event Information data set
            log.warning("storage commitment report from %s could not be read: %s", reporter, exc)
            return _INVALID_ARGUMENT_VALUE, None
        return self._hand_over(report), None

    def _hand_over(self, report: CommitmentReport) -> int:
        with self._lock:
            handlers = list(self._handlers)
        log.info(
            "storage commitment report from %s for transaction %s: %d committed, %d failed",
            report.reporter,
            report.transaction_uid,
            len(report.committed),
            len(report.failed),
        )
        if not handlers:
            log.warning(
                "nobody waits for storage commitment transaction %s from %s; committed: %s; "
                "failed: %s",
                report.transaction_uid,
                report.reporter,
                ", ".join(uid for _, uid in report.committed) or "none",
                ", ".join(f"{uid} (0x{reason:04X})" for _, uid, reason in report.failed) or "none",
            )
        status = _SUCCESS
        for handler in handlers:
            try:
                handler(report)
            except Exception:
                log.exception(
                    "a storage commitment handler failed on transaction %s", report.transaction_uid
                )
                status = _PROCESSING_FAILURE
        return status

    def _on_rejected(self, event: evt.Event) -> None:
        requestor = event.assoc.requestor
        log.warning(
            "rejected an association from %s at %s (calling AE title not allowed, or wrong "
            "called AE title)",
            requestor.ae_title,
            requestor.address,
        )
