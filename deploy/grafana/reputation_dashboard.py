"""SES / Reputation metrics: what the SES console shows on its Reputation metrics page."""

from __future__ import annotations

from typing import Any

from layout import dashboard, templating, variable
from panels import (
    AMBER,
    BY_SET,
    BY_TARGET,
    ENABLED,
    ENFORCEMENT,
    GREEN,
    GREY,
    NO_BOUNCES,
    NO_CLOUDWATCH_DATA,
    NO_COMPLAINTS,
    NO_EXPORTER_DATA,
    NO_RATE_SERIES,
    NO_REPUTATION,
    ORANGE,
    RED,
    REPUTATION,
    SET_FAMILY,
    SET_TARGET,
    TARGET,
    VERSUS_COLOURS,
    Json,
    chart,
    column,
    exporter_panels,
    healthy_if_polled,
    history_since,
    latest,
    merged_table,
    none_published,
    over_range,
    query,
    rate_or_none_published,
    row,
    ses_console_links,
    stat,
    status_code,
    status_stat,
    table_query,
    threshold_lines,
    threshold_overrides,
    thresholds,
    versus_threshold,
    with_console,
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
            [query(ratio), *threshold_lines(kind, per_set)],
            (18, 8),
            f"CloudWatch Reputation.{name}Rate. The dashed lines are the under review and at "
            "risk thresholds of the configuration of the exporter exposing the rate "
            "(ses_exporter_reputation_threshold_ratio), drawn only while there is a rate.",
            unit="percentunit",
            cloudwatch=f"{kind}_ratio",
            start="-P14D",
            per_set=per_set,
            soft_max=round(pair.at_risk * 1.2, 6),
            decimals=2,
            noValue=NO_RATE_SERIES.format(kind=kind),
            overrides=threshold_overrides(),
        ),
    ]


def configuration_sets_table() -> Json:
    """Every set of the selected accounts and regions, the worst rate first."""
    columns = {
        "account_id": "Account",
        "region": "Region",
        "configuration_set": "Configuration set",
        "Value #F": "Worst rate ÷ review threshold",
        "Value #C": "Reputation status",
        "Value #D": "Bounce rate",
        "Value #E": "Complaint rate",
        "Value #G": "Sends in the time range",
        "Value #B": "Sending",
        "Value #A": "Reputation metrics",
    }
    overall = status_code(
        "aws_ses_configuration_set_reputation_status",
        f'rate="overall", {TARGET}',
        BY_SET,
        REPUTATION,
    )
    worst = (
        f"max by ({BY_SET}) ("
        f'label_replace({versus_threshold("bounce", TARGET, BY_SET)}, "rate", "bounce", "", "")'
        f' or label_replace({versus_threshold("complaint", TARGET, BY_SET)}, "rate", '
        '"complaint", "", ""))'
    )
    reputation = f"{SET_FAMILY}reputation_"
    set_link = {
        "title": "This set's panes",
        "url": "/d/ses-reputation-metrics/ses-reputation-metrics?${__url_time_range}"
        "&${datasource:queryparam}&${job:queryparam}&${cluster:queryparam}"
        "&var-account_id=${__data.fields.account_id}&var-region=${__data.fields.region}"
        "&var-configuration_set=${__data.fields.configuration_set}",
    }
    return merged_table(
        "Configuration sets",
        columns,
        [
            table_query(latest(f"{SET_FAMILY}reputation_metrics_enabled", by=BY_SET), "A"),
            table_query(latest(f"{SET_FAMILY}sending_enabled", by=BY_SET), "B"),
            table_query(overall, "C"),
            table_query(latest(f"{reputation}bounce_ratio", by=BY_SET), "D"),
            table_query(latest(f"{reputation}complaint_ratio", by=BY_SET), "E"),
            table_query(worst, "F"),
            table_query(over_range(f"{SET_FAMILY}sends_total", by=BY_SET), "G"),
        ],
        (24, 9),
        "Every configuration set of the selected accounts and regions (not only the sets "
        "selected above), the worst first: sorted by the worse of its bounce and complaint "
        "rates divided by the review threshold of the exporter exposing them (1 = under "
        "review; AWS's rates, the exporter's reputation_thresholds). Click a column to sort "
        "by it, e.g. by sends. Sends: CloudWatch Send over the time range. Reputation "
        "metrics exist only for sets with reputation metrics enabled; the others are listed "
        "as Disabled and have no rates. The set's name links to its panes.",
        sort_by="Worst rate ÷ review threshold",
        overrides=[
            column("Configuration set", links=[set_link]),
            column("Worst rate ÷ review threshold", unit="percentunit", colours=VERSUS_COLOURS),
            column("Reputation status", words=words(REPUTATION)),
            column("Bounce rate", unit="percentunit", decimals=2),
            column("Complaint rate", unit="percentunit", decimals=3),
            column("Sends in the time range", unit="locale", decimals=0),
            column("Sending", words=ENABLED),
            column("Reputation metrics", words=[(1, "Enabled", GREEN), (0, "Disabled", GREY)]),
        ],
    )


def reputation_panels() -> list[Json]:
    header, data_links = ses_console_links("reputation", "SES console: Reputation metrics")
    enforcement = with_console(
        status_code("aws_ses_account_enforcement_status", TARGET, BY_TARGET, ENFORCEMENT)
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
        *exporter_panels(),
        # The console's panes, in its order: Summary, the Account-level tab, the
        # Configuration set tab (here a table of every set, then the selected sets).
        row("Summary · $region", repeat="region"),
        status_stat(
            "Account status",
            enforcement,
            words(ENFORCEMENT),
            (6, 5),
            "What AWS says: the account's enforcement status (GetAccount EnforcementStatus, "
            "aws_ses_account_enforcement_status) in the console's words: HEALTHY = Healthy, "
            "PROBATION = Under review, SHUTDOWN = Paused. Not derived from the rates: an "
            "account can be under review with no rate published, or healthy above a "
            "threshold. The rate statuses below are derived, as the console derives them. The "
            "link opens the SES console's reputation page in the series' partition.",
            noValue="Not reported: GetAccount is denied (the v1 API has no enforcement "
            "status) or no data from the exporter",
            links=data_links,
        )
        | {"links": header},
        stat(
            "Bounce rate",
            rate_or_none_published("bounce"),
            (5, 5),
            "Newest CloudWatch Reputation.BounceRate datapoint; "
            f"'{NO_BOUNCES}' where the cloudwatch collector's last poll succeeded and AWS "
            f"published none, '{NO_CLOUDWATCH_DATA}' otherwise. "
            + DEFAULT_COLOURS.format(review=RATES.bounce.under_review, risk=RATES.bounce.at_risk),
            unit="percentunit",
            thresholds=bounce_colors,
            decimals=2,
            mappings=none_published(NO_BOUNCES),
            noValue=NO_CLOUDWATCH_DATA,
        ),
        stat(
            "Complaint rate",
            rate_or_none_published("complaint"),
            (5, 5),
            "Newest CloudWatch Reputation.ComplaintRate datapoint; "
            f"'{NO_COMPLAINTS}' where the cloudwatch collector's last poll succeeded and AWS "
            f"published none, '{NO_CLOUDWATCH_DATA}' otherwise. "
            + DEFAULT_COLOURS.format(
                review=RATES.complaint.under_review, risk=RATES.complaint.at_risk
            ),
            unit="percentunit",
            thresholds=complaint_colors,
            decimals=3,
            mappings=none_published(NO_COMPLAINTS),
            noValue=NO_CLOUDWATCH_DATA,
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
            over_range("aws_ses_sends_total"),
            (4, 5),
            SENT_IN_RANGE,
            unit="locale",
            decimals=0,
        ),
        history_since((24, 3)),
        row("Account-level · $region", repeat="region"),
        *rate_panes("bounce", per_set=False),
        *rate_panes("complaint", per_set=False),
        row("Configuration sets"),
        configuration_sets_table(),
        row("Configuration set · $configuration_set", repeat="configuration_set", collapsed=True),
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
        f"{{{TARGET}}} == 1))",
        regex='/configuration_set="([^"]+)"/',
        allValue=".*",
        description="Configuration sets with reputation metrics enabled: each selected set "
        "gets its own (collapsed) row; the Configuration sets table lists them all.",
    )
    return dashboard(
        "ses-reputation-metrics",
        "SES / Reputation metrics",
        "What the Amazon SES console shows on its Reputation metrics page, from ses-exporter.",
        reputation_panels(),
        templating=templating(sets),
    )
