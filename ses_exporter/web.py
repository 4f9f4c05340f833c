"""HTTP front end: /metrics, the landing page, /-/healthy, /-/ready and /-/reload.

Standard library only (``http.server``, ``ssl``). The server never calls AWS: every endpoint
reads what the daemon (a ``WebApp``) already holds, so a scrape stays fast whatever AWS does.

One thread per connection, with three limits so that slow or idle clients cannot crowd out
a scrape: ``max_connections``, ``header_timeout`` and ``connection_timeout``. The parts:
``httpserver`` (the socket, the connection cap, TLS), ``httphandler`` (reading requests
against the clock), ``routes`` (what each path answers) and, here, ``WebServer`` (the whole).

The web configuration (``webconfig.WebConfig``: TLS, basic auth, headers, rate limit) is
swapped whole by ``reload_config``; connections accepted afterwards use the new one.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import re
import socket
import threading

from .httphandler import RequestHandler
from .httpserver import bind
from .routes import Access, Router, WebApp
from .webconfig import WebConfig

__all__ = ["WebApp", "WebServer", "parse_listen_address"]

logger = logging.getLogger("ses_exporter.web")

_POLL_INTERVAL_SECONDS = 0.25  # bounds how long shutdown() waits for the accept loop
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


class WebServer(Router):
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
        self._access = Access.of(web_config or WebConfig())
        self.max_connections = max_connections
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._stopped = threading.Event()
        host, port = parse_listen_address(listen_address)
        self._httpd = bind(self, RequestHandler, max_connections, host, port)
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
        self._access = Access.of(web_config or WebConfig())
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
            thread, connections = self._thread, self._httpd.stop_tracking()
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

    # --- what httpserver.Site asks (routes.Router answers the rest) ----------------------

    def web_config(self) -> WebConfig:
        """The configuration in force; read once per accepted connection for its TLS."""
        return self._access.config

    def server_version(self) -> str:
        return f"ses-exporter/{self.app.version}"
