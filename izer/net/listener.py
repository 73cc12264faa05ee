"""izer's own SCP: Verification now; storage commitment reports and receiving come later."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from pynetdicom import AE, evt
from pynetdicom.sop_class import Verification
from pynetdicom.transport import ThreadedAssociationServer

from izer.net.association import enable_nodelay

log = logging.getLogger(__name__)


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
    """

    def __init__(
        self,
        ae_title: str,
        port: int,
        *,
        allowed_calling_aets: Sequence[str] = (),
        host: str = "",
        max_pdu_bytes: int = 65536,
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
        self._server: ThreadedAssociationServer | None = None

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
            (evt.EVT_REJECTED, self._on_rejected),
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

    def _on_rejected(self, event: evt.Event) -> None:
        requestor = event.assoc.requestor
        log.warning(
            "rejected an association from %s at %s (calling AE title not allowed, or wrong "
            "called AE title)",
            requestor.ae_title,
            requestor.address,
        )
