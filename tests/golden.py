"""The exporter behind the golden scrape: three targets polled twice against moto and the
fake answers, every metric family in values that could come from one real account.
``GOLDEN`` is the file its normalised scrape is compared with (``tests/test_golden.py``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
from apscheduler.events import EVENT_JOB_MAX_INSTANCES, JobExecutionEvent

from ses_exporter.daemon import Exporter
from ses_exporter.demo.vdm import VdmStore
from ses_exporter.poller import job_id, status_key
from tests.fakes import GET_ACCOUNT, FakeAccountApi
from tests.helpers import config_for

GOLDEN = Path(__file__).parent / "data" / "golden" / "full_scrape.prom"
ACCOUNT_ID = "123456789012"  # moto's
MARKETING = [{"Name": "ses:configuration-set", "Value": "marketing"}]
BUCKETS = datetime(2026, 11, 26, 4, 8, tzinfo=UTC)  # accounts see their own 15-minute grid


def full_scrape(fake_api: FakeAccountApi) -> bytes:
    body, _ = polled_exporter(fake_api).render_metrics(None)
    return body


def polled_exporter(fake_api: FakeAccountApi) -> Exporter:
    """An exporter after two polls of every collector of three targets, with every family
    of the metric tables in docs/metrics.md, in values that could come from one real account:

    * us-east-1: production access (review GRANTED), healthy, two configuration sets
      (marketing's bounce rate is past the review threshold), CloudWatch data for every
      event account-wide and for marketing; three identities (one domain whose DKIM and
      custom MAIL FROM work, one whose DKIM lapsed and whose MAIL FROM failed, an email
      address), two dedicated IP pools (one IP warming up) and five suppressed addresses;
    * eu-west-1: the sandbox (200 a day, 1 a second), its production access request
      PENDING, a few sends;
    * ap-southeast-2: production access, PROBATION (under review) after a bounce spike.

    The listed account is also the management account of an organization whose filter
    keeps only itself (polled once, as listed); one tick is taken by the scheduler's path
    (scheduling lag) and one is skipped (polls_skipped).
    """
    organization = (
        "organizations:\n  - name: main\n    member_role_name: ses-exporter\n"
        f"    regions: [us-east-1]\n    accounts: {{include: ['{ACCOUNT_ID}']}}\n"
    )
    config = config_for(
        "us-east-1",
        "eu-west-1",
        "ap-southeast-2",
        extra="    labels: {env: prod, team: mail}\n"
        + organization
        + "collectors:\n  suppression: {enabled: true}\n"
        + "  vdm: {enabled: true, isps: [Gmail, Yahoo], by_configuration_set: true,"
        + " by_identity: true, identities: {include: ['example\\.com']}}\n",
    )
    boto3.client("organizations", region_name="us-east-1").create_organization(FeatureSet="ALL")
    fake_api.set_account(
        "eu-west-1",
        ProductionAccessEnabled=False,
        SendQuota={"Max24HourSend": 200.0, "MaxSendRate": 1.0, "SentLast24Hours": 12.0},
        Details={**GET_ACCOUNT["Details"], "ReviewDetails": {"Status": "PENDING", "CaseId": "c-2"}},
        VdmAttributes={"VdmEnabled": "DISABLED"},
    )
    fake_api.set_account(
        "ap-southeast-2",
        EnforcementStatus="PROBATION",
        SendQuota={"Max24HourSend": 100000.0, "MaxSendRate": 50.0, "SentLast24Hours": 9600.0},
    )
    seed_configuration_sets_and_cloudwatch(fake_api, "us-east-1")
    seed_identities_dedicated_ips_and_suppression(fake_api, "us-east-1")
    ten_minutes_ago = datetime.now(UTC) - timedelta(minutes=10)
    for region, (baseline, _) in OTHER_REGIONS.items():
        put_cloudwatch_data(region, account_wide_events(ten_minutes_ago, baseline))
    fake_api.send_data_points = {  # in no particular order, as AWS lists them
        "us-east-1": [bucket(2, 130, 2), bucket(0, 110, 1), bucket(1, 120, 3, rejects=1)],
        "eu-west-1": [bucket(0, 3), bucket(1, 2)],
        "ap-southeast-2": [bucket(0, 400, 9), bucket(1, 420, 31, complaints=1)],
    }
    # VDM is off in eu-west-1 (its GetAccount says so, and without a store the fake
    # answers BatchGetMetricData as AWS does where VDM is off).
    fake_api.vdm = {"us-east-1": VdmStore(), "ap-southeast-2": VdmStore()}
    fake_api.set_account(
        "us-east-1",
        VdmAttributes={"VdmEnabled": "ENABLED", "DashboardAttributes": VDM_ENGAGEMENT},
    )
    add_vdm_day(fake_api.vdm["us-east-1"], VDM_BASELINE)
    exporter = Exporter(config, client_hooks=[fake_api.hook])
    poll_everything(exporter)
    exporter.discover_now()  # after the first poll: the listed account's id is known
    # Second poll: buckets grow and new ones arrive; CloudWatch publishes more. In
    # us-east-1 both tell one story: 120 sends, 1 rejected, 1 failed to render, 118
    # attempts (115 delivered, 3 bounced), 1 complaint.
    fake_api.send_data_points["us-east-1"][0]["DeliveryAttempts"] += 78
    fake_api.send_data_points["us-east-1"][0]["Bounces"] += 1
    fake_api.send_data_points["us-east-1"].append(bucket(3, 40, 2, complaints=1, rejects=1))
    fake_api.send_data_points["eu-west-1"].append(bucket(2, 4, 1))
    fake_api.send_data_points["ap-southeast-2"].append(bucket(2, 380, 27, rejects=2))
    two_minutes_ago = datetime.now(UTC) - timedelta(minutes=2)
    put_cloudwatch_data("us-east-1", second_round(two_minutes_ago))
    for region, (_, later) in OTHER_REGIONS.items():
        put_cloudwatch_data(region, account_wide_events(two_minutes_ago, later))
    add_vdm_day(fake_api.vdm["us-east-1"], VDM_SECOND_ROUND)
    poll_everything(exporter)
    scheduled_tick_and_skipped_tick(exporter)
    return exporter


VDM_ENGAGEMENT = {"EngagementMetrics": "ENABLED"}
# VDM's count of today so far, per (metric, ISP): at the first poll (the baseline) and added
# before the second, through the marketing set and the example.com identity; Gmail and
# Yahoo are the exporter's ISPs, Comcast is only in the account-wide series.
VDM_BASELINE: dict[tuple[str, str], int] = {
    ("SEND", "Gmail"): 80,
    ("SEND", "Yahoo"): 30,
    ("SEND", "Comcast"): 10,
    ("DELIVERY", "Gmail"): 78,
    ("DELIVERY", "Yahoo"): 26,
    ("PERMANENT_BOUNCE", "Yahoo"): 3,
}
VDM_SECOND_ROUND: dict[tuple[str, str], int] = {
    ("SEND", "Gmail"): 40,
    ("SEND", "Yahoo"): 20,
    ("SEND", "Comcast"): 5,
    ("DELIVERY", "Gmail"): 39,
    ("DELIVERY", "Yahoo"): 16,
    ("PERMANENT_BOUNCE", "Yahoo"): 3,
    ("TRANSIENT_BOUNCE", "Gmail"): 1,
    ("COMPLAINT", "Yahoo"): 1,
    ("DELIVERY_COMPLAINT", "Yahoo"): 16,
    ("DELIVERY_OPEN", "Gmail"): 30,
    ("OPEN", "Gmail"): 12,
    ("DELIVERY_CLICK", "Gmail"): 20,
    ("CLICK", "Gmail"): 4,
}


def add_vdm_day(store: VdmStore, counts: dict[tuple[str, str], int]) -> None:
    """Today's VDM counts, half through the marketing set and example.com, half without."""
    now = datetime.now(UTC).timestamp()
    for (metric, isp), count in counts.items():
        through = count // 2
        store.add(
            now, metric, through, isp=isp, configuration_set="marketing", identity="example.com"
        )
        store.add(now, metric, count - through, isp=isp)


def bucket(
    index: int, attempts: int, bounces: int = 0, complaints: int = 0, rejects: int = 0
) -> dict[str, Any]:
    """One GetSendStatistics data point, ``index`` 15-minute buckets after BUCKETS."""
    return {
        "Timestamp": BUCKETS + timedelta(minutes=15 * index),
        "DeliveryAttempts": attempts,
        "Bounces": bounces,
        "Complaints": complaints,
        "Rejects": rejects,
    }


# CloudWatch event names -> (marketing, without a set): 10 minutes ago (the baseline of
# the first poll) and 2 minutes ago (counted at the second poll). Every message is either
# rejected, fails to render or is attempted, and an attempt is delivered or bounces.
BASELINE: dict[str, tuple[float, float]] = {
    "Send": (120, 180),
    "Delivery": (112, 178),
    "Bounce": (7, 2),
    "Complaint": (0, 0),
    "Reject": (1, 0),
    "Rendering Failure": (0, 0),
    "Open": (50, 61),
    "Click": (15, 9),
    "DeliveryDelay": (1, 0),
    "Subscription": (0, 1),
}
SECOND_ROUND: dict[str, tuple[float, float]] = {
    "Send": (30, 90),
    "Delivery": (26, 89),
    "Bounce": (2, 1),
    "Complaint": (1, 0),
    "Reject": (1, 0),
    "Rendering Failure": (1, 0),
    "Open": (12, 28),
    "Click": (4, 6),
    "DeliveryDelay": (1, 1),
    "Subscription": (1, 0),
}
# Reputation rates (marketing, account-wide); only marketing's bounce rate is past review.
BASELINE_RATES = {"Reputation.BounceRate": (0.062, 0.02), "Reputation.ComplaintRate": (0.0006, 0.0)}
SECOND_ROUND_RATES = {"Reputation.BounceRate": 0.021, "Reputation.ComplaintRate": 0.0004}


# The other regions send without configuration sets; CloudWatch tells the story of their
# send statistics: (baseline, second round) per event. eu-west-1: 4 sends, 3 delivered,
# 1 bounced; ap-southeast-2: 382 sends, 2 rejected, 353 delivered, 27 bounced.
OTHER_REGIONS: dict[str, tuple[dict[str, float], dict[str, float]]] = {
    "eu-west-1": ({"Send": 5, "Delivery": 5, "Bounce": 0}, {"Send": 4, "Delivery": 3, "Bounce": 1}),
    "ap-southeast-2": (
        {"Send": 820, "Delivery": 780, "Bounce": 40, "Complaint": 1, "Reject": 0},
        {"Send": 382, "Delivery": 353, "Bounce": 27, "Reject": 2},
    ),
}


def account_wide_events(when: datetime, counts: dict[str, float]) -> list[dict[str, Any]]:
    return [
        {"MetricName": name, "Timestamp": when, "Value": value} for name, value in counts.items()
    ]


def cloudwatch_events(
    when: datetime, counts: dict[str, tuple[float, float]]
) -> list[dict[str, Any]]:
    """Datapoints of SES events per set (marketing), and the account-wide ones SES
    publishes: the account's total (the set's mail and the mail sent without a set), for
    every event but Open, Click, DeliveryDelay and Subscription, which SES publishes only
    through a configuration set's event destination. The ``aws`` fixture's moto answers
    as CloudWatch does: a query without dimensions reads only the account-wide metric."""
    data: list[dict[str, Any]] = []
    for name, (per_set, without_set) in counts.items():
        data.append(
            {"MetricName": name, "Dimensions": MARKETING, "Timestamp": when, "Value": per_set}
        )
        if name not in PER_SET_ONLY:
            total = per_set + without_set
            data.append({"MetricName": name, "Timestamp": when, "Value": total})
    return data


PER_SET_ONLY = ("Open", "Click", "DeliveryDelay", "Subscription")


def second_round(when: datetime) -> list[dict[str, Any]]:
    """120 sends account-wide, 30 of them through marketing, and the account-wide rates.
    Only account-wide rates are new, so the newest account-wide datapoint is the account's
    own."""
    rates = [
        {"MetricName": name, "Timestamp": when, "Value": value}
        for name, value in SECOND_ROUND_RATES.items()
    ]
    return cloudwatch_events(when, SECOND_ROUND) + rates


def scheduled_tick_and_skipped_tick(exporter: Exporter) -> None:
    """What the scheduler does, without waiting for it: one tick submitted (its lag is
    measured) and one tick skipped because the previous poll still ran."""
    target = exporter.targets[0]
    job = job_id(status_key(target, "account"))
    exporter.poller._submitted(job, exporter.poller.clock() - 0.25)
    assert exporter.poller.poll(target, "account")
    scheduled = datetime.now(UTC)
    exporter.poller._skipped_tick(
        JobExecutionEvent(EVENT_JOB_MAX_INSTANCES, job, "default", scheduled)
    )


def seed_identities_dedicated_ips_and_suppression(fake_api: FakeAccountApi, region: str) -> None:
    """Identities (in moto, their details in the fake: moto has no DKIM or MAIL FROM), two
    dedicated IP pools (in moto) and their IPs, and the suppression list (in the fake)."""
    sesv2 = boto3.client("sesv2", region_name=region)
    for name in ("example.com", "news.example.com", "noreply@example.com"):
        sesv2.create_email_identity(EmailIdentity=name)
    verified = {"LastSuccessTimestamp": datetime(2026, 11, 20, tzinfo=UTC)}
    fake_api.identity_details = {
        "example.com": identity("DOMAIN", "SUCCESS", ("bounce.example.com", "SUCCESS"))
        | {"ConfigurationSetName": "marketing", "VerificationInfo": verified},
        "news.example.com": identity(
            "DOMAIN", "TEMPORARY_FAILURE", ("mail.news.example.com", "FAILED", "REJECT_MESSAGE")
        ),
        "noreply@example.com": identity("EMAIL_ADDRESS", "NOT_STARTED", signing=False),
    }
    sesv2.create_dedicated_ip_pool(PoolName="marketing", ScalingMode="STANDARD")
    sesv2.create_dedicated_ip_pool(PoolName="auto", ScalingMode="MANAGED")
    fake_api.dedicated_ips[region] = [
        {"Ip": "198.51.100.7", "WarmupStatus": "IN_PROGRESS", "WarmupPercentage": 42},
        {"Ip": "198.51.100.8", "WarmupStatus": "DONE", "WarmupPercentage": 100},
        {"Ip": "198.51.100.9", "WarmupStatus": "DONE", "WarmupPercentage": 100},
    ]
    for entry in fake_api.dedicated_ips[region]:
        entry["PoolName"] = "marketing"
    added = datetime(2026, 11, 25, tzinfo=UTC)
    fake_api.suppressed[region] = [
        {"EmailAddress": f"gone{n}@example.net", "Reason": reason, "LastUpdateTime": added}
        for n, reason in enumerate(["BOUNCE", "BOUNCE", "COMPLAINT", "BOUNCE", "COMPLAINT"])
    ]


def identity(
    kind: str,
    dkim: str,
    mail_from: tuple[str, ...] = (),
    signing: bool = True,
) -> dict[str, Any]:
    """A GetEmailIdentity answer as AWS gives it (verified): DKIM in status ``dkim``, and
    the custom MAIL FROM (domain, status[, behavior on MX failure]) if given."""
    answer: dict[str, Any] = {
        "IdentityType": kind,
        "FeedbackForwardingStatus": True,
        "VerifiedForSendingStatus": True,
        "VerificationStatus": "SUCCESS",
        "DkimAttributes": {
            "SigningEnabled": signing,
            "Status": dkim,
            "SigningAttributesOrigin": "AWS_SES",
            "CurrentSigningKeyLength": "RSA_2048_BIT",
        },
    }
    if mail_from:
        domain, status, *behavior = mail_from
        answer["MailFromAttributes"] = {
            "MailFromDomain": domain,
            "MailFromDomainStatus": status,
            "BehaviorOnMxFailure": behavior[0] if behavior else "USE_DEFAULT_VALUE",
        }
    return answer


def poll_everything(exporter: Exporter) -> None:
    for target in exporter.targets:
        for name in target.collectors:
            assert exporter.poller.poll(target, name)


def put_cloudwatch_data(region: str, data: list[dict[str, Any]]) -> None:
    cloudwatch = boto3.client("cloudwatch", region_name=region)
    for first in range(0, len(data), 20):  # moto takes at most 1,000; keep requests small
        cloudwatch.put_metric_data(Namespace="AWS/SES", MetricData=data[first : first + 20])


def seed_configuration_sets_and_cloudwatch(fake_api: FakeAccountApi, region: str) -> None:
    """Two configuration sets and the AWS/SES datapoints of 10 minutes ago (the baseline)."""
    sesv2 = boto3.client("sesv2", region_name=region)
    fake_api.configuration_sets = {
        "marketing": {
            "ReputationOptions": {
                "ReputationMetricsEnabled": True,
                "LastFreshStart": datetime(2026, 1, 15, tzinfo=UTC),
            },
            "SendingOptions": {"SendingEnabled": True},
        },
        "archive": {
            "ReputationOptions": {"ReputationMetricsEnabled": False},
            "SendingOptions": {"SendingEnabled": False},
        },
    }
    for name in fake_api.configuration_sets:
        sesv2.create_configuration_set(ConfigurationSetName=name)
    when = datetime.now(UTC) - timedelta(minutes=10)
    data = cloudwatch_events(when, BASELINE)
    for name, (per_set, account_wide) in BASELINE_RATES.items():
        data.append(
            {"MetricName": name, "Dimensions": MARKETING, "Timestamp": when, "Value": per_set}
        )
        data.append({"MetricName": name, "Timestamp": when, "Value": account_wide})
    put_cloudwatch_data(region, data)
