"""A real headless browser for the exporter's pages: Debian's Chromium driven by Playwright.

A pytest plugin: a test module that says ``pytest_plugins = ["tests.browser"]`` gets

* ``browser``: one Chromium for the whole session (``/usr/bin/chromium``, headless, no
  sandbox: the tests run as root). Playwright never downloads a browser of its own here.
* ``page``: a ``GuardedPage`` per test, in a fresh browser context that lets requests to
  127.0.0.1 through and blocks every other one (recorded), and records console errors,
  uncaught exceptions, Content-Security-Policy violations and dialogs (``alert()``: a
  hostile name that ran as script). The test ends with ``page.assert_clean()``; the
  fixture checks again at teardown, so a test that forgets still fails.

Timeouts are generous (30 s per action, 60 s per navigation): the tests wait for
conditions, never for time, and a loaded 2-core machine is slow, not wrong.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest
from playwright.sync_api import Browser, Page, Playwright, Route, sync_playwright

from tests.daemon import DaemonProcess

CHROMIUM = "/usr/bin/chromium"  # Debian's package; .ci/run installs it
ACTION_TIMEOUT_MS = 30_000
NAVIGATION_TIMEOUT_MS = 60_000
VIEWPORT = {"width": 1366, "height": 900}
ALLOWED_HOST = "127.0.0.1"
SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "images"
# With SES_EXPORTER_SCREENSHOTS=1 the tests that take screenshots write them to
# docs/images/ (for the README); otherwise they write nothing.
SCREENSHOTS_WANTED = os.environ.get("SES_EXPORTER_SCREENSHOTS") == "1"

# Runs in every document before its own scripts, outside its Content-Security-Policy
# (Playwright injects it through the DevTools protocol): a CSP violation becomes a console
# error that the page object records, whichever document it happened in.
_REPORT_CSP_VIOLATIONS = """
document.addEventListener('securitypolicyviolation', (e) => {
  console.error('CSP violation: ' + e.violatedDirective + ' blocked ' + (e.blockedURI || 'inline')
                + ' at ' + e.sourceFile + ':' + e.lineNumber);
});
"""

T = TypeVar("T")


def allowed(url: str) -> bool:
    """Only plain HTTP(S) to 127.0.0.1, where the daemon under test listens."""
    parts = urllib.parse.urlsplit(url)
    return parts.scheme in ("http", "https") and parts.hostname == ALLOWED_HOST


class GuardedPage:
    """A Playwright page plus what went wrong while it was open."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.blocked: list[str] = []
        self.console_errors: list[str] = []
        self.page_errors: list[str] = []
        self.dialogs: list[str] = []
        self.websockets: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.page_errors.append(str(error)))
        page.on("dialog", self._dialog)
        page.on("websocket", lambda ws: self.websockets.append(ws.url))
        # A response with an error status (the 404 page) is logged by Chromium as a console
        # error about the document itself; a test that expects one says so.
        self.expected_console: list[str] = []

    def _console(self, message: Any) -> None:
        if message.type == "error":
            where = message.location.get("url", "")
            self.console_errors.append(f"{message.text} ({where})")

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def route(self, route: Route) -> None:
        url = route.request.url
        if allowed(url):
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort("blockedbyclient")

    def goto(self, url: str) -> Any:
        """Navigates and waits until the document and its subresources have loaded."""
        response = self.page.goto(url, wait_until="load")
        assert response is not None, url
        return response

    def problems(self) -> dict[str, list[str]]:
        unexpected = [
            e for e in self.console_errors if not any(x in e for x in self.expected_console)
        ]
        found = {
            "requests blocked (not to 127.0.0.1)": self.blocked,
            "console errors and CSP violations": unexpected,
            "uncaught exceptions": self.page_errors,
            "dialogs (alert/confirm/prompt)": self.dialogs,
            "websockets": self.websockets,
        }
        return {what: items for what, items in found.items() if items}

    def assert_clean(self) -> None:
        problems = self.problems()
        assert problems == {}, problems


@pytest.fixture(scope="session")
def playwright_driver() -> Iterator[Playwright]:
    if shutil.which(CHROMIUM) is None:
        raise AssertionError(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)")
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright_driver: Playwright) -> Iterator[Browser]:
    chromium = playwright_driver.chromium.launch(
        executable_path=CHROMIUM,
        headless=True,
        timeout=NAVIGATION_TIMEOUT_MS,
        args=[
            "--no-sandbox",  # root, in a container
            "--disable-dev-shm-usage",  # a small /dev/shm must not crash tabs
            # Chromium's own background traffic (updates, safe browsing, metrics): none of
            # it goes through the page's routes, and there is no network to reach anyway.
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-domain-reliability",
            "--no-pings",
        ],
    )
    try:
        yield chromium
    finally:
        chromium.close()


@contextlib.contextmanager
def guarded_page(browser: Browser) -> Iterator[GuardedPage]:
    """A page in a fresh context (no cookies, no cache) that only reaches 127.0.0.1."""
    context = browser.new_context(
        viewport=VIEWPORT,  # type: ignore[arg-type]
        color_scheme="light",
        service_workers="block",
        locale="en-GB",
        timezone_id="UTC",
    )
    try:
        context.set_default_timeout(ACTION_TIMEOUT_MS)
        context.set_default_navigation_timeout(NAVIGATION_TIMEOUT_MS)
        context.add_init_script(_REPORT_CSP_VIOLATIONS)
        guarded = GuardedPage(context.new_page())
        context.route("**/*", guarded.route)
        yield guarded
    finally:
        context.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[GuardedPage]:
    with guarded_page(browser) as guarded:
        yield guarded
        guarded.assert_clean()


def wait_until(what: str, check: Callable[[], T | None], timeout: float = 90.0) -> T:
    """Polls ``check`` until it returns something true; fails after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.5)


def screenshot(page: GuardedPage, name: str) -> Path | None:
    """A full-page PNG of what the page shows, into docs/images/ when asked for."""
    if not SCREENSHOTS_WANTED:
        return None
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / name
    page.page.screenshot(path=str(path), full_page=True, animations="disabled")
    return path


_GROUPING = re.compile(r"(?<=\d)[,\u00a0\u202f\u2009](?=\d{3}\b)")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def number(text: str) -> float:
    """The first number in a cell's text: "50,000" -> 50000, "12.3 %" -> 12.3."""
    found = _NUMBER.search(_GROUPING.sub("", text))
    assert found is not None, f"no number in {text!r}"
    return float(found.group(0))


def wait_for_first_polls(
    daemon: DaemonProcess, targets: set[tuple[str, str]], collectors: Iterable[str]
) -> None:
    """Until every collector of every (account id, region) has succeeded once, by the
    daemon's own ``ses_exporter_collector_success``: the pages then show AWS's answers."""
    wanted = {(a, r, c) for a, r in targets for c in collectors}

    def polled() -> bool:
        scrape = daemon.scrape(timeout=30)
        done = {
            (labels["account_id"], labels["region"], labels["collector"])
            for labels, value in (
                (dict(key), v) for key, v in scrape.values("ses_exporter_collector_success").items()
            )
            if value == 1
        }
        return wanted <= done

    wait_until("the first successful poll of every collector", polled, timeout=120)


_HOUR_TEXT = re.compile(r"(\d{4}-\d{2}-\d{2})[ T](\d{2}):00")


def chart_points(page: GuardedPage, series: str) -> dict[int, float]:
    """{hour (unix seconds): value} of the circles of one series' Sending statistics chart."""
    points = page.page.eval_on_selector_all(
        f'svg.chart[data-series="{series}"] circle[data-t]',
        "cs => cs.map(c => [c.dataset.t, c.dataset.v])",
    )
    return {int(t): float(v) for t, v in points}


def chart_table(page: GuardedPage, series: str) -> dict[int, float]:
    """{hour: value} of one chart's table alternative: rows of (hour in UTC as
    "YYYY-MM-DD HH:00", value)."""
    rows = page.page.eval_on_selector_all(
        f'table.chart-data[data-series="{series}"] tr',
        "rows => rows.filter(r => r.querySelector('td'))"
        ".map(r => [r.cells[0].textContent, r.cells[r.cells.length - 1].textContent])",
    )
    table = {}
    for hour_text, value in rows:
        found = _HOUR_TEXT.search(hour_text)
        assert found is not None, f"no hour in {hour_text!r}"
        day, hour = found.groups()
        when = datetime.strptime(f"{day} {hour}", "%Y-%m-%d %H").replace(tzinfo=UTC)
        table[int(when.timestamp())] = number(value)
    return table
