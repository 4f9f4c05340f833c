"""A dashboard around its panels: grid positions, variables, links, time ranges."""

from __future__ import annotations

from typing import Any

from panels import CONSOLE_HOSTS, DATASOURCE, Json, link

PARTITIONS = list(zip(("aws", "aws-cn", "aws-us-gov"), (h for _, h in CONSOLE_HOSTS), strict=True))

SCHEMA_VERSION = 39  # Grafana 11.0
TAGS = ["aws", "ses", "ses-exporter"]

# The SES console's time options for sending statistics.
QUICK_RANGES = [("Last 1 day", "now-1d"), ("Last 3 days", "now-3d")]
QUICK_RANGES += [("Last 7 days", "now-7d"), ("Last 14 days", "now-14d")]


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


ACCOUNT_VARIABLE_QUERY = (
    "query_result(max by (account_id, account_name) (ses_exporter_account_info))"
)
ACCOUNT_VARIABLE_REGEX = '/account_id="(?<value>[^"]+)".*account_name="(?<text>[^"]*)"/'


def variable(name: str, label: str, definition: str, **kw: Any) -> Json:
    out: Json = {"datasource": DATASOURCE, "hide": 0, "includeAll": True, "label": label}
    out |= {"multi": True, "name": name, "options": [], "query": definition, "refresh": 2}
    return out | {"regex": "", "skipUrlSync": False, "sort": 1, "type": "query"} | kw


def templating(*extra: Json) -> Json:
    datasource: Json = {"hide": 0, "includeAll": False, "label": "Data source", "multi": False}
    datasource |= {"name": "datasource", "options": [], "query": "prometheus", "refresh": 1}
    datasource |= {"regex": "", "skipUrlSync": False, "type": "datasource"}
    # Shows each account's name (accounts[].name or from AWS Organizations), selects its id.
    account = variable(
        "account_id",
        "Account",
        ACCOUNT_VARIABLE_QUERY,
        allValue=".*",
        regex=ACCOUNT_VARIABLE_REGEX,
    )
    # From the self-metrics: every target has them, whichever collectors are enabled.
    region = variable(
        "region",
        "Region",
        'label_values(ses_exporter_collector_success{account_id=~"$account_id"}, region)',
        allValue=".*",
    )
    # The CloudWatch console's host for the header links (series links pick their own).
    console: Json = {"hide": 0, "includeAll": False, "label": "AWS partition", "multi": False}
    console |= {"name": "console", "options": [], "skipUrlSync": False, "type": "custom"}
    console |= {"query": ", ".join(f"{p} : {h}" for p, h in PARTITIONS)}
    console |= {"current": {"selected": True, "text": "aws", "value": PARTITIONS[0][1]}}
    return {"list": [datasource, account, region, *extra, console]}


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
