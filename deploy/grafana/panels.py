"""Building blocks of the dashboards: PromQL queries and Grafana panels (stats, charts, tables).

Every query goes through the `datasource` variable and selects `job=~"$job",
cluster=~"$cluster"` (SCRAPE) and `account_id=~"$account_id", region=~"$region"` (TARGET).
`max by` keeps one series per target (or configuration set) whatever instance, job and
static labels Prometheus added: two replicas polling one target during a rollout, or an
exporter and a shard, expose the same counts, and `max` counts them once where `sum` would
count them twice. Counts per step use `increase(...[$__interval])` with a panel minimum
interval of 1 h, so a point is one hour on the console's ranges and one step (never less
than the step, so nothing is left out) on longer ones. Charts link to the same AWS/SES
metric in the CloudWatch console ("View in CloudWatch").
"""

from __future__ import annotations

from typing import Any

Json = dict[str, Any]

DATASOURCE: Json = {"type": "prometheus", "uid": "${datasource}"}
# The scrape: the Prometheus job(s) of the exporter and, under a global view over clusters,
# the cluster label (absent labels match `.*`, so one cluster needs nothing).
SCRAPE = 'job=~"$job", cluster=~"$cluster"'
TARGET = f'{SCRAPE}, account_id=~"$account_id", region=~"$region"'
# One exporter process: what joins a series to the thresholds of the exporter exposing it.
BY_EXPORTER = "job, instance, cluster"
SET_TARGET = f'{TARGET}, configuration_set=~"$configuration_set"'
BY_TARGET = "account_id, region"
BY_SET = "account_id, region, configuration_set"
SET_FAMILY = "aws_ses_configuration_set_"
LEGEND = "{{account_id}} {{region}}"


def query(expr: str, legend: str = LEGEND, *, ref: str = "A", instant: bool = False) -> Json:
    """A Prometheus query; stats and tables ask for the newest value only (instant)."""
    target: Json = {"datasource": DATASOURCE, "editorMode": "code", "expr": expr}
    return target | {"instant": instant, "legendFormat": legend, "range": not instant, "refId": ref}


def table_query(expr: str, ref: str = "A") -> Json:
    return query(expr, "", ref=ref, instant=True) | {"format": "table"}


def status_code(metric: str, match: str, by: str, states: list[tuple[int, str, str, str]]) -> str:
    """One number per target for the state series that is 1: value mappings give the words."""
    coded = []
    for code, matcher, _, _ in states:
        series = f"{metric}{{{matcher}, {match}}} == 1"
        coded.append(f"({series})" if code == 1 else f"{code} * ({series})")
    return f"max by ({by}) ({' or '.join(coded)})"


def latest(family: str, match: str = TARGET, by: str = BY_TARGET) -> str:
    """The newest value per target (or per set): drops instance, job and static labels."""
    return f"max by ({by}) ({family}{{{match}}})"


def per_step(family: str, match: str = TARGET, by: str = BY_TARGET) -> str:
    """Events per step ($__interval, at least the panel's 1 h): `max by` over replicas."""
    return f"max by ({by}) (increase({family}{{{match}}}[$__interval]))"


def over_range(family: str, match: str = TARGET, by: str = BY_TARGET) -> str:
    """Events over the dashboard's time range (an instant query at its end)."""
    return f"max by ({by}) (increase({family}{{{match}}}[$__range]))"


HOURLY = "1h"  # the panels' minimum interval: the console's hourly points


GREEN, ORANGE, RED, BLUE, GREY = "green", "orange", "red", "blue", "text"
AMBER = "yellow"
ENFORCEMENT = [  # (code, matcher, console word, colour); a higher code is worse
    (1, 'status="HEALTHY"', "Healthy", GREEN),
    (2, 'status!~"HEALTHY|PROBATION|SHUTDOWN"', "Other (see the SES console)", GREY),
    (3, 'status="PROBATION"', "Under review", ORANGE),
    (4, 'status="SHUTDOWN"', "Paused", RED),
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
# The console's host per AWS partition, picked from the region's name.
CONSOLE_HOSTS = [  # (region regex, host)
    (".*", "console.aws.amazon.com"),
    ("cn-.*", "console.amazonaws.cn"),
    ("us-gov-.*", "console.amazonaws-us-gov.com"),
]


def with_console(expr: str) -> str:
    """Adds a `console` label (the console host of the series' partition) for data links."""
    for regex, host in CONSOLE_HOSTS:
        expr = f'label_replace({expr}, "console", "{host}", "region", "{regex}")'
    return expr


def threshold(kind: str, status: str) -> str:
    """The configured threshold per exporter process (its reputation_thresholds)."""
    match = f'rate="{kind}", status="{status}", {SCRAPE}'
    series = f"ses_exporter_reputation_threshold_ratio{{{match}}}"
    return f"max by ({BY_EXPORTER}) ({series})"


def threshold_lines(kind: str, per_set: bool = False) -> list[Json]:
    """The configured review and at-risk thresholds as dashed series (the exporter's
    ses_exporter_reputation_threshold_ratio), so the lines follow its configuration.

    Only the thresholds of the exporters that expose a rate of the selection, and only
    while they do: a chart without a rate series stays empty, so its no-data text shows
    (lines alone would make it look like a healthy, flat chart)."""
    prefix, match = ("aws_ses_configuration_set_", SET_TARGET) if per_set else ("aws_ses_", TARGET)
    rates = f"{prefix}reputation_{kind}_ratio{{{match}}}"
    out = []
    for ref, (status, word) in zip(
        "YZ", (("under_review", "Under review"), ("at_risk", "At risk")), strict=True
    ):
        expr = f"max({threshold(kind, status)} and on ({BY_EXPORTER}) {rates})"
        out.append(query(expr, f"{word} threshold", ref=ref))
    return out


def versus_threshold(kind: str, match: str = TARGET, by: str = BY_TARGET) -> str:
    """A rate / the review threshold of the exporter that exposes it: 1 = under review."""
    prefix = "aws_ses_configuration_set_" if "configuration_set" in by else "aws_ses_"
    rates = f"{prefix}reputation_{kind}_ratio{{{match}}}"
    review = threshold(kind, "under_review")
    return f"max by ({by}) ({rates} / on ({BY_EXPORTER}) group_left () {review})"


def threshold_overrides() -> list[Json]:
    """Threshold series: dashed, not filled, red or orange, no data link."""
    out = []
    for word, color in (("Under review", ORANGE), ("At risk", RED)):
        out.append(
            {
                "matcher": {"id": "byName", "options": f"{word} threshold"},
                "properties": [
                    {"id": "color", "value": {"fixedColor": color, "mode": "fixed"}},
                    {"id": "custom.lineStyle", "value": {"dash": [10, 10], "fill": "dash"}},
                    {"id": "custom.fillOpacity", "value": 0},
                    {"id": "links", "value": []},
                ],
            }
        )
    return out


NO_BOUNCES = "No bounces reported by AWS"
NO_COMPLAINTS = "No complaints reported by AWS"
# Shown only where the cloudwatch collector's last poll succeeded (healthy_if_polled).
NO_REPUTATION = "Healthy: AWS reports no bounces or complaints"
NO_EXPORTER_DATA = "No data from the exporter"
NO_CLOUDWATCH_DATA = "No data from the exporter's cloudwatch collector (off, failing or down)"
# A chart cannot tell why it has no series: its text names both causes.
NO_RATE_SERIES = (
    "No {kind} rate: AWS published none in the time range, or the exporter's cloudwatch "
    "collector is off or failing (see Exporter)"
)
# Where AWS publishes no rate but the cloudwatch collector's last poll succeeded, the rate
# stats show this code, mapped to "No bounces/complaints reported by AWS".
NONE_PUBLISHED = -1
CLOUDWATCH_OK = (
    f"max by ({BY_TARGET}) "
    f'(ses_exporter_collector_success{{collector="cloudwatch", {TARGET}}}) == 1'
)


def rate_or_none_published(kind: str) -> str:
    """The newest rate per target, or NONE_PUBLISHED where the cloudwatch collector
    looked and AWS had none: a failing or disabled collector is no value, not "no bounces"."""
    return f"{latest(f'aws_ses_reputation_{kind}_ratio')} or ({NONE_PUBLISHED} * ({CLOUDWATCH_OK}))"


def none_published(text: str) -> list[Json]:
    return [{"options": {str(NONE_PUBLISHED): {"index": 0, "text": text}}, "type": "value"}]


def healthy_if_polled(status: str, per_set: bool = False) -> str:
    """A reputation status code, or 1 (Healthy) where AWS publishes no reputation metric
    yet but the cloudwatch collector's last poll of the target succeeded: absence means
    Healthy only when the exporter looked. Exporter down, collector disabled or failing:
    no value, and the panel says "No data from the exporter"."""
    if per_set:
        polled = (
            f"max by ({BY_SET}) ({SET_FAMILY}reputation_metrics_enabled{{{SET_TARGET}}} == 1)"
            f" and on ({BY_TARGET}) ({CLOUDWATCH_OK})"
        )
    else:
        polled = CLOUDWATCH_OK
    return f"({status}) or ({polled})"


# The first sample of an SES counter per target: CloudWatch's Send (exposed at 0 from the
# first successful poll, written from the window start by `ses-exporter backfill`), else
# GetSendStatistics' delivery attempts where the cloudwatch collector is off.
FIRST_SAMPLE_OF = ("aws_ses_sends_total", "aws_ses_send_statistics_delivery_attempts_total")


def history_since(size: tuple[int, int]) -> Json:
    """When the data in the time range begins: the first SES sample, live or backfilled."""
    first = " or ".join(  # x 1000: Grafana's date units take milliseconds
        f"min by ({BY_TARGET}) "
        f"(min_over_time(timestamp({family}{{{TARGET}}})[$__range:$__interval]))"
        for family in FIRST_SAMPLE_OF
    )
    return stat(
        "History starts at",
        f"1000 * ({first})",
        size,
        "The first SES sample in the dashboard's time range, per account and region (CloudWatch "
        "AWS/SES Send, or GetSendStatistics where the cloudwatch collector is off), to within "
        "the query step: live data starts at the exporter's first successful poll, history "
        "imported with `ses-exporter backfill` at the start of its window. Counts and charts "
        "start there, so a range that reaches further back shows less than the SES console.",
        unit="dateTimeAsIso",
    )


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
    title: str,
    expr: str,
    states: list[tuple[int, str, str]],
    size: tuple[int, int],
    desc: str,
    **defaults: Any,
) -> Json:
    """A state shown in the console's words (unit none: the number is only a code)."""
    mappings = value_mappings(states)
    return stat(
        title, expr, size, desc, unit="none", background=True, mappings=mappings, **defaults
    )


def cloudwatch_url(
    family: str, region: str, start: str, dimension: str | None = None, host: str = "${console}"
) -> str:
    """The CloudWatch console's graph of the AWS/SES metric, or for rejects the metric math
    Reject / Send that the chart shows."""
    metric, statistic = CLOUDWATCH[family]
    dims = f"~'ses*3aconfiguration-set~'{dimension}" if dimension else ""
    if family == "rejects":
        metrics = (
            "~(~(expression~'m1*2fm2~label~'Rejects*20*2f*20sends~id~'e1))"
            f"~(~'AWS*2fSES~'Reject{dims}~(id~'m1~visible~false))"
            f"~(~'AWS*2fSES~'Send{dims}~(id~'m2~visible~false))"
        )
    else:
        metrics = f"~(~'AWS*2fSES~'{metric}{dims})"
    graph = (
        f"~(metrics~({metrics})~view~'timeSeries~stacked~false"
        f"~region~'{region}~stat~'{statistic}~period~3600~start~'{start}~end~'P0D)"
    )
    return (
        f"https://{region}.{host}/cloudwatch/home?region={region}"
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
    """A time series with a "View in CloudWatch" header link and the same link per series.

    The header link names the row's region in the partition of the `console` variable;
    each series' link takes its own region and partition (label_replace adds `console`).
    """
    # The SES series (not the threshold lines) get the console host of their partition.
    targets = [
        t | {"expr": with_console(t["expr"])} if t["legendFormat"].endswith(LEGEND) else t
        for t in targets
    ]
    here = cloudwatch_url(
        cloudwatch, "${region}", start, "${configuration_set}" if per_set else None
    )
    series_set = "${__field.labels.configuration_set}" if per_set else None
    series = cloudwatch_url(
        cloudwatch, "${__field.labels.region}", start, series_set, "${__field.labels.console}"
    )
    tooltip = f"AWS/SES {CLOUDWATCH[cloudwatch][0]} in the CloudWatch console of ${{region}}"
    data_link = {"targetBlank": True, "title": "View in CloudWatch (${__field.labels.region})"}
    custom = _line_style(dashed_thresholds=bool(defaults.get("thresholds")))
    if soft_max is not None:
        custom["axisSoftMax"] = soft_max
    links = [data_link | {"url": series}]
    overrides = defaults.pop("overrides", [])
    fc = field_config(unit, "palette-classic", custom=custom, links=links, **defaults)
    fc["overrides"] = overrides
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
    options = {"cellHeight": "sm", "frameIndex": 0, "showHeader": True} | kw.pop("options", {})
    fields = {"fieldConfig": fc, "options": options, "targets": targets, **kw}
    return panel("table", title, size, description, **fields)


def text(title: str, content: str, size: tuple[int, int], description: str) -> Json:
    return panel("text", title, size, description, options={"content": content, "mode": "markdown"})


def row(title: str, repeat: str | None = None, *, collapsed: bool = False) -> Json:
    """A row; layout() moves the panels after a collapsed row into it."""
    out: Json = {"type": "row", "title": title, "collapsed": collapsed}
    out["gridPos"] = {"h": 1, "w": 24}
    out["panels"] = []
    if repeat:
        out["repeat"] = repeat
    return out


# A rate / its review threshold: amber from 80 % of it, orange at it, red at twice it.
VERSUS_COLOURS = thresholds((0.8, AMBER), (1, ORANGE), (2, RED))


def column(
    name: str,
    *,
    unit: str | None = None,
    words: list[tuple[int, str, str]] | None = None,
    colours: Json | None = None,
    links: list[Json] | None = None,
    decimals: int | None = None,
    width: int | None = None,
) -> Json:
    """A table column's override: unit, words for codes, coloured text, links."""
    props: list[Json] = []
    if unit:
        props.append({"id": "unit", "value": unit})
    if decimals is not None:
        props.append({"id": "decimals", "value": decimals})
    if words:
        props.append({"id": "mappings", "value": value_mappings(words)})
    if colours:
        props.append({"id": "thresholds", "value": colours})
    if words or colours:
        props.append({"id": "custom.cellOptions", "value": {"type": "color-text"}})
    if links:
        props.append({"id": "links", "value": links})
    if width:
        props.append({"id": "custom.width", "value": width})
    return {"matcher": {"id": "byName", "options": name}, "properties": props}


def merged_table(
    title: str,
    columns: dict[str, str],
    queries: list[Json],
    size: tuple[int, int],
    description: str,
    *,
    sort_by: str,
    overrides: list[Json],
    hidden: tuple[str, ...] = (),
) -> Json:
    """Instant queries merged into one row per label set (account, region, ...), columns
    renamed and ordered by `columns` ({field: title}; a query's value field is `Value #<ref>`),
    sorted by one column, highest first: the worst row on top. `hidden` fields are left
    out (the value of a query asked only for its labels)."""
    return table(
        title,
        queries,
        size,
        description,
        unit="none",
        overrides=overrides,
        options={"sortBy": [{"displayName": sort_by, "desc": True}]},
        transformations=[
            {"id": "merge", "options": {}},
            {
                "id": "organize",
                "options": {
                    "excludeByName": {"Time": True} | dict.fromkeys(hidden, True),
                    "indexByName": {name: i for i, name in enumerate(columns)},
                    "renameByName": columns,
                },
            },
        ],
    )


# ---------------------------------------------------------------- the exporter's freshness

AGE_COLOURS = thresholds((900, ORANGE), (3600, RED))
SUCCESS = [(1, "Succeeded", GREEN), (0, "Failed", RED)]
COLLECTOR_BY = f"{BY_TARGET}, collector"


def exporter_panels(match: str = TARGET) -> list[Json]:
    """Is the exporter up, are its collectors succeeding, how old is the data: a few
    worst-of numbers and one table, never a tile per target."""
    up = f"up{{{SCRAPE}}}"
    success = f"max by ({COLLECTOR_BY}) (ses_exporter_collector_success{{{match}}})"
    last_success = f"ses_exporter_collector_last_success_timestamp_seconds{{{match}}}"
    last = f"max by ({COLLECTOR_BY}) ({last_success})"
    red_from_1 = thresholds((1, RED))
    columns = {
        "account_id": "Account",
        "region": "Region",
        "collector": "Collector",
        "Value #A": "Last poll",
        "Value #B": "Data age",
    }
    return [
        row("Exporter"),
        stat(
            "Exporter instances up",
            f"count({up} == 1) or vector(0)",
            (6, 3),
            "Scrape targets of the selected job(s) whose last scrape by Prometheus succeeded "
            "(`up`). With the default 'All', the jobs that expose ses-exporter's metrics.",
            unit="locale",
            decimals=0,
            thresholds=thresholds((1, GREEN), base=RED),
        ),
        stat(
            "Exporter instances down",
            f"count({up} == 0) or vector(0)",
            (6, 3),
            "Scrape targets of the selected job(s) Prometheus could not scrape (`up` = 0): "
            "their targets' series go stale and disappear from every other panel.",
            unit="locale",
            decimals=0,
            thresholds=red_from_1,
        ),
        stat(
            "Collectors failing",
            f"count({success} == 0) or vector(0)",
            (6, 3),
            "Collectors (per account and region) whose last poll failed in every exporter "
            "that polls them (`ses_exporter_collector_success`, max over replicas). Their "
            "series stay until max_staleness after the last success, then go absent.",
            unit="locale",
            decimals=0,
            thresholds=red_from_1,
        ),
        stat(
            "Oldest data",
            f"max(time() - {last})",
            (6, 3),
            "Age of the oldest data shown: now minus the last successful poll, of the "
            "collector and target that polled longest ago (the newest over replicas). "
            "Orange from 15 minutes, red from an hour (the cloudwatch collector's interval "
            "is 5 minutes by default).",
            unit="s",
            decimals=0,
            thresholds=AGE_COLOURS,
            noValue=NO_EXPORTER_DATA,
        ),
        merged_table(
            "Collectors",
            columns,
            [table_query(success, "A"), table_query(f"time() - {last}", "B")],
            (24, 5),
            "Every collector of every selected account and region: its last poll and the age "
            "of its data (`ses_exporter_collector_success`, "
            "`ses_exporter_collector_last_success_timestamp_seconds`), oldest first.",
            sort_by="Data age",
            overrides=[
                column("Last poll", words=SUCCESS),
                column("Data age", unit="s", colours=AGE_COLOURS, decimals=0),
            ],
        ),
    ]


# ---------------------------------------------------------------- the SES console

# The SES console's pages (its routes), in the partition of the series' region.
SES_CONSOLE = "https://{region}.{host}/ses/home?region={region}#/{page}"


def ses_console_links(page: str, title: str) -> tuple[list[Json], list[Json]]:
    """(header link of the row's region, data link of each series' own region): the host
    follows the region's partition (the `console` variable, a series' `console` label)."""
    header = link(
        title,
        SES_CONSOLE.format(region="${region}", host="${console}", page=page),
        f"The SES console's {title.lower()} page for ${{region}}",
    )
    series_url = SES_CONSOLE.format(
        region="${__field.labels.region}", host="${__field.labels.console}", page=page
    )
    data = {"targetBlank": True, "title": f"{title} (${{__field.labels.region}})"}
    data["url"] = series_url
    return [header], [data]


def console_chart(
    title: str,
    targets: list[Json],
    size: tuple[int, int],
    description: str,
    *,
    unit: str,
    page: str,
    page_title: str,
    interval: str | None = None,
    **defaults: Any,
) -> Json:
    """A time series of an SES resource that CloudWatch has no metric for (dedicated IPs,
    the suppression list, Virtual Deliverability Manager): the header link opens the SES
    console's page of the row's region, each series' link that of its own region, in its
    partition. `interval` is Grafana's minimum step (one point per day for VDM)."""
    header, data_links = ses_console_links(page, page_title)
    targets = [t | {"expr": with_console(t["expr"])} for t in targets]
    custom = _line_style(dashed_thresholds=False)
    fc = field_config(unit, "palette-classic", custom=custom, links=data_links, **defaults)
    legend = {"calcs": ["lastNotNull", "max"], "displayMode": "table", "placement": "bottom"}
    options = {
        "legend": legend | {"showLegend": True},
        "tooltip": {"mode": "multi", "sort": "desc"},
    }
    fields = {"fieldConfig": fc, "links": header, "options": options, "targets": targets}
    if interval:
        fields["interval"] = interval
    return panel("timeseries", title, size, description, **fields)


def _line_style(dashed_thresholds: bool) -> Json:
    """The field config's ``custom`` of every time series: lines from 0, gaps left as gaps,
    thresholds drawn dashed when the panel has them."""
    return {
        "axisSoftMin": 0,
        "drawStyle": "line",
        "fillOpacity": 10,
        "lineWidth": 2,
        "showPoints": "auto",
        "spanNulls": False,
        "thresholdsStyle": {"mode": "dashed" if dashed_thresholds else "off"},
    }
