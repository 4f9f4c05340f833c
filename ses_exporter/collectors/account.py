"""The ``account`` collector: the SES console's Account dashboard.

Source: sesv2 GetAccount. Where GetAccount is denied (old IAM policies grant only SES v1
actions) it falls back to ses GetSendQuota + GetAccountSendingEnabled, which give the
quota and the sending switch but no production access, enforcement status or details:
those families are then absent rather than guessed.

Sample exposition::

    aws_ses_daily_sending_quota{account_id="123456789012",region="eu-west-1"} 50000.0
    aws_ses_sending_quota_used_ratio{account_id="123456789012",region="eu-west-1"} 0.83
    aws_ses_account_enforcement_status{account_id="123456789012",region="eu-west-1",
        status="HEALTHY"} 1.0
    aws_ses_smtp_endpoint_info{account_id="123456789012",region="eu-west-1",
        endpoint="email-smtp.eu-west-1.amazonaws.com",starttls_ports="25,587,2587",
        tls_wrapper_ports="465,2465"} 1.0
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from prometheus_client.metrics_core import Metric

from ..aws import ClientError, TargetClients, dns_suffix, error_code
from ..families import FamilyBuilder
from .base import Collector, register

if TYPE_CHECKING:
    from mypy_boto3_ses import SESClient
    from mypy_boto3_sesv2 import SESV2Client

ENFORCEMENT_STATUSES = ("HEALTHY", "PROBATION", "SHUTDOWN")
SUPPRESSION_REASONS = ("BOUNCE", "COMPLAINT")  # SuppressionListReason: always exposed
ACCESS_DENIED_CODES = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"})
STARTTLS_PORTS = "25,587,2587"
TLS_WRAPPER_PORTS = "465,2465"
CACHED = "cached from the last successful poll."


@dataclass(frozen=True)
class AccountSnapshot:
    """What the Account dashboard shows, as plain values (inf = unlimited).

    Every member of GetAccount (and of GetSendQuota) is optional in the botocore model:
    None means AWS did not say, and the series is left out rather than shown as 0 (a
    missing SendingEnabled read as 0 would page someone for "sending disabled").
    """

    max_24_hour_send: float | None
    max_send_rate: float | None
    sent_last_24_hours: float | None
    sending_enabled: bool | None
    source: str  # "GetAccount" or "GetSendQuota"
    production_access_enabled: bool | None = None
    enforcement_status: str | None = None
    info: tuple[tuple[str, str], ...] = ()
    # SuppressionAttributes.SuppressedReasons; None when AWS did not say (or GetSendQuota)
    suppressed_reasons: tuple[str, ...] | None = None


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def _daily_quota(value: Any) -> float | None:
    """Max24HourSend: -1 signifies an unlimited quota (the only field documented so)."""
    number = _number(value)
    return math.inf if number is not None and number < 0 else number


def _send_rate(value: Any) -> float | None:
    """MaxSendRate: no negative value is documented, so one is not a rate (left out)."""
    number = _number(value)
    return None if number is None or number < 0 else number


def _switch(value: Any) -> bool | None:
    return None if value is None else bool(value)


def fetch_account(sesv2: SESV2Client) -> AccountSnapshot:
    """sesv2 GetAccount -> AccountSnapshot."""
    answer = sesv2.get_account()
    quota = answer.get("SendQuota", {})
    details = answer.get("Details", {})
    review = details.get("ReviewDetails", {})
    # Absent: AWS did not say (no family), not "no reason" (a 0 that would alert).
    suppression = answer.get("SuppressionAttributes", {})
    listed = suppression.get("SuppressedReasons")
    reasons = None if listed is None else tuple(listed)
    info = (
        ("mail_type", str(details.get("MailType", ""))),
        ("contact_language", str(details.get("ContactLanguage", ""))),
        # ReviewDetails is the latest review of the request for production access (and
        # its appeals): PENDING, GRANTED, DENIED, FAILED. It is not the enforcement
        # review ("Under review" = EnforcementStatus PROBATION), hence the label name.
        ("production_access_review_status", str(review.get("Status", ""))),
        ("production_access_review_case_id", str(review.get("CaseId", ""))),
        ("vdm_enabled", str(answer.get("VdmAttributes", {}).get("VdmEnabled", ""))),
        ("dedicated_ip_auto_warmup_enabled", _flag(answer.get("DedicatedIpAutoWarmupEnabled"))),
        ("suppressed_reasons", ",".join(sorted(reasons or ()))),
    )
    return AccountSnapshot(
        max_24_hour_send=_daily_quota(quota.get("Max24HourSend")),
        max_send_rate=_send_rate(quota.get("MaxSendRate")),
        sent_last_24_hours=_number(quota.get("SentLast24Hours")),
        sending_enabled=_switch(answer.get("SendingEnabled")),
        production_access_enabled=_switch(answer.get("ProductionAccessEnabled")),
        enforcement_status=answer.get("EnforcementStatus") or None,
        info=info,
        suppressed_reasons=reasons,
        source="GetAccount",
    )


def fetch_account_v1(ses: SESClient) -> AccountSnapshot:
    """ses GetSendQuota + GetAccountSendingEnabled -> AccountSnapshot (the fallback)."""
    quota = ses.get_send_quota()
    enabled = ses.get_account_sending_enabled()
    return AccountSnapshot(
        max_24_hour_send=_daily_quota(quota.get("Max24HourSend")),
        max_send_rate=_send_rate(quota.get("MaxSendRate")),
        sent_last_24_hours=_number(quota.get("SentLast24Hours")),
        sending_enabled=_switch(enabled.get("Enabled")),
        source="GetSendQuota",
    )


def _flag(value: Any) -> str:
    return "" if value is None else str(bool(value)).lower()


def smtp_endpoint(region: str) -> str:
    return f"email-smtp.{region}.{dns_suffix(region)}"


def _remaining(snap: AccountSnapshot) -> float | None:
    quota, sent = snap.max_24_hour_send, snap.sent_last_24_hours
    if quota is None or sent is None:
        return None
    return max(quota - sent, 0.0)


def _used_ratio(snap: AccountSnapshot) -> float | None:
    quota, sent = snap.max_24_hour_send, snap.sent_last_24_hours
    if quota is None or sent is None or quota <= 0:
        return None  # unknown, or a zero quota, which has no meaningful ratio
    return 0.0 if math.isinf(quota) else sent / quota


def _bool(value: bool | None) -> float | None:
    return None if value is None else float(value)


# name, help, value (None = AWS gave no data: the series is left out).
GAUGES: tuple[tuple[str, str, Callable[[AccountSnapshot], float | None]], ...] = (
    (
        "aws_ses_daily_sending_quota",
        "Emails the account may send in 24 hours (Max24HourSend; +Inf if unlimited).",
        lambda s: s.max_24_hour_send,
    ),
    (
        "aws_ses_max_send_rate",
        "Emails the account may send per second (MaxSendRate).",
        lambda s: s.max_send_rate,
    ),
    # Not aws_ses_sent_last_24_hours: promtool check metrics rejects "hours".
    (
        "aws_ses_sent_last_24h",
        "Emails sent in the last 24 hours (SentLast24Hours).",
        lambda s: s.sent_last_24_hours,
    ),
    (
        "aws_ses_remaining_sends",
        "Sends left in the 24-hour quota, max(quota - sent, 0).",
        _remaining,
    ),
    (
        "aws_ses_sending_quota_used_ratio",
        "Share of the 24-hour quota used, sent / quota, 0-1 (0 when unlimited).",
        _used_ratio,
    ),
    (
        "aws_ses_account_sending_enabled",
        "1 if the account may send email (SendingEnabled).",
        lambda s: _bool(s.sending_enabled),
    ),
    (
        "aws_ses_account_production_access_enabled",
        "1 if the account has production access, 0 in the sandbox (ProductionAccessEnabled).",
        lambda s: _bool(s.production_access_enabled),
    ),
)


def account_families(snap: AccountSnapshot, region: str, labels: Mapping[str, str]) -> list[Metric]:
    """AccountSnapshot -> the account collector's families."""
    b = FamilyBuilder(labels)
    source = f" Source: SES {snap.source}; {CACHED}"
    for name, doc, value_of in GAUGES:
        value = value_of(snap)
        if value is not None:
            b.gauge(name, doc + source, value)
    if snap.enforcement_status is not None:
        doc = (
            "Account health as AWS enforces it: 1 for the current EnforcementStatus "
            "(HEALTHY = Healthy, PROBATION = Under review, SHUTDOWN = Paused); "
            "aws_ses_reputation_status is only derived from thresholds." + source
        )
        statuses = list(ENFORCEMENT_STATUSES)
        if snap.enforcement_status not in statuses:
            statuses.append(snap.enforcement_status)
        for status in statuses:
            current = float(status == snap.enforcement_status)
            b.gauge("aws_ses_account_enforcement_status", doc, current, {"status": status})
    if snap.info:
        b.gauge(
            "aws_ses_account_info",
            "Slow-changing account facts as labels; production_access_review_* is the "
            "latest review of the request for production access (Details.ReviewDetails), "
            "not an enforcement review." + source,
            1.0,
            dict(snap.info),
        )
    if snap.suppressed_reasons is not None:
        for reason in sorted(set(SUPPRESSION_REASONS) | set(snap.suppressed_reasons)):
            b.gauge(
                "aws_ses_suppression_reason_enabled",
                "1 if SES adds addresses to the account-level suppression list for this"
                " reason (SuppressionAttributes.SuppressedReasons: BOUNCE, COMPLAINT)." + source,
                float(reason in snap.suppressed_reasons),
                {"reason": reason},
            )
    endpoint = {
        "endpoint": smtp_endpoint(region),
        "starttls_ports": STARTTLS_PORTS,
        "tls_wrapper_ports": TLS_WRAPPER_PORTS,
    }
    b.gauge(
        "aws_ses_smtp_endpoint_info",
        "The region's SES SMTP endpoint and ports, as on the "
        "console's SMTP settings pane (derived from the region).",
        1.0,
        endpoint,
    )
    return b.families()


@register
class AccountCollector(Collector):
    """Needs no settings: the target's clients (and their region) say everything."""

    name = "account"
    title = "the Account dashboard"
    default_interval = 60.0

    def __init__(self, clients: TargetClients):
        super().__init__(clients)
        self._denied_logged = False

    def poll(self, labels: Mapping[str, str]) -> list[Metric]:
        clients = self.clients
        try:
            snap = fetch_account(clients.sesv2)
        except ClientError as exc:
            if error_code(exc) not in ACCESS_DENIED_CODES:
                raise
            if not self._denied_logged:
                self.log.warning(
                    "sesv2 GetAccount denied; falling back to ses GetSendQuota and "
                    "GetAccountSendingEnabled (no account health or production access)",
                    extra={"region": clients.region, "account": labels.get("account_id")},
                )
                self._denied_logged = True
            snap = fetch_account_v1(clients.ses)
        return account_families(snap, clients.region, labels)
