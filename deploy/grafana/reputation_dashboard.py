"""SES / Reputation metrics: what the SES console shows on its Reputation metrics page."""

from __future__ import annotations

from typing import Any

from layout import dashboard, templating, variable
from panels import (
    AMBER,
    BY_SET,
    BY_TARGET,
    ENABLED,
    GREEN,
    GREY,
    NO_BOUNCES,
    NO_COMPLAINTS,
    NO_EXPORTER_DATA,
    NO_REPUTATION,
    ORANGE,
    RED,
    REPUTATION,
    SET_FAMILY,
    SET_TARGET,
    TARGET,
    Json,
    chart,
    healthy_if_polled,
    history_since,
    latest,
    query,
    row,
    stat,
    status_code,
    status_stat,
    table,
    table_query,
    threshold_lines,
    threshold_overrides,
    thresholds,
    value_mappings,
    words,
)

from ses_exporter.config import ReputationThresholds

# The stats' colours only: Grafana cannot take thresholds from a query without a
# transformation we cannot check here, so they use the defaults and say so. Status panels
# and the charts' dashed lines follow the configured thresholds (the exporter's metrics).
RATES = ReputationThresholds()
DEFAULT_COLOURS = (
    "Colours use AWS's levels, the exporter's default reputation_thresholds "
    "({review:.1%} under review, {risk:.1%} at risk; amber from 80 % of the review level), "
    "not your configured thresholds: the status panels and the charts' dashed lines "
    "follow those."
)
MESSAGES_SENT = (
    "The console's 'Messages sent' counts the representative volume AWS computed the rates "
    "from, which no API exposes. Shown instead: emails sent in the last 24 hours "
    "(GetAccount SendQuota.SentLast24Hours), the closest figure AWS publishes."
)
SENT_IN_RANGE = (
    "The console's 'Sent over period' counts the representative volume, which no API "
    "exposes. Shown instead: CloudWatch AWS/SES Send over the dashboard's time range (the "
    "period picked in the time picker), counted from where the history starts (the "
    "exporter's counters start at 0)."
)


def rate_colors(pair: Any) -> Json:
    """Amber from 80 % of the review threshold (x 4 / 5: exact in floating point for 5 %),
    orange at it, red at the at-risk threshold."""
    return thresholds(
        (pair.under_review * 4 / 5, AMBER), (pair.under_review, ORANGE), (pair.at_risk, RED)
    )


def rate_panes(kind: str, *, per_set: bool) -> list[Json]:
    """Status and historic rate of bounces or complaints, for the account or one set."""
    pair = getattr(RATES, kind)
    prefix = "aws_ses_configuration_set_" if per_set else "aws_ses_"
    match, by = (SET_TARGET, BY_SET) if per_set else (TARGET, BY_TARGET)
    ratio = f"max by ({by}) ({prefix}reputation_{kind}_ratio{{{match}}})"
    status = healthy_if_polled(
        status_code(f"{prefix}reputation_status", f'rate="{kind}", {match}', by, REPUTATION),
        per_set,
    )
    name = kind.capitalize()
    return [
        status_stat(
            f"{name} rate status",
            status,
            words(REPUTATION),
            (6, 8),
            "Healthy below the under review threshold, Under review from it, At risk from the "
            "at risk threshold: the exporter's reputation_thresholds "
            f'(ses_exporter_reputation_threshold_ratio{{rate="{kind}"}}). AWS publishes no '
            f"{name.lower()} rate before the first {kind}: then '{NO_REPUTATION}' where the "
            "exporter's last cloudwatch poll succeeded, else (exporter down, cloudwatch "
            f"collector off or failing) '{NO_EXPORTER_DATA}'.",
            noValue=NO_EXPORTER_DATA,
        ),
        chart(
            f"Historic {kind} rate",
            [query(ratio), *threshold_lines(kind)],
            (18, 8),
            f"CloudWatch Reputation.{name}Rate. The dashed lines are the under review and at "
            "risk thresholds of the exporter's configuration "
            "(ses_exporter_reputation_threshold_ratio).",
            unit="percentunit",
            cloudwatch=f"{kind}_ratio",
            start="-P14D",
            per_set=per_set,
            soft_max=round(pair.at_risk * 1.2, 6),
            decimals=2,
            noValue=NO_BOUNCES if kind == "bounce" else NO_COMPLAINTS,
            overrides=threshold_overrides(),
        ),
    ]


def configuration_sets_table() -> Json:
    columns = {
        "account_id": "Account",
        "region": "Region",
        "configuration_set": "Configuration set",
        "Value #A": "Reputation metrics",
        "Value #B": "Sending",
        "Value #C": "Reputation status",
    }
    cells = {
        "Reputation metrics": [(1, "Enabled", GREEN), (0, "Disabled", GREY)],
        "Sending": ENABLED,
        "Reputation status": words(REPUTATION),
    }
    overrides = [
        {
            "matcher": {"id": "byName", "options": column},
            "properties": [
                {"id": "mappings", "value": value_mappings(mapped)},
                {"id": "custom.cellOptions", "value": {"type": "color-text"}},
            ],
        }
        for column, mapped in cells.items()
    ]
    overall = status_code(
        "aws_ses_configuration_set_reputation_status",
        f'rate="overall", {TARGET}',
        BY_SET,
        REPUTATION,
    )
    return table(
        "Configuration sets",
        [
            table_query(latest(f"{SET_FAMILY}reputation_metrics_enabled", by=BY_SET), "A"),
            table_query(latest(f"{SET_FAMILY}sending_enabled", by=BY_SET), "B"),
            table_query(overall, "C"),
        ],
        (24, 7),
        "Every configuration set of the selected accounts and regions. Reputation metrics "
        "exist only for sets with reputation metrics enabled; the others are listed as "
        "Disabled and have no reputation status.",
        unit="none",
        overrides=overrides,
        transformations=[
            {"id": "merge", "options": {}},
            {
                "id": "organize",
                "options": {
                    "excludeByName": {"Time": True},
                    "indexByName": {name: i for i, name in enumerate(columns)},
                    "renameByName": columns,
                },
            },
        ],
    )


def reputation_panels() -> list[Json]:
    overall = healthy_if_polled(
        status_code("aws_ses_reputation_status", f'rate="overall", {TARGET}', BY_TARGET, REPUTATION)
    )
    set_overall = healthy_if_polled(
        status_code(
            "aws_ses_configuration_set_reputation_status",
            f'rate="overall", {SET_TARGET}',
            BY_SET,
            REPUTATION,
        ),
        per_set=True,
    )
    bounce_colors = rate_colors(RATES.bounce)
    complaint_colors = rate_colors(RATES.complaint)
    return [
        row("Region: $region", repeat="region"),
        status_stat(
            "Account status",
            overall,
            words(REPUTATION),
            (6, 5),
            "The worse of the bounce and complaint rate statuses (ses-exporter's "
            'aws_ses_reputation_status{rate="overall"}). AWS publishes no reputation metric '
            f"before the first bounce or complaint: then '{NO_REPUTATION}' where the "
            "exporter's last cloudwatch poll succeeded, else (exporter down, cloudwatch "
            f"collector off or failing) '{NO_EXPORTER_DATA}'.",
            noValue=NO_EXPORTER_DATA,
        ),
        stat(
            "Bounce rate",
            latest("aws_ses_reputation_bounce_ratio"),
            (5, 5),
            "Newest CloudWatch Reputation.BounceRate datapoint. "
            + DEFAULT_COLOURS.format(review=RATES.bounce.under_review, risk=RATES.bounce.at_risk),
            unit="percentunit",
            thresholds=bounce_colors,
            decimals=2,
            noValue=NO_BOUNCES,
        ),
        stat(
            "Complaint rate",
            latest("aws_ses_reputation_complaint_ratio"),
            (5, 5),
            "Newest CloudWatch Reputation.ComplaintRate datapoint. "
            + DEFAULT_COLOURS.format(
                review=RATES.complaint.under_review, risk=RATES.complaint.at_risk
            ),
            unit="percentunit",
            thresholds=complaint_colors,
            decimals=3,
            noValue=NO_COMPLAINTS,
        ),
        stat(
            "Messages sent (last 24 h)",
            latest("aws_ses_sent_last_24h"),
            (4, 5),
            MESSAGES_SENT,
            unit="locale",
            decimals=0,
        ),
        stat(
            "Sent in the time range",
            f"sum by ({BY_TARGET}) (increase(aws_ses_sends_total{{{TARGET}}}[$__range]))",
            (4, 5),
            SENT_IN_RANGE,
            unit="locale",
            decimals=0,
        ),
        history_since((24, 3)),
        *rate_panes("bounce", per_set=False),
        *rate_panes("complaint", per_set=False),
        row("Configuration sets"),
        configuration_sets_table(),
        row("Configuration set: $configuration_set", repeat="configuration_set"),
        status_stat(
            "Configuration set status",
            set_overall,
            words(REPUTATION),
            (24, 3),
            "The worse of the set's bounce and complaint rate statuses. AWS publishes none "
            f"before the set's first bounce or complaint: then '{NO_REPUTATION}' where the "
            "exporter's last cloudwatch poll succeeded, else (exporter down, cloudwatch "
            f"collector off or failing) '{NO_EXPORTER_DATA}'.",
            noValue=NO_EXPORTER_DATA,
        ),
        *rate_panes("bounce", per_set=True),
        *rate_panes("complaint", per_set=True),
    ]


def reputation_dashboard() -> Json:
    sets = variable(
        "configuration_set",
        "Configuration set",
        f"query_result(max by (configuration_set) ({SET_FAMILY}reputation_metrics_enabled"
        '{account_id=~"$account_id", region=~"$region"} == 1))',
        regex='/configuration_set="([^"]+)"/',
        description="Configuration sets with reputation metrics enabled; one at a time, as in "
        "the console.",
        multi=False,
        includeAll=False,
    )
    return dashboard(
        "ses-reputation-metrics",
        "SES / Reputation metrics",
        "What the Amazon SES console shows on its Reputation metrics page, from ses-exporter.",
        reputation_panels(),
        templating=templating(sets),
    )
