"""A dashboard around its panels: grid positions, variables, links, time ranges."""

from __future__ import annotations

from typing import Any

from panels import DATASOURCE, TARGET, Json, link, with_console

SCHEMA_VERSION = 39  # Grafana 11.0
TAGS = ["aws", "ses", "ses-exporter"]

# The SES console's time options for sending statistics.
QUICK_RANGES = [("Last 1 day", "now-1d"), ("Last 3 days", "now-3d")]
QUICK_RANGES += [("Last 7 days", "now-7d"), ("Last 14 days", "now-14d")]


def layout(panels: list[Json]) -> list[Json]:
    """Number the panels and place them left to right, 24 columns wide; a row starts a line.
    The panels after a collapsed row go into it (Grafana keeps them there until opened)."""
    placed: list[Json] = []
    holder: list[Json] = placed
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
            holder = placed[-1]["panels"] if p["collapsed"] else placed
        else:
            holder.append({"id": number, **p})
    return placed


ACCOUNT_VARIABLE_QUERY = (
    'query_result(max by (account_id, account_name) (ses_exporter_account_info{job=~"$job", '
    'cluster=~"$cluster"}))'
)
ACCOUNT_VARIABLE_REGEX = '/account_id="(?<value>[^"]+)".*account_name="(?<text>[^"]*)"/'
# The console host of the selected regions' partition (GovCloud, China or commercial): the
# header links of a row repeated per region name it (each series' links carry their own).
CONSOLE_VARIABLE_QUERY = "query_result(max by (console) ({}))".format(
    with_console(f"max by (region) (ses_exporter_collector_success{{{TARGET}}})")
)


def variable(name: str, label: str, definition: str, **kw: Any) -> Json:
    out: Json = {"datasource": DATASOURCE, "hide": 0, "includeAll": True, "label": label}
    out |= {"multi": True, "name": name, "options": [], "query": definition, "refresh": 2}
    return out | {"regex": "", "skipUrlSync": False, "sort": 1, "type": "query"} | kw


def templating(*extra: Json, all_accounts: bool = False, console: bool = True) -> Json:
    """datasource, job, cluster, account_id, region, then `extra`, then the hidden console.

    Without all_accounts the Account variable has no "All": it opens on the first account
    (Grafana selects the first value), so 1,500 targets do not become hundreds of tiles per
    stat; the fleet overview is the page for all of them."""
    datasource: Json = {"hide": 0, "includeAll": False, "label": "Data source", "multi": False}
    datasource |= {"name": "datasource", "options": [], "query": "prometheus", "refresh": 1}
    datasource |= {"regex": "", "skipUrlSync": False, "type": "datasource"}
    # "All" without an allValue is every job that exposes ses-exporter's metrics, so `up`
    # of other jobs never counts as an exporter.
    job = variable(
        "job",
        "Job",
        "label_values(ses_exporter_build_info, job)",
        description="The Prometheus job(s) scraping ses-exporter.",
    )
    # Present under a global view over clusters; without the label, All (.*) matches.
    cluster = variable(
        "cluster",
        "Cluster",
        'label_values(ses_exporter_build_info{job=~"$job"}, cluster)',
        allValue=".*",
        description="The cluster label of a global view; empty with one Prometheus.",
    )
    # Shows each account's name (accounts[].name or from AWS Organizations), selects its id.
    account = variable(
        "account_id",
        "Account",
        ACCOUNT_VARIABLE_QUERY,
        allValue=".*",
        includeAll=all_accounts,
        regex=ACCOUNT_VARIABLE_REGEX,
    )
    if not all_accounts:
        del account["allValue"]
    # From the self-metrics: every target has them, whichever collectors are enabled.
    region = variable(
        "region",
        "Region",
        'label_values(ses_exporter_collector_success{job=~"$job", cluster=~"$cluster", '
        'account_id=~"$account_id"}, region)',
        allValue=".*",
    )
    hosts = variable(
        "console",
        "AWS console",
        CONSOLE_VARIABLE_QUERY,
        hide=2,
        includeAll=False,
        multi=False,
        regex='/console="([^"]+)"/',
        description="The AWS console's host in the partition of the selected regions.",
    )
    listed = [datasource, job, cluster, account, region, *extra]
    return {"list": [*listed, hosts] if console else listed}


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
