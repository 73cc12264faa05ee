"""One association to a test peer that proposes each (SOP class, transfer syntax) on its own.

Proposing exactly the file's transfer syntax, one presentation context per pair, is what a
DICOMizer must do for video (a peer offered Explicit VR alongside would pick it and the file
could not be sent); the tests use it to see which pairs a peer accepts or refuses.
"""

from __future__ import annotations

from pathlib import Path

from pydicom.dataset import Dataset
from pynetdicom import AE
from pynetdicom.association import Association

from tests.peers.harness import Peer


class Sender:
    """An association to ``peer``, opened again when the peer closed it between tests.

    Parameters
    ----------
    pairs
        ``(SOP Class UID, Transfer Syntax UID)`` pairs, one presentation context each.
    """

    def __init__(
        self,
        peer: Peer,
        pairs: set[tuple[str, str]],
        *,
        ae_title: str = "IZERTESTSCU",
        timeout_s: float = 20,
    ) -> None:
        if len(pairs) > 128:
            raise ValueError(f"{len(pairs)} presentation contexts; an association holds 128")
        self.peer = peer
        self.ae = AE(ae_title=ae_title)
        self.ae.acse_timeout = self.ae.dimse_timeout = self.ae.network_timeout = timeout_s
        for sop_class, syntax in sorted(pairs):
            self.ae.add_requested_context(sop_class, syntax)
        self._assoc: Association | None = None

    @property
    def assoc(self) -> Association:
        """The open association."""
        if self._assoc is None or not self._assoc.is_established:
            self._assoc = self.ae.associate(self.peer.host, self.peer.port, ae_title=self.peer.aet)
            assert self._assoc.is_established, f"association to {self.peer.address} failed"
        return self._assoc

    def accepted(self, ds: Dataset) -> bool:
        """Whether the peer accepted the context of ``ds``'s SOP class and syntax."""
        return any(
            context.abstract_syntax == ds.SOPClassUID
            and context.transfer_syntax[0] == ds.file_meta.TransferSyntaxUID
            for context in self.assoc.accepted_contexts
        )

    def rejection(self, ds: Dataset) -> int | None:
        """The result the peer gave the context of ``ds``, or ``None`` when accepted."""
        ids = {
            context.context_id
            for context in self.assoc.requestor.requested_contexts
            if context.abstract_syntax == ds.SOPClassUID
            and context.transfer_syntax == [ds.file_meta.TransferSyntaxUID]
        }
        for context in self.assoc.rejected_contexts:
            if context.context_id in ids:
                return context.result
        return None

    def store(self, instance: Dataset | Path) -> int:
        """C-STORE a dataset (or a file, sent from disk) and return the response status."""
        status = self.assoc.send_c_store(instance)
        assert status, f"no C-STORE response from {self.peer.address}"
        return int(status.Status)

    def close(self) -> None:
        """Release the association if it is open."""
        if self._assoc is not None and self._assoc.is_established:
            self._assoc.release()


def find_all(
    peer: Peer,
    query: Dataset,
    model: str,
    *,
    ae_title: str = "IZERTESTSCU",
    timeout_s: float = 20,
) -> list[Dataset]:
    """Send one C-FIND to ``peer`` with ``model`` and return every pending match.

    A final status other than success fails the calling test with the status in hex.
    """
    ae = AE(ae_title=ae_title)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = timeout_s
    ae.add_requested_context(model)
    assoc = ae.associate(peer.host, peer.port, ae_title=peer.aet)
    assert assoc.is_established, f"association to {peer.address} failed"
    matches: list[Dataset] = []
    try:
        for status, identifier in assoc.send_c_find(query, model):
            assert status, f"C-FIND to {peer.address} timed out"
            if status.Status in (0xFF00, 0xFF01):
                matches.append(identifier)
            else:
                assert status.Status == 0x0000, f"C-FIND failed: 0x{status.Status:04X}"
    finally:
        assoc.release()
    return matches
