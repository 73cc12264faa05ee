"""Associations built from a destination profile (PS3.8 ACSE, PS3.15 B.1 for TLS)."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress

from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import AE, Association, evt
from pynetdicom.events import Event
from pynetdicom.pdu import A_ASSOCIATE_RJ

from izer.config import Destination, DestinationKind, NetworkSettings, StationSettings, TlsSettings

#: A presentation context to request: an abstract syntax, or one with its transfer syntaxes.
RequestedContext = str | tuple[str, Sequence[str]]

#: Transfer syntaxes proposed for a context given as a bare SOP class (queries, MPPS, print,
#: verification): the two every SCP must or usually supports (PS3.5 10.1, PS3.7 D.3.3.2.2);
#: pynetdicom's default would add Deflated and the retired Explicit VR Big Endian.
NEGOTIATION_SYNTAXES: tuple[str, ...] = (ImplicitVRLittleEndian, ExplicitVRLittleEndian)


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


def keep_responses_for_the_caller(association: Association) -> None:
    """Stop the association's own reactor thread from taking the responses izer waits for.

    pynetdicom 3.0's reactor polls the DIMSE queue between a ``send_*`` call pausing it and
    the pause taking effect; a response it takes there is dropped ("Received unexpected
    C-STORE service message", the same for N-ACTION...), and the caller waits
    ``dimse_timeout_s`` for nothing (seen in about 1 of 70 batches of 200 C-STOREs, and 1 of
    15 print sessions under load; pynetdicom issue #875). On associations where the peer
    sends no requests of its own (storage, MPPS, print, worklist queries), only the caller,
    which reads blocking, may read. Not for storage commitment: its report may come on the
    same association as a request from the peer.
    """
    dimse = association.dimse
    take = dimse.get_msg

    def get_msg(block: bool = False):  # type: ignore[no-untyped-def]
        if not block and threading.current_thread() is association:
            return None, None
        return take(block)

    dimse.get_msg = get_msg  # type: ignore[method-assign]


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
        self,
        destination: Destination,
        contexts: Sequence[RequestedContext],
        *,
        peer_sends_requests: bool = True,
        ext_neg: Sequence[object] = (),
        evt_handlers: Sequence[tuple[object, Callable[..., object]]] = (),
    ) -> Iterator[Association]:
        """An established association, released (or aborted on error) on exit.

        ``peer_sends_requests=False`` for associations on which only izer asks (storage,
        MPPS, print, queries): the responses are then kept for the caller
        (:func:`keep_responses_for_the_caller`). ``ext_neg`` are extended negotiation items
        (e.g. SCP/SCU Role Selection, PS3.7 D.3.3.4, for C-GET) and ``evt_handlers`` extra
        pynetdicom event handlers bound to the association (e.g. ``EVT_C_STORE``).

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
                ae.add_requested_context(context, list(NEGOTIATION_SYNTAXES))
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
            evt_handlers=[*handlers, *evt_handlers],
            tls_args=tls_args,
            ext_neg=list(ext_neg) or None,
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
        if not peer_sends_requests:
            keep_responses_for_the_caller(association)
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
                destination.host, destination.port, network.connect_timeout_s, destination.tls
            )
        if association.is_aborted and not association.accepted_contexts:
            if association.acceptor.primitive is not None:
                return f"{peer} accepted none of the requested presentation contexts"
            if elapsed_s >= network.acse_timeout_s:
                return (
                    f"{peer} did not answer the association request within "
                    f"{network.acse_timeout_s:g} s (acse_timeout_s)"
                )
            problem = _after_connect_problem(
                destination.host, destination.port, network.connect_timeout_s, destination.tls
            )
            return f"{peer} closed the connection during association negotiation" + (
                f": {problem}" if problem else " (aborted)"
            )
        return f"association with {peer} failed"


#: OpenSSL verify codes (X509_V_ERR_*) that mean "not signed by a CA we trust".
_UNTRUSTED_CODES = frozenset({2, 18, 19, 20, 21})
#: TLS alerts a server sends when it does not accept the client certificate izer sent.
_CLIENT_CERT_REFUSED = frozenset(
    {
        "TLSV1_ALERT_UNKNOWN_CA",
        "SSLV3_ALERT_BAD_CERTIFICATE",
        "SSLV3_ALERT_CERTIFICATE_UNKNOWN",
        "SSLV3_ALERT_UNSUPPORTED_CERTIFICATE",
        "TLSV1_ALERT_ACCESS_DENIED",
    }
)
_NO_COMMON_VERSION = frozenset(
    {"UNSUPPORTED_PROTOCOL", "TLSV1_ALERT_PROTOCOL_VERSION", "NO_PROTOCOLS_AVAILABLE"}
)


_TLS_CLOSED = "TLS: the peer closed the connection during the handshake (does it speak TLS here?)"


def explain_tls_error(exc: ssl.SSLError, tls: TlsSettings, host: str) -> str:
    """One line saying why a TLS handshake with ``host`` failed and what to change.

    Covers the server certificate (expired, not yet valid, untrusted, issued for another
    name; PS3.15 B.1 / BCP 195 verification) and the client side (certificate required or
    refused, no common TLS version). Shared by DICOM associations and DICOMweb.
    """
    if isinstance(exc, ssl.SSLCertVerificationError):
        code, detail = exc.verify_code, exc.verify_message
        if code == 10:
            return (
                "TLS: the peer's certificate has expired (renew it on the peer, or check "
                "this computer's clock)"
            )
        if code == 9:
            return "TLS: the peer's certificate is not valid yet (check both computers' clocks)"
        if code in (62, 64):
            return (
                f"TLS: the peer's certificate is not issued for {host} ({detail.rstrip('.')}); "
                "connect by a name the certificate lists, or set tls.check_hostname = false"
            )
        if code == 23:
            return "TLS: the peer's certificate has been revoked"
        if code in _UNTRUSTED_CODES:
            trusted = (
                f"the CA in tls.ca_file ({tls.ca_file})"
                if tls.ca_file
                else "a CA of this computer (tls.ca_file is not set)"
            )
            return f"TLS: the peer's certificate is not trusted: it is not signed by {trusted}"
        return f"TLS: the peer's certificate is not trusted ({detail})"
    reason = exc.reason or ""
    if reason == "TLSV13_ALERT_CERTIFICATE_REQUIRED" or (
        reason == "SSLV3_ALERT_HANDSHAKE_FAILURE" and not tls.cert_file
    ):
        return "TLS: the peer requires a client certificate (set tls.cert_file and tls.key_file)"
    if reason in _CLIENT_CERT_REFUSED:
        return (
            f"TLS: the peer refused izer's client certificate {tls.cert_file} "
            f"({reason.split('ALERT_')[-1].replace('_', ' ').lower()}): it wants one signed "
            "by a CA it trusts"
        )
    if reason == "SSLV3_ALERT_CERTIFICATE_EXPIRED":
        return f"TLS: the peer says izer's client certificate {tls.cert_file} has expired"
    if reason == "WRONG_VERSION_NUMBER":
        return "TLS: the peer does not speak TLS on this port (is TLS off on the peer?)"
    if isinstance(exc, ssl.SSLEOFError) or reason == "UNEXPECTED_EOF_WHILE_READING":
        return _TLS_CLOSED
    if reason in _NO_COMMON_VERSION:
        return "TLS: no common TLS version (izer requires TLS 1.2 or newer, BCP 195)"
    return f"TLS handshake failed ({reason or exc})"


def _connect_problem(host: str, port: int, timeout_s: float, tls: TlsSettings) -> str:
    """Why a TCP (or TLS) connection fails, found by trying once more (the ACSE hides it)."""
    try:
        context = tls_context(tls)
        with socket.create_connection((host, port), timeout=timeout_s) as raw:
            if context is None:
                return "the connection was closed before the association"
            with context.wrap_socket(raw, server_hostname=host):
                return "the TLS connection was closed before the association"
    except ssl.SSLError as exc:
        return explain_tls_error(exc, tls, host)
    except ConnectionResetError as exc:
        return _TLS_CLOSED if tls.enabled else exc.strerror or str(exc)
    except TimeoutError:
        return f"no answer within {timeout_s:g} s (connect_timeout_s)"
    except ConnectionRefusedError:
        return "connection refused (nothing listens on that port)"
    except socket.gaierror as exc:
        return f"unknown host ({exc.strerror})"
    except OSError as exc:
        return exc.strerror or str(exc)


def _after_connect_problem(host: str, port: int, timeout_s: float, tls: TlsSettings) -> str:
    """Why a peer drops the connection before answering the A-ASSOCIATE-RQ ("" if unknown).

    With TLS 1.3 a server refuses a missing or untrusted client certificate only after the
    client's handshake completed, so the alert is read here; without TLS, a peer that
    completes a TLS handshake wants TLS.
    """
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as raw:
            raw.settimeout(min(timeout_s, 2.0))  # a plain peer may wait for more bytes
            if tls.enabled:
                context = tls_context(tls)
                assert context is not None
                with context.wrap_socket(raw, server_hostname=host) as wrapped:
                    wrapped.recv(1)
                return ""
            probe = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            probe.check_hostname = False
            probe.verify_mode = ssl.CERT_NONE
            with probe.wrap_socket(raw, server_hostname=host):
                return "it expects TLS on this port (set tls.enabled = true)"
    except ssl.SSLError as exc:
        return explain_tls_error(exc, tls, host) if tls.enabled else ""
    except OSError:
        return ""
