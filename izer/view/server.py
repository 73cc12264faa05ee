"""The review page's HTTP server: 127.0.0.1 only, a random port, a token in every URL.

Patient data is shown without a login, so three guards hold for every request:

* the socket is bound to 127.0.0.1 (other machines cannot connect);
* the URL carries the secret token, as the first path segment (``/<token>/...``) or as
  ``?token=``, compared in constant time; without it the answer is 403 and carries no data
  (another local user or a web page guessing the port learns nothing);
* the Host header names 127.0.0.1 or localhost with this port, so that a web page whose
  name was re-pointed to 127.0.0.1 (DNS rebinding) cannot read the answers.

Routes (after the token): ``/`` the study list, ``/study/<uid>``, ``/instance/<uid>``,
``/thumb/<uid>.jpg[?size=N]``, ``/video/<uid>.mp4`` (with HTTP Range requests, RFC 9110
14), ``/pdf/<uid>.pdf`` and ``/static/review.css|js``. The HTML comes from
:mod:`izer.view.pages`, the data from :class:`izer.engine.viewing.ViewController`.
"""

from __future__ import annotations

import hmac
import logging
import re
import secrets
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from izer.engine.viewing import UnknownInstanceError, ViewController, ViewError
from izer.view import pages

log = logging.getLogger(__name__)

#: The only address the page listens on.
LOCAL_HOST = "127.0.0.1"
#: Host names a browser on this machine may send (with the port) in the Host header.
_LOCAL_NAMES = ("127.0.0.1", "localhost")
#: Shortest accepted token (characters of ``secrets.token_urlsafe``).
MIN_TOKEN_CHARS = 16
_TOKEN_CHARS = re.compile(r"^[A-Za-z0-9_-]+$")
_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")
_CHUNK = 256 * 1024
_SECURITY_HEADERS = (
    (
        "Content-Security-Policy",
        "default-src 'self'; frame-ancestors 'self'; base-uri 'none'; form-action 'none'",
    ),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("Cache-Control", "no-store"),
)
_STATIC = {
    "review.css": ("text/css; charset=utf-8", pages.STYLESHEET.encode("utf-8")),
    "review.js": ("text/javascript; charset=utf-8", pages.SCRIPT.encode("utf-8")),
}


class RangeNotSatisfiableError(ValueError):
    """A Range header that selects nothing of the file (answered 416)."""


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The first and last byte of a single ``bytes=`` range (RFC 9110 14.1.2), or ``None``
    to send the whole file (no header, several ranges, another unit or a malformed one).

    Raises
    ------
    RangeNotSatisfiableError
        When the range starts at or after the end of a ``size``-byte file, or asks for the
        last 0 bytes.
    """
    if not header:
        return None
    unit, _, ranges = header.strip().partition("=")
    if unit.strip().lower() != "bytes" or "," in ranges:
        return None
    first_text, dash, last_text = ranges.strip().partition("-")
    if not dash:
        return None
    first_text, last_text = first_text.strip(), last_text.strip()
    if not (first_text.isdigit() or last_text.isdigit()):
        return None
    if not first_text:  # the last N bytes
        suffix = int(last_text)
        if suffix == 0 or size == 0:
            raise RangeNotSatisfiableError(f"bytes=-{suffix} of {size}")
        return max(0, size - suffix), size - 1
    first = int(first_text)
    if last_text and not last_text.isdigit():
        return None
    last = int(last_text) if last_text else size - 1
    if first >= size:
        raise RangeNotSatisfiableError(f"bytes={first}- of {size}")
    if last < first:
        return None
    return first, min(last, size - 1)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    review: ReviewServer


class ReviewServer:
    """The review page, served on ``127.0.0.1`` until :meth:`stop`.

    Parameters
    ----------
    viewing
        Where the pages' data comes from (``engine.viewing``).
    host
        Must be ``127.0.0.1`` (or ``localhost``): the page shows patient data without a login.
    port
        TCP port; 0 (default) lets the system choose a free one.
    token
        The secret every URL carries; a new ``secrets.token_urlsafe(24)`` by default.

    Raises
    ------
    ValueError
        For another host, or a token shorter than 16 URL-safe characters.
    OSError
        When the port cannot be bound.
    """

    def __init__(
        self,
        viewing: ViewController,
        *,
        host: str = LOCAL_HOST,
        port: int = 0,
        token: str | None = None,
    ) -> None:
        if host not in _LOCAL_NAMES:
            raise ValueError(
                f"the review page listens on {LOCAL_HOST} only (it shows patient data "
                f"without a login), not on {host!r}; open it on this machine, or copy the "
                "studies out with izer export"
            )
        if not 0 <= port <= 65535:
            raise ValueError(f"port must be 0 (any free port) to 65535, not {port}")
        if token is None:
            token = secrets.token_urlsafe(24)
        if len(token) < MIN_TOKEN_CHARS or not _TOKEN_CHARS.match(token):
            raise ValueError(
                f"the token must be at least {MIN_TOKEN_CHARS} URL-safe characters "
                "(letters, digits, - and _); leave it out to get a random one"
            )
        self.viewing = viewing
        self.token = token
        self._httpd = _Server((LOCAL_HOST, port), _Handler)
        self._httpd.review = self
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()

    @property
    def port(self) -> int:
        """The TCP port the page listens on."""
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """The study list's address, token included."""
        return f"http://{LOCAL_HOST}:{self.port}/{self.token}/"

    @property
    def running(self) -> bool:
        """Started and not stopped."""
        return self._thread is not None and not self._stopped.is_set()

    def start(self) -> ReviewServer:
        """Answer requests on a background thread; returns itself."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever, name="izer-review-page", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop answering and close the socket (idempotent)."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
        self._httpd.server_close()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until :meth:`stop` was called; ``True`` when it was."""
        return self._stopped.wait(timeout)

    def __enter__(self) -> ReviewServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def accepts_token(self, candidate: str) -> bool:
        """Whether ``candidate`` is the token (constant-time comparison)."""
        return hmac.compare_digest(candidate.encode("utf-8"), self.token.encode("utf-8"))

    def accepts_host(self, host: str | None) -> bool:
        """Whether a Host header names this page (127.0.0.1 or localhost, this port)."""
        if not host:
            return False
        return host.strip().lower() in {f"{name}:{self.port}" for name in _LOCAL_NAMES}


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    server_version = "izer-review"
    sys_version = ""

    # -- entry points ---------------------------------------------------------------------------

    def do_GET(self) -> None:
        self._answer(send_body=True)

    def do_HEAD(self) -> None:
        self._answer(send_body=False)

    def log_message(self, format: str, *args: object) -> None:
        review = self.server.review
        text = (format % args).replace(review.token, "<token>")
        log.debug("%s %s", self.address_string(), text)

    # -- routing ------------------------------------------------------------------------------

    def _answer(self, *, send_body: bool) -> None:
        self._send_body = send_body
        review = self.server.review
        if not review.accepts_host(self.headers.get("Host")):
            self._refuse("this page answers only to 127.0.0.1 or localhost with its port")
            return
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        segments = [unquote(s) for s in parts.path.split("/") if s]
        if segments and review.accepts_token(segments[0]):
            segments = segments[1:]
        elif not any(review.accepts_token(value) for value in query.get("token", ())):
            self._refuse("the address needs the token that izer view printed")
            return
        base = f"/{review.token}"
        try:
            self._route(review, segments, query, base)
        except UnknownInstanceError as exc:
            self._html(pages.message_page("Not found", str(exc), base), HTTPStatus.NOT_FOUND)
        except ViewError as exc:
            self._html(
                pages.message_page("Cannot show this", str(exc), base),
                HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
            )
        except (BrokenPipeError, ConnectionResetError):
            pass  # the browser gave up on this request (seeking a video does that)
        except Exception:
            log.exception("the review page failed on %s", parts.path.replace(review.token, "<t>"))
            self._text(HTTPStatus.INTERNAL_SERVER_ERROR, "izer could not make this page")

    def _route(
        self, review: ReviewServer, segments: list[str], query: dict[str, list[str]], base: str
    ) -> None:
        viewing = review.viewing
        if not segments:
            self._html(pages.study_list_page(viewing.studies(), base))
            return
        if len(segments) != 2:
            self._not_found(base)
            return
        route, name = segments
        if route == "static" and name in _STATIC:
            content_type, data = _STATIC[name]
            self._bytes(data, content_type)
            return
        uid, _, extension = _split_uid(name)
        if not _UID.match(uid):
            self._not_found(base)
            return
        if route == "study" and not extension:
            self._html(pages.study_page(viewing.study(uid), base))
        elif route == "instance" and not extension:
            item = viewing.instance(uid)
            self._html(pages.instance_page(item, viewing.details(uid), base))
        elif route == "thumb" and extension == "jpg":
            size = _size(query)
            data = viewing.thumbnail_jpeg(uid, size) if size else viewing.thumbnail_jpeg(uid)
            self._bytes(data, "image/jpeg")
        elif route == "pdf" and extension == "pdf":
            self._bytes(
                viewing.document_pdf(uid),
                "application/pdf",
                extra=(("Content-Disposition", 'inline; filename="document.pdf"'),),
            )
        elif route == "video" and extension == "mp4":
            self._file(viewing.playable_video(uid), "video/mp4")
        else:
            self._not_found(base)

    # -- answers ------------------------------------------------------------------------------

    def _head(
        self,
        status: HTTPStatus,
        content_type: str,
        length: int,
        extra: tuple[tuple[str, str], ...] = (),
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(length))
        for name, value in (*_SECURITY_HEADERS, *extra):
            self.send_header(name, value)
        self.end_headers()

    def _bytes(
        self,
        data: bytes,
        content_type: str,
        status: HTTPStatus = HTTPStatus.OK,
        extra: tuple[tuple[str, str], ...] = (),
    ) -> None:
        self._head(status, content_type, len(data), extra)
        if self._send_body:
            self.wfile.write(data)

    def _html(self, text: str, status: HTTPStatus = HTTPStatus.OK) -> None:
        self._bytes(text.encode("utf-8"), "text/html; charset=utf-8", status)

    def _text(self, status: HTTPStatus, text: str) -> None:
        self._bytes(f"{text}\n".encode(), "text/plain; charset=utf-8", status)

    def _refuse(self, why: str) -> None:
        self._text(HTTPStatus.FORBIDDEN, f"403 Forbidden: {why}")

    def _not_found(self, base: str) -> None:
        self._html(
            pages.message_page("Not found", "there is no such page here", base),
            HTTPStatus.NOT_FOUND,
        )

    def _file(self, path: Path, content_type: str) -> None:
        """``path`` whole (200) or the requested byte range (206), read in chunks."""
        size = path.stat().st_size
        ranges = (("Accept-Ranges", "bytes"),)
        try:
            wanted = parse_range(self.headers.get("Range"), size)
        except RangeNotSatisfiableError:
            self._head(
                HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE,
                "text/plain; charset=utf-8",
                0,
                (*ranges, ("Content-Range", f"bytes */{size}")),
            )
            return
        if wanted is None:
            first, last, status = 0, size - 1, HTTPStatus.OK
            extra = ranges
        else:
            (first, last), status = wanted, HTTPStatus.PARTIAL_CONTENT
            extra = (*ranges, ("Content-Range", f"bytes {first}-{last}/{size}"))
        length = max(0, last - first + 1)
        self._head(status, content_type, length, extra)
        if not self._send_body:
            return
        with open(path, "rb") as handle:
            handle.seek(first)
            left = length
            while left > 0:
                chunk = handle.read(min(_CHUNK, left))
                if not chunk:
                    break
                self.wfile.write(chunk)
                left -= len(chunk)


def _split_uid(name: str) -> tuple[str, str, str]:
    """``1.2.3.jpg`` -> ``("1.2.3", ".", "jpg")``; a bare UID has no extension."""
    stem, dot, extension = name.rpartition(".")
    if dot and extension.isalnum() and not extension.isdigit():
        return stem, dot, extension
    return name, "", ""


def _size(query: dict[str, list[str]]) -> int | None:
    values = query.get("size", ())
    if not values:
        return None
    try:
        return int(values[0])
    except ValueError:
        raise ViewError(f"size must be a number of pixels, not {values[0]!r}") from None
