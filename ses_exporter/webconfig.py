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
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import os
import re
import secrets
import ssl
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import bcrypt
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    StrictBool,
    StrictInt,
    StrictStr,
    model_validator,
)
from pydantic import ValidationError as _ValidationError

from .config import ConfigError
from .config_types import (
    Problem,
    describe,
    explain_errors,
    format_path,
    load_yaml,
    parse_duration,
    problems_error,
)

__all__ = ["BasicAuth", "RateLimit", "RateLimiter", "WebConfig", "WebConfigError"]


class WebConfigError(ConfigError):
    """An invalid web configuration; `errors` holds one "key.path: message" per problem."""


@dataclass(frozen=True)
class RateLimit:
    interval: float  # seconds between two requests, once the burst is used up
    burst: int


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
            "client_certificates": _AUTH_NAMES.get(tls.verify_mode, "") if tls else "",
            "basic_auth_users": len(self.basic_auth_users),
        }


# --- the file, as pydantic models: types and unknown keys --------------------------------


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


class _TLSServerConfig(_Model):
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


class _HTTPServerConfig(_Model):
    http2: StrictBool | None = None
    headers: dict[str, StrictStr] = {}


class _RateLimitConfig(_Model):
    interval: Any = 0
    burst: StrictInt = 0


class _WebConfigFile(_Model):
    tls_server_config: _TLSServerConfig = _TLSServerConfig()
    http_server_config: _HTTPServerConfig = _HTTPServerConfig()
    rate_limit: _RateLimitConfig | None = None
    basic_auth_users: Annotated[dict[str, str], BeforeValidator(_users)] = {}


def load_web_config(path: str | os.PathLike[str]) -> WebConfig:
    """Read and validate the file and the certificates it names; raises WebConfigError."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise WebConfigError([f"cannot read {os.fspath(path)}: {exc.strerror or exc}"]) from None
    except UnicodeDecodeError as exc:
        message = f"cannot read {os.fspath(path)}: not UTF-8 text ({exc.reason})"
        raise WebConfigError([message]) from None
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
        model = _WebConfigFile.model_validate(data)
    except _ValidationError as exc:
        # Check the sections that are fine as well, so that every problem is reported at once.
        errors = explain_errors(exc, _WebConfigFile)
        broken = {error["loc"][0] for error in exc.errors() if error["loc"]}
        model = _WebConfigFile.model_validate(
            {key: value for key, value in data.items() if key not in broken}
        )
    problems: list[Problem] = []
    ssl_context = _tls_context(model.tls_server_config, base_dir, problems)
    headers = _headers(model.http_server_config, problems)
    rate_limit = _rate_limit(model.rate_limit, problems)
    errors += [f"{format_path(loc)}: {message}" for loc, message in problems]
    if errors:
        raise WebConfigError(errors)
    tls = model.tls_server_config
    return WebConfig(
        ssl_context=ssl_context,
        client_allowed_sans=_normalised_sans(tls.client_allowed_sans),
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


def _headers(http: _HTTPServerConfig, problems: list[Problem]) -> dict[str, str]:
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


def _rate_limit(config: _RateLimitConfig | None, problems: list[Problem]) -> RateLimit | None:
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


# --- tls_server_config -----------------------------------------------------------------------

_CLIENT_AUTH = {
    "": ssl.CERT_NONE,
    "NoClientCert": ssl.CERT_NONE,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
_AUTH_NAMES = {
    ssl.CERT_NONE: "NoClientCert",
    ssl.CERT_OPTIONAL: "VerifyClientCertIfGiven",
    ssl.CERT_REQUIRED: "RequireAndVerifyClientCert",
}
_UNVERIFIED_AUTH = ("RequestClientCert", "RequireAnyClientCert", "RequireClientCert")
_VERSIONS = {"TLS12": ssl.TLSVersion.TLSv1_2, "TLS13": ssl.TLSVersion.TLSv1_3}
# Go's names (crypto/tls CipherSuites()) for TLS 1.0-1.2, as OpenSSL calls them.
_CIPHERS = {
    "TLS_RSA_WITH_AES_128_CBC_SHA": "AES128-SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA": "AES256-SHA",
    "TLS_RSA_WITH_AES_128_GCM_SHA256": "AES128-GCM-SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384": "AES256-GCM-SHA384",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA": "ECDHE-ECDSA-AES128-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA": "ECDHE-ECDSA-AES256-SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA": "ECDHE-RSA-AES128-SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA": "ECDHE-RSA-AES256-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": "ECDHE-ECDSA-AES128-GCM-SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": "ECDHE-ECDSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": "ECDHE-RSA-AES128-GCM-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": "ECDHE-RSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-RSA-CHACHA20-POLY1305",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-ECDSA-CHACHA20-POLY1305",
}
# Accepted because Go accepts them; neither Go nor OpenSSL lets TLS 1.3 suites be chosen.
_TLS13_CIPHERS = (
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
)
_EXAMPLE = "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
_WHERE = "tls_server_config"


def _tls_context(
    tls: _TLSServerConfig, base_dir: Path, problems: list[Problem]
) -> ssl.SSLContext | None:
    """An SSLContext, or None when no key that switches TLS on is set (as in exporter-toolkit)."""
    switches = ("cert", "key", "cert_file", "key_file", "client_ca", "client_ca_file")
    if not any(getattr(tls, name) for name in (*switches, "client_auth_type")):
        ignored = sorted(tls.model_fields_set - set(switches) - {"client_auth_type"})
        for name in ignored:
            message = "has no effect without TLS: also set cert_file and key_file"
            problems.append(((_WHERE, name), message))
        return None
    before = len(problems)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.set_alpn_protocols(["http/1.1"])
    _set_versions(context, tls, problems)
    _set_ciphers(context, tls, problems)
    _set_client_auth(context, tls, base_dir, problems)
    _load_certificate(context, tls, base_dir, problems)
    return context if len(problems) == before else None


def _set_versions(context: ssl.SSLContext, tls: _TLSServerConfig, problems: list[Problem]) -> None:
    versions = []
    for name in ("min_version", "max_version"):
        value = getattr(tls, name)
        version = _VERSIONS.get(value)
        if value in ("TLS10", "TLS11"):
            message = "TLS 1.0 and 1.1 are not supported by ses-exporter; use TLS12 or TLS13"
            problems.append(((_WHERE, name), message))
        elif version is None:
            message = f"unknown TLS version {describe(value)} (expected TLS12 or TLS13)"
            problems.append(((_WHERE, name), message))
        versions.append(version)
    low, high = versions
    if low is not None and high is not None:
        if low > high:
            problems.append(((_WHERE, "max_version"), "must not be lower than min_version"))
        context.minimum_version, context.maximum_version = low, high


def _set_ciphers(context: ssl.SSLContext, tls: _TLSServerConfig, problems: list[Problem]) -> None:
    if tls.curve_preferences:
        message = (
            "not supported by ses-exporter: Python's ssl module cannot choose the key "
            "exchange curves; remove curve_preferences"
        )
        problems.append(((_WHERE, "curve_preferences"), message))
    if tls.prefer_server_cipher_suites:
        context.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
    else:
        context.options &= ~ssl.OP_CIPHER_SERVER_PREFERENCE
    if not tls.cipher_suites:
        return
    openssl_names = []
    for index, name in enumerate(tls.cipher_suites):
        if name in _CIPHERS:
            openssl_names.append(_CIPHERS[name])
        elif name not in _TLS13_CIPHERS:
            message = f"unknown cipher suite {describe(name)} (expected a Go name such as "
            problems.append(
                ((_WHERE, "cipher_suites", index), message + f"{next(iter(_CIPHERS))})")
            )
    if not openssl_names:  # only TLS 1.3 suites listed: no TLS 1.2 handshake can succeed
        context.minimum_version = ssl.TLSVersion.TLSv1_3
        return
    try:
        context.set_ciphers(":".join(openssl_names))
    except ssl.SSLError:
        message = "none of these cipher suites is available in this OpenSSL"
        problems.append(((_WHERE, "cipher_suites"), message))


def _set_client_auth(
    context: ssl.SSLContext, tls: _TLSServerConfig, base_dir: Path, problems: list[Problem]
) -> None:
    auth = tls.client_auth_type
    if auth in _UNVERIFIED_AUTH:
        message = (
            f"{auth} is not supported by ses-exporter: Python's ssl module verifies every client "
            "certificate it accepts; use RequireAndVerifyClientCert with client_ca_file"
        )
        problems.append(((_WHERE, "client_auth_type"), message))
        return
    if auth not in _CLIENT_AUTH:
        names = ", ".join(n for n in (*_CLIENT_AUTH, *_UNVERIFIED_AUTH) if n)
        message = f"unknown client_auth_type {describe(auth)} (expected one of: {names})"
        problems.append(((_WHERE, "client_auth_type"), message))
        return
    context.verify_mode = _CLIENT_AUTH[auth]
    sans = tls.client_allowed_sans
    if sans is not None and context.verify_mode != ssl.CERT_REQUIRED:
        message = "requires client_auth_type: RequireAndVerifyClientCert"
        problems.append(((_WHERE, "client_allowed_sans"), message))
    elif sans is not None and not sans:
        message = "must not be empty (no client could connect); remove the key to allow any SAN"
        problems.append(((_WHERE, "client_allowed_sans"), message))
    ca_text = _pem_source(tls, "client_ca", base_dir, problems)
    if ca_text is None:
        return
    if ca_text and context.verify_mode == ssl.CERT_NONE:
        key = "client_ca_file" if tls.client_ca_file else "client_ca"
        message = "client CAs are set but client_auth_type is NoClientCert"
        problems.append(((_WHERE, key), message + ": set RequireAndVerifyClientCert"))
    elif ca_text:
        try:
            context.load_verify_locations(cadata=ca_text)
        except (ssl.SSLError, ValueError):
            key = "client_ca_file" if tls.client_ca_file else "client_ca"
            problems.append(((_WHERE, key), "holds no valid PEM certificate"))
    elif context.verify_mode != ssl.CERT_NONE:
        # Without a CA, Go verifies client certificates against the system roots.
        context.load_default_certs(ssl.Purpose.CLIENT_AUTH)


def _pem_source(
    tls: _TLSServerConfig, name: str, base_dir: Path, problems: list[Problem]
) -> str | None:
    """The inline value of `name` or the content of `name`_file; None after a problem."""
    inline: str = getattr(tls, name)
    path: str = getattr(tls, f"{name}_file")
    if inline and path:
        problems.append(((_WHERE, name), f"set {name} or {name}_file, not both"))
        return None
    if not path:
        return inline
    full = base_dir / path
    try:
        return full.read_text(encoding="utf-8")
    except OSError as exc:
        problems.append(((_WHERE, f"{name}_file"), f"cannot read {full}: {exc.strerror or exc}"))
    except UnicodeDecodeError:
        problems.append(((_WHERE, f"{name}_file"), f"{full} is not a PEM file"))
    return None


def _load_certificate(
    context: ssl.SSLContext, tls: _TLSServerConfig, base_dir: Path, problems: list[Problem]
) -> None:
    before = len(problems)
    cert = _pem_source(tls, "cert", base_dir, problems)
    key = _pem_source(tls, "key", base_dir, problems)
    if cert == "":
        problems.append(((_WHERE,), "missing cert_file (or cert): the server certificate"))
    elif cert is not None and "-----BEGIN CERTIFICATE-----" not in cert:
        problems.append(((_WHERE, "cert_file" if tls.cert_file else "cert"), "no PEM certificate"))
    if key == "":
        problems.append(((_WHERE,), "missing key_file (or key): the server's private key"))
    elif key is not None and not re.search(r"-----BEGIN [A-Z ]*PRIVATE KEY-----", key):
        problems.append(((_WHERE, "key_file" if tls.key_file else "key"), "no PEM private key"))
    elif key is not None and "ENCRYPTED" in key:
        message = "encrypted private keys are not supported (as in Prometheus)"
        problems.append(((_WHERE, "key_file" if tls.key_file else "key"), message))
    if cert and key and len(problems) == before:
        with _as_files(cert, key) as (cert_path, key_path):
            try:
                context.load_cert_chain(cert_path, key_path, password=_no_password)
            except ssl.SSLError as exc:
                if exc.reason == "KEY_VALUES_MISMATCH":
                    message = "the private key does not belong to the certificate"
                else:
                    message = f"cannot load the certificate and key: {exc.reason or exc}"
                problems.append(((_WHERE,), message))


def _no_password() -> str:
    raise ValueError("encrypted key")  # never prompt on the terminal


@contextmanager
def _as_files(cert: str, key: str) -> Iterator[tuple[str, str]]:
    """load_cert_chain only reads files: inline PEM goes to a private temporary directory."""
    with tempfile.TemporaryDirectory(prefix="ses-exporter-tls-") as directory:
        paths = []
        for name, text in (("cert.pem", cert), ("key.pem", key)):
            path = os.path.join(directory, name)
            with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as file:
                file.write(text)
            paths.append(path)
        yield paths[0], paths[1]


def _normalised_sans(sans: list[str] | None) -> frozenset[str] | None:
    return None if sans is None else frozenset(normalise_san(s) for s in sans)


def normalise_san(value: str) -> str:
    """IP addresses in Go's spelling (OpenSSL writes IPv6 in full); other names as they are."""
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return value


def peer_sans(peer_certificate: Mapping[str, Any]) -> set[str]:
    """The DNS, IP, e-mail and URI SANs of ``SSLSocket.getpeercert()``, as Go compares them."""
    kinds = {"DNS", "IP Address", "email", "URI"}
    return {
        normalise_san(value)
        for kind, value in peer_certificate.get("subjectAltName", ())
        if kind in kinds
    }


# --- what the server does with it: basic auth and the rate limit -------------------------


class BasicAuth:
    """Checks ``Authorization: Basic`` headers against bcrypt hashes.

    bcrypt is slow on purpose (~70 ms at cost 10), so results are cached, as exporter-toolkit
    does, under a keyed hash of user, stored hash and password: the cache holds no password.
    An unknown user is checked against a real user's hash, so timing does not tell whether a
    user name exists. One bcrypt runs at a time: a flood of bad passwords costs one CPU.
    """

    _CACHE_SIZE = 100

    def __init__(self, users: Mapping[str, bytes]) -> None:
        self._users = {user.encode(): hashed for user, hashed in users.items()}
        self._decoy = next(iter(self._users.values()), b"")
        self._key = secrets.token_bytes(32)
        self._cache: dict[bytes, bool] = {}
        self._lock = threading.Lock()
        self._bcrypt_lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return bool(self._users)

    def check(self, authorization: str | None) -> bool:
        credentials = _basic_credentials(authorization)
        if credentials is None or not self._users:
            return False
        user, password = credentials
        hashed = self._users.get(user)
        known = hashed is not None
        hashed = hashed if hashed is not None else self._decoy
        digest = hashlib.blake2b(key=self._key)
        for part in (user, hashed, password):
            digest.update(len(part).to_bytes(8, "big") + part)
        cache_key = digest.digest()
        with self._lock:
            cached = self._cache.get(cache_key)
        if cached is not None:
            return cached
        with self._bcrypt_lock:
            # Go's bcrypt, like htpasswd, reads the first 72 bytes; pyca's refuses longer ones.
            matches = bcrypt.checkpw(password[:72], hashed)
        result = known and matches
        with self._lock:
            if len(self._cache) >= self._CACHE_SIZE:
                self._cache.pop(next(iter(self._cache)))
            self._cache[cache_key] = result
        return result


def _basic_credentials(authorization: str | None) -> tuple[bytes, bytes] | None:
    """(user, password) from "Basic base64(user:password)", like Go's Request.BasicAuth."""
    if not authorization or authorization[:6].lower() != "basic ":
        return None
    try:
        decoded = base64.b64decode(authorization[6:].encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError):
        return None
    user, colon, password = decoded.partition(b":")
    return (user, password) if colon else None


class RateLimiter:
    """Token bucket: `burst` requests at once, then one per `interval` (like x/time/rate)."""

    def __init__(self, limit: RateLimit, clock: Callable[[], float] = time.monotonic) -> None:
        self._limit, self._clock = limit, clock
        self._tokens, self._last = float(limit.burst), clock()
        self._lock = threading.Lock()

    def allow(self) -> bool:
        with self._lock:
            now = self._clock()
            refill = (now - self._last) / self._limit.interval
            self._tokens = min(float(self._limit.burst), self._tokens + refill)
            self._last = now
            if self._tokens < 1:
                return False
            self._tokens -= 1
            return True
