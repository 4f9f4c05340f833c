"""SES / Account dashboard: what the SES console shows on its Account dashboard."""

from __future__ import annotations

from layout import QUICK_RANGES, dashboard
from panels import (
    BLUE,
    BY_TARGET,
    ENABLED,
    ENFORCEMENT,
    GREEN,
    NO_BOUNCES,
    NO_COMPLAINTS,
    ORANGE,
    RED,
    TARGET,
    UNLIMITED,
    Json,
    chart,
    history_since,
    hourly,
    latest,
    link,
    query,
    row,
    stat,
    status_code,
    status_stat,
    table,
    table_query,
    text,
    threshold_lines,
    threshold_overrides,
    thresholds,
    words,
)

SMTP_COLUMNS = {
    "account_id": "Account",
    "region": "Region",
    "endpoint": "SMTP endpoint",
    "starttls_ports": "STARTTLS Port",
    "tls_wrapper_ports": "TLS Wrapper Port",
}
TLS_DESCRIPTION = (
    "The SES console shows 'Transport Layer Security (TLS): Required'. The exporter has no "
    "metric for it because it is the same for every region: a fact, not a measurement."
)
TLS_REQUIRED = (
    "**Transport Layer Security (TLS):** Required\n\n"
    "SES SMTP endpoints only accept TLS connections: STARTTLS on the STARTTLS ports, "
    "TLS from the first byte on the TLS wrapper ports."
)


def account_panels() -> list[Json]:
    sends, rejects = "aws_ses_sends_total", "aws_ses_rejects_total"
    quota_used = "aws_ses_sending_quota_used_ratio"
    quota_colors = thresholds((0.8, ORANGE), (0.95, RED))
    smtp = f"max by ({', '.join(SMTP_COLUMNS)}) (aws_ses_smtp_endpoint_info{{{TARGET}}})"
    return [
        text("TLS required", TLS_REQUIRED, (8, 4), TLS_DESCRIPTION),
        history_since((16, 4)),
        row("Region: $region", repeat="region"),
        stat(
            "Daily sending quota",
            latest("aws_ses_daily_sending_quota"),
            (12, 4),
            "Emails the account may send per 24-hour period (GetAccount SendQuota.Max24HourSend).",
            unit="locale",
            mappings=UNLIMITED,
            decimals=0,
        ),
        stat(
            "Maximum send rate",
            latest("aws_ses_max_send_rate"),
            (12, 4),
            "Emails the account may send per second (GetAccount SendQuota.MaxSendRate).",
            unit="suffix: emails/s",
        ),
        status_stat(
            "Account status",
            status_code("aws_ses_account_enforcement_status", TARGET, BY_TARGET, ENFORCEMENT),
            words(ENFORCEMENT),
            (8, 4),
            "GetAccount EnforcementStatus in the console's words: HEALTHY = Healthy, "
            "PROBATION = Under review, SHUTDOWN = Paused.",
        ),
        status_stat(
            "Sending",
            latest("aws_ses_account_sending_enabled"),
            ENABLED,
            (8, 4),
            "Whether the account may send email (GetAccount SendingEnabled).",
        ),
        status_stat(
            "Production access",
            latest("aws_ses_account_production_access_enabled"),
            [(1, "Production", GREEN), (0, "Sandbox", BLUE)],
            (8, 4),
            "Sandbox accounts may only send to verified identities "
            "(GetAccount ProductionAccessEnabled).",
        ),
        stat(
            "Emails sent",
            latest("aws_ses_sent_last_24h"),
            (4, 8),
            "Emails sent in the last 24 hours (GetAccount SendQuota.SentLast24Hours).",
            unit="locale",
            decimals=0,
        ),
        stat(
            "Remaining sends",
            latest("aws_ses_remaining_sends"),
            (4, 8),
            "Daily sending quota minus emails sent in the last 24 hours.",
            unit="locale",
            mappings=UNLIMITED,
            decimals=0,
        ),
        stat(
            "Sending quota used",
            latest(quota_used),
            (4, 8),
            "Emails sent in the last 24 hours / daily sending quota (0 % when the quota is "
            "unlimited). Orange from 80 %, red from 95 %: a display choice, not an AWS limit.",
            unit="percentunit",
            thresholds=quota_colors,
            decimals=1,
        ),
        chart(
            "Sending quota used over time",
            [query(latest(quota_used))],
            (12, 8),
            "Sending quota used (sent in the last 24 hours / daily quota) as the exporter saw "
            "it; dashed lines at 80 % and 95 %. CloudWatch has no metric for SentLast24Hours: "
            "the link opens AWS/SES Send, summed per hour, over the last 24 hours.",
            unit="percentunit",
            cloudwatch="sends",
            soft_max=1,
            thresholds=quota_colors,
        ),
        table(
            "SMTP settings",
            [table_query(smtp)],
            (24, 4),
            "The region's SMTP endpoint and ports (SMTP credentials are managed in the console).",
            unit="string",
            transformations=[
                {
                    "id": "organize",
                    "options": {
                        "excludeByName": {"Time": True, "Value": True},
                        "indexByName": {name: i for i, name in enumerate(SMTP_COLUMNS)},
                        "renameByName": SMTP_COLUMNS,
                    },
                }
            ],
        ),
        chart(
            "Sends",
            [query(hourly(sends))],
            (12, 8),
            "Emails SES accepted in each hour (CloudWatch AWS/SES Send, Sum).",
            unit="locale",
            cloudwatch="sends",
            interval="1h",
            decimals=0,
        ),
        chart(
            "Rejects",
            [query(f"{hourly(rejects)} / ({hourly(sends)} > 0)")],
            (12, 8),
            "Rejected emails (virus) / sends in each hour (CloudWatch AWS/SES Reject and Send).",
            unit="percentunit",
            cloudwatch="rejects",
            interval="1h",
        ),
        chart(
            "Bounces",
            [query(latest("aws_ses_reputation_bounce_ratio")), *threshold_lines("bounce")],
            (12, 8),
            "Bounce rate as AWS computes it for reputation (CloudWatch Reputation.BounceRate); "
            "dashed: the review and at-risk thresholds of the exporter's configuration.",
            unit="percentunit",
            cloudwatch="bounce_ratio",
            interval="1h",
            noValue=NO_BOUNCES,
            overrides=threshold_overrides(),
        ),
        chart(
            "Complaints",
            [query(latest("aws_ses_reputation_complaint_ratio")), *threshold_lines("complaint")],
            (12, 8),
            "Complaint rate as AWS computes it for reputation "
            "(CloudWatch Reputation.ComplaintRate); dashed: the review and at-risk thresholds "
            "of the exporter's configuration.",
            unit="percentunit",
            cloudwatch="complaint_ratio",
            interval="1h",
            noValue=NO_COMPLAINTS,
            overrides=threshold_overrides(),
        ),
    ]


def account_dashboard() -> Json:
    base = "/d/ses-account-dashboard/ses-account-dashboard"
    ranges = [
        link(name, f"{base}?from={start}&to=now", "Time range of the SES console")
        | {"icon": "dashboard", "includeVars": True, "targetBlank": False}
        for name, start in QUICK_RANGES
    ]
    return dashboard(
        "ses-account-dashboard",
        "SES / Account dashboard",
        "What the Amazon SES console shows on its Account dashboard, from ses-exporter.",
        account_panels(),
        links=ranges,
    )
