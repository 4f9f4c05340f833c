"""The account collector: both halves alone, then the collector with moto and hooks."""

from __future__ import annotations

import logging
import math
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from ses_exporter.collectors.account import (
    AccountSnapshot,
    account_families,
    fetch_account,
    fetch_account_v1,
    smtp_endpoint,
)
from tests.fakes import GET_ACCOUNT, denied
from tests.helpers import values

LABELS = {"account_id": "123456789012", "region": "eu-west-1"}


def test_fetch_account_reads_every_field_of_a_real_shaped_answer() -> None:
    client = boto3.client(
        "sesv2", region_name="eu-west-1", aws_access_key_id="a", aws_secret_access_key="b"
    )
    with Stubber(client) as stub:  # Stubber checks the answer against botocore's model
        stub.add_response("get_account", GET_ACCOUNT, {})
        snap = fetch_account(client)
    assert snap == AccountSnapshot(
        max_24_hour_send=50000.0,
        max_send_rate=14.0,
        sent_last_24_hours=41250.0,
        sending_enabled=True,
        production_access_enabled=True,
        enforcement_status="HEALTHY",
        source="GetAccount",
        info=(
            ("mail_type", "TRANSACTIONAL"),
            ("contact_language", "EN"),
            ("production_access_review_status", "GRANTED"),
            ("production_access_review_case_id", "case-1"),
            ("vdm_enabled", "ENABLED"),
            ("dedicated_ip_auto_warmup_enabled", "false"),
            ("suppressed_reasons", "BOUNCE,COMPLAINT"),
        ),
        suppressed_reasons=("BOUNCE", "COMPLAINT"),
    )


def test_fetch_account_of_a_new_sandbox_account_with_few_fields() -> None:
    client = boto3.client(
        "sesv2", region_name="eu-west-1", aws_access_key_id="a", aws_secret_access_key="b"
    )
    answer: dict[str, Any] = {
        "SendQuota": {"Max24HourSend": 200.0, "MaxSendRate": 1.0, "SentLast24Hours": 0.0},
        "SendingEnabled": True,
        "ProductionAccessEnabled": False,
        "EnforcementStatus": "HEALTHY",
    }
    with Stubber(client) as stub:
        stub.add_response("get_account", answer, {})
        snap = fetch_account(client)
    assert (snap.max_24_hour_send, snap.production_access_enabled) == (200.0, False)
    assert dict(snap.info)["production_access_review_status"] == ""


def test_families_of_a_production_account() -> None:
    snap = AccountSnapshot(
        50000, 14, 41250, True, "GetAccount", True, "HEALTHY", (("mail_type", "TRANSACTIONAL"),)
    )
    got = values(account_families(snap, "eu-west-1", LABELS))
    assert got[("aws_ses_daily_sending_quota", ())] == 50000
    assert got[("aws_ses_max_send_rate", ())] == 14
    assert got[("aws_ses_sent_last_24h", ())] == 41250
    assert got[("aws_ses_remaining_sends", ())] == 8750
    assert got[("aws_ses_sending_quota_used_ratio", ())] == pytest.approx(0.825)
    assert got[("aws_ses_account_sending_enabled", ())] == 1
    assert got[("aws_ses_account_production_access_enabled", ())] == 1
    statuses = {
        k[1][0][1]: v for k, v in got.items() if k[0] == "aws_ses_account_enforcement_status"
    }
    assert statuses == {"HEALTHY": 1, "PROBATION": 0, "SHUTDOWN": 0}
    assert got[("aws_ses_account_info", (("mail_type", "TRANSACTIONAL"),))] == 1
    smtp = (
        ("endpoint", "email-smtp.eu-west-1.amazonaws.com"),
        ("starttls_ports", "25,587,2587"),
        ("tls_wrapper_ports", "465,2465"),
    )
    assert got[("aws_ses_smtp_endpoint_info", smtp)] == 1


def test_unlimited_quota_is_inf_with_zero_ratio() -> None:
    client = boto3.client(
        "sesv2", region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="b"
    )
    answer = {
        **GET_ACCOUNT,
        "SendQuota": {"Max24HourSend": -1.0, "MaxSendRate": 500.0, "SentLast24Hours": 123456.0},
    }
    with Stubber(client) as stub:
        stub.add_response("get_account", answer, {})
        snap = fetch_account(client)
    got = values(account_families(snap, "us-east-1", LABELS))
    assert math.isinf(got[("aws_ses_daily_sending_quota", ())])
    assert math.isinf(got[("aws_ses_remaining_sends", ())])
    assert got[("aws_ses_sending_quota_used_ratio", ())] == 0.0


def stubbed_get_account(answer: dict[str, Any]) -> AccountSnapshot:
    client = boto3.client(
        "sesv2", region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="b"
    )
    with Stubber(client) as stub:  # the answer is checked against botocore's model
        stub.add_response("get_account", answer, {})
        return fetch_account(client)


def test_absent_members_of_get_account_are_absent_series_not_zeros() -> None:
    """Every GetAccount member is optional in the model: what AWS leaves out is left out,
    never a 0 ("sending disabled", "sandbox") that pages someone."""
    snap = stubbed_get_account({"EnforcementStatus": "HEALTHY"})
    got = values(account_families(snap, "us-east-1", LABELS))
    names = {name for name, _ in got}
    assert names == {
        "aws_ses_account_enforcement_status",
        "aws_ses_account_info",
        "aws_ses_smtp_endpoint_info",
    }
    partial = stubbed_get_account(
        {"SendQuota": {"Max24HourSend": 200.0}, "ProductionAccessEnabled": False}
    )
    got = values(account_families(partial, "us-east-1", LABELS))
    assert got[("aws_ses_daily_sending_quota", ())] == 200
    assert got[("aws_ses_account_production_access_enabled", ())] == 0
    for absent in (
        "aws_ses_max_send_rate",
        "aws_ses_sent_last_24h",
        "aws_ses_remaining_sends",
        "aws_ses_sending_quota_used_ratio",
        "aws_ses_account_sending_enabled",
    ):
        assert (absent, ()) not in got


def test_absent_members_of_the_fallback_are_absent_series() -> None:
    client = boto3.client(
        "ses", region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="b"
    )
    with Stubber(client) as stub:
        stub.add_response("get_send_quota", {"SentLast24Hours": 3.0}, {})
        stub.add_response("get_account_sending_enabled", {}, {})
        snap = fetch_account_v1(client)
    got = values(account_families(snap, "us-east-1", LABELS))
    assert got[("aws_ses_sent_last_24h", ())] == 3
    assert ("aws_ses_account_sending_enabled", ()) not in got
    assert ("aws_ses_daily_sending_quota", ()) not in got


def test_only_the_daily_quota_reads_minus_one_as_unlimited() -> None:
    """The model documents -1 for Max24HourSend only; a negative MaxSendRate is no rate."""
    snap = stubbed_get_account(
        {"SendQuota": {"Max24HourSend": -1.0, "MaxSendRate": -1.0, "SentLast24Hours": 5.0}}
    )
    got = values(account_families(snap, "us-east-1", LABELS))
    assert math.isinf(got[("aws_ses_daily_sending_quota", ())])
    assert ("aws_ses_max_send_rate", ()) not in got


def test_the_review_label_names_the_production_access_request() -> None:
    """ReviewDetails is the production-access request's review, not an enforcement one."""
    (info,) = [
        f
        for f in account_families(stubbed_get_account(GET_ACCOUNT), "x", LABELS)
        if f.name == "aws_ses_account_info"
    ]
    labels = info.samples[0].labels
    assert labels["production_access_review_status"] == "GRANTED"
    assert "review_status" not in labels
    assert "production access" in info.documentation
    assert "not an enforcement review" in info.documentation


def test_over_quota_remaining_is_zero_and_zero_quota_has_no_ratio() -> None:
    over = values(account_families(AccountSnapshot(100, 1, 130, True, "GetAccount"), "x", LABELS))
    assert over[("aws_ses_remaining_sends", ())] == 0
    assert over[("aws_ses_sending_quota_used_ratio", ())] == 1.3
    zero = values(account_families(AccountSnapshot(0, 0, 0, False, "GetAccount"), "x", LABELS))
    assert ("aws_ses_sending_quota_used_ratio", ()) not in zero
    assert zero[("aws_ses_account_sending_enabled", ())] == 0


def test_unknown_enforcement_status_is_passed_through() -> None:
    snap = AccountSnapshot(200, 1, 0, True, "GetAccount", False, "SUSPENDED_FOR_REVIEW")
    got = values(account_families(snap, "eu-west-1", LABELS))
    statuses = {
        k[1][0][1]: v for k, v in got.items() if k[0] == "aws_ses_account_enforcement_status"
    }
    assert statuses == {"HEALTHY": 0, "PROBATION": 0, "SHUTDOWN": 0, "SUSPENDED_FOR_REVIEW": 1}


def test_fallback_snapshot_has_no_health_families() -> None:
    snap = AccountSnapshot(200, 1, 10, True, "GetSendQuota")
    names = {k[0] for k in values(account_families(snap, "eu-west-1", LABELS))}
    assert "aws_ses_account_enforcement_status" not in names
    assert "aws_ses_account_production_access_enabled" not in names
    assert "aws_ses_account_info" not in names
    assert "aws_ses_daily_sending_quota" in names


def test_help_text_names_the_source_and_caching() -> None:
    for family in account_families(AccountSnapshot(200, 1, 10, True, "GetSendQuota"), "r", LABELS):
        assert family.documentation
    quota = account_families(AccountSnapshot(200, 1, 10, True, "GetSendQuota"), "r", LABELS)[0]
    assert "SES GetSendQuota" in quota.documentation and "cached" in quota.documentation


@pytest.mark.parametrize(
    ("region", "endpoint"),
    [
        ("us-east-1", "email-smtp.us-east-1.amazonaws.com"),
        ("us-gov-west-1", "email-smtp.us-gov-west-1.amazonaws.com"),
    ],
)
def test_smtp_endpoint_per_partition(region: str, endpoint: str) -> None:
    assert smtp_endpoint(region) == endpoint


def test_fetch_account_v1_against_moto(aws: None, fake_api: Any) -> None:
    ses = boto3.client("ses", region_name="eu-west-1")
    fake_api.hook("ses", ses)
    ses.verify_email_identity(EmailAddress="a@example.com")
    ses.send_email(
        Source="a@example.com",
        Destination={"ToAddresses": ["b@example.com"]},
        Message={"Subject": {"Data": "s"}, "Body": {"Text": {"Data": "b"}}},
    )
    fake_api.sending_enabled["eu-west-1"] = False
    snap = fetch_account_v1(ses)
    assert (snap.max_24_hour_send, snap.max_send_rate, snap.sent_last_24_hours) == (200, 1, 1)
    assert snap.sending_enabled is False
    assert snap.source == "GetSendQuota"


def test_collector_falls_back_when_get_account_is_denied_and_logs_once(
    aws: None, fake_api: Any, caplog: pytest.LogCaptureFixture
) -> None:
    from tests.helpers import make_target

    target = make_target(fake_api, "eu-west-1")
    fake_api.fail("eu-west-1", "GetAccount", denied())
    collector = target.collectors["account"]
    with caplog.at_level(logging.WARNING):
        first = values(collector.poll(target.labels()))
        second = values(collector.poll(target.labels()))
    assert first == second
    assert first[("aws_ses_daily_sending_quota", ())] == 200  # moto's GetSendQuota
    assert ("aws_ses_account_production_access_enabled", ()) not in first
    assert sum("falling back" in r.getMessage() for r in caplog.records) == 1
    fake_api.fail("eu-west-1", "GetAccount", None)
    recovered = values(collector.poll(target.labels()))
    assert recovered[("aws_ses_daily_sending_quota", ())] == 50000


def test_collector_raises_on_other_errors(aws: None, fake_api: Any) -> None:
    from tests.fakes import throttled
    from tests.helpers import make_target

    target = make_target(fake_api, "eu-west-1")
    fake_api.fail("eu-west-1", "GetAccount", throttled())
    with pytest.raises(Exception, match="Throttling"):
        target.collectors["account"].poll(target.labels())
