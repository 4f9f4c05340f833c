"""The send_statistics collector: the source with Stubber, the counters over polls, moto."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from prometheus_client.metrics_core import Metric

from ses_exporter.aws import RequestCounter, make_session
from ses_exporter.collectors.send_statistics import (
    SendBucket,
    SendStatisticsCollector,
    SendStatisticsSnapshot,
    fetch_send_statistics,
    send_statistics_families,
)
from tests.helpers import send_point

REGION = "eu-west-1"
LABELS = {"account_id": "123456789012", "region": REGION}
T0 = datetime(2024, 5, 1, 12, 8, tzinfo=UTC)  # AWS buckets start at an account's own offset
PREFIX = "aws_ses_send_statistics_"
FIELDS = ("delivery_attempts", "bounces", "complaints", "rejects")


def point(
    bucket: int, attempts: int, bounces: int = 0, complaints: int = 0, rejects: int = 0
) -> dict[str, Any]:
    """One SendDataPoint, ``bucket`` 15-minute buckets after T0."""
    return send_point(T0.timestamp() + 900 * bucket, attempts, bounces, complaints, rejects)


def values(families: list[Metric]) -> dict[str, float]:
    """{metric suffix: value} for one target; fails on extra labels or repeated samples."""
    out: dict[str, float] = {}
    for family in families:
        assert family.type == "counter"
        for s in family.samples:
            assert s.labels == LABELS
            assert s.name.startswith(PREFIX) and s.name.endswith("_total")
            key = s.name[len(PREFIX) : -len("_total")]
            assert key not in out
            out[key] = s.value
    return out


def make_collector() -> SendStatisticsCollector:
    clients = make_session(
        profile=None,
        role_arn=None,
        external_id=None,
        endpoint_url=None,
        region=REGION,
        counter=RequestCounter(),
    ).target_clients(REGION, 1000)
    return SendStatisticsCollector(clients, clock=lambda: T0.timestamp() + 60)


def polls(*answers: list[dict[str, Any]]) -> list[dict[str, float]]:
    """One collector (in the aws fixture) over stubbed answers: its values after each poll."""
    collector = make_collector()
    seen = []
    with Stubber(collector.clients.ses) as stub:  # checks answers against the model
        for answer in answers:
            stub.add_response("get_send_statistics", {"SendDataPoints": answer}, {})
            seen.append(values(collector.poll(LABELS)))
        stub.assert_no_pending_responses()
    return seen


def counts(
    attempts: float, bounces: float = 0, complaints: float = 0, rejects: float = 0
) -> dict[str, float]:
    return dict(zip(FIELDS, (attempts, bounces, complaints, rejects), strict=True))


# --- the source alone -----------------------------------------------------------------


def test_fetch_reads_every_field_and_sorts_unordered_buckets() -> None:
    client = boto3.client(
        "ses", region_name=REGION, aws_access_key_id="a", aws_secret_access_key="b"
    )
    answer = {"SendDataPoints": [point(2, 30, 1, 0, 2), point(0, 10), point(1, 20, 0, 1)]}
    with Stubber(client) as stub:
        stub.add_response("get_send_statistics", answer, {})
        snap = fetch_send_statistics(client)
    start = T0.timestamp()
    assert snap == SendStatisticsSnapshot(
        (
            SendBucket(start, 10, 0, 0, 0),
            SendBucket(start + 900, 20, 0, 1, 0),
            SendBucket(start + 1800, 30, 1, 0, 2),
        )
    )


def test_fetch_of_an_idle_account_is_empty() -> None:
    client = boto3.client(
        "ses", region_name=REGION, aws_access_key_id="a", aws_secret_access_key="b"
    )
    with Stubber(client) as stub:
        stub.add_response("get_send_statistics", {"SendDataPoints": []}, {})
        assert fetch_send_statistics(client) == SendStatisticsSnapshot(())


# --- the families alone ---------------------------------------------------------------


def test_families_are_counters_with_help_naming_source_and_cache() -> None:
    families = send_statistics_families(dict(counts(7, 1, 0, 2)), LABELS)
    assert [f.name for f in families] == [PREFIX + f for f in FIELDS]
    assert values(families) == counts(7, 1, 0, 2)
    for family in families:
        assert "SES GetSendStatistics" in family.documentation
        assert "cached" in family.documentation


def test_no_totals_no_families() -> None:
    assert send_statistics_families({}, LABELS) == []


# --- the collector over several polls (Stubber) ---------------------------------------


def test_first_poll_is_the_baseline_at_zero(aws: None) -> None:
    (first,) = polls([point(0, 10, 1, 1, 1), point(1, 20, 2, 0, 1), point(2, 5)])
    assert first == counts(0, 0, 0, 0)


def test_new_bucket_adds_its_value(aws: None) -> None:
    first, second = polls(
        [point(0, 10), point(1, 20, 1)],
        [point(0, 10), point(1, 20, 1), point(2, 7, 2, 1, 3)],
    )
    assert first == counts(0)
    assert second == counts(7, 2, 1, 3)


def test_bucket_revised_upwards_adds_the_growth(aws: None) -> None:
    # SES keeps filling the current bucket while mail is being sent.
    *_, last = polls(
        [point(0, 10), point(1, 20, 1)],
        [point(0, 10), point(1, 25, 3, 1)],
        [point(0, 10), point(1, 31, 3, 1, 1)],
    )
    assert last == counts(11, 2, 1, 1)


def test_bucket_revised_downwards_adds_nothing_and_growth_counts_from_the_peak(aws: None) -> None:
    _, lower, back, higher = polls(
        [point(0, 10)],
        [point(0, 4)],
        [point(0, 10)],
        [point(0, 12, 1)],
    )
    assert lower == back == counts(0)
    assert higher == counts(2, 1)


def test_unordered_buckets_count_the_same_in_any_order(aws: None) -> None:
    ordered = [point(0, 1), point(1, 2), point(2, 4)]
    shuffled = [point(2, 4), point(0, 1), point(1, 2)]
    later = [point(3, 8), point(1, 2), point(0, 1), point(2, 5)]
    assert polls(ordered, shuffled, later)[-1] == counts(9)
    assert polls(shuffled, ordered, later[::-1])[-1] == counts(9)


def test_buckets_leaving_the_two_week_window_never_count_twice(aws: None) -> None:
    *_, relisted = polls(
        [point(0, 10), point(1, 20)],
        [point(1, 20), point(2, 5)],  # bucket 0 left the window
        [point(0, 10), point(1, 20), point(2, 5)],  # ...and is listed again
        [point(0, 99), point(2, 5)],  # ...even revised: it is gone for good
    )
    assert relisted == counts(5)


def shifted(seconds: int, *points: dict[str, Any]) -> list[dict[str, Any]]:
    return [{**p, "Timestamp": p["Timestamp"] + timedelta(seconds=seconds)} for p in points]


def test_a_shifted_grid_never_counts_a_bucket_twice(aws: None) -> None:
    """AWS documents 15-minute buckets but no grid: the same buckets listed a minute later,
    or four minutes earlier, are the same buckets (keyed by slot, not exact timestamp)."""
    _, later, earlier = polls(
        [point(0, 10), point(1, 20, 1)],
        shifted(60, point(0, 10), point(1, 20, 1)),
        shifted(-240, point(0, 10), point(1, 26, 1), point(2, 3)),
    )
    assert later == counts(0)
    assert earlier == counts(6 + 3)


def test_empty_answer_exposes_no_series_and_is_no_error(aws: None) -> None:
    assert polls([], []) == [{}, {}]


def test_idle_first_poll_then_first_buckets_show_0_then_count(aws: None) -> None:
    # Nothing was present at the first poll (at T0 + 1 min): the first mail the account
    # sends after the exporter started is counted, one poll after its series appears at 0
    # (increase() ignores a series' first sample). The bucket that ended before the first
    # poll (-1) is history.
    idle, new, active = polls([], [point(0, 3, 1), point(-1, 5)], [point(0, 4, 1), point(-1, 5)])
    assert idle == {}
    assert new == counts(0)
    assert active == counts(4, 1)


def test_two_points_with_one_timestamp_count_the_same_in_any_order(aws: None) -> None:
    *_, last = polls(
        [point(0, 1), point(0, 2)],
        [point(0, 2), point(0, 1), point(1, 1)],
        [point(1, 1), point(0, 2), point(0, 4)],
    )
    assert last == counts(4)


def test_totals_stay_when_every_bucket_has_left_the_window(aws: None) -> None:
    *_, quiet = polls([point(0, 1)], [point(0, 1), point(1, 4)], [])
    assert quiet == counts(4)


def test_failure_raises_and_the_next_poll_continues_from_the_last_good_one(aws: None) -> None:
    collector = make_collector()
    with Stubber(collector.clients.ses) as stub:
        stub.add_response("get_send_statistics", {"SendDataPoints": [point(0, 10)]}, {})
        stub.add_client_error(
            "get_send_statistics",
            service_error_code="Throttling",
            service_message="Rate exceeded",
            http_status_code=400,
        )
        stub.add_response("get_send_statistics", {"SendDataPoints": [point(0, 12)]}, {})
        assert values(collector.poll(LABELS)) == counts(0)
        with pytest.raises(ClientError, match="Throttling"):
            collector.poll(LABELS)
        assert values(collector.poll(LABELS)) == counts(2)


# --- the collector against moto -------------------------------------------------------


def _pin_to_one_bucket(parsed: dict[str, Any], **_: Any) -> None:
    # moto answers with one running point stamped "now", so every answer would look like
    # a brand-new bucket. Real SES keeps the start time of the current 15-minute bucket
    # and grows its counts; pinning the time makes moto's point behave like that bucket.
    for data_point in parsed.get("SendDataPoints", []):
        data_point["Timestamp"] = T0


def _send(ses: Any, source: str, *recipients: str) -> None:
    ses.send_email(
        Source=source,
        Destination={"ToAddresses": list(recipients)},
        Message={"Subject": {"Data": "s"}, "Body": {"Text": {"Data": "b"}}},
    )


def test_collector_against_moto_counts_mail_sent_after_the_first_poll(aws: None) -> None:
    collector = make_collector()
    ses = collector.clients.ses
    ses.meta.events.register("after-call.ses.GetSendStatistics", _pin_to_one_bucket)
    ses.verify_email_identity(EmailAddress="sender@example.com")
    _send(ses, "sender@example.com", "a@example.com")

    assert values(collector.poll(LABELS)) == counts(0)  # the mail before: baseline

    _send(ses, "sender@example.com", "a@example.com", "b@example.com")
    _send(ses, "sender@example.com", "c@example.com")
    # No send from an unverified sender here: moto counts that MessageRejected API error
    # in Rejects, but SES documents Rejects as mail it accepted and then rejected (e.g.
    # for a virus), which moto cannot produce; the Stubber tests above cover Rejects.
    assert values(collector.poll(LABELS)) == counts(3)
    assert values(collector.poll(LABELS)) == counts(3)  # nothing new: no change
