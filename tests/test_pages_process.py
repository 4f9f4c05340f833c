"""The pages of the real daemon (``--demo``) over real HTTP.

The demo's configuration lists two more regions than its default: ``us-west-2`` is under
review (EnforcementStatus PROBATION) and ``ap-northeast-1`` paused (SHUTDOWN), so the
fleet view shows each of the console's words for a real poll result.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from html import escape

import pytest

from tests.daemon import DaemonProcess, demo_config, demo_daemon
from tests.helpers import page_field
from tests.html import Html, cell, fleet_rows

pytestmark = pytest.mark.process

ACCOUNT = "123456789012"  # moto's
REGIONS = "[us-east-1, eu-west-1, us-west-2, ap-northeast-1]"
NAME = '<script>alert("demo")</script>'  # the account's name: it must stay text
CONFIG = (
    demo_config()
    .replace("regions: [us-east-1, eu-west-1]", f"regions: {REGIONS}")
    .replace("  - name: demo\n", f"  - name: '{NAME}'\n")
)


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProcess]:
    assert REGIONS in CONFIG and NAME in CONFIG
    with demo_daemon(tmp_path_factory.mktemp("pages"), config_text=CONFIG) as d:
        d.wait_ready(timeout=90)
        yield d


def page(daemon: DaemonProcess, path: str, status: int = 200) -> Html:
    response = daemon.request(path)
    body, headers = response.body, response.headers
    assert response.status == status, (path, body[:500])
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert "script-src 'none'" in headers["Content-Security-Policy"]
    html = Html.check(body)
    # Nothing the browser would load comes from elsewhere: every resource is relative.
    for tag, attrs in html.tags:
        for name in ("src", "href"):
            value = attrs.get(name) or ""
            if tag != "a" and value:
                assert not re.match(r"(?i)([a-z]+:|//)", value), (tag, value)
    return html


def test_fleet_shows_each_health_in_the_consoles_words(daemon: DaemonProcess) -> None:
    body = daemon.request("/").body
    page(daemon, "/")
    assert fleet_rows(body) == [
        (ACCOUNT, "ap-northeast-1"),
        (ACCOUNT, "us-west-2"),
        (ACCOUNT, "us-east-1"),  # healthy, more of its quota used than eu-west-1
        (ACCOUNT, "eu-west-1"),
    ]
    assert "<script>" not in body
    assert cell(body, ACCOUNT, "us-east-1", "account") == NAME + ACCOUNT
    assert cell(body, ACCOUNT, "ap-northeast-1", "health") == "Paused"
    assert cell(body, ACCOUNT, "ap-northeast-1", "sending") == "Disabled"
    assert cell(body, ACCOUNT, "us-west-2", "health") == "Under review"
    assert cell(body, ACCOUNT, "us-east-1", "health") == "Healthy"
    assert cell(body, ACCOUNT, "us-east-1", "quota") == "50,000"
    assert cell(body, ACCOUNT, "eu-west-1", "production") == "Sandbox"
    assert cell(body, ACCOUNT, "us-east-1", "errors") == "None"
    assert cell(body, ACCOUNT, "us-east-1", "reputation") in ("Healthy", "Under review")
    only = daemon.request("/?health=SHUTDOWN").body
    assert fleet_rows(only) == [(ACCOUNT, "ap-northeast-1")]
    some = daemon.request("/?q=1234&region=eu-west-1").body
    assert fleet_rows(some) == [(ACCOUNT, "eu-west-1")]


def test_target_view_shows_the_panes_with_the_simulated_values(daemon: DaemonProcess) -> None:
    html = page(daemon, f"/targets/{ACCOUNT}/us-east-1?days=14")
    body = daemon.request(f"/targets/{ACCOUNT}/us-east-1?days=14").body
    sections = [a["id"] for t, a in html.tags if t == "section"]
    assert sections[:6] == [
        "sending-limits",
        "account-health",
        "daily-email-usage",
        "smtp-settings",
        "sending-statistics",
        "reputation-metrics",
    ]

    def field(name: str) -> str:
        return page_field(body, name)

    assert field("daily-sending-quota") == "50,000"
    assert field("max-send-rate") == "14 emails per second"
    assert field("health") == "Healthy"
    assert field("production") == "Production"
    assert field("smtp-endpoint") == "email-smtp.us-east-1.amazonaws.com"
    assert "<script>" not in body and f"<h1>{escape(NAME)} ({ACCOUNT})" in body
    sent = int(field("sent-24h").replace(",", ""))
    assert 30_000 < sent < 50_000
    # Two weeks of simulated history: a point in (nearly) every hour of the sends chart.
    sends = body.split('<svg class="chart" data-series="sends"')[1].split("</svg>")[0]
    points = re.findall(r'<circle data-t="(\d+)" data-v="(\d+)"', sends)
    assert len(points) > 13 * 24 and all(int(v) > 0 for _, v in points)
    (console,) = html.find("a", id="aws-console")
    assert console["href"] == (
        "https://us-east-1.console.aws.amazon.com/ses/home?region=us-east-1#/account"
    )
    sets = re.findall(r'<tr data-configuration-set="([^"]+)">', body)
    assert sorted(sets) == ["marketing", "newsletters", "transactional"]


def test_other_pages(daemon: DaemonProcess) -> None:
    html = page(daemon, f"/targets/{ACCOUNT}/ap-northeast-1?days=1&sort=name")
    assert html.find("dd", data_field="health")
    page(daemon, f"/targets/{ACCOUNT}/sa-east-1", status=404)
    css = daemon.request("/static/pages.css")
    assert css.status == 200 and css.headers["Content-Type"] == "text/css; charset=utf-8"
    assert "prefers-color-scheme" in css.body
    status = daemon.request("/status")
    body = status.body
    assert status.status == 200 and "send_statistics" in body and "ap-northeast-1" in body
