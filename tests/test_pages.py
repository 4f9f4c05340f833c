"""The pages: their model from the store, their HTML, their routes (no AWS, no daemon).

Poll results are made by the collectors' own family builders and kept by a real
``ResultStore``, as the daemon keeps them; the hourly history by the send_statistics
collector itself over a stubbed GetSendStatistics.
"""

from __future__ import annotations

import http.client
import re
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import bcrypt
import pytest
from botocore.stub import Stubber
from prometheus_client.metrics_core import Metric

from ses_exporter.aws import RequestCounter, make_session
from ses_exporter.collectors.account import AccountSnapshot, account_families
from ses_exporter.collectors.cloudwatch import CloudWatchSnapshot, cloudwatch_families
from ses_exporter.collectors.configuration_sets import (
    ConfigurationSetSnapshot,
    configuration_set_families,
)
from ses_exporter.collectors.send_statistics import SendStatisticsCollector
from ses_exporter.config_types import ReputationThresholds
from ses_exporter.pages import Pages, Source
from ses_exporter.pages.links import cloudwatch_url, console_host, ses_console_url
from ses_exporter.pages.model import PAGE_SIZE, Hourly, hourly_points
from ses_exporter.store import ResultStore
from ses_exporter.web import WebServer, parse_web_config
from ses_exporter.web.app import CONTENT_SECURITY_POLICY
from tests.helpers import page_field, send_point
from tests.html import Html, cell, fleet_rows

NOW = 1_780_000_000.0  # 2026-05-28T20:26:40Z
THRESHOLDS = ReputationThresholds()  # bounce 5 % / 10 %, complaint 0.1 % / 0.5 %
HOSTILE = '<script>alert("x")</script>\'&'


def account(
    enforcement: str | None = "HEALTHY",
    sent: float = 1_000,
    quota: float = 50_000,
    sending: bool = True,
    production: bool = True,
) -> AccountSnapshot:
    return AccountSnapshot(
        max_24_hour_send=quota,
        max_send_rate=14.0,
        sent_last_24_hours=sent,
        sending_enabled=sending,
        production_access_enabled=production,
        enforcement_status=enforcement,
        info=(("mail_type", "TRANSACTIONAL"), ("production_access_review_status", "GRANTED")),
        source="GetAccount",
    )


def reputation(bounce: float, complaint: float, sets: dict[str, tuple[float, float]]) -> Any:
    points = [
        (("bounce", None), (NOW - 600, bounce)),
        (("complaint", None), (NOW - 600, complaint)),
    ]
    for name, (b, c) in sets.items():
        points += [(("bounce", name), (NOW - 600, b)), (("complaint", name), (NOW - 600, c))]
    return CloudWatchSnapshot(counters=(), reputation=tuple(points))


class Fleet:
    """A store of poll results, as the poller leaves them."""

    def __init__(self) -> None:
        self.store = ResultStore()
        self.names: dict[str, str] = {}
        self.hourly: dict[tuple[str, str], Hourly] = {}

    def add(
        self,
        account_id: str,
        region: str,
        snap: AccountSnapshot | None = None,
        bounce: float = 0.01,
        complaint: float = 0.0002,
        sets: dict[str, tuple[float, float]] | None = None,
        name: str | None = None,
        error: str | None = None,
        labels: dict[str, str] | None = None,
    ) -> None:
        target = {"account_id": account_id, "region": region, **(labels or {})}
        results: dict[str, list[Metric]] = {
            "cloudwatch": cloudwatch_families(
                reputation(bounce, complaint, sets or {}), THRESHOLDS, target
            ),
        }
        if snap is not None:
            results["account"] = account_families(snap, region, target)
        if sets:
            snapshots = [ConfigurationSetSnapshot(n, True, True, NOW - 86_400) for n in sets]
            results["configuration_sets"] = configuration_set_families(len(sets), snapshots, target)
        for collector, families in results.items():
            key = (account_id, region, collector)
            self.store.register(key, account_id, 900.0)
            self.store.record_success(key, account_id, families, NOW - 61, NOW - 60)
        if snap is None or error is not None:
            key = (account_id, region, "account")
            self.store.register(key, account_id, 900.0)
            self.store.record_failure(key, account_id, error or "AccessDenied", NOW - 2, NOW - 1)
        if name is not None:
            self.names[account_id] = name

    def source(self, now: float = NOW) -> Source:
        return Source(
            self.store.statuses(),
            self.names,
            THRESHOLDS,
            lambda a, r: self.hourly.get((a, r)),
            now,
            "9.9-test",
        )


def get(pages: Pages, source: Source, target: str) -> tuple[int, str]:
    path, _, query = target.partition("?")
    answer = pages.respond(path, query, source)
    assert answer is not None, target
    status, content_type, body = answer
    if content_type.startswith("text/html"):
        Html.check(body.decode())
    return status, body.decode()


@pytest.fixture
def fleet() -> Fleet:
    f = Fleet()
    f.add("111111111111", "us-east-1", account("HEALTHY", sent=45_000), name="mail")
    f.add("222222222222", "eu-west-1", account("PROBATION"), name="newsletters")
    f.add("333333333333", "us-east-1", account("SHUTDOWN", sending=False), name="legacy")
    f.add("444444444444", "us-east-1", account("HEALTHY"), bounce=0.12, name="bouncy")
    f.add("555555555555", "eu-west-1", None, name="denied", error="AccessDenied: GetAccount")
    f.add("666666666666", "eu-west-1", account("HEALTHY", production=False), name="sandbox")
    return f


# --- the fleet view -----------------------------------------------------------------------


def test_fleet_is_worst_first_in_the_consoles_words(fleet: Fleet) -> None:
    status, page = get(Pages(), fleet.source(), "/")
    assert status == 200
    assert fleet_rows(page) == [
        ("333333333333", "us-east-1"),  # Paused
        ("222222222222", "eu-west-1"),  # Under review
        ("555555555555", "eu-west-1"),  # Unknown (GetAccount failing)
        ("444444444444", "us-east-1"),  # Healthy, but at risk by its bounce rate
        ("111111111111", "us-east-1"),  # Healthy, 90 % of its quota used
        ("666666666666", "eu-west-1"),  # Healthy, 2 %
    ]
    words = {
        account_id: cell(page, account_id, region, "health")
        for account_id, region in fleet_rows(page)
    }
    assert words == {
        "333333333333": "Paused",
        "222222222222": "Under review",
        "555555555555": "Unknown",
        "444444444444": "Healthy",
        "111111111111": "Healthy",
        "666666666666": "Healthy",
    }
    assert cell(page, "333333333333", "us-east-1", "sending") == "Disabled"
    assert cell(page, "666666666666", "eu-west-1", "production") == "Sandbox"
    assert cell(page, "111111111111", "us-east-1", "production") == "Production"
    assert cell(page, "111111111111", "us-east-1", "quota") == "50,000"
    assert cell(page, "111111111111", "us-east-1", "sent") == "45,000"
    assert cell(page, "111111111111", "us-east-1", "quota-used") == "90.0 %"
    assert cell(page, "111111111111", "us-east-1", "max-rate") == "14/s"
    assert cell(page, "444444444444", "us-east-1", "bounce-rate") == "12.00 % At risk"
    assert cell(page, "444444444444", "us-east-1", "reputation") == "At risk"
    assert cell(page, "111111111111", "us-east-1", "complaint-rate") == "0.02 % Healthy"
    assert cell(page, "111111111111", "us-east-1", "age") == "1 min"
    assert cell(page, "111111111111", "us-east-1", "errors") == "None"
    assert cell(page, "555555555555", "eu-west-1", "errors") == "account: AccessDenied: GetAccount"
    assert cell(page, "555555555555", "eu-west-1", "quota") == "\u2014"
    # The thresholds in force are said where the rates are.
    assert "review 5.00 %, at risk 10.00 %" in page
    assert '<p id="fleet-count">6 of 6 targets match; showing 1&#8211;6, page 1 of 1.' in page


def test_reputation_status_follows_the_configured_thresholds(fleet: Fleet) -> None:
    strict = ReputationThresholds.model_validate({"bounce": {"under_review": 0.005}})
    source = fleet.source()
    source = Source(source.statuses, source.names, strict, source.hourly, NOW, "9.9")
    _, page = get(Pages(), source, "/")
    assert cell(page, "111111111111", "us-east-1", "reputation") == "Under review"
    assert "review 0.50 %, at risk 10.00 %" in page


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("q=bounc", ["444444444444"]),  # name, any case
        ("q=BOUNC", ["444444444444"]),
        ("q=22222", ["222222222222"]),  # account id
        ("region=us-east-1", ["333333333333", "444444444444", "111111111111"]),
        ("health=PROBATION", ["222222222222"]),
        ("health=shutdown", ["333333333333"]),
        ("reputation=at_risk", ["444444444444"]),
        ("region=eu-west-1&health=HEALTHY", ["666666666666"]),
        ("q=nobody", []),
        ("health=bogus&page=x", [f"{i}" * 12 for i in (3, 2, 5, 4, 1, 6)]),  # ignored
    ],
)
def test_filters(fleet: Fleet, query: str, expected: list[str]) -> None:
    _, page = get(Pages(), fleet.source(), f"/?{query}")
    assert [a for a, _ in fleet_rows(page)] == expected
    assert f'<p id="fleet-count">{len(expected)} of 6 targets match' in page


def test_filters_are_kept_in_the_form(fleet: Fleet) -> None:
    _, page = get(Pages(), fleet.source(), "/?q=%22%3E%3Cb%3E&region=eu-west-1&health=PROBATION")
    html = Html.check(page)
    (form,) = html.find("form", id="filters")
    assert form["method"] == "get"
    assert html.find("input", name="q")[0]["value"] == '"><b>'
    assert html.find("option", value="eu-west-1", selected=None)
    assert html.find("option", value="PROBATION", selected=None)
    assert "<b>" not in page


def test_paging_at_1500_targets_keeps_a_view_small() -> None:
    fleet = Fleet()
    for i in range(1_500):
        region = ("us-east-1", "eu-west-1", "ap-southeast-2")[i % 3]
        status = "PROBATION" if i % 100 == 7 else "HEALTHY"
        fleet.add(f"{100_000_000_000 + i // 3}", region, account(status, sent=i), name=f"acct-{i}")
    pages = Pages()
    _, first = get(pages, fleet.source(), "/")
    assert len(fleet_rows(first)) == PAGE_SIZE
    assert len(first.encode()) < 1_000_000
    assert "1,500 of 1,500 targets match; showing 1&#8211;100, page 1 of 15." in first
    # The 15 PROBATION targets come first.
    under_review = [cell(first, a, r, "health") for a, r in fleet_rows(first)[:16]]
    assert under_review == ["Under review"] * 15 + ["Healthy"]
    assert 'rel="next" href="./?page=2"' in first
    _, last = get(pages, fleet.source(), "/?page=15")
    assert len(fleet_rows(last)) == 100 and 'rel="prev"' in last and 'rel="next"' not in last
    _, beyond = get(pages, fleet.source(), "/?page=99")
    assert fleet_rows(beyond) == fleet_rows(last)
    _, filtered = get(pages, fleet.source(), "/?region=eu-west-1&page=2")
    assert "500 of 1,500 targets match; showing 101&#8211;200, page 2 of 5." in filtered
    assert {r for _, r in fleet_rows(filtered)} == {"eu-west-1"}
    assert 'href="./?region=eu-west-1&amp;page=3"' in filtered
    every = set()
    for number in range(1, 16):
        every |= set(fleet_rows(get(pages, fleet.source(), f"/?page={number}")[1]))
    assert len(every) == 1_500


def test_fleet_values_follow_new_poll_results(fleet: Fleet) -> None:
    pages = Pages()
    _, page = get(pages, fleet.source(), "/")
    assert cell(page, "111111111111", "us-east-1", "sent") == "45,000"
    key = ("111111111111", "us-east-1", "account")
    target = {"account_id": "111111111111", "region": "us-east-1"}
    families = account_families(account("PROBATION", sent=46_000), "us-east-1", target)
    fleet.store.record_success(key, "111111111111", families, NOW - 1, NOW)
    _, page = get(pages, fleet.source(), "/")
    assert cell(page, "111111111111", "us-east-1", "sent") == "46,000"
    assert cell(page, "111111111111", "us-east-1", "health") == "Under review"


def test_stale_results_are_not_shown(fleet: Fleet) -> None:
    _, page = get(Pages(), fleet.source(now=NOW + 3_600), "/")
    assert cell(page, "111111111111", "us-east-1", "health") == "Unknown"
    assert cell(page, "111111111111", "us-east-1", "quota") == "\u2014"
    assert cell(page, "111111111111", "us-east-1", "age") == "1 h"


def test_hostile_names_labels_and_errors_stay_text() -> None:
    fleet = Fleet()
    long_name = "n" * 5_000 + HOSTILE
    fleet.add(
        HOSTILE,
        "us-east-1",
        account(),
        sets={HOSTILE: (0.2, 0.0), "x" * 300: (0.0, 0.0)},
        name=long_name,
        error=f"AccessDenied: {HOSTILE}",
        labels={"team": HOSTILE},
    )
    fleet.store.record_failure((HOSTILE, "us-east-1", "account"), HOSTILE, HOSTILE, NOW - 2, NOW)
    pages = Pages()
    for target in (
        "/",
        f"/?q={HOSTILE}",
        "/targets/%3Cscript%3Ealert(%22x%22)%3C%2Fscript%3E'%26/us-east-1",
    ):
        status, page = get(pages, fleet.source(), target)
        assert status == 200, target
        html = Html.check(page)
        assert "<script>" not in page and 'alert("x")</script>' not in page
        assert HOSTILE in "".join(html.text)
    _, page = get(pages, fleet.source(), "/")
    assert Html.check(page).find("tr", data_account_id=HOSTILE)
    link = Html.check(page).find(
        "a", href="targets/%3Cscript%3Ealert%28%22x%22%29%3C%2Fscript%3E%27%26/us-east-1"
    )
    assert link
    _, target = get(pages, fleet.source(), link[0]["href"].replace("targets/", "/targets/", 1))  # type: ignore[union-attr]
    html = Html.check(target)
    assert html.find("tr", data_configuration_set=HOSTILE)
    assert long_name in "".join(html.text)


# --- the target view ----------------------------------------------------------------------


def test_target_view_has_the_consoles_panes_in_order(fleet: Fleet) -> None:
    fleet.add(
        "777777777777",
        "us-east-1",
        account("PROBATION", sent=12_345, quota=20_000),
        bounce=0.06,
        complaint=0.0001,
        sets={"marketing": (0.07, 0.0001), "transactional": (0.01, 0.006), "alerts": (0.0, 0.0)},
        name="prod",
    )
    status, page = get(Pages(), fleet.source(), "/targets/777777777777/us-east-1")
    assert status == 200
    html = Html.check(page)
    ids = [a["id"] for t, a in html.tags if t == "section"]
    assert ids == [
        "sending-limits",
        "account-health",
        "daily-email-usage",
        "smtp-settings",
        "sending-statistics",
        "reputation-metrics",
        "collectors",
    ]
    titles = re.findall(r"<h2[^>]*>([^<]+)</h2>", page)
    assert titles[:6] == [
        "Sending limits",
        "Account health",
        "Daily email usage",
        "SMTP settings",
        "Sending statistics",
        "Reputation metrics",
    ]
    assert re.search(r"<h1>prod \(777777777777\) &#8212; us-east-1</h1>", page)

    def field(name: str) -> str:
        return page_field(page, name)

    assert field("daily-sending-quota") == "20,000"
    assert field("max-send-rate") == "14 emails per second"
    assert field("health") == "Under review"
    assert field("sending") == "Enabled"
    assert field("production") == "Production"
    assert field("sent-24h") == "12,345"
    assert field("remaining") == "7,655"
    assert field("quota-used") == "61.7 %"
    assert field("smtp-endpoint") == "email-smtp.us-east-1.amazonaws.com"
    assert field("starttls-ports") == "25, 587, 2587"
    assert field("tls-wrapper-ports") == "465, 2465"
    assert field("reputation-status") == "Under review"
    assert field("bounce-rate").startswith("6.00 % Under review (under review at 5.00 %")
    assert field("complaint-rate").startswith("0.01 % Healthy")
    # Worst first by default; by name or a rate on request.
    sets = re.findall(r'<tr data-configuration-set="([^"]+)">', page)
    assert sets == ["transactional", "marketing", "alerts"]  # at risk, under review, healthy
    _, by_name = get(Pages(), fleet.source(), "/targets/777777777777/us-east-1?sort=name")
    assert re.findall(r'data-configuration-set="([^"]+)"', by_name) == [
        "alerts",
        "marketing",
        "transactional",
    ]
    _, by_bounce = get(Pages(), fleet.source(), "/targets/777777777777/us-east-1?sort=bounce-rate")
    assert re.findall(r'data-configuration-set="([^"]+)"', by_bounce)[0] == "marketing"
    row = re.search(r'data-configuration-set="transactional">(.*?)</tr>', page)
    assert row and "0.60 % At risk" in re.sub(r"<[^>]+>", "", row.group(1))


@pytest.mark.parametrize(
    ("region", "host"),
    [
        ("eu-west-1", "console.aws.amazon.com"),
        ("us-gov-west-1", "console.amazonaws-us-gov.com"),
        ("cn-north-1", "console.amazonaws.cn"),
        ("cn-northwest-1", "console.amazonaws.cn"),
    ],
)
def test_links_go_to_the_targets_partition(region: str, host: str) -> None:
    fleet = Fleet()
    fleet.add("123456789012", region, account())
    fleet.hourly[("123456789012", region)] = (NOW - 3_600, {"sends": [1, 2]})
    _, page = get(Pages(), fleet.source(), f"/targets/123456789012/{region}?days=7")
    html = Html.check(page)
    (console,) = html.find("a", id="aws-console")
    assert console["href"] == f"https://{region}.{host}/ses/home?region={region}#/account"
    cloudwatch = [a["href"] for a in html.find("a", **{"class": "cloudwatch"})]
    assert len(cloudwatch) == 6  # four charts, two rates
    for href in cloudwatch:
        assert href and href.startswith(f"https://{region}.{host}/cloudwatch/home?region={region}#")
    assert "~'AWS*2fSES~'Send)" in cloudwatch[0] and "~start~'-P7D~" in cloudwatch[0]
    assert "~stat~'Average~" in cloudwatch[4] and "Reputation.BounceRate" in cloudwatch[4]
    assert console_host(region) == host
    assert ses_console_url(region, "reputation").endswith("#/reputation")


def test_cloudwatch_url_of_a_configuration_set() -> None:
    url = cloudwatch_url("us-east-1", "Send", "Sum", 1, "my set/1")
    assert "~'ses*3aconfiguration-set~'my*20set*2f1)" in url


@pytest.mark.parametrize(
    "target",
    [
        "/targets/999999999999/us-east-1",
        "/targets/111111111111/eu-west-1",  # the account, but not in that region
        "/targets/111111111111",
        "/targets/111111111111/us-east-1/extra",
        "/targets//us-east-1",
        "/targets/",
    ],
)
def test_unknown_targets_are_404(fleet: Fleet, target: str) -> None:
    status, page = get(Pages(), fleet.source(), target)
    assert status == 404
    assert "Not found" in page


def test_paths_that_are_no_page() -> None:
    pages = Pages()
    source = Fleet().source()
    for path in ("/nope", "/static/other.css", "/targetsx"):
        assert pages.respond(path, "", source) is None
    status, content_type, body = pages.respond("/static/pages.css", "", source) or (0, "", b"")
    assert (status, content_type) == (200, "text/css; charset=utf-8")
    assert b"prefers-color-scheme: dark" in body


def test_no_targets_yet() -> None:
    _, page = get(Pages(), Fleet().source(), "/")
    assert "No targets configured." in page
    assert "0 of 0 targets match" in page


# --- the Sending statistics charts -----------------------------------------------------------

T0 = datetime(2026, 5, 28, 10, 8, tzinfo=UTC)  # buckets at the account's own offset: :08, :23


def point(
    bucket: int, attempts: int, bounces: int = 0, complaints: int = 0, rejects: int = 0
) -> dict[str, Any]:
    """One SendDataPoint, ``bucket`` 15-minute buckets after T0."""
    return send_point(T0.timestamp() + 900 * bucket, attempts, bounces, complaints, rejects)


def send_statistics_hourly(points: Sequence[dict[str, Any]]) -> Hourly | None:
    """The send_statistics collector's hourly sums after one poll of a stubbed answer."""
    clients = make_session(
        profile=None,
        role_arn=None,
        external_id=None,
        endpoint_url=None,
        region="us-east-1",
        counter=RequestCounter(),
    ).target_clients("us-east-1", 1000)
    collector = SendStatisticsCollector(clients, clock=lambda: NOW)
    assert collector.hourly() is None
    with Stubber(collector.clients.ses) as stub:
        stub.add_response("get_send_statistics", {"SendDataPoints": list(points)}, {})
        collector.poll({"account_id": "123456789012", "region": "us-east-1"})
    return collector.hourly()


def test_hour_sums_from_15_minute_buckets(aws: None) -> None:
    # 10:08, 10:23, 10:38, 10:53 are hour 10; 11:08 hour 11; nothing at 12; 13:08.
    answer = [point(4, 5, 1), point(0, 10, 1, 1), point(3, 3), point(1, 20), point(2, 1, 0, 0, 2)]
    answer += [point(12, 7, 0, 0, 1)]
    hourly = send_statistics_hourly(answer)
    assert hourly is not None
    start, counts = hourly
    assert start == datetime(2026, 5, 28, 10, tzinfo=UTC).timestamp()
    assert {k: list(v) for k, v in counts.items()} == {
        "sends": [34, 5, 0, 7],
        "rejects": [2, 0, 0, 1],
        "bounces": [1, 1, 0, 0],
        "complaints": [1, 0, 0, 0],
    }
    now = datetime(2026, 5, 28, 13, 30, tzinfo=UTC).timestamp()
    points = hourly_points(hourly, "sends", 1, now)
    assert len(points) == 24
    assert points[-4:] == [
        (int(start), 34),
        (int(start) + 3_600, 5),
        (int(start) + 7_200, 0),
        (int(start) + 10_800, 7),
    ]
    assert points[0] == (int(start) - 20 * 3_600, 0)
    assert len(hourly_points(hourly, "sends", 14, now)) == 14 * 24


def test_idle_account_has_empty_history(aws: None) -> None:
    hourly = send_statistics_hourly([])
    assert hourly is not None and all(len(v) == 0 for v in hourly[1].values())
    assert hourly_points(hourly, "bounces", 3, NOW) == [
        (t, 0) for t, _ in hourly_points(None, "bounces", 3, NOW)
    ]


def test_charts_have_a_point_per_hour_with_mail_and_a_table(fleet: Fleet) -> None:
    start = int(NOW // 3_600) * 3_600 - 5 * 3_600
    fleet.hourly[("111111111111", "us-east-1")] = (
        float(start),
        {
            "sends": [10, 0, 30, 0, 0, 7],
            "rejects": [0] * 6,
            "bounces": [1] + [0] * 5,
            "complaints": [],
        },
    )
    for days in (1, 3, 7, 14):
        _, page = get(Pages(), fleet.source(), f"/targets/111111111111/us-east-1?days={days}")
        html = Html.check(page)
        (current,) = html.find("a", **{"class": "range", "aria-current": "page"})
        assert current["data-days"] == str(days)
        charts = [a["data-series"] for a in html.find("svg", **{"class": "chart"})]
        assert charts == ["sends", "rejects", "bounces", "complaints"]
        tables = [a["data-series"] for a in html.find("table", **{"class": "chart-data"})]
        assert tables == charts
        circles = re.findall(
            r'<circle data-t="(\d+)" data-v="(\d+)"',
            page.split('data-series="sends"')[1].split("</svg>")[0],
        )
        assert circles == [
            (str(start), "10"),
            (str(start + 7_200), "30"),
            (str(start + 18_000), "7"),
        ]
        rows = re.findall(
            r"<tr><td>([^<]+)</td><td>(\d+)</td></tr>",
            page.split('<table class="chart-data" data-series="sends">')[1].split("</table>")[0],
        )
        assert len(rows) == days * 24
        assert rows[-6][1] == "10" and rows[-1][1] == "7"


def test_target_without_history_says_so(fleet: Fleet) -> None:
    _, page = get(Pages(), fleet.source(), "/targets/111111111111/us-east-1")
    assert "No answer from GetSendStatistics yet" in page
    assert '<svg class="chart"' not in page


# --- served by the web front end -----------------------------------------------------------


class PagesApp:
    """A WebApp whose pages are the real ones, over a store of test results."""

    version = "9.9-test"

    def __init__(self, fleet: Fleet) -> None:
        self.fleet, self.pages = fleet, Pages()
        self.store = fleet.store

    def render_metrics(self, accept_header: str | None, gzip: bool = False) -> tuple[bytes, str]:
        return b"", "text/plain"

    def is_ready(self) -> bool:
        return True

    def page(self, path: str, query: str) -> tuple[int, str, bytes] | None:
        return self.pages.respond(path, query, self.fleet.source())


@pytest.fixture
def served(fleet: Fleet) -> Iterator[int]:
    server = WebServer(PagesApp(fleet), "127.0.0.1:0")
    server.start()
    yield server.port
    server.shutdown()


def fetch(
    port: int, path: str, method: str = "GET", headers: dict[str, str] | None = None
) -> tuple[int, http.client.HTTPMessage, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.headers, response.read()
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("path", "status", "content_type"),
    [
        ("/", 200, "text/html; charset=utf-8"),
        ("/?health=PROBATION&page=1", 200, "text/html; charset=utf-8"),
        ("/targets/111111111111/us-east-1?days=3", 200, "text/html; charset=utf-8"),
        ("/targets/000000000000/us-east-1", 404, "text/html; charset=utf-8"),
        ("/static/pages.css", 200, "text/css; charset=utf-8"),
        ("/status", 200, "text/html; charset=utf-8"),
    ],
)
def test_served_with_a_strict_content_security_policy(
    served: int, path: str, status: int, content_type: str
) -> None:
    got, headers, body = fetch(served, path)
    assert (got, headers["Content-Type"]) == (status, content_type)
    assert headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert "script-src 'none'" in CONTENT_SECURITY_POLICY
    assert "default-src 'self'" in CONTENT_SECURITY_POLICY
    assert headers["X-Content-Type-Options"] == "nosniff"
    if content_type.startswith("text/html"):
        html = Html.check(body.decode())
        (sheet,) = html.find("link", rel="stylesheet")
        assert sheet["href"] and sheet["href"].endswith("static/pages.css")
        assert not sheet["href"].startswith(("/", "http"))  # relative: works behind a prefix


def test_status_keeps_the_diagnostics(served: int) -> None:
    _, _, body = fetch(served, "/status")
    page = body.decode()
    assert "<td>555555555555</td><td>eu-west-1</td><td>account</td><td>failed</td>" in page
    assert "AccessDenied: GetAccount" in page
    assert 'href="./metrics"' in page and 'href="./"' in page


def test_pages_answer_head_and_refuse_post(served: int) -> None:
    status, headers, body = fetch(served, "/targets/111111111111/us-east-1", "HEAD")
    assert (status, body) == (200, b"") and int(headers["Content-Length"]) > 1_000
    assert fetch(served, "/", "POST")[0] == 405
    assert fetch(served, "/targets/x/y", "POST")[0] == 405
    assert fetch(served, "/static/nope.css")[0] == 404


@pytest.mark.parametrize("path", ["/status", "/targets/metrics", "/static/metrics"])
def test_telemetry_path_cannot_take_a_pages_path(path: str) -> None:
    with pytest.raises(ValueError, match="used by another endpoint"):
        WebServer(PagesApp(Fleet()), "127.0.0.1:0", telemetry_path=path)


def test_samples_read_from_rendered_lines_equal_the_parsed_families() -> None:
    """The fleet view reads sample lines itself (``PollStatus.samples``): it must give what
    prometheus_client's parser gives, escapes included."""
    odd = 'a\\b\n"c"} 1 {x="y"}'
    target = {"account_id": "123456789012", "region": "us-east-1", "team": odd}
    snapshots = [
        ConfigurationSetSnapshot(odd, True, False, 1.5),
        ConfigurationSetSnapshot("s", False, True, None),
    ]
    families = configuration_set_families(2, snapshots, target)
    families += account_families(account(), "us-east-1", target)
    store, key = ResultStore(), ("k", "us-east-1", "configuration_sets")
    store.register(key, "123456789012", 900.0)
    store.record_success(key, "123456789012", families, NOW - 1, NOW)
    (status,) = store.statuses()
    assert status.families == ()  # kept rendered only: samples() reads the lines
    names = {f.name for f in families}
    parsed = [(s.name, s.labels, s.value) for f in status.metric_families() for s in f.samples]
    assert list(status.samples(names)) == parsed
    assert len(parsed) > 10
    assert list(status.samples({"aws_ses_max_send_rate"})) == [
        ("aws_ses_max_send_rate", target, 14.0)
    ]


def test_pages_need_the_same_basic_auth_and_rate_limit_as_metrics(fleet: Fleet) -> None:
    hashed = bcrypt.hashpw(b"p", bcrypt.gensalt(4)).decode()
    config = parse_web_config(
        f"basic_auth_users: {{u: '{hashed}'}}\nrate_limit: {{interval: 1h, burst: 6}}\n"
    )
    server = WebServer(PagesApp(fleet), "127.0.0.1:0", web_config=config)
    server.start()
    paths = ("/", "/targets/111111111111/us-east-1", "/static/pages.css", "/status")
    try:
        for path in paths:
            status, _, body = fetch(server.port, path)
            assert (status, body) == (401, b"Unauthorized\n"), path
        for path in paths[:2]:
            status, _, body = fetch(server.port, path, headers={"Authorization": "Basic dTpw"})
            assert status == 200 and b"111111111111" in body
        # Six requests in the burst, then the limit holds for the pages as for /metrics.
        assert fetch(server.port, "/", headers={"Authorization": "Basic dTpw"})[0] == 429
    finally:
        server.shutdown()
