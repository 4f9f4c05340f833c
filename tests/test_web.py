"""HTTP front end: real requests against a WebServer on 127.0.0.1 with a fake WebApp."""

from __future__ import annotations

import gzip
import http.client
import logging
import socket
import time
from collections.abc import Iterator, Mapping

import bcrypt
import pytest

from ses_exporter.store import PollStatus
from ses_exporter.web import WebServer, parse_listen_address, parse_web_config
from ses_exporter.web.app import render_landing_page
from tests.webapp import METRICS, METRICS_TYPE, FakeApp, raw_exchange

Response = tuple[int, http.client.HTTPMessage, bytes]


def fetch(
    port: int,
    method: str,
    path: str,
    headers: Mapping[str, str] | None = None,
    body: bytes | None = None,
) -> Response:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request(method, path, body=body, headers=dict(headers or {}))
        resp = conn.getresponse()
        return resp.status, resp.headers, resp.read()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def shared() -> Iterator[tuple[WebServer, FakeApp]]:
    # One server for the module: each shutdown waits up to one accept-loop poll interval.
    app = FakeApp()
    server = WebServer(app, "127.0.0.1:0", reload=app.reload)
    server.start()
    yield server, app
    server.shutdown()


@pytest.fixture
def app(shared: tuple[WebServer, FakeApp]) -> FakeApp:
    shared[1].reset()
    return shared[1]


@pytest.fixture
def port(shared: tuple[WebServer, FakeApp], app: FakeApp) -> int:
    return shared[0].port


# --- /metrics ---------------------------------------------------------------------------


def test_metrics_get_returns_rendered_body_and_headers(port: int, app: FakeApp) -> None:
    status, headers, body = fetch(port, "GET", "/metrics", {"Accept": "text/plain;q=0.5"})
    assert status == 200
    assert body == METRICS
    assert headers["Content-Type"] == METRICS_TYPE
    assert headers["Content-Length"] == str(len(METRICS))
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Server"] == "ses-exporter/1.2.3-test"
    assert headers["Vary"] == "Accept-Encoding"
    assert "Content-Encoding" not in headers
    assert app.accept_headers == ["text/plain;q=0.5"]


def test_metrics_without_accept_header_passes_none(port: int, app: FakeApp) -> None:
    assert fetch(port, "GET", "/metrics")[0] == 200
    assert app.accept_headers == [None]


def test_metrics_head_has_length_but_no_body(port: int) -> None:
    status, headers, body = fetch(port, "HEAD", "/metrics")
    assert (status, body) == (200, b"")
    assert headers["Content-Length"] == str(len(METRICS))


def test_metrics_query_string_is_ignored(port: int) -> None:
    assert fetch(port, "GET", "/metrics?name[]=aws_ses_max_send_rate")[:3:2] == (200, METRICS)


@pytest.mark.parametrize(
    ("accept_encoding", "compressed"),
    [
        ("gzip", True),
        ("deflate, GZIP;q=0.5", True),
        ("gzip, deflate, br", True),  # what Prometheus and browsers send
        ("*", True),
        ("identity", False),
        ("gzip;q=0", False),
        ("gzip;q=0.0, *", False),
        ("*;q=0", False),
        ("br", False),
    ],
)
def test_metrics_gzip_negotiation(port: int, accept_encoding: str, compressed: bool) -> None:
    status, headers, body = fetch(port, "GET", "/metrics", {"Accept-Encoding": accept_encoding})
    assert status == 200
    assert headers["Content-Length"] == str(len(body))
    if compressed:
        assert headers["Content-Encoding"] == "gzip"
        assert gzip.decompress(body) == METRICS
        assert len(body) < len(METRICS)
    else:
        assert "Content-Encoding" not in headers
        assert body == METRICS


def test_metrics_head_with_gzip_reports_compressed_length(port: int) -> None:
    _, get_headers, get_body = fetch(port, "GET", "/metrics", {"Accept-Encoding": "gzip"})
    status, headers, body = fetch(port, "HEAD", "/metrics", {"Accept-Encoding": "gzip"})
    assert (status, body) == (200, b"")
    assert headers["Content-Encoding"] == "gzip"
    assert headers["Content-Length"] == get_headers["Content-Length"] == str(len(get_body))


def test_render_failure_is_a_500_without_traceback(
    port: int, app: FakeApp, caplog: pytest.LogCaptureFixture
) -> None:
    app.render_error = RuntimeError("secret-internal-detail")
    with caplog.at_level(logging.ERROR, logger="ses_exporter.web"):
        status, headers, body = fetch(port, "GET", "/metrics")
    assert status == 500
    assert headers["Content-Type"] == "text/plain; charset=utf-8"
    assert headers["X-Content-Type-Options"] == "nosniff"
    text = body.decode()
    assert text.startswith("500 Internal Server Error")
    assert "/metrics" in text
    for leak in ("Traceback", "RuntimeError", "secret-internal-detail", "File "):
        assert leak not in text
    [record] = [r for r in caplog.records if r.name == "ses_exporter.web"]
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], RuntimeError)
    # The server keeps serving after the failure.
    app.render_error = None
    assert fetch(port, "GET", "/metrics")[0] == 200


def test_custom_telemetry_path() -> None:
    app = FakeApp()
    server = WebServer(app, "127.0.0.1:0", telemetry_path="/probe/metrics")
    server.start()
    try:
        assert fetch(server.port, "GET", "/probe/metrics")[2] == METRICS
        assert fetch(server.port, "GET", "/metrics")[0] == 404
        assert b'href="./probe/metrics"' in fetch(server.port, "GET", "/status")[2]
    finally:
        server.shutdown()


@pytest.mark.parametrize("path", ["metrics", "/", "/-/ready", "/-/reload", "/a b", "/m?x", ""])
def test_invalid_telemetry_path_is_rejected(path: str) -> None:
    with pytest.raises(ValueError, match="telemetry path"):
        WebServer(FakeApp(), "127.0.0.1:0", telemetry_path=path)


# --- health, readiness, reload -------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_healthy(port: int, method: str) -> None:
    status, headers, body = fetch(port, method, "/-/healthy")
    assert status == 200
    assert body == (b"Healthy\n" if method == "GET" else b"")
    assert headers["Content-Length"] == "8"
    assert headers["Content-Type"] == "text/plain; charset=utf-8"


def test_ready_flips_from_503_to_200(port: int, app: FakeApp) -> None:
    status, _, body = fetch(port, "GET", "/-/ready")
    assert (status, body) == (503, b"Not ready\n")
    app.ready = True
    status, _, body = fetch(port, "GET", "/-/ready")
    assert (status, body) == (200, b"Ready\n")


def test_reload_success(port: int, app: FakeApp) -> None:
    status, headers, body = fetch(port, "POST", "/-/reload")
    assert (status, body) == (200, b"config reloaded\n")
    assert headers["Content-Type"] == "text/plain; charset=utf-8"
    assert app.reloads == 1


def test_reload_failure_returns_500_with_message(port: int, app: FakeApp) -> None:
    app.reload_result = (False, "accounts[0].regions[1]: 'us-east-x' is not an AWS region\n")
    status, _, body = fetch(port, "POST", "/-/reload", body=b"")
    assert status == 500
    assert body == b"accounts[0].regions[1]: 'us-east-x' is not an AWS region\n"


def test_reload_raising_is_a_500_without_traceback(port: int, app: FakeApp) -> None:
    app.reload_result = ValueError("boom")
    status, _, body = fetch(port, "POST", "/-/reload")
    assert status == 500
    assert b"Traceback" not in body
    assert b"boom" not in body


def test_reload_by_get_is_405(port: int, app: FakeApp) -> None:
    status, headers, body = fetch(port, "GET", "/-/reload")
    assert status == 405
    assert headers["Allow"] == "POST"
    assert body.startswith(b"405 Method Not Allowed")
    assert app.reloads == 0


def test_reload_body_too_large_is_413(port: int, app: FakeApp) -> None:
    status, headers, _ = fetch(port, "POST", "/-/reload", body=b"x" * 70_000)
    assert status == 413
    assert headers["Connection"] == "close"
    assert app.reloads == 0


# --- landing page ----------------------------------------------------------------------------


def test_landing_page_lists_targets_and_escapes_values(port: int, app: FakeApp) -> None:
    store = app.store
    keys = [
        ("prod", "us-east-1", "account"),
        ("prod", "eu-west-1", "cloudwatch"),
        ("<b>x</b>", "eu-west-1", "send_statistics"),
    ]
    for key, account_id in zip(keys, ["123456789012", "123456789012", "<b>acct</b>"], strict=True):
        store.register(key, account_id, 180.0)
    store.record_success(keys[0], "123456789012", [], 0.1, time.time() - 5)
    error = '<script>alert("x")</script> & AccessDenied'
    store.record_failure(keys[1], "123456789012", error, 0.1, time.time())
    status, headers, body = fetch(port, "GET", "/status")
    assert status == 200
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    page = body.decode()
    assert "<title>SES Exporter</title>" in page
    assert "1.2.3-test" in page
    for href in ("./", "./metrics", "./-/healthy", "./-/ready"):
        assert f'href="{href}"' in page
    assert "<script>" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; AccessDenied" in page
    assert "<b>acct</b>" not in page
    assert "&lt;b&gt;acct&lt;/b&gt;" in page
    assert '<tr class="ok"><td>123456789012</td><td>us-east-1</td><td>account</td>' in page
    assert '<tr class="failed">' in page
    assert '<tr class="pending">' in page


def test_landing_page_head(port: int) -> None:
    status, headers, body = fetch(port, "HEAD", "/status")
    assert (status, body) == (200, b"")
    assert int(headers["Content-Length"]) > 100


def test_render_landing_page_times_and_statuses() -> None:
    account, region = "111111111111", "us-east-1"
    statuses = [
        PollStatus(account, "us-west-2", "account", 180.0),
        PollStatus(account, region, "account", 180.0, 1, True, 1_700_000_000.0),
        PollStatus(
            account,
            region,
            "cloudwatch",
            900.0,
            attempts=2,
            success=False,
            last_success=1_699_999_000.0,
            duration=0.5,
            last_error="Throttled",
        ),
        PollStatus(account, region, "configuration_sets", 2700.0),
    ]
    page = render_landing_page("9.9", "/metrics", statuses, now=1_700_000_042.4)
    assert "<td>account</td><td>ok</td><td>2023-11-14T22:13:20Z</td><td>42</td><td></td>" in page
    assert (
        "<td>cloudwatch</td><td>failed</td><td>2023-11-14T21:56:40Z</td><td>1042</td>"
        "<td>Throttled</td>" in page
    )
    assert "<td>configuration_sets</td><td>pending</td><td>never</td><td>never</td>" in page
    # Sorted by account and region; collectors of a target in the store's order.
    rows = [line.split("</td>")[1:3] for line in page.split("<tr ")[1:]]
    assert [row[0].removeprefix("<td>") for row in rows] == [region] * 3 + ["us-west-2"]


def test_render_landing_page_without_targets() -> None:
    page = render_landing_page("9.9", "/metrics", [], now=0)
    assert "No targets configured." in page
    assert "<table" not in page


# --- routing and methods -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/nope",
        "//metrics",
        "/metrics/../metrics",
        "/metrics/",
        "/metrics/..",
        "/./metrics",
        "/METRICS",
        "/%6detrics",
        "/-/healthy/",
        "/-/",
        "/favicon.ico",
        "*",
    ],
)
def test_unknown_paths_are_404(port: int, app: FakeApp, path: str) -> None:
    response = raw_exchange(port, f"GET {path} HTTP/1.1\r\nConnection: close\r\n\r\n".encode())
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 404 Not Found\r\n")
    assert b"Content-Type: text/plain; charset=utf-8\r\n" in head
    assert b"X-Content-Type-Options: nosniff\r\n" in head
    assert body == b"404 page not found\n"
    assert app.accept_headers == []


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PUT", "/metrics", "GET, HEAD"),
        ("DELETE", "/", "GET, HEAD"),
        ("PATCH", "/-/healthy", "GET, HEAD"),
        ("OPTIONS", "/metrics", "GET, HEAD"),
        ("TRACE", "/", "GET, HEAD"),
        ("POST", "/metrics", "GET, HEAD"),
        ("POST", "/-/ready", "GET, HEAD"),
        ("HEAD", "/-/reload", "POST"),
        ("PUT", "/-/reload", "POST"),
        ("CONNECT", "/metrics", "GET, HEAD"),
        ("DELETE", "/nope", "GET, HEAD, POST"),
    ],
)
def test_unsupported_methods_are_405(
    port: int, app: FakeApp, method: str, path: str, allow: str
) -> None:
    status, headers, body = fetch(port, method, path)
    assert status == 405
    assert headers["Allow"] == allow
    assert headers["Content-Type"] == "text/plain; charset=utf-8"
    assert method == "HEAD" or body.startswith(b"405 Method Not Allowed")
    assert app.reloads == 0


@pytest.mark.parametrize(
    ("request_line", "status_line", "allow"),
    [
        (b"BREW /metrics HTTP/1.1", b"HTTP/1.1 405 Method Not Allowed\r\n", b"GET, HEAD"),
        (b"get /metrics HTTP/1.1", b"HTTP/1.1 405 Method Not Allowed\r\n", b"GET, HEAD"),
        (b"BREW /nope HTTP/1.1", b"HTTP/1.1 405 Method Not Allowed\r\n", b"GET, HEAD, POST"),
        (b"G(E)T /metrics HTTP/1.1", b"HTTP/1.1 400 Bad Request\r\n", None),
        (b"G\xc3\xa9T /metrics HTTP/1.1", b"HTTP/1.1 400 Bad Request\r\n", None),
    ],
)
def test_unknown_or_invalid_method_is_a_plain_text_4xx(
    port: int, app: FakeApp, request_line: bytes, status_line: bytes, allow: bytes | None
) -> None:
    response = raw_exchange(port, request_line + b"\r\nConnection: close\r\n\r\n")
    assert response.startswith(status_line)
    assert b"Content-Type: text/plain; charset=utf-8\r\n" in response
    if allow is not None:
        assert b"Allow: " + allow + b"\r\n" in response
    assert b"<html" not in response.lower()
    assert app.accept_headers == []


@pytest.mark.parametrize(
    ("request_bytes", "status_line"),
    [
        pytest.param(
            b"GET /" + b"a" * 66_000 + b" HTTP/1.1\r\n\r\n", b"HTTP/1.1 414 ", id="long-uri"
        ),
        pytest.param(
            b"GET / HTTP/1.1\r\nX-Long: " + b"a" * 66_000 + b"\r\n\r\n",
            b"HTTP/1.1 431 ",
            id="long-header",
        ),
        pytest.param(
            b"GET / HTTP/1.1\r\n" + b"X-Many: 1\r\n" * 101 + b"\r\n",
            b"HTTP/1.1 431 ",
            id="too-many-headers",
        ),
        pytest.param(b"GET / HTTP/9.1\r\n\r\n", b"HTTP/1.1 505 ", id="http-9"),
        pytest.param(b"GET / HTTX/1.1\r\n\r\n", b"HTTP/1.1 400 ", id="bad-version"),
        pytest.param(b"GET / HTTP/1.1 extra\r\n\r\n", b"HTTP/1.1 400 ", id="four-words"),
        pytest.param(
            b"POST /-/reload HTTP/1.1\r\nContent-Length: x\r\n\r\n",
            b"HTTP/1.1 400 ",
            id="bad-content-length",
        ),
        pytest.param(b"GET /metrics\r\n\r\n", b"HTTP/1.1 400 ", id="http-0.9"),
    ],
)
def test_protocol_errors_are_clean_plain_text(
    port: int, request_bytes: bytes, status_line: bytes
) -> None:
    response = raw_exchange(port, request_bytes)
    head, _, body = response.partition(b"\r\n\r\n")
    head += b"\r\n"
    assert head.startswith(status_line)
    assert b"Content-Type: text/plain; charset=utf-8\r\n" in head
    assert b"X-Content-Type-Options: nosniff\r\n" in head
    assert b"Connection: close\r\n" in head
    assert f"Content-Length: {len(body)}\r\n".encode() in head
    assert b"<html" not in body.lower()
    assert b"Traceback" not in body


def test_no_access_log_on_stderr(port: int, capfd: pytest.CaptureFixture[str]) -> None:
    fetch(port, "GET", "/metrics")
    fetch(port, "GET", "/nope")
    raw_exchange(port, b"GET / HTTX/1.1\r\n\r\n")
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\n")  # and hang up mid-request
    time.sleep(0.05)
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")


# --- connections ---------------------------------------------------------------------------


def test_keep_alive_serves_several_requests_on_one_connection(port: int, app: FakeApp) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/metrics")
        first = conn.getresponse()
        assert (first.status, first.read()) == (200, METRICS)
        sock = conn.sock
        assert sock is not None
        for method, path, body, expected in [
            ("GET", "/nope", None, 404),
            ("HEAD", "/metrics", None, 200),
            ("POST", "/-/reload", b"ignored body", 200),
            ("PUT", "/metrics", b"abc", 405),
            ("GET", "/-/healthy", None, 200),
        ]:
            conn.request(method, path, body=body)
            response = conn.getresponse()
            assert response.status == expected
            assert response.getheader("Connection") is None
            response.read()
            assert conn.sock is sock, f"connection not reused after {method} {path}"
    finally:
        conn.close()
    assert app.reloads == 1


def test_idle_connection_is_closed_after_timeout(app: FakeApp) -> None:
    server = WebServer(app, "127.0.0.1:0", connection_timeout=0.2)
    server.start()
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            started = time.monotonic()
            assert sock.recv(1024) == b""  # closed by the server, not by our 5 s timeout
            assert time.monotonic() - started < 2
    finally:
        server.shutdown()


def test_shutdown_is_quick_closes_idle_connections_and_releases_port(app: FakeApp) -> None:
    server = WebServer(app, "127.0.0.1:0")
    server.start()
    port = server.port
    idle = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    idle.request("GET", "/-/healthy")
    assert idle.getresponse().read() == b"Healthy\n"
    assert idle.sock is not None
    started = time.monotonic()
    server.shutdown()
    assert time.monotonic() - started < 1.0
    assert idle.sock.recv(1024) == b""  # the idle keep-alive connection was closed
    idle.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    server.shutdown()  # idempotent
    again = WebServer(app, f"127.0.0.1:{port}")  # the port is free again
    again.start()
    try:
        assert fetch(port, "GET", "/-/healthy")[0] == 200
    finally:
        again.shutdown()


def test_port_in_use_raises_at_construction(shared: tuple[WebServer, FakeApp]) -> None:
    with pytest.raises(OSError):
        WebServer(FakeApp(), f"127.0.0.1:{shared[0].port}")


def test_a_shut_down_server_cannot_start_again(app: FakeApp) -> None:
    server = WebServer(app, "127.0.0.1:0")
    server.start()
    with pytest.raises(RuntimeError):
        server.start()
    server.shutdown()
    with pytest.raises(RuntimeError):
        server.start()


def test_shutdown_without_start_closes_socket(app: FakeApp) -> None:
    server = WebServer(app, "127.0.0.1:0")
    port = server.port
    started = time.monotonic()
    server.shutdown()
    assert time.monotonic() - started < 0.5
    WebServer(app, f"127.0.0.1:{port}").shutdown()


def test_all_interfaces_address_serves_loopback(app: FakeApp) -> None:
    server = WebServer(app, ":0")
    server.start()
    try:
        assert fetch(server.port, "GET", "/-/healthy")[0] == 200
    finally:
        server.shutdown()


def test_ipv6_loopback(app: FakeApp) -> None:
    server = WebServer(app, "[::1]:0")  # CI and Docker have an IPv6 loopback: no skip
    server.start()
    try:
        conn = http.client.HTTPConnection("::1", server.port, timeout=5)
        conn.request("GET", "/-/healthy")
        assert conn.getresponse().read() == b"Healthy\n"
        conn.close()
    finally:
        server.shutdown()


def test_basic_auth_and_configured_headers_over_plain_http(app: FakeApp) -> None:
    hashed = bcrypt.hashpw(b"p", bcrypt.gensalt(4)).decode()
    config = parse_web_config(
        f"basic_auth_users: {{u: '{hashed}'}}\n"
        "http_server_config: {headers: {X-Frame-Options: deny}}\n"
    )
    server = WebServer(app, "127.0.0.1:0", web_config=config)
    server.start()
    try:
        status, headers, body = fetch(server.port, "GET", "/metrics")
        assert (status, body) == (401, b"Unauthorized\n")
        assert headers["WWW-Authenticate"] == "Basic"
        assert headers["X-Frame-Options"] == "deny"
        assert app.accept_headers == []
        auth = {"Authorization": "Basic dTpw"}  # u:p
        status, headers, body = fetch(server.port, "GET", "/metrics", auth)
        assert (status, body) == (200, METRICS)
        assert headers["X-Frame-Options"] == "deny"
        assert headers["X-Content-Type-Options"] == "nosniff"
        # Protocol errors carry the configured headers too.
        response = raw_exchange(server.port, b"GET / HTTX/1.1\r\n\r\n")
        assert response.startswith(b"HTTP/1.1 400 ")
        assert b"X-Frame-Options: deny\r\n" in response
    finally:
        server.shutdown()


def test_reload_without_a_reloader_is_a_500(app: FakeApp) -> None:
    server = WebServer(app, "127.0.0.1:0")
    server.start()
    try:
        assert fetch(server.port, "POST", "/-/reload")[::2] == (500, b"reload is not available\n")
    finally:
        server.shutdown()


# --- parse_listen_address ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (":10049", ("", 10049)),
        ("0.0.0.0:1", ("0.0.0.0", 1)),
        ("[::1]:80", ("::1", 80)),
        ("[::]:10049", ("::", 10049)),
        ("localhost:9", ("localhost", 9)),
        ("127.0.0.1:0", ("127.0.0.1", 0)),
        ("exporter.example.com:65535", ("exporter.example.com", 65535)),
    ],
)
def test_parse_listen_address(value: str, expected: tuple[str, int]) -> None:
    assert parse_listen_address(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "expected host:port"),
        ("abc", "expected host:port"),
        ("10049", "expected host:port"),
        (":99999", "port must be a number from 0 to 65535"),
        (":", "port must be a number"),
        (":-1", "port must be a number"),
        (":+80", "port must be a number"),
        (":\uff18\uff10", "port must be a number"),  # fullwidth digits
        ("host:http", "port must be a number"),
        ("::1:80", "IPv6 addresses in brackets"),
        ("[127.0.0.1]:80", "only for IPv6"),
        ("a b:80", "invalid host"),
        ("[::1]", r"expected \[ipv6\]:port"),
        ("[::1]:", "port must be a number"),
        ("[zz]:80", "only for IPv6"),
    ],
)
def test_parse_listen_address_rejects(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as err:
        parse_listen_address(value)
    assert repr(value) in str(err.value)


def test_bad_listen_address_raises_value_error_at_construction() -> None:
    with pytest.raises(ValueError, match="expected host:port"):
        WebServer(FakeApp(), "abc")
