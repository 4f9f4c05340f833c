"""SES / Deliverability by mailbox provider: what Virtual Deliverability Manager (VDM)
counts per mailbox provider (ISP), against the account's own figures.

From the vdm collector (off by default): `aws_ses_vdm_isp_<event>_total{isp}` per provider
and `aws_ses_vdm_<event>_total` for the whole account (every provider, also those the
collector does not list). VDM answers one datapoint a day, so the charts count per day
(`increase(...[$__interval])` with a panel minimum interval of 1 d) and every rate is
that of a day: events / their base, absent on a day without a base (no NaN). The
SesVdmIsp* alerts and SesVdmDisabled link here.
"""

from __future__ import annotations

from typing import Any

from layout import dashboard, templating, variable
from panels import (
    AMBER,
    BY_TARGET,
    GREEN,
    LEGEND,
    ORANGE,
    RED,
    TARGET,
    Json,
    column,
    console_chart,
    exporter_panels,
    merged_table,
    over_range,
    per_step,
    query,
    row,
    stat,
    status_stat,
    table_query,
    thresholds,
)

ISP_TARGET = f'{TARGET}, isp=~"$isp"'
BY_ISP = f"{BY_TARGET}, isp"
DAILY = "1d"  # VDM's datapoints are daily: one point per day
ISP_LEGEND = "{{isp}} " + LEGEND
ACCOUNT_LEGEND = "Account " + LEGEND
CONSOLE_PAGE = ("vdm/dashboard", "SES console: Virtual Deliverability Manager")
NO_VDM = "No data from the exporter's vdm collector (off by default, failing or down)"
NO_VDM_DATA = (
    "No VDM data: the vdm collector is off, failing or down (see Exporter), VDM is off in "
    "the account (see VDM), or nothing was sent"
)

# Rate -> (events, base, what it is). The bases are VDM's: complaints count only where the
# provider has a feedback loop, opens and clicks only in tracked mail.
RATES = {
    "delivery": ("deliveries", "sends", "Deliveries / sends."),
    "permanent_bounce": (
        "permanent_bounces",
        "sends",
        "Permanent (hard) bounces / sends: addresses the provider does not know.",
    ),
    "transient_bounce": (
        "transient_bounces",
        "sends",
        "Transient (soft) bounces / sends: full mailboxes, throttling, other temporary failures.",
    ),
    "complaint": (
        "complaints",
        "feedback_loop_deliveries",
        "Complaints / deliveries to providers with a feedback loop (VDM's DELIVERY_COMPLAINT): "
        "a provider without one has no complaint rate.",
    ),
    "open": (
        "opens",
        "open_tracked_deliveries",
        "Unique opens / deliveries of mail with an open tracker (engagement metrics on).",
    ),
    "click": (
        "clicks",
        "click_tracked_deliveries",
        "Unique clicks / deliveries of mail with tracked links (engagement metrics on).",
    ),
}
ON_OFF = [(1, "On", GREEN), (0, "Off", ORANGE)]
# A provider's rate ÷ the account's: orange at twice (the alerts' default factor), red at 4x.
VERSUS_ACCOUNT = thresholds((1.5, AMBER), (2, ORANGE), (4, RED))


def family(stem: str, per_isp: bool = True) -> str:
    """The vdm collector's counter of one event: per ISP, or the account's."""
    return f"aws_ses_vdm_{'isp_' if per_isp else ''}{stem}_total"


def count(stem: str, per_isp: bool = True, *, in_range: bool = False) -> str:
    """Events per day (or over the time range), once per target whatever the replicas."""
    match, by = (ISP_TARGET, BY_ISP) if per_isp else (TARGET, BY_TARGET)
    counted = over_range if in_range else per_step
    return counted(family(stem, per_isp), match, by)


def rate(name: str, per_isp: bool = True, *, in_range: bool = False) -> str:
    """Events / base of the same day (or range); no value where the base is 0."""
    events, base, _ = RATES[name]
    counts = (count(stem, per_isp, in_range=in_range) for stem in (events, base))
    return "{} / ({} > 0)".format(*counts)


def versus_account(name: str) -> str:
    """A provider's rate over the time range / the account's: 2 = twice the account's; no
    value while the account's rate is 0 (no such event anywhere yet: 0 / 0 is no answer)."""
    isp, account = rate(name, in_range=True), rate(name, per_isp=False, in_range=True)
    return f"{isp} / ignoring (isp) group_left () (({account}) > 0)"


def vdm_chart(title: str, targets: list[Json], description: str, unit: str) -> Json:
    """A chart of one point per day, linked to the SES console's VDM dashboard."""
    return console_chart(
        title,
        targets,
        (12, 8),
        description,
        unit=unit,
        page=CONSOLE_PAGE[0],
        page_title=CONSOLE_PAGE[1],
        interval=DAILY,
        decimals=0 if unit == "locale" else 2,
        noValue=NO_VDM_DATA,
    )


def daily_chart(title: str, stems: dict[str, str], description: str) -> Json:
    """Events per day and provider; `stems` maps an event to its legend prefix."""
    targets = [
        query(count(stem), f"{prefix}{ISP_LEGEND}", ref=chr(ord("A") + i))
        for i, (stem, prefix) in enumerate(stems.items())
    ]
    return vdm_chart(
        title,
        targets,
        description + " Per day (VDM counts per day); the links open the SES console's "
        "Virtual Deliverability Manager dashboard of the series' region.",
        "locale",
    )


def rate_chart(name: str) -> Json:
    targets = [
        query(rate(name), ISP_LEGEND),
        query(rate(name, per_isp=False), ACCOUNT_LEGEND, ref="B"),
    ]
    return vdm_chart(
        name.replace("_", " ").capitalize() + " rate",
        targets,
        f"{RATES[name][2]} Per day, for each mailbox provider and for the whole account "
        "(every provider, also those the exporter does not list): a provider far from the "
        "account's line is where the problem is. No point on a day without a base.",
        "percentunit",
    )


def providers_table() -> Json:
    """One row per provider over the time range: (column, query, its override) each."""
    percent = {"unit": "percentunit", "decimals": 2}
    versus = {"unit": "suffix: x", "decimals": 2, "colours": VERSUS_ACCOUNT}
    shown: list[tuple[str, str, dict[str, Any]]] = [
        ("Sends", count("sends", in_range=True), {"unit": "locale", "decimals": 0}),
        ("Delivery rate", rate("delivery", in_range=True), percent),
        ("Permanent bounce rate", rate("permanent_bounce", in_range=True), percent),
        ("Permanent bounces ÷ account's", versus_account("permanent_bounce"), versus),
        ("Transient bounce rate", rate("transient_bounce", in_range=True), percent),
        ("Complaint rate", rate("complaint", in_range=True), percent),
        ("Complaints ÷ account's", versus_account("complaint"), versus),
        ("Open rate", rate("open", in_range=True), percent),
        ("Click rate", rate("click", in_range=True), percent),
    ]
    refs = [chr(ord("A") + i) for i in range(len(shown))]
    labels = {"account_id": "Account", "region": "Region", "isp": "Mailbox provider"}
    values = {f"Value #{ref}": title for ref, (title, _, _) in zip(refs, shown, strict=True)}
    return merged_table(
        "Mailbox providers",
        labels | values,
        [table_query(expr, ref) for ref, (_, expr, _) in zip(refs, shown, strict=True)],
        (24, 8),
        "Each mailbox provider of the selected accounts and regions over the dashboard's time "
        "range, sorted by its permanent bounce rate ÷ the account's (2 = twice the account's: "
        "where SesVdmIspPermanentBounceRateHigh fires by default; click a column to sort by "
        "another). Rates are events / their base over the range; empty where the base is 0.",
        sort_by="Permanent bounces ÷ account's",
        overrides=[column(title, **style) for title, _, style in shown],
    )


def vdm_panels() -> list[Json]:
    enabled = status_stat(
        "VDM",
        f"max by ({BY_TARGET}) (ses_exporter_vdm_enabled{{{TARGET}}})",
        ON_OFF,
        (8, 4),
        "Whether Virtual Deliverability Manager is on in the account and region (GetAccount "
        "VdmAttributes.VdmEnabled, ses_exporter_vdm_enabled). Off: the vdm collector reads "
        "nothing there (SesVdmDisabled). VDM costs $0.07 per 1,000 emails sent while on.",
        noValue=NO_VDM,
    )
    engagement = status_stat(
        "Engagement metrics",
        f"max by ({BY_TARGET}) (aws_ses_vdm_engagement_metrics_enabled{{{TARGET}}})",
        ON_OFF,
        (8, 4),
        "Whether VDM tracks opens and clicks (VdmAttributes.DashboardAttributes."
        "EngagementMetrics): without it the open and click counts stay 0.",
        noValue=NO_VDM,
    )
    sends = stat(
        "Sends in the time range",
        count("sends", per_isp=False, in_range=True),
        (8, 4),
        "Emails VDM counted as sent over the dashboard's time range, to every mailbox "
        "provider (aws_ses_vdm_sends_total), counted from where the exporter's history starts.",
        unit="locale",
        decimals=0,
        noValue=NO_VDM,
    )
    return [
        row("Virtual Deliverability Manager"),
        enabled,
        engagement,
        sends,
        providers_table(),
        row("Mailbox providers · $region", repeat="region"),
        daily_chart("Sends", {"sends": ""}, "Emails sent to each mailbox provider."),
        daily_chart("Deliveries", {"deliveries": ""}, "Emails each provider accepted."),
        daily_chart(
            "Bounces: permanent vs transient",
            {"permanent_bounces": "Permanent ", "transient_bounces": "Transient "},
            "Permanent (hard) bounces: the address does not exist; transient (soft): a full "
            "mailbox, throttling or another temporary failure.",
        ),
        daily_chart(
            "Complaints",
            {"complaints": ""},
            "Complaints through the provider's feedback loop (none from providers without one).",
        ),
        daily_chart(
            "Opens and clicks",
            {"opens": "Opens ", "clicks": "Clicks "},
            "Unique opens and clicks (VDM's engagement metrics must be on).",
        ),
        row("Rates against the account's · $region", repeat="region"),
        *(rate_chart(name) for name in RATES),
        *exporter_panels(),
    ]


def vdm_dashboard() -> Json:
    isps = variable(
        "isp",
        "Mailbox provider",
        f"label_values({family('sends')}{{{TARGET}}}, isp)",
        allValue=".*",
        description="Mailbox providers (ISPs) the vdm collector counts (collectors.vdm.isps).",
    )
    board = dashboard(
        "ses-deliverability",
        "SES / Deliverability by mailbox provider",
        "Virtual Deliverability Manager's daily counts and rates per mailbox provider against "
        "the account's, from ses-exporter's vdm collector.",
        vdm_panels(),
        templating=templating(isps),
    )
    # Daily points: two weeks by default (a day's range would show one point per series).
    return board | {"time": {"from": "now-14d", "to": "now"}}
