"""The browser harness itself: what it must catch, it catches.

A page served here (a stdlib HTTP server on 127.0.0.1, no daemon) asks for an image from
another host, runs an inline script that calls ``alert()`` and logs an error, and, served
with a strict Content-Security-Policy, has its inline script refused. ``GuardedPage``
must report each, or the browser tests' "nothing was blocked, no console error, no
dialog" would prove nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

pytest.register_assert_rewrite("tests.browser")  # also a plugin: rewrite it before import

from playwright.sync_api import Browser  # noqa: E402

from tests.browser import allowed, guarded_page, number  # noqa: E402

pytest_plugins = ["tests.browser"]  # one browser for the session, a fresh page per test

PAGE = (
    b"<!DOCTYPE html><html><body><p id=p>hello</p>"
    b'<img src="http://example.invalid/pixel.png" alt="">'
    b"<script>console.error('boom'); alert('hostile');</script></body></html>"
)


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        if self.path == "/strict":
            self.send_header("Content-Security-Policy", "default-src 'self'")
        self.end_headers()
        self.wfile.write(PAGE)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_requests_off_127_0_0_1_are_blocked_and_recorded(browser: Browser, site: str) -> None:
    with guarded_page(browser) as page:
        page.goto(site + "/")
        assert page.page.locator("#p").inner_text() == "hello"
        assert page.blocked == ["http://example.invalid/pixel.png"]
        assert page.dialogs == ["alert: hostile"]
        assert any(error.startswith("boom") for error in page.console_errors)
        problems = page.problems()
        assert set(problems) == {
            "requests blocked (not to 127.0.0.1)",
            "console errors and CSP violations",
            "dialogs (alert/confirm/prompt)",
        }
        with pytest.raises(AssertionError):
            page.assert_clean()


def test_csp_violations_are_recorded(browser: Browser, site: str) -> None:
    with guarded_page(browser) as page:
        page.goto(site + "/strict")
        assert page.dialogs == []  # the policy refused the inline script
        violations = [e for e in page.console_errors if e.startswith("CSP violation")]
        assert violations, page.console_errors
        assert any("script-src" in v for v in violations), violations


def test_only_http_to_127_0_0_1_is_allowed() -> None:
    assert allowed("http://127.0.0.1:9/x")
    assert allowed("https://127.0.0.1/")
    for url in (
        "http://localhost:9/",
        "http://127.0.0.2/",
        "https://example.com/",
        "ws://127.0.0.1:9/",
        "http://127.0.0.1.example.com/",
    ):
        assert not allowed(url), url


def test_numbers_are_read_as_people_write_them() -> None:
    assert number("50,000") == 50_000
    assert number("12.3 %") == 12.3
    assert number("14/s") == 14
    assert number("5 of 200") == 5
