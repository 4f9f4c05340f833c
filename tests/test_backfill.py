"""``ses-exporter backfill``: the call plan, the OpenMetrics it writes, and its failures.

In process: the demo world (its 14-day history, ``ses_exporter.demo.history``) for the
shape of the output and the live-name comparison, moto with PutMetricData'd datapoints
and the fakes' GetSendStatistics for exact values (both Rendering Failure spellings,
empty history, a failing target). The demo world's are in
``tests/test_backfill_demo.py``, the end-to-end test with the real Prometheus in
``tests/test_backfill_e2e.py``.
"""

from __future__ import annotations

import io
import itertools
import math
import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.client import BaseClient
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from ses_exporter.backfill.command import (
    BackfillOptions,
    UsageError,
    backfill,
    parse_options,
    run_backfill,
)
from ses_exporter.backfill.history import (
    MAX_DATAPOINTS_PER_CALL,
    history_window,
    plan_calls,
)
from ses_exporter.cli import main
from ses_exporter.collectors.cloudwatch import COUNTERS
from ses_exporter.collectors.cloudwatch_source import MAX_QUERIES_PER_CALL, Query, Window
from ses_exporter.config import Config, parse_config
from ses_exporter.demo.responders import SimulatedError, install_responder
from tests.fakes import FakeAccountApi
from tests.orgworld import build_organization

DAY = 86_400
NOW = 1_780_000_000.0  # a whole minute plus 40 s: 2026-05-28T20:26:40Z
# A series: (sample name, labels as a sorted tuple)
SeriesKey = tuple[str, tuple[tuple[str, str], ...]]


def parse(text: str) -> dict[SeriesKey, list[tuple[float, float]]]:
    """{series: [(timestamp, value), ...]} read with prometheus_client's OpenMetrics parser
    (strict: families not interleaved, # EOF last, counters named *_total)."""
    series: dict[SeriesKey, list[tuple[float, float]]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            key = (s.name, tuple(sorted(s.labels.items())))
            assert s.timestamp is not None
            series.setdefault(key, []).append((float(s.timestamp), s.value))
    return series


def queries(n: int) -> list[Query]:
    return [Query(f"q{i}", "Send", f"set{i}", "Sum") for i in range(n)]


# --- the call plan ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("count", "days", "step", "calls"),
    [
        (36, 14, 60, 8),  # the demo: 20,160 points a query, 2,800 minutes a slice
        (11, 14, 300, 1),  # 11 x 4,032 = 44,352 datapoints: one request
        (1, 14, 60, 1),
        (500, 1, 60, 8),  # 201 minutes a slice: ceil(1440 / 201)
        (501, 1, 60, 2 * 4),  # two batches of 251: 401 minutes a slice, 4 slices each
        (1200, 14, 300, 3 * 16),  # three batches of 400: 252 periods a slice, 16 slices
    ],
)
def test_the_plan_is_the_minimum_both_limits_allow(
    count: int, days: int, step: int, calls: int
) -> None:
    window = history_window(NOW, days, step)
    plan = plan_calls(queries(count), window)
    batches = math.ceil(count / MAX_QUERIES_PER_CALL)
    size = math.ceil(count / batches)
    periods = days * DAY // step
    assert calls == batches * math.ceil(periods / (MAX_DATAPOINTS_PER_CALL // size))
    assert plan.calls == calls
    per_batch: dict[tuple[str, ...], list[Window]] = {}
    for batch, part in plan.requests:
        assert len(batch) <= MAX_QUERIES_PER_CALL
        assert len(batch) * (part.end - part.start) / step <= MAX_DATAPOINTS_PER_CALL
        per_batch.setdefault(tuple(q.id for q in batch), []).append(part)
    assert sorted(q for ids in per_batch for q in ids) == sorted(q.id for q in queries(count))
    for parts in per_batch.values():  # every batch covers the window once, in order
        assert parts[0].start == window.start and parts[-1].end == window.end
        assert all(a.end == b.start for a, b in itertools.pairwise(parts))
    assert plan.metrics == sum(len(batch) for batch, _ in plan.requests)


def test_the_window_ends_at_the_last_whole_minute() -> None:
    window = history_window(NOW, 14, 300)
    assert window.end == NOW - 40 and window.end % 60 == 0
    assert window.end - window.start == 14 * DAY and window.period == 300


def test_no_queries_no_calls() -> None:
    assert plan_calls([], history_window(NOW, 14, 60)).calls == 0


# --- exact values against moto ----------------------------------------------------------


def everywhere(points: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """The same GetSendStatistics answer in every region a test here uses."""
    regions = ["us-east-1", "us-east-2", "us-west-1", "us-west-2", "eu-west-1", "eu-west-2"]
    regions += ["eu-west-3", "eu-central-1", "ap-south-1", "ap-northeast-1", "ca-central-1"]
    return {region: points for region in regions}


def config(regions: str = "[us-east-1]", extra: str = "") -> Config:
    return parse_config(
        f"accounts:\n  - name: t\n    regions: {regions}\n    ses_requests_per_second: 1000\n"
        f"collectors:\n  cloudwatch: {{lookback: 30m, reputation_lookback: 30m}}\n{extra}"
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
    return report, parse(out.getvalue().decode()) if report.written else {}


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
    fake_api.send_data_points = everywhere(
        [
            {
                "Timestamp": datetime.fromtimestamp(bucket + 900, UTC),
                "DeliveryAttempts": 7,
                "Bounces": 1,
                "Complaints": 0,
                "Rejects": 2,
            },
            {
                "Timestamp": datetime.fromtimestamp(bucket, UTC),
                "DeliveryAttempts": 5,
                "Bounces": 0,
                "Complaints": 1,
                "Rejects": 0,
            },
            {
                "Timestamp": datetime.fromtimestamp(now - 2 * DAY, UTC),
                "DeliveryAttempts": 99,
                "Bounces": 9,
                "Complaints": 9,
                "Rejects": 9,
            },
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


def test_empty_history_writes_the_account_counters_at_0_and_nothing_else(
    aws: None, fake_api: FakeAccountApi
) -> None:
    fake_api.send_data_points = {"us-east-1": []}
    out = io.BytesIO()
    report = backfill(
        config(), BackfillOptions(days=1, step=300), out, [fake_api.hook], io.StringIO()
    )
    assert report.written and report.calls == 0
    series = parse(out.getvalue().decode())
    # what the live collector shows for an idle account: its event counters at 0
    assert {name for name, _ in series} == {row.account for row in COUNTERS}
    assert {v for points in series.values() for _, v in points} == {0.0}
    assert report.samples == len(COUNTERS) * 289  # one day at 5 minutes, both ends


def test_cloudwatch_off_and_no_send_statistics_write_an_empty_file(
    aws: None, fake_api: FakeAccountApi
) -> None:
    fake_api.send_data_points = {"us-east-1": []}
    out = io.BytesIO()
    off = config()
    off = off.model_copy(update={"collectors": off.collectors.with_enabled({"cloudwatch": False})})
    report = backfill(off, BackfillOptions(days=1, step=300), out, [fake_api.hook], io.StringIO())
    assert report.written and report.calls == 0 and report.samples == 0
    assert out.getvalue() == b"# EOF\n"


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
    fake_api.send_data_points = everywhere(
        [
            {
                "Timestamp": datetime.fromtimestamp(time.time() - 3600, UTC),
                "DeliveryAttempts": 1,
                "Bounces": 0,
                "Complaints": 0,
                "Rejects": 0,
            }
        ]
    )
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
    regions = {dict(labels)["region"] for _, labels in parse(path.read_text())}
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
        backfill(cfg, parse_options(1, "5m", "-", ["env=x"], False, None), io.BytesIO())


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
    fake_api.send_data_points = everywhere(
        [
            {
                "Timestamp": datetime.fromtimestamp(time.time() - 3600, UTC),
                "DeliveryAttempts": 3,
                "Bounces": 0,
                "Complaints": 0,
                "Rejects": 0,
            }
        ]
    )
    cfg = parse_config(
        "organizations:\n  - member_role_name: OrganizationAccountAccessRole\n"
        "    regions: [us-east-1]\n    ses_requests_per_second: 1000\n"
        "collectors: {cloudwatch: {enabled: false}}\n"
    )
    out = io.BytesIO()
    report = backfill(cfg, BackfillOptions(days=1, step=300), out, [fake_api.hook], io.StringIO())
    assert report.failed == [] and report.targets == len(members) == 4
    series = parse(out.getvalue().decode())
    found = {dict(labels)["account_id"] for name, labels in series}
    assert found == members


def test_many_targets_all_written_in_target_order(aws: None, fake_api: FakeAccountApi) -> None:
    regions = [
        "us-east-1", "us-east-2", "us-west-1", "us-west-2", "eu-west-1", "eu-west-2",
        "eu-west-3", "eu-central-1", "ap-south-1", "ap-northeast-1", "ca-central-1",
    ]  # fmt: skip
    fake_api.send_data_points = everywhere(
        [
            {
                "Timestamp": datetime.fromtimestamp(time.time() - 3600, UTC),
                "DeliveryAttempts": 2,
                "Bounces": 1,
                "Complaints": 0,
                "Rejects": 0,
            }
        ]
    )
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
