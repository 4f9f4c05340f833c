"""Virtual Deliverability Manager, simulated (``demo.vdm``): sesv2 BatchGetMetricData
answered from a ``VdmStore`` as AWS answers it, and the demo world's mailbox providers.

The store is driven through a real boto3 sesv2 client with the tests' fake hook (the way
the collector's tests use it), so botocore serializes every request and every answer is
checked against the model's output shape. The demo world's part runs a ``DemoWorld``
whose clock the tests move; its traffic thread still ticks every few seconds, which only
ever adds counts.

A module of its own: the demo world holds moto's global backends for the whole module.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.exceptions import ClientError, ParamValidationError
from botocore.validate import validate_parameters

from ses_exporter.demo.vdm import DAY, ISPS, METRICS, VdmStore, split
from ses_exporter.demo.world import SET_IDENTITIES, DemoWorld
from tests.fakes import FakeAccountApi, too_many_requests
from tests.helpers import ManualClock, running_demo

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SESV2 = botocore.session.get_session().get_service_model("sesv2")
D0 = 1_790_000_000 // DAY * DAY  # 00:00 UTC of a day in 2026
LISTED = ("Gmail", "Hotmail", "Yahoo", "AOL", "iCloud")  # the exporter's default ISPs


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def query(
    query_id: str,
    metric: str = "SEND",
    start: float = D0,
    end: float = D0 + 3 * DAY,
    **dimensions: str,
) -> dict[str, Any]:
    q: dict[str, Any] = {
        "Id": query_id,
        "Namespace": "VDM",
        "Metric": metric,
        "StartDate": at(start),
        "EndDate": at(end),
    }
    if dimensions:
        q["Dimensions"] = dimensions
    return q


def fits(answer: Mapping[str, Any]) -> None:
    """Raises unless botocore's validator takes ``answer`` as BatchGetMetricData's output."""
    members = {k: v for k, v in answer.items() if k != "ResponseMetadata"}
    validate_parameters(members, SESV2.operation_model("BatchGetMetricData").output_shape)


def series(answer: Mapping[str, Any], query_id: str) -> list[tuple[int, int]]:
    (result,) = [r for r in answer["Results"] if r["Id"] == query_id]
    return [
        (int(t.timestamp()), v) for t, v in zip(result["Timestamps"], result["Values"], strict=True)
    ]


def error_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    error = exc.value.response["Error"]
    return str(error["Code"]), str(error["Message"])


@pytest.fixture
def store() -> VdmStore:
    """Three days of sends: Gmail and Yahoo (listed) and Comcast (not), two sets, one
    identity each, and one send without a configuration set; nothing on the middle day."""
    store = VdmStore()
    for day, scale in ((D0, 1), (D0 + 2 * DAY, 10)):
        store.add(
            day + 3600, "SEND", 5 * scale, isp="Gmail", configuration_set="a", identity="a.com"
        )
        store.add(
            day + 7200, "SEND", 2 * scale, isp="Gmail", configuration_set="b", identity="b.com"
        )
        store.add(day + 60, "SEND", 3 * scale, isp="Yahoo", configuration_set="a", identity="a.com")
        store.add(
            day + 86_399, "SEND", 1 * scale, isp="Comcast", configuration_set="b", identity="b.com"
        )
        store.add(day, "SEND", 4 * scale, isp="Gmail")  # no set, no identity
        store.add(day, "PERMANENT_BOUNCE", 1 * scale, isp="Yahoo", configuration_set="a")
    return store


@pytest.fixture
def sesv2(aws: None, fake_api: FakeAccountApi, store: VdmStore) -> Any:
    fake_api.vdm["us-east-1"] = store
    client = boto3.client("sesv2", region_name="us-east-1")
    fake_api.hook("sesv2", client)
    return client


def ask(client: Any, *queries: dict[str, Any]) -> Mapping[str, Any]:
    answer = client.batch_get_metric_data(Queries=list(queries))
    fits(answer)
    return answer


# --- the store's answers ----------------------------------------------------------------


def test_a_query_sums_what_its_dimensions_match_and_nothing_else(sesv2: Any) -> None:
    answer = ask(
        sesv2,
        query("account"),
        query("gmail", ISP="Gmail"),
        query("yahoo_a", ISP="Yahoo", CONFIGURATION_SET="a"),
        query("gmail_b", ISP="Gmail", EMAIL_IDENTITY="b.com"),
        query("set_a", CONFIGURATION_SET="a"),
        query("all_three", ISP="Gmail", CONFIGURATION_SET="a", EMAIL_IDENTITY="a.com"),
        query("bounces", "PERMANENT_BOUNCE"),
    )
    assert answer["Errors"] == []
    assert [r["Id"] for r in answer["Results"]] == [
        "account",
        "gmail",
        "yahoo_a",
        "gmail_b",
        "set_a",
        "all_three",
        "bounces",
    ]
    # no Dimensions: the whole account, Comcast (not listed) and set-less mail included
    assert series(answer, "account") == [(D0, 15), (D0 + 2 * DAY, 150)]
    assert series(answer, "gmail") == [(D0, 11), (D0 + 2 * DAY, 110)]
    assert series(answer, "yahoo_a") == [(D0, 3), (D0 + 2 * DAY, 30)]
    assert series(answer, "gmail_b") == [(D0, 2), (D0 + 2 * DAY, 20)]
    assert series(answer, "set_a") == [(D0, 8), (D0 + 2 * DAY, 80)]
    assert series(answer, "all_three") == [(D0, 5), (D0 + 2 * DAY, 50)]
    assert series(answer, "bounces") == [(D0, 1), (D0 + 2 * DAY, 10)]
    gmail, yahoo = series(answer, "gmail"), series(answer, "yahoo_a")
    assert sum(v for _, v in gmail + yahoo) < sum(v for _, v in series(answer, "account"))


def test_datapoints_are_whole_utc_days_that_overlap_the_window(sesv2: Any) -> None:
    answer = ask(
        sesv2,
        query("from_noon", start=D0 + 12 * 3600, end=D0 + 2 * DAY + 1),
        query("end_is_exclusive", start=D0, end=D0 + 2 * DAY),
        query("middle_day_only", start=D0 + DAY, end=D0 + 2 * DAY),
        query("before", start=D0 - 5 * DAY, end=D0),
    )
    # the day of the count, not the hour: D0's 05:00 and 23:59 sends are both in D0
    assert series(answer, "from_noon") == [(D0, 15), (D0 + 2 * DAY, 150)]
    assert series(answer, "end_is_exclusive") == [(D0, 15)]
    # a day without counts is left out; a query without any is an empty entry, not none
    assert series(answer, "middle_day_only") == []
    assert series(answer, "before") == []
    (result,) = [r for r in answer["Results"] if r["Id"] == "before"]
    assert result == {"Id": "before", "Timestamps": [], "Values": []}
    for stamp in answer["Results"][0]["Timestamps"]:
        assert stamp.tzinfo is not None and stamp.timestamp() % DAY == 0
    assert all(type(v) is int for r in answer["Results"] for v in r["Values"])


def test_dates_may_be_given_as_botocore_takes_them(sesv2: Any) -> None:
    as_text = {**query("text"), "StartDate": at(D0).isoformat(), "EndDate": at(D0 + DAY)}
    as_epoch = {**query("epoch"), "StartDate": D0, "EndDate": D0 + DAY}
    answer = ask(sesv2, as_text, as_epoch)
    assert series(answer, "epoch") == series(answer, "text") == [(D0, 15)]


def test_nothing_matches_a_tenant_or_an_unknown_value(sesv2: Any) -> None:
    answer = ask(
        sesv2,
        query("tenant", TENANT_NAME="someone"),
        query("unknown_isp", ISP="Not-An_Isp"),
        query("unknown_set", CONFIGURATION_SET="nope"),
    )
    assert all(r["Timestamps"] == [] and r["Values"] == [] for r in answer["Results"])


def test_a_past_day_revised_upwards_answers_its_new_count(store: VdmStore, sesv2: Any) -> None:
    before = series(ask(sesv2, query("late", "COMPLAINT", ISP="Yahoo")), "late")
    assert before == []
    store.add(D0 + 600, "COMPLAINT", 2, isp="Yahoo", configuration_set="a", identity="a.com")
    store.revise(D0 + 2 * DAY + 5, "COMPLAINT", 1, isp="Yahoo", configuration_set="a")
    store.revise(D0 + 50_000, "COMPLAINT", 3, isp="Yahoo", configuration_set="b")
    after = ask(sesv2, query("late", "COMPLAINT", ISP="Yahoo"), query("all", "COMPLAINT"))
    assert series(after, "late") == series(after, "all") == [(D0, 5), (D0 + 2 * DAY, 1)]
    assert store.count(D0, "COMPLAINT", isp="Yahoo", configuration_set="b") == 3
    with pytest.raises(ValueError, match="only grow"):
        store.revise(D0, "COMPLAINT", -1, isp="Yahoo")
    with pytest.raises(ValueError, match="unknown VDM metric"):
        store.add(D0, "BOUNCE", 1, isp="Yahoo")


def test_a_day_older_than_every_other_keeps_the_others(store: VdmStore, sesv2: Any) -> None:
    store.add(D0 - 40 * DAY + 1, "SEND", 9, isp="Gmail", configuration_set="a")
    answer = ask(sesv2, query("gmail", start=D0 - 50 * DAY, end=D0 + 3 * DAY, ISP="Gmail"))
    assert series(answer, "gmail") == [(D0 - 40 * DAY, 9), (D0, 11), (D0 + 2 * DAY, 110)]
    assert store.count(D0 + DAY, "SEND") == 0
    assert store.count(D0 + 2 * DAY + 100, "SEND", isp="Yahoo") == 30


BAD_REQUESTS = [
    pytest.param(
        [query(f"q{i}") for i in range(11)],
        "1 validation error detected: Value at 'queries' failed to satisfy constraint: "
        "Member must have length less than or equal to 10",
        id="eleven-queries",
    ),
    pytest.param(
        [query("same"), query("same", ISP="Gmail")],
        "All queries must have a unique identifier.",
        id="duplicate-id",
    ),
    pytest.param(
        [query("d", "NOT_A_METRIC", NOT_A_DIMENSION="x")],
        "Unsupported dimension provided.",
        id="unknown-dimension-before-member-constraints",
    ),
    pytest.param(
        [{**query("m", "BOUNCE"), "Namespace": "AWS/SES"}],
        "2 validation errors detected: Value at 'queries.1.member.metric' failed to satisfy "
        "constraint: Member must satisfy enum value set: [DELIVERY_COMPLAINT, CLICK, SEND, "
        "OPEN, COMPLAINT, DELIVERY, DELIVERY_OPEN, PERMANENT_BOUNCE, DELIVERY_CLICK, "
        "TRANSIENT_BOUNCE]; Value at 'queries.1.member.namespace' failed to satisfy "
        "constraint: Member must satisfy enum value set: [VDM]",
        id="metric-and-namespace",
    ),
    pytest.param(
        [query("x" * 256)],
        "1 validation error detected: Value at 'queries.1.member.id' failed to satisfy "
        "constraint: Member must have length less than or equal to 255",
        id="long-id",
    ),
    pytest.param(
        [
            query(
                "four", ISP="Gmail", CONFIGURATION_SET="a", EMAIL_IDENTITY="a.com", TENANT_NAME="t"
            )
        ],
        "1 validation error detected: Value at 'queries.1.member.dimensions' failed to "
        "satisfy constraint: Member must have length less than or equal to 3",
        id="four-dimensions",
    ),
    pytest.param([query("w", ISP="*")], "Invalid ISP name provided.", id="isp-wildcard"),
    pytest.param(
        [query("l", ISP="Gmail,Yahoo")], "Invalid ISP name provided.", id="isp-value-list"
    ),
    pytest.param([query("g", ISP="Gmail.com")], "Invalid ISP name provided.", id="isp-domain"),
    pytest.param(
        [query("i", EMAIL_IDENTITY="*")], "Invalid email identity provided.", id="identity-wildcard"
    ),
    pytest.param(
        [query("i", EMAIL_IDENTITY="user@")], "Invalid email identity provided.", id="identity-half"
    ),
    pytest.param(
        [query("c", CONFIGURATION_SET="")],
        "The configuration set name must be specified.",
        id="set-blank",
    ),
    pytest.param(
        [query("c", CONFIGURATION_SET="has space")],
        "Invalid configuration set name <has space>: only alphanumeric ASCII characters, "
        "'_', and '-' are allowed.",
        id="set-charset",
    ),
    pytest.param([query("t", TENANT_NAME="")], "TenantName cannot be empty", id="tenant-blank"),
    pytest.param(
        [query("dates", start=D0 + DAY, end=D0), query("value", EMAIL_IDENTITY="")],
        "Invalid email identity provided.",
        id="a-value-in-any-query-before-dates",
    ),
    pytest.param(
        [query("same-instant", start=D0, end=D0)],
        "Expected start date to be before the end date.",
        id="empty-window",
    ),
    pytest.param(
        [query("wide", start=D0 - 61 * DAY, end=D0)],
        "Invalid interval, can request at most 60 days. Please partition your requested interval.",
        id="over-60-days",
    ),
]


@pytest.mark.parametrize(("queries", "message"), BAD_REQUESTS)
def test_a_bad_request_fails_the_whole_call_as_aws_does(
    sesv2: Any, queries: list[dict[str, Any]], message: str
) -> None:
    with pytest.raises(ClientError) as exc:
        sesv2.batch_get_metric_data(Queries=queries)
    assert error_of(exc) == ("BadRequestException", message)
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_sixty_days_exactly_is_accepted(sesv2: Any) -> None:
    answer = ask(sesv2, query("cap", start=D0 - 57 * DAY, end=D0 + 3 * DAY))
    assert series(answer, "cap") == [(D0, 15), (D0 + 2 * DAY, 150)]


def test_a_list_of_values_never_leaves_the_client(sesv2: Any) -> None:
    """The model's MetricDimensionValue is a string: one value a dimension."""
    with pytest.raises(ParamValidationError, match=r"Dimensions\.ISP"):
        sesv2.batch_get_metric_data(Queries=[{**query("l"), "Dimensions": {"ISP": ["Gmail"]}}])


def test_injected_query_errors_answer_in_errors_and_the_rest_in_results(
    store: VdmStore, sesv2: Any
) -> None:
    store.fail(
        "ACCESS_DENIED",
        "not allowed",
        where=lambda q: q.get("Dimensions", {}).get("ISP") == "Yahoo",
    )
    store.fail("INTERNAL_FAILURE", where=lambda q: q["Metric"] == "PERMANENT_BOUNCE")
    answer = ask(
        sesv2,
        query("gmail", ISP="Gmail"),
        query("yahoo", ISP="Yahoo"),
        query("pb", "PERMANENT_BOUNCE"),
    )
    assert [r["Id"] for r in answer["Results"]] == ["gmail"]
    assert answer["Errors"] == [
        {"Id": "yahoo", "Code": "ACCESS_DENIED", "Message": "not allowed"},
        {
            "Id": "pb",
            "Code": "INTERNAL_FAILURE",
            "Message": "Amazon SES has failed to process the query.",
        },
    ]
    store.clear_failures()
    assert ask(sesv2, query("yahoo", ISP="Yahoo"))["Errors"] == []
    with pytest.raises(ValueError, match="no query error code"):
        store.fail("THROTTLED")


def test_counts_requests_and_queries(store: VdmStore, sesv2: Any) -> None:
    ask(sesv2, query("a"), query("b", ISP="Gmail"))
    ask(sesv2, query("c"))
    assert (store.requests, store.queries) == (2, 3)


def test_the_fake_answers_a_region_without_a_store_as_vdm_disabled(
    aws: None, fake_api: FakeAccountApi
) -> None:
    client = boto3.client("sesv2", region_name="eu-west-1")
    fake_api.hook("sesv2", client)
    with pytest.raises(ClientError) as exc:
        client.batch_get_metric_data(Queries=[query("a")])
    assert error_of(exc) == (
        "NotFoundException",
        "To use this feature you must enable Virtual Deliverability Manager.",
    )
    assert fake_api.calls == [("eu-west-1", "BatchGetMetricData")]


def test_the_fake_can_fail_the_whole_call(
    sesv2: Any, fake_api: FakeAccountApi, store: VdmStore
) -> None:
    fake_api.fail("us-east-1", "BatchGetMetricData", too_many_requests())
    with pytest.raises(ClientError) as exc:
        sesv2.batch_get_metric_data(Queries=[query("a")])
    assert error_of(exc)[0] == "TooManyRequestsException"
    fake_api.fail("us-east-1", "BatchGetMetricData", None)
    assert series(ask(sesv2, query("a")), "a") == [(D0, 15), (D0 + 2 * DAY, 150)]


def test_split_keeps_the_total_and_the_caps() -> None:
    rng = random.Random(1)
    for count in (0, 1, 7, 1000):
        parts = split(count, [0.4, 0.25, 0.15, 0.2], rng)
        assert sum(parts) == count
    capped = split(10, [1.0, 100.0], rng, caps=[10, 3])
    assert capped == [7, 3]
    assert split(10, [1.0, 1.0], rng, caps=[2, 3]) == [2, 3]  # no room for the rest


# A moto server (as the benchmarks run one) answering BatchGetMetricData from a VdmStore
# in us-east-1 and as VDM-disabled elsewhere; a child process, so that this process's moto
# is never changed.
SERVER = f"""
import logging, sys
from moto.server import ThreadedMotoServer
from ses_exporter.demo.vdm import VdmStore
from tests.moto_routes import route, vdm_answers

store = VdmStore()
store.add({D0} + 60, "SEND", 7, isp="Gmail", configuration_set="a")
store.add({D0} + {DAY} + 60, "SEND", 3, isp="Yahoo", configuration_set="a")
stores = {{"us-east-1": store}}
route({{"metrics/batch": vdm_answers(lambda account, region: stores.get(region))}})
logging.getLogger("werkzeug").setLevel(logging.ERROR)
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
print("ready", server.get_host_and_port()[1], flush=True)
sys.stdin.read()
server.stop()
"""


def test_a_moto_server_answers_from_a_store_over_http() -> None:
    env = {**os.environ, "PYTHONPATH": REPO, "AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"}
    child = subprocess.Popen(
        [sys.executable, "-c", SERVER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    )
    try:
        assert child.stdout is not None
        ready = child.stdout.readline().split()
        assert ready[:1] == ["ready"], ready

        def client(region: str) -> Any:
            return boto3.client(
                "sesv2",
                region_name=region,
                endpoint_url=f"http://127.0.0.1:{ready[1]}",
                aws_access_key_id="a",
                aws_secret_access_key="b",
            )

        answer = ask(client("us-east-1"), query("all"), query("yahoo", ISP="Yahoo"))
        assert series(answer, "all") == [(D0, 7), (D0 + DAY, 3)]
        assert series(answer, "yahoo") == [(D0 + DAY, 3)]
        with pytest.raises(ClientError) as exc:
            client("us-east-1").batch_get_metric_data(Queries=[query("same"), query("same")])
        assert error_of(exc) == (
            "BadRequestException",
            "All queries must have a unique identifier.",
        )
        with pytest.raises(ClientError) as exc:
            client("eu-west-1").batch_get_metric_data(Queries=[query("a")])
        assert error_of(exc)[0] == "NotFoundException"
        assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    finally:
        child.communicate(timeout=120)


# --- the demo world ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(scope="module")
def demo(clock: ManualClock) -> Iterator[DemoWorld]:
    yield from running_demo(["us-east-1", "eu-west-1"], clock)


def demo_client(demo: DemoWorld, region: str = "us-east-1") -> Any:
    client = boto3.client("sesv2", region_name=region)
    demo.client_hook("sesv2", client)
    return client


def totals(client: Any, start: float, end: float, **dimensions: str) -> dict[str, int]:
    """Every metric summed over [start, end), for one combination of dimensions."""
    queries = [query(metric, metric, start, end, **dimensions) for metric in METRICS]
    answer = ask(client, *queries)
    assert answer["Errors"] == []
    return {r["Id"]: sum(r["Values"]) for r in answer["Results"]}


def history_window(demo: DemoWorld) -> tuple[int, int]:
    """The whole days of the world's history, before the day it started."""
    today = int(demo.started // DAY * DAY)
    return today - 13 * DAY, today


def test_get_account_says_where_vdm_is_on(demo: DemoWorld) -> None:
    assert demo_client(demo).get_account()["VdmAttributes"] == {
        "VdmEnabled": "ENABLED",
        "DashboardAttributes": {"EngagementMetrics": "ENABLED"},
    }
    assert demo_client(demo, "eu-west-1").get_account()["VdmAttributes"] == {
        "VdmEnabled": "DISABLED"
    }


def test_where_vdm_is_disabled_batch_get_metric_data_is_not_found(demo: DemoWorld) -> None:
    with pytest.raises(ClientError) as exc:
        demo_client(demo, "eu-west-1").batch_get_metric_data(Queries=[query("a")])
    assert error_of(exc)[0] == "NotFoundException"
    assert "enable Virtual Deliverability Manager" in error_of(exc)[1]


def test_history_has_one_datapoint_a_day_for_two_weeks(demo: DemoWorld) -> None:
    today = int(demo.started // DAY * DAY)
    answer = ask(demo_client(demo), query("sends", "SEND", today - 20 * DAY, today + DAY))
    days = [day for day, _ in series(answer, "sends")]
    assert days == list(range(today - 14 * DAY, today + DAY, DAY))
    assert all(value > 100_000 for _, value in series(answer, "sends")[1:-1])


def test_history_agrees_with_cloudwatch_day_by_day(demo: DemoWorld) -> None:
    start, end = history_window(demo)
    cloudwatch = demo.cloudwatch_store("us-east-1")
    client = demo_client(demo)
    for day in range(start, end, 3 * DAY):
        vdm = totals(client, day, day + DAY)
        request = {
            "StartTime": day,
            "EndTime": day + DAY,
            "MetricDataQueries": [
                {
                    "Id": metric.lower(),
                    "MetricStat": {"Metric": {"MetricName": metric}, "Period": DAY, "Stat": "Sum"},
                }
                for metric in ("Send", "Delivery", "Bounce", "Complaint")
            ],
        }
        cw = {
            r["Id"]: sum(r["Values"])
            for r in cloudwatch.get_metric_data(request)["MetricDataResults"]
        }
        assert vdm["SEND"] == cw["send"]
        assert vdm["DELIVERY"] == cw["delivery"]
        assert vdm["PERMANENT_BOUNCE"] + vdm["TRANSIENT_BOUNCE"] == cw["bounce"]
        assert vdm["COMPLAINT"] == cw["complaint"]


def test_the_listed_providers_never_exceed_the_account_and_all_of_them_make_it(
    demo: DemoWorld,
) -> None:
    start, end = history_window(demo)
    client = demo_client(demo)
    account = totals(client, start, end)
    per_isp = {isp.name: totals(client, start, end, ISP=isp.name) for isp in ISPS}
    for metric in METRICS:
        listed = sum(per_isp[name][metric] for name in LISTED)
        assert listed <= account[metric], metric
        assert sum(counts[metric] for counts in per_isp.values()) == account[metric], metric
    assert sum(per_isp[name]["SEND"] for name in LISTED) < account["SEND"]
    assert per_isp["Comcast"]["SEND"] > 0 and per_isp["GMX"]["SEND"] > 0


def test_each_provider_s_counts_are_subsets_as_vdm_defines_them(demo: DemoWorld) -> None:
    start, end = history_window(demo)
    client = demo_client(demo)
    for isp in ISPS:
        c = totals(client, start, end, ISP=isp.name)
        assert c["DELIVERY"] + c["PERMANENT_BOUNCE"] + c["TRANSIENT_BOUNCE"] == c["SEND"]
        assert c["OPEN"] <= c["DELIVERY_OPEN"] <= c["DELIVERY"]
        assert c["CLICK"] <= c["DELIVERY_CLICK"] <= c["DELIVERY"]
        assert c["COMPLAINT"] <= c["DELIVERY_COMPLAINT"] <= c["DELIVERY"]
        assert 0 < c["TRANSIENT_BOUNCE"] < c["PERMANENT_BOUNCE"]
        if isp.feedback_loop:
            assert c["DELIVERY_COMPLAINT"] == c["DELIVERY"]
        else:  # no feedback loop with SES: neither its deliveries nor complaints count
            assert c["DELIVERY_COMPLAINT"] == c["COMPLAINT"] == 0


def test_yahoo_is_the_provider_with_the_bounce_problem(demo: DemoWorld) -> None:
    start, end = history_window(demo)
    client = demo_client(demo)
    account = totals(client, start, end)
    account_ratio = account["PERMANENT_BOUNCE"] / account["SEND"]
    ratios = {}
    for name in LISTED:
        c = totals(client, start, end, ISP=name)
        ratios[name] = c["PERMANENT_BOUNCE"] / c["SEND"]
    assert ratios["Yahoo"] > 3 * account_ratio
    assert all(ratios["Yahoo"] > 5 * ratio for name, ratio in ratios.items() if name != "Yahoo")


def test_per_configuration_set_and_identity_add_up_to_the_provider(demo: DemoWorld) -> None:
    start, end = history_window(demo)
    client = demo_client(demo)
    for name in ("Yahoo", "Hotmail"):
        isp = totals(client, start, end, ISP=name)
        by_set = {
            s: totals(client, start, end, ISP=name, CONFIGURATION_SET=s) for s in SET_IDENTITIES
        }
        for metric in ("SEND", "PERMANENT_BOUNCE", "COMPLAINT", "OPEN"):
            assert sum(c[metric] for c in by_set.values()) == isp[metric]
        for configuration_set, identity in SET_IDENTITIES.items():
            assert identity is not None
            assert (
                totals(client, start, end, ISP=name, EMAIL_IDENTITY=identity)
                == by_set[configuration_set]
            )
    marketing = totals(client, start, end, CONFIGURATION_SET="marketing")
    transactional = totals(client, start, end, CONFIGURATION_SET="transactional")
    assert (
        marketing["PERMANENT_BOUNCE"] / marketing["SEND"]
        > transactional["PERMANENT_BOUNCE"] / transactional["SEND"]
    )


def test_the_live_traffic_is_recorded_into_today(demo: DemoWorld) -> None:
    """Today's VDM sends are CloudWatch's sends of today (history and live minutes), read
    between two flushes of the traffic thread."""
    today = int(demo.started // DAY * DAY)
    client = demo_client(demo)
    request = {
        "StartTime": today,
        "EndTime": today + DAY,
        "MetricDataQueries": [
            {
                "Id": "s",
                "MetricStat": {"Metric": {"MetricName": "Send"}, "Period": DAY, "Stat": "Sum"},
            }
        ],
    }
    for _ in range(20):
        before = totals(client, today, today + DAY)["SEND"]
        cloudwatch = demo.cloudwatch_store("us-east-1").get_metric_data(request)
        after = totals(client, today, today + DAY)["SEND"]
        if before == after:
            assert before == sum(cloudwatch["MetricDataResults"][0]["Values"]) > 0
            return
    raise AssertionError("the traffic thread flushed between every pair of reads")


def test_past_midnight_yesterday_s_late_complaints_arrive(
    demo: DemoWorld, clock: ManualClock
) -> None:
    """The world revises the day it started upwards once the clock is a few minutes into
    the next day (the traffic thread's tick does it; waited for, at most two minutes
    against a hang)."""
    first_day = int(demo.started // DAY * DAY)
    client = demo_client(demo)

    def complaints() -> tuple[int, int]:
        c = totals(client, first_day, first_day + DAY)
        return c["COMPLAINT"], c["DELIVERY_COMPLAINT"]

    before, _ = complaints()
    clock.now = first_day + DAY + 600
    deadline = time.monotonic() + 120  # against a hang: a tick is 5 s
    after, fbl_deliveries = complaints()
    while after == before and time.monotonic() < deadline:
        time.sleep(0.5)
        after, fbl_deliveries = complaints()
    assert before < after <= fbl_deliveries, "no late complaints within two minutes"
    yahoo = ask(client, query("y", "COMPLAINT", first_day, first_day + DAY, ISP="Yahoo"))
    assert [day for day, _ in series(yahoo, "y")] == [first_day]
