"""--web.config.file: parsing (checked against promtool), TLS, mTLS and basic auth over real
connections, reloads, and a real Prometheus scraping through all of it."""

from __future__ import annotations

import base64
import http.client
import json
import re
import shutil
import signal
import socket
import ssl
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path

import bcrypt
import pytest

from ses_exporter.demo import DEMO_CONFIG
from ses_exporter.web import (
    WebConfig,
    WebConfigError,
    WebServer,
    load_web_config,
    parse_web_config,
)
from ses_exporter.web.auth import BasicAuth, RateLimit, RateLimiter
from tests.daemon import DaemonProcess
from tests.pki import Pki, client_context, make_pki
from tests.prometheus import launch_prometheus
from tests.webapp import FakeApp, maybe_gzip

PASSWORD = "s3cret-Pa55"
# Cost 4, the minimum, keeps the tests fast; promtool accepts it.
HASH = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()
PROMTOOL = shutil.which("promtool")
PROMETHEUS = shutil.which("prometheus")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed")


# --- certificates ------------------------------------------------------------------------


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def tls_fetch(
    port: int,
    context: ssl.SSLContext,
    path: str = "/metrics",
    headers: Mapping[str, str] | None = None,
) -> tuple[int, http.client.HTTPMessage, bytes]:
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=5)
    try:
        conn.request("GET", path, headers=dict(headers or {}))
        response = conn.getresponse()
        return response.status, response.headers, response.read()
    finally:
        conn.close()


def served_certificate(port: int, context: ssl.SSLContext) -> bytes | None:
    """The certificate the server at ``port`` presents in a TLS handshake, DER-encoded."""
    with (
        socket.create_connection(("127.0.0.1", port), timeout=30) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        return tls.getpeercert(binary_form=True)


def der(certificate: Path) -> bytes:
    return ssl.PEM_cert_to_DER_cert(certificate.read_text())


def write_config(directory: Path, text: str, name: str = "web.yml") -> Path:
    path = directory / name
    path.write_text(text)
    return path


def promtool_accepts(path: Path) -> bool:
    assert PROMTOOL is not None
    result = subprocess.run(
        [PROMTOOL, "check", "web-config", str(path)],
        check=False,
        capture_output=True,
        text=True,
        timeout=30,
    )
    return result.returncode == 0


@pytest.fixture
def served() -> Iterator[list[WebServer]]:
    """Servers a test starts; all shut down afterwards."""
    servers: list[WebServer] = []
    yield servers
    for server in servers:
        server.shutdown()


def serve(served: list[WebServer], config: WebConfig | None, **options: object) -> WebServer:
    server = WebServer(FakeApp(), "127.0.0.1:0", web_config=config, **options)  # type: ignore[arg-type]
    server.start()
    served.append(server)
    return server


# --- parsing ----------------------------------------------------------------------------------


def test_empty_file_is_plain_http_without_auth(tmp_path: Path) -> None:
    config = load_web_config(write_config(tmp_path, ""))
    assert config == WebConfig()
    assert config.ssl_context is None


@pytest.mark.parametrize(
    "text",
    [
        "tls_server_config:\nhttp_server_config:\nbasic_auth_users:\nrate_limit:\n",
        "http_server_config: {headers: , http2: }\ntls_server_config: {cipher_suites: }",
        "tls_server_config: {cert_file: '', key_file: ''}",  # as Helm charts template them
        "rate_limit: {interval: 0s, burst: 0}",
    ],
)
def test_empty_values_mean_defaults_as_in_go(text: str) -> None:
    assert parse_web_config(text) == WebConfig()


def test_full_config_is_read_with_paths_relative_to_the_file(pki: Pki) -> None:
    text = f"""
tls_server_config:
  cert_file: {pki.server_cert.name}
  key_file: {pki.server_key.name}
  client_auth_type: RequireAndVerifyClientCert
  client_ca_file: {pki.ca.name}
  client_allowed_sans: [prometheus.example, "::1"]
  min_version: TLS13
http_server_config:
  http2: false
  headers:
    X-Frame-Options: deny
    Strict-Transport-Security: max-age=31536000
    Content-Security-Policy: ""
basic_auth_users:
  prometheus: {HASH}
  grafana: {HASH.replace("$2b$", "$2y$")}
rate_limit: {{interval: 100ms, burst: 5}}
"""
    config = load_web_config(write_config(pki.directory, text, "full.yml"))
    assert config.ssl_context is not None
    assert config.ssl_context.verify_mode == ssl.CERT_REQUIRED
    assert config.ssl_context.minimum_version == ssl.TLSVersion.TLSv1_3
    assert config.client_allowed_sans == {"prometheus.example", "::1"}
    assert dict(config.headers) == {
        "X-Frame-Options": "deny",
        "Strict-Transport-Security": "max-age=31536000",
    }
    assert set(config.basic_auth_users) == {"prometheus", "grafana"}
    assert config.rate_limit == RateLimit(0.1, 5)
    assert config.summary() == {
        "tls": True,
        "client_certificates": "RequireAndVerifyClientCert",
        "basic_auth_users": 2,
    }
    assert HASH not in repr(config)


def test_inline_certificate_and_key(pki: Pki, tmp_path: Path, served: list[WebServer]) -> None:
    """The certificate given inline in the file is the one the server presents."""

    def indent(path: Path) -> str:
        return "\n".join("    " + line for line in path.read_text().splitlines())

    text = (
        f"tls_server_config:\n  cert: |\n{indent(pki.server_cert)}\n"
        f"  key: |\n{indent(pki.server_key)}\n"
    )
    server = serve(served, load_web_config(write_config(tmp_path, text)))
    context = client_context(pki)
    assert served_certificate(server.port, context) == der(pki.server_cert)
    assert tls_fetch(server.port, context)[0] == 200


# Each case: the file (with {cert}, {key}, {ca} for paths), the errors in order ("…" stands
# for anything; each is found in its line), and what promtool
# (Debian's, exporter-toolkit 0.8) says: True where ses-exporter refuses a file promtool
# accepts, because it cannot do what the file asks; None for keys that promtool predates.
TLS = "tls_server_config:\n  cert_file: {cert}\n  key_file: {key}\n"
BAD_CONFIGS = [
    ("[1, 2]", ["expected a mapping, got a list"], False),
    ("tls_server_config: {cert_file: x\n", ["invalid YAML"], False),
    (
        "basic_auth_user: {}",
        [
            "basic_auth_user: unknown key (expected one of: tls_server_config, "
            "http_server_config, rate_limit, basic_auth_users)"
        ],
        False,
    ),
    (
        TLS + "  ciphers: []",
        ["tls_server_config.ciphers: unknown key (expected one of: cert,"],
        False,
    ),
    ("tls_server_config: {cert_file: '{cert}'}", ["missing key_file (or key)"], False),
    ("tls_server_config: {key_file: '{key}'}", ["missing cert_file (or cert)"], False),
    (
        "tls_server_config: {cert_file: nope.crt, key_file: '{key}'}",
        ["tls_server_config.cert_file: cannot read …/nope.crt: No such file or directory"],
        False,
    ),
    (
        "tls_server_config: {cert_file: '{key}', key_file: '{key}'}",
        ["tls_server_config.cert_file: no PEM certificate"],
        False,
    ),
    (
        "tls_server_config: {cert_file: '{cert}', key_file: '{cert}'}",
        ["tls_server_config.key_file: no PEM private key"],
        False,
    ),
    (
        "tls_server_config: {cert_file: '{cert}', key_file: '{rogue_key}'}",
        ["tls_server_config: the private key does not belong to the certificate"],
        False,
    ),
    (
        TLS + "  client_auth_type: Sometimes",
        ["client_auth_type: unknown client_auth_type 'Sometimes' (expected one of: NoClientCert"],
        False,
    ),
    (
        TLS + "  client_ca_file: '{ca}'",
        ["tls_server_config.client_ca_file: client CAs are set but client_auth_type is NoClient"],
        False,
    ),
    (TLS + "  min_version: TLS14", ["min_version: unknown TLS version 'TLS14'"], False),
    (
        TLS + "  min_version: TLS13\n  max_version: TLS12",
        ["tls_server_config.max_version: must not be lower than min_version"],
        True,  # promtool accepts it; Go would then fail every handshake
    ),
    (
        TLS + "  cipher_suites: [TLS_FAST_AND_LOOSE]",
        ["tls_server_config.cipher_suites[0]: unknown cipher suite 'TLS_FAST_AND_LOOSE'"],
        False,
    ),
    (TLS + "  curve_preferences: [X25519]", ["curve_preferences: not supported by ses-"], True),
    (TLS + "  min_version: TLS10", ["TLS 1.0 and 1.1 are not supported by ses-exporter"], True),
    (
        TLS + "  client_auth_type: RequireAnyClientCert\n  client_ca_file: '{ca}'",
        ["RequireAnyClientCert is not supported by ses-exporter: Python's ssl module verifies"],
        True,
    ),
    (TLS + "  client_auth_type: RequestClientCert", ["RequestClientCert is not supp"], True),
    (
        "tls_server_config:\n  min_version: TLS13",
        ["tls_server_config.min_version: has no effect without TLS: also set cert_file and"],
        True,  # promtool accepts it and Prometheus serves plain HTTP
    ),
    (
        "http_server_config: {http2: true}",
        ["http_server_config.http2: ses-exporter serves HTTP/1.1 only"],
        True,
    ),
    (
        "http_server_config:\n  headers: {Server: nginx}",
        ["http_server_config.headers.Server: this header cannot be configured (allowed: Con"],
        False,
    ),
    (
        "http_server_config:\n  headers: {X-Frame-Options: DENY}",
        ["http_server_config.headers['X-Frame-Options']: expected 'deny' or 'sameorigin', got"],
        False,
    ),
    (
        'http_server_config:\n  headers: {Content-Security-Policy: "a\\r\\nSet-Cookie: x=1"}',
        ["headers['Content-Security-Policy']: must not contain line breaks or control"],
        True,
    ),
    ("http_server_config: {http2: yes please}", ["http2: expected true or false"], False),
    ("basic_auth_users: [alice]", ["basic_auth_users: expected a mapping of user names"], False),
    ("basic_auth_users: {alice: hunter2}", ["basic_auth_users.alice: not a bcrypt hash"], False),
    (
        "basic_auth_users: {'a:b': '" + HASH + "'}",
        ["basic_auth_users['a:b']: user names cannot contain ':'"],
        True,
    ),
    (
        "basic_auth_users: {alice: '" + HASH + "', alice: '" + HASH + "'}",
        ["duplicate key 'alice'"],
        False,
    ),
    # Keys promtool 2.42 does not know yet (newer exporter-toolkit): checked here alone.
    (TLS + "  cert: x", ["tls_server_config.cert: set cert or cert_file, not both"], None),
    (
        TLS + "  client_allowed_sans: [a.example]",
        ["client_allowed_sans: requires client_auth_type: RequireAndVerifyClientCert"],
        None,
    ),
    (
        TLS + "  client_auth_type: RequireAndVerifyClientCert\n  client_allowed_sans: []",
        ["tls_server_config.client_allowed_sans: must not be empty"],
        None,
    ),
    ("rate_limit: {interval: 10, burst: 1}", ["rate_limit.interval: 10 is not a duration"], None),
    ("rate_limit: {interval: 1s}", ["rate_limit.burst: must be at least 1"], None),
]


@pytest.mark.parametrize(
    ("text", "errors", "promtool_says_ok"),
    BAD_CONFIGS,
    ids=[f"{i}" for i in range(len(BAD_CONFIGS))],
)
def test_bad_config_is_refused_with_the_key_path(
    pki: Pki, tmp_path: Path, text: str, errors: list[str], promtool_says_ok: bool | None
) -> None:
    paths = {
        "cert": pki.server_cert,
        "key": pki.server_key,
        "ca": pki.ca,
        "rogue_key": pki.rogue_key,
    }
    for name, path in paths.items():
        text = text.replace("{" + name + "}", str(path))
    path = write_config(tmp_path, text)
    with pytest.raises(WebConfigError) as raised:
        load_web_config(path)
    message = "\n".join(raised.value.errors)
    assert len(raised.value.errors) == len(errors), message
    for expected, error in zip(errors, raised.value.errors, strict=True):
        assert re.search(".*".join(map(re.escape, expected.split("…"))), error), message
    if promtool_says_ok is not None and PROMTOOL is not None:
        assert promtool_accepts(path) is promtool_says_ok


def test_errors_never_show_password_hashes_or_keys(pki: Pki, tmp_path: Path) -> None:
    plaintext = "correct-horse-battery-staple"
    key_text = pki.server_key.read_text()
    text = (
        f"basic_auth_users:\n  alice: {plaintext}\n  bob: 12345678\n"
        f"tls_server_config:\n  cert_file: {pki.rogue_cert}\n  key: |\n"
        + "\n".join("    " + line for line in key_text.splitlines())
    )
    with pytest.raises(WebConfigError) as raised:
        load_web_config(write_config(tmp_path, text))
    message = "\n".join(raised.value.errors)
    assert "basic_auth_users.alice: not a bcrypt hash (value not shown)" in message
    assert "basic_auth_users.bob: not a bcrypt hash" in message
    assert "does not belong to the certificate" in message
    for secret in (plaintext, "12345678", key_text.splitlines()[1]):
        assert secret not in message


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(WebConfigError, match=r"cannot read .*missing\.yml: No such file"):
        load_web_config(tmp_path / "missing.yml")


def test_cipher_suites_are_mapped_to_openssl(pki: Pki) -> None:
    text = (
        f"tls_server_config:\n  cert_file: {pki.server_cert}\n  key_file: {pki.server_key}\n"
        "  max_version: TLS12\n  prefer_server_cipher_suites: false\n"
        "  cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, TLS_AES_128_GCM_SHA256]\n"
    )
    config = parse_web_config(text)
    assert config.ssl_context is not None
    assert not config.ssl_context.options & ssl.OP_CIPHER_SERVER_PREFERENCE
    tls12 = {c["name"] for c in config.ssl_context.get_ciphers() if c["protocol"] == "TLSv1.2"}
    assert tls12 == {"ECDHE-ECDSA-AES256-GCM-SHA384"}


@needs_promtool
def test_every_good_config_here_passes_promtool(pki: Pki, tmp_path: Path) -> None:
    text = f"""
tls_server_config:
  cert_file: {pki.server_cert}
  key_file: {pki.server_key}
  client_auth_type: VerifyClientCertIfGiven
  client_ca_file: {pki.ca}
  min_version: TLS12
  max_version: TLS13
  cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]
  prefer_server_cipher_suites: true
  curve_preferences: []
http_server_config:
  http2: false
  headers: {{X-Content-Type-Options: nosniff, X-XSS-Protection: "1; mode=block"}}
basic_auth_users:
  prometheus: {HASH}
"""
    path = write_config(tmp_path, text)
    assert load_web_config(path).ssl_context is not None
    assert promtool_accepts(path)


# --- BasicAuth and RateLimiter ---------------------------------------------------------------


def auth_header(user: str, password: str) -> str:
    return basic(user, password)["Authorization"]


def test_basic_auth_checks_users_and_caches(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[bytes] = []
    real = bcrypt.checkpw

    def counting(password: bytes, hashed: bytes) -> bool:
        calls.append(hashed)
        return real(password, hashed)

    monkeypatch.setattr(bcrypt, "checkpw", counting)
    other = bcrypt.hashpw(b"other", bcrypt.gensalt(4))
    auth = BasicAuth({"prometheus": HASH.encode(), "grafana": other})
    assert auth.check(auth_header("prometheus", PASSWORD))
    assert auth.check(auth_header("prometheus", PASSWORD))  # cached
    assert len(calls) == 1
    assert not auth.check(auth_header("prometheus", "wrong"))
    assert not auth.check(auth_header("grafana", PASSWORD))
    assert auth.check(auth_header("grafana", "other"))
    # An unknown user costs a bcrypt run against a real hash, like a known one.
    assert not auth.check(auth_header("mallory", PASSWORD))
    assert calls[-1] == HASH.encode()
    assert len(calls) == 5
    for header in (
        None,
        "",
        "Bearer abc",
        "Basic !!!",
        "Basic " + base64.b64encode(b"no-colon").decode(),
        "Basic " + base64.b64encode(f"prometheus:{PASSWORD}".encode()).decode()[:-1],
    ):
        assert not auth.check(header)
    assert auth.check(auth_header("prometheus", PASSWORD).replace("Basic", "bAsIc"))


def test_basic_auth_reads_72_bytes_of_a_password_like_go() -> None:
    long = "x" * 72
    auth = BasicAuth({"u": bcrypt.hashpw(long.encode(), bcrypt.gensalt(4))})
    assert auth.check(auth_header("u", long + "ignored"))


def test_basic_auth_cache_is_bounded() -> None:
    auth = BasicAuth({"u": HASH.encode()})
    for index in range(250):
        auth.check(auth_header("u", f"guess-{index}"))
    assert len(auth._cache) <= 100


def test_rate_limiter_is_a_token_bucket() -> None:
    now = [0.0]
    limiter = RateLimiter(RateLimit(interval=1.0, burst=2), clock=lambda: now[0])
    assert [limiter.allow() for _ in range(3)] == [True, True, False]
    now[0] = 0.5
    assert not limiter.allow()
    now[0] = 1.0
    assert limiter.allow()
    assert not limiter.allow()
    now[0] = 10.0
    assert [limiter.allow() for _ in range(3)] == [True, True, False]


# --- TLS, mTLS and basic auth over real connections -------------------------------------------


def tls_config(pki: Pki, extra: str = "", users: bool = True) -> WebConfig:
    text = f"tls_server_config:\n  cert_file: {pki.server_cert}\n  key_file: {pki.server_key}\n"
    text += extra
    if users:
        text += f"basic_auth_users:\n  prometheus: {HASH}\n"
    text += "http_server_config:\n  headers: {X-Frame-Options: deny}\n"
    return parse_web_config(text)


def test_tls_with_basic_auth(pki: Pki, served: list[WebServer]) -> None:
    server = serve(served, tls_config(pki))
    assert server.tls_enabled
    context = client_context(pki)
    status, headers, body = tls_fetch(server.port, context, headers=basic("prometheus", PASSWORD))
    assert (status, body[:6]) == (200, b"# HELP")
    assert headers["X-Frame-Options"] == "deny"
    assert headers["X-Content-Type-Options"] == "nosniff"
    for credentials in (
        basic("prometheus", "wrong"),
        basic("nobody", PASSWORD),
        basic("", ""),
        {},
    ):
        status, headers, body = tls_fetch(server.port, context, headers=credentials)
        assert (status, body) == (401, b"Unauthorized\n")
        assert headers["WWW-Authenticate"] == "Basic"
        assert headers["X-Frame-Options"] == "deny"
    # Every path is protected, unknown ones too (no way to probe which exist).
    for path in ("/", "/-/healthy", "/-/ready", "/nope"):
        assert tls_fetch(server.port, context, path)[0] == 401


def test_healthy_without_auth_only_when_configured(pki: Pki, served: list[WebServer]) -> None:
    server = serve(served, tls_config(pki), health_unauthenticated=True)
    context = client_context(pki)
    assert tls_fetch(server.port, context, "/-/healthy")[::2] == (200, b"Healthy\n")
    for path in ("/metrics", "/-/ready", "/", "//-/healthy", "/-/healthy/../metrics"):
        assert tls_fetch(server.port, context, path)[0] == 401, path
    conn = http.client.HTTPSConnection("127.0.0.1", server.port, context=context, timeout=5)
    conn.request("POST", "/-/healthy")
    assert conn.getresponse().status == 401  # only GET and HEAD skip authentication
    conn.close()


def test_plain_http_to_the_tls_port_gets_a_400_at_once(pki: Pki, served: list[WebServer]) -> None:
    # "At once": before the header timeout (10 minutes here), which a server that waited
    # for more bytes would reach; the socket gives up long before it.
    server = serve(served, tls_config(pki), header_timeout=600)
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        response = b""
        while chunk := sock.recv(4096):
            response += chunk
    assert response.startswith(b"HTTP/1.0 400 Bad Request\r\n")
    assert response.endswith(b"Client sent an HTTP request to an HTTPS server.\n")
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"\x00\xff garbage")
        assert sock.recv(4096) == b""
    # And http.client sees a clean error, not a hang.
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    conn.request("GET", "/metrics")
    assert conn.getresponse().status == 400
    conn.close()


def mtls_config(pki: Pki, extra: str = "") -> WebConfig:
    return tls_config(
        pki,
        f"  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: {pki.ca}\n" + extra,
        users=False,
    )


def refused(port: int, context: ssl.SSLContext) -> bool:
    """True when the server ends the connection instead of answering (a failed handshake)."""
    try:
        tls_fetch(port, context)
    except (ssl.SSLError, ConnectionError, http.client.RemoteDisconnected):
        return True
    return False


def test_mtls_requires_a_certificate_from_the_ca(pki: Pki, served: list[WebServer]) -> None:
    server = serve(served, mtls_config(pki))
    good = client_context(pki, pki.client_cert, pki.client_key)
    assert tls_fetch(server.port, good)[0] == 200
    assert refused(server.port, client_context(pki))
    assert refused(server.port, client_context(pki, pki.rogue_cert, pki.rogue_key))
    assert tls_fetch(server.port, good)[0] == 200  # still serving


def test_client_allowed_sans(pki: Pki, served: list[WebServer]) -> None:
    good = client_context(pki, pki.client_cert, pki.client_key)
    allowed = serve(served, mtls_config(pki, "  client_allowed_sans: [prometheus.example]\n"))
    assert tls_fetch(allowed.port, good)[0] == 200
    other = serve(served, mtls_config(pki, "  client_allowed_sans: [grafana.example]\n"))
    assert refused(other.port, good)


def test_verify_client_cert_if_given(pki: Pki, served: list[WebServer]) -> None:
    extra = f"  client_auth_type: VerifyClientCertIfGiven\n  client_ca_file: {pki.ca}\n"
    server = serve(served, tls_config(pki, extra, users=False))
    assert tls_fetch(server.port, client_context(pki))[0] == 200
    assert tls_fetch(server.port, client_context(pki, pki.client_cert, pki.client_key))[0] == 200
    assert refused(server.port, client_context(pki, pki.rogue_cert, pki.rogue_key))


def test_min_version_tls13_refuses_tls12(pki: Pki, served: list[WebServer]) -> None:
    server = serve(served, tls_config(pki, "  min_version: TLS13\n", users=False))
    assert tls_fetch(server.port, client_context(pki))[0] == 200
    old = client_context(pki)
    old.maximum_version = ssl.TLSVersion.TLSv1_2
    assert refused(server.port, old)


def test_reload_swaps_users_certificates_and_tls(pki: Pki, served: list[WebServer]) -> None:
    server = serve(served, None)
    assert http_status(server.port) == 200
    server.reload_config(tls_config(pki))  # plain HTTP -> TLS with basic auth
    context = client_context(pki)
    assert tls_fetch(server.port, context, headers=basic("prometheus", PASSWORD))[0] == 200
    new_hash = bcrypt.hashpw(b"rotated", bcrypt.gensalt(4)).decode()
    text = (
        f"tls_server_config:\n  cert_file: {pki.other_server_cert}\n"
        f"  key_file: {pki.other_server_key}\nbasic_auth_users: {{prometheus: '{new_hash}'}}\n"
    )
    # A keep-alive connection opened before the reload gets the new users at once.
    conn = http.client.HTTPSConnection("127.0.0.1", server.port, context=context, timeout=5)
    conn.request("GET", "/metrics", headers=basic("prometheus", PASSWORD))
    assert conn.getresponse().read()
    server.reload_config(parse_web_config(text))
    conn.request("GET", "/metrics", headers=basic("prometheus", PASSWORD))
    assert conn.getresponse().status == 401
    conn.close()
    assert tls_fetch(server.port, context, headers=basic("prometheus", "rotated"))[0] == 200
    assert served_certificate(server.port, context) == der(pki.other_server_cert)


def test_shutdown_closes_idle_tls_connections(pki: Pki) -> None:
    server = WebServer(FakeApp(), "127.0.0.1:0", web_config=tls_config(pki, users=False))
    server.start()
    conn = http.client.HTTPSConnection(
        "127.0.0.1", server.port, context=client_context(pki), timeout=5
    )
    conn.request("GET", "/-/healthy")
    assert conn.getresponse().read() == b"Healthy\n"
    assert conn.sock is not None
    started = time.monotonic()
    server.shutdown()
    assert time.monotonic() - started < 1.0
    try:  # OpenSSL 3 answers the unexpected end of its read with a decode_error alert
        assert conn.sock.recv(1024) == b""
    except ssl.SSLError as exc:
        assert "DECODE_ERROR" in str(exc)
    conn.close()


def http_status(port: int, path: str = "/metrics") -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    finally:
        conn.close()


def test_rate_limit_answers_429(served: list[WebServer]) -> None:
    config = parse_web_config("rate_limit: {interval: 1h, burst: 2}")
    server = serve(served, config)
    assert [http_status(server.port) for _ in range(3)] == [200, 200, 429]


def test_slow_tls_handshake_is_cut_off(pki: Pki, served: list[WebServer]) -> None:
    server = serve(served, tls_config(pki), header_timeout=0.5)
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        started = time.monotonic()
        sock.sendall(b"\x16")  # the start of a ClientHello, then one byte at a time
        closed = False
        # A server without the timeout never cuts it: 60 s is a limit for that, not a
        # timing claim (the cut comes after header_timeout, 0.5 s).
        while time.monotonic() - started < 60 and not closed:
            time.sleep(0.1)
            try:
                sock.sendall(b"\x03")
            except OSError:
                closed = True
        assert closed or sock.recv(1) == b""


# --- a real Prometheus -----------------------------------------------------------------------


class ScrapeApp(FakeApp):
    def render_metrics(self, accept_header: str | None, gzip: bool = False) -> tuple[bytes, str]:
        body = maybe_gzip(b"# TYPE test_up gauge\ntest_up 1\n", gzip)
        return body, "text/plain; version=0.0.4; charset=utf-8"


def wait_for_targets(port: int, jobs: set[str], timeout: float = 30) -> dict[str, dict]:
    """The scrape pool's view of each job once every job was scraped at least once."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            url = f"http://127.0.0.1:{port}/api/v1/targets?state=active"
            with urllib.request.urlopen(url, timeout=2) as response:
                targets = json.load(response)["data"]["activeTargets"]
            found = {t["labels"]["job"]: t for t in targets}
            if set(found) == jobs and all(t["health"] != "unknown" for t in found.values()):
                return found
        except OSError:
            pass
        time.sleep(0.3)
    raise AssertionError("Prometheus did not scrape every target in time")


def query_up(port: int) -> dict[str, float]:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": "up"})
    with urllib.request.urlopen(url, timeout=5) as response:
        result = json.load(response)["data"]["result"]
    return {r["metric"]["job"]: float(r["value"][1]) for r in result}


@pytest.mark.process
@pytest.mark.skipif(PROMETHEUS is None, reason="prometheus is not installed")
def test_prometheus_scrapes_over_tls_with_basic_auth_and_mtls(
    pki: Pki, tmp_path: Path, served: list[WebServer]
) -> None:
    auth_file = write_config(
        tmp_path,
        f"tls_server_config: {{cert_file: {pki.server_cert}, key_file: {pki.server_key}}}\n"
        f"basic_auth_users: {{prometheus: '{HASH}'}}\n",
        "auth.yml",
    )
    mtls_file = write_config(
        tmp_path,
        f"tls_server_config:\n  cert_file: {pki.server_cert}\n  key_file: {pki.server_key}\n"
        f"  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: {pki.ca}\n",
        "mtls.yml",
    )
    if PROMTOOL is not None:  # the very files the exporter serves with
        assert promtool_accepts(auth_file) and promtool_accepts(mtls_file)
    servers = {}
    for name, path in (("auth", auth_file), ("mtls", mtls_file)):
        server = WebServer(ScrapeApp(), "127.0.0.1:0", web_config=load_web_config(path))
        server.start()
        served.append(server)
        servers[name] = f"127.0.0.1:{server.port}"

    def job(name: str, target: str, scheme: str = "https", **settings: object) -> dict:
        return {
            "job_name": name,
            "scheme": scheme,
            "static_configs": [{"targets": [servers[target]]}],
            **settings,
        }

    ca = {"ca_file": str(pki.ca)}
    client = {"cert_file": str(pki.client_cert), "key_file": str(pki.client_key)}
    jobs = [
        job(
            "basic_auth",
            "auth",
            tls_config=ca,
            basic_auth={"username": "prometheus", "password": PASSWORD},
        ),
        job(
            "wrong_password",
            "auth",
            tls_config=ca,
            basic_auth={"username": "prometheus", "password": "nope"},
        ),
        job(
            "unknown_user",
            "auth",
            tls_config=ca,
            basic_auth={"username": "root", "password": PASSWORD},
        ),
        job("no_credentials", "auth", tls_config=ca),
        job("plain_http", "auth", scheme="http"),
        job("mtls", "mtls", tls_config={**ca, **client}),
        job("mtls_without_cert", "mtls", tls_config=ca),
    ]
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
        "scrape_configs": jobs,
    }
    (tmp_path / "prometheus.yml").write_text(json.dumps(config))  # JSON is YAML
    with launch_prometheus(tmp_path / "prometheus.yml", tmp_path / "data") as prometheus:
        targets = wait_for_targets(prometheus.port, {j["job_name"] for j in jobs})
        up = query_up(prometheus.port)
    errors = {name: target["lastError"] for name, target in targets.items()}
    assert up == {
        "basic_auth": 1,
        "wrong_password": 0,
        "unknown_user": 0,
        "no_credentials": 0,
        "plain_http": 0,
        "mtls": 1,
        "mtls_without_cert": 0,
    }, errors
    assert errors["basic_auth"] == errors["mtls"] == ""
    for name in ("wrong_password", "unknown_user", "no_credentials"):
        assert "401 Unauthorized" in errors[name]
    assert "400 Bad Request" in errors["plain_http"]
    # Refused in the handshake: a TLS alert or, under TLS 1.3, a reset after it; no HTTP status.
    assert errors["mtls_without_cert"]
    assert "HTTP status" not in errors["mtls_without_cert"]


# --- the real daemon -------------------------------------------------------------------------


@pytest.mark.process
def test_daemon_serves_tls_with_basic_auth_and_rereads_it_on_reload(
    pki: Pki, tmp_path: Path
) -> None:
    web_file = write_config(
        tmp_path,
        f"tls_server_config: {{cert_file: {pki.server_cert}, key_file: {pki.server_key}}}\n"
        f"basic_auth_users: {{prometheus: '{HASH}'}}\n",
    )
    with DaemonProcess(
        DEMO_CONFIG, tmp_path / "daemon", "--demo", f"--web.config.file={web_file}", log_level=None
    ) as daemon:
        port, proc = daemon.port, daemon.proc
        context = client_context(pki)
        daemon.wait_until(
            "answered over TLS",
            lambda: tls_fetch(port, context, "/-/healthy", basic("prometheus", PASSWORD))[0] == 200,
        )
        assert tls_fetch(port, context, headers=basic("prometheus", PASSWORD))[0] == 200
        assert tls_fetch(port, context, headers=basic("prometheus", "wrong"))[0] == 401
        new_hash = bcrypt.hashpw(b"rotated", bcrypt.gensalt(4)).decode()
        web_file.write_text(web_file.read_text().replace(HASH, new_hash))
        proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while tls_fetch(port, context, headers=basic("prometheus", "rotated"))[0] != 200:
            assert time.monotonic() < deadline, "SIGHUP did not re-read the web config"
            time.sleep(0.2)
        assert tls_fetch(port, context, headers=basic("prometheus", PASSWORD))[0] == 401
        # An invalid web config on reload keeps the running one.
        web_file.write_text("basic_auth_users: {prometheus: plaintext}\n")
        auth = basic("prometheus", "rotated")
        conn = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=5)
        conn.request("POST", "/-/reload", headers=auth)
        assert conn.getresponse().status == 500
        conn.close()
        assert tls_fetch(port, context, headers=auth)[0] == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    log = daemon.output()
    assert "Traceback" not in log
    assert PASSWORD not in log and "rotated" not in log
