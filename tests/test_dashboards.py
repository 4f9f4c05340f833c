"""The Grafana dashboards: generated, valid for Grafana 11's schema, and wired to the exporter.

Schema: Grafana publishes its dashboard and panel types as TypeScript in the npm package
@grafana/schema (generated from Grafana's CUE kinds); no PyPI or npm package ships them as
JSON Schema. deploy/grafana/schema/ pins @grafana/schema and ts-json-schema-generator
(`npm ci --prefix deploy/grafana/schema`); the test turns the types into JSON Schema and
validates with jsonschema. Without that install the schema tests skip, except in CI.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from ses_exporter.config import ReputationThresholds
from tests.dashboards import (
    ALL,
    ALL_VALUE,
    DASHBOARD_DIR,
    DASHBOARD_FILES,
    GRAFANA_DIR,
    interpolate,
    iter_panels,
    load_dashboards,
    load_generator,
    panel_queries,
    variable_queries,
)

DASHBOARDS = load_dashboards()
ACCOUNT = DASHBOARDS["ses-account-dashboard.json"]
REPUTATION = DASHBOARDS["ses-reputation-metrics.json"]
FLEET = DASHBOARDS["ses-fleet-overview.json"]
IDENTITIES = DASHBOARDS["ses-identities.json"]
VDM = DASHBOARDS["ses-deliverability.json"]
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
SCRAPE_MATCHERS = ('job=~"$job"', 'cluster=~"$cluster"')
TARGET_MATCHERS = (*SCRAPE_MATCHERS, 'account_id=~"$account_id"', 'region=~"$region"')
SET_MATCHER = 'configuration_set=~"$configuration_set"'

SCHEMA_DIR = GRAFANA_DIR / "schema"
SCHEMA_TOOL = SCHEMA_DIR / "node_modules" / ".bin" / "ts-json-schema-generator"
SCHEMA_TYPES = SCHEMA_DIR / "node_modules" / "@grafana" / "schema" / "dist" / "esm" / "raw"
PANEL_TYPES = {  # panel type -> its options/field config types in @grafana/schema
    "stat": "composable/stat/panelcfg/x/StatPanelCfg_types.gen.d.ts",
    "timeseries": "composable/timeseries/panelcfg/x/TimeSeriesPanelCfg_types.gen.d.ts",
    "table": "composable/table/panelcfg/x/TablePanelCfg_types.gen.d.ts",
    "text": "composable/text/panelcfg/x/TextPanelCfg_types.gen.d.ts",
}
# Prometheus family in a chart -> the AWS/SES metric its "View in CloudWatch" link opens.
CLOUDWATCH_METRIC = {
    "aws_ses_sending_quota_used_ratio": "Send",
    "aws_ses_sends_total": "Send",
    "aws_ses_rejects_total": "Reject",
    "aws_ses_reputation_bounce_ratio": "Reputation.BounceRate",
    "aws_ses_reputation_complaint_ratio": "Reputation.ComplaintRate",
    "aws_ses_configuration_set_reputation_bounce_ratio": "Reputation.BounceRate",
    "aws_ses_configuration_set_reputation_complaint_ratio": "Reputation.ComplaintRate",
}
# Families CloudWatch has no metric for: their charts link to the SES console's page.
SES_CONSOLE_PAGE = {
    "aws_ses_dedicated_ip_warmup_ratio": "dedicated-ips",
    "aws_ses_suppressed_destinations": "suppression-list",
}
# Virtual Deliverability Manager (aws_ses_vdm_*): its page in the SES console.
VDM_CONSOLE_PAGE = "vdm/dashboard"


def ses_console_page(family: str) -> str | None:
    if family.startswith("aws_ses_vdm_"):
        return VDM_CONSOLE_PAGE
    return SES_CONSOLE_PAGE.get(family)


def panels_with_rows(dashboard: dict[str, Any]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(panel, the row it sits in) for every panel that is not a row."""
    current: dict[str, Any] = {}
    for panel in iter_panels(dashboard):
        if panel["type"] == "row":
            current = panel
        else:
            yield panel, current


def titles_by_row(dashboard: dict[str, Any]) -> dict[str, list[str]]:
    """{row title: the titles of its panels, in order}."""
    rows: dict[str, list[str]] = {}
    for panel, row in panels_with_rows(dashboard):
        rows.setdefault(row.get("title", ""), []).append(panel["title"])
    return rows


def all_panels() -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    return [
        (name, panel, row)
        for name, dashboard in DASHBOARDS.items()
        for panel, row in panels_with_rows(dashboard)
    ]


def panel_id(param: tuple[str, dict[str, Any], dict[str, Any]]) -> str:
    name, panel, row = param
    return f"{name.removesuffix('.json')}:{row.get('title', '')}:{panel['title']}"


PANELS = all_panels()
CHARTS = [p for p in PANELS if p[1]["type"] == "timeseries"]


# ---------------------------------------------------------------- generated, committed


def test_committed_json_is_the_generators_output() -> None:
    generated = load_generator().generate()
    assert sorted(generated) == sorted(DASHBOARD_FILES)
    for name, content in generated.items():
        committed = (DASHBOARD_DIR / name).read_text(encoding="utf-8")
        assert committed == content, f"{name} is stale: run python3 deploy/grafana/generate.py"


def test_generator_check_mode_passes_on_the_committed_files() -> None:
    assert load_generator().main(["--check"]) == 0


def test_uids_titles_and_schema_version() -> None:
    assert (ACCOUNT["uid"], ACCOUNT["title"]) == (
        "ses-account-dashboard",
        "SES / Account dashboard",
    )
    assert (REPUTATION["uid"], REPUTATION["title"]) == (
        "ses-reputation-metrics",
        "SES / Reputation metrics",
    )
    assert (FLEET["uid"], FLEET["title"]) == ("ses-fleet-overview", "SES / Fleet overview")
    assert (IDENTITIES["uid"], IDENTITIES["title"]) == ("ses-identities", "SES / Identities")
    assert (VDM["uid"], VDM["title"]) == (
        "ses-deliverability",
        "SES / Deliverability by mailbox provider",
    )
    for dashboard in DASHBOARDS.values():
        assert dashboard["schemaVersion"] == 39
        assert dashboard["id"] is None
        ids = [p["id"] for p in iter_panels(dashboard)]
        assert len(ids) == len(set(ids))


# ---------------------------------------------------------------- Grafana's schema


def _generate_schema(source: Path, type_name: str, out: Path) -> dict[str, Any]:
    subprocess.run(
        [SCHEMA_TOOL, "--path", source, "--type", type_name, "--no-type-check", "-o", out],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return dict(json.loads(out.read_text()))


@pytest.fixture(scope="session")
def grafana_schema(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """{"dashboard" or a panel type: JSON Schema} from @grafana/schema's TypeScript types."""
    if not SCHEMA_TOOL.exists():
        message = "Grafana schema tools missing: run npm ci --prefix deploy/grafana/schema"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    out = tmp_path_factory.mktemp("grafana-schema")
    jobs = {"dashboard": (SCHEMA_TYPES / "dashboard/x/dashboard_types.gen.d.ts", "Dashboard")}
    jobs |= {kind: (SCHEMA_TYPES / path, "*") for kind, path in PANEL_TYPES.items()}
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        futures = {
            name: pool.submit(_generate_schema, source, type_name, out / f"{name}.json")
            for name, (source, type_name) in jobs.items()
        }
        return {name: future.result() for name, future in futures.items()}


def schema_errors(schema: dict[str, Any], instance: Any) -> list[str]:
    """Readable errors; for a panel, those against Panel (or RowPanel for a row) only."""
    messages = []
    for error in jsonschema.Draft7Validator(schema).iter_errors(instance):
        errors = [error]
        if error.context:  # anyOf [Panel, RowPanel]
            row = isinstance(error.instance, dict) and error.instance.get("type") == "row"
            errors = [e for e in error.context if e.relative_schema_path[0] == int(row)]
        for e in errors or [error]:
            messages.append(f"{'/'.join(map(str, e.absolute_path))}: {e.message[:300]}")
    return messages


def definition(schema: dict[str, Any], name: str) -> dict[str, Any]:
    return {**schema, "$ref": f"#/definitions/{name}"}


def test_grafana_schema_is_strict(grafana_schema: dict[str, dict[str, Any]]) -> None:
    """The generated schema rejects what Grafana's types do not allow."""
    schema = grafana_schema["dashboard"]
    broken = {**ACCOUNT, "dashboardVersion": 1, "schemaVersion": "39"}
    errors = schema_errors(schema, broken)
    assert any("dashboardVersion" in e for e in errors)
    assert any(e.startswith("schemaVersion:") for e in errors)
    assert schema_errors(schema, {**ACCOUNT, "timepicker": {"time_options": ["1d"]}})


@pytest.mark.parametrize("name", DASHBOARD_FILES)
def test_dashboard_matches_grafana_schema(name: str, grafana_schema: dict[str, Any]) -> None:
    assert schema_errors(grafana_schema["dashboard"], DASHBOARDS[name]) == []


@pytest.mark.parametrize("param", PANELS, ids=panel_id)
def test_panel_options_match_their_plugin_schema(
    param: tuple[str, dict[str, Any], dict[str, Any]], grafana_schema: dict[str, Any]
) -> None:
    _, panel, _ = param
    schema = grafana_schema[panel["type"]]
    assert schema_errors(definition(schema, "Options"), panel["options"]) == []
    custom = panel.get("fieldConfig", {}).get("defaults", {}).get("custom")
    if "FieldConfig" in schema["definitions"]:
        assert custom is not None
        assert schema_errors(definition(schema, "FieldConfig"), custom) == []


# ---------------------------------------------------------------- data source and queries


def test_no_import_placeholders() -> None:
    for name in DASHBOARD_FILES:
        text = (DASHBOARD_DIR / name).read_text()
        assert "${DS_" not in text
        assert '"__inputs"' not in text


@pytest.mark.parametrize("param", PANELS, ids=panel_id)
def test_every_panel_queries_through_the_datasource_variable(
    param: tuple[str, dict[str, Any], dict[str, Any]],
) -> None:
    _, panel, _ = param
    if panel["type"] == "text":
        assert "targets" not in panel
        return
    assert panel["datasource"] == DATASOURCE
    assert panel["targets"]
    for target in panel["targets"]:
        assert target["datasource"] == DATASOURCE


@pytest.mark.parametrize("param", PANELS, ids=panel_id)
def test_every_selector_uses_the_variables(
    param: tuple[str, dict[str, Any], dict[str, Any]],
) -> None:
    _, panel, row = param
    per_set = row.get("repeat") == "configuration_set"
    for target in panel.get("targets", []):
        selectors = re.findall(r"\b((?:aws_ses|ses_exporter)_\w+|up)(\{[^}]*\})?", target["expr"])
        assert selectors
        for family, matchers in selectors:
            assert matchers, f"{family} without label matchers"
            # The exporter's configuration and `up` have no account or region; the account
            # names no region.
            wanted = {
                "ses_exporter_reputation_threshold_ratio": SCRAPE_MATCHERS,
                "up": SCRAPE_MATCHERS,
                "ses_exporter_account_info": (*SCRAPE_MATCHERS, TARGET_MATCHERS[2]),
            }.get(family, TARGET_MATCHERS)
            for matcher in wanted:
                assert matcher in matchers, f"{family}{matchers}"
            if per_set and family.startswith("aws_ses_"):  # self-metrics have no set
                assert SET_MATCHER in matchers, f"{family}{matchers}"


def expected_unit(panel: dict[str, Any]) -> str:
    exprs = " ".join(t["expr"] for t in panel["targets"])
    # how many (in all, or per status); the age of data
    kinds = {"count(": "locale", "count by (": "locale", "max(time() - ": "s"}
    if exprs.startswith(tuple(kinds)):
        return next(unit for start, unit in kinds.items() if exprs.startswith(start))
    if "timestamp(" in exprs:
        return "dateTimeAsIso"
    if "_ratio" in exprs or " / " in exprs:
        return "percentunit"
    if "_status" in exprs or "_enabled" in exprs:
        return "none"  # a code that value mappings turn into the console's words
    if "max_send_rate" in exprs:
        return "suffix: emails/s"
    return "locale"  # counts: exact numbers, never "9 K"


@pytest.mark.parametrize("param", PANELS, ids=panel_id)
def test_units(param: tuple[str, dict[str, Any], dict[str, Any]]) -> None:
    _, panel, _ = param
    if panel["type"] == "text":
        return
    unit = panel["fieldConfig"]["defaults"]["unit"]
    if panel["type"] == "table":
        assert unit in {"string", "none"}
    else:
        assert unit == expected_unit(panel)


def test_sending_statistics_are_hourly() -> None:
    # The console's titles: Rejects, Bounces and Complaints are rates there too (unit %,
    # descriptions and legends say so).
    titles = ["Bounces", "Complaints", "Rejects", "Sends"]
    stats = {
        p["title"]: p
        for p, row in panels_with_rows(ACCOUNT)
        if row["title"].startswith("Sending statistics")
    }
    assert sorted(stats) == titles
    assert all(p["interval"] == "1h" for p in stats.values())
    sends = stats["Sends"]["targets"][0]["expr"]
    # max over replicas, per step ($__interval, at least the panel's hour): not [1h] on a
    # 30-day range (which counts one hour per step), not sum (which counts replicas twice)
    assert "max by (account_id, region) (increase(aws_ses_sends_total{" in sends
    assert "[$__interval]))" in sends
    # Each series gets the console host of its partition, for its "View in CloudWatch" link.
    for host, regex in (
        ("console.aws.amazon.com", ".*"),
        ("console.amazonaws.cn", "cn-.*"),
        ("console.amazonaws-us-gov.com", "us-gov-.*"),
    ):
        assert f'"console", "{host}", "region", "{regex}")' in sends
    for title in ("Bounces", "Complaints", "Rejects"):
        panel = stats[title]
        assert panel["fieldConfig"]["defaults"]["unit"] == "percentunit"
        assert panel["description"].startswith("A rate, as in the console")
        assert panel["targets"][0]["legendFormat"].startswith(f"{title[:-1]} rate ")
    rejects = stats["Rejects"]["targets"][0]["expr"]
    assert "increase(aws_ses_rejects_total{" in rejects
    assert " / (" in rejects and "> 0)" in rejects  # no division by zero in idle hours


# ---------------------------------------------------------------- console words, thresholds


def mapping_texts(panel: dict[str, Any]) -> dict[str, str]:
    mappings = panel["fieldConfig"]["defaults"]["mappings"]
    return {k: v["text"] for m in mappings for k, v in m["options"].items()}


def find(dashboard: dict[str, Any], title: str, row_title: str = "") -> dict[str, Any]:
    matches = [
        p
        for p, row in panels_with_rows(dashboard)
        if p["title"] == title and row_title in row.get("title", "")
    ]
    assert len(matches) == 1, (title, row_title, len(matches))
    return matches[0]


ENFORCEMENT_WORDS = {
    "1": "Healthy",
    "2": "Other (see the SES console)",  # a status AWS may add later
    "3": "Under review",
    "4": "Paused",
}


@pytest.mark.parametrize("dashboard", [ACCOUNT, REPUTATION], ids=["account", "reputation"])
def test_account_status_is_what_aws_says(dashboard: dict[str, Any]) -> None:
    """Both pages' Account status is AWS's enforcement status, never derived from rates."""
    status = find(dashboard, "Account status")
    assert mapping_texts(status) == ENFORCEMENT_WORDS
    expr = status["targets"][0]["expr"]
    for code, aws_status in ((1, "HEALTHY"), (3, "PROBATION"), (4, "SHUTDOWN")):
        assert f'status="{aws_status}"' in expr
        assert code == 1 or f"{code} * (aws_ses_account_enforcement_status" in expr
    assert "reputation" not in expr
    assert "v1 API" in status["fieldConfig"]["defaults"]["noValue"]
    # The SES console, in the partition of the series' region.
    [data_link] = status["fieldConfig"]["defaults"]["links"]
    assert data_link["url"].startswith(
        "https://${__field.labels.region}.${__field.labels.console}/ses/home?"
    )
    [header] = status["links"]
    assert header["url"].startswith("https://${region}.${console}/ses/home?region=${region}#/")


def test_account_health_in_the_consoles_words() -> None:
    assert mapping_texts(find(ACCOUNT, "Sending")) == {"1": "Enabled", "0": "Disabled"}
    assert mapping_texts(find(ACCOUNT, "Production access")) == {"1": "Production", "0": "Sandbox"}
    review = find(ACCOUNT, "Production access review")
    assert set(mapping_texts(review).values()) >= {"Pending", "Denied", "Granted"}
    expr = review["targets"][0]["expr"]
    assert 'aws_ses_account_info{production_access_review_status="PENDING"' in expr
    for title in ("Production access", "Production access review"):
        assert "v1 API" in find(ACCOUNT, title)["fieldConfig"]["defaults"]["noValue"]


def test_account_dashboard_has_the_consoles_panes_in_its_order() -> None:
    rows = [p for p in iter_panels(ACCOUNT) if p["type"] == "row"]
    panes = [r["title"].removesuffix(" · $region") for r in rows if r.get("repeat") == "region"]
    assert panes == [
        "Sending limits",
        "Account health",
        "Daily email usage",
        "SMTP settings",
        "Sending statistics",
    ]


def test_reputation_status_in_the_consoles_words() -> None:
    words = {"1": "Healthy", "2": "Under review", "3": "At risk"}
    titles = ["Bounce rate status", "Complaint rate status"]
    titles += ["Configuration set status"]
    for panel, _ in panels_with_rows(REPUTATION):
        if panel["title"] in titles:
            assert mapping_texts(panel) == words, panel["title"]


def test_unlimited_quota_is_shown_as_unlimited() -> None:
    for title in ("Daily sending quota", "Remaining sends"):
        assert mapping_texts(find(ACCOUNT, title)) == {"Infinity": "Unlimited"}


@pytest.mark.parametrize(
    ("dashboard", "title"),
    [
        (ACCOUNT, "Bounces"),
        (ACCOUNT, "Complaints"),
        (REPUTATION, "Historic bounce rate"),
        (REPUTATION, "Historic complaint rate"),
    ],
)
def test_rate_charts_draw_the_configured_thresholds(dashboard: dict[str, Any], title: str) -> None:
    """Dashed lines from ses_exporter_reputation_threshold_ratio, not numbers copied here."""
    kind = "bounce" if "ounce" in title else "complaint"
    for chart, _ in panels_with_rows(dashboard):
        if chart["title"] != title or chart["type"] != "timeseries":
            continue
        lines = {t["legendFormat"]: t["expr"] for t in chart["targets"][1:]}
        assert set(lines) == {"Under review threshold", "At risk threshold"}
        for word, expr in lines.items():
            status = "under_review" if word.startswith("Under") else "at_risk"
            assert expr.startswith(
                "max(max by (job, instance, cluster) (ses_exporter_reputation_threshold_ratio"
                f'{{rate="{kind}", status="{status}", job=~"$job", cluster=~"$cluster"}})'
                " and on (job, instance, cluster) aws_ses_"
            )
        styled = {o["matcher"]["options"] for o in chart["fieldConfig"]["overrides"]}
        assert styled == set(lines)
        no_value = chart["fieldConfig"]["defaults"]["noValue"]
        assert "AWS published none" in no_value and "collector is off or failing" in no_value


def test_summary_rates_turn_amber_at_80_percent_of_the_review_threshold() -> None:
    rates = ReputationThresholds()
    for title, pair in (("Bounce rate", rates.bounce), ("Complaint rate", rates.complaint)):
        steps = find(REPUTATION, title)["fieldConfig"]["defaults"]["thresholds"]["steps"]
        assert [(s["color"], s["value"]) for s in steps] == [
            ("green", None),
            ("yellow", pair.under_review * 4 / 5),
            ("orange", pair.under_review),
            ("red", pair.at_risk),
        ]
    assert 0.05 * 4 / 5 == 0.04  # exactly 4 % turns amber


def test_absence_says_what_it_means() -> None:
    """AWS publishes no reputation metric before the first bounce or complaint."""
    texts = {
        p["title"]: p["fieldConfig"]["defaults"].get("noValue")
        for p, _ in panels_with_rows(REPUTATION)
        if "fieldConfig" in p
    }
    # "No bounces" comes from the query (-1) only where the cloudwatch collector looked;
    # no value means the collector is off, failing or the exporter is down.
    for title, words in (("Bounce rate", "bounces"), ("Complaint rate", "complaints")):
        panel = find(REPUTATION, title)
        assert texts[title].startswith("No data from the exporter's cloudwatch collector")
        assert mapping_texts(panel) == {"-1": f"No {words} reported by AWS"}
        assert (
            'ses_exporter_collector_success{collector="cloudwatch", '
            in (panel["targets"][0]["expr"])
        )
    # Healthy without a reputation metric comes from the query, and only where the
    # cloudwatch collector's last poll succeeded; no value means the exporter is silent.
    titles = ["Bounce rate status", "Complaint rate status"]
    titles += ["Configuration set status"]
    for panel, _ in panels_with_rows(REPUTATION):
        if panel["title"] in titles:
            assert panel["fieldConfig"]["defaults"]["noValue"] == "No data from the exporter"
            expr = panel["targets"][0]["expr"]
            assert 'ses_exporter_collector_success{collector="cloudwatch", ' in expr
            assert "Healthy: AWS reports no bounces or complaints" in panel["description"]


def test_stat_texts_claim_no_threshold_number() -> None:
    """Status panels follow the configured thresholds: their texts name none; the rate
    stats, coloured by the defaults, say so."""
    for panel, _ in panels_with_rows(REPUTATION):
        text = json.dumps(panel.get("fieldConfig", {})) + panel["description"]
        if panel["title"].endswith("status"):
            assert not re.search(r"\d %|\d%", text), panel["title"]
    for title in ("Bounce rate", "Complaint rate"):
        description = find(REPUTATION, title)["description"]
        assert "not your configured thresholds" in description


def test_history_start_is_shown() -> None:
    for dashboard in (ACCOUNT, REPUTATION):
        panel = find(dashboard, "History starts at")
        assert panel["fieldConfig"]["defaults"]["unit"] == "dateTimeAsIso"
        expr = panel["targets"][0]["expr"]
        assert "[$__range:$__interval]" in expr
        assert "timestamp(aws_ses_sends_total{" in expr
        assert "ses_exporter_" not in expr  # backfill writes no self-metrics


# ---------------------------------------------------------------- queries in Prometheus

needs_promtool = pytest.mark.skipif(
    shutil.which("promtool") is None, reason="promtool is not installed (Debian: prometheus)"
)
T = '{account_id="111111111111", region="us-east-1", instance="a", job="ses-exporter"}'
TARGET_LABELS = '{account_id="111111111111", region="us-east-1"}'
VARIABLES = {"account_id": ALL, "region": ALL, "configuration_set": ALL}


def promql_results(tmp_path: Path, series: dict[str, str], exprs: dict[str, Any]) -> None:
    """Evaluates each expression with Prometheus's engine (`promtool test rules`) at 10h
    over 1-minute input series; exprs maps an expression to its expected samples as
    promtool writes them ("" for none). Fails with promtool's report."""
    tests = {
        "rule_files": [],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [{"series": s, "values": v} for s, v in series.items()],
                "promql_expr_test": [
                    {"expr": expr, "eval_time": "10h", "exp_samples": expected}
                    for expr, expected in exprs.items()
                ],
            }
        ],
    }
    path = tmp_path / "dashboard.test.yml"
    path.write_text(yaml.safe_dump(tests))
    command = ["promtool", "test", "rules", str(path)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def one_query(dashboard: dict[str, Any], title: str, row: str = "", **values: str) -> str:
    panel = find(dashboard, title, row)
    queries = dict(panel_queries({"panels": [panel]}, VARIABLES | values))
    return queries[title]


@needs_promtool
@pytest.mark.parametrize("name", DASHBOARD_FILES[:2])
def test_history_starts_at_the_first_ses_sample_also_when_backfilled(
    name: str, tmp_path: Path
) -> None:
    """Backfilled history has SES samples from its window start but no self-metrics; the
    live exporter's self-metrics start at 8h. Target 2 has no cloudwatch collector."""
    other = T.replace("111111111111", "222222222222")
    series = {
        f"aws_ses_sends_total{T}": "_x60 0+1x540",  # from 1h (backfill)
        f"aws_ses_send_statistics_delivery_attempts_total{T}": "_x30 0+1x570",
        f"ses_exporter_collector_last_success_timestamp_seconds{T}": "_x480 28800+60x120",
        f"aws_ses_send_statistics_delivery_attempts_total{other}": "_x120 0+1x480",
    }
    expr = one_query(DASHBOARDS[name], "History starts at", __range="12h", __interval="1m")
    expected = [
        {"labels": TARGET_LABELS, "value": 3600 * 1000},  # ms: Grafana's date unit
        {"labels": TARGET_LABELS.replace("111111111111", "222222222222"), "value": 7200 * 1000},
    ]
    promql_results(tmp_path, series, {expr: expected})


@needs_promtool
@pytest.mark.parametrize(
    ("success", "status", "expected"),
    [
        ("1+0x600", None, 1),  # polled, AWS publishes no rate: Healthy
        ("0+0x600", None, None),  # failing: no data from the exporter
        (None, None, None),  # cloudwatch collector off
        ("1+0x480", None, None),  # exporter gone since 8h: stale
        ("0+0x600", "under_review", 2),  # a status the exporter still exposes stays shown
    ],
)
def test_status_is_healthy_without_a_rate_only_where_cloudwatch_was_polled(
    tmp_path: Path, success: str | None, status: str | None, expected: int | None
) -> None:
    series = {}
    if success is not None:
        series[f'ses_exporter_collector_success{{collector="cloudwatch", {T[1:]}'] = success
        series[f'ses_exporter_collector_success{{collector="account", {T[1:]}'] = "1+0x600"
    if status is not None:
        for word in ("healthy", "under_review", "at_risk"):
            value = "1+0x600" if word == status else "0+0x600"
            labels = f'{{rate="bounce", status="{word}", {T[1:]}'
            series[f"aws_ses_reputation_status{labels}"] = value
    if not series:
        series[f"ses_exporter_collector_success{T}"] = "1+0x600"
    query = one_query(REPUTATION, "Bounce rate status", "Account-level")
    samples = [] if expected is None else [{"labels": TARGET_LABELS, "value": expected}]
    promql_results(tmp_path, series, {query: samples})


def test_every_pane_is_a_row_repeated_per_region() -> None:
    rows = titles_by_row(ACCOUNT)
    assert rows["Sending limits · $region"] == ["Daily sending quota", "Maximum send rate"]
    assert "Emails sent" in rows["Daily email usage · $region"]
    assert "Sends" in rows["Sending statistics · $region"]
    repeated = [p for p in iter_panels(ACCOUNT) if p["type"] == "row"]
    assert [r.get("repeat") for r in repeated] == [None] + ["region"] * 5


def test_representative_volume_is_explained() -> None:
    for title in ("Messages sent (last 24 h)", "Sent in the time range"):
        assert "representative volume" in find(REPUTATION, title)["description"]


def test_smtp_settings() -> None:
    smtp = find(ACCOUNT, "SMTP settings")
    assert "aws_ses_smtp_endpoint_info" in smtp["targets"][0]["expr"]
    renamed = smtp["transformations"][0]["options"]["renameByName"]
    assert set(renamed.values()) >= {"SMTP endpoint", "STARTTLS Port", "TLS Wrapper Port"}
    assert "Required" in find(ACCOUNT, "TLS required")["options"]["content"]


def test_configuration_sets_are_listed_with_reputation_metrics_enabled_or_not() -> None:
    table = find(REPUTATION, "Configuration sets")
    exprs = [t["expr"] for t in table["targets"]]
    assert "aws_ses_configuration_set_reputation_metrics_enabled" in exprs[0]
    assert all(SET_MATCHER not in expr for expr in exprs)  # every set, not only the selected
    columns = table["transformations"][1]["options"]["renameByName"]
    assert set(columns.values()) >= {
        "Bounce rate",
        "Complaint rate",
        "Reputation status",
        "Sends in the time range",
        "Worst rate ÷ review threshold",
    }
    # The worst first, a sort Grafana keeps on every refresh.
    assert table["options"]["sortBy"] == [
        {"displayName": "Worst rate ÷ review threshold", "desc": True}
    ]
    [sends] = [t["expr"] for t in table["targets"] if t["refId"] == "G"]
    assert "increase(aws_ses_configuration_set_sends_total{" in sends and "[$__range]" in sends
    overrides = {o["matcher"]["options"]: o for o in table["fieldConfig"]["overrides"]}
    mapping = overrides["Reputation metrics"]["properties"][0]["value"][0]["options"]
    assert {k: v["text"] for k, v in mapping.items()} == {"1": "Enabled", "0": "Disabled"}


# ---------------------------------------------------------------- links and variables


def test_every_chart_is_in_a_repeated_row() -> None:
    """A header link can name one region only: charts repeat per region or per set."""
    for _, panel, row in CHARTS:
        assert row.get("repeat") in {"region", "configuration_set"}, panel["title"]


@pytest.mark.parametrize("param", CHARTS, ids=panel_id)
def test_every_chart_links_to_the_same_metric_in_cloudwatch(
    param: tuple[str, dict[str, Any], dict[str, Any]],
) -> None:
    _, panel, row = param
    first = re.search(r"\b(aws_ses_\w+)\{", panel["targets"][0]["expr"])
    assert first is not None
    page = ses_console_page(first[1])
    if page:
        assert_links_to_the_ses_console(panel, page)
        return
    metric = CLOUDWATCH_METRIC[first[1]]
    [header] = [link for link in panel["links"] if link["title"] == "View in CloudWatch"]
    [data_link] = panel["fieldConfig"]["defaults"]["links"]
    for url, region, host in (
        (header["url"], "${region}", "${console}"),
        (data_link["url"], "${__field.labels.region}", "${__field.labels.console}"),
    ):
        console = f"https://{region}.{host}/cloudwatch/home?region={region}"
        if metric == "Reject":  # the chart shows Reject / Send: the same metric math
            math = "~(~(expression~'m1*2fm2~label~'Rejects*20*2f*20sends~id~'e1))"
            assert url.startswith(
                f"{console}#metricsV2:graph=~(metrics~({math}~(~'AWS*2fSES~'Reject"
            )
            assert "~(~'AWS*2fSES~'Send~(id~'m2~visible~false))" in url
        else:
            assert url.startswith(f"{console}#metricsV2:graph=~(metrics~(~(~'AWS*2fSES~'{metric}")
        graph = url.split("graph=", 1)[1].split(";", 1)[0]
        assert graph.count("(") == graph.count(")")
        assert f"~region~'{region}~stat~'" in graph
        assert url.endswith(";query=~'*7bAWS*2fSES*7d")
        if row.get("repeat") == "configuration_set":
            assert "~'ses*3aconfiguration-set~'$" in graph
    assert header["targetBlank"] and data_link["targetBlank"]


def assert_links_to_the_ses_console(panel: dict[str, Any], page: str) -> None:
    """The row's region in the header link, each series' own region and partition in its
    data link."""
    [header] = panel["links"]
    [data_link] = panel["fieldConfig"]["defaults"]["links"]
    assert header["url"] == (
        f"https://${{region}}.${{console}}/ses/home?region=${{region}}#/{page}"
    )
    assert data_link["url"] == (
        "https://${__field.labels.region}.${__field.labels.console}/ses/home"
        f"?region=${{__field.labels.region}}#/{page}"
    )
    assert header["targetBlank"] and data_link["targetBlank"]
    assert all('"console", "console.' in t["expr"] for t in panel["targets"])


def variables(dashboard: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in dashboard["templating"]["list"]}


@pytest.mark.parametrize("name", DASHBOARD_FILES)
def test_variables_are_chained_and_multi_select(name: str) -> None:
    found = variables(DASHBOARDS[name])
    datasource = found.pop("datasource")
    assert (datasource["type"], datasource["query"]) == ("datasource", "prometheus")
    job, cluster = found.pop("job"), found.pop("cluster")
    # "All" of the job variable is the jobs that expose ses-exporter's metrics (no allValue:
    # Grafana joins the options), so other jobs' `up` never counts.
    assert job["query"] == "label_values(ses_exporter_build_info, job)"
    assert "allValue" not in job and job["includeAll"]
    assert cluster["query"] == 'label_values(ses_exporter_build_info{job=~"$job"}, cluster)'
    assert cluster["allValue"] == ".*"  # also matches series without a cluster label
    account, region = found.pop("account_id"), found.pop("region")
    assert account["query"] == (
        "query_result(max by (account_id, account_name) (ses_exporter_account_info"
        '{job=~"$job", cluster=~"$cluster"}))'
    )
    # Grafana shows the named group "text" and selects "value" (the account id).
    assert account["regex"] == '/account_id="(?<value>[^"]+)".*account_name="(?<text>[^"]*)"/'
    # Per-target pages open on the first account, not on hundreds of them; the fleet
    # overview is the page for all.
    assert account["multi"] and account["includeAll"] == (name == "ses-fleet-overview.json")
    assert region["query"] == (  # any collector will do
        'label_values(ses_exporter_collector_success{job=~"$job", cluster=~"$cluster", '
        'account_id=~"$account_id"}, region)'
    )
    chained = [job, cluster, region]
    if name == "ses-reputation-metrics.json":
        sets = found.pop("configuration_set")
        assert "aws_ses_configuration_set_reputation_metrics_enabled" in sets["query"]
        assert all(m in sets["query"] for m in TARGET_MATCHERS)
        chained.append(sets)  # many sets at once; each gets a collapsed row
    if name == "ses-deliverability.json":
        isps = found.pop("isp")
        assert isps["query"].startswith("label_values(aws_ses_vdm_isp_sends_total{")
        assert all(m in isps["query"] for m in TARGET_MATCHERS)
        chained.append(isps)
    if name != "ses-fleet-overview.json":
        console = found.pop("console")
        assert console["hide"] == 2 and not console["multi"]
        assert console["regex"] == '/console="([^"]+)"/'
        assert 'region=~"$region"' in console["query"]
    assert found == {}
    for variable in [*chained, account]:
        assert variable["type"] == "query"
        assert variable["datasource"] == DATASOURCE
        assert variable["refresh"] == 2  # new accounts, regions and sets appear
    for variable in chained:
        assert variable["multi"] and variable["includeAll"]


@needs_promtool
def test_the_console_host_follows_the_regions_partition(tmp_path: Path) -> None:
    """GovCloud and China regions link to their own consoles, not the commercial one."""
    [console] = [v for v in REPUTATION["templating"]["list"] if v["name"] == "console"]
    series = {}
    expected = {}
    for region, host in (
        ("us-east-1", "console.aws.amazon.com"),
        ("us-gov-west-1", "console.amazonaws-us-gov.com"),
        ("cn-northwest-1", "console.amazonaws.cn"),
    ):
        labels = T.replace("us-east-1", region)
        series[f"ses_exporter_collector_success{labels}"] = "1+0x600"
        expected[region] = [{"labels": f'{{console="{host}"}}', "value": 1}]
    exprs = {}
    for region, samples in expected.items():
        query = interpolate(console["query"], VARIABLES | {"region": region, "account_id": ALL})
        exprs[query.removeprefix("query_result(").removesuffix(")")] = samples
    promql_results(tmp_path, series, exprs)


def test_time_picker_offers_the_consoles_ranges() -> None:
    wanted = {"now-1d", "now-3d", "now-7d", "now-14d"}
    for dashboard in DASHBOARDS.values():
        assert {r["from"] for r in dashboard["timepicker"]["quick_ranges"]} == wanted
    # Grafana before 11.6 has no quick_ranges: dashboard links offer the same ranges.
    urls = [link["url"] for link in ACCOUNT["links"] if link["type"] == "link"]
    assert {re.search(r"from=([^&]+)", url)[1] for url in urls} == wanted  # type: ignore[index]
    assert all(url.startswith("/d/ses-account-dashboard/") for url in urls)


def test_dashboards_link_to_each_other() -> None:
    for dashboard in DASHBOARDS.values():
        [siblings] = [link for link in dashboard["links"] if link["type"] == "dashboards"]
        assert siblings["includeVars"] and siblings["keepTime"]
        assert set(siblings["tags"]) <= set(dashboard["tags"])


# ---------------------------------------------------------------- panel_queries()


def test_panel_queries_substitutes_every_variable() -> None:
    values = {"account_id": "123456789012", "region": ["us-east-1", "eu-west-1"]}
    values |= {"configuration_set": ["a.b"]}
    queries = panel_queries(REPUTATION, values)
    assert len(queries) == sum(len(p.get("targets", [])) for p in iter_panels(REPUTATION))
    for title, expr in queries:
        assert "$" not in expr and "$" not in title
    first = dict(queries)["Bounce rate"]
    assert 'account_id=~"123456789012", region=~"(us-east-1|eu-west-1)"' in first
    assert any('configuration_set=~"a\\\\.b"' in expr for _, expr in queries)
    sent = dict(queries)["Sent in the time range"]
    assert sent.endswith("[1h]))")
    six_hours = dict(panel_queries(REPUTATION, values | {"__range": "6h"}))
    assert "[6h]" in six_hours["Sent in the time range"]
    with pytest.raises(KeyError):
        panel_queries(REPUTATION, {"account_id": "1"})


def test_panel_queries_all_is_the_variables_all_value() -> None:
    everything = {"account_id": ALL, "region": ALL, "configuration_set": [ALL]}
    exprs = [expr for _, expr in panel_queries(REPUTATION, everything) if "aws_ses_" in expr]
    assert all('account_id=~".*", region=~".*"' in expr for expr in exprs)
    assert any('configuration_set=~".*"' in expr for expr in exprs)
    for dashboard in DASHBOARDS.values():
        for variable in dashboard["templating"]["list"]:
            if variable["name"] != "job" and variable["includeAll"]:
                assert variable["allValue"] == ALL_VALUE


def test_variable_queries() -> None:
    queries = dict(variable_queries(REPUTATION, {"account_id": "1", "region": "us-east-1"}))
    assert queries["region"] == (
        'label_values(ses_exporter_collector_success{job=~".*", cluster=~".*", '
        'account_id=~"1"}, region)'
    )
    assert 'account_id=~"1", region=~"us-east-1"' in queries["configuration_set"]


# ---------------------------------------------------------------- provisioning


def test_datasource_provisioning() -> None:
    config = yaml.safe_load((GRAFANA_DIR / "provisioning/datasources/prometheus.yml").read_text())
    assert config["apiVersion"] == 1
    [source] = config["datasources"]
    assert (source["type"], source["uid"]) == ("prometheus", "prometheus")
    assert source["url"] == "http://prometheus:9090"
    assert source["access"] == "proxy"


def test_dashboard_provisioning() -> None:
    config = yaml.safe_load((GRAFANA_DIR / "provisioning/dashboards/ses-exporter.yml").read_text())
    assert config["apiVersion"] == 1
    [provider] = config["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards/ses-exporter"


# ---------------------------------------------------------------- the fleet overview


def test_fleet_overview_aggregates_in_prometheus() -> None:
    """No tile per target: every stat is one number over the fleet, per-target data is in
    tables, and every table row links to the per-target pages."""
    for panel, _ in panels_with_rows(FLEET):
        if panel["type"] == "stat":
            [target] = panel["targets"]
            assert target["expr"].startswith(("count(", "max(time() - ")), panel["title"]
        elif panel["type"] == "table":
            assert all(t["instant"] and t["format"] == "table" for t in panel["targets"])
            assert panel["options"]["sortBy"][0]["desc"]
    table = find(FLEET, "Accounts and regions")
    urls = [
        link["url"]
        for o in table["fieldConfig"]["overrides"]
        for p in o["properties"]
        if p["id"] == "links"
        for link in p["value"]
    ]
    for page in ("ses-account-dashboard", "ses-reputation-metrics"):
        assert any(
            url.startswith(f"/d/{page}/")
            and "var-account_id=${__data.fields.account_id}" in url
            and "var-region=${__data.fields.region}" in url
            for url in urls
        ), page
    for title in ("Top sets by bounce rate", "Top sets by bounces"):
        assert find(FLEET, title)["targets"][0]["expr"].startswith("topk(10, ")


@needs_promtool
def test_fleet_worst_first_puts_aws_enforcement_first_and_uses_each_exporters_thresholds(
    tmp_path: Path,
) -> None:
    """Two releases in one job (exporters a and b, differing by namespace) with different
    review thresholds: each rate is divided by the threshold of the exporter exposing it
    (a join on the job alone finds duplicate series), and the sort key ranks Paused, then
    Under review, then the worse rate ÷ threshold."""
    a = '{job="ses-exporter", instance="a", namespace="one"}'
    b = '{job="ses-exporter", instance="b", namespace="two"}'
    series = {}
    for exporter, review in ((a, 0.25), (b, 0.5)):
        for status, value in (("under_review", review), ("at_risk", 2 * review)):
            labels = f'{{rate="bounce", status="{status}", {exporter[1:]}'
            series[f"ses_exporter_reputation_threshold_ratio{labels}"] = f"{value}+0x600"
    targets = {  # account: (exporter, enforcement, bounce rate)
        "111111111111": (a, "HEALTHY", 0.375),  # 1.5 x a's review threshold
        "222222222222": (b, "HEALTHY", 0.375),  # 0.75 x b's
        "333333333333": (a, "PROBATION", 0.125),
        "444444444444": (b, "SHUTDOWN", None),
    }
    for account, (exporter, enforcement, rate) in targets.items():
        labels = f'account_id="{account}", region="us-east-1", {exporter[1:-1]}'
        series[f'ses_exporter_collector_success{{collector="account", {labels}}}'] = "1+0x600"
        series[f"aws_ses_account_sending_enabled{{{labels}}}"] = "1+0x600"
        for status in ("HEALTHY", "PROBATION", "SHUTDOWN"):
            value = "1+0x600" if status == enforcement else "0+0x600"
            series[f'aws_ses_account_enforcement_status{{status="{status}", {labels}}}'] = value
        if rate is not None:
            series[f"aws_ses_reputation_bounce_ratio{{{labels}}}"] = f"{rate}+0x600"
    series['ses_exporter_account_info{account_id="111111111111", account_name="shop", ' + a[1:]] = (
        "1+0x600"
    )
    table = find(FLEET, "Accounts and regions")
    [key] = [t for t in table["targets"] if t["refId"] == "A"]
    query = interpolate(key["expr"], VARIABLES | {"account_id": ALL, "region": ALL})

    def row(account: str, value: float, name: str = "") -> dict[str, Any]:
        labels = f'account_id="{account}", region="us-east-1"'
        if name:
            labels += f', account_name="{name}"'
        return {"labels": f"{{{labels}}}", "value": value}

    promql_results(
        tmp_path,
        series,
        {
            query: [
                row("111111111111", 101.5, "shop"),
                row("222222222222", 100.75),
                row("333333333333", 300.5),
                row("444444444444", 400),
            ]
        },
    )


@needs_promtool
@pytest.mark.parametrize(
    ("dashboard", "title"), [(ACCOUNT, "Bounces"), (REPUTATION, "Historic bounce rate")]
)
def test_a_chart_without_a_rate_is_empty_so_its_no_data_text_shows(
    tmp_path: Path, dashboard: dict[str, Any], title: str
) -> None:
    """Threshold lines alone would make a chart without any rate look flat and healthy."""
    series = {
        'ses_exporter_reputation_threshold_ratio{rate="bounce", status="under_review", '
        'job="ses-exporter", instance="a"}': "0.05+0x600",
        'ses_exporter_reputation_threshold_ratio{rate="bounce", status="at_risk", '
        'job="ses-exporter", instance="a"}': "0.1+0x600",
        f'ses_exporter_collector_success{{collector="cloudwatch", {T[1:]}': "0+0x600",
    }
    chart = next(
        p
        for p, _ in panels_with_rows(dashboard)
        if p["title"] == title and p["type"] == "timeseries"
    )
    exprs = {expr: [] for _, expr in panel_queries({"panels": [chart]}, VARIABLES)}
    promql_results(tmp_path, series, exprs)


@needs_promtool
@pytest.mark.parametrize(
    ("success", "expected"),
    [("1+0x600", -1), ("0+0x600", None), (None, None)],
    ids=["polled", "failing", "off"],
)
def test_no_bounces_only_where_the_cloudwatch_collector_looked(
    tmp_path: Path, success: str | None, expected: int | None
) -> None:
    series = {f'ses_exporter_collector_success{{collector="account", {T[1:]}': "1+0x600"}
    if success is not None:
        series[f'ses_exporter_collector_success{{collector="cloudwatch", {T[1:]}'] = success
    query = one_query(REPUTATION, "Bounce rate", "Summary")
    samples = [] if expected is None else [{"labels": TARGET_LABELS, "value": expected}]
    promql_results(tmp_path, series, {query: samples})


@needs_promtool
def test_reputation_account_status_is_under_review_without_any_rate(tmp_path: Path) -> None:
    """PROBATION and no reputation datapoint: Under review (3), not a derived Healthy."""
    series = {f'ses_exporter_collector_success{{collector="cloudwatch", {T[1:]}': "1+0x600"}
    for status in ("HEALTHY", "PROBATION", "SHUTDOWN"):
        value = "1+0x600" if status == "PROBATION" else "0+0x600"
        series[f'aws_ses_account_enforcement_status{{status="{status}", {T[1:]}'] = value
    query = one_query(REPUTATION, "Account status", "Summary")
    labels = '{account_id="111111111111", region="us-east-1", console="console.aws.amazon.com"}'
    promql_results(tmp_path, series, {query: [{"labels": labels, "value": 3}]})


def test_no_query_counts_replicas_twice_or_a_fixed_hour() -> None:
    """`sum` only over what `max` already made one per target (failing collectors); counts
    over `$__interval` or `$__range`, never a fixed `[1h]`."""
    for _, panel, _ in PANELS:
        for target in panel.get("targets", []):
            expr = target["expr"]
            assert "sum by" not in expr or "(1 - max by" in expr, (panel["title"], expr)
            for window in re.findall(r"\[([^\]]+)\]", expr):
                assert window in {"$__interval", "$__range", "$__range:$__interval"}, expr


def test_the_reputation_page_has_the_consoles_panes_in_its_order() -> None:
    rows = [p["title"] for p in REPUTATION["panels"] if p["type"] == "row"]
    assert rows[1:] == [
        "Summary · $region",
        "Account-level · $region",
        "Configuration sets",
        "Configuration set · $configuration_set",
    ]
    assert rows[0] == "Exporter"


# ---------------------------------------------------------------- the identities page


def test_identities_page_rows_and_panels() -> None:
    rows = titles_by_row(IDENTITIES)
    assert rows["Identities"] == [
        "Identities per type",
        "Verification",
        "DKIM",
        "MAIL FROM",
        "Identities",
    ]
    assert rows["Dedicated IPs · $region"] == ["Warm-up per IP", "Dedicated IPs", "Pools"]
    assert rows["Suppression list · $region"] == [
        "Suppressed addresses",
        "Count complete",
        "Reasons SES suppresses",
    ]
    repeated = {p["title"]: p.get("repeat") for p in iter_panels(IDENTITIES) if p["type"] == "row"}
    assert repeated["Dedicated IPs · $region"] == repeated["Suppression list · $region"] == "region"


def test_identities_table_is_worst_first_with_every_status() -> None:
    table = find(IDENTITIES, "Identities", "Identities")
    assert table["type"] == "table"
    assert table["options"]["sortBy"] == [{"displayName": "Worst first", "desc": True}]
    organize = table["transformations"][1]["options"]
    assert set(organize["renameByName"].values()) >= {
        "Identity",
        "Verification",
        "DKIM",
        "DKIM signing",
        "MAIL FROM",
        "MAIL FROM domain",
        "On MX failure",
        "Sending",
        "Configuration set",
    }
    # The label-only queries' values are not shown.
    assert organize["excludeByName"] == {"Time": True, "Value #F": True, "Value #H": True}
    overrides = {o["matcher"]["options"]: o for o in table["fieldConfig"]["overrides"]}
    mapping = overrides["Verification"]["properties"][0]["value"][0]["options"]
    assert {k: v["text"] for k, v in mapping.items()} == {
        "1": "Verified",
        "2": "Not started",
        "3": "Other",
        "4": "Pending",
        "5": "Temporary failure",
        "6": "Failed",
    }


def alerts_linking_to(uid: str) -> dict[str, str]:
    """{alert: its dashboard link} of the alerts whose link opens the dashboard `uid`."""
    rules = yaml.safe_load((GRAFANA_DIR.parent / "prometheus/ses-exporter.rules.yml").read_text())
    return {
        r["alert"]: r["annotations"]["dashboard"]
        for g in rules["groups"]
        for r in g["rules"]
        if "alert" in r and f"/d/{uid}/{uid}?" in r["annotations"]["dashboard"]
    }


def test_alerts_about_identities_ips_and_the_suppression_list_link_here() -> None:
    assert set(alerts_linking_to("ses-identities")) == {
        "SesIdentityVerificationFailed",
        "SesIdentityVerificationTemporaryFailure",
        "SesIdentityDkimNotSigning",
        "SesIdentityMailFromFailed",
        "SesIdentityMailFromRejecting",
        "SesDedicatedIpWarmupCampaign",
        "SesSuppressionListGrowing",
        "SesSuppressionListTruncated",
    }


SCRAPED = 'account_id="111111111111", region="us-east-1", job="ses-exporter"'
REPLICAS = ('instance="a"', 'instance="b"')


def identity_series() -> dict[str, str]:
    """Two replicas reporting the same identities: example.com verified but its DKIM
    failing, news@example.com failed, example.org fine with a failing MAIL FROM domain."""
    series = {}
    for replica in REPLICAS:
        labels = f"{SCRAPED}, {replica}"
        for identity, kind, verification, dkim in (
            ("example.com", "DOMAIN", "SUCCESS", "FAILED"),
            ("news@example.com", "EMAIL_ADDRESS", "FAILED", None),
            ("example.org", "DOMAIN", "SUCCESS", "SUCCESS"),
        ):
            who = f'{labels}, identity="{identity}", identity_type="{kind}"'
            series[f'aws_ses_identity_verification_status{{{who}, status="{verification}"}}'] = (
                "1+0x600"
            )
            if dkim:
                series[f'aws_ses_identity_dkim_status{{{who}, status="{dkim}"}}'] = "1+0x600"
        who = f'{labels}, identity="example.org", identity_type="DOMAIN"'
        mail_from = 'mail_from_domain="bounce.example.org", behavior_on_mx_failure="REJECT_MESSAGE"'
        series[f'aws_ses_identity_mail_from_status{{{who}, {mail_from}, status="FAILED"}}'] = (
            "1+0x600"
        )
    return series


@needs_promtool
def test_identities_worst_first_and_counts_count_each_identity_once(tmp_path: Path) -> None:
    table = find(IDENTITIES, "Identities", "Identities")
    [worst] = [t["expr"] for t in table["targets"] if t["refId"] == "A"]
    worst = interpolate(worst, VARIABLES)
    verification = one_query(IDENTITIES, "Verification")

    def sample(identity: str, kind: str, value: float) -> dict[str, Any]:
        labels = f'{{account_id="111111111111", identity="{identity}", identity_type="{kind}", '
        return {"labels": labels + 'region="us-east-1"}', "value": value}

    promql_results(
        tmp_path,
        identity_series(),
        {
            # verification x 100 + DKIM x 10 + MAIL FROM (6 = failed, 1 = successful)
            worst: [
                sample("example.com", "DOMAIN", 160),
                sample("example.org", "DOMAIN", 116),
                sample("news@example.com", "EMAIL_ADDRESS", 600),
            ],
            verification: [
                {"labels": '{status="FAILED"}', "value": 1},
                {"labels": '{status="SUCCESS"}', "value": 2},
            ],
        },
    )


@needs_promtool
def test_every_identities_page_query_runs_in_prometheus(tmp_path: Path) -> None:
    """Every panel query of the page, on series of every new family from two replicas:
    Prometheus accepts them and no result carries a replica's instance."""
    series = identity_series()
    for replica in REPLICAS:
        labels = f"{SCRAPED}, {replica}"
        ip = f'{labels}, pool="campaigns", ip="198.51.100.1"'
        series[f'aws_ses_dedicated_ip_warmup_status{{{ip}, status="IN_PROGRESS"}}'] = "1+0x600"
        series[f"aws_ses_dedicated_ip_warmup_ratio{{{ip}}}"] = "0.35+0x600"
        pool = f'{labels}, pool="campaigns", scaling_mode="STANDARD"'
        series[f"aws_ses_dedicated_ip_pool_info{{{pool}}}"] = "1+0x600"
        for reason, count in (("BOUNCE", 1200), ("COMPLAINT", 3)):
            series[f'aws_ses_suppressed_destinations{{{labels}, reason="{reason}"}}'] = (
                f"{count}+0x600"
            )
            series[f'aws_ses_suppression_reason_enabled{{{labels}, reason="{reason}"}}'] = "1+0x600"
        series[f"aws_ses_suppressed_destinations_truncated{{{labels}}}"] = "0+0x600"
        series[f'aws_ses_identities{{{labels}, identity_type="DOMAIN"}}'] = "2+0x600"
        for identity in ("example.com", "example.org"):
            who = f'{labels}, identity="{identity}", identity_type="DOMAIN"'
            series[f"aws_ses_identity_sending_enabled{{{who}}}"] = "1+0x600"
            series[f"aws_ses_identity_dkim_signing_enabled{{{who}}}"] = "1+0x600"
            info = f'{who}, configuration_set="", dkim_signing_attributes_origin="AWS_SES"'
            series[f"aws_ses_identity_info{{{info}}}"] = "1+0x600"
        for collector in ("identities", "dedicated_ips", "suppression"):
            success = f'ses_exporter_collector_success{{{labels}, collector="{collector}"}}'
            series[success] = "1+0x600"
    console = 'console="console.aws.amazon.com"'
    expected = {
        "Warm-up per IP": [
            {
                "labels": f'{{account_id="111111111111", {console}, ip="198.51.100.1", '
                'pool="campaigns", region="us-east-1"}',
                "value": 0.35,
            }
        ],
        "Suppressed addresses": [
            {
                "labels": f'{{account_id="111111111111", {console}, reason="{reason}", '
                'region="us-east-1"}',
                "value": count,
            }
            for reason, count in (("BOUNCE", 1200), ("COMPLAINT", 3))
        ],
        "Count complete": [{"labels": TARGET_LABELS, "value": 0}],
    }
    exprs = {}
    for panel, _ in panels_with_rows(IDENTITIES):
        if panel["title"] in expected:
            [(_, expr)] = panel_queries({"panels": [panel]}, VARIABLES)
            exprs[expr] = expected[panel["title"]]
    assert len(exprs) == len(expected)
    promql_results(tmp_path, series, exprs)
    # The rest: every query answers, and its series are not split by replica (grouped by
    # the replica labels, one group: they carry none).
    rest = {
        f"count(count by (instance, pod) ({expr}))": [{"labels": "{}", "value": 1}]
        for _, expr in panel_queries(IDENTITIES, VARIABLES)
        if "aws_ses_" in expr and expr not in exprs
    }
    assert len(rest) >= 12
    promql_results(tmp_path, series, rest)


# ---------------------------------------------------------------- deliverability by provider


def test_deliverability_page_rows_and_panels() -> None:
    rows = titles_by_row(VDM)
    assert rows["Virtual Deliverability Manager"] == [
        "VDM",
        "Engagement metrics",
        "Sends in the time range",
        "Mailbox providers",
    ]
    assert rows["Mailbox providers · $region"] == [
        "Sends",
        "Deliveries",
        "Bounces: permanent vs transient",
        "Complaints",
        "Opens and clicks",
    ]
    assert rows["Rates against the account's · $region"] == [
        "Delivery rate",
        "Permanent bounce rate",
        "Transient bounce rate",
        "Complaint rate",
        "Open rate",
        "Click rate",
    ]
    assert VDM["time"] == {"from": "now-14d", "to": "now"}  # daily points: two weeks
    for panel, _ in panels_with_rows(VDM):
        exprs = [t["expr"] for t in panel.get("targets", [])]
        if panel["type"] == "timeseries":  # VDM counts per day: one point per day
            assert panel["interval"] == "1d", panel["title"]
            assert all("[$__interval]" in expr for expr in exprs)
        for expr in exprs:  # the provider variable selects every per-provider family
            for family, matchers in re.findall(r"\b(aws_ses_vdm_\w+)(\{[^}]*\})", expr):
                per_isp = family.startswith("aws_ses_vdm_isp_")
                assert ('isp=~"$isp"' in matchers) == per_isp, (panel["title"], family)


def test_rate_charts_put_each_provider_against_the_account() -> None:
    for name, events, base in (
        ("Delivery rate", "deliveries", "sends"),
        ("Permanent bounce rate", "permanent_bounces", "sends"),
        ("Transient bounce rate", "transient_bounces", "sends"),
        ("Complaint rate", "complaints", "feedback_loop_deliveries"),
        ("Open rate", "opens", "open_tracked_deliveries"),
        ("Click rate", "clicks", "click_tracked_deliveries"),
    ):
        chart = find(VDM, name)
        provider, account = (t["expr"] for t in chart["targets"])
        for expr, prefix in ((provider, "aws_ses_vdm_isp_"), (account, "aws_ses_vdm_")):
            assert f"(increase({prefix}{events}_total{{" in expr
            assert f"(increase({prefix}{base}_total{{" in expr and "> 0)" in expr
        assert chart["targets"][1]["legendFormat"].startswith("Account ")


def test_vdm_off_is_shown_as_off() -> None:
    for title in ("VDM", "Engagement metrics"):
        panel = find(VDM, title)
        assert mapping_texts(panel) == {"1": "On", "0": "Off"}
        assert "vdm collector" in panel["fieldConfig"]["defaults"]["noValue"]
    assert "ses_exporter_vdm_enabled{" in find(VDM, "VDM")["targets"][0]["expr"]
    assert "SesVdmDisabled" in find(VDM, "VDM")["description"]


def test_alerts_about_mailbox_providers_link_here() -> None:
    linked = alerts_linking_to("ses-deliverability")
    assert set(linked) == {
        "SesVdmIspPermanentBounceRateHigh",
        "SesVdmIspComplaintRateHigh",
        "SesVdmDisabled",
    }
    assert linked["SesVdmIspComplaintRateHigh"].endswith("&var-isp={{$labels.isp}}")


def vdm_series() -> dict[str, str]:
    """Two replicas counting the same VDM events a minute: the account sends 100 and 3
    bounce for good; Gmail gets 40 (2 bounce, no feedback loop), Yahoo 10 (none bounce);
    one complaint a minute everywhere, against 9 feedback-loop deliveries."""
    counts = {
        None: {"sends": 100, "deliveries": 96, "permanent_bounces": 3, "transient_bounces": 1},
        "Gmail": {"sends": 40, "deliveries": 37, "permanent_bounces": 2, "transient_bounces": 1},
        "Yahoo": {"sends": 10, "deliveries": 10, "permanent_bounces": 0, "transient_bounces": 0},
    }
    engagement = {"opens": 20, "open_tracked_deliveries": 50, "clicks": 5}
    engagement |= {"click_tracked_deliveries": 40, "complaints": 1}
    series = {}
    for replica in REPLICAS:
        labels = f"{SCRAPED}, {replica}"
        for isp, sending in counts.items():
            loop = {"feedback_loop_deliveries": 0 if isp == "Gmail" else 9}
            where = f'{labels}, isp="{isp}"' if isp else labels
            for stem, per_minute in (sending | engagement | loop).items():
                family = f"aws_ses_vdm_{'isp_' if isp else ''}{stem}_total"
                series[f"{family}{{{where}}}"] = f"0+{per_minute}x600"
        series[f"ses_exporter_vdm_enabled{{{labels}}}"] = "1+0x600"
        series[f"aws_ses_vdm_engagement_metrics_enabled{{{labels}}}"] = "1+0x600"
        series[f'ses_exporter_collector_success{{{labels}, collector="vdm"}}'] = "1+0x600"
    return series


@needs_promtool
def test_every_deliverability_query_runs_in_prometheus(tmp_path: Path) -> None:
    """Per-day rates of each provider and of the account, counted once over two replicas;
    no complaint rate for a provider without a feedback loop (not NaN); the table's sort
    key is a provider's permanent bounce rate ÷ the account's."""
    variables = VARIABLES | {"isp": ALL}
    console = 'console="console.aws.amazon.com"'

    def sample(value: float, isp: str | None = None, *, with_console: bool = True) -> Any:
        labels = ['account_id="111111111111"']
        labels += [console] if with_console else []
        labels += [f'isp="{isp}"'] if isp else []
        return {"labels": "{" + ", ".join([*labels, 'region="us-east-1"']) + "}", "value": value}

    def queries(title: str) -> list[str]:
        return [expr for _, expr in panel_queries({"panels": [find(VDM, title)]}, variables)]

    provider, account = queries("Permanent bounce rate")
    [complaints, _] = queries("Complaint rate")
    [sends, *_] = queries("Sends")
    table = find(VDM, "Mailbox providers")
    [versus] = [t["expr"] for t in table["targets"] if t["refId"] == "D"]
    versus = interpolate(versus, variables | {"__range": "10h"})
    expected = {
        provider: [sample(2 / 40, "Gmail"), sample(0, "Yahoo")],
        account: [sample(3 / 100)],
        complaints: [sample(1 / 9, "Yahoo")],  # Gmail has no feedback loop: no rate
        sends: [sample(40 * 600, "Gmail"), sample(10 * 600, "Yahoo")],  # a day: all 10 h
        versus: [sample((2 / 40) / (3 / 100), "Gmail", with_console=False)],
    }
    expected[versus].append(sample(0, "Yahoo", with_console=False))
    promql_results(tmp_path, vdm_series(), expected)
    rest = {
        f"count(count by (instance, pod) ({expr}))": [{"labels": "{}", "value": 1}]
        for _, expr in panel_queries(VDM, variables)
        if "aws_ses_" in expr and expr not in expected
    }
    assert len(rest) >= 20
    promql_results(tmp_path, vdm_series(), rest)
