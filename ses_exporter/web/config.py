"""The web configuration file (``--web.config.file``), in the Prometheus exporter-toolkit format.

Keys and meanings follow exporter-toolkit's docs/web-configuration.md; a file that
``promtool check web-config`` accepts is read the same way here::

    tls_server_config:
      cert_file: server.crt                # relative paths: from this file's directory
      key_file: server.key
      client_auth_type: RequireAndVerifyClientCert
      client_ca_file: ca.crt
    basic_auth_users:
      prometheus: $2y$10$X0h1gDsPszWURQaxFh.zoubFi6DXncSjhoQNJgRrnGs7EsimhC7zG
    http_server_config:
      headers: {X-Frame-Options: deny}

What Python's ``ssl`` module or this HTTP/1.1 server cannot do is refused with the reason,
never silently dropped: ``curve_preferences``, ``http2: true``, TLS 1.0/1.1 and the two client
auth types that accept unverified certificates. Certificates are read when the file is loaded,
so a reload picks up renewed ones. Errors never show a password hash or a private key: a
"hash" may well be a plaintext password typed into the wrong place.

Here: the keys and their types (pydantic models), what they mean, and ``WebConfig``, what the
server runs with. ``tls`` turns ``tls_server_config`` into an SSLContext; ``auth`` checks basic
auth and the rate limit.
"""

from __future__ import annotations

import os
import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    model_validator,
)

from ..config import ConfigError
from ..config_types import parse_duration
from ..yaml_loader import (
    Problem,
    describe,
    explain_errors,
    format_path,
    load_yaml,
    problems_error,
    read_text_file,
)
from .auth import RateLimit
from .tls import client_auth_type, normalised_sans, server_context

# --- the keys and their types -------------------------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _null_is_unset(cls, data: Any) -> Any:
        """`key:` with no value means the default, as in Go's YAML decoding."""
        if isinstance(data, dict):
            return {key: value for key, value in data.items() if value is not None}
        return data


def _users(value: object) -> object:
    """user -> bcrypt hash. Problems name the user, never the value."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValueError(
            f"expected a mapping of user names to bcrypt hashes, got {describe(value)}"
        )
    problems: list[Problem] = []
    for user, hashed in value.items():
        if not isinstance(user, str):
            problems.append(((str(user),), "user names must be strings"))
        elif ":" in user:
            problems.append(((user,), "user names cannot contain ':' (Basic auth splits there)"))
        elif not isinstance(hashed, str) or not _BCRYPT_HASH.fullmatch(hashed):
            problems.append(((user,), _NOT_A_HASH))
    if problems:
        raise problems_error(problems)
    return dict(value)


_BCRYPT_HASH = re.compile(r"\$2[abxy]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}")
_NOT_A_HASH = (
    "not a bcrypt hash (value not shown); expected '$2y$10$' and 53 more characters, "
    "e.g. from: htpasswd -nBC 10 \"\" | tr -d ':\\n'"
)


class TLSServerConfig(_Model):
    cert: StrictStr = ""
    key: StrictStr = ""
    client_ca: StrictStr = ""
    cert_file: StrictStr = ""
    key_file: StrictStr = ""
    client_auth_type: StrictStr = ""
    client_ca_file: StrictStr = ""
    client_allowed_sans: list[StrictStr] | None = None
    min_version: StrictStr = "TLS12"
    max_version: StrictStr = "TLS13"
    cipher_suites: list[StrictStr] = []
    prefer_server_cipher_suites: StrictBool = True
    curve_preferences: list[StrictStr] = []


class HTTPServerConfig(_Model):
    http2: StrictBool | None = None
    headers: dict[str, StrictStr] = {}


class RateLimitConfig(_Model):
    interval: Any = 0
    burst: StrictInt = 0


class WebConfigFile(_Model):
    tls_server_config: TLSServerConfig = TLSServerConfig()
    http_server_config: HTTPServerConfig = HTTPServerConfig()
    rate_limit: RateLimitConfig | None = None
    basic_auth_users: Annotated[dict[str, str], BeforeValidator(_users)] = {}


# --- what the server runs with ---------------------------------------------------------------


class WebConfigError(ConfigError):
    """An invalid web configuration; `errors` holds one "key.path: message" per problem."""


@dataclass(frozen=True)
class WebConfig:
    """What the web server needs; ``WebConfig()`` is plain HTTP without authentication."""

    ssl_context: ssl.SSLContext | None = None
    client_allowed_sans: frozenset[str] | None = None
    basic_auth_users: Mapping[str, bytes] = field(default_factory=dict, repr=False)
    headers: Mapping[str, str] = field(default_factory=dict)
    rate_limit: RateLimit | None = None

    def summary(self) -> dict[str, object]:
        """Log fields: what is switched on, never a secret."""
        tls = self.ssl_context
        return {
            "tls": tls is not None,
            "client_certificates": client_auth_type(tls) if tls else "",
            "basic_auth_users": len(self.basic_auth_users),
        }


def load_web_config(path: str | os.PathLike[str]) -> WebConfig:
    """Read and validate the file and the certificates it names; raises WebConfigError."""
    try:
        text = read_text_file(path)
    except ValueError as exc:
        raise WebConfigError([str(exc)]) from None
    return parse_web_config(text, os.fspath(path), Path(path).parent)


def parse_web_config(text: str, source: str = "<web config>", base_dir: Path = Path()) -> WebConfig:
    """Validate YAML text; relative file names are resolved against `base_dir`."""
    try:
        data = load_yaml(text, source)
    except ValueError as exc:
        raise WebConfigError([str(exc)]) from None
    if data is None:  # an empty file is valid: plain HTTP, no authentication
        return WebConfig()
    if not isinstance(data, dict):
        raise WebConfigError([f"{source}: expected a mapping, got {describe(data)}"])
    errors: list[str] = []
    try:
        model = WebConfigFile.model_validate(data)
    except ValidationError as exc:
        # Check the sections that are fine as well, so that every problem is reported at once.
        errors = explain_errors(exc, WebConfigFile)
        broken = {error["loc"][0] for error in exc.errors() if error["loc"]}
        model = WebConfigFile.model_validate(
            {key: value for key, value in data.items() if key not in broken}
        )
    ssl_context, problems = server_context(model.tls_server_config, base_dir)
    headers = _headers(model.http_server_config, problems)
    rate_limit = _rate_limit(model.rate_limit, problems)
    errors += [f"{format_path(loc)}: {message}" for loc, message in problems]
    if errors:
        raise WebConfigError(errors)
    tls = model.tls_server_config
    return WebConfig(
        ssl_context=ssl_context,
        client_allowed_sans=normalised_sans(tls.client_allowed_sans),
        basic_auth_users={user: h.encode() for user, h in model.basic_auth_users.items()},
        headers=headers,
        rate_limit=rate_limit,
    )


# --- http_server_config and rate_limit -----------------------------------------------------

# exporter-toolkit allows exactly these, with these values where it lists any.
_ALLOWED_HEADERS: dict[str, tuple[str, ...]] = {
    "Content-Security-Policy": (),
    "Strict-Transport-Security": (),
    "X-Content-Type-Options": ("nosniff",),
    "X-Frame-Options": ("deny", "sameorigin"),
    "X-XSS-Protection": (),
}
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def _headers(http: HTTPServerConfig, problems: list[Problem]) -> dict[str, str]:
    where = ("http_server_config",)
    if http.http2:
        message = "ses-exporter serves HTTP/1.1 only; set http2: false or remove the key"
        problems.append(((*where, "http2"), message))
    for name, value in http.headers.items():
        loc = (*where, "headers", name)
        allowed = _ALLOWED_HEADERS.get(name)
        if allowed is None:
            names = ", ".join(_ALLOWED_HEADERS)
            problems.append((loc, f"this header cannot be configured (allowed: {names})"))
        elif allowed and value not in allowed:
            expected = " or ".join(repr(v) for v in allowed)
            problems.append((loc, f"expected {expected}, got {describe(value)}"))
        elif _CONTROL_CHARACTERS.search(value):
            problems.append((loc, "must not contain line breaks or control characters"))
    # "Unset if blank", as exporter-toolkit documents.
    return {name: value for name, value in http.headers.items() if value}


def _rate_limit(config: RateLimitConfig | None, problems: list[Problem]) -> RateLimit | None:
    if config is None:
        return None
    interval: float | None = None
    if config.interval in (0, "0"):
        interval = 0.0
    else:
        try:
            interval = parse_duration(config.interval)
        except ValueError as exc:
            problems.append((("rate_limit", "interval"), str(exc)))
    if interval is not None and interval < 0:
        problems.append((("rate_limit", "interval"), "must not be negative"))
    if interval and config.burst < 1:
        problems.append((("rate_limit", "burst"), "must be at least 1 (0 refuses every request)"))
    if not interval or interval < 0 or config.burst < 1:
        return None  # interval 0 switches the limiter off, as in exporter-toolkit
    return RateLimit(interval, config.burst)
