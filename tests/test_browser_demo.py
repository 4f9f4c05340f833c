"""The pages of ``ses-exporter --demo`` in a real browser: the 14-day Sending statistics
chart against what the demo sent, and the README's screenshots.

The demo's past is a pure function of (seed, region, minute) (``ses_exporter.demo.history``):
every hour that ended before the daemon started is recomputed here and must be on the
chart, to the message. With ``SES_EXPORTER_SCREENSHOTS=1`` the test of the two views also
saves them to ``docs/images/`` for the README.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator

import pytest

pytest.register_assert_rewrite("tests.browser")  # also a plugin: rewrite it before import

from ses_exporter.demo import DEMO_CONFIG  # noqa: E402
from ses_exporter.demo.history import DAY, HISTORY_DAYS, history_minutes  # noqa: E402
from ses_exporter.demo.world import DEMO_ACCOUNT_ID, PROFILES  # noqa: E402
from tests.browser import (  # noqa: E402
    GuardedPage,
    chart_points,
    chart_table,
    number,
    screenshot,
    wait_for_first_polls,
)
from tests.daemon import DaemonProcess  # noqa: E402

pytest_plugins = ["tests.browser"]  # one browser for the session, a fresh page per test
# One daemon per module: its start and first polls count in the first test's time.
pytestmark = [pytest.mark.process, pytest.mark.timeout(300)]

SEED = 2026  # DemoWorld's default, which --demo uses
REGIONS = ("us-east-1", "eu-west-1")
COLLECTORS = ("account", "send_statistics", "cloudwatch", "configuration_sets")
HOUR = 3600
SERIES = ("sends", "rejects", "bounces", "complaints")


class Demo:
    def __init__(self, daemon: DaemonProcess, started: float) -> None:
        self.daemon = daemon
        self.started = started  # time.time() just before the daemon was started

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.daemon.port}{path}"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    workdir = tmp_path_factory.mktemp("browser-demo")
    started = time.time()
    with DaemonProcess(DEMO_CONFIG, workdir, "--demo", log_level="info") as daemon:
        daemon.wait_ready(timeout=90)
        wait_for_first_polls(daemon, {(DEMO_ACCOUNT_ID, r) for r in REGIONS}, COLLECTORS)
        yield Demo(daemon, started)


def past_hours(region: str, first: int, end: int) -> dict[str, dict[int, int]]:
    """Per series, {hour: count} of the demo's history in [first, end) (whole hours), as
    GetSendStatistics reports it: sends are delivery attempts, summed over the sets."""
    hours: dict[str, Counter[int]] = {series: Counter() for series in SERIES}
    sends_per_tick = PROFILES[region].sends_per_tick
    for minute in history_minutes(SEED, region, sends_per_tick, first, end):
        hour = minute.start // HOUR * HOUR
        for counts in minute.events.values():
            hours["sends"][hour] += counts["send"]
            hours["bounces"][hour] += counts["bounce"]
            hours["complaints"][hour] += counts["complaint"]
        hours["rejects"][hour] += minute.rejects
    return {series: dict(counter) for series, counter in hours.items()}


def choose_range(page: GuardedPage, days: int) -> None:
    with page.page.expect_navigation(wait_until="load"):
        page.page.locator(f'a.range[data-days="{days}"]').first.click()
    assert f"days={days}" in page.page.url


@pytest.mark.parametrize("region", REGIONS)
def test_the_14_day_chart_has_every_hour_the_demo_sent_mail(
    demo: Demo, page: GuardedPage, region: str
) -> None:
    page.goto(demo.url(f"/targets/{DEMO_ACCOUNT_ID}/{region}"))
    choose_range(page, 14)
    now = time.time()
    # Hours wholly in the demo's past (before it started), and not so old that
    # GetSendStatistics' two weeks had left them behind when the daemon polled.
    first = int((now - HISTORY_DAYS * DAY) // HOUR + 2) * HOUR
    end = int(demo.started // HOUR) * HOUR
    expected = past_hours(region, first, end)
    assert len(expected["sends"]) > 13 * 24  # the demo sends every hour
    for series in SERIES:
        points = chart_points(page, series)
        shown = {t: v for t, v in points.items() if first <= t < end and v}
        assert shown == {t: v for t, v in expected[series].items() if v}, series
        # The table alternative has the same numbers as the chart, hour by hour.
        table = chart_table(page, series)
        assert {t: v for t, v in table.items() if v} == {t: v for t, v in points.items() if v}
    # Thirteen days back is on the 14-day chart, not on the 7-day one.
    thirteen_days_ago = int((now - 13 * DAY) // HOUR * HOUR)
    assert chart_points(page, "sends")[thirteen_days_ago] == expected["sends"][thirteen_days_ago]
    choose_range(page, 7)
    seven_days = chart_points(page, "sends")
    assert thirteen_days_ago not in seven_days
    assert min(seven_days) >= now - 7 * DAY - HOUR
    page.assert_clean()


def test_the_demos_fleet_and_target_views(demo: Demo, page: GuardedPage) -> None:
    """What a new user sees first; saved as the README's screenshots when asked for."""
    page.goto(demo.url("/"))
    rows = page.page.eval_on_selector_all(
        "#fleet tr.target",
        """rows => rows.map(row => [row.dataset.region,
            row.querySelector('[data-col=health]').textContent.trim(),
            row.querySelector('[data-col=production]').textContent.trim()])""",
    )
    assert sorted(rows) == [
        ["eu-west-1", "Healthy", "Sandbox"],
        ["us-east-1", "Healthy", "Production"],
    ]
    screenshot(page, "fleet-view.png")

    row = page.page.locator('#fleet tr.target[data-region="us-east-1"]')
    with page.page.expect_navigation(wait_until="load"):
        row.locator("[data-col=account] a").first.click()
    assert number(page.page.locator('[data-field="daily-sending-quota"]').first.inner_text()) == (
        PROFILES["us-east-1"].quota
    )
    sets = page.page.eval_on_selector_all(
        "#configuration-sets tr[data-configuration-set]",
        "rows => rows.map(r => r.dataset.configurationSet)",
    )
    assert sorted(sets) == ["marketing", "newsletters", "transactional"]
    cloudwatch = page.page.get_by_role("link", name="View in CloudWatch")
    assert cloudwatch.count() >= 1
    for href in cloudwatch.evaluate_all("links => links.map(a => a.href)"):
        assert href.startswith("https://") and "cloudwatch" in href and "us-east-1" in href
    choose_range(page, 14)
    assert chart_points(page, "sends")
    screenshot(page, "target-view.png")
    page.assert_clean()
