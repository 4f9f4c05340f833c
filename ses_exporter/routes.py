"""What each path answers: /metrics, the landing page, /-/healthy, /-/ready and /-/reload.

Every endpoint reads what the daemon (a ``WebApp``) already holds, so a scrape stays fast
whatever AWS does. Before routing, a request passes the rate limit and basic auth of the
web configuration in force (an ``Access``).
"""

from __future__ import annotations

import gzip
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Protocol

from .access import BasicAuth, RateLimiter
from .httpserver import Request, Response, text
from .landing import TargetRow, render_landing_page
from .webconfig import WebConfig

logger = logging.getLogger("ses_exporter.web")  # one logger for the whole web front end

_SERVED_METHODS = ("GET", "HEAD", "POST")
_READ_ONLY = ("GET", "HEAD")


class WebApp(Protocol):
    """What the HTTP server needs from the daemon."""

    @property
    def version(self) -> str: ...

    def render_metrics(self, accept_header: str | None) -> tuple[bytes, str]: ...

    def is_ready(self) -> bool: ...

    def target_rows(self) -> Sequence[TargetRow]: ...

    def reload(self) -> tuple[bool, str]: ...


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


class Router:
    """The routing half of ``web.WebServer``, which sets these attributes."""

    app: WebApp
    telemetry_path: str
    health_unauthenticated: bool
    _access: Access

    def respond(self, request: Request) -> Response:
        if not self._rate_limit_allows():
            return text(HTTPStatus.TOO_MANY_REQUESTS, "Too Many Requests\n")
        if not self._authorize(request):
            return text(HTTPStatus.UNAUTHORIZED, "Unauthorized\n", ("WWW-Authenticate", "Basic"))
        path = request.target.split("?", 1)[0]  # exact match only: no normalisation
        routes: dict[str, tuple[tuple[str, ...], Callable[[], Response]]] = {
            self.telemetry_path: (_READ_ONLY, lambda: self._metrics(request)),
            "/": (_READ_ONLY, self._landing),
            "/-/healthy": (_READ_ONLY, lambda: text(HTTPStatus.OK, "Healthy\n")),
            "/-/ready": (_READ_ONLY, self._ready),
            "/-/reload": (("POST",), self._reload),
        }
        allowed, endpoint = routes.get(path, (_SERVED_METHODS, None))
        if endpoint is None and request.command in _SERVED_METHODS:
            return text(HTTPStatus.NOT_FOUND, "404 page not found\n")
        if endpoint is None or request.command not in allowed:
            message = f"405 Method Not Allowed: use {' or '.join(allowed)}\n"
            return text(HTTPStatus.METHOD_NOT_ALLOWED, message, ("Allow", ", ".join(allowed)))
        try:
            return endpoint()
        except Exception:
            logger.exception("serving %s %s failed", request.command, path)
            message = f"500 Internal Server Error: could not serve {path}, see the exporter log\n"
            return text(HTTPStatus.INTERNAL_SERVER_ERROR, message)

    def response_headers(self) -> Mapping[str, str]:
        return self._response_headers()

    # _authorize and _response_headers are hooks: subclasses may override them.

    def _response_headers(self) -> Mapping[str, str]:
        """Headers added to every response, errors included."""
        return self._access.headers

    def _authorize(self, request: Request) -> bool:
        """Called before routing every request (with its method, target and headers);
        False answers 401."""
        access = self._access
        if not access.auth.enabled:
            return True
        if (
            self.health_unauthenticated
            and request.command in _READ_ONLY
            and request.target.split("?", 1)[0] == "/-/healthy"
        ):
            return True
        return access.auth.check(request.headers.get("Authorization"))

    def _rate_limit_allows(self) -> bool:
        limiter = self._access.limiter
        return limiter is None or limiter.allow()

    def _metrics(self, request: Request) -> Response:
        body, content_type = self.app.render_metrics(request.headers.get("Accept"))
        headers: tuple[tuple[str, str], ...] = (("Vary", "Accept-Encoding"),)
        if accepts_gzip(request.headers.get("Accept-Encoding")):
            body = gzip.compress(body, compresslevel=6, mtime=0)
            headers += (("Content-Encoding", "gzip"),)
        return Response(HTTPStatus.OK, body, content_type, headers)

    def _landing(self) -> Response:
        page = render_landing_page(
            self.app.version, self.telemetry_path, self.app.target_rows(), time.time()
        )
        return Response(HTTPStatus.OK, page.encode(), "text/html; charset=utf-8")

    def _ready(self) -> Response:
        if self.app.is_ready():
            return text(HTTPStatus.OK, "Ready\n")
        return text(HTTPStatus.SERVICE_UNAVAILABLE, "Not ready\n")

    def _reload(self) -> Response:
        ok, message = self.app.reload()
        message = message if message.endswith("\n") else message + "\n"
        return text(HTTPStatus.OK if ok else HTTPStatus.INTERNAL_SERVER_ERROR, message)
