"""The suppression collector (ListSuppressedDestinations, which moto lacks: Stubber and the
fake answer it, two addresses a page) and the account collector's
aws_ses_suppression_reason_enabled (GetAccount SuppressionAttributes)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from ses_exporter.aws import ClientFactory, RequestCounter
from ses_exporter.collectors.account import account_families, fetch_account
from ses_exporter.collectors.suppression import (
    SuppressionCollector,
    SuppressionCollectorConfig,
    count_suppressed,
    suppression_families,
)
from ses_exporter.daemon import Exporter
from ses_exporter.targets import Target, build_targets
from tests.fakes import GET_ACCOUNT, FakeAccountApi, denied, throttled
from tests.helpers import Values, config_for, exporter_samples, make_target, sample_value, values

REGION = "eu-west-1"
LABELS = {"account_id": "123456789012", "region": REGION}
ADDED = datetime(2026, 11, 25, tzinfo=UTC)
LISTED = "ListSuppressedDestinations"
ENABLED = "aws_ses_suppression_reason_enabled"


def suppressed(*reasons: str) -> list[dict[str, Any]]:
    """ListSuppressedDestinations summaries as AWS gives them, one per reason."""
    return [
        {"EmailAddress": f"gone{n}@example.net", "Reason": reason, "LastUpdateTime": ADDED}
        for n, reason in enumerate(reasons)
    ]


def by_reason(got: Values, metric: str = "aws_ses_suppressed_destinations") -> dict[str, float]:
    return {dict(k[1])["reason"]: v for k, v in got.items() if k[0] == metric}


def truncated(got: Values) -> float:
    return got[("aws_ses_suppressed_destinations_truncated", ())]


@pytest.fixture
def sesv2() -> Iterator[Any]:
    yield boto3.client(
        "sesv2", region_name=REGION, aws_access_key_id="a", aws_secret_access_key="b"
    )


@pytest.fixture
def hooked(aws: None, fake_api: FakeAccountApi) -> Any:
    """A sesv2 client whose ListSuppressedDestinations the fake answers."""
    client = boto3.client("sesv2", region_name=REGION)
    fake_api.hook("sesv2", client)
    return client


def listings(fake_api: FakeAccountApi) -> int:
    return fake_api.calls.count((REGION, LISTED))


# --- the source function ----------------------------------------------------------------


def test_no_page_size_is_sent_and_next_token_is_followed_exactly(sesv2: Any) -> None:
    """The model documents no range for PageSize: none is sent (Stubber checks the exact
    parameters of each call)."""
    with Stubber(sesv2) as stub:
        first = {"SuppressedDestinationSummaries": suppressed("BOUNCE"), "NextToken": "tok-1"}
        stub.add_response("list_suppressed_destinations", first, {})
        second = {"SuppressedDestinationSummaries": suppressed("COMPLAINT", "BOUNCE")}
        stub.add_response("list_suppressed_destinations", second, {"NextToken": "tok-1"})
        assert count_suppressed(sesv2, 100) == (Counter(BOUNCE=2, COMPLAINT=1), False)
        stub.assert_no_pending_responses()


def test_count_by_reason_across_pages(hooked: Any, fake_api: FakeAccountApi) -> None:
    fake_api.suppressed[REGION] = suppressed("BOUNCE", "BOUNCE", "COMPLAINT", "BOUNCE", "COMPLAINT")
    assert count_suppressed(hooked, 100) == (Counter(BOUNCE=3, COMPLAINT=2), False)
    assert listings(fake_api) == 3  # 5 addresses, 2 a page


def test_an_empty_list_is_one_request_and_zero_families(
    hooked: Any, fake_api: FakeAccountApi
) -> None:
    counts, cut = count_suppressed(hooked, 100)
    assert (counts, cut, listings(fake_api)) == (Counter(), False, 1)
    assert values(suppression_families(counts, cut, LABELS)) == {
        ("aws_ses_suppressed_destinations", (("reason", "BOUNCE"),)): 0,
        ("aws_ses_suppressed_destinations", (("reason", "COMPLAINT"),)): 0,
        ("aws_ses_suppressed_destinations_truncated", ()): 0,
    }


@pytest.mark.parametrize(
    ("max_pages", "requests", "counts", "cut"),
    [
        (1, 1, {"BOUNCE": 2}, True),
        (2, 2, {"BOUNCE": 3, "COMPLAINT": 1}, True),
        (3, 3, {"BOUNCE": 4, "COMPLAINT": 2}, True),
        (4, 4, {"BOUNCE": 4, "COMPLAINT": 3}, False),  # the last page has no NextToken
        (100, 4, {"BOUNCE": 4, "COMPLAINT": 3}, False),
    ],
)
def test_max_pages_caps_the_requests_and_says_truncated(
    hooked: Any,
    fake_api: FakeAccountApi,
    max_pages: int,
    requests: int,
    counts: dict[str, int],
    cut: bool,
) -> None:
    fake_api.suppressed[REGION] = suppressed(
        "BOUNCE", "BOUNCE", "COMPLAINT", "BOUNCE", "COMPLAINT", "BOUNCE", "COMPLAINT"
    )  # 4 pages of 2
    assert count_suppressed(hooked, max_pages) == (Counter(counts), cut)
    assert listings(fake_api) == requests


def test_a_looping_token_is_refused(sesv2: Any) -> None:
    with Stubber(sesv2) as stub:
        for reason in ("BOUNCE", "COMPLAINT"):
            page = {"SuppressedDestinationSummaries": suppressed(reason), "NextToken": "t"}
            stub.add_response("list_suppressed_destinations", page)
        with pytest.raises(RuntimeError, match="NextToken 't' twice"):
            count_suppressed(sesv2, 100)


# --- families ---------------------------------------------------------------------------


def test_families_of_a_truncated_listing() -> None:
    families = suppression_families(Counter(BOUNCE=5230), True, LABELS)
    got = values(families)
    assert by_reason(got) == {"BOUNCE": 5230, "COMPLAINT": 0}
    assert truncated(got) == 1
    assert all(s.labels["account_id"] == "123456789012" for f in families for s in f.samples)
    for family in families:
        assert family.documentation.endswith("Source: SES ListSuppressedDestinations.")
    assert "lower bound" in families[0].documentation


# --- the collector ----------------------------------------------------------------------


def suppression_target(fake_api: FakeAccountApi, extra: str = "") -> Target:
    config = config_for(REGION, extra=f"collectors:\n  suppression: {{enabled: true{extra}}}\n")
    return build_targets(config, ClientFactory(RequestCounter(), [fake_api.hook]))[0]


def test_off_by_default_so_a_default_config_polls_no_suppression(
    aws: None, fake_api: FakeAccountApi
) -> None:
    fake_api.suppressed[REGION] = suppressed("BOUNCE")
    section = config_for(REGION).collectors.get("suppression")
    assert isinstance(section, SuppressionCollectorConfig)
    assert (section.enabled, section.max_pages, section.interval) == (False, 100, 3600)
    target = make_target(fake_api, REGION)
    assert "suppression" not in target.collectors
    for collector in target.collectors.values():
        collector.poll(target.labels())
    assert listings(fake_api) == 0
    # --collector.suppression switches it on.
    exporter = Exporter(
        config_for(REGION), client_hooks=[fake_api.hook], collector_overrides={"suppression": True}
    )
    assert "suppression" in exporter.targets[0].collectors


def test_an_enabled_collector_polls_with_its_max_pages(aws: None, fake_api: FakeAccountApi) -> None:
    fake_api.suppressed[REGION] = suppressed("BOUNCE", "COMPLAINT", "BOUNCE", "BOUNCE", "BOUNCE")
    target = suppression_target(fake_api, extra=", max_pages: 2")
    collector = target.collectors["suppression"]
    assert isinstance(collector, SuppressionCollector) and collector.max_pages == 2
    got = values(collector.poll(target.labels()))
    assert by_reason(got) == {"BOUNCE": 3, "COMPLAINT": 1}
    assert truncated(got) == 1
    assert listings(fake_api) == 2


def test_a_failing_listing_fails_the_poll_only_for_that_collector(
    aws: None, fake_api: FakeAccountApi
) -> None:
    config = config_for(
        "us-east-1",
        REGION,
        extra="collectors:\n  suppression: {enabled: true}\n"
        "  send_statistics: {enabled: false}\n  cloudwatch: {enabled: false}\n"
        "  configuration_sets: {enabled: false}\n  identities: {enabled: false}\n"
        "  dedicated_ips: {enabled: false}\n",
    )
    fake_api.suppressed = {"us-east-1": suppressed("COMPLAINT"), REGION: suppressed("BOUNCE")}
    fake_api.fail(REGION, LISTED, throttled())
    exporter = Exporter(config, client_hooks=[fake_api.hook])
    for target in exporter.targets:
        for name in target.collectors:
            exporter.poller.poll(target, name)
    got = exporter_samples(exporter)
    success = "ses_exporter_collector_success"
    assert sample_value(got, success, region=REGION, collector="suppression") == 0
    assert sample_value(got, success, region=REGION, collector="account") == 1
    assert sample_value(got, success, region="us-east-1", collector="suppression") == 1
    assert sample_value(got, "aws_ses_suppressed_destinations", region=REGION) is None
    assert sample_value(got, "aws_ses_daily_sending_quota", region=REGION) == 50000
    assert sample_value(got, ENABLED, region=REGION, reason="BOUNCE") == 1
    complaints = sample_value(
        got, "aws_ses_suppressed_destinations", region="us-east-1", reason="COMPLAINT"
    )
    assert complaints == 1


# --- the account collector's aws_ses_suppression_reason_enabled --------------------------


def reasons_enabled(answer: dict[str, Any]) -> dict[str, float]:
    client = boto3.client(
        "sesv2", region_name=REGION, aws_access_key_id="a", aws_secret_access_key="b"
    )
    with Stubber(client) as stub:  # the answer is checked against botocore's model
        stub.add_response("get_account", answer, {})
        snap = fetch_account(client)
    return by_reason(values(account_families(snap, REGION, LABELS)), ENABLED)


@pytest.mark.parametrize(
    ("reasons", "enabled"),
    [
        (["BOUNCE", "COMPLAINT"], {"BOUNCE": 1, "COMPLAINT": 1}),
        (["COMPLAINT"], {"BOUNCE": 0, "COMPLAINT": 1}),
        (["BOUNCE"], {"BOUNCE": 1, "COMPLAINT": 0}),
        ([], {"BOUNCE": 0, "COMPLAINT": 0}),  # the list is off for both
    ],
)
def test_suppression_reason_enabled_from_get_account(
    reasons: list[str], enabled: dict[str, float]
) -> None:
    answer = {**GET_ACCOUNT, "SuppressionAttributes": {"SuppressedReasons": reasons}}
    assert reasons_enabled(answer) == enabled


def test_no_suppression_attributes_no_family() -> None:
    answer = {k: v for k, v in GET_ACCOUNT.items() if k != "SuppressionAttributes"}
    assert reasons_enabled(answer) == {}


def test_the_get_send_quota_fallback_has_no_suppression_family(
    aws: None, fake_api: FakeAccountApi
) -> None:
    target = make_target(fake_api, REGION)
    account = target.collectors["account"]
    got = values(account.poll(target.labels()))
    assert by_reason(got, ENABLED) == {"BOUNCE": 1, "COMPLAINT": 1}  # the fake's GetAccount
    fake_api.fail(REGION, "GetAccount", denied())
    fallback = values(account.poll(target.labels()))
    assert fallback[("aws_ses_daily_sending_quota", ())] == 200  # moto's GetSendQuota
    assert by_reason(fallback, ENABLED) == {}
