"""Associations built from a destination profile (PS3.8 ACSE, PS3.15 B.1 for TLS)."""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress

from pynetdicom import AE, Association, evt
from pynetdicom.events import Event
from pynetdicom.pdu import A_ASSOCIATE_RJ

from izer.config import Destination, DestinationKind, NetworkSettings, StationSettings, TlsSettings

#: A presentation context to request: an abstract syntax, or one with its transfer syntaxes.
RequestedContext = str | tuple[str, Sequence[str]]


class AssociationFailed(ConnectionError):
    """No association; the message says why in plain words, naming the peer."""


def enable_nodelay(event: Event) -> None:
    """Turn off Nagle on a new DICOM connection.

    With Nagle and delayed ACKs each small PDU exchange stalls ~40 ms (measured against
    DCMTK peers), so every association izer opens or accepts sets TCP_NODELAY.
    """
    raw = getattr(getattr(event.assoc.dul, "socket", None), "socket", None)
    if raw is not None:
        with suppress(OSError):
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def tls_context(tls: TlsSettings, *, server_side: bool = False) -> ssl.SSLContext | None:
    """An SSL context for DICOM TLS from a destination's settings (``None`` when off)."""
    if not tls.enabled:
        return None
    purpose = ssl.Purpose.CLIENT_AUTH if server_side else ssl.Purpose.SERVER_AUTH
    context = ssl.create_default_context(purpose, cafile=tls.ca_file or None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if not server_side:
        context.check_hostname = tls.check_hostname
    if tls.cert_file:
        context.load_cert_chain(tls.cert_file, tls.key_file or None)
    return context


class AssociationFactory:
    """Opens associations as this station, with each destination's timeouts and PDU size.

    Parameters
    ----------
    station
        Gives the calling AE title.
    defaults
        Network settings a destination does not override.
    """

    def __init__(self, station: StationSettings, defaults: NetworkSettings) -> None:
        self.calling_ae_title = station.ae_title
        self.defaults = defaults

    def application_entity(self, destination: Destination) -> AE:
        """A pynetdicom AE set up for ``destination`` (no contexts yet)."""
        network = destination.network(self.defaults)
        ae = AE(ae_title=self.calling_ae_title)
        ae.connection_timeout = network.connect_timeout_s
        ae.acse_timeout = network.acse_timeout_s
        ae.dimse_timeout = network.dimse_timeout_s
        ae.network_timeout = network.network_timeout_s
        ae.maximum_pdu_size = network.max_pdu_bytes
        return ae

    @contextmanager
    def associate(
        self, destination: Destination, contexts: Sequence[RequestedContext]
    ) -> Iterator[Association]:
        """An established association, released (or aborted on error) on exit.

        Raises
        ------
        AssociationFailed
            When the peer cannot be reached, rejects the association or accepts none of the
            contexts.
        """
        if destination.kind is not DestinationKind.DICOM:
            raise AssociationFailed(
                f"{destination.name}: is a {destination.kind.value} destination, not DICOM"
            )
        ae = self.application_entity(destination)
        for context in contexts:
            if isinstance(context, str):
                ae.add_requested_context(context)
            else:
                ae.add_requested_context(context[0], list(context[1]))
        connected: list[bool] = []
        rejections: list[A_ASSOCIATE_RJ] = []
        handlers = [
            (evt.EVT_CONN_OPEN, enable_nodelay),
            (evt.EVT_CONN_OPEN, lambda event: connected.append(True)),
            # Peers such as wlmscpfs close the socket right after an A-ASSOCIATE-RJ, and
            # pynetdicom may see the close first; keep the PDU so the reason is never lost.
            (
                evt.EVT_PDU_RECV,
                lambda event: (
                    rejections.append(event.pdu) if isinstance(event.pdu, A_ASSOCIATE_RJ) else None
                ),
            ),
        ]
        context = tls_context(destination.tls)
        tls_args = (context, destination.host) if context else None
        started = time.monotonic()
        association = ae.associate(
            destination.host,
            destination.port,
            ae_title=destination.ae_title,
            evt_handlers=handlers,
            tls_args=tls_args,
        )
        if not association.is_established:
            raise AssociationFailed(
                self._explain_failure(
                    destination,
                    association,
                    bool(connected),
                    rejections[0] if rejections else None,
                    time.monotonic() - started,
                )
            )
        try:
            yield association
        except BaseException:
            if association.is_established:
                association.abort()
            raise
        else:
            if association.is_established:
                association.release()

    def _explain_failure(
        self,
        destination: Destination,
        association: Association,
        connected: bool,
        rejection: A_ASSOCIATE_RJ | None,
        elapsed_s: float,
    ) -> str:
        network = destination.network(self.defaults)
        peer = f"{destination.ae_title}@{destination.host}:{destination.port}"
        if rejection is None and association.is_rejected:
            rejection = association.acceptor.primitive
        if rejection is not None:
            return (
                f"{peer} rejected the association: {rejection.reason_str} "
                f"({rejection.result_str.lower()}, by the {rejection.source_str.lower()})"
            )
        if association.is_rejected:
            return f"{peer} rejected the association"
        if not connected:
            return f"cannot connect to {peer}: " + _connect_problem(
                destination.host,
                destination.port,
                network.connect_timeout_s,
                tls_context(destination.tls),
            )
        if association.is_aborted and not association.accepted_contexts:
            if association.acceptor.primitive is not None:
                return f"{peer} accepted none of the requested presentation contexts"
            if elapsed_s >= network.acse_timeout_s:
                return (
                    f"{peer} did not answer the association request within "
                    f"{network.acse_timeout_s:g} s (acse_timeout_s)"
                )
            return f"{peer} closed the connection during association negotiation (aborted)"
        return f"association with {peer} failed"


def _connect_problem(host: str, port: int, timeout_s: float, context: ssl.SSLContext | None) -> str:
    """Why a TCP (or TLS) connection fails, found by trying once more (the ACSE hides it)."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as raw:
            if context is None:
                return "the connection was closed before the association"
            with context.wrap_socket(raw, server_hostname=host):
                return "the TLS connection was closed before the association"
    except ssl.SSLCertVerificationError as exc:
        return f"TLS: the peer's certificate is not trusted ({exc.verify_message})"
    except ssl.SSLError as exc:
        return f"TLS handshake failed ({exc.reason or exc})"
    except TimeoutError:
        return f"no answer within {timeout_s:g} s (connect_timeout_s)"
    except ConnectionRefusedError:
        return "connection refused (nothing listens on that port)"
    except socket.gaierror as exc:
        return f"unknown host ({exc.strerror})"
    except OSError as exc:
        return exc.strerror or str(exc)
