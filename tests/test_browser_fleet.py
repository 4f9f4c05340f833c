"""The fleet and target views in a real browser, against the real daemon on a simulated AWS
where three accounts stand differently.

The world (``tests.accounts_world``: moto, with sesv2 GetAccount answered per account):

=============  ==========================  ==================  =====  ====  ===========
account        name in the config          EnforcementStatus   quota  rate  regions
=============  ==========================  ==================  =====  ====  ===========
111111111111   ``<script>alert(1)</script>``  HEALTHY          50000   14  us-east-1,
                                                                            eu-west-1
222222222222   quotes, ``&``, an ``<img>``  PROBATION           10000    5  us-east-1
333333333333   300 characters               SHUTDOWN (sandbox)    200    1  ap-southeast-2
=============  ==========================  ==================  =====  ====  ===========

Before the daemon starts, each target sends a few emails through moto's SES (and two have
some rejected, from an unverified sender); GetSendStatistics answers them in the
15-minute buckets they fell in. The daemon (``python -m ses_exporter``) reaches each
account through its role ARN, as in production, and polls every collector every few
seconds. The browser reads the pages as a person would, clicking links and the filter
form's submit button.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from typing import Any

import pytest

pytest.register_assert_rewrite("tests.browser")  # also a plugin: rewrite it before import

from tests.accounts_world import AccountsWorld, Standing, role_arn  # noqa: E402
from tests.browser import (  # noqa: E402
    GuardedPage,
    chart_points,
    chart_table,
    number,
    wait_for_first_polls,
)
from tests.daemon import DaemonProcess  # noqa: E402

pytest_plugins = ["tests.browser"]  # one browser for the session, a fresh page per test
# One daemon per module: its start and first polls count in the first test's time.
pytestmark = [pytest.mark.process, pytest.mark.timeout(300)]

HEALTHY, PROBATION, SHUTDOWN = "111111111111", "222222222222", "333333333333"
ACCOUNTS = {
    HEALTHY: Standing("HEALTHY", 50_000, 14),
    PROBATION: Standing("PROBATION", 10_000, 5),
    SHUTDOWN: Standing("SHUTDOWN", 200, 1, production_access=False, sending_enabled=False),
}
LONG_NAME = "".join(f"{n:03d}-long-account-name-" for n in range(14))[:300]
NAMES = {
    HEALTHY: "<script>alert(1)</script>",
    PROBATION: 'O\'Brien "Mail" & <img src=x onerror=alert(2)> Co',
    SHUTDOWN: LONG_NAME,
}
REGIONS = {HEALTHY: ("us-east-1", "eu-west-1"), PROBATION: ("us-east-1",)}
REGIONS[SHUTDOWN] = ("ap-southeast-2",)
# (account, region) -> (emails sent, emails rejected) before the daemon starts
MAIL = {
    (HEALTHY, "us-east-1"): (7, 1),
    (HEALTHY, "eu-west-1"): (3, 0),
    (PROBATION, "us-east-1"): (5, 2),
    (SHUTDOWN, "ap-southeast-2"): (2, 0),
}
COLLECTORS = ("account", "send_statistics", "configuration_sets", "identities", "dedicated_ips")
HEALTH_WORDS = {"HEALTHY": "Healthy", "PROBATION": "Under review", "SHUTDOWN": "Paused"}
# The console's panes of the target view, in its order: (section id, h2 text).
PANES = (
    ("sending-limits", "Sending limits"),
    ("account-health", "Account health"),
    ("daily-email-usage", "Daily email usage"),
    ("smtp-settings", "SMTP settings"),
    ("sending-statistics", "Sending statistics"),
    ("reputation-metrics", "Reputation metrics"),
)
SERIES_FIELDS = {
    "sends": "DeliveryAttempts",
    "rejects": "Rejects",
    "bounces": "Bounces",
    "complaints": "Complaints",
}
assert len(LONG_NAME) == 300


def config(endpoint: str) -> str:
    lines = ["accounts:"]
    for account_id, name in NAMES.items():
        lines += [
            f"  - name: {yaml_string(name)}",
            f"    role_arn: {role_arn(account_id)}",
            f"    endpoint_url: {endpoint}",
            f"    regions: [{', '.join(REGIONS[account_id])}]",
            "    ses_requests_per_second: 1000",
        ]
    lines += [
        "collectors:",
        "  account: {interval: 2s}",
        "  send_statistics: {interval: 2s}",
        "  configuration_sets: {interval: 5s}",
        "  identities: {interval: 5s}",
        "  dedicated_ips: {interval: 5s}",
        "  cloudwatch: {enabled: false}",
    ]
    return "\n".join(lines) + "\n"


def yaml_string(text: str) -> str:
    """A double-quoted YAML scalar (YAML's escapes for ``"`` and ``\\`` are JSON's)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class World:
    def __init__(self, aws: AccountsWorld, daemon: DaemonProcess) -> None:
        self.aws, self.daemon = aws, daemon
        self.base = f"http://127.0.0.1:{daemon.port}"
        # What GetSendStatistics answers each target, as the daemon polled it.
        self.send_statistics = {target: aws.send_statistics(*target) for target in MAIL}

    def url(self, path: str) -> str:
        return self.base + path


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with AccountsWorld(ACCOUNTS) as aws:
        for (account_id, region), (sent, rejected) in MAIL.items():
            aws.send_mail(account_id, region, sent, rejected)
        workdir = tmp_path_factory.mktemp("browser-fleet")
        with DaemonProcess(config(aws.url), workdir, log_level="info") as daemon:
            daemon.wait_ready(timeout=60)
            wait_for_first_polls(daemon, set(MAIL), COLLECTORS)
            yield World(aws, daemon)


def fleet_rows(page: GuardedPage) -> list[dict[str, str]]:
    """Every row of the fleet table: its target and the text of each data-col cell."""
    return page.page.eval_on_selector_all(
        "#fleet tr.target",
        """rows => rows.map(row => {
            const cells = {account_id: row.dataset.accountId, region: row.dataset.region};
            for (const cell of row.querySelectorAll('[data-col]')) {
                cells[cell.dataset.col] = cell.textContent.replace(/\\s+/g, ' ').trim();
            }
            return cells;
        })""",
    )


def targets_of(rows: list[dict[str, str]]) -> list[tuple[str, str]]:
    return [(row["account_id"], row["region"]) for row in rows]


def test_the_fleet_view_shows_each_accounts_health_worst_first(
    world: World, page: GuardedPage
) -> None:
    response = page.goto(world.url("/"))
    assert response.status == 200
    csp = response.headers.get("content-security-policy", "")
    assert "default-src 'self'" in csp, csp
    rows = fleet_rows(page)
    assert [(row["account_id"], row["region"], row["health"]) for row in rows[:2]] == [
        (SHUTDOWN, "ap-southeast-2", "Paused"),
        (PROBATION, "us-east-1", "Under review"),
    ]
    assert sorted(targets_of(rows[2:])) == [(HEALTHY, "eu-west-1"), (HEALTHY, "us-east-1")]
    assert [row["health"] for row in rows[2:]] == ["Healthy", "Healthy"]
    by_target = {(row["account_id"], row["region"]): row for row in rows}
    for (account_id, region), (sent, _) in MAIL.items():
        row, standing = by_target[(account_id, region)], ACCOUNTS[account_id]
        assert NAMES[account_id] in row["account"]
        assert account_id in row["account"]
        assert row["region"] == region
        assert row["health"] == HEALTH_WORDS[standing.enforcement_status]
        assert row["sending"] == ("Enabled" if standing.sending_enabled else "Disabled")
        assert row["production"] == ("Production" if standing.production_access else "Sandbox")
        assert number(row["quota"]) == standing.max_24_hour_send
        assert number(row["max-rate"]) == standing.max_send_rate
        assert number(row["sent"]) == sent
        used = number(row["quota-used"])
        assert math.isclose(used, round(100 * sent / standing.max_24_hour_send, 1), abs_tol=0.1)
        assert "%" in row["quota-used"]
    count = page.page.locator("#fleet-count").inner_text()
    assert "4" in count, count
    page.assert_clean()


def submit_filters(page: GuardedPage, **values: str) -> list[tuple[str, str]]:
    """Fills the filter form as a person would, submits it and returns the rows' targets."""
    form = page.page.locator("form#filters")
    for name, value in values.items():
        field = form.locator(f"[name={name}]")
        if field.evaluate("e => e.tagName") == "SELECT":
            field.select_option(value)
        else:
            field.fill(value)
    with page.page.expect_navigation(wait_until="load"):
        form.locator("[type=submit]").first.click()
    query = dict(re.findall(r"[?&]([^=&]+)=([^&]*)", page.page.url))
    for name, value in values.items():
        assert query.get(name) == value.replace(" ", "+"), (name, page.page.url)
    return targets_of(fleet_rows(page))


def test_the_filter_form_narrows_the_fleet(world: World, page: GuardedPage) -> None:
    page.goto(world.url("/"))
    assert submit_filters(page, health="PROBATION") == [(PROBATION, "us-east-1")]
    page.goto(world.url("/"))
    assert submit_filters(page, health="SHUTDOWN") == [(SHUTDOWN, "ap-southeast-2")]
    page.goto(world.url("/"))
    healthy = submit_filters(page, health="HEALTHY")
    assert sorted(healthy) == [(HEALTHY, "eu-west-1"), (HEALTHY, "us-east-1")]
    page.goto(world.url("/"))
    assert submit_filters(page, region="eu-west-1") == [(HEALTHY, "eu-west-1")]
    page.goto(world.url("/"))
    assert submit_filters(page, q="3333") == [(SHUTDOWN, "ap-southeast-2")]
    page.goto(world.url("/"))
    by_name = submit_filters(page, q="script")  # a part of the account's name
    assert sorted(by_name) == [(HEALTHY, "eu-west-1"), (HEALTHY, "us-east-1")]
    page.goto(world.url("/"))
    assert submit_filters(page, q="script", region="us-east-1") == [(HEALTHY, "us-east-1")]
    page.goto(world.url("/"))
    assert submit_filters(page, q="no such account") == []
    assert "0" in page.page.locator("#fleet-count").inner_text()
    page.assert_clean()


def open_target(page: GuardedPage, world: World, account_id: str, region: str) -> None:
    """From the fleet view, by the link in the target's account cell (a relative link)."""
    page.goto(world.url("/"))
    row = page.page.locator(
        f'#fleet tr.target[data-account-id="{account_id}"][data-region="{region}"]'
    )
    with page.page.expect_navigation(wait_until="load"):
        row.locator("[data-col=account] a").first.click()
    assert page.page.url.split("?")[0] == world.url(f"/targets/{account_id}/{region}")


def field(page: GuardedPage, name: str) -> str:
    return page.page.locator(f'[data-field="{name}"]').first.inner_text().strip()


@pytest.mark.parametrize(
    ("account_id", "region"), [(PROBATION, "us-east-1"), (SHUTDOWN, "ap-southeast-2")]
)
def test_a_target_view_shows_the_consoles_panes_with_the_simulated_values(
    world: World, page: GuardedPage, account_id: str, region: str
) -> None:
    open_target(page, world, account_id, region)
    standing, (sent, _) = ACCOUNTS[account_id], MAIL[(account_id, region)]
    heading = page.page.locator("h1").inner_text()
    assert NAMES[account_id] in heading
    assert region in heading
    sections = page.page.eval_on_selector_all(
        "section[id]",
        "ss => ss.map(s => [s.id, (s.querySelector('h2') || {}).textContent || ''])",
    )
    found = [(sid, h2.strip()) for sid, h2 in sections if sid in dict(PANES)]
    assert found == list(PANES)
    assert number(field(page, "daily-sending-quota")) == standing.max_24_hour_send
    assert number(field(page, "max-send-rate")) == standing.max_send_rate
    assert number(field(page, "sent-24h")) == sent
    assert number(field(page, "remaining")) == standing.max_24_hour_send - sent
    assert field(page, "health") == HEALTH_WORDS[standing.enforcement_status]
    assert field(page, "sending") == ("Enabled" if standing.sending_enabled else "Disabled")
    production = field(page, "production")
    assert production == ("Production" if standing.production_access else "Sandbox")
    smtp = page.page.locator("#smtp-settings")
    assert field(page, "smtp-endpoint") == f"email-smtp.{region}.amazonaws.com"
    assert smtp.locator('[data-field="smtp-endpoint"]').count() == 1
    assert {"25", "587", "2587"} <= set(re.findall(r"\d+", field(page, "starttls-ports")))
    assert {"465", "2465"} <= set(re.findall(r"\d+", field(page, "tls-wrapper-ports")))
    console = page.page.locator("a#aws-console").get_attribute("href") or ""
    assert console.startswith("https://") and region in console, console
    page.assert_clean()


def hourly(points: list[dict[str, Any]], key: str) -> dict[int, float]:
    """GetSendStatistics' 15-minute buckets summed per hour (zeros left out)."""
    hours: dict[int, float] = {}
    for point in points:
        hour = int(point["Timestamp"].timestamp()) // 3600 * 3600
        hours[hour] = hours.get(hour, 0) + point[key]
    return {hour: value for hour, value in hours.items() if value}


def test_the_14_day_chart_has_a_point_where_the_simulation_sent_mail(
    world: World, page: GuardedPage
) -> None:
    target = (HEALTHY, "us-east-1")
    open_target(page, world, *target)
    with page.page.expect_navigation(wait_until="load"):
        page.page.locator('a.range[data-days="14"]').first.click()
    assert "days=14" in page.page.url
    answered = world.send_statistics[target]
    sent, rejected = MAIL[target]
    assert sum(p["DeliveryAttempts"] for p in answered) == sent  # the world's own check
    for series, key in SERIES_FIELDS.items():
        expected = hourly(answered, key)
        points = chart_points(page, series)
        assert {t: v for t, v in points.items() if v} == expected, series
        assert {t: v for t, v in chart_table(page, series).items() if v} == expected, series
    assert sum(chart_points(page, "sends").values()) == sent
    assert sum(chart_points(page, "rejects").values()) == rejected
    page.assert_clean()


def test_hostile_account_names_stay_text(world: World, page: GuardedPage) -> None:
    page.goto(world.url("/"))
    # Nothing the names hold became markup: no script or image in the table, no alert.
    assert page.page.locator("#fleet script, #fleet img").count() == 0
    for account_id, name in NAMES.items():
        for region in REGIONS[account_id]:
            cell = page.page.locator(
                f'#fleet tr.target[data-account-id="{account_id}"][data-region="{region}"]'
                " [data-col=account]"
            )
            assert name in (cell.text_content() or "")
    for account_id, name in NAMES.items():
        open_target(page, world, account_id, REGIONS[account_id][0])
        assert name in (page.page.locator("h1").text_content() or "")
        assert page.page.locator("h1 script, h1 img").count() == 0
    assert page.dialogs == []
    page.assert_clean()


def test_status_still_lists_every_target_and_collector(world: World, page: GuardedPage) -> None:
    assert page.goto(world.url("/status")).status == 200
    rows = page.page.eval_on_selector_all(
        "table tr",
        "rows => rows.map(r => [...r.cells].map(c => c.textContent.trim()))",
    )
    header = [h.lower() for h in rows[0]]
    columns = [header.index(name) for name in ("account", "region", "collector", "status")]
    seen = {tuple(row[i] for i in columns) for row in rows[1:]}
    expected = {
        (account_id, region, collector, "ok")
        for account_id, region in MAIL
        for collector in COLLECTORS
    }
    assert seen == expected
    page.assert_clean()


def test_an_unknown_target_is_a_404_page(world: World, page: GuardedPage) -> None:
    page.expected_console.append("404")  # Chromium logs the document's status
    response = page.goto(world.url("/targets/999999999999/us-east-1"))
    assert response.status == 404
    assert page.page.locator("#fleet, #sending-limits").count() == 0
    page.assert_clean()
