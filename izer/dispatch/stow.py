"""DICOMweb STOW-RS sink: Part-10 files POSTed to ``{url}/studies`` (PS3.18 10.5).

One call is one HTTP request: a ``multipart/related; type="application/dicom"`` body with
one part per file (PS3.18 8.6.1.2), streamed from disk in chunks with an exact
``Content-Length`` (a 300 MB video is never held in memory). The Store Instances Response
(PS3.18 10.5.3, ``application/dicom+json``) says per instance whether it was stored
(Referenced SOP Sequence, with an optional Warning Reason) or not (Failed SOP Sequence with
a Failure Reason, PS3.4 B.2.3 / C.14.1.1).

Only the standard library is used (``http.client``): no new dependency for one POST.
"""

from __future__ import annotations

import base64
import enum
import http.client
import json
import logging
import socket
import ssl
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import SplitResult, unquote, urlsplit

from pydicom import dcmread
from pydicom.errors import InvalidDicomError

from izer.config import Destination, DestinationKind, NetworkSettings, TlsSettings
from izer.dispatch.errors import DeliveryError
from izer.net.association import explain_tls_error, tls_context

__all__ = [
    "BasicAuth",
    "BearerToken",
    "FailureReason",
    "StowFailed",
    "StowOutcome",
    "stow_destination",
    "stow_files",
]

_log = logging.getLogger(__name__)

#: Bytes read from a file and written to the socket at a time.
CHUNK_BYTES = 1 << 20
#: Largest response body read (the response lists one small item per instance).
MAX_RESPONSE_BYTES = 16 << 20

# DICOM JSON tags of the Store Instances Response (PS3.18 Table 10.5.3-1).
_REFERENCED_SOP_SEQUENCE = "00081199"
_FAILED_SOP_SEQUENCE = "00081198"
_REFERENCED_SOP_INSTANCE_UID = "00081155"
_RETRIEVE_URL = "00081190"
_FAILURE_REASON = "00081197"
_WARNING_REASON = "00081196"


@dataclass(frozen=True)
class BasicAuth:
    """HTTP Basic authentication (RFC 7617); the password never appears in messages."""

    username: str
    password: str = field(repr=False)

    def header(self) -> str:
        """The ``Authorization`` header value."""
        token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode("ascii")
        return f"Basic {token}"


@dataclass(frozen=True)
class BearerToken:
    """An OAuth 2 bearer token (RFC 6750), e.g. from the archive's identity provider."""

    token: str = field(repr=False)

    def header(self) -> str:
        """The ``Authorization`` header value."""
        return f"Bearer {self.token}"


class FailureReason(enum.IntEnum):
    """Failure Reason (0008,1197) values a STOW-RS origin server reports (PS3.4 B.2.3, C.14.1.1).

    The ranges A7xx (out of resources), A9xx (data set does not match SOP class) and Cxxx
    (cannot understand) hold more codes than listed; `describe_failure` handles them.
    """

    PROCESSING_FAILURE = 0x0110
    DUPLICATE_SOP_INSTANCE = 0x0111
    NO_SUCH_OBJECT_INSTANCE = 0x0112
    CLASS_INSTANCE_CONFLICT = 0x0119
    SOP_CLASS_NOT_SUPPORTED = 0x0122
    NOT_AUTHORIZED = 0x0124
    RESOURCE_LIMITATION = 0x0213
    OUT_OF_RESOURCES = 0xA700
    DATA_SET_DOES_NOT_MATCH_SOP_CLASS = 0xA900
    CANNOT_UNDERSTAND = 0xC000
    TRANSFER_SYNTAX_NOT_SUPPORTED = 0xC122


_FAILURE_MEANINGS: dict[int, tuple[str, bool]] = {
    FailureReason.PROCESSING_FAILURE: ("processing failure on the receiver", True),
    FailureReason.DUPLICATE_SOP_INSTANCE: ("the receiver already holds this instance", False),
    FailureReason.NO_SUCH_OBJECT_INSTANCE: ("no such object instance", False),
    FailureReason.CLASS_INSTANCE_CONFLICT: ("SOP class and instance conflict", False),
    FailureReason.SOP_CLASS_NOT_SUPPORTED: ("the receiver does not support this SOP class", False),
    FailureReason.NOT_AUTHORIZED: ("not authorized to store this instance", False),
    FailureReason.RESOURCE_LIMITATION: ("the receiver is short of resources", True),
    FailureReason.TRANSFER_SYNTAX_NOT_SUPPORTED: (
        "the receiver does not support this transfer syntax",
        False,
    ),
}

#: Warning Reason (0008,1196) values (PS3.4 B.2.3): stored, with a remark.
_WARNING_MEANINGS: dict[int, str] = {
    0xB000: "coercion of data elements",
    0xB006: "elements discarded",
    0xB007: "data set does not match SOP class",
}


def describe_failure(reason: int) -> tuple[str, bool]:
    """Plain words for a Failure Reason and whether trying again later may help.

    Out-of-resources (A7xx), resource limitation and processing failures are transient;
    A9xx, Cxxx and the refusals are permanent.
    """
    if reason in _FAILURE_MEANINGS:
        meaning, transient = _FAILURE_MEANINGS[reason]
    elif reason & 0xFF00 == 0xA700:
        meaning, transient = "the receiver is out of resources", True
    elif reason & 0xFF00 == 0xA900:
        meaning, transient = "the data set does not match its SOP class", False
    elif reason & 0xF000 == 0xC000:
        meaning, transient = "the receiver cannot understand the instance", False
    else:
        meaning, transient = "refused", False
    return f"{meaning} (failure reason 0x{reason:04X})", transient


@dataclass(frozen=True)
class StowOutcome:
    """What the origin server said about one file.

    Attributes
    ----------
    path
        The file sent.
    sop_uid
        Its SOP Instance UID (read from its header).
    stored
        True when it is in the Referenced SOP Sequence (or the status was 200 without
        a usable body).
    failure_reason
        Failure Reason (0008,1197) when not stored and the server gave one.
    meaning
        Plain words for a failure ("" when stored).
    warning
        Plain words for a Warning Reason (0008,1196) of a stored instance, else "".
    retrieve_url
        Retrieve URL (0008,1190) of the stored instance, when given.
    transient
        For a failure: whether sending it again later may succeed.
    """

    path: Path
    sop_uid: str
    stored: bool
    failure_reason: int | None = None
    meaning: str = ""
    warning: str = ""
    retrieve_url: str = ""
    transient: bool = False


class StowFailed(DeliveryError):
    """Some instances of a STOW-RS request were not stored; `outcomes` has every file's fate.

    ``transient`` is True only when every failure may go away by itself (out of resources,
    server busy), so a retry will not resend what the receiver refuses for good.
    """

    def __init__(self, message: str, *, transient: bool, outcomes: list[StowOutcome]) -> None:
        super().__init__(message, transient=transient)
        self.outcomes = outcomes


@dataclass(frozen=True)
class _Part:
    """One file to send: its multipart part header and size."""

    path: Path
    sop_uid: str
    size: int
    header: bytes


@dataclass(frozen=True)
class _Target:
    """Where to POST, parsed from the destination URL."""

    scheme: str
    host: str
    port: int | None
    path: str
    display: str
    url_auth: BasicAuth | None


def stow_destination(
    destination: Destination,
    defaults: NetworkSettings,
    paths: Sequence[Path],
    *,
    auth: BasicAuth | BearerToken | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[StowOutcome]:
    """`stow_files` to a configured ``dicomweb`` destination (its url, tls, network timeout).

    Raises
    ------
    DeliveryError
        As `stow_files`; also (permanent) when ``destination`` is not a DICOMweb one.
    """
    if destination.kind is not DestinationKind.DICOMWEB:
        raise DeliveryError(
            f"{destination.name}: is a {destination.kind.value} destination, not DICOMweb",
            transient=False,
        )
    network = destination.network(defaults)
    return stow_files(
        destination.url,
        paths,
        auth=auth,
        timeout_s=network.network_timeout_s,
        tls=destination.tls,
        progress=progress,
    )


def stow_files(
    destination_url: str,
    paths: Sequence[Path],
    *,
    auth: BasicAuth | BearerToken | None = None,
    timeout_s: float = 60.0,
    tls: TlsSettings | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[StowOutcome]:
    """Store Part-10 files with one STOW-RS request (PS3.18 10.5) and check every instance.

    Parameters
    ----------
    destination_url
        The DICOMweb root, e.g. ``http://pacs:8042/dicom-web`` (``/studies`` is appended
        unless present). ``user:password@`` in the URL is used as basic authentication
        when ``auth`` is None.
    paths
        Part-10 files; all go in one request (split large batches before calling).
    auth
        Basic or bearer authentication, sent with the request.
    timeout_s
        Socket timeout for connecting, each write and waiting for the answer.
    tls
        For ``https``: CA file to verify the server against, optional client certificate
        (`izer.net.tls_context`). Not enabled: the system's CAs, TLS 1.2 or newer.
    progress
        Called as ``progress(bytes_done, bytes_total)`` (file bytes) while sending.

    Returns
    -------
    list[StowOutcome]
        One per path, in order, all stored (some perhaps with a warning).

    Raises
    ------
    StowFailed
        When the server answered and at least one instance was not stored; its
        ``outcomes`` tell which were.
    DeliveryError
        Nothing or not everything is known to be stored: a file is not Part-10 (permanent,
        nothing sent), 401/403 (permanent, credentials), 404/405/415 (permanent,
        configuration), 5xx, 408, 429, timeouts, refused or dropped connections (transient),
        TLS certificate problems (permanent).
    """
    target = _parse_url(destination_url)
    auth = auth or target.url_auth
    if not paths:
        return []
    boundary = f"izer-{uuid.uuid4().hex}"
    parts = [_part(Path(path), boundary, target.display) for path in paths]
    closing = f"--{boundary}--\r\n".encode("ascii")
    # Each part: header, file bytes, CRLF; then the close delimiter (RFC 2046 5.1.1).
    content_length = sum(len(p.header) + p.size + 2 for p in parts) + len(closing)
    total = sum(p.size for p in parts)
    headers = {
        "Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}',
        "Content-Length": str(content_length),
        "Accept": "application/dicom+json, application/json",
        "User-Agent": "izer",
    }
    if auth is not None:
        headers["Authorization"] = auth.header()
        if target.scheme == "http" and target.host not in ("127.0.0.1", "localhost", "::1"):
            _log.warning("%s: credentials sent without TLS (http://)", target.display)
    connection = _connection(target, timeout_s, tls)
    try:
        status, reason, body = _post(connection, target, headers, parts, closing, total, progress)
    except DeliveryError:
        raise
    except ssl.SSLError as exc:
        permanent = isinstance(exc, ssl.SSLCertVerificationError) or "ALERT" in (exc.reason or "")
        raise DeliveryError(
            f"{target.display}: {explain_tls_error(exc, tls or TlsSettings(), target.host)}",
            transient=not permanent,
        ) from exc
    except (OSError, http.client.HTTPException) as exc:
        raise DeliveryError(
            f"{target.display}: {_network_problem(exc, timeout_s)}", transient=True
        ) from exc
    finally:
        connection.close()
    return _outcomes(target, parts, status, reason, body)


# --------------------------------------------------------------------------- request


def _parse_url(url: str) -> _Target:
    """Split and check the DICOMweb root URL; the displayed form hides any password."""
    try:
        parts: SplitResult = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise DeliveryError(f"DICOMweb URL {url!r} is not valid: {exc}", transient=False) from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DeliveryError(
            f"DICOMweb URL {url!r} must start with http:// or https:// and name a host",
            transient=False,
        )
    path = parts.path.rstrip("/")
    if not path.endswith("/studies"):
        path += "/studies"
    if parts.query:
        path += f"?{parts.query}"
    netloc = parts.hostname if port is None else f"{parts.hostname}:{port}"
    if ":" in parts.hostname:
        netloc = f"[{parts.hostname}]" + ("" if port is None else f":{port}")
    url_auth = None
    if parts.username:
        url_auth = BasicAuth(unquote(parts.username), unquote(parts.password or ""))
    return _Target(
        scheme=parts.scheme,
        host=parts.hostname,
        port=port,
        path=path,
        display=f"{parts.scheme}://{netloc}{path}",
        url_auth=url_auth,
    )


def _part(path: Path, boundary: str, display: str) -> _Part:
    """Check that ``path`` is a readable Part-10 file and build its part header."""
    try:
        size = path.stat().st_size
        with path.open("rb") as file:
            preamble = file.read(132)
            file.seek(0)
            header = dcmread(file, stop_before_pixels=True, specific_tags=["SOPInstanceUID"])
    except FileNotFoundError as exc:
        raise DeliveryError(
            f"{display}: nothing sent: {path} does not exist", transient=False
        ) from exc
    except (InvalidDicomError, ValueError, EOFError) as exc:
        raise DeliveryError(
            f"{display}: nothing sent: {path} is not a readable DICOM file ({exc})",
            transient=False,
        ) from exc
    except OSError as exc:
        raise DeliveryError(
            f"{display}: nothing sent: cannot read {path} ({exc.strerror or exc})",
            transient=not isinstance(exc, PermissionError | IsADirectoryError),
        ) from exc
    sop_uid = str(header.get("SOPInstanceUID", "") or "")
    if preamble[128:132] != b"DICM" or not sop_uid:
        raise DeliveryError(
            f"{display}: nothing sent: {path} is not a DICOM Part-10 file with a SOP Instance "
            "UID (STOW-RS sends application/dicom, PS3.10 files)",
            transient=False,
        )
    part_header = f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode()
    return _Part(path, sop_uid, size, part_header)


def _connection(
    target: _Target, timeout_s: float, tls: TlsSettings | None
) -> http.client.HTTPConnection:
    if target.scheme == "http":
        if tls is not None and tls.enabled:
            raise DeliveryError(
                f"{target.display}: TLS is enabled for this destination but the URL is "
                "http://; use https://",
                transient=False,
            )
        return http.client.HTTPConnection(target.host, target.port, timeout=timeout_s)
    try:
        if tls is not None and tls.enabled:
            context = tls_context(tls)
        else:
            context = ssl.create_default_context()
            context.minimum_version = ssl.TLSVersion.TLSv1_2
    except (OSError, ssl.SSLError) as exc:
        raise DeliveryError(
            f"{target.display}: cannot load the TLS CA file or client certificate/key "
            f"({getattr(exc, 'strerror', None) or exc})",
            transient=False,
        ) from exc
    return http.client.HTTPSConnection(target.host, target.port, timeout=timeout_s, context=context)


def _post(
    connection: http.client.HTTPConnection,
    target: _Target,
    headers: dict[str, str],
    parts: list[_Part],
    closing: bytes,
    total: int,
    progress: Callable[[int, int], None] | None,
) -> tuple[int, str, bytes]:
    """Send the request body part by part; return status, reason and (capped) body.

    A server may answer (401, 413 ...) and close before reading everything: when writing
    fails, the answer is still read if there is one.
    """
    connection.putrequest("POST", target.path, skip_accept_encoding=True)
    for name, value in headers.items():
        connection.putheader(name, value)
    connection.endheaders()
    done = 0
    if progress is not None:
        progress(0, total)
    try:
        for part in parts:
            connection.send(part.header)
            for chunk in _chunks(part, target.display):
                connection.send(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(done, total)
            connection.send(b"\r\n")
        connection.send(closing)
    except (BrokenPipeError, ConnectionResetError) as exc:
        try:
            response = connection.getresponse()
        except (OSError, http.client.HTTPException):
            raise exc from None
        return response.status, response.reason, response.read(MAX_RESPONSE_BYTES)
    response = connection.getresponse()
    return response.status, response.reason, response.read(MAX_RESPONSE_BYTES)


def _chunks(part: _Part, display: str) -> Iterator[bytes]:
    """The file's bytes in `CHUNK_BYTES` pieces; the file must not change size meanwhile."""
    sent = 0
    try:
        with part.path.open("rb") as file:
            while chunk := file.read(min(CHUNK_BYTES, part.size - sent)):
                sent += len(chunk)
                yield chunk
                if sent == part.size:
                    break
    except OSError as exc:
        raise DeliveryError(
            f"{display}: reading {part.path} failed mid-request ({exc.strerror or exc})",
            transient=True,
        ) from exc
    if sent != part.size:
        raise DeliveryError(
            f"{display}: {part.path} shrank while it was being sent ({sent} of {part.size} "
            "bytes); nothing is counted as stored",
            transient=True,
        )


def _network_problem(exc: BaseException, timeout_s: float) -> str:
    if isinstance(exc, TimeoutError):
        return f"no answer within {timeout_s:g} s (timeout)"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (is the DICOMweb server running on that port?)"
    if isinstance(exc, socket.gaierror):
        return f"unknown host ({exc.strerror})"
    if isinstance(exc, ConnectionResetError | BrokenPipeError | http.client.RemoteDisconnected):
        return "the server closed the connection before answering"
    if isinstance(exc, http.client.HTTPException):
        return f"unreadable HTTP answer ({type(exc).__name__}: {exc})"
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    return str(exc)


# --------------------------------------------------------------------------- response

#: HTTP statuses with no per-instance answer: (plain words, transient).
_STATUS_MEANINGS: dict[int, tuple[str, bool]] = {
    401: (
        "the server refused the credentials (HTTP 401 Unauthorized): check the user name "
        "and password or token configured for this destination",
        False,
    ),
    403: (
        "the server refused access (HTTP 403 Forbidden): this account may not store "
        "instances there",
        False,
    ),
    404: (
        "no STOW-RS service at this URL (HTTP 404 Not Found): the URL should be the "
        "DICOMweb root, e.g. http://host:8042/dicom-web",
        False,
    ),
    405: ("the server does not accept POST at this URL (HTTP 405): check the URL", False),
    408: ("the server timed out reading the request (HTTP 408)", True),
    413: (
        "the request is too large for the server (HTTP 413): raise its upload limit or "
        "send fewer instances per request",
        False,
    ),
    415: (
        "the server does not accept multipart/related application/dicom "
        "(HTTP 415 Unsupported Media Type)",
        False,
    ),
    429: ("the server asks to slow down (HTTP 429 Too Many Requests)", True),
    503: ("the server is busy or down for maintenance (HTTP 503)", True),
}


def _outcomes(
    target: _Target, parts: list[_Part], status: int, reason: str, body: bytes
) -> list[StowOutcome]:
    """Per-file outcomes from the status and Store Instances Response; raise on failure."""
    where = target.display
    stored, failed = _instance_lists(_json(body))
    if not stored and not failed:
        # No per-instance answer: the status alone decides.
        if status in _STATUS_MEANINGS:
            meaning, transient = _STATUS_MEANINGS[status]
            raise DeliveryError(f"{where}: {meaning}", transient=transient)
        if status >= 500:
            raise DeliveryError(
                f"{where}: server error (HTTP {status} {reason}){_server_message(body)}",
                transient=True,
            )
        if 300 <= status < 400:
            raise DeliveryError(
                f"{where}: the server redirects (HTTP {status} {reason}); configure the final URL",
                transient=False,
            )
        if status not in (200, 202, 400, 409):
            raise DeliveryError(
                f"{where}: unexpected answer HTTP {status} {reason}{_server_message(body)}",
                transient=not 400 <= status < 500,
            )
    outcomes = [_outcome(part, status, stored, failed) for part in parts]
    failures = [o for o in outcomes if not o.stored]
    for outcome in outcomes:
        if outcome.warning:
            _log.warning(
                "%s: %s stored with a warning: %s", where, outcome.sop_uid, outcome.warning
            )
    if not failures:
        return outcomes
    first = failures[0]
    summary = (
        f"{where}: {len(failures)} of {len(outcomes)} instance(s) not stored "
        f"(HTTP {status} {reason}); first: {first.path.name} ({first.sop_uid}): {first.meaning}"
    )
    raise StowFailed(summary, transient=all(o.transient for o in failures), outcomes=outcomes)


def _outcome(
    part: _Part,
    status: int,
    stored: dict[str, tuple[int | None, str]],
    failed: dict[str, int | None],
) -> StowOutcome:
    if part.sop_uid in failed:
        reason_code = failed[part.sop_uid]
        if reason_code is None:
            meaning, transient = f"refused without a failure reason (HTTP {status})", False
        elif reason_code == FailureReason.DUPLICATE_SOP_INSTANCE:
            # Idempotency: an earlier attempt stored it, its answer was lost.
            return StowOutcome(
                part.path, part.sop_uid, True, warning="the receiver already held it"
            )
        else:
            meaning, transient = describe_failure(reason_code)
        return StowOutcome(
            part.path, part.sop_uid, False, reason_code, meaning, transient=transient
        )
    if part.sop_uid in stored:
        warning_code, url = stored[part.sop_uid]
        warning = ""
        if warning_code:
            words = _WARNING_MEANINGS.get(warning_code, "warning")
            warning = f"{words} (warning reason 0x{warning_code:04X})"
        return StowOutcome(part.path, part.sop_uid, True, warning=warning, retrieve_url=url)
    if status == 200 and not stored and not failed:
        # 200 means every instance was stored (PS3.18 10.5.3); the body said nothing more.
        return StowOutcome(part.path, part.sop_uid, True)
    meaning, transient = _STATUS_ONLY.get(
        status, (f"not listed as stored (HTTP {status})", status >= 500)
    )
    return StowOutcome(part.path, part.sop_uid, False, None, meaning, transient=transient)


#: Why an instance absent from both sequences was not stored, by HTTP status.
_STATUS_ONLY: dict[int, tuple[str, bool]] = {
    200: ("the server answered 200 but did not list this instance as stored", True),
    202: ("the server did not list this instance as stored (HTTP 202)", True),
    400: (
        "the server could not read this part (HTTP 400 Bad Request): is the file valid DICOM?",
        False,
    ),
    409: ("the server refused the request (HTTP 409 Conflict)", False),
}


def _instance_lists(
    response: object,
) -> tuple[dict[str, tuple[int | None, str]], dict[str, int | None]]:
    """SOP Instance UIDs of the Referenced (warning, URL) and Failed (reason) sequences."""
    if isinstance(response, list) and response:
        response = response[0]
    if not isinstance(response, dict):
        return {}, {}
    stored = {
        uid: (_int_value(item, _WARNING_REASON), _str_value(item, _RETRIEVE_URL))
        for item in _items(response, _REFERENCED_SOP_SEQUENCE)
        if (uid := _str_value(item, _REFERENCED_SOP_INSTANCE_UID))
    }
    failed = {
        uid: _int_value(item, _FAILURE_REASON)
        for item in _items(response, _FAILED_SOP_SEQUENCE)
        if (uid := _str_value(item, _REFERENCED_SOP_INSTANCE_UID))
    }
    return stored, failed


def _json(body: bytes) -> object | None:
    text = body.lstrip()
    if not text.startswith((b"{", b"[")):
        return None
    with suppress(ValueError):
        return json.loads(text)
    return None


def _items(dataset: dict[str, object], tag: str) -> list[dict[str, object]]:
    element = dataset.get(tag)
    values = element.get("Value") if isinstance(element, dict) else None
    return [v for v in values if isinstance(v, dict)] if isinstance(values, list) else []


def _first_value(dataset: dict[str, object], tag: str) -> object:
    element = dataset.get(tag)
    values = element.get("Value") if isinstance(element, dict) else None
    return values[0] if isinstance(values, list) and values else None


def _str_value(dataset: dict[str, object], tag: str) -> str:
    value = _first_value(dataset, tag)
    return value.strip() if isinstance(value, str) else ""


def _int_value(dataset: dict[str, object], tag: str) -> int | None:
    value = _first_value(dataset, tag)
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        with suppress(ValueError):
            return int(value, 0) if value.lower().startswith("0x") else int(value)
    return None


def _server_message(body: bytes) -> str:
    """A short excerpt of the server's explanation, if it sent text."""
    text = body[:300].decode("utf-8", errors="replace").strip()
    response = _json(body)
    if isinstance(response, dict):
        for key in ("Message", "message", "error", "Details"):
            if isinstance(response.get(key), str):
                text = response[key]
                break
    text = " ".join(text.split())
    return f": {text[:200]}" if text else ""
