"""Storage Commitment Push Model SCU against Orthanc 1.10, and the listener's report handling.

Orthanc answers the N-ACTION and sends the N-EVENT-REPORT on a new association to the modality
its configuration lists for our calling AE title (the harness registers the tests' listener
AE title and port). The same-association path has no real peer among the test peers (DCMTK has
no Storage Commitment SCP), so a small pynetdicom SCP stands in for it there.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from pynetdicom import AE, build_role, evt
from pynetdicom.sop_class import StorageCommitmentPushModel

from izer.config import Destination, NetworkSettings, StationSettings
from izer.dispatch.commitment import (
    STORAGE_COMMITMENT_INSTANCE,
    FailureReason,
    failure_meaning,
    request_commitment,
)
from izer.dispatch.cstore import store_files
from izer.dispatch.errors import DeliveryError
from izer.net import AssociationFactory, Listener
from izer.net.listener import CommitmentReport, parse_commitment_report
from tests.dispatch.conftest import destination_of, header, write_still
from tests.peers.harness import Peer, PeerSet, free_port

VL_ENDOSCOPIC = "1.2.840.10008.5.1.4.1.1.77.1.1"
BOGUS_UID = "1.2.826.0.1.3680043.10.1452.999.424242"


def _report(
    transaction_uid: str, committed: list[tuple[str, str]], failed: list[tuple[str, str, int]]
) -> Dataset:
    """Event Information of a storage commitment result (PS3.4 J.3.3.1)."""
    ds = Dataset()
    ds.TransactionUID = transaction_uid
    ds.ReferencedSOPSequence = []
    for sop_class, sop_instance in committed:
        item = Dataset()
        item.ReferencedSOPClassUID, item.ReferencedSOPInstanceUID = sop_class, sop_instance
        ds.ReferencedSOPSequence.append(item)
    if failed:
        ds.FailedSOPSequence = []
        for sop_class, sop_instance, reason in failed:
            item = Dataset()
            item.ReferencedSOPClassUID, item.ReferencedSOPInstanceUID = sop_class, sop_instance
            item.FailureReason = reason
            ds.FailedSOPSequence.append(item)
    return ds


# --------------------------------------------------------------------------- without peers


def test_reports_are_parsed_and_bad_ones_refused() -> None:
    info = _report("1.2.3", [(VL_ENDOSCOPIC, "1.2.3.1")], [(VL_ENDOSCOPIC, "1.2.3.2", 0x0112)])
    report = parse_commitment_report(2, info, "PACS")
    assert report == CommitmentReport(
        "1.2.3", 2, ((VL_ENDOSCOPIC, "1.2.3.1"),), ((VL_ENDOSCOPIC, "1.2.3.2", 0x0112),), "PACS"
    )
    with pytest.raises(ValueError, match="Event Type ID 3"):
        parse_commitment_report(3, info)
    with pytest.raises(ValueError, match="no Transaction UID"):
        parse_commitment_report(1, Dataset())


def test_failure_reasons_in_words() -> None:
    assert failure_meaning(0x0112) == "no such object instance (the SCP does not have it) (0x0112)"
    assert FailureReason(0x0213).meaning == "resource limitation"
    assert failure_meaning(0x0999) == "failure reason 0x0999"


def test_closed_port_is_transient() -> None:
    factory = AssociationFactory(StationSettings("IZERTEST", "1.2.3"), NetworkSettings())
    port = free_port()
    nobody = Destination(name="nobody", ae_title="NOBODY", host="127.0.0.1", port=port)
    with pytest.raises(DeliveryError) as error:
        request_commitment(factory, nobody, [(VL_ENDOSCOPIC, "1.2.3.4")], timeout_s=1)
    assert error.value.transient
    assert "connection refused" in str(error.value)


# --------------------------------------------------------------------------- Orthanc


@pytest.fixture
def listener(peer_set: PeerSet) -> Iterator[Listener]:
    """izer's listener as the AE title and port Orthanc reports storage commitment to."""
    with Listener(peer_set.listener_aet, peer_set.listener_port, host="127.0.0.1") as running:
        yield running


@pytest.fixture
def stored(
    orthanc: Peer, dimse_factory: AssociationFactory, tmp_path: Path
) -> list[tuple[str, str]]:
    """Three stills stored in Orthanc: their (SOP class, SOP instance) pairs."""
    stills = [write_still(tmp_path, n) for n in (1, 2, 3)]
    outcomes = store_files(dimse_factory, destination_of(orthanc), stills)
    assert [outcome.status for outcome in outcomes] == [0, 0, 0]
    return [
        (str(header(path).SOPClassUID), outcome.sop_uid)
        for path, outcome in zip(stills, outcomes, strict=True)
    ]


@pytest.mark.peers
def test_orthanc_commits_what_it_stored_and_fails_a_bogus_uid(
    orthanc: Peer,
    stored: list[tuple[str, str]],
    listener: Listener,
    dimse_factory: AssociationFactory,
) -> None:
    items = [*stored, (VL_ENDOSCOPIC, BOGUS_UID)]
    transaction = generate_uid()
    result = request_commitment(
        dimse_factory,
        destination_of(orthanc),
        items,
        listener=listener,
        timeout_s=30,
        transaction_uid=transaction,
    )
    assert result.transaction_uid == transaction
    assert result.via == "listener"  # Orthanc reports on a new association
    assert result.committed == {uid for _, uid in stored}
    assert result.failed == {BOGUS_UID: FailureReason.NO_SUCH_OBJECT_INSTANCE}
    assert not result.unreported
    assert BOGUS_UID in result.failure_text()


@pytest.mark.peers
def test_without_a_listener_orthanc_report_cannot_arrive(
    orthanc: Peer, stored: list[tuple[str, str]], dimse_factory: AssociationFactory
) -> None:
    with pytest.raises(DeliveryError) as error:
        request_commitment(dimse_factory, destination_of(orthanc), stored, timeout_s=2)
    assert error.value.transient
    assert "accepted the storage commitment request" in str(error.value)
    assert "no listener was running" in str(error.value)


# --------------------------------------------------------------------------- test double


class SameAssociationScp:
    """A pynetdicom Storage Commitment SCP that reports on the requesting association.

    It commits every requested instance except ``BOGUS_UID`` (failure 0x0112), answering
    after its N-ACTION response has been sent.
    """

    def __init__(self) -> None:
        self.port = free_port()
        self.ae = AE(ae_title="SAMEASSOC")
        self.ae.add_supported_context(StorageCommitmentPushModel)
        self.reply_statuses: list[int] = []
        self._server = None

    def __enter__(self) -> SameAssociationScp:
        handlers = [(evt.EVT_N_ACTION, self._on_action)]
        self._server = self.ae.start_server(
            ("127.0.0.1", self.port), block=False, evt_handlers=handlers
        )
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()

    def _on_action(self, event: evt.Event) -> tuple[int, None]:
        info = event.action_information
        committed = [
            (item.ReferencedSOPClassUID, item.ReferencedSOPInstanceUID)
            for item in info.ReferencedSOPSequence
            if item.ReferencedSOPInstanceUID != BOGUS_UID
        ]
        failed = [
            (item.ReferencedSOPClassUID, item.ReferencedSOPInstanceUID, 0x0112)
            for item in info.ReferencedSOPSequence
            if item.ReferencedSOPInstanceUID == BOGUS_UID
        ]
        report = _report(info.TransactionUID, committed, failed)
        assoc = event.assoc
        sent = threading.Event()

        def on_sent(dimse_event: evt.Event) -> None:
            if type(dimse_event.message).__name__ == "N_ACTION_RSP":
                sent.set()

        def send_report() -> None:
            sent.wait(10)
            status, _ = assoc.send_n_event_report(
                report, 2 if failed else 1, StorageCommitmentPushModel, STORAGE_COMMITMENT_INSTANCE
            )
            self.reply_statuses.append(int(status.Status))

        assoc.bind(evt.EVT_DIMSE_SENT, on_sent)
        threading.Thread(target=send_report, daemon=True).start()
        return 0x0000, None


def test_report_on_the_same_association() -> None:
    factory = AssociationFactory(StationSettings("IZERTEST", "1.2.3"), NetworkSettings())
    items = [(VL_ENDOSCOPIC, "1.2.826.0.1.3680043.10.1452.7.1"), (VL_ENDOSCOPIC, BOGUS_UID)]
    with SameAssociationScp() as scp:
        destination = Destination(
            name="same", ae_title="SAMEASSOC", host="127.0.0.1", port=scp.port
        )
        result = request_commitment(factory, destination, items, timeout_s=20)
    assert result.via == "same association"
    assert result.committed == {items[0][1]}
    assert result.failed == {BOGUS_UID: 0x0112}
    assert scp.reply_statuses == [0x0000]


def test_listener_takes_reports_on_a_new_association_with_role_selection() -> None:
    """An SCP opening an association to izer proposes the SCP role (PS3.4 J.3.3)."""
    received: list[CommitmentReport] = []
    with Listener("IZERLSTN", free_port(), host="127.0.0.1") as listener:
        listener.add_commitment_handler(received.append)
        reporter = AE(ae_title="REPORTER")
        reporter.add_requested_context(StorageCommitmentPushModel)
        role = build_role(StorageCommitmentPushModel, scp_role=True)
        assoc = reporter.associate("127.0.0.1", listener.port, ae_title="IZERLSTN", ext_neg=[role])
        assert assoc.is_established
        (context,) = assoc.accepted_contexts
        assert context.as_scp  # the reporter is the Storage Commitment SCP here
        info = _report("1.2.3.4.5", [(VL_ENDOSCOPIC, "1.2.3.4.5.1")], [])
        status, _ = assoc.send_n_event_report(
            info, 1, StorageCommitmentPushModel, STORAGE_COMMITMENT_INSTANCE
        )
        assoc.release()
    assert int(status.Status) == 0x0000
    assert received == [
        CommitmentReport("1.2.3.4.5", 1, ((VL_ENDOSCOPIC, "1.2.3.4.5.1"),), (), "REPORTER")
    ]
