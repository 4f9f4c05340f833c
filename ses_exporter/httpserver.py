"""The listening socket and its connections: binding, the connection cap, TLS, shutdown.

One thread per connection, which costs next to nothing while it waits; at most
``max_connections`` at once, beyond that a new connection is closed at once. The TLS
handshake runs in the connection's thread against ``header_timeout``, so a slow one blocks
no one. What is served is asked of a ``Site`` (``web.WebServer``), one ``Request`` at a time,
by the handler (``httphandler.RequestHandler``).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import socket
import socketserver
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

from .tls import peer_sans
from .webconfig import WebConfig

logger = logging.getLogger("ses_exporter.web")  # one logger for the whole web front end

TEXT = "text/plain; charset=utf-8"
TLS_HANDSHAKE = b"\x16"  # the first byte of every TLS connection
_LINGER_SECONDS = 0.5
_REFUSAL_LOG_INTERVAL_SECONDS = 60.0
# What Go's net/http answers to plain HTTP on a TLS port.
_HTTP_ON_TLS_PORT = (
    b"HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"Connection: close\r\n\r\nClient sent an HTTP request to an HTTPS server.\n"
)


@dataclass(frozen=True)
class Request:
    command: str
    target: str  # the raw request target: http.server rewrites its path (//x -> /x)
    headers: Message


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    content_type: str = TEXT
    headers: tuple[tuple[str, str], ...] = ()


def text(status: int, message: str, *headers: tuple[str, str]) -> Response:
    return Response(status, message.encode(), TEXT, headers)


class Site(Protocol):
    """What the connections ask the application, afresh for each connection or request."""

    connection_timeout: float  # for an idle keep-alive connection
    header_timeout: float  # for the TLS handshake and each request's line and headers

    def web_config(self) -> WebConfig: ...

    def server_version(self) -> str: ...

    def response_headers(self) -> Mapping[str, str]:
        """Headers added to every response, errors included."""
        ...

    def respond(self, request: Request) -> Response: ...


def linger(sock: socket.socket) -> None:
    """Half-close, then read what the client still sends for a moment (as Go does): closing
    with unread input sends RST, and the client would lose the answer just written."""
    deadline = time.monotonic() + _LINGER_SECONDS
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_WR)  # the TCP socket, even under TLS
        sock.settimeout(_LINGER_SECONDS)
        while time.monotonic() < deadline and sock.recv(65536):
            pass


def wrap_tls(sock: socket.socket, config: WebConfig, timeout: float) -> socket.socket:
    """The accepted socket as the web configuration wants it: plain, or TLS after a handshake
    that completes within `timeout` and, if configured, names an allowed client SAN."""
    if config.ssl_context is None:
        return sock
    deadline = time.monotonic() + timeout
    sock.settimeout(timeout)
    first = sock.recv(1, socket.MSG_PEEK)
    if first != TLS_HANDSHAKE:
        if first.isalpha():  # a request line: say why instead of a handshake error
            with contextlib.suppress(OSError):
                sock.sendall(_HTTP_ON_TLS_PORT)
                linger(sock)
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


class HTTPServer(ThreadingHTTPServer):
    """Serves a ``Site`` with `handler`; counts, caps and tracks the open connections."""

    daemon_threads = True  # a stuck client never keeps the process alive
    block_on_close = False
    allow_reuse_address = True  # restart without waiting for TIME_WAIT
    request_queue_size = 1024  # the kernel caps it at net.core.somaxconn

    def __init__(
        self,
        site: Site,
        handler: type[BaseHTTPRequestHandler],
        max_connections: int,
        address: tuple[Any, ...],
        family: int,
        dualstack: bool = False,
    ) -> None:
        self.site = site
        self.max_connections = max_connections
        self._connection_slots = threading.BoundedSemaphore(max_connections)
        self._last_refusal_log = -_REFUSAL_LOG_INTERVAL_SECONDS
        self._connections_lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._tracking = True
        self.address_family = socket.AddressFamily(family)
        self._dualstack = dualstack
        super().__init__(address, handler)

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
        if not self._connection_slots.acquire(blocking=False):
            self._refuse(client_address)
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)  # starts the connection's thread
        except BaseException:
            self._connection_slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._connection_slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Not an app error (those are 500s): a client reset, a timeout, a failed handshake.
        logger.debug("connection from %s failed", client_address, exc_info=True)

    def _refuse(self, client_address: Any) -> None:
        now = time.monotonic()
        if now - self._last_refusal_log >= _REFUSAL_LOG_INTERVAL_SECONDS:
            self._last_refusal_log = now
            logger.warning(
                "too many connections, closing new ones",
                extra={"client": str(client_address[0]), "max_connections": self.max_connections},
            )

    def track(self, conn: socket.socket) -> bool:
        """Note an open connection; False once stop_tracking() ran: do not serve it then."""
        with self._connections_lock:
            if self._tracking:
                self._connections.add(conn)
            return self._tracking

    def untrack(self, conn: socket.socket) -> None:
        with self._connections_lock:
            self._connections.discard(conn)

    def stop_tracking(self) -> list[socket.socket]:
        """The connections open now; connections set up from now on are not served."""
        with self._connections_lock:
            self._tracking = False
            return list(self._connections)


def bind(
    site: Site, handler: type[BaseHTTPRequestHandler], max_connections: int, host: str, port: int
) -> HTTPServer:
    """A bound HTTPServer; an empty host means every interface, IPv6 too where there is IPv6."""
    server = (site, handler, max_connections)
    if not host:
        if socket.has_dualstack_ipv6():
            try:
                return HTTPServer(*server, ("::", port), socket.AF_INET6, dualstack=True)
            except OSError as err:  # IPv6 disabled in this container: fall back to IPv4
                if err.errno not in (errno.EAFNOSUPPORT, errno.EADDRNOTAVAIL):
                    raise
        return HTTPServer(*server, ("0.0.0.0", port), socket.AF_INET)
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    # Prefer IPv4 for names that resolve to both (e.g. localhost), like Go does.
    family, _, _, _, sockaddr = min(infos, key=lambda info: info[0] != socket.AF_INET)
    return HTTPServer(*server, sockaddr, family)
