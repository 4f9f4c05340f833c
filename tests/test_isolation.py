"""Failure isolation and staleness with real clients against moto.

Two targets; one target's GetAccount fails (throttled, denied without a usable
fallback, timing out) while the other keeps reporting. Time is a fake clock so
staleness is exact.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from ses_exporter.daemon import Exporter
from ses_exporter.demo.responders import SimulatedError
from tests.fakes import FakeAccountApi, read_timeout, throttled, too_many_requests
from tests.helpers import config_for, exporter_samples, sample_value


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def setup(aws: None, fake_api: FakeAccountApi) -> tuple[Exporter, Clock]:
    clock = Clock()
    config = config_for(
        "us-east-1",
        "eu-west-1",
        extra="collectors:\n  account: {interval: 60s}\n"
        "  send_statistics: {enabled: false}\n  cloudwatch: {enabled: false}\n"
        "  configuration_sets: {enabled: false}\n"
        "  identities: {enabled: false}\n  dedicated_ips: {enabled: false}\n",
    )
    exporter = Exporter(config, client_hooks=[fake_api.hook], clock=clock)
    fake_api.set_account(
        "eu-west-1", SendQuota={"Max24HourSend": 200.0, "MaxSendRate": 1.0, "SentLast24Hours": 5.0}
    )
    return exporter, clock


def poll_all(exporter: Exporter) -> None:
    for target in exporter.targets:
        for name in target.collectors:
            exporter.poller.poll(target, name)


@pytest.mark.parametrize(
    "failure",
    [
        throttled,
        too_many_requests,
        read_timeout,
        lambda: SimulatedError("ServiceUnavailable", "down", 503),
    ],
    ids=["throttling", "too-many-requests", "read-timeout", "503"],
)
def test_one_failing_target_keeps_others_and_its_last_values_until_stale(
    setup: tuple[Exporter, Clock], fake_api: FakeAccountApi, failure: Callable[[], Exception]
) -> None:
    exporter, clock = setup
    poll_all(exporter)
    first = exporter_samples(exporter)
    assert sample_value(first, "aws_ses_daily_sending_quota", region="us-east-1") == 50000
    assert sample_value(first, "aws_ses_daily_sending_quota", region="eu-west-1") == 200
    assert sample_value(first, "aws_ses_daily_sending_quota", account_id="123456789012") is not None

    fake_api.fail("eu-west-1", "GetAccount", failure())
    fake_api.set_account(
        "us-east-1",
        SendQuota={"Max24HourSend": 50000.0, "MaxSendRate": 14.0, "SentLast24Hours": 42000.0},
    )
    clock.now += 60
    poll_all(exporter)
    during = exporter_samples(exporter)
    success = "ses_exporter_collector_success"
    assert sample_value(during, success, region="eu-west-1", collector="account") == 0
    assert sample_value(during, success, region="us-east-1", collector="account") == 1
    # The healthy target moved on; the failing one still shows its last good values.
    assert sample_value(during, "aws_ses_sent_last_24h", region="us-east-1") == 42000
    assert sample_value(during, "aws_ses_sent_last_24h", region="eu-west-1") == 5
    last_ok = sample_value(
        during, "ses_exporter_collector_last_success_timestamp_seconds", region="eu-west-1"
    )
    assert last_ok == clock.now - 60

    # max_staleness defaults to 3 x interval = 180 s after the last success.
    clock.now += 120
    poll_all(exporter)
    assert (
        sample_value(exporter_samples(exporter), "aws_ses_sent_last_24h", region="eu-west-1") == 5
    )
    clock.now += 1
    poll_all(exporter)
    stale = exporter_samples(exporter)
    assert sample_value(stale, "aws_ses_sent_last_24h", region="eu-west-1") is None
    assert sample_value(stale, "aws_ses_daily_sending_quota", region="eu-west-1") is None
    assert sample_value(stale, "aws_ses_sent_last_24h", region="us-east-1") == 42000
    assert sample_value(stale, success, region="eu-west-1") == 0
    assert (
        sample_value(
            stale, "ses_exporter_collector_last_success_timestamp_seconds", region="eu-west-1"
        )
        == last_ok
    )

    # The fault clears: the next poll brings the series back.
    fake_api.fail("eu-west-1", "GetAccount", None)
    clock.now += 60
    poll_all(exporter)
    back = exporter_samples(exporter)
    assert sample_value(back, success, region="eu-west-1") == 1
    assert sample_value(back, "aws_ses_sent_last_24h", region="eu-west-1") == 5


def test_stale_values_are_dropped_at_scrape_time_even_without_a_poll(
    setup: tuple[Exporter, Clock],
) -> None:
    exporter, clock = setup
    poll_all(exporter)
    clock.now += 180
    assert (
        sample_value(exporter_samples(exporter), "aws_ses_max_send_rate", region="us-east-1") == 14
    )
    clock.now += 1
    assert (
        sample_value(exporter_samples(exporter), "aws_ses_max_send_rate", region="us-east-1")
        is None
    )


def test_failures_are_counted_by_outcome(
    setup: tuple[Exporter, Clock], fake_api: FakeAccountApi
) -> None:
    exporter, _ = setup
    fake_api.fail("eu-west-1", "GetAccount", throttled())
    poll_all(exporter)
    samples = exporter_samples(exporter)
    requests = "ses_exporter_aws_requests_total"
    assert (
        sample_value(
            samples, requests, service="sesv2", operation="GetAccount", outcome="Throttling"
        )
        == 1
    )
    assert (
        sample_value(samples, requests, service="sesv2", operation="GetAccount", outcome="success")
        == 1
    )
    assert (
        sample_value(
            samples, requests, service="sts", operation="GetCallerIdentity", outcome="success"
        )
        == 1
    )


def test_readiness_waits_for_every_first_poll(
    setup: tuple[Exporter, Clock], fake_api: FakeAccountApi
) -> None:
    exporter, _ = setup
    assert not exporter.is_ready()
    fake_api.fail("eu-west-1", "GetAccount", throttled())
    exporter.poller.poll(exporter.targets[0], "account")
    assert not exporter.is_ready()
    exporter.poller.poll(exporter.targets[1], "account")
    assert exporter.is_ready()  # a failed first attempt still counts as an attempt
    rows = {(s.region, s.success) for s in exporter.store.statuses()}
    assert rows == {("us-east-1", True), ("eu-west-1", False)}
    error = next(s.last_error for s in exporter.store.statuses() if s.region == "eu-west-1")
    assert error == "Throttling: Rate exceeded"


def block_calls(fake_api: FakeAccountApi, region: str) -> tuple[threading.Event, threading.Event]:
    """Makes the fake's calls in ``region`` wait: ``started`` is set when one arrives, and it
    answers once ``release`` is set."""
    started, release = threading.Event(), threading.Event()

    def wait(call_region: str, operation: str) -> None:
        if call_region == region:
            started.set()
            assert release.wait(10)

    fake_api.on_call = wait
    return started, release


def test_a_poll_in_flight_keeps_the_last_good_values_past_max_staleness(
    setup: tuple[Exporter, Clock], fake_api: FakeAccountApi
) -> None:
    """The flapping regression: a poll that takes longer than max_staleness (180 s here)
    must not make the values it is about to replace vanish while it runs."""
    exporter, clock = setup
    poll_all(exporter)
    target = next(t for t in exporter.targets if t.region == "eu-west-1")
    started, release = block_calls(fake_api, "eu-west-1")
    fake_api.set_account(
        "eu-west-1", SendQuota={"Max24HourSend": 200.0, "MaxSendRate": 1.0, "SentLast24Hours": 7.0}
    )
    clock.now += 60  # the next tick: the slow poll starts 60 s after the last success
    poller = threading.Thread(target=exporter.poller.poll, args=(target, "account"))
    poller.start()
    assert started.wait(10)
    for seconds in (60, 119, 121, 400):  # 180, 239, 241 and 520 s after the last success
        clock.now = 1_800_000_000.0 + seconds + 60
        assert (
            sample_value(exporter_samples(exporter), "aws_ses_sent_last_24h", region="eu-west-1")
            == 5
        )
    release.set()
    poller.join(10)
    samples = exporter_samples(exporter)
    assert sample_value(samples, "aws_ses_sent_last_24h", region="eu-west-1") == 7
    assert (
        sample_value(samples, "ses_exporter_collector_duration_seconds", region="eu-west-1") == 400
    )


def test_a_failing_poll_in_flight_drops_stale_values_when_it_fails(
    setup: tuple[Exporter, Clock], fake_api: FakeAccountApi
) -> None:
    exporter, clock = setup
    poll_all(exporter)
    target = next(t for t in exporter.targets if t.region == "eu-west-1")
    started, release = block_calls(fake_api, "eu-west-1")
    fake_api.fail("eu-west-1", "GetAccount", throttled())
    clock.now += 170
    poller = threading.Thread(target=exporter.poller.poll, args=(target, "account"))
    poller.start()
    assert started.wait(10)
    clock.now += 100  # 270 s after the last success: kept only because a poll is under way
    assert (
        sample_value(exporter_samples(exporter), "aws_ses_sent_last_24h", region="eu-west-1") == 5
    )
    release.set()
    poller.join(10)
    assert (
        sample_value(exporter_samples(exporter), "aws_ses_sent_last_24h", region="eu-west-1")
        is None
    )


def test_a_poll_that_starts_after_the_values_went_stale_does_not_bring_them_back(
    setup: tuple[Exporter, Clock], fake_api: FakeAccountApi
) -> None:
    exporter, clock = setup
    poll_all(exporter)
    target = next(t for t in exporter.targets if t.region == "eu-west-1")
    clock.now += 181
    exporter.poller.store.record_start(("test", "eu-west-1", "account"), clock.now, None)
    assert (
        sample_value(exporter_samples(exporter), "aws_ses_sent_last_24h", region="eu-west-1")
        is None
    )
    assert target.account.label == "123456789012"
