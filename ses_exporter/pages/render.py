"""The pages as HTML: the fleet view, the target view and the not-found page.

Every value that comes from configuration or AWS (account names, configuration set
names, error messages, labels) goes through ``escape`` (quotes included), in text and in
attributes alike; URLs built from them are percent-encoded first. Links are relative, so
the pages work behind a reverse proxy that adds a path prefix. No script, no inline style:
the stylesheet is ``static/pages.css``, served by the exporter (see ``style``).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from html import escape
from urllib.parse import quote, urlencode

from ..config_types import ReputationThresholds
from .charts import chart_table, line_chart
from .links import cloudwatch_url, ses_console_url
from .model import (
    DAYS,
    HEALTH,
    PAGE_SIZE,
    REPUTATION,
    SERIES,
    UNKNOWN_REPUTATION,
    Account,
    FleetPage,
    FleetRow,
    Source,
    TargetView,
    hourly_points,
)

NONE = '<span class="muted">&#8212;</span>'  # an em dash: AWS gave no value
NO_ERRORS = '<span class="muted">None</span>'
CURRENT = ' aria-current="page"'
ERROR_CHARS = 300  # of each collector error in the fleet view (the target view shows all)
# The console's chart titles and the AWS/SES metric "View in CloudWatch" opens, per series.
CHARTS: dict[str, tuple[str, str]] = {
    "sends": ("Sends", "Send"),
    "rejects": ("Rejects", "Reject"),
    "bounces": ("Bounces", "Bounce"),
    "complaints": ("Complaints", "Complaint"),
}
HEALTH_CLASS = {"HEALTHY": "healthy", "PROBATION": "review", "SHUTDOWN": "paused"}


def e(value: object) -> str:
    return escape(str(value), quote=True)


def page(title: str, body: str, root: str, version: str) -> str:
    """A whole page; ``root`` is the relative path back to the exporter's ``/``."""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{e(title)}</title>"
        f'<link rel="stylesheet" href="{root}static/pages.css"></head>\n<body>'
        f'<header class="top"><strong>SES Exporter</strong>'
        f'<a href="{root or "./"}">Fleet</a><a href="{root}status">Diagnostics</a>'
        f'<span class="muted">version {e(version)}</span></header>\n'
        f"<main>{body}</main></body></html>\n"
    )


# --- values ------------------------------------------------------------------------------


def count(value: float | None) -> str:
    if value is None or math.isnan(value):
        return NONE
    if math.isinf(value):
        return "Unlimited"
    return f"{value:,.0f}"


def percent(ratio: float | None, digits: int = 2) -> str:
    if ratio is None or math.isnan(ratio):
        return NONE
    return f"{ratio * 100:.{digits}f} %"


def rate(value: float | None, unit: str = "/s") -> str:
    return NONE if value is None or math.isnan(value) else f"{value:,.6g}{unit}"


def word(text: str, css: str) -> str:
    return f'<span class="status {css}">{e(text)}</span>'


def health_word(row: FleetRow) -> str:
    text, _ = row.health
    return word(text, HEALTH_CLASS.get(row.account.enforcement or "", "unknown"))


def reputation_word(status: str | None) -> str:
    text = (REPUTATION.get(status) or UNKNOWN_REPUTATION)[0] if status else "Unknown"
    return word(text, status or "unknown")


def switch(value: bool | None, on: str, off: str) -> str:
    if value is None:
        return word("Unknown", "unknown")
    return word(on, "enabled") if value else word(off, "disabled")


def production(value: bool | None) -> str:
    if value is None:
        return word("Unknown", "unknown")
    return word("Production", "enabled") if value else word("Sandbox", "review")


def used_bar(account: Account) -> str:
    ratio = account.used_ratio
    if ratio is None or math.isnan(ratio):
        return NONE
    width = min(max(ratio, 0.0), 1.0) * 100
    high = " high" if ratio >= 0.9 else ""
    return (
        '<svg class="bar" viewBox="0 0 100 10" aria-hidden="true">'
        '<rect class="track" width="100" height="10"/>'
        f'<rect class="fill{high}" width="{width:.1f}" height="10"/></svg>'
        f"{percent(ratio, 1)}"
    )


def age(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    for size, unit in ((86_400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit}"
    return f"{seconds:.0f} s"


def utc(timestamp: float | None) -> str:
    if timestamp is None or not math.isfinite(timestamp):
        return NONE
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M UTC")


def target_href(row: FleetRow) -> str:
    return f"targets/{quote(row.account_id, safe='')}/{quote(row.region, safe='')}"


def rate_cell(ratio: float | None, status: str | None) -> str:
    if ratio is None or math.isnan(ratio):
        return NONE
    return f"{percent(ratio)} {reputation_word(status)}"


# --- the fleet view -----------------------------------------------------------------------


def fleet_page(fleet: FleetPage, source: Source) -> str:
    thresholds = source.thresholds
    f = fleet.filters
    regions = "".join(
        f'<option value="{e(r)}"{" selected" if r == f.region else ""}>{e(r)}</option>'
        for r in fleet.regions
    )
    health = "".join(
        f'<option value="{k}"{" selected" if k == f.health else ""}>{e(text)}</option>'
        for k, (text, _) in HEALTH.items()
    )
    reputation = "".join(
        f'<option value="{k}"{" selected" if k == f.reputation else ""}>{e(text)}</option>'
        for k, (text, _) in REPUTATION.items()
    )
    form = (
        '<form id="filters" method="get" action="./">'
        '<label>Account (id or name)<input type="search" name="q" '
        f'value="{e(f.q)}" maxlength="200"></label>'
        '<label>Region<select name="region"><option value="">All</option>'
        f"{regions}</select></label>"
        '<label>Account health<select name="health"><option value="">All</option>'
        f"{health}</select></label>"
        '<label>Reputation<select name="reputation"><option value="">All</option>'
        f"{reputation}</select></label>"
        '<button type="submit">Filter</button><a href="./">Clear</a></form>'
    )
    first = (fleet.page - 1) * PAGE_SIZE + 1 if fleet.rows else 0
    last = first + len(fleet.rows) - 1 if fleet.rows else 0
    summary = (
        f'<p id="fleet-count">{fleet.matching:,} of {fleet.total:,} targets match; '
        f"showing {first:,}&#8211;{last:,}, page {fleet.page} of {fleet.pages}. "
        "Worst first: account health, then reputation, collector errors, quota used.</p>"
    )
    b, c = thresholds.bounce, thresholds.complaint
    head = (
        "<thead><tr>"
        '<th scope="col">Account</th><th scope="col">Region</th>'
        '<th scope="col">Account health</th><th scope="col">Sending</th>'
        '<th scope="col">Access</th><th scope="col" class="num">Daily quota</th>'
        '<th scope="col" class="num">Sent (24 h)</th><th scope="col">Quota used</th>'
        '<th scope="col" class="num">Max send rate</th>'
        f'<th scope="col">Bounce rate<span class="id">review {percent(b.under_review)}, '
        f"at risk {percent(b.at_risk)}</span></th>"
        f'<th scope="col">Complaint rate<span class="id">review {percent(c.under_review)}, '
        f"at risk {percent(c.at_risk)}</span></th>"
        '<th scope="col">Reputation</th><th scope="col">Data age</th>'
        '<th scope="col">Collector errors</th></tr></thead>'
    )
    rows = "".join(_fleet_row(row, source.now) for row in fleet.rows)
    table = f'<div class="scroll"><table id="fleet">{head}<tbody>{rows}</tbody></table></div>'
    if not fleet.rows:
        table += "<p>No target matches.</p>" if fleet.total else "<p>No targets configured.</p>"
    body = (
        "<h1>Every account and region</h1>"
        '<p class="note">What the exporter read at its last polls, worst first; '
        "for history beyond the last 14 days, use Prometheus.</p>"
        f"{form}{summary}{table}{_pager(fleet)}"
    )
    return page("SES Exporter: fleet", body, "", source.version)


def _fleet_row(row: FleetRow, now: float) -> str:
    a = row.account
    name = e(row.name)
    ident = f'<span class="id">{e(row.account_id)}</span>' if row.name != row.account_id else ""
    errors = "".join(
        f"<div><strong>{e(c.collector)}</strong>: {e(_cut(c.error or 'failed'))}</div>"
        for c in row.errors
    )
    css = HEALTH_CLASS.get(a.enforcement or "", "unknown")
    cells = (
        f'<td data-col="account" class="account"><a href="{e(target_href(row))}">{name}</a>'
        f"{ident}</td>",
        f'<td data-col="region">{e(row.region)}</td>',
        f'<td data-col="health">{health_word(row)}</td>',
        f'<td data-col="sending">{switch(a.sending, "Enabled", "Disabled")}</td>',
        f'<td data-col="production">{production(a.production)}</td>',
        f'<td data-col="quota" class="num">{count(a.quota)}</td>',
        f'<td data-col="sent" class="num">{count(a.sent)}</td>',
        f'<td data-col="quota-used">{used_bar(a)}</td>',
        f'<td data-col="max-rate" class="num">{rate(a.max_rate)}</td>',
        f'<td data-col="bounce-rate">{rate_cell(a.bounce, row.bounce_status)}</td>',
        f'<td data-col="complaint-rate">{rate_cell(a.complaint, row.complaint_status)}</td>',
        f'<td data-col="reputation">{reputation_word(row.reputation)}</td>',
        f'<td data-col="age">{age(row.age(now))}</td>',
        f'<td data-col="errors" class="errors">{errors or NO_ERRORS}</td>',
    )
    return (
        f'<tr class="target {css}" data-account-id="{e(row.account_id)}" '
        f'data-region="{e(row.region)}">{"".join(cells)}</tr>'
    )


def _cut(text: str) -> str:
    return text if len(text) <= ERROR_CHARS else text[: ERROR_CHARS - 1] + "\u2026"


def _pager(fleet: FleetPage) -> str:
    if fleet.pages <= 1:
        return ""
    f = fleet.filters
    params = {"q": f.q, "region": f.region, "health": f.health, "reputation": f.reputation}
    kept = {k: v for k, v in params.items() if v}

    def href(number: int) -> str:
        return "./?" + urlencode({**kept, "page": number})

    links = []
    if fleet.page > 1:
        links.append(f'<a rel="prev" href="{e(href(fleet.page - 1))}">Previous page</a>')
    links.append(f"<span>Page {fleet.page} of {fleet.pages}</span>")
    if fleet.page < fleet.pages:
        links.append(f'<a rel="next" href="{e(href(fleet.page + 1))}">Next page</a>')
    return f'<nav class="pages" aria-label="Pages">{"".join(links)}</nav>'


# --- the target view ----------------------------------------------------------------------


def _fields(*pairs: tuple[str, str, str]) -> str:
    """(data-field, label, HTML value) -> a definition list."""
    items = "".join(
        f'<dt>{e(label)}</dt><dd data-field="{field}">{value}</dd>' for field, label, value in pairs
    )
    return f'<dl class="fields">{items}</dl>'


def _section(ident: str, title: str, content: str) -> str:
    return (
        f'<section id="{ident}" aria-labelledby="{ident}-h">'
        f'<h2 id="{ident}-h">{title}</h2>{content}</section>'
    )


def target_page(view: TargetView, source: Source) -> str:
    row, a = view.row, view.row.account
    region = row.region
    thresholds = source.thresholds
    name = row.name if row.name == row.account_id else f"{row.name} ({row.account_id})"
    heading = (
        f"<h1>{e(name)} &#8212; {e(region)}</h1>"
        '<p><a href="../../">&#8592; Every account and region</a> &#183; '
        f'<a id="aws-console" href="{e(ses_console_url(region))}" rel="noreferrer">'
        "Open in the SES console (Account dashboard)</a></p>"
    )
    limits = _fields(
        ("daily-sending-quota", "Daily sending quota", count(a.quota)),
        ("max-send-rate", "Maximum send rate", rate(a.max_rate, " emails per second")),
    )
    info = view.info
    review = info.get("production_access_review_status") or ""
    health = _fields(
        ("health", "Account health", health_word(row)),
        ("sending", "Sending", switch(a.sending, "Enabled", "Disabled")),
        ("production", "Production access", production(a.production)),
        ("production-review", "Production access request", e(review.title()) if review else NONE),
        ("mail-type", "Mail type", e((info.get("mail_type") or "").title()) or NONE),
    )
    usage = _fields(
        ("sent-24h", "Emails sent (last 24 hours)", count(a.sent)),
        ("remaining", "Remaining sends", count(a.remaining)),
        ("quota-used", "Quota used", used_bar(a)),
    )
    smtp = view.smtp
    smtp_fields = _fields(
        (
            "smtp-endpoint",
            "SMTP endpoint",
            # A line may break after a dot of the host name, never inside a label.
            e(smtp["endpoint"]).replace(".", ".<wbr>") if "endpoint" in smtp else NONE,
        ),
        ("starttls-ports", "STARTTLS ports", _ports(smtp.get("starttls_ports"))),
        ("tls-wrapper-ports", "TLS wrapper ports", _ports(smtp.get("tls_wrapper_ports"))),
        ("tls", "Transport Layer Security (TLS)", "Required"),
    )
    panes = (
        '<div class="panes">'
        + _section("sending-limits", "Sending limits", limits)
        + _section("account-health", "Account health", health)
        + _section("daily-email-usage", "Daily email usage", usage)
        + _section("smtp-settings", "SMTP settings", smtp_fields)
        + "</div>"
    )
    body = (
        heading
        + panes
        + _section("sending-statistics", "Sending statistics", _statistics(view, source))
        + _section("reputation-metrics", "Reputation metrics", _reputation(view, thresholds))
        + _collectors(view, source.now)
    )
    return page(f"SES Exporter: {name}, {region}", body, "../../", source.version)


def _ports(value: str | None) -> str:
    return e(value.replace(",", ", ")) if value else NONE


def _statistics(view: TargetView, source: Source) -> str:
    region, days = view.row.region, view.days
    ranges = "".join(
        f'<a class="range" data-days="{d}" href="?days={d}&amp;sort={e(view.sort)}"'
        f"{CURRENT if d == days else ''}>"
        f"{d} day{'s' if d > 1 else ''}</a>"
        for d in DAYS
    )
    if view.hourly is None:
        note = "No answer from GetSendStatistics yet (or the send_statistics collector is off)."
        return f'<nav class="ranges" aria-label="Time range">{ranges}</nav><p>{note}</p>'
    charts = []
    for series in SERIES:
        title, metric = CHARTS[series]
        points = hourly_points(view.hourly, series, days, source.now)
        link = cloudwatch_url(region, metric, "Sum", days)
        charts.append(
            f"<figure><figcaption><span>{title}</span>"
            f'<a class="cloudwatch" href="{e(link)}" rel="noreferrer">View in CloudWatch</a>'
            f"</figcaption>{line_chart(series, title, points, days)}"
            f"{chart_table(series, title, points)}</figure>"
        )
    return (
        f'<nav class="ranges" aria-label="Time range">{ranges}</nav>'
        '<p class="note">Per hour (UTC), summed from the 15-minute buckets of SES '
        "GetSendStatistics at the last poll; SES keeps 14 days.</p>"
        f'<div class="charts">{"".join(charts)}</div>'
    )


def _reputation(view: TargetView, thresholds: ReputationThresholds) -> str:
    row, a, region = view.row, view.row.account, view.row.region
    b, c = thresholds.bounce, thresholds.complaint

    def level(ratio: float | None, status: str | None, pair_text: str) -> str:
        return f'{rate_cell(ratio, status)} <span class="muted">({pair_text})</span>'

    bounce_levels = f"under review at {percent(b.under_review)}, at risk at {percent(b.at_risk)}"
    complaint_levels = f"under review at {percent(c.under_review)}, at risk at {percent(c.at_risk)}"
    updated = max(view.reputation_updated.values(), default=None)
    fields = _fields(
        ("reputation-status", "Reputation status", reputation_word(row.reputation)),
        ("bounce-rate", "Bounce rate", level(a.bounce, row.bounce_status, bounce_levels)),
        (
            "complaint-rate",
            "Complaint rate",
            level(a.complaint, row.complaint_status, complaint_levels),
        ),
        ("reputation-updated", "Newest datapoint", utc(updated)),
    )
    links = (
        f'<p><a class="cloudwatch" data-metric="Reputation.BounceRate" href="'
        f'{e(cloudwatch_url(region, "Reputation.BounceRate", "Average", view.days))}" '
        'rel="noreferrer">View bounce rate in CloudWatch</a> &#183; '
        f'<a class="cloudwatch" data-metric="Reputation.ComplaintRate" href="'
        f'{e(cloudwatch_url(region, "Reputation.ComplaintRate", "Average", view.days))}" '
        'rel="noreferrer">View complaint rate in CloudWatch</a> &#183; '
        f'<a id="aws-console-reputation" href="{e(ses_console_url(region, "reputation"))}" '
        'rel="noreferrer">Open in the SES console (Reputation metrics)</a></p>'
    )
    return fields + links + _sets_table(view)


SET_COLUMNS = (  # (sort key or "", header)
    ("name", "Configuration set"),
    ("sending", "Sending"),
    ("", "Reputation metrics"),
    ("bounce-rate", "Bounce rate"),
    ("complaint-rate", "Complaint rate"),
    ("status", "Reputation status"),
    ("", "Last fresh start"),
)


def _sets_table(view: TargetView) -> str:
    heads = []
    for key, title in SET_COLUMNS:
        if not key:
            heads.append(f'<th scope="col">{title}</th>')
        elif key == view.sort:
            heads.append(f'<th scope="col" aria-sort="{_aria_sort(key)}">{title} &#9660;</th>')
        else:
            href = f"?days={view.days}&amp;sort={key}#configuration-sets"
            heads.append(f'<th scope="col"><a data-sort="{key}" href="{href}">{title}</a></th>')
    rows = "".join(
        f'<tr data-configuration-set="{e(s.name)}">'
        f'<td data-col="name">{e(s.name)}</td>'
        f'<td data-col="sending">{switch(s.sending, "Enabled", "Disabled")}</td>'
        f'<td data-col="reputation-metrics">'
        f"{switch(s.reputation_metrics, 'Enabled', 'Disabled')}</td>"
        f'<td data-col="bounce-rate">{rate_cell(s.bounce, s.bounce_status)}</td>'
        f'<td data-col="complaint-rate">{rate_cell(s.complaint, s.complaint_status)}</td>'
        f'<td data-col="status">{reputation_word(s.status)}</td>'
        f'<td data-col="last-fresh-start">{utc(s.last_fresh_start)}</td></tr>'
        for s in view.configuration_sets
    )
    count_text = (
        f"{view.configuration_set_count:,.0f} configuration sets pass the filter."
        if view.configuration_set_count is not None
        else ""
    )
    empty = "" if view.configuration_sets else "<p>No configuration set read yet.</p>"
    return (
        f'<h3>Configuration sets</h3><p class="note">{count_text} Rates and status per set '
        "from CloudWatch (only sets with reputation metrics enabled have rates).</p>"
        f'<table id="configuration-sets"><thead><tr>{"".join(heads)}</tr></thead>'
        f"<tbody>{rows}</tbody></table>{empty}"
    )


def _aria_sort(key: str) -> str:
    return "ascending" if key in ("name", "sending") else "descending"


def _collectors(view: TargetView, now: float) -> str:
    rows = "".join(
        f'<tr data-collector="{e(c.collector)}"><td>{e(c.collector)}</td>'
        f"<td>{_poll(c.success)}</td><td>{utc(c.last_success)}</td>"
        f"<td>{age(None if c.last_success is None else max(now - c.last_success, 0))}</td>"
        f'<td class="errors">{e(c.error or "")}</td></tr>'
        for c in view.row.collectors
    )
    return (
        '<section id="collectors"><h2>Collectors</h2><table><thead><tr><th>Collector</th>'
        "<th>Last poll</th><th>Last success</th><th>Age</th><th>Last error</th></tr></thead>"
        f"<tbody>{rows}</tbody></table></section>"
    )


def _poll(success: bool | None) -> str:
    if success is None:
        return word("Pending", "pending")
    return word("Succeeded", "ok") if success else word("Failed", "failed")


def not_found(what: str, root: str, version: str) -> str:
    body = (
        f"<h1>Not found</h1><p>{e(what)}</p>"
        f'<p><a href="{root or "./"}">Every account and region</a></p>'
    )
    return page("SES Exporter: not found", body, root, version)
