"""Generate the two Grafana dashboards of ses-exporter: dashboards are code.

    python3 deploy/grafana/generate.py          # rewrite dashboards/*.json
    python3 deploy/grafana/generate.py --check  # exit 1 if the committed JSON is stale

The JSON follows the dashboard schema of Grafana 11 (schemaVersion 39; validated in
tests/test_dashboards.py against the schema of @grafana/schema 11.6.9). Every query goes
through the `datasource` variable (no `${DS_...}` import placeholders, so file provisioning
works) and selects `account_id=~"$account_id", region=~"$region"`.

"View in CloudWatch" links open the CloudWatch console's metric graph (`#metricsV2:graph=`,
CloudWatch's own URL encoding: `~(` opens a list, `~'` starts a string, `*2f` is `/`) for the
same AWS/SES metric, statistic and period in the panel's region. A header link can only
name one region, so charts sit in rows repeated per region (or per configuration set) and
every series also carries a data link built from its own `region` label.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ses_exporter.config import ReputationThresholds

Json = dict[str, Any]

HERE = Path(__file__).resolve().parent
OUT_DIR = HERE / "dashboards"
SCHEMA_VERSION = 39  # Grafana 11.0

DATASOURCE: Json = {"type": "prometheus", "uid": "${datasource}"}
TARGET = 'account_id=~"$account_id", region=~"$region"'
SET_TARGET = f'{TARGET}, configuration_set=~"$configuration_set"'
BY_TARGET = "account_id, region"
BY_SET = "account_id, region, configuration_set"
SET_FAMILY = "aws_ses_configuration_set_"
LEGEND = "{{account_id}} {{region}}"
TAGS = ["aws", "ses", "ses-exporter"]

# The SES console's time options for sending statistics.
QUICK_RANGES = [("Last 1 day", "now-1d"), ("Last 3 days", "now-3d")]
QUICK_RANGES += [("Last 7 days", "now-7d"), ("Last 14 days", "now-14d")]

GREEN, ORANGE, RED, BLUE, GREY = "green", "orange", "red", "blue", "text"
ENFORCEMENT = [  # (code, matcher, console word, colour)
    (1, 'status="HEALTHY"', "Healthy", GREEN),
    (2, 'status="PROBATION"', "Under review", ORANGE),
    (3, 'status="SHUTDOWN"', "Paused", RED),
    (4, 'status!~"HEALTHY|PROBATION|SHUTDOWN"', "Other (see the SES console)", GREY),
]
ENABLED = [(1, "Enabled", GREEN), (0, "Disabled", RED)]
REPUTATION = [
    (1, 'status="healthy"', "Healthy", GREEN),
    (2, 'status="under_review"', "Under review", ORANGE),
    (3, 'status="at_risk"', "At risk", RED),
]

# Prometheus family -> (CloudWatch metric in AWS/SES, statistic) for "View in CloudWatch".
CLOUDWATCH = {
    "sends": ("Send", "Sum"),
    "rejects": ("Reject", "Sum"),
    "bounce_ratio": ("Reputation.BounceRate", "Average"),
    "complaint_ratio": ("Reputation.ComplaintRate", "Average"),
}


# ---------------------------------------------------------------- building blocks


def query(expr: str, legend: str = LEGEND, *, ref: str = "A", instant: bool = False) -> Json:
    """A Prometheus query; stats and tables ask for the newest value only (instant)."""
    target: Json = {"datasource": DATASOURCE, "editorMode": "code", "expr": expr}
    return target | {"instant": instant, "legendFormat": legend, "range": not instant, "refId": ref}


def table_query(expr: str, ref: str = "A") -> Json:
    return query(expr, "", ref=ref, instant=True) | {"format": "table"}


def value_mappings(words: list[tuple[int, str, str]]) -> list[Json]:
    """Numbers to the console's words and colours."""
    options = {str(v): {"color": c, "index": i, "text": t} for i, (v, t, c) in enumerate(words)}
    return [{"options": options, "type": "value"}]


def words(states: list[tuple[int, str, str, str]]) -> list[tuple[int, str, str]]:
    return [(code, text, color) for code, _, text, color in states]


UNLIMITED = [{"options": {"Infinity": {"index": 0, "text": "Unlimited"}}, "type": "value"}]


def thresholds(*steps: tuple[float, str], base: str = GREEN) -> Json:
    return {
        "mode": "absolute",
        "steps": [{"color": base, "value": None}, *({"color": c, "value": v} for v, c in steps)],
    }


def status_code(metric: str, match: str, by: str, states: list[tuple[int, str, str, str]]) -> str:
    """One number per target for the state series that is 1: value mappings give the words."""
    coded = []
    for code, matcher, _, _ in states:
        series = f"{metric}{{{matcher}, {match}}} == 1"
        coded.append(f"({series})" if code == 1 else f"{code} * ({series})")
    return f"max by ({by}) ({' or '.join(coded)})"


def panel(kind: str, title: str, size: tuple[int, int], description: str, **fields: Any) -> Json:
    w, h = size
    out: Json = {"type": kind, "title": title, "description": description}
    if kind != "text":
        out["datasource"] = DATASOURCE
    out["gridPos"] = {"h": h, "w": w, "x": 0, "y": 0}  # x and y are set by layout()
    return out | fields


def field_config(unit: str, color: str = "thresholds", **defaults: Any) -> Json:
    """Field defaults; None values are left out."""
    base: Json = {
        "color": {"mode": color},
        "mappings": [],
        "thresholds": thresholds(),
        "unit": unit,
    }
    return {
        "defaults": base | {k: v for k, v in defaults.items() if v is not None},
        "overrides": [],
    }


def stat(
    title: str,
    expr: str,
    size: tuple[int, int],
    description: str,
    *,
    unit: str,
    background: bool = False,
    **defaults: Any,
) -> Json:
    options = {
        "colorMode": "background" if background else "value",
        "graphMode": "none",
        "justifyMode": "auto",
        "orientation": "auto",
        "percentChangeColorMode": "standard",
        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        "showPercentChange": False,
        "textMode": "auto",
        "wideLayout": True,
    }
    fields = {"fieldConfig": field_config(unit, **defaults), "options": options}
    return panel("stat", title, size, description, **fields, targets=[query(expr, instant=True)])


def status_stat(
    title: str, expr: str, states: list[tuple[int, str, str]], size: tuple[int, int], desc: str
) -> Json:
    """A state shown in the console's words (unit none: the number is only a code)."""
    mappings = value_mappings(states)
    return stat(title, expr, size, desc, unit="none", background=True, mappings=mappings)


def cloudwatch_url(family: str, region: str, start: str, dimension: str | None = None) -> str:
    metric, statistic = CLOUDWATCH[family]
    dims = f"~'ses*3aconfiguration-set~'{dimension}" if dimension else ""
    graph = (
        f"~(metrics~(~(~'AWS*2fSES~'{metric}{dims}))~view~'timeSeries~stacked~false"
        f"~region~'{region}~stat~'{statistic}~period~3600~start~'{start}~end~'P0D)"
    )
    return (
        f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
        f"#metricsV2:graph={graph};query=~'*7bAWS*2fSES*7d"
    )


def link(title: str, url: str, tooltip: str = "") -> Json:
    return {
        "asDropdown": False,
        "icon": "external link",
        "includeVars": False,
        "keepTime": False,
        "tags": [],
        "targetBlank": True,
        "title": title,
        "tooltip": tooltip,
        "type": "link",
        "url": url,
    }


def chart(
    title: str,
    targets: list[Json],
    size: tuple[int, int],
    description: str,
    *,
    unit: str,
    cloudwatch: str,
    start: str = "-P1D",
    per_set: bool = False,
    soft_max: float | None = None,
    interval: str | None = None,
    **defaults: Any,
) -> Json:
    """A time series with a "View in CloudWatch" header link and the same link per series."""
    here = cloudwatch_url(
        cloudwatch, "${region}", start, "${configuration_set}" if per_set else None
    )
    series_set = "${__field.labels.configuration_set}" if per_set else None
    series = cloudwatch_url(cloudwatch, "${__field.labels.region}", start, series_set)
    tooltip = f"AWS/SES {CLOUDWATCH[cloudwatch][0]} in the CloudWatch console of ${{region}}"
    data_link = {"targetBlank": True, "title": "View in CloudWatch (${__field.labels.region})"}
    custom = {
        "axisSoftMin": 0,
        "drawStyle": "line",
        "fillOpacity": 10,
        "lineWidth": 2,
        "showPoints": "auto",
        "spanNulls": False,
        "thresholdsStyle": {"mode": "dashed" if defaults.get("thresholds") else "off"},
    }
    if soft_max is not None:
        custom["axisSoftMax"] = soft_max
    links = [data_link | {"url": series}]
    fc = field_config(unit, "palette-classic", custom=custom, links=links, **defaults)
    legend = {"calcs": ["lastNotNull", "max"], "displayMode": "table", "placement": "bottom"}
    options = {
        "legend": legend | {"showLegend": True},
        "tooltip": {"mode": "multi", "sort": "desc"},
    }
    fields = {"fieldConfig": fc, "links": [link("View in CloudWatch", here, tooltip)]}
    fields |= {"options": options, "targets": targets}
    if interval:
        fields["interval"] = interval  # Grafana's minimum step: one point per hour
    return panel("timeseries", title, size, description, **fields)


def table(
    title: str, targets: list[Json], size: tuple[int, int], description: str, **kw: Any
) -> Json:
    custom = {"align": "auto", "cellOptions": {"type": "auto"}, "inspect": False}
    fc = field_config(kw.pop("unit"), custom=custom)
    fc["overrides"] = kw.pop("overrides", [])
    options = {"cellHeight": "sm", "frameIndex": 0, "showHeader": True}
    fields = {"fieldConfig": fc, "options": options, "targets": targets, **kw}
    return panel("table", title, size, description, **fields)


def text(title: str, content: str, size: tuple[int, int], description: str) -> Json:
    return panel("text", title, size, description, options={"content": content, "mode": "markdown"})


def row(title: str, repeat: str | None = None) -> Json:
    out: Json = {"type": "row", "title": title, "collapsed": False, "gridPos": {"h": 1, "w": 24}}
    out["panels"] = []
    if repeat:
        out["repeat"] = repeat
    return out


def layout(panels: list[Json]) -> list[Json]:
    """Number the panels and place them left to right, 24 columns wide; a row starts a line."""
    placed = []
    x = y = line_height = 0
    for number, p in enumerate(panels, start=1):
        pos = p["gridPos"]
        if p["type"] == "row" or x + pos["w"] > 24:
            x, y, line_height = 0, y + line_height, 0
        pos["x"], pos["y"] = x, y
        x, line_height = x + pos["w"], max(line_height, pos["h"])
        if p["type"] == "row":
            x, y, line_height = 0, y + 1, 0
        placed.append({"id": number, **p})
    return placed


def variable(name: str, label: str, definition: str, **kw: Any) -> Json:
    out: Json = {"datasource": DATASOURCE, "hide": 0, "includeAll": True, "label": label}
    out |= {"multi": True, "name": name, "options": [], "query": definition, "refresh": 2}
    return out | {"regex": "", "skipUrlSync": False, "sort": 1, "type": "query"} | kw


def templating(*extra: Json) -> Json:
    datasource: Json = {"hide": 0, "includeAll": False, "label": "Data source", "multi": False}
    datasource |= {"name": "datasource", "options": [], "query": "prometheus", "refresh": 1}
    datasource |= {"regex": "", "skipUrlSync": False, "type": "datasource"}
    account = variable(
        "account_id",
        "Account",
        "label_values(aws_ses_daily_sending_quota, account_id)",
        allValue=".*",
    )
    region = variable(
        "region",
        "Region",
        'label_values(aws_ses_daily_sending_quota{account_id=~"$account_id"}, region)',
        allValue=".*",
    )
    return {"list": [datasource, account, region, *extra]}


def dashboard(uid: str, title: str, description: str, panels: list[Json], **kw: Any) -> Json:
    ranges = [{"display": d, "from": f, "to": "now"} for d, f in QUICK_RANGES]
    sibling = link("SES dashboards", "") | {"asDropdown": False, "includeVars": True}
    sibling |= {
        "keepTime": True,
        "tags": ["ses-exporter"],
        "targetBlank": False,
        "type": "dashboards",
    }
    return {
        "annotations": {"list": []},
        "description": description,
        "editable": True,
        "fiscalYearStartMonth": 0,
        "graphTooltip": 1,
        "id": None,
        "links": [sibling, *kw.pop("links", [])],
        "liveNow": False,
        "panels": layout(panels),
        "refresh": "1m",
        "schemaVersion": SCHEMA_VERSION,
        "tags": TAGS,
        "templating": kw.pop("templating", templating()),
        "time": {"from": "now-1d", "to": "now"},
        "timepicker": {"quick_ranges": ranges},
        "timezone": "browser",
        "title": title,
        "uid": uid,
        "version": 1,
        "weekStart": "",
    }


def latest(family: str, match: str = TARGET, by: str = BY_TARGET) -> str:
    """The newest value per target (or per set): drops instance, job and static labels."""
    return f"max by ({by}) ({family}{{{match}}})"


def hourly(family: str) -> str:
    return f"sum by ({BY_TARGET}) (increase({family}{{{TARGET}}}[1h]))"


# ---------------------------------------------------------------- SES / Account dashboard

SMTP_COLUMNS = {
    "account_id": "Account",
    "region": "Region",
    "endpoint": "SMTP endpoint",
    "starttls_ports": "STARTTLS Port",
    "tls_wrapper_ports": "TLS Wrapper Port",
}
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
        row("Sending limits"),
        stat(
            "Daily sending quota",
            latest("aws_ses_daily_sending_quota"),
            (12, 4),
            "Emails the account may send per 24-hour period (GetAccount SendQuota.Max24HourSend).",
            unit="short",
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
        row("Account health"),
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
        row("Daily email usage — $region", repeat="region"),
        stat(
            "Emails sent",
            latest("aws_ses_sent_last_24h"),
            (4, 8),
            "Emails sent in the last 24 hours (GetAccount SendQuota.SentLast24Hours).",
            unit="short",
            decimals=0,
        ),
        stat(
            "Remaining sends",
            latest("aws_ses_remaining_sends"),
            (4, 8),
            "Daily sending quota minus emails sent in the last 24 hours.",
            unit="short",
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
        row("SMTP settings"),
        table(
            "SMTP settings",
            [table_query(smtp)],
            (16, 5),
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
        text(
            "TLS required",
            TLS_REQUIRED,
            (8, 5),
            "The SES console shows 'Transport Layer Security (TLS): Required'. The exporter has "
            "no metric for it because it is the same for every region: a fact, not a measurement.",
        ),
        row("Sending statistics (aggregated per 1 hour) — $region", repeat="region"),
        chart(
            "Sends",
            [query(hourly(sends))],
            (12, 8),
            "Emails SES accepted in each hour (CloudWatch AWS/SES Send, Sum).",
            unit="short",
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
            [query(latest("aws_ses_reputation_bounce_ratio"))],
            (12, 8),
            "Bounce rate as AWS computes it for reputation (CloudWatch Reputation.BounceRate).",
            unit="percentunit",
            cloudwatch="bounce_ratio",
            interval="1h",
        ),
        chart(
            "Complaints",
            [query(latest("aws_ses_reputation_complaint_ratio"))],
            (12, 8),
            "Complaint rate as AWS computes it for reputation "
            "(CloudWatch Reputation.ComplaintRate).",
            unit="percentunit",
            cloudwatch="complaint_ratio",
            interval="1h",
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


# ---------------------------------------------------------------- SES / Reputation metrics

RATES = ReputationThresholds()
MESSAGES_SENT = (
    "The console's 'Messages sent' counts the representative volume AWS computed the rates "
    "from, which no API exposes. Shown instead: emails sent in the last 24 hours "
    "(GetAccount SendQuota.SentLast24Hours), the closest figure AWS publishes."
)
SENT_OVER_PERIOD = (
    "The console's 'Sent over period' counts the representative volume, which no API "
    "exposes. Shown instead: CloudWatch AWS/SES Send over the dashboard's time range, counted "
    "since the exporter started (its counters start at 0)."
)


def rate_panes(kind: str, *, per_set: bool) -> list[Json]:
    """Status and historic rate of bounces or complaints, for the account or one set."""
    pair = getattr(RATES, kind)
    prefix = "aws_ses_configuration_set_" if per_set else "aws_ses_"
    match, by = (SET_TARGET, BY_SET) if per_set else (TARGET, BY_TARGET)
    ratio = f"max by ({by}) ({prefix}reputation_{kind}_ratio{{{match}}})"
    status = status_code(f"{prefix}reputation_status", f'rate="{kind}", {match}', by, REPUTATION)
    lines = thresholds((pair.under_review, ORANGE), (pair.at_risk, RED))
    name = kind.capitalize()
    return [
        status_stat(
            f"{name} rate status",
            status,
            words(REPUTATION),
            (6, 8),
            f"Healthy below {pair.under_review:.1%}, Under review from {pair.under_review:.1%}, "
            f"At risk from {pair.at_risk:.1%} (the exporter's reputation_thresholds).",
        ),
        chart(
            f"Historic {kind} rate",
            [query(ratio)],
            (18, 8),
            f"CloudWatch Reputation.{name}Rate. The dashed lines are the under review "
            f"({pair.under_review:.1%}) and at risk ({pair.at_risk:.1%}) thresholds of the "
            "exporter's default configuration; change them here if you changed "
            "reputation_thresholds.",
            unit="percentunit",
            cloudwatch=f"{kind}_ratio",
            start="-P14D",
            per_set=per_set,
            thresholds=lines,
            soft_max=round(pair.at_risk * 1.2, 6),
            decimals=2,
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
    overall = status_code(
        "aws_ses_reputation_status", f'rate="overall", {TARGET}', BY_TARGET, REPUTATION
    )
    set_overall = status_code(
        "aws_ses_configuration_set_reputation_status",
        f'rate="overall", {SET_TARGET}',
        BY_SET,
        REPUTATION,
    )
    bounce_colors = thresholds((RATES.bounce.under_review, ORANGE), (RATES.bounce.at_risk, RED))
    complaint_colors = thresholds(
        (RATES.complaint.under_review, ORANGE), (RATES.complaint.at_risk, RED)
    )
    return [
        row("Summary"),
        status_stat(
            "Account status",
            overall,
            words(REPUTATION),
            (6, 5),
            "The worse of the bounce and complaint rate statuses (ses-exporter's "
            'aws_ses_reputation_status{rate="overall"}).',
        ),
        stat(
            "Bounce rate",
            latest("aws_ses_reputation_bounce_ratio"),
            (5, 5),
            "Newest CloudWatch Reputation.BounceRate datapoint.",
            unit="percentunit",
            thresholds=bounce_colors,
            decimals=2,
        ),
        stat(
            "Complaint rate",
            latest("aws_ses_reputation_complaint_ratio"),
            (5, 5),
            "Newest CloudWatch Reputation.ComplaintRate datapoint.",
            unit="percentunit",
            thresholds=complaint_colors,
            decimals=3,
        ),
        stat(
            "Messages sent (last 24 h)",
            latest("aws_ses_sent_last_24h"),
            (4, 5),
            MESSAGES_SENT,
            unit="short",
            decimals=0,
        ),
        stat(
            "Sent over period",
            f"sum by ({BY_TARGET}) (increase(aws_ses_sends_total{{{TARGET}}}[$__range]))",
            (4, 5),
            SENT_OVER_PERIOD,
            unit="short",
            decimals=0,
        ),
        row("Bounce rate — $region", repeat="region"),
        *rate_panes("bounce", per_set=False),
        row("Complaint rate — $region", repeat="region"),
        *rate_panes("complaint", per_set=False),
        row("Configuration sets"),
        configuration_sets_table(),
        row("Configuration set: $configuration_set", repeat="configuration_set"),
        status_stat(
            "Configuration set status",
            set_overall,
            words(REPUTATION),
            (24, 3),
            "The worse of the set's bounce and complaint rate statuses.",
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
        description="Configuration sets with reputation metrics enabled.",
    )
    return dashboard(
        "ses-reputation-metrics",
        "SES / Reputation metrics",
        "What the Amazon SES console shows on its Reputation metrics page, from ses-exporter.",
        reputation_panels(),
        templating=templating(sets),
    )


# ---------------------------------------------------------------- output

DASHBOARDS = {
    "ses-account-dashboard.json": account_dashboard,
    "ses-reputation-metrics.json": reputation_dashboard,
}


def render(dashboard_json: Json) -> str:
    return json.dumps(dashboard_json, indent=2, ensure_ascii=False) + "\n"


def generate() -> dict[str, str]:
    """{file name: JSON text} of every dashboard."""
    return {name: render(build()) for name, build in DASHBOARDS.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the committed JSON is stale")
    args = parser.parse_args(argv)
    stale = []
    for name, content in generate().items():
        path = OUT_DIR / name
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != content:
                stale.append(name)
            continue
        OUT_DIR.mkdir(exist_ok=True)
        path.write_text(content, encoding="utf-8")
    if stale:
        print(f"stale: {', '.join(stale)}; run python3 deploy/grafana/generate.py", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
