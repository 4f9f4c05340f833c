"""HTTP front end: /metrics, the pages, /status, /-/healthy, /-/ready and /-/reload.

Standard library only (``http.server``, ``ssl``). The server never calls AWS: every endpoint
reads what the daemon (a ``WebApp``) already holds, so a scrape stays fast whatever AWS does.

``WebServer`` is the one entry point; the modules behind it:

- ``server``: the listening socket, connections, their limits and TLS (no routes);
- ``app``: what each path answers, the ``/status`` page, the pages' Content-Security-Policy,
  basic auth and rate limit per request (the pages themselves are the daemon's);
- ``auth``: basic auth against bcrypt hashes, the rate limiter;
- ``config``: the web configuration file (``--web.config.file``) and ``WebConfig``;
- ``tls``: ``tls_server_config`` as an ``ssl.SSLContext``, certificates, client SANs.

Imports go one way: ``config`` knows ``auth`` and ``tls`` (``tls`` names ``config``'s
``TLSServerConfig`` for the type checker only); ``server`` knows ``config`` and ``tls``;
``app`` knows ``server``, ``auth`` and ``config``. Nothing here knows the daemon beyond the
``WebApp`` protocol and the store's ``PollStatus``; ``reload`` and ``cli`` sit above both.
"""

from __future__ import annotations

from .app import App, Reload, WebApp
from .config import WebConfig, WebConfigError, load_web_config, parse_web_config
from .server import Server, log, parse_listen_address

__all__ = [
    "WebApp",
    "WebConfig",
    "WebConfigError",
    "WebServer",
    "load_web_config",
    "parse_listen_address",
    "parse_web_config",
]


def _no_reload() -> tuple[bool, str]:
    return False, "reload is not available"


class WebServer:
    """Threaded HTTP(S) server for a ``WebApp``. Binds on construction: port errors raise here.

    `reload` answers ``POST /-/reload``. The web configuration is swapped whole by
    ``reload_config``; connections accepted afterwards use its TLS settings, every request
    its users, headers and rate limit.
    """

    def __init__(
        self,
        app: WebApp,
        listen_address: str = ":10049",
        telemetry_path: str = "/metrics",
        *,
        web_config: WebConfig | None = None,
        reload: Reload = _no_reload,
        health_unauthenticated: bool = False,
        connection_timeout: float = 30.0,
        header_timeout: float = 10.0,
        max_connections: int = 512,
    ) -> None:
        config = web_config or WebConfig()
        self._app = App(app, telemetry_path, config, reload, health_unauthenticated)
        self._server = Server(
            self._app,
            listen_address,
            f"ses-exporter/{app.version}",
            connection_timeout=connection_timeout,
            header_timeout=header_timeout,
            max_connections=max_connections,
        )

    @property
    def port(self) -> int:
        return self._server.port

    @property
    def tls_enabled(self) -> bool:
        return self._app.web_config().ssl_context is not None

    def reload_config(self, web_config: WebConfig | None) -> None:
        self._app.reload_config(web_config or WebConfig())
        log.debug("web configuration applied", extra=self._app.web_config().summary())

    def start(self) -> None:
        """Serve in a daemon thread."""
        self._server.start()
        log.debug(
            "listening on %s, telemetry path %s",
            self._server.address,
            self._app.telemetry_path,
            extra=self._app.web_config().summary(),
        )

    def shutdown(self) -> None:
        """Stop accepting, close the socket and idle connections; in-flight responses finish."""
        self._server.shutdown()
