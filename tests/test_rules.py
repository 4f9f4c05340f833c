"""deploy/prometheus: the alert and recording rules, their promtool unit tests, and the
example Prometheus and Alertmanager configurations, checked by the real tools (skipped
where promtool or amtool is not installed) and by reading the YAML."""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).parent.parent
README = ROOT / "README.md"
DEPLOY = ROOT / "deploy" / "prometheus"
RULES = DEPLOY / "ses-exporter.rules.yml"
RULE_TESTS = DEPLOY / "ses-exporter.rules.test.yml"
PROMETHEUS_CONFIG = DEPLOY / "prometheus.yml"
ALERTMANAGER_CONFIG = DEPLOY / "alertmanager.yml"

GROUPS = ["ses-exporter.recording", "ses-exporter.alerts"]
SEVERITIES = {"info", "warning", "critical"}
# The dashboards' UIDs are fixed (deploy/grafana); links are relative to Grafana's root.
DASHBOARDS = (
    "/d/ses-account-dashboard/ses-account-dashboard",
    "/d/ses-reputation-metrics/ses-reputation-metrics",
)
METRIC_NAME = re.compile(r"\b(?:aws_ses|ses_exporter)_[a-z0-9_]+\b")

needs_promtool = pytest.mark.skipif(
    shutil.which("promtool") is None, reason="promtool is not installed (Debian: prometheus)"
)
needs_amtool = pytest.mark.skipif(
    shutil.which("amtool") is None,
    reason="amtool is not installed (Debian: prometheus-alertmanager)",
)


def run(*args: str | Path) -> str:
    """Runs a tool and returns its output; fails the test on a non-zero exit status."""
    result = subprocess.run(
        [str(arg) for arg in args], capture_output=True, text=True, timeout=60, check=False
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    return output


@functools.cache
def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def rules(kind: str) -> list[dict[str, Any]]:
    """Every rule of the rules file that has the key ``kind`` (``alert`` or ``record``)."""
    return [rule for group in load(RULES)["groups"] for rule in group["rules"] if kind in rule]


def alert_names() -> set[str]:
    return {rule["alert"] for rule in rules("alert")}


def documented_metrics() -> set[str]:
    """Metric names in the README's tables, plus the per-configuration-set twins of the
    cloudwatch families (README: "the same families with the prefix
    aws_ses_configuration_set_ instead of aws_ses_")."""
    names = set(re.findall(r"^\| `([a-z0-9_]+)` \|", README.read_text(), re.MULTILINE))
    twins = {"aws_ses_configuration_set_" + name.removeprefix("aws_ses_") for name in names}
    return names | twins


# ---- the tools ----------------------------------------------------------------------


@needs_promtool
def test_promtool_check_rules() -> None:
    output = run("promtool", "check", "rules", RULES)
    assert f"SUCCESS: {len(rules('alert')) + len(rules('record'))} rules found" in output


@needs_promtool
def test_promtool_test_rules() -> None:
    assert "SUCCESS" in run("promtool", "test", "rules", RULE_TESTS)


@needs_promtool
def test_promtool_check_config_loads_the_rules() -> None:
    # rule_files are resolved relative to prometheus.yml, wherever promtool runs.
    output = run("promtool", "check", "config", PROMETHEUS_CONFIG)
    assert "SUCCESS: 1 rule files found" in output
    assert f"SUCCESS: {len(rules('alert')) + len(rules('record'))} rules found" in output


@needs_promtool
def test_commented_tls_scrape_config_is_valid(tmp_path: Path) -> None:
    """The commented HTTPS / basic auth job, uncommented in place of the plain one."""
    text = PROMETHEUS_CONFIG.read_text()
    before_jobs = text[: text.index("  - job_name: ses-exporter\n")]
    commented = text[text.index("  # - job_name: ses-exporter\n") :]
    tls_job = "".join(f"  {line.removeprefix('  # ')}\n" for line in commented.splitlines())
    for name in ("ses-exporter-ca.crt", "ses-exporter.password"):
        (tmp_path / name).write_text("placeholder\n")
    shutil.copy(RULES, tmp_path / RULES.name)
    config = tmp_path / "prometheus.yml"
    config.write_text((before_jobs + tls_job).replace("/etc/prometheus/", f"{tmp_path}/"))
    scrape = yaml.safe_load(config.read_text())["scrape_configs"]
    assert [job["scheme"] for job in scrape] == ["https"]
    assert scrape[0]["basic_auth"]["username"] == "prometheus"
    run("promtool", "check", "config", config)


@needs_amtool
def test_amtool_check_config() -> None:
    assert "SUCCESS" in run("amtool", "check-config", ALERTMANAGER_CONFIG)


@needs_amtool
@pytest.mark.parametrize(
    ("severity", "receiver"), [("critical", "webhook"), ("warning", "webhook"), ("info", "null")]
)
def test_alertmanager_routes_by_severity(severity: str, receiver: str) -> None:
    run(
        "amtool",
        "config",
        "routes",
        "test",
        f"--config.file={ALERTMANAGER_CONFIG}",
        f"--verify.receivers={receiver}",
        "alertname=SesDailyQuotaHigh",
        f"severity={severity}",
    )


# ---- the rules ----------------------------------------------------------------------


def test_rule_groups_and_names() -> None:
    groups = load(RULES)["groups"]
    assert [group["name"] for group in groups] == GROUPS
    recording, alerting = groups
    assert all("record" in rule for rule in recording["rules"])
    assert all("alert" in rule for rule in alerting["rules"])
    for rule in rules("record"):  # level:metric:operations
        assert re.fullmatch(r"ses:[a-z0-9_]+(:[a-z0-9_]+)?", rule["record"]), rule["record"]
    assert len(alert_names()) == len(rules("alert")), "duplicate alert names"
    for name in alert_names():
        assert re.fullmatch(r"Ses(Exporter)?[A-Z][A-Za-z0-9]+", name), name


@pytest.mark.parametrize("rule", rules("alert"), ids=lambda rule: rule["alert"])
def test_alert_has_severity_summary_description_and_dashboard(rule: dict[str, Any]) -> None:
    assert rule["labels"]["severity"] in SEVERITIES
    annotations = rule["annotations"]
    assert {"summary", "description", "dashboard"} <= annotations.keys()
    assert all(annotations[key].strip() for key in ("summary", "description"))
    assert annotations["dashboard"].startswith(DASHBOARDS), annotations["dashboard"]


def test_rules_use_only_documented_metrics() -> None:
    """A misspelt metric name (say the SPEC's aws_ses_sent_last_24_hours) would make an
    alert silently never fire; names in expressions, annotations and test series must be
    the ones the README documents."""
    documented = documented_metrics()
    assert "aws_ses_sent_last_24h" in documented
    used = set(METRIC_NAME.findall(RULES.read_text()))
    used |= {
        name
        for group in load(RULE_TESTS)["tests"]
        for series in group.get("input_series", [])
        for name in METRIC_NAME.findall(series["series"])
    }
    assert used, "no metric names found"
    assert used <= documented, sorted(used - documented)


# ---- the unit tests of the rules -------------------------------------------------------


def test_rule_tests_load_the_rules_in_order() -> None:
    tests = load(RULE_TESTS)
    assert tests["rule_files"] == [RULES.name]
    # Alerts read recording rules of the other group: without an order promtool picks one
    # at random and such an alert now and then starts one evaluation late.
    assert tests["group_eval_order"] == GROUPS


def test_every_alert_is_tested_firing_and_not_firing() -> None:
    """promtool passes a case that names a misspelt or missing alert with exp_alerts: [],
    so this checks the names too, and that every alert is shown on both sides of an edge."""
    firing: set[str] = set()
    quiet: set[str] = set()
    for group in load(RULE_TESTS)["tests"]:
        for case in group.get("alert_rule_test", []):
            (firing if case.get("exp_alerts") else quiet).add(case["alertname"])
    alerts = alert_names()
    assert (firing | quiet) <= alerts, sorted((firing | quiet) - alerts)
    assert not alerts - firing, f"never shown firing: {sorted(alerts - firing)}"
    assert not alerts - quiet, f"never shown not firing: {sorted(alerts - quiet)}"


def test_every_firing_case_checks_labels_and_annotations() -> None:
    """promtool compares the full label set and all annotations; an expected alert without
    annotations would only pass for an alert that has none."""
    severity = {rule["alert"]: rule["labels"]["severity"] for rule in rules("alert")}
    for group in load(RULE_TESTS)["tests"]:
        for case in group.get("alert_rule_test", []):
            for alert in case.get("exp_alerts") or []:
                assert alert["exp_labels"]["severity"] == severity[case["alertname"]]
                assert {"summary", "description", "dashboard"} <= alert["exp_annotations"].keys()


# ---- Alertmanager -----------------------------------------------------------------------


def test_inhibit_rules_match_existing_alerts_and_labels() -> None:
    """Alertmanager anchors regular expressions; a matcher that matches no alert (after a
    rename) would silently stop muting. Reputation alerts carry the `rate` label that
    the inhibition compares."""
    static_labels = {rule["alert"]: rule["labels"] for rule in rules("alert")}
    for inhibit in load(ALERTMANAGER_CONFIG)["inhibit_rules"]:
        for side in ("source_matchers", "target_matchers"):
            (matcher,) = inhibit[side]
            match = re.fullmatch(r'alertname(=~?)"(.+)"', matcher)
            assert match, matcher
            pattern = match[2] if match[1] == "=~" else re.escape(match[2])
            matched = {name for name in static_labels if re.fullmatch(pattern, name)}
            assert matched, f"{matcher} matches no alert"
            if "rate" in inhibit["equal"]:
                assert all("rate" in static_labels[name] for name in matched), matched
