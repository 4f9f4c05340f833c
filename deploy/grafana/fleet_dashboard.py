"""SES / Fleet overview: every account and region on one page, the worst first.

At 1,500 targets a per-target page of stats is hundreds of tiles. Here each number is
computed in Prometheus: counts of targets in each state, one table row per account and
region (sorted by a key that puts AWS's enforcement first), and the top configuration sets
by rate and by volume (`topk`). Every row links to the per-target dashboards.
"""

from __future__ import annotations

from layout import dashboard, templating
from panels import (
    BY_SET,
    BY_TARGET,
    ENABLED,
    ENFORCEMENT,
    ORANGE,
    RED,
    SCRAPE,
    TARGET,
    VERSUS_COLOURS,
    Json,
    column,
    exporter_panels,
    latest,
    merged_table,
    over_range,
    row,
    stat,
    status_code,
    table_query,
    thresholds,
    versus_threshold,
    words,
)

TOP = 10  # configuration sets per top table
ACCOUNT_PAGE = "/d/ses-account-dashboard/ses-account-dashboard"
REPUTATION_PAGE = "/d/ses-reputation-metrics/ses-reputation-metrics"
# Every target an exporter polls (every collector reports its success): a row per target
# even where AWS reports nothing else.
TARGETS = f"max by ({BY_TARGET}) (ses_exporter_collector_success{{{TARGET}}})"
# One name per account (two exporters may both expose it: topk keeps one).
NAMES = (
    "topk by (account_id) (1, max by (account_id, account_name) "
    f'(ses_exporter_account_info{{{SCRAPE}, account_id=~"$account_id"}}))'
)
ENFORCEMENT_CODE = status_code("aws_ses_account_enforcement_status", TARGET, BY_TARGET, ENFORCEMENT)
SENDING = latest("aws_ses_account_sending_enabled")
WORST_RATE = (
    f"max by ({BY_TARGET}) ("
    f'label_replace({versus_threshold("bounce")}, "rate", "bounce", "", "")'
    f' or label_replace({versus_threshold("complaint")}, "rate", "complaint", "", ""))'
)
SUCCESS = f"max by ({BY_TARGET}, collector) (ses_exporter_collector_success{{{TARGET}}})"
LAST_SUCCESS = (
    f"max by ({BY_TARGET}, collector) "
    f"(ses_exporter_collector_last_success_timestamp_seconds{{{TARGET}}})"
)


def or_zero(expr: str) -> str:
    """The value per target, 0 where the target has none (so a sum keeps every target)."""
    return f"(({expr}) or 0 * {TARGETS})"


# Worst first: AWS's enforcement status (x 100: Paused 4, Under review 3, other 2, Healthy
# 1), then sending disabled (x 10), then the worse rate / its review threshold (up to 9.99).
WORST_FIRST = (
    f"100 * {or_zero(ENFORCEMENT_CODE)} + 10 * {or_zero(f'1 - {SENDING}')}"
    f" + {or_zero(f'clamp_max({WORST_RATE}, 9.99)')}"
)


def named(expr: str) -> str:
    """Adds each account's name (account_name) where the exporter knows it."""
    return (
        f"(({expr}) * on (account_id) group_left (account_name) {NAMES})"
        f" or (({expr}) unless on (account_id) {NAMES})"
    )


def per_target_links() -> list[Json]:
    keep = "${__url_time_range}&${datasource:queryparam}&${job:queryparam}&${cluster:queryparam}"
    target = "var-account_id=${__data.fields.account_id}&var-region=${__data.fields.region}"
    return [
        {"title": "Account dashboard", "url": f"{ACCOUNT_PAGE}?{keep}&{target}"},
        {"title": "Reputation metrics", "url": f"{REPUTATION_PAGE}?{keep}&{target}"},
    ]


def set_links() -> list[Json]:
    keep = "${__url_time_range}&${datasource:queryparam}&${job:queryparam}&${cluster:queryparam}"
    target = (
        "var-account_id=${__data.fields.account_id}&var-region=${__data.fields.region}"
        "&var-configuration_set=${__data.fields.configuration_set}"
    )
    return [{"title": "This set's panes", "url": f"{REPUTATION_PAGE}?{keep}&{target}"}]


def count_stat(title: str, expr: str, description: str) -> Json:
    return stat(
        title,
        f"count({expr}) or vector(0)",
        (4, 3),
        description,
        unit="locale",
        decimals=0,
        thresholds=thresholds((1, RED)),
    )


def targets_table() -> Json:
    columns = {
        "account_name": "Account",
        "account_id": "Account ID",
        "region": "Region",
        "Value #A": "Worst first",
        "Value #B": "Enforcement",
        "Value #C": "Sending",
        "Value #D": "Quota used",
        "Value #E": "Bounce rate",
        "Value #F": "Bounce ÷ review",
        "Value #G": "Complaint rate",
        "Value #H": "Complaint ÷ review",
        "Value #I": "Data age",
        "Value #J": "Collectors failing",
    }
    queries = {
        "A": WORST_FIRST,
        "B": ENFORCEMENT_CODE,
        "C": SENDING,
        "D": latest("aws_ses_sending_quota_used_ratio"),
        "E": latest("aws_ses_reputation_bounce_ratio"),
        "F": versus_threshold("bounce"),
        "G": latest("aws_ses_reputation_complaint_ratio"),
        "H": versus_threshold("complaint"),
        "I": f"max by ({BY_TARGET}) (time() - {LAST_SUCCESS})",
        "J": f"sum by ({BY_TARGET}) (1 - {SUCCESS})",
    }
    return merged_table(
        "Accounts and regions",
        columns,
        [table_query(named(expr), ref) for ref, expr in queries.items()],
        (24, 14),
        "One row per account and region, the worst first. 'Worst first' is the sort key: "
        "AWS's enforcement status x 100 (Paused 4, Under review 3, other 2, Healthy 1), plus "
        "10 while sending is disabled, plus the worse of the bounce and complaint rates "
        "divided by the review threshold of the exporter exposing them (1 = under review; "
        "capped at 9.99). Click another column to sort by it. Rates are AWS's "
        "(Reputation.BounceRate / ComplaintRate); the thresholds are "
        "ses_exporter_reputation_threshold_ratio of the same exporter process. Data age: "
        "the oldest of the target's collectors. Empty cells: AWS or the exporter reports "
        "nothing (no rate before the first bounce; no enforcement status from the v1 API). "
        "The account links open the Account dashboard and Reputation metrics of the row.",
        sort_by="Worst first",
        overrides=[
            column("Account", links=per_target_links()),
            column("Account ID", links=per_target_links()),
            column("Worst first", decimals=2, width=90),
            column("Enforcement", words=words(ENFORCEMENT)),
            column("Sending", words=ENABLED),
            column(
                "Quota used",
                unit="percentunit",
                decimals=1,
                colours=thresholds((0.8, ORANGE), (0.95, RED)),
            ),
            column("Bounce rate", unit="percentunit", decimals=2),
            column("Bounce ÷ review", unit="percentunit", decimals=0, colours=VERSUS_COLOURS),
            column("Complaint rate", unit="percentunit", decimals=3),
            column("Complaint ÷ review", unit="percentunit", decimals=0, colours=VERSUS_COLOURS),
            column(
                "Data age", unit="s", decimals=0, colours=thresholds((900, ORANGE), (3600, RED))
            ),
            column("Collectors failing", decimals=0, colours=thresholds((1, RED))),
        ],
    )


def top_sets(title: str, expr: str, value: str, unit: str, description: str) -> Json:
    columns = {
        "account_id": "Account ID",
        "region": "Region",
        "configuration_set": "Configuration set",
        "Value #A": value,
    }
    return merged_table(
        title,
        columns,
        [table_query(f"topk({TOP}, {expr})", "A")],
        (12, 8),
        description + " The set's name opens its panes on Reputation metrics.",
        sort_by=value,
        overrides=[
            column("Configuration set", links=set_links()),
            column(value, unit=unit, decimals=2 if unit == "percentunit" else 0),
        ],
    )


def fleet_panels() -> list[Json]:
    sets_rate = "aws_ses_configuration_set_reputation_{}_ratio"
    sets_count = "aws_ses_configuration_set_{}_total"
    return [
        row("Accounts and regions"),
        stat(
            "Targets",
            f"count({TARGETS})",
            (4, 3),
            "Accounts x regions polled by the selected exporters (any collector).",
            unit="locale",
            decimals=0,
        ),
        count_stat(
            "Paused",
            f"{ENFORCEMENT_CODE} == 4",
            "Targets AWS has paused (EnforcementStatus SHUTDOWN).",
        ),
        count_stat(
            "Under review",
            f"{ENFORCEMENT_CODE} == 3",
            "Targets AWS has under review (EnforcementStatus PROBATION).",
        ),
        count_stat(
            "Sending disabled",
            f"{SENDING} == 0",
            "Targets whose account-level sending is disabled (GetAccount SendingEnabled).",
        ),
        count_stat(
            "Rates at review or above",
            f"{WORST_RATE} >= 1",
            "Targets whose bounce or complaint rate is at or above the review threshold of "
            "the exporter exposing it (AWS may not have acted yet).",
        ),
        count_stat(
            "Quota used ≥ 95 %",
            f"{latest('aws_ses_sending_quota_used_ratio')} >= 0.95",
            "Targets that sent 95 % or more of their daily sending quota in the last 24 h.",
        ),
        targets_table(),
        row("Configuration sets"),
        top_sets(
            "Top sets by bounce rate",
            f"max by ({BY_SET}) ({sets_rate.format('bounce')}{{{TARGET}}})",
            "Bounce rate",
            "percentunit",
            f"The {TOP} configuration sets with the highest bounce rate (CloudWatch "
            "Reputation.BounceRate, sets with reputation metrics enabled).",
        ),
        top_sets(
            "Top sets by complaint rate",
            f"max by ({BY_SET}) ({sets_rate.format('complaint')}{{{TARGET}}})",
            "Complaint rate",
            "percentunit",
            f"The {TOP} configuration sets with the highest complaint rate.",
        ),
        top_sets(
            "Top sets by bounces",
            over_range(sets_count.format("bounces"), by=BY_SET),
            "Bounces in the time range",
            "locale",
            f"The {TOP} configuration sets with the most hard bounces (CloudWatch Bounce) in "
            "the dashboard's time range: the volume behind a rate.",
        ),
        top_sets(
            "Top sets by complaints",
            over_range(sets_count.format("complaints"), by=BY_SET),
            "Complaints in the time range",
            "locale",
            f"The {TOP} configuration sets with the most complaints in the time range.",
        ),
        *exporter_panels(),
    ]


def fleet_dashboard() -> Json:
    return dashboard(
        "ses-fleet-overview",
        "SES / Fleet overview",
        "Every account and region of ses-exporter on one page, the worst first; links to the "
        "per-target dashboards.",
        fleet_panels(),
        templating=templating(all_accounts=True, console=False),
    )
