"""What each path answers: /metrics, the pages, /status, /-/healthy, /-/ready and /-/reload.

Every endpoint reads what the daemon (a ``WebApp``) already holds, so a scrape stays fast
whatever AWS does. The pages (``/``, ``/targets/...``, ``/static/...``) are the daemon's
to render (``WebApp.page``); this module routes them and gives every HTML page a strict
Content-Security-Policy: no script at all, styles and images from the exporter only.
Before routing, a request passes the rate limit and basic auth of the web configuration
in force (an ``Access``, swapped whole by ``App.reload_config``).
"""

from __future__ import annotations

import html
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Protocol

from ..store import PollStatus, ResultStore
from .auth import BasicAuth, RateLimiter
from .config import WebConfig
from .server import Request, Response, log, text

_SERVED_METHODS = ("GET", "HEAD", "POST")
_READ_ONLY = ("GET", "HEAD")
_ENDPOINTS = ("/", "/status", "/-/healthy", "/-/ready", "/-/reload")
_PAGE_PREFIXES = ("/targets/", "/static/")  # and "/": the paths WebApp.page answers
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'none'; style-src 'self'; img-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
PAGE_HEADERS = (
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("Referrer-Policy", "no-referrer"),
    ("Cache-Control", "no-store"),
)


class WebApp(Protocol):
    """What the web front end reads from the daemon."""

    @property
    def version(self) -> str: ...

    @property
    def store(self) -> ResultStore: ...

    def render_metrics(self, accept_header: str | None, gzip: bool = False) -> tuple[bytes, str]:
        """The body for this Accept header and its content type; with ``gzip``, the body
        gzip-compressed (the app can reuse what did not change since the last scrape)."""
        ...

    def is_ready(self) -> bool: ...

    def page(self, path: str, query: str) -> tuple[int, str, bytes] | None:
        """(HTTP status, content type, body) of one of the pages (``/``, ``/targets/...``,
        ``/static/...``; ``query``: the raw query string), or None if ``path`` is none."""
        ...


Reload = Callable[[], tuple[bool, str]]  # (ok, message), as /-/reload answers them


@dataclass(frozen=True)
class Access:
    """A WebConfig with what serving it needs; swapped whole on reload."""

    config: WebConfig
    auth: BasicAuth
    limiter: RateLimiter | None
    headers: Mapping[str, str]

    @classmethod
    def of(cls, config: WebConfig) -> Access:
        limiter = RateLimiter(config.rate_limit) if config.rate_limit else None
        headers = {"X-Content-Type-Options": "nosniff", **config.headers}
        return cls(config, BasicAuth(config.basic_auth_users), limiter, headers)


class App:
    """Answers requests for a ``WebApp`` (a ``server.Site``).

    ``health_unauthenticated`` serves ``GET /-/healthy`` without basic auth, for probes that
    cannot send credentials; TLS and client certificates still apply. Off by default: as in
    exporter-toolkit, basic auth then covers every path.
    """

    def __init__(
        self,
        app: WebApp,
        telemetry_path: str,
        web_config: WebConfig,
        reload: Reload,
        health_unauthenticated: bool,
    ) -> None:
        if not telemetry_path.startswith("/") or re.search(r"[\s?#]", telemetry_path):
            raise ValueError(f"telemetry path {telemetry_path!r} must be a path like '/metrics'")
        if telemetry_path in _ENDPOINTS or telemetry_path.startswith(_PAGE_PREFIXES):
            raise ValueError(f"telemetry path {telemetry_path!r} is used by another endpoint")
        self.app = app
        self.telemetry_path = telemetry_path
        self._reload = reload
        self._health_unauthenticated = health_unauthenticated
        self._access = Access.of(web_config)

    def reload_config(self, web_config: WebConfig) -> None:
        """Every request from now on gets its users, headers and rate limit; every connection
        accepted from now on its TLS settings."""
        self._access = Access.of(web_config)

    # --- server.Site ---------------------------------------------------------------------

    def web_config(self) -> WebConfig:
        return self._access.config

    def response_headers(self) -> Mapping[str, str]:
        return self._access.headers

    def respond(self, request: Request) -> Response:
        access = self._access
        if access.limiter is not None and not access.limiter.allow():
            return text(HTTPStatus.TOO_MANY_REQUESTS, "Too Many Requests\n")
        path, _, query = request.target.partition("?")  # exact match only: no normalisation
        if not self._authorized(access, request, path):
            return text(HTTPStatus.UNAUTHORIZED, "Unauthorized\n", ("WWW-Authenticate", "Basic"))
        routes: dict[str, tuple[tuple[str, ...], Callable[[], Response]]] = {
            self.telemetry_path: (_READ_ONLY, lambda: self._metrics(request)),
            "/status": (_READ_ONLY, self._status),
            "/-/healthy": (_READ_ONLY, lambda: text(HTTPStatus.OK, "Healthy\n")),
            "/-/ready": (_READ_ONLY, self._ready),
            "/-/reload": (("POST",), self._reload_endpoint),
        }
        allowed, endpoint = routes.get(path, (_SERVED_METHODS, None))
        if endpoint is None and (path == "/" or path.startswith(_PAGE_PREFIXES)):
            allowed, endpoint = _READ_ONLY, lambda: self._page(path, query)
        if endpoint is None and request.command in _SERVED_METHODS:
            return text(HTTPStatus.NOT_FOUND, "404 page not found\n")
        if endpoint is None or request.command not in allowed:
            message = f"405 Method Not Allowed: use {' or '.join(allowed)}\n"
            return text(HTTPStatus.METHOD_NOT_ALLOWED, message, ("Allow", ", ".join(allowed)))
        try:
            return endpoint()
        except Exception:
            log.exception("serving %s %s failed", request.command, path)
            message = f"500 Internal Server Error: could not serve {path}, see the exporter log\n"
            return text(HTTPStatus.INTERNAL_SERVER_ERROR, message)

    # --- the endpoints -------------------------------------------------------------------

    def _authorized(self, access: Access, request: Request, path: str) -> bool:
        if not access.auth.enabled:
            return True
        if self._health_unauthenticated and request.command in _READ_ONLY and path == "/-/healthy":
            return True
        return access.auth.check(request.headers.get("Authorization"))

    def _metrics(self, request: Request) -> Response:
        compress = accepts_gzip(request.headers.get("Accept-Encoding"))
        body, content_type = self.app.render_metrics(request.headers.get("Accept"), compress)
        headers: tuple[tuple[str, str], ...] = (("Vary", "Accept-Encoding"),)
        if compress:
            headers += (("Content-Encoding", "gzip"),)
        return Response(HTTPStatus.OK, body, content_type, headers)

    def _status(self) -> Response:
        page = render_landing_page(
            self.app.version, self.telemetry_path, self.app.store.statuses(), time.time()
        )
        return Response(HTTPStatus.OK, page.encode(), "text/html; charset=utf-8", PAGE_HEADERS)

    def _page(self, path: str, query: str) -> Response:
        answer = self.app.page(path, query)
        if answer is None:
            return text(HTTPStatus.NOT_FOUND, "404 page not found\n")
        status, content_type, body = answer
        return Response(status, body, content_type, PAGE_HEADERS)

    def _ready(self) -> Response:
        if self.app.is_ready():
            return text(HTTPStatus.OK, "Ready\n")
        return text(HTTPStatus.SERVICE_UNAVAILABLE, "Not ready\n")

    def _reload_endpoint(self) -> Response:
        ok, message = self._reload()
        message = message if message.endswith("\n") else message + "\n"
        return text(HTTPStatus.OK if ok else HTTPStatus.INTERNAL_SERVER_ERROR, message)


def accepts_gzip(accept_encoding: str | None) -> bool:
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


def render_landing_page(
    version: str, telemetry_path: str, statuses: Iterable[PollStatus], now: float
) -> str:
    """The ``/status`` page (diagnostics): version, links, and a table of targets x
    collectors, one row per ``PollStatus``. Every value is escaped: errors can quote
    whatever AWS sent back."""
    esc = html.escape
    links = [
        ("/", "Every account and region"),
        (telemetry_path, "Metrics"),
        ("/-/healthy", "Health"),
        ("/-/ready", "Readiness"),
    ]
    # Relative links keep working behind a reverse proxy that adds a path prefix.
    items = "".join(f'<li><a href=".{esc(p)}">{esc(t)}</a> ({esc(p)})</li>' for p, t in links)
    cells = []
    for row in sorted(statuses, key=lambda s: (s.account_id, s.region)):
        status = "pending" if row.success is None else "ok" if row.success else "failed"
        when = age = "never"
        if row.last_success is not None:
            when = datetime.fromtimestamp(row.last_success, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            age = f"{max(now - row.last_success, 0):.0f}"
        values = (row.account_id, row.region, row.collector, status, when, age)
        tds = "".join(f"<td>{esc(v)}</td>" for v in values)
        cells.append(f'<tr class="{status}">{tds}<td>{esc(row.last_error or "")}</td></tr>')
    table = (
        "<table><tr><th>Account</th><th>Region</th><th>Collector</th><th>Status</th>"
        "<th>Last success (UTC)</th><th>Age (s)</th><th>Last error</th></tr>"
        + "".join(cells)
        + "</table>"
        if cells
        else "<p>No targets configured.</p>"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>SES Exporter</title>'
        '<link rel="stylesheet" href="./static/pages.css"></head>\n'
        f"<body><main><h1>SES Exporter: diagnostics</h1><p>Version: {esc(version)}</p>"
        f"<ul>{items}</ul>\n"
        f"<h2>Targets</h2>{table}\n</main></body></html>\n"
    )
