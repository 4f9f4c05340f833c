"""One connection's requests, read against a clock and a size limit (HTTP/1.1 keep-alive).

Slow or idle clients cannot crowd out a scrape: ``header_timeout`` bounds each request's line
and headers however slowly they trickle in (slowloris), ``connection_timeout`` an idle
keep-alive connection. A request head is capped at 128 KiB (431), a body at 64 KiB (413).
Protocol errors are answered here; every well-formed request goes to ``Site.respond``.
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
import socket
import ssl
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any

from .httpserver import (
    TLS_HANDSHAKE,
    HTTPServer,
    Request,
    Response,
    linger,
    text,
    wrap_tls,
)

logger = logging.getLogger("ses_exporter.web")  # one logger for the whole web front end

_MAX_BODY_BYTES = 64 * 1024  # /-/reload ignores its body; anything bigger is not ours
_MAX_LINE_BYTES = 65536  # longer request lines are 414, as in http.server
_MAX_HEAD_BYTES = 128 * 1024  # request line and headers together (Go allows 1 MiB)
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110 method syntax


class _HeadTooLarge(Exception):
    """The request line and headers went past _MAX_HEAD_BYTES."""


class _RequestReader(io.RawIOBase):
    """The socket as rfile, with a deadline and a byte budget while a request head arrives.

    A socket timeout alone restarts with every byte, so a client sending one byte a second
    would hold its thread forever; here each read waits only for what is left of the deadline.
    """

    def __init__(self, sock: socket.socket, idle_timeout: float) -> None:
        super().__init__()
        self._sock, self._idle_timeout = sock, idle_timeout
        self._deadline: float | None = None
        self._budget: int | None = None

    def readable(self) -> bool:
        return True

    def start_head(self, timeout: float) -> None:
        self._deadline, self._budget = time.monotonic() + timeout, _MAX_HEAD_BYTES

    def end_head(self) -> None:
        self._budget = None  # the body has its own limit; the deadline still runs

    def end_request(self) -> None:
        self._deadline = self._budget = None
        self._sock.settimeout(self._idle_timeout)

    def readinto(self, buffer: Any) -> int:
        if self._deadline is not None:
            remaining = self._deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("request head not complete in time")
            self._sock.settimeout(min(remaining, self._idle_timeout))
        view = memoryview(buffer).cast("B")
        if self._budget is not None:
            if self._budget <= 0:
                raise _HeadTooLarge
            view = view[: self._budget]
        count = self._sock.recv_into(view)
        if self._budget is not None:
            self._budget -= count
        return count


class RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: every response carries Content-Length
    disable_nagle_algorithm = True  # headers and body are two writes; don't wait for an ACK
    server: HTTPServer
    target = ""  # the raw request target; self.path is rewritten by http.server (//x -> /x)
    _tracked = False
    _unread_input = False  # closing with unread bytes would send RST and lose the response
    _reader: _RequestReader
    _buffered: io.BufferedReader

    def setup(self) -> None:
        site = self.server.site
        raw = self.request
        raw.settimeout(site.connection_timeout)
        # Per accepted connection, in its own thread (a slow TLS handshake blocks no one).
        self.request = wrap_tls(raw, site.web_config(), site.header_timeout)
        try:
            self.request.settimeout(site.connection_timeout)
            super().setup()
            self.rfile.close()
            self._reader = _RequestReader(self.connection, site.connection_timeout)
            self._buffered = io.BufferedReader(self._reader)
            self.rfile = self._buffered
        except BaseException:
            if self.request is not raw:
                self.request.close()
            raise
        self._tracked = self.server.track(self.connection)

    def handle(self) -> None:
        if self._tracked:  # False when the server shut down while this connection queued
            super().handle()

    def finish(self) -> None:
        try:
            super().finish()
            if self._unread_input:
                self._drain_before_close()
        finally:
            if self._tracked:
                self.server.untrack(self.connection)
            if isinstance(self.connection, ssl.SSLSocket):
                self.connection.close()  # socketserver closes only the plain socket it made

    def _drain_before_close(self) -> None:
        linger(self.connection)

    def handle_one_request(self) -> None:
        """One request: wait idle for its first byte, then read its head against the clock."""
        self.command = self.request_version = self.requestline = ""
        try:
            first = self._buffered.peek(1)[:1]
            if not first:
                self.close_connection = True
                return
            if first == TLS_HANDSHAKE and not isinstance(self.connection, ssl.SSLSocket):
                self.send_error(HTTPStatus.BAD_REQUEST, "TLS handshake on a plain HTTP port")
                return
            self._reader.start_head(self.server.site.header_timeout)
            self.raw_requestline = self.rfile.readline(_MAX_LINE_BYTES + 1)
            if len(self.raw_requestline) > _MAX_LINE_BYTES:
                self.send_error(HTTPStatus.REQUEST_URI_TOO_LONG)
            elif self.parse_request():
                self._handle()
            self.wfile.flush()
        except _HeadTooLarge:
            self.send_error(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "Request head too large")
        except (TimeoutError, ConnectionError, ssl.SSLError) as exc:
            logger.debug("%s: connection closed: %s", self.address_string(), exc)
            self.close_connection = True

    def parse_request(self) -> bool:
        ok = super().parse_request()
        if ok and not _TOKEN.fullmatch(self.command):
            self.send_error(HTTPStatus.BAD_REQUEST, "invalid method")
            return False
        if ok:
            self.target = self.requestline.split()[1]
        return ok

    def version_string(self) -> str:
        return self.server.site.server_version()

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s %s", self.address_string(), format % args)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # Protocol errors from http.server (400, 414, 431, 505, ...): plain text, then close.
        if self.request_version in ("HTTP/0.9", ""):
            self.request_version = "HTTP/1.0"  # always answer with a status line and headers
        with contextlib.suppress(OSError):
            self._reader.end_request()  # done reading: the answer is not written against the clock
        self.close_connection = self._unread_input = True
        phrase = HTTPStatus(code).phrase
        self._send(text(code, f"{code} {phrase}" + (f": {message}" if message else "") + "\n"))

    def _send(self, response: Response) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in (*response.headers, *self.server.site.response_headers().items()):
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def _handle(self) -> None:
        """Every method comes here: unknown ones get 405 with Allow, not http.server's 501."""
        if self.request_version == "HTTP/0.9":
            self.send_error(HTTPStatus.BAD_REQUEST, "HTTP/0.9 is not supported")
            return
        self._reader.end_head()
        refused = self._discard_body()
        self._reader.end_request()
        request = Request(self.command, self.target, self.headers)
        self._send(refused or self.server.site.respond(request))

    def _discard_body(self) -> Response | None:
        """Read and drop a request body so the connection can serve the next request."""
        if "Transfer-Encoding" in self.headers:
            self.close_connection = self._unread_input = True  # chunked bodies are not parsed
            return None
        lengths = set(self.headers.get_all("Content-Length") or [])
        if not lengths:
            return None
        length = lengths.pop()
        if lengths or not length.isascii() or not length.strip().isdigit():
            self.close_connection = self._unread_input = True
            return text(HTTPStatus.BAD_REQUEST, "400 Bad Request: invalid Content-Length\n")
        if int(length) > _MAX_BODY_BYTES:
            self.close_connection = self._unread_input = True
            return text(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "413 Request body too large\n")
        self.rfile.read(int(length))
        return None
