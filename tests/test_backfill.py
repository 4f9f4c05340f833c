"""``ses-exporter backfill``: the call plan, the OpenMetrics it writes, and its failures.

In process: the demo world (its 14-day history, ``ses_exporter.demo.history``) for the
shape of the output and the live-name comparison, moto with PutMetricData'd datapoints
and the fakes' GetSendStatistics for exact values (both Rendering Failure spellings,
empty history, a failing target). The demo world's are in
``tests/test_backfill_demo.py``, the end-to-end test with the real Prometheus in
``tests/test_backfill_e2e.py``.
"""

from __future__ import annotations

import http.server
import io
import json
import math
import re
import shutil
import subprocess
import threading
import time
import urllib.parse
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.client import BaseClient

from ses_exporter.backfill.command import (
    BackfillOptions,
    UsageError,
    backfill,
    parse_options,
    parse_time,
    run_backfill,
)
from ses_exporter.backfill.history import KEPT_SECONDS, history_window
from ses_exporter.backfill.series import SeriesSettings, threshold_steps
from ses_exporter.cli import build_backfill_parser, main
from ses_exporter.collectors.cloudwatch_source import (
    MAX_DATAPOINTS_PER_CALL,
    MAX_QUERIES_PER_CALL,
    Query,
    plan_requests,
)
from ses_exporter.config import Config, parse_config
from ses_exporter.daemon import Exporter
from ses_exporter.demo.responders import (
    SimulatedError,
    install_api_responder,
    install_responder,
)
from ses_exporter.scrape import Scrape
from tests.conftest import free_port
from tests.fakes import FakeAccountApi, in_every_region
from tests.helpers import send_point
from tests.openmetrics import THRESHOLD_FAMILY, SeriesKey, parse_openmetrics, per_target
from tests.orgworld import build_organization
from tests.prometheus import launch_prometheus

DAY = 86_400
RECENT = f"{time.time() - 7200:.0f}"  # a --start two hours ago
NOW = 1_780_000_000.0  # a whole minute plus 40 s: 2026-05-28T20:26:40Z


def queries(n: int) -> list[Query]:
    return [Query(f"q{i}", "Send", f"set{i}", "Sum") for i in range(n)]


# --- the call plan ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("count", "days", "step", "calls"),
    [
        (36, 14, 60, 8),  # the demo: 20,160 points a query, 5 queries a request
        (11, 14, 300, 1),  # 11 x 4,032 = 44,352 datapoints: one request
        (1, 14, 60, 1),
        (500, 1, 60, 8),  # 1,440 points a query: 70 a request
        (501, 1, 60, 8),
        (1200, 14, 300, 48),  # 4,032 points a query: 25 a request
    ],
)
def test_the_plan_is_the_minimum_both_limits_allow(
    count: int, days: int, step: int, calls: int
) -> None:
    """The requests of the live collector's plan (``plan_requests``): batches that fit
    both limits over the whole window, so each query is billed once."""
    window = history_window(NOW, days, step)
    plan = plan_requests(queries(count), window)
    periods = days * DAY // step
    per_call = min(MAX_QUERIES_PER_CALL, MAX_DATAPOINTS_PER_CALL // periods)
    assert calls == math.ceil(count / per_call)
    assert len(plan) == calls
    for batch, part in plan:
        assert len(batch) <= MAX_QUERIES_PER_CALL
        assert len(batch) * (part.end - part.start) / step <= MAX_DATAPOINTS_PER_CALL
        assert part == window  # never cut: a cut window bills its queries once per part
    assert sorted(q.id for batch, _ in plan for q in batch) == sorted(q.id for q in queries(count))
    assert sum(len(batch) for batch, _ in plan) == count  # metrics billed


def test_the_window_ends_at_the_last_whole_minute() -> None:
    window = history_window(NOW, 14, 300)
    assert window.end == NOW - 40 and window.end % 60 == 0
    assert window.end - window.start == 14 * DAY and window.period == 300


def test_no_queries_no_calls() -> None:
    assert plan_requests([], history_window(NOW, 14, 60)) == []


@pytest.mark.parametrize(
    ("end", "stop"),
    [
        (NOW - 3600, NOW - 40 - 3600),  # 20:25:40 -> 20:25:00
        (NOW - 40 - 3600, NOW - 40 - 3660),  # a whole minute: the minute before, not it
        (NOW, NOW - 40),  # now itself is allowed
    ],
)
def test_end_is_the_last_whole_minute_strictly_before_it(end: float, stop: float) -> None:
    window = history_window(NOW, 3, 300, end=end)
    assert (window.start, window.end, window.period) == (stop - 3 * DAY, stop, 300)
    assert window.end < end or end == NOW


def test_start_is_the_first_whole_minute_strictly_after_it() -> None:
    last_live, first_live = NOW - 7200 + 15, NOW - 1800 + 15  # scrapes at :15 and :55
    window = history_window(NOW, 14, 60, end=first_live, start=last_live)
    assert window.start == NOW - 40 - 7200 + 60 and window.start > last_live
    assert window.end == NOW - 40 - 1800 and window.end < first_live


def test_the_oldest_window_is_the_fourteen_days_aws_keeps() -> None:
    oldest = NOW - 40 - KEPT_SECONDS
    assert history_window(NOW, 14, 60).start == oldest
    assert history_window(NOW, 13, 60, end=NOW - DAY + 1).start == oldest
    assert history_window(NOW, 1, 60, end=NOW - 13 * DAY, start=oldest - 59).start == oldest
    with pytest.raises(ValueError, match=r"--days 14: the window would start at .* --days 13"):
        history_window(NOW, 14, 60, end=NOW - 41)
    with pytest.raises(ValueError, match=r"--days 1: .*GetSendStatistics keeps 14 days.*--start"):
        history_window(NOW, 1, 60, end=NOW - 13.5 * DAY)
    with pytest.raises(ValueError, match="--start 2026-05-14T20:24:59Z: before 2026-05-14T20:26"):
        history_window(NOW, 14, 60, start=oldest - 61)


def test_time_flags_read_rfc_3339_and_unix_seconds() -> None:
    assert parse_time("--end", "2026-11-30T12:00:00Z") == 1_796_040_000
    assert parse_time("--end", "2026-11-30T13:00:00+01:00") == 1_796_040_000
    assert parse_time("--end", "1796040000") == parse_time("--end", "1796040000.0")
    options = parse_options(days=13, step="60s", end="2026-11-30T12:00:00Z", now=1_796_040_100)
    assert (options.end, options.start, options.days) == (1_796_040_000, None, 13)
    with pytest.raises(UsageError, match=r"--days 14: .* at most --days 13"):
        parse_options(days=14, step="60s", end="1796040000", now=1_796_040_100)
    # without --days: as far back as AWS keeps, whatever the end
    options = parse_options(step="60s", end="1796040000", now=1_796_040_100)
    window = history_window(1_796_040_100, options.days, 60, end=options.end)
    assert window.start == 1_796_040_060 - 14 * DAY and window.end == 1_796_039_940


# --- exact values against moto ----------------------------------------------------------


def config(
    regions: str = "[us-east-1]", extra: str = "", reputation_lookback: str = "30m"
) -> Config:
    return parse_config(
        f"accounts:\n  - name: t\n    regions: {regions}\n    ses_requests_per_second: 1000\n"
        f"collectors:\n  cloudwatch: {{lookback: 30m, "
        f"reputation_lookback: {reputation_lookback}}}\n{extra}"
    )


def put(region: str, name: str, t: float, value: float, configuration_set: str | None = None):
    datum: dict[str, Any] = {
        "MetricName": name,
        "Timestamp": datetime.fromtimestamp(t, UTC),
        "Value": value,
    }
    if configuration_set:
        datum["Dimensions"] = [{"Name": "ses:configuration-set", "Value": configuration_set}]
    boto3.client("cloudwatch", region_name=region).put_metric_data(
        Namespace="AWS/SES", MetricData=[datum]
    )


def run(
    cfg: Config, fake_api: FakeAccountApi, now: float, *hooks: Any, **options: Any
) -> tuple[Any, dict[SeriesKey, list[tuple[float, float]]]]:
    out = io.BytesIO()
    report = backfill(
        cfg,
        BackfillOptions(**{"days": 1, "step": 300, **options}),
        out,
        [fake_api.hook, *hooks],
        io.StringIO(),
        clock=lambda: now,
    )
    return report, parse_openmetrics(out.getvalue().decode()) if report.written else {}


class AwsCloudWatch:
    """ListMetrics and GetMetricData as CloudWatch answers them, for one account: each
    (metric, configuration set or None) is its own series, never summed across dimension
    sets (moto sums them for a query without dimensions); periods counted from StartTime;
    1-minute datapoints kept 15 days, 5-minute ones 63; a request of more than 500
    queries or 100,800 datapoints fails. ``requests``: (StartTime, EndTime, metrics)."""

    def __init__(self, now: float, series: Mapping[tuple[str, str | None], Mapping[float, float]]):
        self.now = now
        self.series = {key: dict(points) for key, points in series.items()}
        self.requests: list[tuple[float, float, tuple[str, ...]]] = []

    def hook(self, service: str, client: BaseClient) -> None:
        if service == "cloudwatch":
            install_api_responder(client, "ListMetrics", self._list_metrics)
            install_api_responder(client, "GetMetricData", self._get_metric_data)

    def _list_metrics(self, _: Mapping[str, Any]) -> Mapping[str, Any]:
        metrics = []
        for name, configuration_set in self.series:
            dimensions = [{"Name": "ses:configuration-set", "Value": configuration_set}]
            metrics.append(
                {
                    "Namespace": "AWS/SES",
                    "MetricName": name,
                    "Dimensions": dimensions if configuration_set is not None else [],
                }
            )
        return {"Metrics": metrics}

    def _get_metric_data(self, params: Mapping[str, Any]) -> Mapping[str, Any]:
        start, end = params["StartTime"].timestamp(), params["EndTime"].timestamp()
        queries = params["MetricDataQueries"]
        if len(queries) > MAX_QUERIES_PER_CALL:
            raise SimulatedError("ValidationError", "too many queries")
        results, datapoints = [], 0
        for query in queries:
            stat = query["MetricStat"]
            metric, period = stat["Metric"], int(stat["Period"])
            dimensions = metric.get("Dimensions", [])
            key = (metric["MetricName"], dimensions[0]["Value"] if dimensions else None)
            datapoints += math.ceil((end - start) / period)
            kept = self.now - (15 * DAY if period % 300 else 63 * DAY)
            buckets: dict[float, list[float]] = {}
            for t, value in self.series.get(key, {}).items():
                if start <= t < end and t >= kept:
                    bucket = start + (t - start) // period * period
                    buckets.setdefault(bucket, []).append(value)
            points = sorted(buckets.items(), reverse=True)
            results.append(
                {
                    "Id": query["Id"],
                    "Label": metric["MetricName"],
                    "Timestamps": [datetime.fromtimestamp(t, UTC) for t, _ in points],
                    "Values": [
                        sum(v) if stat["Stat"] == "Sum" else sum(v) / len(v) for _, v in points
                    ],
                    "StatusCode": "Complete",
                }
            )
        if datapoints > MAX_DATAPOINTS_PER_CALL:
            raise SimulatedError("ValidationError", f"{datapoints} datapoints requested")
        names = tuple(q["MetricStat"]["Metric"]["MetricName"] for q in queries)
        self.requests.append((start, end, names))
        return {"MetricDataResults": results, "Messages": []}


def values(series: Mapping[SeriesKey, list[tuple[float, float]]], name: str) -> list[Any]:
    (points,) = [p for (n, _), p in series.items() if n == name]
    return points


def test_both_rendering_failure_spellings_count_once_per_datapoint(
    aws: None, fake_api: FakeAccountApi
) -> None:
    now = datetime.now(UTC).timestamp() // 60 * 60
    start = now - DAY
    put("us-east-1", "Rendering Failure", start + 600, 3.0)
    put("us-east-1", "RenderingFailure", start + 600, 5.0)  # the same datapoint, twice
    put("us-east-1", "RenderingFailure", start + 1200, 2.0)
    put("us-east-1", "Send", start + 600, 10.0)
    fake_api.send_data_points = {"us-east-1": []}
    report, series = run(config(), fake_api, now)
    points = values(series, "aws_ses_rendering_failures_total")
    # Account-wide counters exist at 0 from the window's start (as live from the first
    # poll), so increase() sees their first events.
    assert points[:6] == [
        (start, 0.0),
        (start + 300, 0.0),
        (start + 600, 0.0),
        (start + 900, 5.0),  # the larger of the two spellings, once
        (start + 1200, 5.0),
        (start + 1500, 7.0),
    ]
    assert points[-1] == (now, 7.0)
    assert values(series, "aws_ses_sends_total")[-1] == (now, 10.0)
    assert report.calls == 1 and report.metrics == 3  # two spellings and Send, one request


def test_send_statistics_buckets_become_a_counter_from_the_window(
    aws: None, fake_api: FakeAccountApi
) -> None:
    now = datetime.now(UTC).timestamp() // 900 * 900
    bucket = now - 3600  # four buckets before the end, and one before the window
    fake_api.send_data_points = in_every_region(
        [
            send_point(bucket + 900, 7, 1, 0, 2),
            send_point(bucket, 5, 0, 1),
            send_point(now - 2 * DAY, 99, 9, 9, 9),
        ]
    )
    _, series = run(config(), fake_api, now)
    attempts = values(series, "aws_ses_send_statistics_delivery_attempts_total")
    assert attempts[0] == (bucket, 0.0)
    assert dict(attempts)[bucket + 900] == 5.0  # the first bucket, once it is complete
    assert dict(attempts)[bucket + 1800] == 12.0
    assert attempts[-1] == (now, 12.0)
    assert values(series, "aws_ses_send_statistics_rejects_total")[-1] == (now, 2.0)


def test_reputation_is_the_newest_complete_datapoint_within_the_lookback(
    aws: None, fake_api: FakeAccountApi
) -> None:
    now = datetime.now(UTC).timestamp() // 60 * 60
    start = now - DAY
    put("us-east-1", "Reputation.BounceRate", start + 300, 0.06, "m")
    fake_api.send_data_points = {"us-east-1": []}
    _, series = run(config(), fake_api, now)
    ratio = values(series, "aws_ses_configuration_set_reputation_bounce_ratio")
    # From the end of its period, for the 30-minute look-back: 600 .. 2100 (6 samples).
    assert ratio == [(start + 600 + 300 * k, 0.06) for k in range(6)]
    status = {
        dict(labels)["status"]: points
        for (n, labels), points in series.items()
        if n == "aws_ses_configuration_set_reputation_status" and ("rate", "bounce") in labels
    }
    assert [v for _, v in status["under_review"]] == [1.0] * 6
    assert [v for _, v in status["healthy"]] == [0.0] * 6


def bounce_ratio(
    series: Mapping[SeriesKey, list[tuple[float, float]]], configuration_set: str | None
) -> list[tuple[float, float]]:
    name = "aws_ses_reputation_bounce_ratio"
    if configuration_set is not None:
        name = "aws_ses_configuration_set_reputation_bounce_ratio"
    (points,) = [
        p
        for (n, labels), p in series.items()
        if n == name and dict(labels).get("configuration_set") == configuration_set
    ]
    return points


def test_reputation_at_the_window_start_is_the_newest_datapoint_within_the_lookback(
    aws: None, fake_api: FakeAccountApi
) -> None:
    now = datetime.now(UTC).timestamp() // 60 * 60
    start = now - DAY
    cfg = config(reputation_lookback="2h")
    cloudwatch = AwsCloudWatch(
        now,
        {
            # A low-volume sender: one datapoint each, before the window.
            ("Reputation.BounceRate", None): {start - 1800: 0.02},
            ("Reputation.BounceRate", "m"): {start - 7200 - 300: 0.06},  # too old at start
        },
    )
    fake_api.send_data_points = {"us-east-1": []}
    _, series = run(cfg, fake_api, now, cloudwatch.hook)
    # As live: shown from the window's start until two hours after the datapoint.
    assert bounce_ratio(series, None) == [(start + 300 * k, 0.02) for k in range(19)]
    stamps = [
        p
        for (n, labels), p in series.items()
        if n == "aws_ses_reputation_last_datapoint_timestamp_seconds"
        and ("rate", "bounce") in labels
    ]
    assert stamps == [[(start + 300 * k, start - 1800) for k in range(19)]]
    assert not any(
        dict(labels).get("configuration_set") == "m" for _, labels in series
    )  # older than the look-back at every sample


def test_a_gap_fill_shows_the_reputation_the_live_exporter_showed(
    aws: None, fake_api: FakeAccountApi
) -> None:
    now = datetime.now(UTC).timestamp() // 60 * 60
    last_live, first_live = now - 6 * 3600 + 15, now - 4 * 3600 + 15
    cloudwatch = AwsCloudWatch(now, {("Reputation.ComplaintRate", "m"): {now - 9 * 3600: 0.004}})
    fake_api.send_data_points = {"us-east-1": []}
    cfg = config(reputation_lookback="24h")
    _, series = run(
        cfg, fake_api, now, cloudwatch.hook, days=None, step=60, start=last_live, end=first_live
    )
    ratio = [
        p
        for (n, labels), p in series.items()
        if n == "aws_ses_configuration_set_reputation_complaint_ratio"
    ]
    times = range(int(last_live) + 45, int(first_live) - 15 + 1, 60)  # both ends
    assert ratio == [[(t, 0.004) for t in times]]  # the whole gap, from its first minute
    (rates,) = cloudwatch.requests  # no event metric listed: no request for them
    assert rates[0] == last_live + 45 - DAY and rates[2] == ("Reputation.ComplaintRate",)


def test_reputation_is_read_no_further_back_than_cloudwatch_keeps_it(
    aws: None, fake_api: FakeAccountApi
) -> None:
    now = datetime.now(UTC).timestamp() // 60 * 60
    start = now - 14 * DAY
    cloudwatch = AwsCloudWatch(
        now, {("Reputation.BounceRate", None): {start - 1200: 0.01}, ("Send", None): {}}
    )
    fake_api.send_data_points = {"us-east-1": []}
    cfg = config(reputation_lookback="48h")  # past the 15 days of 1-minute data
    report, series = run(cfg, fake_api, now, cloudwatch.hook, days=14, step=60)
    assert report.written
    assert bounce_ratio(series, None)[0] == (start, 0.01)
    rates = [(first, end) for first, end, names in cloudwatch.requests if "Send" not in names]
    assert rates[0][0] > now - 15 * DAY  # 1-minute data: 15 days, less a margin
    assert rates[0][0] <= start - 1200 and rates[-1][1] == now
    # 100,800 datapoints a request: one query over 15 days (21,600 minutes) fits in one
    assert len(rates) == 1


def test_empty_history_writes_only_the_thresholds(aws: None, fake_api: FakeAccountApi) -> None:
    fake_api.send_data_points = {"us-east-1": []}
    out = io.BytesIO()
    report = backfill(
        config(), BackfillOptions(days=1, step=300), out, [fake_api.hook], io.StringIO()
    )
    assert report.written and report.calls == 0
    # No metric in ListMetrics: no counter, account-wide or per set (none a fake 0).
    assert {name for name, _ in parse_openmetrics(out.getvalue().decode())} == {THRESHOLD_FAMILY}
    assert report.samples == 4 * 289  # one day at 5 minutes, both ends


def test_account_wide_counters_exist_only_for_metrics_listed_without_dimensions(
    aws: None, fake_api: FakeAccountApi
) -> None:
    now = datetime.now(UTC).timestamp() // 60 * 60
    start = now - DAY
    cloudwatch = AwsCloudWatch(
        now,
        {
            ("Send", None): {start + 600: 10.0},
            ("Send", "m"): {start + 600: 4.0},
            ("Open", "m"): {start + 900: 3.0},  # SES publishes Open only per set
            ("Click", "m"): {},
            ("Delivery", None): {now - 3 * DAY: 8.0},  # listed, no datapoint in the window
        },
    )
    fake_api.send_data_points = {"us-east-1": []}
    report, series = run(config(), fake_api, now, cloudwatch.hook)
    assert report.written
    account_wide = {
        name for name, labels in per_target(series) if "configuration_set" not in dict(labels)
    }
    assert account_wide == {"aws_ses_sends_total", "aws_ses_deliveries_total"}
    times = [start + 300 * k for k in range(289)]
    assert values(series, "aws_ses_deliveries_total") == [(t, 0.0) for t in times]
    sends = values(series, "aws_ses_sends_total")  # 10, not 14: no sum across dimensions
    assert sends[:4] == [(start, 0.0), (start + 300, 0.0), (start + 600, 0.0), (start + 900, 10.0)]
    assert values(series, "aws_ses_configuration_set_opens_total")[0] == (start + 900, 0.0)
    assert values(series, "aws_ses_configuration_set_opens_total")[-1] == (now, 3.0)
    assert not any(
        "clicks" in name for name, _ in series
    )  # a set's series from its first datapoint


def test_cloudwatch_off_and_no_send_statistics_write_only_the_thresholds(
    aws: None, fake_api: FakeAccountApi
) -> None:
    fake_api.send_data_points = {"us-east-1": []}
    out = io.BytesIO()
    off = config()
    off = off.model_copy(update={"collectors": off.collectors.with_enabled({"cloudwatch": False})})
    report = backfill(off, BackfillOptions(days=1, step=300), out, [fake_api.hook], io.StringIO())
    assert report.written and report.calls == 0 and report.samples == 4 * 289
    assert {name for name, _ in parse_openmetrics(out.getvalue().decode())} == {THRESHOLD_FAMILY}


def failing_ses(region: str) -> Any:
    def hook(service: str, client: BaseClient) -> None:
        if service == "ses" and client.meta.region_name == region:

            def fail(_: Any) -> Mapping[str, Any]:
                raise SimulatedError("AccessDenied", "not allowed", 403)

            install_responder(client, "GetSendStatistics", fail)

    return hook


def test_a_failing_target_writes_nothing_unless_keep_going(
    aws: None, fake_api: FakeAccountApi, tmp_path: Path
) -> None:
    fake_api.send_data_points = in_every_region([send_point(time.time() - 3600, 1)])
    cfg = config("[us-east-1, eu-west-1]")
    path = tmp_path / "out.om"
    path.write_text("before\n")
    err = io.StringIO()
    options = BackfillOptions(days=1, step=300, output=str(path))
    code = run_backfill(cfg, options, [failing_ses("eu-west-1"), fake_api.hook], stderr=err)
    assert code == 1
    assert "failed: 123456789012/eu-west-1: AccessDenied: not allowed" in err.getvalue()
    assert "nothing written" in err.getvalue()
    assert path.read_text() == "before\n"  # untouched
    assert [p.name for p in tmp_path.iterdir()] == ["out.om"]  # no partial file left
    options = BackfillOptions(days=1, step=300, output=str(path), keep_going=True)
    err = io.StringIO()
    code = run_backfill(cfg, options, [failing_ses("eu-west-1"), fake_api.hook], stderr=err)
    assert code == 0
    regions = {
        dict(labels)["region"] for _, labels in per_target(parse_openmetrics(path.read_text()))
    }
    assert regions == {"us-east-1"}
    assert "2 targets (1 failed)" in err.getvalue()


# --- flags ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--days", "15"], "--days: must be 1 to 14, got 15"),
        (["--step", "90s"], "--step: must be a whole number of minutes up to 1h, got 90s"),
        (["--step", "60"], "--step: "),
        (["--label", "job"], "--label job: expected NAME=VALUE"),
        (["--label", "9x=1"], "--label 9x: invalid label name"),
        (["--label", "region=x"], "--label region: "),
        (["--label", "a=1", "--label", "a=2"], "--label a: given twice"),
        (["--end", "2999-01-01T00:00:00Z"], "--end 2999-01-01T00:00:00Z: in the future (now is"),
        (["--end", "yesterday"], "--end yesterday: expected RFC 3339 with a zone"),
        (["--end", "2026-11-30T12:00:00"], "--end 2026-11-30T12:00:00: expected RFC 3339 with"),
        (["--end", "nan"], "--end nan: expected RFC 3339"),
        (["--end", "1000000000"], "--end 2001-09-09T01:46:00Z: before the oldest data AWS keeps"),
        (["--end", "1000000000", "--days", "1"], "before the oldest data AWS keeps"),
        (["--start", "1000000000"], "--start 2001-09-09T01:46:40Z: before "),
        (["--start", "2999-01-01T00:00:00Z"], "--start 2999-01-01T00:00:00Z: must be over a"),
        (["--start", "1000000000", "--days", "2"], "--start and --days: give one"),
        (["--start", RECENT], "--start fills a gap after live samples: if the exporter kept"),
        (["--continue-from", "http://p:9090"], "--continue-from: only with --start"),
        (["--exporter-restarted"], "--exporter-restarted: only with --start"),
        (["--start", RECENT, "--continue-from", "ftp://p"], "--continue-from: expected Prom"),
        (
            ["--start", RECENT, "--continue-from", "http://p:9090", "--exporter-restarted"],
            "--continue-from and --exporter-restarted: give one",
        ),
    ],
)
def test_bad_flags_exit_2_naming_the_flag(
    flags: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["backfill", "--demo", *flags]) == 2
    assert message in capsys.readouterr().err


def test_a_label_every_series_has_already_is_refused(aws: None, fake_api: FakeAccountApi) -> None:
    cfg = parse_config(
        "accounts:\n  - name: t\n    regions: [us-east-1]\n    labels: {env: prod}\n"
    )
    with pytest.raises(UsageError, match="--label env: every series of t/us-east-1 has it"):
        backfill(cfg, parse_options(days=1, step="5m", labels=["env=x"]), io.BytesIO())


def test_tsdb_without_promtool_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    cfg = tmp_path / "c.yaml"
    cfg.write_text("accounts:\n  - regions: [us-east-1]\n")
    out, tsdb = str(tmp_path / "x"), str(tmp_path / "d")
    code = main(["backfill", f"--config.file={cfg}", "--output", out, "--tsdb", tsdb])
    assert code == 2
    assert "--tsdb needs promtool (Prometheus's) on PATH" in capsys.readouterr().err


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_progress_bar_on_a_terminal_and_silence_otherwise(
    aws: None, fake_api: FakeAccountApi
) -> None:
    now = datetime.now(UTC).timestamp() // 60 * 60
    put("us-east-1", "Send", now - 600, 4.0)
    fake_api.send_data_points = {"us-east-1": []}
    terminal, pipe = Terminal(), io.StringIO()
    for stream in (terminal, pipe):
        backfill(config(), BackfillOptions(days=1, step=300), io.BytesIO(), [fake_api.hook], stream)
    assert pipe.getvalue() == ""
    assert "\r[" in terminal.getvalue()
    assert terminal.getvalue().endswith("] 1/1 targets, 1 GetMetricData calls\n")


def test_discovered_accounts_are_backfilled_with_their_own_ids(
    aws: None, fake_api: FakeAccountApi
) -> None:
    organizations = boto3.client("organizations", region_name="us-east-1")
    build_organization(organizations, accounts=3)
    members = {a["Id"] for a in organizations.list_accounts()["Accounts"]}
    fake_api.send_data_points = in_every_region([send_point(time.time() - 3600, 3)])
    cfg = parse_config(
        "organizations:\n  - member_role_name: OrganizationAccountAccessRole\n"
        "    regions: [us-east-1]\n    ses_requests_per_second: 1000\n"
        "collectors: {cloudwatch: {enabled: false}}\n"
    )
    out = io.BytesIO()
    report = backfill(cfg, BackfillOptions(days=1, step=300), out, [fake_api.hook], io.StringIO())
    assert report.failed == [] and report.targets == len(members) == 4
    series = per_target(parse_openmetrics(out.getvalue().decode()))
    found = {dict(labels)["account_id"] for name, labels in series}
    assert found == members


def test_many_targets_all_written_in_target_order(aws: None, fake_api: FakeAccountApi) -> None:
    regions = [
        "us-east-1", "us-east-2", "us-west-1", "us-west-2", "eu-west-1", "eu-west-2",
        "eu-west-3", "eu-central-1", "ap-south-1", "ap-northeast-1", "ca-central-1",
    ]  # fmt: skip
    fake_api.send_data_points = in_every_region([send_point(time.time() - 3600, 2, 1)])
    out = io.BytesIO()
    report = backfill(
        parse_config(
            f"accounts:\n  - regions: [{', '.join(regions)}]\n    ses_requests_per_second: 1000\n"
            "collectors: {cloudwatch: {enabled: false}}\n"
        ),
        BackfillOptions(days=1, step=300),
        out,
        [fake_api.hook],
        io.StringIO(),
    )
    assert report.targets == len(regions) and report.failed == []
    text = out.getvalue().decode()
    family = text.split("# TYPE aws_ses_send_statistics_bounces counter\n")[1].split("# ")[0]
    written = list(dict.fromkeys(re.findall(r'region="([^"]+)"', family)))
    assert written == regions


# --- --end: no sample after it ------------------------------------------------------------


def test_a_run_with_end_writes_nothing_at_or_after_it(aws: None, fake_api: FakeAccountApi) -> None:
    now = datetime.now(UTC).timestamp() // 60 * 60
    end = now - 3 * 3600 + 30  # a live sample at hh:mm:30, three hours ago
    stop = end - 30  # the last whole minute before it
    put("us-east-1", "Send", stop - 900, 4.0)  # before --end: counted
    put("us-east-1", "Send", stop, 1.0)  # its minute ends after --end: not counted
    put("us-east-1", "Send", stop + 600, 50.0)  # after --end: never counted
    bucket = end // 900 * 900 - 900
    fake_api.send_data_points = in_every_region(
        [
            send_point(t, n)
            for t, n in ((bucket - 900, 3), (bucket, 7), (bucket + 900, 100), (now - 900, 100))
        ]
    )
    report, series = run(config(), fake_api, now, step=60, end=end)
    assert report.written and series
    stamps = [t for points in series.values() for t, _ in points]
    assert max(stamps) == stop < end and min(stamps) == stop - DAY
    assert values(series, "aws_ses_sends_total")[-1] == (stop, 4.0)
    # the buckets that end after --end are not in: 3 + 7, never the 100s
    sent = values(series, "aws_ses_send_statistics_delivery_attempts_total")
    assert sent[-1] == (stop, 10.0)
    assert {name for name, _ in series} >= {THRESHOLD_FAMILY}  # its stamps are in stamps


# --- the reputation thresholds ------------------------------------------------------------


def test_thresholds_are_the_configs_with_the_given_labels_over_the_window(
    aws: None, fake_api: FakeAccountApi
) -> None:
    fake_api.send_data_points = {"us-east-1": []}
    cfg = config(extra="reputation_thresholds:\n  bounce: {at_risk: 0.08}\n")
    _, series = run(cfg, fake_api, NOW, labels=(("job", "ses"), ("instance", "h:1")))
    thresholds = {
        tuple(sorted(dict(labels).items())): points
        for (name, labels), points in series.items()
        if name == THRESHOLD_FAMILY
    }
    times = [NOW - 40 - DAY + 300 * k for k in range(289)]
    expected = {("bounce", "under_review"): 0.05, ("bounce", "at_risk"): 0.08}
    expected |= {("complaint", "under_review"): 0.001, ("complaint", "at_risk"): 0.005}
    assert thresholds == {
        (("instance", "h:1"), ("job", "ses"), ("rate", rate), ("status", status)): [
            (t, ratio) for t in times
        ]
        for (rate, status), ratio in expected.items()
    }


def test_the_threshold_family_is_the_live_one() -> None:
    cfg = config(extra="reputation_thresholds:\n  complaint: {under_review: 0.002}\n")
    window = history_window(NOW, 1, 3600)
    settings = SeriesSettings(window, cfg.reputation_thresholds, 1800)
    (_, (backfilled,)), *_ = threshold_steps(settings, {})
    exporter = Exporter(cfg)  # not started: what its /metrics says of the thresholds
    scrape = Scrape(exporter.store, exporter)
    (live,) = [m for m in scrape.registry.collect() if m.name == THRESHOLD_FAMILY]
    assert (backfilled.name, backfilled.documentation, backfilled.type) == (
        live.name,
        live.documentation,
        live.type,
    )
    assert backfilled.samples == live.samples  # (rate, status) in the same order, too
    complaint = {"rate": "complaint", "status": "under_review"}
    assert (THRESHOLD_FAMILY, complaint, 0.002) in [
        (s.name, s.labels, s.value) for s in backfilled.samples
    ]


# --- a gap fill after a Prometheus outage continues the live counters ---------------------

SENDS = "aws_ses_sends_total"
SET_SENDS = "aws_ses_configuration_set_sends_total"
ATTEMPTS = "aws_ses_send_statistics_delivery_attempts_total"
LIVE = {"account_id": "123456789012", "region": "us-east-1", "job": "ses", "instance": "h:1"}


def openmetrics(samples: list[tuple[str, dict[str, str], float, float]]) -> str:
    """Samples (name, labels, value, time) as the OpenMetrics promtool reads, one family
    per name, each series in time order."""
    by_family: dict[str, list[str]] = {}
    for name, labels, value, t in sorted(samples, key=lambda s: (s[0], sorted(s[1].items()), s[3])):
        text = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        by_family.setdefault(name, []).append(f"{name}{{{text}}} {value} {t:.0f}")
    lines = []
    for name, rows in by_family.items():
        lines += [f"# TYPE {name.removesuffix('_total')} counter", *rows]
    return "\n".join([*lines, "# EOF", ""])


@pytest.mark.skipif(
    shutil.which("prometheus") is None or shutil.which("promtool") is None,
    reason="prometheus is not installed (or promtool missing)",
)
@pytest.mark.timeout(120)
def test_a_gap_fill_continues_the_live_counters_from_prometheus(
    aws: None, fake_api: FakeAccountApi, tmp_path: Path
) -> None:
    now = datetime.now(UTC).timestamp() // 900 * 900
    last_live, first_live = now - 5 * 3600 + 15, now - 3 * 3600 + 15  # scrapes at :15
    first = last_live + 45  # the first backfilled sample
    per_set = {**LIVE, "configuration_set": "m"}
    # Live before the gap (counting since long before it), and after it: the exporter
    # kept counting while Prometheus was down. Another replica's series too.
    before = [t for t in range(int(last_live) - 3600, int(last_live) + 1, 60)]
    live = [(SENDS, LIVE, 100.0 + k, t) for k, t in enumerate(before)]
    live += [(SET_SENDS, per_set, 40.0, t) for t in before]
    live += [(ATTEMPTS, LIVE, 70.0, t) for t in before]
    live += [(SENDS, {**LIVE, "instance": "h:2"}, 999.0, t) for t in before]
    at_start = 100.0 + len(before) - 1  # the last live value before the gap: 160
    after = range(int(first_live), int(first_live) + 1800, 60)
    live += [(SENDS, LIVE, at_start + 12 + k, t) for k, t in enumerate(after)]
    live += [(SET_SENDS, per_set, 42.0, t) for t in after]
    data = tmp_path / "data"
    (tmp_path / "live.om").write_text(openmetrics(live))
    blocks = ["promtool", "tsdb", "create-blocks-from", "openmetrics", "--quiet"]
    subprocess.run([*blocks, str(tmp_path / "live.om"), str(data)], check=True)
    prom_config = tmp_path / "prometheus.yml"
    prom_config.write_text("global: {scrape_interval: 1m}\n")

    cloudwatch = AwsCloudWatch(
        now,
        {
            ("Send", None): {first - 60: 50.0, first + 120: 5.0, first + 600: 7.0},
            ("Send", "m"): {first + 300: 2.0},
            ("Reject", None): {first + 60: 1.0},  # no live value at --start: from 0
        },
    )
    bucket = (first // 900 + 1) * 900
    fake_api.send_data_points = in_every_region([send_point(bucket, 3)])
    prometheus = launch_prometheus(prom_config, data)
    try:
        prometheus.wait_for(
            "the live blocks",
            lambda: prometheus.api("query", query=SENDS, time=f"{last_live:.0f}")["result"],
            timeout=60,
        )
        report, series = run(
            config(),
            fake_api,
            now,
            cloudwatch.hook,
            days=None,
            step=60,
            start=last_live,
            end=first_live,
            labels=(("job", "ses"), ("instance", "h:1")),
            continue_from=f"http://127.0.0.1:{prometheus.port}/",
        )
    finally:
        prometheus.proc.terminate()
        prometheus.proc.wait(timeout=10)
    assert report.written and report.live_counters == 3 and report.continued == 3
    sends = dict(values(series, SENDS))
    assert sends[first] == at_start  # 50 came before the gap: the live value has it
    assert sends[first + 180] == at_start + 5
    assert sends[first + 660] == at_start + 12 == max(sends.values())
    assert dict(values(series, SET_SENDS)) == {
        t: 40.0 + (2.0 if t >= first + 360 else 0.0)
        for t in range(int(first) + 300, int(first_live) - 14, 60)
    }  # from its first datapoint, at its live value
    attempts = dict(values(series, ATTEMPTS))
    assert min(attempts.values()) == 70.0 and max(attempts.values()) == 73.0
    assert values(series, "aws_ses_rejects_total")[0] == (first, 0.0)
    assert values(series, "aws_ses_rejects_total")[-1][1] == 1.0

    # Gap and live data in one Prometheus: one series, never a reset across both joins.
    (tmp_path / "gap.om").write_text(
        "".join(
            line + "\n"
            for line in openmetrics(
                [
                    (name, dict(labels), v, t)
                    for (name, labels), points in series.items()
                    if name in {SENDS, SET_SENDS}
                    for t, v in points
                ]
            ).splitlines()
        )
    )
    subprocess.run([*blocks, str(tmp_path / "gap.om"), str(data)], check=True)
    prometheus = launch_prometheus(prom_config, data)
    try:
        end = f"{first_live + 1800:.0f}"
        query = f'{SENDS}{{instance="h:1"}}'
        prometheus.wait_for(
            "the blocks",
            lambda: prometheus.api("query", query=f"{query}[5h]", time=end)["result"],
            timeout=60,
        )
        (samples,) = prometheus.api("query", query=f"{query}[5h]", time=end)["result"]
        points = [(float(t), float(v)) for t, v in samples["values"]]
        assert [t for t, _ in points] == sorted(t for t, _ in points)
        gap = [t for t, _ in points if last_live < t < first_live]
        assert len(gap) == (first_live - 15 - first) // 60 + 1
        assert [v for _, v in points] == sorted(v for _, v in points)  # never a drop
        resets = prometheus.api("query", query=f"resets({query}[5h])", time=end)["result"]
        assert resets[0]["value"][1] == "0"
        for name, selector in ((SENDS, query), (SET_SENDS, f'{SET_SENDS}{{instance="h:1"}}')):
            (found,) = prometheus.api("query", query=f"resets({selector}[5h])", time=end)["result"]
            assert found["value"][1] == "0", name
    finally:
        prometheus.proc.terminate()
        prometheus.proc.wait(timeout=10)


class FakePrometheus:
    """/api/v1/query answered with ``status`` and ``body`` after ``delay`` seconds;
    ``queries``: the query strings it was asked."""

    def __init__(self, status: int, body: bytes, delay: float = 0.0):
        self.queries: list[dict[str, list[str]]] = []
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake.queries.append(urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query))
                time.sleep(delay)
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:  # the client gave up waiting
                    pass

            def log_message(self, *_: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def vector(*series: tuple[dict[str, str], str]) -> bytes:
    result = [{"metric": labels, "value": [1.0, value]} for labels, value in series]
    return json.dumps(
        {"status": "success", "data": {"resultType": "vector", "result": result}}
    ).encode()


@pytest.mark.parametrize(
    ("status", "body", "delay", "message"),
    [
        (
            503,
            b'{"status":"error","errorType":"unavailable","error":"TSDB not ready"}',
            0.0,
            "HTTP 503 Service Unavailable: TSDB not ready",
        ),
        (
            400,
            b'{"status":"error","errorType":"bad_data","error":"parse error"}',
            0.0,
            "HTTP 400 Bad Request: parse error",
        ),
        (200, b"<html>a login page</html>", 0.0, "not an answer of Prometheus's HTTP API"),
        (200, b'{"status":"error","error":"query timed out"}', 0.0, "the query failed"),
        (200, vector(), 2.0, "no answer within 0.5 s"),
        (200, vector(), 0.0, "Prometheus has no counter series with the --label labels in the"),
        (
            200,
            vector(({"__name__": SENDS, **LIVE, "instance": "elsewhere"}, "5")),
            0.0,
            "none of the 1 counter series Prometheus has at --start has the labels",
        ),
    ],
)
def test_continue_from_fails_clearly_and_writes_nothing(
    aws: None,
    fake_api: FakeAccountApi,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    status: int,
    body: bytes,
    delay: float,
    message: str,
) -> None:
    monkeypatch.setattr("ses_exporter.backfill.prometheus.TIMEOUT_SECONDS", 0.5)
    fake_api.send_data_points = {"us-east-1": [send_point(time.time() - 3 * 3600, 4)]}
    now = time.time()
    path = tmp_path / "gap.om"
    path.write_text("before\n")
    prometheus = FakePrometheus(status, body, delay)
    try:
        options = BackfillOptions(
            step=300,
            start=now - 4 * 3600,
            end=now - 2 * 3600,
            output=str(path),
            labels=(("job", "ses"), ("instance", "h:1")),
            continue_from=prometheus.url,
        )
        err = io.StringIO()
        assert run_backfill(config(), options, [fake_api.hook], stderr=err) == 1
    finally:
        prometheus.close()
    assert f"--continue-from {prometheus.url}: {message}" in err.getvalue()
    assert "nothing written" in err.getvalue()
    assert path.read_text() == "before\n" and [p.name for p in tmp_path.iterdir()] == ["gap.om"]
    (asked,) = prometheus.queries  # one query: every counter name, the given labels
    assert asked["query"][0].startswith('{__name__=~"aws_ses_sends_total|')
    assert asked["query"][0].endswith(',job="ses",instance="h:1"}')
    assert float(asked["time"][0]) == (now - 4 * 3600) // 60 * 60 + 60 - 0.001


def test_continue_from_an_unreachable_prometheus_is_a_clear_error(
    aws: None, fake_api: FakeAccountApi, capsys: pytest.CaptureFixture[str]
) -> None:
    port = free_port()  # nothing listens there
    start = f"{time.time() - 4 * 3600:.0f}"
    code = main(
        ["backfill", "--demo", "--start", start, "--continue-from", f"http://127.0.0.1:{port}"]
    )
    assert code == 1
    err = capsys.readouterr().err
    assert f"--continue-from http://127.0.0.1:{port}: cannot reach Prometheus:" in err
    assert "nothing written" in err


def test_every_flag_is_in_the_docs_backfill_flags_table() -> None:
    page = (Path(__file__).resolve().parent.parent / "docs" / "backfill.md").read_text()
    section = page.split("\n## Flags\n")[1].split("\n## ")[0]
    table = [line for line in section.splitlines() if line.startswith("| `--")]
    for action in build_backfill_parser()._actions:
        for flag in action.option_strings:
            if flag.startswith("--") and flag != "--help":
                assert any(f"`{flag}" in row for row in table), flag
