"""``ses-exporter backfill`` over the demo world's 14-day history (``demo.history``):
the file's shape, the live series names, the GetMetricData calls, promtool.

A module of its own: the demo world holds moto's global backends for the whole module,
which the moto-based tests of ``tests/test_backfill.py`` must not share.
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.client import BaseClient
from prometheus_client import generate_latest
from prometheus_client.openmetrics.parser import text_string_to_metric_families
from prometheus_client.registry import CollectorRegistry

from ses_exporter.aws import ClientFactory, RequestCounter
from ses_exporter.backfill.command import BackfillOptions, backfill
from ses_exporter.backfill.history import history_window
from ses_exporter.collectors.cloudwatch_source import MAX_DATAPOINTS_PER_CALL
from ses_exporter.collectors.vdm import EVENTS
from ses_exporter.config import parse_config
from ses_exporter.demo import DEMO_CONFIG, DemoWorld
from ses_exporter.targets import build_targets
from tests.openmetrics import THRESHOLD_FAMILY, parse_openmetrics, per_target

LIVE_ONLY = {
    "ses_exporter_cloudwatch_unattributed_events_total",
    "ses_exporter_vdm_enabled",
    "aws_ses_vdm_engagement_metrics_enabled",
}

DAY = 86_400

# --- the demo world: shape, names, calls ---------------------------------------------


@pytest.fixture(scope="module")
def demo() -> Iterator[DemoWorld]:
    patch = pytest.MonkeyPatch()
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_CONFIG_FILE"):
        patch.delenv(name, raising=False)
    patch.setenv("AWS_ACCESS_KEY_ID", "testing")
    patch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    patch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    world = DemoWorld(["us-east-1", "eu-west-1"])
    world.start()
    yield world
    world.stop()
    patch.undo()


class CallCounter:
    """Counts GetMetricData requests as botocore sends (or the demo answers) them."""

    def __init__(self) -> None:
        self.calls = 0
        self.metrics = 0

    def hook(self, service: str, client: BaseClient) -> None:
        if service == "cloudwatch":
            client.meta.events.register("after-call.cloudwatch.GetMetricData", self._count)

    def _count(self, **_: Any) -> None:
        self.calls += 1


@pytest.fixture(scope="module")
def ran_between() -> list[float]:
    """When ``demo_run``'s backfill started and ended (Unix seconds): its window was taken
    in between, however long before a test reads it (minutes, on a loaded machine)."""
    return []


@pytest.fixture(scope="module")
def demo_run(demo: DemoWorld, ran_between: list[float]) -> tuple[str, Any, CallCounter]:
    """One day at 5 minutes of the demo, with job and instance labels."""
    counter = CallCounter()
    out = io.BytesIO()
    options = BackfillOptions(days=1, step=300, labels=(("job", "ses"), ("instance", "h:1")))
    ran_between.append(time.time())
    report = backfill(
        parse_config(DEMO_CONFIG), options, out, [demo.client_hook, counter.hook], io.StringIO()
    )
    ran_between.append(time.time())
    return out.getvalue().decode(), report, counter


def test_the_file_is_what_promtool_reads(demo_run: tuple[str, Any, CallCounter]) -> None:
    text, report, _ = demo_run
    assert report.written and report.failed == []
    assert text.endswith("\n# EOF\n") and text.count("# EOF") == 1
    assert "\n\n" not in text
    samples = [line for line in text.splitlines() if not line.startswith("#")]
    assert len(samples) == report.samples > 0
    for line in samples:  # a timestamp in whole seconds, not milliseconds
        assert re.fullmatch(r"\S+\{[^}]*\} \S+ 1\d{9}", line), line
    families = re.findall(r"^# TYPE (\S+) ", text, flags=re.MULTILINE)
    assert len(families) == len(set(families))  # each family once, never interleaved


def test_series_are_in_time_order_and_counters_never_decrease(
    demo_run: tuple[str, Any, CallCounter], ran_between: list[float]
) -> None:
    text, _, _ = demo_run
    series = parse_openmetrics(text)
    for (name, _), points in series.items():
        times = [t for t, _ in points]
        assert times == sorted(times) and len(set(times)) == len(times), name
        assert all((t - times[0]) % 300 == 0 for t in times), name
        if name.endswith("_total"):
            values = [v for _, v in points]
            assert values[0] == 0.0, name  # counters start at 0 at their first datapoint
            assert values == sorted(values), name
    sends = next(
        p
        for (n, labels), p in series.items()
        if n == "aws_ses_sends_total" and ("region", "us-east-1") in labels
    )
    assert len(sends) == 289  # one day at 5 minutes, both ends
    # It ends at the last whole minute before the backfill ran (not before this test ran:
    # on a loaded machine other tests of this module come in between).
    started, finished = ran_between
    earliest, latest = (history_window(t, 1, 300).end for t in (started, finished))
    assert earliest <= sends[-1][0] <= latest


def test_account_wide_and_per_set_series_with_the_target_and_given_labels(
    demo_run: tuple[str, Any, CallCounter],
) -> None:
    series = parse_openmetrics(demo_run[0])
    names = {name for name, _ in series}
    assert {"aws_ses_sends_total", "aws_ses_configuration_set_sends_total"} <= names
    assert {"aws_ses_reputation_bounce_ratio", "aws_ses_send_statistics_bounces_total"} <= names
    per_set = {dict(labels).get("configuration_set") for n, labels in series if "_set_" in n}
    assert per_set == {"transactional", "marketing", "newsletters"}
    for name, labels in series:
        if name == THRESHOLD_FAMILY:  # the exporter's own: the given labels only
            assert dict(labels).keys() == {"rate", "status", "job", "instance"}
            continue
        assert {"account_id", "region", "env", "job", "instance"} <= dict(labels).keys()
        assert dict(labels)["job"] == "ses" and dict(labels)["account_id"] == "123456789012"
    # newsletters has reputation metrics disabled: no reputation series for it
    assert not any(
        "reputation" in n and dict(labels).get("configuration_set") == "newsletters"
        for n, labels in series
    )


def test_the_sends_are_the_demo_history_and_per_set_sums_to_account(
    demo: DemoWorld, demo_run: tuple[str, Any, CallCounter]
) -> None:
    series = parse_openmetrics(demo_run[0])

    def last(name: str, **labels: str) -> float:
        found = [
            p[-1][1]
            for (n, ls), p in series.items()
            if n == name and labels.items() <= dict(ls).items()
        ]
        assert len(found) == 1, (name, labels)
        return found[0]

    total = last("aws_ses_sends_total", region="us-east-1")
    by_set = sum(
        last("aws_ses_configuration_set_sends_total", region="us-east-1", configuration_set=s)
        for s in ("transactional", "marketing", "newsletters")
    )
    assert total == by_set
    # The demo's own store holds the same minutes: the sum over the window.
    store = demo.cloudwatch_store("us-east-1")
    times = [t for (n, ls), p in series.items() if n == "aws_ses_sends_total" for t, _ in p]
    start, end = min(times), max(times)
    answer = store.get_metric_data(
        {
            "StartTime": datetime.fromtimestamp(start, UTC),
            "EndTime": datetime.fromtimestamp(end, UTC),
            "MetricDataQueries": [
                {
                    "Id": "s",
                    "MetricStat": {"Metric": {"MetricName": "Send"}, "Period": 60, "Stat": "Sum"},
                }
            ],
        }
    )
    assert total == sum(answer["MetricDataResults"][0]["Values"]) > 0


def test_series_names_and_labels_are_exactly_the_live_ones(
    demo: DemoWorld, demo_run: tuple[str, Any, CallCounter]
) -> None:
    live: set[tuple[str, frozenset[str]]] = set()
    factory = ClientFactory(RequestCounter(), [demo.client_hook])
    for target in build_targets(parse_config(DEMO_CONFIG), factory):
        target.account.account_id(target.clients)
        for name in ("cloudwatch", "send_statistics", "vdm"):
            if name not in target.collectors:
                continue
            for family in target.collectors[name].poll(target.labels()):
                live |= {
                    (s.name, frozenset(s.labels))
                    for s in family.samples
                    # the exporter's own count of what a catch-up could not match, and
                    # VDM's switches (today's state, no history): live only
                    if s.name not in LIVE_ONLY
                }
    backfilled = {
        (name, frozenset(dict(labels)) - {"job", "instance"})
        for name, labels in per_target(parse_openmetrics(demo_run[0]))
    }
    assert backfilled == live


def test_get_metric_data_calls_are_the_minimum(
    demo: DemoWorld, demo_run: tuple[str, Any, CallCounter]
) -> None:
    _, report, counter = demo_run
    # Per region: 27 event count queries (6 account-wide: SES publishes Open, Click and
    # DeliveryDelay only per set; 21 per set) over 288 periods, one request; 6 reputation
    # queries over 576 (from 24 hours earlier), another.
    assert counter.calls == report.calls == 4
    assert report.metrics == 2 * 33
    assert report.summary().endswith("4 GetMetricData calls, 66 metrics requested ≈ $0.0007")


def test_fourteen_days_at_one_minute_take_eight_calls_per_target(demo: DemoWorld) -> None:
    counter = CallCounter()
    # CloudWatch's calls only: VDM's daily counters at every minute of 14 days would be
    # 4 million lines of output that say nothing about them.
    one_region = DEMO_CONFIG.replace("[us-east-1, eu-west-1]", "[us-east-1]")
    config = parse_config(one_region.replace("vdm: {enabled: true", "vdm: {enabled: false"))
    assert not config.collectors.get("vdm").enabled
    report = backfill(
        config,
        BackfillOptions(days=14, step=60),
        io.BytesIO(),
        [demo.client_hook, counter.hook],
        io.StringIO(),
    )
    # events: ceil(20,160 / floor(100,800 / 30)) = 6; reputation: 6 queries from 24
    # hours earlier (less a margin, to stay within 15 days), 2 requests
    assert counter.calls == report.calls == 8
    assert demo.cloudwatch_store("us-east-1").max_datapoints <= MAX_DATAPOINTS_PER_CALL


def test_vdm_history_is_the_demo_vdm_per_whole_day_in_us_east_1_only(demo: DemoWorld) -> None:
    """Three days at an hour: the two whole UTC days in the window, each counted at its
    end, as the demo's VDM has them; eu-west-1 has VDM disabled: no vdm series there."""
    out, err = io.BytesIO(), io.StringIO()
    started = time.time()  # the backfill takes its window from the clock as it starts
    report = backfill(
        parse_config(DEMO_CONFIG), BackfillOptions(days=3, step=3600), out, [demo.client_hook], err
    )
    assert report.written and report.failed == []
    series = parse_openmetrics(out.getvalue().decode())
    vdm = {(n, ls): p for (n, ls), p in series.items() if n.startswith("aws_ses_vdm_")}
    assert {dict(ls)["region"] for _, ls in vdm} == {"us-east-1"}
    assert any("123456789012/eu-west-1: VDM is not enabled there" in n for n in report.notes)
    # 10 metrics x (the account + 5 ISPs + 3 sets x 5 ISPs), ten queries a call
    assert (report.vdm_queries, report.vdm_calls) == (210, 21)
    assert report.summary().endswith("; 21 BatchGetMetricData calls, 210 queries (free)")
    store = demo.vdm_store("us-east-1")
    window = history_window(started, 3, 3600)
    first_day = -(-window.start // DAY) * DAY
    days = [first_day, first_day + DAY]
    assert days[-1] + DAY <= window.end

    def step(name: str, end: float, **labels: str) -> tuple[float, float]:
        """(the value at the first sample at or after ``end``, the rise there)."""
        (points,) = [
            p for (n, ls), p in vdm.items() if n == name and labels.items() <= dict(ls).items()
        ]
        index = next(i for i, (t, _) in enumerate(points) if t >= end)
        return points[index][1], points[index][1] - points[index - 1][1]

    for day in days:
        end = day + DAY
        for row in EVENTS:
            assert step(row.account, end)[1] == store.count(day, row.metric), (row.metric, day)
            counted = step(row.isp, end, isp="Yahoo")[1]
            assert counted == store.count(day, row.metric, isp="Yahoo"), (row.metric, day)
        counted = step(
            EVENTS[0].configuration_set, end, configuration_set="marketing", isp="Gmail"
        )[1]
        assert counted == store.count(day, "SEND", isp="Gmail", configuration_set="marketing")
    # The demo splits CloudWatch's sends among providers: a whole day's account-wide VDM
    # sends are that day's Send datapoints.
    answer = demo.cloudwatch_store("us-east-1").get_metric_data(
        {
            "StartTime": datetime.fromtimestamp(days[0], UTC),
            "EndTime": datetime.fromtimestamp(days[0] + DAY, UTC),
            "MetricDataQueries": [
                {
                    "Id": "s",
                    "MetricStat": {"Metric": {"MetricName": "Send"}, "Period": 60, "Stat": "Sum"},
                }
            ],
        }
    )
    sent = sum(answer["MetricDataResults"][0]["Values"])
    assert step(EVENTS[0].account, days[0] + DAY) == (sent, sent) and sent > 0


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_promtool_creates_blocks_and_checks_the_names(
    tmp_path: Path, demo_run: tuple[str, Any, CallCounter]
) -> None:
    text = demo_run[0]
    path = tmp_path / "history.om"
    path.write_text(text)
    done = subprocess.run(
        ["promtool", "tsdb", "create-blocks-from", "openmetrics", str(path), str(tmp_path / "d")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert list((tmp_path / "d").glob("*/meta.json"))
    # promtool check metrics reads the text format: the families as a scrape prints them.
    registry = CollectorRegistry()
    families = list(text_string_to_metric_families(text))

    class Families:
        def collect(self) -> list[Any]:
            return families

    registry.register(Families())  # type: ignore[arg-type]
    check = subprocess.run(
        ["promtool", "check", "metrics"],
        input=generate_latest(registry),
        capture_output=True,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr
