"""The configuration_sets collector: source functions, families, then budgeted polls.

Clients are paced at 1000 requests/s so the tests never wait; the account config's
``ses_requests_per_second`` (1 here, as in production) only sets the refresh budget:
with a 60 s interval that is floor(0.5 x 60 x 1) = 30 calls per poll, list pages included.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, ReadTimeoutError
from botocore.stub import Stubber

from ses_exporter.aws import RequestCounter, TargetClients
from ses_exporter.collectors.configuration_sets import (
    ConfigurationSetsCollector,
    ConfigurationSetSnapshot,
    ConfigurationSetsSettings,
    configuration_set_families,
    fetch_configuration_set,
    list_configuration_set_pages,
    list_configuration_sets,
)
from ses_exporter.collectors.refresh import refresh_budget
from ses_exporter.config import parse_config
from tests.helpers import Values, paced_clients, record_calls, values

REGION = "eu-west-1"
LABELS = {"account_id": "123456789012", "region": REGION}
FRESH_START = datetime(2024, 1, 2, tzinfo=UTC)  # 1704153600


def per_set(got: Values, metric: str) -> dict[str, float]:
    return {dict(k[1])["configuration_set"]: v for k, v in got.items() if k[0] == metric}


def sending(got: Values) -> dict[str, float]:
    return per_set(got, "aws_ses_configuration_set_sending_enabled")


def count(got: Values) -> float:
    return got[("aws_ses_configuration_sets", ())]


def make_collector(
    clients: TargetClients, interval: str = "60s", rate: float = 1, sets_filter: str = ""
) -> ConfigurationSetsCollector:
    config = parse_config(
        f"accounts:\n  - regions: [{REGION}]\n    ses_requests_per_second: {rate}\n"
        f"{sets_filter}collectors:\n  configuration_sets: {{interval: {interval}}}\n"
    )
    account = config.accounts[0]
    settings = ConfigurationSetsSettings(
        account.configuration_sets,
        config.collectors.configuration_sets.interval,
        account.ses_requests_per_second,
    )
    return ConfigurationSetsCollector(clients, settings)


def calls(counter: RequestCounter, before: dict[tuple[str, str, str], int]) -> dict[str, int]:
    """AWS calls by operation since ``before`` (a counter snapshot)."""
    out: dict[str, int] = {}
    for key, n in counter.snapshot().items():
        operation = key[1]
        out[operation] = out.get(operation, 0) + n - before.get(key, 0)
    return {op: n for op, n in out.items() if n}


def get_answer(name: str, sending_enabled: bool = True) -> dict[str, Any]:
    return {
        "ConfigurationSetName": name,
        "ReputationOptions": {"ReputationMetricsEnabled": True},
        "SendingOptions": {"SendingEnabled": sending_enabled},
    }


@pytest.fixture
def sesv2() -> Iterator[Any]:
    yield boto3.client(
        "sesv2", region_name=REGION, aws_access_key_id="a", aws_secret_access_key="b"
    )


# --- source functions -------------------------------------------------------------------


def test_list_follows_next_token_exactly_across_two_pages_without_page_size(sesv2: Any) -> None:
    """No PageSize: the sesv2 model documents no range for it (Stubber checks the exact
    parameters, so a PageSize sent would fail here)."""
    names = [f"set-{i:04d}" for i in range(1200)]
    with Stubber(sesv2) as stub:
        stub.add_response(
            "list_configuration_sets",
            {"ConfigurationSets": names[:1000], "NextToken": "tok-1"},
            {},
        )
        stub.add_response(
            "list_configuration_sets",
            {"ConfigurationSets": names[1000:]},
            {"NextToken": "tok-1"},
        )
        assert list_configuration_sets(sesv2) == tuple(names)
        stub.assert_no_pending_responses()


def test_list_drops_duplicates_and_ends_on_an_empty_token(sesv2: Any) -> None:
    with Stubber(sesv2) as stub:
        page = {"ConfigurationSets": ["a", "b"], "NextToken": "1"}
        stub.add_response("list_configuration_sets", page)
        stub.add_response("list_configuration_sets", {"ConfigurationSets": ["b", "c"]})
        assert list_configuration_sets(sesv2) == ("a", "b", "c")
    with Stubber(sesv2) as stub:
        stub.add_response("list_configuration_sets", {"ConfigurationSets": ["a"], "NextToken": ""})
        assert list(list_configuration_set_pages(sesv2)) == [("a",)]
    with Stubber(sesv2) as stub:
        stub.add_response("list_configuration_sets", {})
        assert list_configuration_sets(sesv2) == ()


def test_list_refuses_a_looping_token(sesv2: Any) -> None:
    with Stubber(sesv2) as stub:
        for page in (["a"], ["b"]):
            stub.add_response(
                "list_configuration_sets", {"ConfigurationSets": page, "NextToken": "t"}
            )
        with pytest.raises(RuntimeError, match="NextToken 't' twice"):
            list_configuration_sets(sesv2)
        stub.assert_no_pending_responses()


def test_fetch_reads_every_field_of_a_real_shaped_answer(sesv2: Any) -> None:
    answer = {
        "ConfigurationSetName": "marketing",
        "TrackingOptions": {"CustomRedirectDomain": "click.example.com"},
        "DeliveryOptions": {"TlsPolicy": "REQUIRE"},
        "ReputationOptions": {"ReputationMetricsEnabled": True, "LastFreshStart": FRESH_START},
        "SendingOptions": {"SendingEnabled": False},
        "Tags": [{"Key": "team", "Value": "growth"}],
    }
    with Stubber(sesv2) as stub:
        stub.add_response("get_configuration_set", answer, {"ConfigurationSetName": "marketing"})
        snap = fetch_configuration_set(sesv2, "marketing")
    assert snap == ConfigurationSetSnapshot("marketing", True, False, 1704153600.0)


@pytest.mark.parametrize(
    "answer",
    [
        {"ConfigurationSetName": "bare"},
        {"ConfigurationSetName": "bare", "ReputationOptions": {}, "SendingOptions": {}},
    ],
)
def test_fetch_absent_fields_take_aws_defaults(sesv2: Any, answer: dict[str, Any]) -> None:
    with Stubber(sesv2) as stub:
        stub.add_response("get_configuration_set", answer)
        snap = fetch_configuration_set(sesv2, "bare")
    # AWS: reputation metrics default to off, sending to on; no fresh start yet.
    assert snap == ConfigurationSetSnapshot("bare", False, True, None)
    got = values(configuration_set_families(1, [snap], LABELS))
    assert sending(got) == {"bare": 1}
    assert per_set(got, "aws_ses_configuration_set_reputation_metrics_enabled") == {"bare": 0}
    assert not per_set(got, "aws_ses_configuration_set_last_fresh_start_timestamp_seconds")


def test_fetch_against_moto(aws: None) -> None:
    client = boto3.client("sesv2", region_name=REGION)
    client.create_configuration_set(
        ConfigurationSetName="marketing",
        ReputationOptions={"ReputationMetricsEnabled": True, "LastFreshStart": FRESH_START},
        SendingOptions={"SendingEnabled": True},
    )
    client.create_configuration_set(ConfigurationSetName="plain")
    marketing = fetch_configuration_set(client, "marketing")
    plain = fetch_configuration_set(client, "plain")
    # moto 5.2.1 answers SendingEnabled wrongly (it nests the request's dict), so that
    # field is checked with Stubber above, not here.
    assert (marketing.reputation_metrics_enabled, marketing.last_fresh_start) == (True, 1704153600)
    assert (plain.reputation_metrics_enabled, plain.last_fresh_start) == (False, None)
    with pytest.raises(ClientError, match="NotFoundException"):
        fetch_configuration_set(client, "missing")


@pytest.mark.parametrize(
    ("interval", "rate", "pages", "budget"),
    [
        (900, 1, 1, 449),  # the defaults: 1,000 sets take three polls
        (60, 1, 2, 28),
        (60, 1000, 1, 29_999),
        (6, 1, 1, 2),
        (1, 1, 1, 1),  # always at least one set, or a short interval would never progress
        (1, 0.5, 3, 1),
    ],
)
def test_refresh_budget(interval: float, rate: float, pages: int, budget: int) -> None:
    assert refresh_budget(interval, rate, pages) == budget


def test_families_of_known_sets() -> None:
    snaps = [
        ConfigurationSetSnapshot("b-transactional", False, True, None),
        ConfigurationSetSnapshot("a-marketing", True, False, 1704153600.0),
    ]
    families = configuration_set_families(5, snaps, LABELS)
    got = values(families)
    assert count(got) == 5  # listed sets, including those not fetched yet
    assert sending(got) == {"a-marketing": 0, "b-transactional": 1}
    enabled = per_set(got, "aws_ses_configuration_set_reputation_metrics_enabled")
    assert enabled == {"a-marketing": 1, "b-transactional": 0}
    fresh = per_set(got, "aws_ses_configuration_set_last_fresh_start_timestamp_seconds")
    assert fresh == {"a-marketing": 1704153600.0}
    first = [s.labels["configuration_set"] for s in families[1].samples]
    assert first == ["a-marketing", "b-transactional"]  # stable order
    assert all(s.labels["account_id"] == "123456789012" for f in families for s in f.samples)
    for family in families:
        assert "Source: SES " in family.documentation and "cached" in family.documentation
    assert "ListConfigurationSets" in families[0].documentation
    assert "GetConfigurationSet" in families[1].documentation


def test_no_sets_gives_a_zero_count_and_no_per_set_families() -> None:
    families = configuration_set_families(0, [], LABELS)
    assert values(families) == {("aws_ses_configuration_sets", ()): 0}


# --- the collector ----------------------------------------------------------------------


def test_first_poll_of_1200_sets_fetches_only_the_budget(aws: None) -> None:
    counter = RequestCounter()
    clients = paced_clients(counter, REGION)  # Stubber answers; the parameters are checked
    collector = make_collector(clients)  # 60 s at 1 request/s: 30 calls, 2 for the list
    names = [f"set-{i:04d}" for i in range(1200)]
    before = counter.snapshot()
    with Stubber(clients.sesv2) as stub:
        for poll in range(2):
            stub.add_response(
                "list_configuration_sets",
                {"ConfigurationSets": names[:1000], "NextToken": f"tok-{poll}"},
                {},
            )
            stub.add_response(
                "list_configuration_sets",
                {"ConfigurationSets": names[1000:]},
                {"NextToken": f"tok-{poll}"},
            )
            for name in names[poll * 28 : (poll + 1) * 28]:  # new ones, in AWS's order
                answer = get_answer(name)
                stub.add_response("get_configuration_set", answer, {"ConfigurationSetName": name})
            got = values(collector.poll(LABELS))
            stub.assert_no_pending_responses()
            assert count(got) == 1200
            assert sorted(sending(got)) == names[: (poll + 1) * 28]
            assert collector.pending == 1200 - (poll + 1) * 28
            assert calls(counter, before) == {
                "ListConfigurationSets": 2,
                "GetConfigurationSet": 28,
            }
            before = counter.snapshot()


def test_later_polls_fetch_the_rest_then_the_oldest(aws: None) -> None:
    counter = RequestCounter()
    clients = paced_clients(counter, REGION)
    names = [f"cs-{i:02d}" for i in range(70)]
    for name in names:
        clients.sesv2.create_configuration_set(ConfigurationSetName=name)
    collector = make_collector(clients)  # budget 30 - 1 page = 29
    gets = record_calls(clients, "GetConfigurationSet", "ConfigurationSetName")
    expected = [
        names[0:29],  # new
        names[29:58],  # new
        names[58:70] + names[0:17],  # the last new ones, then the oldest
        names[17:29] + names[29:46],  # the oldest
    ]
    pending = [41, 12, 0, 0]
    for poll, want in enumerate(expected):
        before = counter.snapshot()
        gets.clear()
        got = values(collector.poll(LABELS))
        assert gets == want, f"poll {poll}"
        assert calls(counter, before) == {"ListConfigurationSets": 1, "GetConfigurationSet": 29}
        assert collector.pending == pending[poll]
        assert count(got) == 70
        assert len(sending(got)) == 70 - pending[poll]  # sets not fetched yet have no series


def test_include_and_exclude_filters(aws: None) -> None:
    counter = RequestCounter()
    clients = paced_clients(counter, REGION)
    for name in ("prod-a", "prod-b", "test-a", "xprod-c"):
        clients.sesv2.create_configuration_set(ConfigurationSetName=name)
    sets_filter = '    configuration_sets: {include: ["prod-.*"], exclude: ["prod-b"]}\n'
    collector = make_collector(clients, sets_filter=sets_filter)
    before = counter.snapshot()
    got = values(collector.poll(LABELS))
    assert count(got) == 1
    assert list(sending(got)) == ["prod-a"]
    assert calls(counter, before) == {"ListConfigurationSets": 1, "GetConfigurationSet": 1}


def test_a_deleted_set_disappears_at_the_next_list(aws: None) -> None:
    clients = paced_clients(RequestCounter(), REGION)
    for name in ("keep", "gone"):
        clients.sesv2.create_configuration_set(
            ConfigurationSetName=name, ReputationOptions={"LastFreshStart": FRESH_START}
        )
    collector = make_collector(clients)
    first = values(collector.poll(LABELS))
    assert count(first) == 2 and set(sending(first)) == {"keep", "gone"}
    clients.sesv2.delete_configuration_set(ConfigurationSetName="gone")
    gets = record_calls(clients, "GetConfigurationSet", "ConfigurationSetName")
    second = values(collector.poll(LABELS))
    assert gets == ["keep"]
    assert count(second) == 1
    assert {dict(k[1]).get("configuration_set") for k in second} == {None, "keep"}


def test_not_found_between_list_and_get_is_dropped_not_a_failure(
    aws: None, caplog: pytest.LogCaptureFixture
) -> None:
    clients = paced_clients(RequestCounter(), REGION)
    collector = make_collector(clients)
    with Stubber(clients.sesv2) as stub, caplog.at_level(logging.WARNING):
        stub.add_response("list_configuration_sets", {"ConfigurationSets": ["a", "b", "c"]})
        stub.add_response("get_configuration_set", get_answer("a"))
        stub.add_client_error(
            "get_configuration_set", "NotFoundException", "Configuration set <b> not found", 404
        )
        stub.add_response("get_configuration_set", get_answer("c"))
        got = values(collector.poll(LABELS))
        stub.assert_no_pending_responses()
    assert count(got) == 2
    assert sending(got) == {"a": 1, "c": 1}
    assert collector.pending == 0
    assert not caplog.records


def test_throttled_get_keeps_old_data_and_stops_the_refresh(
    aws: None, caplog: pytest.LogCaptureFixture
) -> None:
    counter = RequestCounter()
    clients = paced_clients(counter, REGION)
    collector = make_collector(clients, interval="900s")
    with Stubber(clients.sesv2) as stub, caplog.at_level(logging.WARNING):
        stub.add_response("list_configuration_sets", {"ConfigurationSets": ["a", "b", "c"]})
        for name in "abc":
            stub.add_response("get_configuration_set", get_answer(name))
        collector.poll(LABELS)
        stub.add_response("list_configuration_sets", {"ConfigurationSets": ["a", "b", "c"]})
        stub.add_response("get_configuration_set", get_answer("a", sending_enabled=False))
        stub.add_client_error(
            "get_configuration_set", "TooManyRequestsException", "Too many requests", 429
        )
        before = counter.snapshot()
        got = values(collector.poll(LABELS))  # c is not asked for: Stubber would raise
        stub.assert_no_pending_responses()
        assert sending(got) == {"a": 0, "b": 1, "c": 1}
        assert count(got) == 3
        assert calls(counter, before) == {"ListConfigurationSets": 1, "GetConfigurationSet": 2}
        [warning] = caplog.records
        assert warning.__dict__["left_for_next_poll"] == 1
        assert warning.__dict__["error"].startswith("b: TooManyRequestsException")
        # c, not tried at the last poll, goes first; a and b follow in the order tried.
        stub.add_response("list_configuration_sets", {"ConfigurationSets": ["a", "b", "c"]})
        for name in "cab":
            stub.add_response(
                "get_configuration_set", get_answer(name), {"ConfigurationSetName": name}
            )
        collector.poll(LABELS)
        stub.assert_no_pending_responses()


def test_other_get_errors_keep_old_data_continue_and_warn_once_per_poll(
    aws: None, caplog: pytest.LogCaptureFixture
) -> None:
    clients = paced_clients(RequestCounter(), REGION)
    collector = make_collector(clients, interval="8s")  # budget floor(4) - 1 page = 3
    listing = {"ConfigurationSets": ["a", "b", "c", "d"]}
    with Stubber(clients.sesv2) as stub, caplog.at_level(logging.WARNING):
        stub.add_response("list_configuration_sets", listing)
        stub.add_client_error("get_configuration_set", "AccessDeniedException", "denied", 403)
        stub.add_client_error("get_configuration_set", "BadRequestException", "odd", 400)
        stub.add_response("get_configuration_set", get_answer("c"))
        got = values(collector.poll(LABELS))
        stub.assert_no_pending_responses()
        assert sending(got) == {"c": 1}
        assert (count(got), collector.pending) == (4, 3)
        [warning] = caplog.records
        assert warning.__dict__["failed"] == 2
        assert warning.__dict__["error"].startswith("a: AccessDeniedException")
        # A failed set goes to the back of the queue: d (never tried) first, then a, b.
        stub.add_response("list_configuration_sets", listing)
        for name in "dab":
            stub.add_response(
                "get_configuration_set", get_answer(name), {"ConfigurationSetName": name}
            )
        got = values(collector.poll(LABELS))
        stub.assert_no_pending_responses()
    assert sending(got) == {"a": 1, "b": 1, "c": 1, "d": 1}
    assert collector.pending == 0


def test_a_timeout_stops_the_refresh(aws: None, caplog: pytest.LogCaptureFixture) -> None:
    clients = paced_clients(RequestCounter(), REGION)
    for name in "abc":
        clients.sesv2.create_configuration_set(ConfigurationSetName=name)
    gets = record_calls(clients, "GetConfigurationSet", "ConfigurationSetName")

    def time_out_on_b(params: dict[str, Any], **_: Any) -> None:
        if params["ConfigurationSetName"] == "b":
            raise ReadTimeoutError(endpoint_url="https://email.eu-west-1.amazonaws.com")

    events = clients.sesv2.meta.events
    events.register("provide-client-params.sesv2.GetConfigurationSet", time_out_on_b)
    collector = make_collector(clients)
    with caplog.at_level(logging.WARNING):
        got = values(collector.poll(LABELS))
    assert gets == ["a", "b"]
    assert list(sending(got)) == ["a"]
    assert (count(got), collector.pending) == (3, 2)
    assert [r.__dict__["left_for_next_poll"] for r in caplog.records] == [1]
    # b, which always times out, went to the back: it no longer blocks c.
    gets.clear()
    got = values(collector.poll(LABELS))
    assert gets == ["c", "a", "b"]
    assert sorted(sending(got)) == ["a", "c"]
    assert collector.pending == 1


def test_a_failing_list_fails_the_poll_and_keeps_what_is_known(aws: None) -> None:
    clients = paced_clients(RequestCounter(), REGION)
    collector = make_collector(clients, interval="900s")
    with Stubber(clients.sesv2) as stub:
        stub.add_response("list_configuration_sets", {"ConfigurationSets": ["a", "b"]})
        for name in "ab":
            stub.add_response("get_configuration_set", get_answer(name))
        collector.poll(LABELS)
        stub.add_client_error("list_configuration_sets", "TooManyRequestsException", "slow", 429)
        with pytest.raises(ClientError, match="TooManyRequestsException"):
            collector.poll(LABELS)
        stub.add_response("list_configuration_sets", {"ConfigurationSets": ["a", "b"]})
        stub.add_client_error("get_configuration_set", "Throttling", "Rate exceeded", 400)
        got = values(collector.poll(LABELS))
        stub.assert_no_pending_responses()
    assert sending(got) == {"a": 1, "b": 1}


def test_collector_name_and_a_poll_against_moto(aws: None) -> None:
    clients = paced_clients(RequestCounter(), REGION)
    clients.sesv2.create_configuration_set(
        ConfigurationSetName="marketing",
        ReputationOptions={"ReputationMetricsEnabled": True, "LastFreshStart": FRESH_START},
    )
    collector = make_collector(clients)
    assert collector.name == "configuration_sets"
    got = values(collector.poll(LABELS))
    assert count(got) == 1
    labels = (("configuration_set", "marketing"),)
    assert got[("aws_ses_configuration_set_reputation_metrics_enabled", labels)] == 1
    assert got[("aws_ses_configuration_set_last_fresh_start_timestamp_seconds", labels)] == (
        1704153600
    )
