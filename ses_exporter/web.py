"""HTTP front end: /metrics, the landing page, /-/healthy, /-/ready and /-/reload.

Standard library only (``http.server``, ``ssl``). The server never calls AWS: every endpoint
reads what the daemon (a ``WebApp``) already holds, so a scrape stays fast whatever AWS does.

One thread per connection, which costs next to nothing while it waits, with three limits so
that slow or idle clients cannot crowd out a scrape: at most ``max_connections`` at once
(beyond that a new connection is closed at once), ``header_timeout`` for the TLS handshake
and for each request's line and headers however slowly they trickle in (slowloris), and
``connection_timeout`` for an idle keep-alive connection. A request head is capped at
128 KiB (431), a body at 64 KiB (413).

The web configuration (``webconfig.WebConfig``: TLS, basic auth, headers, rate limit) is
swapped whole by ``reload_config``; connections accepted afterwards use the new one.
"""

from __future__ import annotations

import contextlib
import errno
import gzip
import io
import ipaddress
import logging
import re
import socket
import socketserver
import ssl
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

from .landing import TargetRow, render_landing_page
from .webconfig import BasicAuth, RateLimiter, WebConfig, peer_sans

logger = logging.getLogger("ses_exporter.web")

_TEXT = "text/plain; charset=utf-8"
_SERVED_METHODS = ("GET", "HEAD", "POST")
_READ_ONLY = ("GET", "HEAD")
_MAX_BODY_BYTES = 64 * 1024  # /-/reload ignores its body; anything bigger is not ours
_MAX_LINE_BYTES = 65536  # longer request lines are 414, as in http.server
_MAX_HEAD_BYTES = 128 * 1024  # request line and headers together (Go allows 1 MiB)
_LINGER_SECONDS = 0.5
_POLL_INTERVAL_SECONDS = 0.25  # bounds how long shutdown() waits for the accept loop
_REFUSAL_LOG_INTERVAL_SECONDS = 60.0
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110 method syntax
_TLS_HANDSHAKE = b"\x16"  # the first byte of every TLS connection
# What Go's net/http answers to plain HTTP on a TLS port.
_HTTP_ON_TLS_PORT = (
    b"HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"Connection: close\r\n\r\nClient sent an HTTP request to an HTTPS server.\n"
)


class WebApp(Protocol):
    """What the HTTP server needs from the daemon."""

    @property
    def version(self) -> str: ...

    def render_metrics(self, accept_header: str | None) -> tuple[bytes, str]: ...

    def is_ready(self) -> bool: ...

    def target_rows(self) -> Sequence[TargetRow]: ...

    def reload(self) -> tuple[bool, str]: ...


@dataclass(frozen=True)
class _Response:
    status: int
    body: bytes
    content_type: str = _TEXT
    headers: tuple[tuple[str, str], ...] = ()


def _text(status: int, message: str, *headers: tuple[str, str]) -> _Response:
    return _Response(status, message.encode(), _TEXT, headers)


_HOST_RE = re.compile(r"[A-Za-z0-9._-]*")
_PORT_RE = re.compile(r"[0-9]{1,5}")


def parse_listen_address(value: str) -> tuple[str, int]:
    """Split ``host:port`` (``[v6]:port``; empty host = all interfaces) like Go's net.Listen."""
    if value.startswith("["):
        host, sep, port = value[1:].partition("]:")
        if not sep:
            raise ValueError(f"listen address {value!r}: expected [ipv6]:port, e.g. '[::1]:10049'")
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(
                f"listen address {value!r}: brackets are only for IPv6 addresses"
            ) from None
    else:
        host, sep, port = value.rpartition(":")
        if not sep:
            raise ValueError(f"listen address {value!r}: expected host:port, e.g. ':10049'")
        if ":" in host:
            raise ValueError(
                f"listen address {value!r}: put IPv6 addresses in brackets, '[::1]:80'"
            )
        if not _HOST_RE.fullmatch(host):
            raise ValueError(f"listen address {value!r}: invalid host {host!r}")
    if not _PORT_RE.fullmatch(port) or int(port) > 65535:
        raise ValueError(f"listen address {value!r}: port must be a number from 0 to 65535")
    return host, int(port)


def _accepts_gzip(accept_encoding: str | None) -> bool:
    """True when Accept-Encoding allows gzip, explicitly or via ``*`` (``q=0`` refuses)."""
    wildcard = False
    for item in (accept_encoding or "").split(","):
        coding, *params = (part.strip().lower() for part in item.split(";"))
        quality = next((param[2:] for param in params if param.startswith("q=")), "1")
        try:
            acceptable = float(quality) > 0
        except ValueError:
            acceptable = False
        if coding in ("gzip", "x-gzip"):
            return acceptable
        if coding == "*":
            wildcard = acceptable
    return wildcard


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


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: every response carries Content-Length
    disable_nagle_algorithm = True  # headers and body are two writes; don't wait for an ACK
    server: _HTTPServer
    target = ""  # the raw request target; self.path is rewritten by http.server (//x -> /x)
    _tracked = False
    _unread_input = False  # closing with unread bytes would send RST and lose the response
    _reader: _RequestReader
    _buffered: io.BufferedReader

    def setup(self) -> None:
        web = self.server.web
        raw = self.request
        raw.settimeout(web.connection_timeout)
        self.request = web._wrap_socket(raw)
        try:
            self.request.settimeout(web.connection_timeout)
            super().setup()
            self.rfile.close()
            self._reader = _RequestReader(self.connection, web.connection_timeout)
            self._buffered = io.BufferedReader(self._reader)
            self.rfile = self._buffered
        except BaseException:
            if self.request is not raw:
                self.request.close()
            raise
        self._tracked = web._track(self.connection)

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
                self.server.web._untrack(self.connection)
            if isinstance(self.connection, ssl.SSLSocket):
                self.connection.close()  # socketserver closes only the plain socket it made

    def _drain_before_close(self) -> None:
        _linger(self.connection)

    def handle_one_request(self) -> None:
        """One request: wait idle for its first byte, then read its head against the clock."""
        self.command = self.request_version = self.requestline = ""
        try:
            first = self._buffered.peek(1)[:1]
            if not first:
                self.close_connection = True
                return
            if first == _TLS_HANDSHAKE and not isinstance(self.connection, ssl.SSLSocket):
                self.send_error(HTTPStatus.BAD_REQUEST, "TLS handshake on a plain HTTP port")
                return
            self._reader.start_head(self.server.web.header_timeout)
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
        return f"ses-exporter/{self.server.web.app.version}"

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
        self._send(_text(code, f"{code} {phrase}" + (f": {message}" if message else "") + "\n"))

    def _send(self, response: _Response) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in (*response.headers, *self.server.web._response_headers().items()):
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
        self._send(refused or self._route())

    def _discard_body(self) -> _Response | None:
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
            return _text(HTTPStatus.BAD_REQUEST, "400 Bad Request: invalid Content-Length\n")
        if int(length) > _MAX_BODY_BYTES:
            self.close_connection = self._unread_input = True
            return _text(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "413 Request body too large\n")
        self.rfile.read(int(length))
        return None

    def _route(self) -> _Response:
        web = self.server.web
        if not web._rate_limit_allows():
            return _text(HTTPStatus.TOO_MANY_REQUESTS, "Too Many Requests\n")
        if not web._authorize(self):
            return _text(HTTPStatus.UNAUTHORIZED, "Unauthorized\n", ("WWW-Authenticate", "Basic"))
        path = self.target.split("?", 1)[0]  # exact match only: no normalisation
        routes: dict[str, tuple[tuple[str, ...], Callable[[], _Response]]] = {
            web.telemetry_path: (_READ_ONLY, self._metrics),
            "/": (_READ_ONLY, self._landing),
            "/-/healthy": (_READ_ONLY, lambda: _text(HTTPStatus.OK, "Healthy\n")),
            "/-/ready": (_READ_ONLY, self._ready),
            "/-/reload": (("POST",), self._reload),
        }
        allowed, endpoint = routes.get(path, (_SERVED_METHODS, None))
        if endpoint is None and self.command in _SERVED_METHODS:
            return _text(HTTPStatus.NOT_FOUND, "404 page not found\n")
        if endpoint is None or self.command not in allowed:
            message = f"405 Method Not Allowed: use {' or '.join(allowed)}\n"
            return _text(HTTPStatus.METHOD_NOT_ALLOWED, message, ("Allow", ", ".join(allowed)))
        try:
            return endpoint()
        except Exception:
            logger.exception("serving %s %s failed", self.command, path)
            message = f"500 Internal Server Error: could not serve {path}, see the exporter log\n"
            return _text(HTTPStatus.INTERNAL_SERVER_ERROR, message)

    def _metrics(self) -> _Response:
        body, content_type = self.server.web.app.render_metrics(self.headers.get("Accept"))
        headers: tuple[tuple[str, str], ...] = (("Vary", "Accept-Encoding"),)
        if _accepts_gzip(self.headers.get("Accept-Encoding")):
            body = gzip.compress(body, compresslevel=6, mtime=0)
            headers += (("Content-Encoding", "gzip"),)
        return _Response(HTTPStatus.OK, body, content_type, headers)

    def _landing(self) -> _Response:
        web = self.server.web
        page = render_landing_page(
            web.app.version, web.telemetry_path, web.app.target_rows(), time.time()
        )
        return _Response(HTTPStatus.OK, page.encode(), "text/html; charset=utf-8")

    def _ready(self) -> _Response:
        if self.server.web.app.is_ready():
            return _text(HTTPStatus.OK, "Ready\n")
        return _text(HTTPStatus.SERVICE_UNAVAILABLE, "Not ready\n")

    def _reload(self) -> _Response:
        ok, message = self.server.web.app.reload()
        message = message if message.endswith("\n") else message + "\n"
        return _text(HTTPStatus.OK if ok else HTTPStatus.INTERNAL_SERVER_ERROR, message)


def _linger(sock: socket.socket) -> None:
    """Half-close, then read what the client still sends for a moment (as Go does): closing
    with unread input sends RST, and the client would lose the answer just written."""
    deadline = time.monotonic() + _LINGER_SECONDS
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_WR)  # the TCP socket, even under TLS
        sock.settimeout(_LINGER_SECONDS)
        while time.monotonic() < deadline and sock.recv(65536):
            pass


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True  # a stuck client never keeps the process alive
    block_on_close = False
    allow_reuse_address = True  # restart without waiting for TIME_WAIT
    request_queue_size = 1024  # the kernel caps it at net.core.somaxconn

    def __init__(
        self, web: WebServer, address: tuple[Any, ...], family: int, dualstack: bool = False
    ) -> None:
        self.web = web
        self.address_family = socket.AddressFamily(family)
        self._dualstack = dualstack
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        if self._dualstack:  # ':10049' means IPv4 and IPv6, as in Go exporters
            self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        # Skip HTTPServer.server_bind: its socket.getfqdn() is a DNS lookup that can hang.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), self.web_port

    @property
    def web_port(self) -> int:
        return int(self.socket.getsockname()[1])

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self.web._connection_slots.acquire(blocking=False):
            self.web._refuse(client_address)
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)  # starts the connection's thread
        except BaseException:
            self.web._connection_slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.web._connection_slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Not an app error (those are 500s): a client reset, a timeout, a failed handshake.
        logger.debug("connection from %s failed", client_address, exc_info=True)


def _bind(web: WebServer, host: str, port: int) -> _HTTPServer:
    if not host:
        if socket.has_dualstack_ipv6():
            try:
                return _HTTPServer(web, ("::", port), socket.AF_INET6, dualstack=True)
            except OSError as err:  # IPv6 disabled in this container: fall back to IPv4
                if err.errno not in (errno.EAFNOSUPPORT, errno.EADDRNOTAVAIL):
                    raise
        return _HTTPServer(web, ("0.0.0.0", port), socket.AF_INET)
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    # Prefer IPv4 for names that resolve to both (e.g. localhost), like Go does.
    family, _, _, _, sockaddr = min(infos, key=lambda info: info[0] != socket.AF_INET)
    return _HTTPServer(web, sockaddr, family)


@dataclass(frozen=True)
class _Access:
    """A WebConfig with what serving it needs; swapped whole on reload."""

    config: WebConfig
    auth: BasicAuth
    limiter: RateLimiter | None
    headers: Mapping[str, str]

    @classmethod
    def of(cls, config: WebConfig) -> _Access:
        limiter = RateLimiter(config.rate_limit) if config.rate_limit else None
        headers = {"X-Content-Type-Options": "nosniff", **config.headers}
        return cls(config, BasicAuth(config.basic_auth_users), limiter, headers)


class WebServer:
    """Threaded HTTP(S) server for a ``WebApp``. Binds on construction: port errors raise here.

    ``health_unauthenticated`` serves ``GET /-/healthy`` without basic auth, for probes that
    cannot send credentials; TLS and client certificates still apply. Off by default: as in
    exporter-toolkit, basic auth then covers every path.
    """

    def __init__(
        self,
        app: WebApp,
        listen_address: str = ":10049",
        telemetry_path: str = "/metrics",
        *,
        web_config: WebConfig | None = None,
        health_unauthenticated: bool = False,
        connection_timeout: float = 30.0,
        header_timeout: float = 10.0,
        max_connections: int = 512,
    ) -> None:
        if not telemetry_path.startswith("/") or re.search(r"[\s?#]", telemetry_path):
            raise ValueError(f"telemetry path {telemetry_path!r} must be a path like '/metrics'")
        if telemetry_path in ("/", "/-/healthy", "/-/ready", "/-/reload"):
            raise ValueError(f"telemetry path {telemetry_path!r} is used by another endpoint")
        self.app = app
        self.telemetry_path = telemetry_path
        self.health_unauthenticated = health_unauthenticated
        self.connection_timeout = connection_timeout
        self.header_timeout = header_timeout
        self._access = _Access.of(web_config or WebConfig())
        self.max_connections = max_connections
        self._connection_slots = threading.BoundedSemaphore(max_connections)
        self._last_refusal_log = -_REFUSAL_LOG_INTERVAL_SECONDS
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._stopped = threading.Event()
        self._httpd = _bind(self, *parse_listen_address(listen_address))
        self._port = self._httpd.web_port

    @property
    def port(self) -> int:
        return self._port

    @property
    def tls_enabled(self) -> bool:
        return self._access.config.ssl_context is not None

    def reload_config(self, web_config: WebConfig | None) -> None:
        """Use a new web configuration; connections accepted from now on get its TLS settings,
        every request from now on its users, headers and rate limit."""
        self._access = _Access.of(web_config or WebConfig())
        logger.debug("web configuration applied", extra=self._access.config.summary())

    def start(self) -> None:
        """Serve in a daemon thread."""
        with self._lock:
            if self._closed or self._thread is not None:
                raise RuntimeError("web server already started or shut down")
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                args=(_POLL_INTERVAL_SECONDS,),
                name="ses-exporter-web",
                daemon=True,
            )
            self._thread.start()
        host = str(self._httpd.server_address[0])
        address = f"[{host}]:{self._port}" if ":" in host else f"{host}:{self._port}"
        logger.debug(
            "listening on %s, telemetry path %s",
            address,
            self.telemetry_path,
            extra=self._access.config.summary(),
        )

    def serve_forever(self) -> None:
        """Serve until shutdown(); safe to call shutdown() from a signal handler meanwhile."""
        with self._lock:
            started = self._thread is not None
        if not started:
            self.start()
        self._stopped.wait()

    def shutdown(self) -> None:
        """Stop accepting, close the socket and idle connections; in-flight responses finish."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            thread, connections = self._thread, list(self._connections)
        if thread is not None:
            self._httpd.shutdown()  # returns within one poll interval
            thread.join()
        self._httpd.server_close()
        for conn in connections:
            # Wakes a handler blocked reading its next request; a response being written
            # still completes. socket.socket's shutdown: SSLSocket's would drop TLS first.
            with contextlib.suppress(OSError):
                socket.socket.shutdown(conn, socket.SHUT_RD)
        self._stopped.set()

    def _track(self, conn: socket.socket) -> bool:
        with self._lock:
            if not self._closed:
                self._connections.add(conn)
            return not self._closed

    def _untrack(self, conn: socket.socket) -> None:
        with self._lock:
            self._connections.discard(conn)

    def _refuse(self, client_address: Any) -> None:
        now = time.monotonic()
        if now - self._last_refusal_log >= _REFUSAL_LOG_INTERVAL_SECONDS:
            self._last_refusal_log = now
            logger.warning(
                "too many connections, closing new ones",
                extra={"client": str(client_address[0]), "max_connections": self.max_connections},
            )

    # --- what the web configuration changes ----------------------------------------------

    def _wrap_socket(self, sock: socket.socket) -> socket.socket:
        """Per accepted connection, in its own thread (a slow TLS handshake blocks no one)."""
        config = self._access.config
        if config.ssl_context is None:
            return sock
        deadline = time.monotonic() + self.header_timeout
        sock.settimeout(self.header_timeout)
        first = sock.recv(1, socket.MSG_PEEK)
        if first != _TLS_HANDSHAKE:
            if first.isalpha():  # a request line: say why instead of a handshake error
                with contextlib.suppress(OSError):
                    sock.sendall(_HTTP_ON_TLS_PORT)
                    _linger(sock)
            raise ConnectionAbortedError("not a TLS handshake")
        tls = config.ssl_context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        try:
            # do_handshake treats the timeout as a deadline for the whole handshake.
            tls.settimeout(max(deadline - time.monotonic(), 0.001))
            tls.do_handshake()
            allowed = config.client_allowed_sans
            if allowed is not None and not peer_sans(tls.getpeercert() or {}) & allowed:
                raise PermissionError("client certificate has none of client_allowed_sans")
        except BaseException:
            tls.close()
            raise
        return tls

    def _authorize(self, handler: BaseHTTPRequestHandler) -> bool:
        """Called before routing every request; False answers 401."""
        access = self._access
        if not access.auth.enabled:
            return True
        if (
            self.health_unauthenticated
            and handler.command in _READ_ONLY
            and getattr(handler, "target", "").split("?", 1)[0] == "/-/healthy"
        ):
            return True
        return access.auth.check(handler.headers.get("Authorization"))

    def _rate_limit_allows(self) -> bool:
        limiter = self._access.limiter
        return limiter is None or limiter.allow()

    def _response_headers(self) -> Mapping[str, str]:
        """Headers added to every response, errors included."""
        return self._access.headers
