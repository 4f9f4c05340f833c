"""The cloudwatch collector: source functions with Stubber, the builder alone, the collector
against an in-memory CloudWatch (answers checked against botocore's model) and against moto.
"""

from __future__ import annotations

import copy
import itertools
import re
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from botocore.validate import ParamValidator

from ses_exporter.aws import (
    RepeatedNextTokenError,
    RequestCounter,
    TargetClients,
    make_session,
    retention,
)
from ses_exporter.collectors.cloudwatch import (
    COUNTERS,
    STAT_OF,
    CloudWatchCollector,
    CloudWatchSettings,
    CloudWatchSnapshot,
    cloudwatch_families,
    status_of,
)
from ses_exporter.collectors.cloudwatch_source import (
    CloudWatchDataError,
    Query,
    Window,
    discover_metrics,
    fetch_metric_data,
    plan_queries,
    plan_requests,
    read_windows,
    trailing_window,
)
from ses_exporter.config import ReputationThresholds, parse_config
from tests.helpers import Values, values

LABELS = {"account_id": "123456789012", "region": "eu-west-1"}
SET = "ses:configuration-set"
T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z, a multiple of every period used here
WINDOW = Window(T0 - 3600, T0 + 300, 300)


def cs(name: str, **more: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted({"configuration_set": name, **more}.items()))


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def stub_client() -> Any:
    return boto3.client(
        "cloudwatch", region_name="eu-west-1", aws_access_key_id="a", aws_secret_access_key="b"
    )


def record_requests(client: Any) -> list[dict[str, Any]]:
    """The API parameters of every GetMetricData request the client makes."""
    requests: list[dict[str, Any]] = []

    def record(params: Mapping[str, Any], **_: Any) -> None:
        requests.append(copy.deepcopy(dict(params)))

    client.meta.events.register("before-parameter-build.cloudwatch.GetMetricData", record)
    return requests


def result(qid: str, points: list[tuple[float, float]], status: str = "Complete") -> dict[str, Any]:
    return {
        "Id": qid,
        "Label": qid,
        "Timestamps": [at(t) for t, _ in points],
        "Values": [v for _, v in points],
        "StatusCode": status,
    }


# --- the source half, with Stubber ------------------------------------------------------


def listed(name: str, *dimensions: tuple[str, str]) -> dict[str, Any]:
    """One ListMetrics entry of AWS/SES."""
    entry: dict[str, Any] = {"Namespace": "AWS/SES", "MetricName": name}
    if dimensions:
        entry["Dimensions"] = [{"Name": n, "Value": v} for n, v in dimensions]
    return entry


def test_discovery_keeps_account_and_set_metrics_only() -> None:
    client = stub_client()
    page1 = {
        "Metrics": [
            {**listed("Send"), "Dimensions": []},
            listed("Send", (SET, "a")),
            listed("Send", ("ses:caller-identity", "root")),
            listed("Bounce", (SET, "a"), ("campaign", "x")),
        ],
        "NextToken": "page2",
    }
    page2 = {
        "Metrics": [
            listed("Rendering Failure", (SET, "b")),
            listed("Reputation.BounceRate"),
            listed("Bounce", ("campaign", "x")),
            listed("SomethingNew"),
        ]
    }
    with Stubber(client) as stub:
        stub.add_response("list_metrics", page1, {"Namespace": "AWS/SES"})
        stub.add_response("list_metrics", page2, {"Namespace": "AWS/SES", "NextToken": "page2"})
        discovery = discover_metrics(client, STAT_OF)
        stub.assert_no_pending_responses()
    assert discovery.metrics == {
        ("Send", None),
        ("Send", "a"),
        ("Rendering Failure", "b"),
        ("Reputation.BounceRate", None),
    }


def test_query_ids_are_valid_unique_and_map_back() -> None:
    keys = [("Send", "prod-eu.1"), ("Send", None), ("Bounce", "Ünïcode set"), ("Bounce", None)]
    queries = plan_queries(keys, STAT_OF)
    assert all(re.fullmatch(r"[a-z][a-zA-Z0-9_]*", q.id) for q in queries)
    assert len({q.id for q in queries}) == 4
    assert [(q.metric, q.configuration_set, q.stat) for q in queries] == [
        ("Bounce", None, "Sum"),
        ("Send", None, "Sum"),
        ("Send", "prod-eu.1", "Sum"),
        ("Bounce", "Ünïcode set", "Sum"),
    ]


def test_trailing_window_is_aligned_to_the_period() -> None:
    assert trailing_window(T0 + 10, 300, 10_800) == Window(T0 - 10_800, T0 + 300, 300)
    assert trailing_window(T0, 300, 10_800) == Window(T0 - 10_800, T0, 300)
    assert trailing_window(T0 + 299, 60, 3000) == Window(T0 - 2760, T0 + 300, 60)


def test_request_shape_one_call_with_account_and_set_queries() -> None:
    client = stub_client()
    queries = (
        Query("q0", "Send", None, "Sum"),
        Query("q1", "Reputation.BounceRate", "a", "Average"),
    )
    expected = {
        "MetricDataQueries": [
            {"Id": "q0", "MetricStat": {"Metric": listed("Send"), "Period": 300, "Stat": "Sum"}},
            {
                "Id": "q1",
                "MetricStat": {
                    "Metric": listed("Reputation.BounceRate", (SET, "a")),
                    "Period": 300,
                    "Stat": "Average",
                },
            },
        ],
        "StartTime": at(T0 - 3600),
        "EndTime": at(T0 + 300),
        "ScanBy": "TimestampDescending",
    }
    answer = {"MetricDataResults": [result("q0", [(T0, 5.0), (T0 - 300, 2.0)]), result("q1", [])]}
    billed: list[int] = []
    with Stubber(client) as stub:
        stub.add_response("get_metric_data", answer, expected)
        data = fetch_metric_data(client, queries, WINDOW, billed.append)
    assert data.results == ((queries[0], ((T0, 5.0), (T0 - 300, 2.0))), (queries[1], ()))
    assert billed == [2]


@pytest.mark.parametrize(
    ("count", "sizes"), [(500, [500]), (501, [251, 250]), (1200, [400, 400, 400])]
)
def test_queries_are_batched_500_a_call_and_every_metric_is_billed(
    count: int, sizes: list[int]
) -> None:
    client = stub_client()
    requests = record_requests(client)
    queries = plan_queries([("Send", f"set{n:04}") for n in range(count)], STAT_OF)
    billed: list[int] = []
    with Stubber(client) as stub:
        for first, size in zip(itertools.accumulate([0, *sizes]), sizes, strict=False):
            batch = queries[first : first + size]
            answer = {"MetricDataResults": [result(q.id, [(T0, 1.0)]) for q in batch]}
            stub.add_response("get_metric_data", answer)
        data = fetch_metric_data(client, queries, WINDOW, billed.append)
        stub.assert_no_pending_responses()
    assert [len(r["MetricDataQueries"]) for r in requests] == sizes
    assert billed == sizes and sum(billed) == count
    assert all(points == ((T0, 1.0),) for _, points in data.results)
    asked = [
        q["MetricStat"]["Metric"]["Dimensions"][0]["Value"]
        for r in requests
        for q in r["MetricDataQueries"]
    ]
    assert asked == [f"set{n:04}" for n in range(count)]


def test_requests_hold_at_most_100800_datapoints_and_bill_each_query_once() -> None:
    """24 hours of 5-minute periods (289 with the current one) for 2,002 queries: batches
    of at most floor(100,800 / 289) = 348 queries, the window never cut, so each query is
    billed once (cutting the window instead would bill each query once per slice)."""
    day = Window(T0 - 86_400, T0 + 300, 300)
    queries = plan_queries([("Reputation.BounceRate", f"s{n:04}") for n in range(2002)], STAT_OF)
    requests = plan_requests(queries, day)
    assert [len(batch) for batch, _ in requests] == [334] * 5 + [332]
    assert all(part == day for _, part in requests)
    assert all(len(batch) * 289 <= 100_800 for batch, _ in requests)
    assert [q for batch, _ in requests for q in batch] == list(queries)
    # a window longer than 100,800 periods (none CloudWatch keeps) is read in slices
    (query,) = plan_queries([("Send", None)], STAT_OF)
    long = Window(0, 60 * 150_000, 60)
    parts = [part for _, part in plan_requests([query], long)]
    assert [(p.end - p.start) / 60 for p in parts] == [100_800, 49_200]


def test_read_windows_follow_what_cloudwatch_keeps() -> None:
    """1-minute data for 15 days, 5-minute for 63, hourly for 455: older parts of a gap
    are read at the coarser period, boundaries on both grids, with a period of margin."""
    day, now = 86_400, T0
    assert read_windows(now - 3600, now, 60, now) == (Window(now - 3600, now, 60),)
    coarse, fine = read_windows(now - 20 * day, now, 60, now)
    assert (coarse.period, fine.period) == (300, 60)
    assert coarse.start == now - 20 * day and coarse.end == fine.start
    assert now - 15 * day < fine.start <= now - 15 * day + 600 and fine.start % 300 == 0
    hourly, five, minutes = read_windows(now - 100 * day, now, 60, now)
    assert (hourly.period, five.period) == (3600, 300)
    assert hourly.end == five.start and five.end == minutes.start and five.start % 3600 == 0
    oldest, *_ = read_windows(now - 600 * day, now, 60, now)
    assert oldest.start >= now - 455 * day  # older than CloudWatch keeps: not read


def test_next_token_pages_are_merged_by_id_and_each_page_is_billed() -> None:
    client = stub_client()
    requests = record_requests(client)
    queries = plan_queries([("Send", None), ("Bounce", None)], STAT_OF)  # q0 Bounce, q1 Send
    page1 = {
        "MetricDataResults": [result("q1", [(T0, 7.0)], "PartialData")],
        "NextToken": "t1",
    }
    page2 = {
        "MetricDataResults": [
            result("q1", [(T0 - 300, 3.0)], "PartialData"),
            result("q0", [(T0 - 600, 1.0)], "PartialData"),
        ],
        "NextToken": "t2",
    }
    page3 = {"MetricDataResults": [result("q1", [(T0 - 900, 2.0)])]}
    billed: list[int] = []
    with Stubber(client) as stub:
        for page in (page1, page2, page3):
            stub.add_response("get_metric_data", page)
        data = fetch_metric_data(client, queries, WINDOW, billed.append)
    assert [r.get("NextToken") for r in requests] == [None, "t1", "t2"]
    assert billed == [2, 2, 2]
    points = {q.metric: p for q, p in data.results}
    assert points == {
        "Bounce": ((T0 - 600, 1.0),),
        "Send": ((T0, 7.0), (T0 - 300, 3.0), (T0 - 900, 2.0)),
    }


@pytest.mark.parametrize("status", ["InternalError", "Forbidden"])
def test_an_unusable_status_fails_the_fetch(status: str) -> None:
    client = stub_client()
    queries = plan_queries([("Send", "a"), ("Bounce", None)], STAT_OF)
    answer = {"MetricDataResults": [result("q0", []), result("q1", [(T0, 1.0)], status)]}
    with Stubber(client) as stub:
        stub.add_response("get_metric_data", answer)
        with pytest.raises(CloudWatchDataError, match=f"{status} for Send of a"):
            fetch_metric_data(client, queries, WINDOW, lambda _: None)


def test_partial_data_without_a_token_keeps_what_came() -> None:
    client = stub_client()
    queries = plan_queries([("Send", None)], STAT_OF)
    answer = {"MetricDataResults": [result("q0", [(T0, 4.0)], "PartialData")]}
    with Stubber(client) as stub:
        stub.add_response("get_metric_data", answer)
        data = fetch_metric_data(client, queries, WINDOW, lambda _: None)
    assert data.results[0][1] == ((T0, 4.0),)


def test_a_repeated_next_token_fails_instead_of_looping() -> None:
    client = stub_client()
    queries = plan_queries([("Send", None)], STAT_OF)
    page = {"MetricDataResults": [result("q0", [])], "NextToken": "same"}
    with Stubber(client) as stub:
        stub.add_response("get_metric_data", page)
        stub.add_response("get_metric_data", page)
        with pytest.raises(
            RepeatedNextTokenError, match="GetMetricData returned NextToken 'same' twice"
        ):
            fetch_metric_data(client, queries, WINDOW, lambda _: None)


def test_aws_errors_propagate() -> None:
    client = stub_client()
    with Stubber(client) as stub:
        stub.add_client_error("get_metric_data", "Throttling", "Rate exceeded", 400)
        with pytest.raises(ClientError, match="Throttling"):
            fetch_metric_data(
                client, plan_queries([("Send", None)], STAT_OF), WINDOW, lambda _: None
            )


# --- the builder alone --------------------------------------------------------------------

DEFAULTS = ReputationThresholds()


@pytest.mark.parametrize(
    ("rate", "ratio", "status"),
    [
        ("bounce", 0.0499, "healthy"),
        ("bounce", 0.05, "under_review"),
        ("bounce", 0.0501, "under_review"),
        ("bounce", 0.0999, "under_review"),
        ("bounce", 0.10, "at_risk"),
        ("bounce", 0.1001, "at_risk"),
        ("complaint", 0.00099, "healthy"),
        ("complaint", 0.001, "under_review"),
        ("complaint", 0.00101, "under_review"),
        ("complaint", 0.00499, "under_review"),
        ("complaint", 0.005, "at_risk"),
        ("complaint", 0.00501, "at_risk"),
    ],
)
def test_reputation_status_at_each_threshold_edge(rate: str, ratio: float, status: str) -> None:
    assert status_of(ratio, getattr(DEFAULTS, rate)) == status
    snap = CloudWatchSnapshot(counters=(), reputation=(((rate, None), (T0, ratio)),))
    got = values(cloudwatch_families(snap, DEFAULTS, LABELS))
    for r in (rate, "overall"):
        statuses = {
            s: got[("aws_ses_reputation_status", (("rate", r), ("status", s)))]
            for s in ("healthy", "under_review", "at_risk")
        }
        assert statuses == {s: float(s == status) for s in statuses}
    assert got[(f"aws_ses_reputation_{rate}_ratio", ())] == ratio
    assert got[("aws_ses_reputation_last_datapoint_timestamp_seconds", (("rate", rate),))] == T0
    other = "complaint" if rate == "bounce" else "bounce"
    assert (f"aws_ses_reputation_{other}_ratio", ()) not in got
    assert not any(("rate", other) in labels for _, labels in got)


def test_configured_thresholds_are_used() -> None:
    strict = ReputationThresholds.model_validate(
        {"bounce": {"under_review": 0.02, "at_risk": 0.04}}
    )
    assert status_of(0.03, strict.bounce) == "under_review"
    assert status_of(0.03, DEFAULTS.bounce) == "healthy"


def current(got: Values, name: str, **labels: str) -> dict[str, str]:
    """{rate: status whose series is 1}."""
    out = {}
    for (sample, extra), value in got.items():
        d = dict(extra)
        if sample == name and value == 1 and all(d.get(k) == v for k, v in labels.items()):
            out[d["rate"]] = d["status"]
    return out


def test_overall_is_the_worse_rate_per_account_and_per_set() -> None:
    snap = CloudWatchSnapshot(
        counters=(),
        reputation=(
            (("bounce", None), (T0, 0.06)),
            (("complaint", None), (T0 - 300, 0.0001)),
            (("bounce", "a"), (T0, 0.01)),
            (("complaint", "a"), (T0, 0.006)),
            (("bounce", "b"), (T0, 0.2)),
        ),
    )
    got = values(cloudwatch_families(snap, DEFAULTS, LABELS))
    assert current(got, "aws_ses_reputation_status") == {
        "overall": "under_review",
        "bounce": "under_review",
        "complaint": "healthy",
    }
    per_set = "aws_ses_configuration_set_reputation_status"
    assert current(got, per_set, configuration_set="a") == {
        "overall": "at_risk",
        "bounce": "healthy",
        "complaint": "at_risk",
    }
    assert current(got, per_set, configuration_set="b") == {
        "overall": "at_risk",
        "bounce": "at_risk",
    }
    assert got[("aws_ses_configuration_set_reputation_complaint_ratio", cs("a"))] == 0.006
    stamp = "aws_ses_reputation_last_datapoint_timestamp_seconds"
    assert got[(stamp, (("rate", "complaint"),))] == T0 - 300


def test_no_reputation_data_means_no_reputation_series() -> None:
    snap = CloudWatchSnapshot(counters=((("Send", None), 0.0),), reputation=())
    got = values(cloudwatch_families(snap, DEFAULTS, LABELS))
    assert got == {("aws_ses_sends_total", ()): 0.0}


def test_help_texts_name_the_source_and_caching() -> None:
    snap = CloudWatchSnapshot(
        counters=(
            (("Rendering Failure", "a"), 1.0),
            (("Send", None), 2.0),
        ),
        reputation=((("bounce", None), (T0, 0.01)),),
    )
    families = cloudwatch_families(snap, DEFAULTS, LABELS)
    assert [f.name for f in families] == [
        "aws_ses_sends",
        "aws_ses_configuration_set_rendering_failures",
        "aws_ses_reputation_bounce_ratio",
        "aws_ses_reputation_last_datapoint_timestamp_seconds",
        "aws_ses_reputation_status",
    ]
    for family in families:
        assert "CloudWatch AWS/SES" in family.documentation
        assert "cached" in family.documentation
    assert "Rendering Failure / RenderingFailure" in families[1].documentation
    assert [f.type for f in families[:2]] == ["counter", "counter"]


# --- the collector against an in-memory CloudWatch ---------------------------------------


class _Http:
    def __init__(self, status_code: int):
        self.status_code = status_code
        self.headers: dict[str, str] = {}


class FakeCloudWatch:
    """ListMetrics and GetMetricData answered from memory, per the real API's semantics.

    A query without dimensions reads only the account-wide metric (unlike moto). Every
    answer is validated against botocore's output model, as Stubber does; the API
    parameters of every request are recorded.
    """

    def __init__(self, client: Any):
        # (metric, set or None) -> {timestamp: value}; a key with {} exists without data
        self.data: dict[tuple[str, str | None], dict[float, float]] = {}
        # Given a clock, answers as CloudWatch does for old StartTimes: no datapoints at a
        # period CloudWatch no longer keeps that far back (1 minute: 15 days, 5: 63).
        self.clock: Callable[[], float] | None = None
        self.extra_metrics: list[dict[str, Any]] = []  # other dimension sets ListMetrics shows
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.failures: dict[str, str] = {}  # operation -> error code
        client.meta.events.register("before-parameter-build.cloudwatch", self._stash)
        client.meta.events.register("before-call.cloudwatch", self._answer)

    def calls_of(self, operation: str) -> list[dict[str, Any]]:
        return [params for op, params in self.calls if op == operation]

    def _stash(self, params: Mapping[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["fake_params"] = copy.deepcopy(dict(params))

    def _answer(
        self, model: Any, context: dict[str, Any], **_: Any
    ) -> tuple[_Http, dict[str, Any]]:
        params = context["fake_params"]
        self.calls.append((model.name, params))
        if model.name in self.failures:
            error = {"Code": self.failures[model.name], "Message": "simulated"}
            return _Http(400), {"Error": error, "ResponseMetadata": {"HTTPStatusCode": 400}}
        if model.name == "ListMetrics":
            parsed = {"Metrics": self._metrics()}
        else:
            queries = params["MetricDataQueries"]
            parsed = {"MetricDataResults": [self._result(q, params) for q in queries]}
        report = ParamValidator().validate(parsed, model.output_shape)
        assert not report.has_errors(), report.generate_report()
        return _Http(200), {**parsed, "ResponseMetadata": {"HTTPStatusCode": 200}}

    def _metrics(self) -> list[dict[str, Any]]:
        metrics = [
            {
                "Namespace": "AWS/SES",
                "MetricName": name,
                "Dimensions": [] if cset is None else [{"Name": SET, "Value": cset}],
            }
            for name, cset in self.data
        ]
        return metrics + self.extra_metrics

    def _result(self, query: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
        metric = query["MetricStat"]["Metric"]
        dims = metric.get("Dimensions", [])
        assert all(d["Name"] == SET for d in dims) and len(dims) <= 1
        points = self.data.get((metric["MetricName"], dims[0]["Value"] if dims else None), {})
        start, end = params["StartTime"].timestamp(), params["EndTime"].timestamp()
        # CloudWatch aggregates the stored datapoints into buckets of the query's Period.
        period, stat = query["MetricStat"]["Period"], query["MetricStat"]["Stat"]
        if self.clock is not None and start < self.clock() - retention(period):
            return result(query["Id"], [])
        buckets: dict[float, list[float]] = {}
        for t, v in points.items():
            if start <= t < end:
                buckets.setdefault(t - (t - start) % period, []).append(v)
        inside = sorted(
            ((t, sum(vs) if stat == "Sum" else sum(vs) / len(vs)) for t, vs in buckets.items()),
            reverse=True,
        )
        return result(query["Id"], inside)


class Clock:
    def __init__(self, now: float):
        self.now = now

    def __call__(self) -> float:
        return self.now


def settings_for(
    yaml_extra: str = "", cloudwatch: str = "{period: 5m, lookback: 1h}"
) -> CloudWatchSettings:
    config = parse_config(
        "accounts:\n  - regions: [eu-west-1]\n"
        f"{yaml_extra}collectors:\n  cloudwatch: {cloudwatch}\n"
    )
    return CloudWatchSettings(
        config.collectors.cloudwatch,
        config.accounts[0].configuration_sets,
        config.reputation_thresholds,
    )


@pytest.fixture
def clients(aws: None) -> TargetClients:
    session = make_session(
        profile=None,
        role_arn=None,
        external_id=None,
        endpoint_url=None,
        region="eu-west-1",
        counter=RequestCounter(),
    )
    return session.target_clients("eu-west-1", 1000)


@pytest.fixture
def fake(clients: TargetClients) -> FakeCloudWatch:
    return FakeCloudWatch(clients.cloudwatch)


@pytest.fixture
def clock() -> Clock:
    return Clock(T0 + 10)


UNATTRIBUTED = ("ses_exporter_cloudwatch_unattributed_events_total", ())


def zeros(*metrics: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The account-wide counters of ``metrics`` (CloudWatch names listed without
    dimensions) at 0, and the collector's unattributed-events counter: an account-wide
    counter exists only for a metric CloudWatch has without dimensions."""
    rows = {name: row for row in COUNTERS for name in row.names}
    return {**{(rows[m].account, ()): 0.0 for m in metrics}, UNATTRIBUTED: 0.0}


def collector(
    clients: TargetClients, clock: Clock, yaml_extra: str = "", billed: list[int] | None = None
) -> CloudWatchCollector:
    sink = billed if billed is not None else []
    return CloudWatchCollector(clients, settings_for(yaml_extra), sink.append, clock=clock)


def test_first_poll_is_the_baseline_and_later_growth_counts(
    clients: TargetClients, fake: FakeCloudWatch, clock: Clock
) -> None:
    fake.data[("Send", None)] = {T0 - 600: 10.0, T0 - 300: 5.0, T0: 1.0}
    fake.data[("Send", "a")] = {T0 - 300: 4.0}
    fake.data[("Delivery", None)] = {}  # exists in CloudWatch, no datapoints in the window
    billed: list[int] = []
    c = collector(clients, clock, billed=billed)
    assert values(c.poll(LABELS)) == {
        **zeros("Send", "Delivery"),
        ("aws_ses_configuration_set_sends_total", cs("a")): 0.0,
    }
    fake.data[("Send", None)].update({T0 - 300: 8.0, T0: 6.0, T0 + 300: 2.0})  # +3, +5, new 2
    fake.data[("Send", None)][T0 - 600] = 9.0  # revised down: adds nothing
    fake.data[("Send", None)][T0 - 900] = 4.0  # late datapoint for an older period: counts
    fake.data[("Send", "a")][T0 + 300] = 1.0
    fake.data[("Delivery", None)][T0 + 300] = 3.0
    clock.now += 300
    got = values(c.poll(LABELS))
    assert got == {
        **zeros(),
        ("aws_ses_sends_total", ()): 14.0,
        ("aws_ses_deliveries_total", ()): 3.0,
        ("aws_ses_configuration_set_sends_total", cs("a")): 1.0,
    }
    clock.now += 300  # nothing new: counters hold, never decrease
    fake.data[("Send", None)][T0] = 5.0
    assert values(c.poll(LABELS)) == got
    assert billed == [3, 3, 3]
    window = fake.calls_of("GetMetricData")[1]
    assert (window["StartTime"], window["EndTime"]) == (at(T0 - 3300), at(T0 + 600))


def test_a_period_change_on_reload_never_inflates_the_counters(
    clients: TargetClients, fake: FakeCloudWatch, clock: Clock
) -> None:
    """30 sends, one a minute, read at 5m; after a reload to 1m, the same minutes must not
    count again (keyed by timestamp alone they did: every non-boundary minute was new)."""
    sends = fake.data[("Send", None)] = {T0 - 60 * i: 1.0 for i in range(30)}
    settings = {p: settings_for(cloudwatch=f"{{period: {p}, lookback: 1h}}") for p in ("1m", "5m")}
    c = CloudWatchCollector(clients, settings["5m"], [].append, clock=clock)
    total = ("aws_ses_sends_total", ())
    assert values(c.poll(LABELS))[total] == 0  # the 30 sends are the baseline

    c.configure(settings["1m"])
    clock.now += 60
    assert values(c.poll(LABELS))[total] == 0  # no new mail, no growth
    sends[T0 + 360] = 2.0  # new mail after the old window's end
    clock.now += 360
    assert values(c.poll(LABELS))[total] == 2

    c.configure(settings["5m"])  # and back: the 5-minute points hold counted minutes
    clock.now += 300
    assert values(c.poll(LABELS))[total] == 2
    sends[T0 + 1200] = 4.0
    clock.now += 600
    assert values(c.poll(LABELS))[total] == 6


def test_both_rendering_failure_names_map_to_one_family(
    clients: TargetClients, fake: FakeCloudWatch, clock: Clock
) -> None:
    fake.data[("Rendering Failure", None)] = {T0 - 300: 1.0}
    fake.data[("RenderingFailure", "a")] = {T0 - 300: 2.0}
    fake.data[("Rendering Failure", "b")] = {T0 - 300: 3.0}
    fake.data[("RenderingFailure", "b")] = {T0 - 300: 3.0}  # same event under both names
    c = collector(clients, clock)
    c.poll(LABELS)
    fake.data[("Rendering Failure", None)][T0] = 2.0
    fake.data[("RenderingFailure", "a")][T0] = 5.0
    fake.data[("Rendering Failure", "b")][T0] = 4.0
    fake.data[("RenderingFailure", "b")][T0] = 4.0
    clock.now += 300
    assert values(c.poll(LABELS)) == {
        **zeros(),
        ("aws_ses_rendering_failures_total", ()): 2.0,
        ("aws_ses_configuration_set_rendering_failures_total", cs("a")): 5.0,
        ("aws_ses_configuration_set_rendering_failures_total", cs("b")): 4.0,
    }


def test_reputation_newest_datapoint_and_absent_rates(
    clients: TargetClients, fake: FakeCloudWatch, clock: Clock
) -> None:
    fake.data[("Reputation.BounceRate", None)] = {T0 - 600: 0.2, T0 - 300: 0.03}
    # outside reputation_lookback (24 h by default)
    fake.data[("Reputation.ComplaintRate", None)] = {T0 - 86_400 - 600: 0.01}
    fake.data[("Reputation.BounceRate", "a")] = {T0: 0.05}
    # older than lookback (1 h) but within reputation_lookback: SES publishes these sparsely
    fake.data[("Reputation.BounceRate", "b")] = {T0 - 7200: 0.2}
    got = values(collector(clients, clock).poll(LABELS))
    assert got[("aws_ses_configuration_set_reputation_bounce_ratio", cs("b"))] == 0.2
    assert got[("aws_ses_reputation_bounce_ratio", ())] == 0.03
    stamp = ("aws_ses_reputation_last_datapoint_timestamp_seconds", (("rate", "bounce"),))
    assert got[stamp] == T0 - 300
    assert ("aws_ses_reputation_complaint_ratio", ()) not in got
    assert current(got, "aws_ses_reputation_status") == {"overall": "healthy", "bounce": "healthy"}
    assert got[("aws_ses_configuration_set_reputation_bounce_ratio", cs("a"))] == 0.05
    per_set = "aws_ses_configuration_set_reputation_status"
    assert current(got, per_set, configuration_set="a") == {
        "overall": "under_review",
        "bounce": "under_review",
    }
    assert len([k for k in got if k[0].endswith("reputation_status")]) == 18
    # nothing but reputation exists: one call over the reputation window, then each
    # newest 5-minute bucket again at one minute (one call per bucket start)
    call, *minutes = fake.calls_of("GetMetricData")
    assert {q["MetricStat"]["Stat"] for q in call["MetricDataQueries"]} == {"Average"}
    assert (call["StartTime"], call["EndTime"]) == (at(T0 - 86_400), at(T0 + 300))
    assert sorted((m["StartTime"], m["EndTime"]) for m in minutes) == [
        (at(t), at(t + 300)) for t in (T0 - 7200, T0 - 300, T0)
    ]
    assert {q["MetricStat"]["Period"] for m in minutes for q in m["MetricDataQueries"]} == {60}


def test_reputation_is_the_newest_datapoint_not_its_buckets_average(
    clients: TargetClients, fake: FakeCloudWatch, clock: Clock
) -> None:
    """Issue 19 (9): two datapoints in one 5-minute bucket; the console shows the newer
    one, stamped with its own minute, not their average stamped with the bucket's start."""
    fake.data[("Reputation.BounceRate", None)] = {T0 - 300: 0.01, T0 - 120: 0.07}
    fake.data[("Reputation.BounceRate", "a")] = {T0 - 3600: 0.02}
    c = collector(clients, clock)
    got = values(c.poll(LABELS))
    assert got[("aws_ses_reputation_bounce_ratio", ())] == 0.07
    stamp = ("aws_ses_reputation_last_datapoint_timestamp_seconds", (("rate", "bounce"),))
    assert got[stamp] == T0 - 120
    assert current(got, "aws_ses_reputation_status") == {
        "overall": "under_review",
        "bounce": "under_review",
    }
    assert got[("aws_ses_configuration_set_reputation_bounce_ratio", cs("a"))] == 0.02
    calls = len(fake.calls_of("GetMetricData"))
    clock.now += 300  # no new bucket: the minute is not read again
    assert values(c.poll(LABELS)) == got
    assert len(fake.calls_of("GetMetricData")) == calls + 1
    fake.data[("Reputation.BounceRate", None)][T0 + 240] = 0.03  # a new newest datapoint
    clock.now += 300
    got = values(c.poll(LABELS))
    assert (got[("aws_ses_reputation_bounce_ratio", ())], got[stamp]) == (0.03, T0 + 240)


def test_other_dimension_sets_are_ignored_and_the_set_filter_applies(
    clients: TargetClients, fake: FakeCloudWatch, clock: Clock
) -> None:
    for name in ("prod-eu", "prod-us", "prod-test", "staging"):
        fake.data[("Send", name)] = {T0: 1.0}
    fake.data[("Send", None)] = {T0: 4.0}
    fake.extra_metrics = [
        listed("Send", ("ses:caller-identity", "x")),
        listed("Send", (SET, "prod-eu"), ("tag", "y")),
    ]
    extra = "    configuration_sets: {include: ['prod-.*'], exclude: ['prod-test']}\n"
    got = values(collector(clients, clock, extra).poll(LABELS))
    assert set(got) == {
        *zeros("Send"),
        ("aws_ses_configuration_set_sends_total", cs("prod-eu")),
        ("aws_ses_configuration_set_sends_total", cs("prod-us")),
    }
    queries = fake.calls_of("GetMetricData")[0]["MetricDataQueries"]
    asked = [q["MetricStat"]["Metric"].get("Dimensions", []) for q in queries]
    assert asked == [[], [{"Name": SET, "Value": "prod-eu"}], [{"Name": SET, "Value": "prod-us"}]]


def test_discovery_is_cached_refreshed_every_15_minutes_and_kept_when_a_refresh_fails(
    clients: TargetClients, fake: FakeCloudWatch, clock: Clock
) -> None:
    fake.data[("Send", "a")] = {T0 - 300: 1.0}
    settings = settings_for(cloudwatch="{lookback: 3h}")  # refresh: every 15 minutes
    c = CloudWatchCollector(clients, settings, lambda _: None, clock=clock)
    c.poll(LABELS)
    fake.data[("Send", "b")] = {T0 + 300: 2.0}  # a new set appears
    clock.now += 300
    got = values(c.poll(LABELS))
    assert len(fake.calls_of("ListMetrics")) == 1  # cached: b not known yet
    assert set(got) == {*zeros(), ("aws_ses_configuration_set_sends_total", cs("a"))}
    clock.now = T0 + 10 + 3600
    got = values(c.poll(LABELS))
    assert len(fake.calls_of("ListMetrics")) == 2
    # a set first seen after the first poll shows 0 first (increase() ignores a series'
    # first sample), then its datapoints since the first poll's bucket count
    assert got[("aws_ses_configuration_set_sends_total", cs("b"))] == 0.0
    fake.failures["ListMetrics"] = "AccessDenied"  # not retried by botocore
    clock.now += 3600
    fake.data[("Send", "a")][T0 + 7200] = 3.0
    got = values(c.poll(LABELS))
    assert len(fake.calls_of("ListMetrics")) == 3
    assert got[("aws_ses_configuration_set_sends_total", cs("a"))] == 3.0
    assert got[("aws_ses_configuration_set_sends_total", cs("b"))] == 2.0
    del fake.failures["ListMetrics"]
    del fake.data[("Send", "b")]  # b went quiet for two weeks: ListMetrics drops it
    clock.now += 300  # the failed refresh is retried at the next poll
    got = values(c.poll(LABELS))
    assert len(fake.calls_of("ListMetrics")) == 4
    assert set(got) == {*zeros(), ("aws_ses_configuration_set_sends_total", cs("a"))}


def test_failures_raise_and_leave_the_counters_alone(
    clients: TargetClients, fake: FakeCloudWatch, clock: Clock
) -> None:
    c = collector(clients, clock)
    fake.failures["ListMetrics"] = "AccessDenied"
    with pytest.raises(ClientError, match="AccessDenied"):
        c.poll(LABELS)  # no cached discovery to fall back on
    del fake.failures["ListMetrics"]
    fake.data[("Send", None)] = {T0 - 300: 5.0}
    fake.failures["GetMetricData"] = "InvalidParameterValue"
    with pytest.raises(ClientError, match="InvalidParameterValue"):
        c.poll(LABELS)
    del fake.failures["GetMetricData"]
    assert values(c.poll(LABELS)) == zeros("Send")  # still the baseline
    fake.data[("Send", None)][T0] = 2.0
    clock.now += 300
    assert values(c.poll(LABELS)) == {**zeros(), ("aws_ses_sends_total", ()): 2.0}


def test_nothing_discovered_means_no_call_and_no_account_counter(
    clients: TargetClients, fake: FakeCloudWatch, clock: Clock
) -> None:
    billed: list[int] = []
    c = collector(clients, clock, billed=billed)
    assert values(c.poll(LABELS)) == zeros()  # no fake 0 for what CloudWatch does not have
    assert fake.calls_of("GetMetricData") == [] and billed == []
    # The first Reject ever: ListMetrics lists it at the next refresh; the counter is born
    # at 0 (increase() ignores a series' first sample), then counts every datapoint since
    # the first poll, so increase() over the burst sees all of it.
    fake.data[("Reject", None)] = {T0: 2.0, T0 + 300: 1.0}
    clock.now += 3600
    assert values(c.poll(LABELS)) == zeros("Reject")
    clock.now += 300
    assert values(c.poll(LABELS)) == {**zeros(), ("aws_ses_rejects_total", ()): 3.0}


def test_first_reject_ever_counts_within_15_minutes_with_the_default_lookback(
    clients: TargetClients, fake: FakeCloudWatch, clock: Clock
) -> None:
    # Defaults (5m period, 3h look-back): ListMetrics is re-read every 15 minutes, so the
    # first Reject is listed within 15 minutes plus the poll interval, born at 0, and
    # counted at the poll after. A Reject datapoint from before the first poll that only
    # turns up with it is history, not counted.
    fake.data[("Send", None)] = {T0 - 300: 5.0}
    c = CloudWatchCollector(clients, settings_for(cloudwatch="{}"), lambda _: None, clock=clock)
    assert ("aws_ses_rejects_total", ()) not in values(c.poll(LABELS))
    fake.data[("Reject", None)] = {T0 - 600: 4.0, T0 + 300: 1.0, T0 + 600: 2.0}
    clock.now += 600  # ListMetrics still cached
    assert ("aws_ses_rejects_total", ()) not in values(c.poll(LABELS))
    clock.now += 300  # 15 minutes after the first poll: listed now
    assert values(c.poll(LABELS))[("aws_ses_rejects_total", ())] == 0.0
    clock.now += 300
    assert values(c.poll(LABELS))[("aws_ses_rejects_total", ())] == 3.0
    assert len(fake.calls_of("ListMetrics")) == 2


# --- no event lost, none invented --------------------------------------------------------


def clocked(
    clients: TargetClients, fake: FakeCloudWatch, cloudwatch: str, start: float
) -> tuple[CloudWatchCollector, Clock]:
    """A collector with ``cloudwatch`` settings on its own clock, which the fake also
    answers by (CloudWatch's retention)."""
    clock = Clock(start)
    fake.clock = clock
    return CloudWatchCollector(
        clients, settings_for(cloudwatch=cloudwatch), [].append, clock=clock
    ), clock


def test_an_outage_longer_than_lookback_loses_no_event(
    clients: TargetClients, fake: FakeCloudWatch, clock: Clock
) -> None:
    """(1) Polls fail for 4 hours with a 1-hour lookback: the first poll after reads from
    the end of the last window counted, so all 15 sends of the outage count (the trailing
    window alone lost 12 of them)."""
    fake.data[("Send", None)] = {T0 - 300: 1.0}
    c = collector(clients, clock)
    c.poll(LABELS)
    sends = fake.data[("Send", None)]
    fake.failures["GetMetricData"] = "AccessDenied"  # e.g. a role's policy changed
    for step in range(1, 49):  # 4 hours of polls every 5 minutes, all failing
        clock.now += 300
        if step % 3 == 0 and len(sends) < 16:
            sends[T0 + 300 * step - 300] = 1.0
        with pytest.raises(ClientError):
            c.poll(LABELS)
    assert len(sends) == 16
    del fake.failures["GetMetricData"]
    clock.now += 300
    assert values(c.poll(LABELS))[("aws_ses_sends_total", ())] == 15
    request = fake.calls_of("GetMetricData")[-1]
    assert request["StartTime"] == at(T0 + 300 - 3600)  # the last window's end - lookback
    clock.now += 300
    assert values(c.poll(LABELS))[("aws_ses_sends_total", ())] == 15  # and once only


def test_a_datapoint_published_up_to_lookback_minus_period_late_is_counted(
    clients: TargetClients, fake: FakeCloudWatch
) -> None:
    """(1) interval 5m, period 1m, lookback 10m: a bucket published 8 minutes after its
    minute ended, just after a poll, is read by the next one (a trailing window of the
    last 10 minutes had already moved past it: the late bucket of 9 counted 0)."""
    settings = settings_for(cloudwatch="{interval: 5m, period: 1m, lookback: 10m}")
    clock = Clock(T0 + 239)
    c = CloudWatchCollector(clients, settings, [].append, clock=clock)
    fake.data[("Send", None)] = {T0: 1.0}
    c.poll(LABELS)
    for _ in range(3):  # T0+539, T0+839, T0+1139: the minute [T0+600, T0+660) not yet there
        clock.now += 300
        assert values(c.poll(LABELS))[("aws_ses_sends_total", ())] == 0
    fake.data[("Send", None)][T0 + 600] = 9.0  # published at T0+1140: 8 minutes late
    clock.now += 300
    assert values(c.poll(LABELS))[("aws_ses_sends_total", ())] == 9


def test_a_gap_longer_than_cloudwatch_keeps_minutes_is_read_at_five_minutes(
    clients: TargetClients, fake: FakeCloudWatch
) -> None:
    """(1) period 1m: after 16 days without a poll the part older than 15 days is read at
    5 minutes (CloudWatch answers nothing older at 1m); each 5-minute datapoint adds what
    the minutes counted before the gap do not hold. Nothing lost, nothing twice."""
    c, clock = clocked(clients, fake, "{interval: 1m, period: 1m, lookback: 10m}", T0 + 150)
    sends = fake.data[("Send", None)] = {T0: 1.0}
    c.poll(LABELS)
    sends[T0 + 120] = 2.0  # counted before the gap
    clock.now += 60
    assert values(c.poll(LABELS))[("aws_ses_sends_total", ())] == 2
    sends[T0 + 180] = 4.0  # the rest of that 5-minute period, published late
    truth = 2 + 4
    day = 86_400
    for n in range(1, 17):  # one send a day through the gap, and a few before it ends
        sends[T0 + n * day] = 1.0
        truth += 1
    clock.now = T0 + 16 * day + 300
    got = values(c.poll(LABELS))
    assert got[("aws_ses_sends_total", ())] == truth
    assert got[UNATTRIBUTED] == 0
    fine, coarse = fake.calls_of("GetMetricData")[-2:]
    assert fine["MetricDataQueries"][0]["MetricStat"]["Period"] == 60
    assert coarse["MetricDataQueries"][0]["MetricStat"]["Period"] == 300
    assert coarse["EndTime"] == fine["StartTime"]  # the 5-minute part ends where 1m starts


def test_a_gap_older_than_cloudwatch_keeps_anything_is_logged_and_the_rest_counted(
    clients: TargetClients, fake: FakeCloudWatch, caplog: pytest.LogCaptureFixture
) -> None:
    """(1) period 1h (kept 455 days): after 460 days without a successful poll, what
    CloudWatch still has is counted and the unreadable start of the gap is logged."""
    c, clock = clocked(clients, fake, "{interval: 1h, period: 1h, lookback: 2h}", T0 + 10)
    sends = fake.data[("Send", None)] = {T0: 1.0}
    c.poll(LABELS)
    day = 86_400
    sends[T0 + 2 * day] = 1.0  # older than 455 days by the end of the gap: unreadable
    for n in range(1, 47):
        sends[T0 + n * 10 * day] = 1.0  # every ten days
    clock.now = T0 + 460 * day + 10
    got = values(c.poll(LABELS))
    readable = [t for t in sends if t >= clock.now - 455 * day + 3600 and t > T0]
    assert got[("aws_ses_sends_total", ())] == len(readable) == 46
    assert "no longer keeps the start of the gap" in caplog.text


def test_an_outage_before_anything_was_listed_still_loses_nothing(
    clients: TargetClients, fake: FakeCloudWatch, clock: Clock
) -> None:
    """(1) A new region: ListMetrics lists nothing at the first poll; then every call fails
    for 6 hours (polls with nothing to read make no GetMetricData call that could fail).
    The read point stays while ListMetrics fails, so the sends of the outage count."""
    settings = settings_for(cloudwatch="{period: 5m, lookback: 1h}")  # refresh: 30 min
    c = CloudWatchCollector(clients, settings, [].append, clock=clock)
    c.poll(LABELS)
    fake.failures["ListMetrics"] = fake.failures["GetMetricData"] = "AccessDenied"
    sends = fake.data[("Send", None)] = {}
    for hour in range(6):
        sends[T0 + 3600 * hour + 600] = 1.0
        for _ in range(12):
            clock.now += 300
            c.poll(LABELS)  # nothing to read: no failure to see
    fake.failures.clear()
    clock.now += 300
    assert values(c.poll(LABELS))[("aws_ses_sends_total", ())] == 0  # listed now: born at 0
    clock.now += 300
    assert values(c.poll(LABELS))[("aws_ses_sends_total", ())] == 6


def test_the_newest_reputation_datapoint_is_read_again_while_its_bucket_was_open(
    clients: TargetClients, fake: FakeCloudWatch, clock: Clock
) -> None:
    """(9) A datapoint that leaves the bucket's average as it was (a rate that stays the
    same) is still the newest one, with its own minute."""
    rates = fake.data[("Reputation.BounceRate", None)] = {T0 + 60: 0.0625}
    clock.now = T0 + 70
    c = collector(clients, clock)
    stamp = ("aws_ses_reputation_last_datapoint_timestamp_seconds", (("rate", "bounce"),))
    got = values(c.poll(LABELS))
    assert (got[("aws_ses_reputation_bounce_ratio", ())], got[stamp]) == (0.0625, T0 + 60)
    rates.update({T0 + 120: 0.03125, T0 + 180: 0.09375})  # the average is still 0.0625
    clock.now = T0 + 200
    got = values(c.poll(LABELS))
    assert (got[("aws_ses_reputation_bounce_ratio", ())], got[stamp]) == (0.09375, T0 + 180)


def test_only_metrics_cloudwatch_has_without_dimensions_get_account_wide_counters(
    clients: TargetClients, fake: FakeCloudWatch, clock: Clock
) -> None:
    """(2) SES publishes Open, Click, DeliveryDelay and Subscription only through a
    configuration set's event destination: no account-wide series sits at a fake 0."""
    for metric in ("Open", "Click", "DeliveryDelay", "Subscription", "Send"):
        fake.data[(metric, "news")] = {T0: 1.0}
    fake.data[("Send", None)] = {T0: 1.0}
    got = values(collector(clients, clock).poll(LABELS))
    assert {name for name, labels in got if not labels} == {
        "aws_ses_sends_total",
        "ses_exporter_cloudwatch_unattributed_events_total",
    }
    assert {name for name, labels in got if labels == cs("news")} == {
        "aws_ses_configuration_set_opens_total",
        "aws_ses_configuration_set_clicks_total",
        "aws_ses_configuration_set_delivery_delays_total",
        "aws_ses_configuration_set_subscriptions_total",
        "aws_ses_configuration_set_sends_total",
    }


def test_a_set_excluded_by_a_reload_and_included_again_counts_nothing_twice(
    clients: TargetClients, fake: FakeCloudWatch, clock: Clock
) -> None:
    """(3) A series that leaves and returns within the window continues from its total;
    its window is not counted again (before: up to lookback of events twice)."""
    opens = fake.data[("Open", "news")] = {T0 - 300: 5.0}
    c = collector(clients, clock)
    c.poll(LABELS)
    opens[T0] = 3.0
    clock.now += 300
    key = ("aws_ses_configuration_set_opens_total", cs("news"))
    assert values(c.poll(LABELS))[key] == 3
    c.configure(settings_for("    configuration_sets: {exclude: [news]}\n"))
    clock.now += 300
    assert key not in values(c.poll(LABELS))
    opens[T0 + 600] = 2.0  # while excluded
    c.configure(settings_for())
    clock.now += 300
    assert values(c.poll(LABELS))[key] == 5  # 3 + 2, nothing of the window twice
    clock.now += 300
    assert values(c.poll(LABELS))[key] == 5


def test_a_set_listmetrics_omits_for_a_refresh_counts_nothing_twice(
    clients: TargetClients, fake: FakeCloudWatch, clock: Clock
) -> None:
    """(3) ListMetrics leaves a set out of one refresh (it lists metrics with datapoints in
    the last two weeks; eventual consistency): when it is back, nothing counts twice."""
    sends = fake.data[("Send", "a")] = {T0 - 300: 1.0}
    settings = settings_for(cloudwatch="{period: 5m, lookback: 30m}")  # refresh: 15 min
    c = CloudWatchCollector(clients, settings, [].append, clock=clock)
    c.poll(LABELS)
    sends[T0] = 4.0
    key = ("aws_ses_configuration_set_sends_total", cs("a"))
    clock.now += 900
    assert values(c.poll(LABELS))[key] == 4
    del fake.data[("Send", "a")]
    clock.now += 900
    assert key not in values(c.poll(LABELS))
    fake.data[("Send", "a")] = sends
    clock.now += 900
    assert values(c.poll(LABELS))[key] == 4


# --- the collector against moto -----------------------------------------------------------


def put(cw: Any, name: str, cset: str | None, timestamp: float, value: float) -> None:
    dims = [] if cset is None else [{"Name": SET, "Value": cset}]
    cw.put_metric_data(
        Namespace="AWS/SES",
        MetricData=[
            {"MetricName": name, "Dimensions": dims, "Timestamp": at(timestamp), "Value": value}
        ],
    )


def test_collector_against_moto(clients: TargetClients) -> None:
    # Per-set values are checked exactly; account-wide only where no set has that metric,
    # because moto sums every dimension set into a query without dimensions.
    cw = clients.cloudwatch
    base = (int(time.time()) // 3600) * 3600 - 7200.0  # an aligned hour in the real past
    put(cw, "Send", "alpha", base - 570, 10)
    put(cw, "Send", "beta", base - 570, 4)
    put(cw, "Bounce", None, base - 570, 2)
    put(cw, "Reputation.BounceRate", "alpha", base - 870, 0.2)
    put(cw, "Reputation.BounceRate", "alpha", base - 270, 0.04)
    put(cw, "Reputation.ComplaintRate", None, base - 270, 0.0005)
    billed: list[int] = []
    clock = Clock(base + 10)
    c = collector(clients, clock, billed=billed)
    first = values(c.poll(LABELS))
    assert first[("aws_ses_configuration_set_sends_total", cs("alpha"))] == 0
    assert first[("aws_ses_configuration_set_sends_total", cs("beta"))] == 0
    assert first[("aws_ses_bounces_total", ())] == 0
    # no account-wide Send was published: CloudWatch has no such metric, so no series
    assert ("aws_ses_sends_total", ()) not in first
    put(cw, "Send", "alpha", base - 540, 2)  # revises the base-600 bucket from 10 to 12
    put(cw, "Send", "alpha", base + 30, 3)
    put(cw, "Bounce", None, base + 30, 1)
    clock.now = base + 310
    got = values(c.poll(LABELS))
    assert got[("aws_ses_configuration_set_sends_total", cs("alpha"))] == 5
    assert got[("aws_ses_configuration_set_sends_total", cs("beta"))] == 0
    assert got[("aws_ses_bounces_total", ())] == 1
    assert got[("aws_ses_configuration_set_reputation_bounce_ratio", cs("alpha"))] == 0.04
    stamp = "aws_ses_configuration_set_reputation_last_datapoint_timestamp_seconds"
    assert got[(stamp, cs("alpha", rate="bounce"))] == base - 300
    assert got[("aws_ses_reputation_complaint_ratio", ())] == 0.0005
    assert current(got, "aws_ses_reputation_status") == {
        "overall": "healthy",
        "complaint": "healthy",
    }
    per_set = "aws_ses_configuration_set_reputation_status"
    assert current(got, per_set, configuration_set="alpha") == {
        "overall": "healthy",
        "bounce": "healthy",
    }
    # event counts since the last window less lookback, reputation over
    # reputation_lookback: a call each; the first time, the newest 5-minute bucket of the
    # two reputation metrics is read again at one minute (its newest datapoint's minute
    # is base - 300, as stamped above)
    assert billed == [3, 2, 2, 3, 2]
