"""SES / Account dashboard: what the SES console shows on its Account dashboard."""

from __future__ import annotations

from layout import QUICK_RANGES, dashboard
from panels import (
    BLUE,
    BY_TARGET,
    ENABLED,
    ENFORCEMENT,
    GREEN,
    GREY,
    HOURLY,
    LEGEND,
    NO_RATE_SERIES,
    ORANGE,
    RED,
    TARGET,
    UNLIMITED,
    Json,
    chart,
    exporter_panels,
    history_since,
    latest,
    link,
    per_step,
    query,
    row,
    ses_console_links,
    stat,
    status_code,
    status_stat,
    table,
    table_query,
    text,
    threshold_lines,
    threshold_overrides,
    thresholds,
    with_console,
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


# Details.ReviewDetails.Status of GetAccount: the request for production access.
REVIEW = [  # (code, matcher, word, colour); "" = no request was ever reviewed
    (1, 'production_access_review_status="GRANTED"', "Granted", GREEN),
    (2, 'production_access_review_status=""', "No request", GREY),
    (3, 'production_access_review_status="PENDING"', "Pending", ORANGE),
    (4, 'production_access_review_status="DENIED"', "Denied", RED),
    (5, 'production_access_review_status="FAILED"', "Failed", RED),
    (6, 'production_access_review_status!~"GRANTED|PENDING|DENIED|FAILED|"', "Other", GREY),
]
NOT_IN_V1 = (
    "Not reported: GetAccount is denied and the exporter reads the v1 API (GetSendQuota, "
    "GetAccountSendingEnabled), which has no {what}; or no data from the exporter"
)
# The console's panes, in its order; each is a row repeated per region (a header link can
# name one region).
PANES = ("Sending limits", "Account health", "Daily email usage", "SMTP settings")
PANES += ("Sending statistics",)


def pane(title: str) -> Json:
    return row(f"{title} · $region", repeat="region")


def account_panels() -> list[Json]:
    sends, rejects = "aws_ses_sends_total", "aws_ses_rejects_total"
    quota_used = "aws_ses_sending_quota_used_ratio"
    quota_colors = thresholds((0.8, ORANGE), (0.95, RED))
    smtp = f"max by ({', '.join(SMTP_COLUMNS)}) (aws_ses_smtp_endpoint_info{{{TARGET}}})"
    header, data_links = ses_console_links("account", "SES console: Account dashboard")
    enforcement = with_console(
        status_code("aws_ses_account_enforcement_status", TARGET, BY_TARGET, ENFORCEMENT)
    )
    review = status_code("aws_ses_account_info", TARGET, BY_TARGET, REVIEW)
    sending_statistics = (
        "per hour (with a range too long for hourly points, per step: the chart's interval, "
        "never less than an hour, so every event is counted once)"
    )
    return [
        *exporter_panels(),
        history_since((24, 3)),
        pane("Sending limits"),
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
        pane("Account health"),
        status_stat(
            "Account status",
            enforcement,
            words(ENFORCEMENT),
            (6, 4),
            "AWS's enforcement status (GetAccount EnforcementStatus) in the console's words: "
            "HEALTHY = Healthy, PROBATION = Under review, SHUTDOWN = Paused. The link opens "
            "the SES console of the series' region, in its partition.",
            noValue=NOT_IN_V1.format(what="enforcement status"),
            links=data_links,
        )
        | {"links": header},
        status_stat(
            "Sending",
            latest("aws_ses_account_sending_enabled"),
            ENABLED,
            (6, 4),
            "Whether the account may send email (GetAccount SendingEnabled).",
        ),
        status_stat(
            "Production access",
            latest("aws_ses_account_production_access_enabled"),
            [(1, "Production", GREEN), (0, "Sandbox", BLUE)],
            (6, 4),
            "Sandbox accounts may only send to verified identities "
            "(GetAccount ProductionAccessEnabled).",
            noValue=NOT_IN_V1.format(what="production access"),
        ),
        status_stat(
            "Production access review",
            review,
            words(REVIEW),
            (6, 4),
            "The latest review of the request for production access (GetAccount "
            "Details.ReviewDetails.Status, the production_access_review_status label of "
            "aws_ses_account_info): Pending while AWS reviews it, Denied if refused. Not an "
            "enforcement review: that is the Account status.",
            noValue=NOT_IN_V1.format(what="account details"),
        ),
        pane("Daily email usage"),
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
        pane("SMTP settings"),
        table(
            "SMTP settings",
            [table_query(smtp)],
            (16, 4),
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
        text("TLS required", TLS_REQUIRED, (8, 4), TLS_DESCRIPTION),
        pane("Sending statistics"),
        chart(
            "Sends",
            [query(per_step(sends))],
            (12, 8),
            f"Emails SES accepted, {sending_statistics} (CloudWatch AWS/SES Send, Sum).",
            unit="locale",
            cloudwatch="sends",
            interval=HOURLY,
            decimals=0,
        ),
        chart(
            "Rejects",
            [query(f"{per_step(rejects)} / ({per_step(sends)} > 0)", f"Reject rate {LEGEND}")],
            (12, 8),
            "A rate, as in the console: rejected emails (virus) / sends, "
            f"{sending_statistics} (CloudWatch AWS/SES Reject and Send); steps without sends "
            "have no point.",
            unit="percentunit",
            cloudwatch="rejects",
            interval=HOURLY,
        ),
        chart(
            "Bounces",
            [
                query(latest("aws_ses_reputation_bounce_ratio"), f"Bounce rate {LEGEND}"),
                *threshold_lines("bounce"),
            ],
            (12, 8),
            "A rate, as in the console (not a count): the bounce rate as AWS computes it for "
            "reputation (CloudWatch Reputation.BounceRate); dashed: the review and at-risk "
            "thresholds of the exporter exposing it, drawn only while there is a rate.",
            unit="percentunit",
            cloudwatch="bounce_ratio",
            interval=HOURLY,
            noValue=NO_RATE_SERIES.format(kind="bounce"),
            overrides=threshold_overrides(),
        ),
        chart(
            "Complaints",
            [
                query(latest("aws_ses_reputation_complaint_ratio"), f"Complaint rate {LEGEND}"),
                *threshold_lines("complaint"),
            ],
            (12, 8),
            "A rate, as in the console (not a count): the complaint rate as AWS computes it "
            "for reputation (CloudWatch Reputation.ComplaintRate); dashed: the review "
            "and at-risk thresholds of the exporter exposing it, drawn only while there is a "
            "rate.",
            unit="percentunit",
            cloudwatch="complaint_ratio",
            interval=HOURLY,
            noValue=NO_RATE_SERIES.format(kind="complaint"),
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
        "What the Amazon SES console shows on its Account dashboard, from ses-exporter: its "
        "panes in its order, one row per pane and region.",
        account_panels(),
        links=ranges,
    )
