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

from tests.prometheus import GENERATOR

ROOT = Path(__file__).parent.parent
METRICS_DOC = ROOT / "docs" / "metrics.md"
DEPLOY = ROOT / "deploy" / "prometheus"
RULES = DEPLOY / "ses-exporter.rules.yml"
RULE_TESTS = DEPLOY / "ses-exporter.rules.test.yml"
RULES_CONFIG = DEPLOY / "rules-config.yml"
RUNBOOKS = ROOT / "docs" / "runbooks.md"
PROMETHEUS_CONFIG = DEPLOY / "prometheus.yml"
ALERTMANAGER_CONFIG = DEPLOY / "alertmanager.yml"

GROUPS = ["ses-exporter.recording", "ses-exporter.alerts"]
SEVERITIES = {"info", "warning", "critical"}
# The dashboards' UIDs are fixed (deploy/grafana); links are absolute (rules-config.yml).
GRAFANA = "http://localhost:3000"
DASHBOARDS = (
    f"{GRAFANA}/d/ses-account-dashboard/ses-account-dashboard",
    f"{GRAFANA}/d/ses-reputation-metrics/ses-reputation-metrics",
    f"{GRAFANA}/d/ses-fleet-overview/ses-fleet-overview",
    f"{GRAFANA}/d/ses-identities/ses-identities",
    f"{GRAFANA}/d/ses-deliverability/ses-deliverability",
)
RUNBOOK_BASE = "https://github.com/ses-exporter/ses-exporter/blob/main/docs/runbooks.md#"
# Alerts about one exporter process keep its instance; every other alert aggregates it away.
PER_INSTANCE = {"SesExporterDown", "SesExporterConfigReloadFailed"}
METRIC_NAME = re.compile(r"\b(?:aws_ses|ses_exporter)_[a-z0-9_]+\b")

needs_promtool = pytest.mark.skipif(
    shutil.which("promtool") is None, reason="promtool is not installed (Debian: prometheus)"
)
needs_amtool = pytest.mark.skipif(
    shutil.which("amtool") is None,
    reason="amtool is not installed (Debian: prometheus-alertmanager)",
)


def run(*args: str | Path, timeout: float = 60) -> str:
    """Runs a tool and returns its output; fails the test on a non-zero exit status."""
    result = subprocess.run(
        [str(arg) for arg in args], capture_output=True, text=True, timeout=timeout, check=False
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
    """Metric names in the tables of docs/metrics.md, plus the per-configuration-set twins
    of the cloudwatch families (docs/metrics.md: "the same families with the prefix
    aws_ses_configuration_set_ instead of aws_ses_")."""
    names = set(re.findall(r"^\| `([a-z0-9_]+)` \|", METRICS_DOC.read_text(), re.MULTILINE))
    twins = {"aws_ses_configuration_set_" + name.removeprefix("aws_ses_") for name in names}
    return names | twins


# ---- the tools ----------------------------------------------------------------------


@needs_promtool
def test_promtool_check_rules() -> None:
    output = run("promtool", "check", "rules", RULES)
    assert f"SUCCESS: {len(rules('alert')) + len(rules('record'))} rules found" in output


@needs_promtool
@pytest.mark.timeout(660)  # against a hang only: the run's own limit is 600 s
def test_promtool_test_rules() -> None:
    # About 50 s of CPU: minutes on a loaded machine.
    assert "SUCCESS" in run("promtool", "test", "rules", RULE_TESTS, timeout=600)


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


def routes_test(receiver: str, *labels: str) -> None:
    """amtool's routing test of the example Alertmanager config: ``labels`` reach ``receiver``."""
    run(
        "amtool",
        "config",
        "routes",
        "test",
        f"--config.file={ALERTMANAGER_CONFIG}",
        f"--verify.receivers={receiver}",
        *labels,
    )


RECEIVER = {"critical": "page", "warning": "ticket", "info": "null"}
# The paging policy (docs/runbooks.md): AWS paused the account or put it under review,
# the account-wide rate is at risk, 95 % of the daily quota is used, SES rejects the mail
# of an identity that is sending. Nothing else pages.
PAGING = {
    "SesSendingPaused",
    "SesAccountUnderReview",
    "SesBounceRateAtRisk",
    "SesComplaintRateAtRisk",
    "SesDailyQuotaCritical",
    "SesIdentityVerificationFailed",
    "SesIdentityMailFromRejecting",
}


@needs_amtool
@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        (["alertname=SesSendingPaused", "severity=critical"], "page"),
        (["alertname=SesAccountUnderReview", "severity=critical", "status=PROBATION"], "page"),
        (["alertname=SesBounceRateAtRisk", "severity=critical", "rate=bounce"], "page"),
        (["alertname=SesDailyQuotaCritical", "severity=critical"], "page"),
        (["alertname=SesBounceRateUnderReview", "severity=warning", "rate=bounce"], "ticket"),
        (
            [
                "alertname=SesConfigurationSetBounceRateAtRisk",
                "severity=warning",
                "rate=bounce",
                "configuration_set=marketing",
            ],
            "ticket",
        ),
        (["alertname=SesDailyQuotaHigh", "severity=warning"], "ticket"),
        (["alertname=SesExporterDown", "severity=warning", "job=ses-exporter"], "ticket"),
        (
            [
                "alertname=SesConfigurationSetBounceRateApproachingReview",
                "severity=info",
                "configuration_set=marketing",
            ],
            "null",
        ),
        (["alertname=SomethingElse"], "ticket"),  # no severity: still reaches someone
    ],
)
def test_alertmanager_pages_only_on_critical(labels: list[str], receiver: str) -> None:
    routes_test(receiver, *labels, "account_id=111122223333", "region=eu-west-1")


@needs_amtool
@pytest.mark.parametrize("rule", rules("alert"), ids=lambda rule: rule["alert"])
def test_every_alert_reaches_the_receiver_of_its_severity(rule: dict[str, Any]) -> None:
    """The example routing, for each alert with its own labels: critical pages, warning
    opens a ticket, info stays in the UI."""
    labels = {"alertname": rule["alert"], **rule["labels"]}
    routes_test(
        RECEIVER[labels["severity"]],
        *(f"{key}={value}" for key, value in labels.items()),
        "account_id=111122223333",
        "region=eu-west-1",
    )


def test_only_the_paging_policys_alerts_are_critical() -> None:
    """Per-set alerts never page (AWS acts on accounts); the derived review level is a
    ticket, AWS's own review (enforcement status) pages."""
    critical = {r["alert"] for r in rules("alert") if r["labels"]["severity"] == "critical"}
    assert critical == PAGING
    policy = RUNBOOKS.read_text().split("## Paging policy\n", 1)[1].split("\n## ", 1)[0]
    for name in PAGING:
        assert name in policy, name


def test_alertmanager_groups_by_account_and_region() -> None:
    route = load(ALERTMANAGER_CONFIG)["route"]
    assert route["group_by"] == ["account_id", "region"]
    assert all("group_by" not in child for child in route["routes"])
    receivers = {r["name"] for r in load(ALERTMANAGER_CONFIG)["receivers"]}
    assert receivers == set(RECEIVER.values())


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
    assert {"summary", "description", "dashboard", "runbook_url"} <= annotations.keys()
    assert all(annotations[key].strip() for key in ("summary", "description"))
    assert annotations["dashboard"].startswith(DASHBOARDS), annotations["dashboard"]
    assert annotations["runbook_url"] == RUNBOOK_BASE + rule["alert"].lower()
    # The per-target dashboards have no "All" account: they are opened on the alert's.
    if not annotations["dashboard"].startswith(DASHBOARDS[2]):
        assert "var-account_id={{$labels.account_id}}" in annotations["dashboard"]


def runbook_anchors() -> set[str]:
    """GitHub's anchors of the runbook's headings: lower case, spaces to hyphens."""
    headings = re.findall(r"^#+ (.+)$", RUNBOOKS.read_text(), re.MULTILINE)
    return {re.sub(r"[^a-z0-9 _-]", "", h.strip().lower()).replace(" ", "-") for h in headings}


RUNBOOK_PARTS = (
    "**What it means**",
    "**What AWS does next**",
    "**What to do**",
    "**How to check it has recovered**",
)


def test_every_alert_has_a_runbook_section_and_every_section_an_alert() -> None:
    text = RUNBOOKS.read_text()
    sections = set(re.findall(r"^## (Ses\w+)$", text, re.MULTILINE))
    assert sections == alert_names()
    anchors = runbook_anchors()
    for name in alert_names():
        assert name.lower() in anchors
        body = text.split(f"## {name}\n", 1)[1].split("\n## ", 1)[0]
        for part in RUNBOOK_PARTS:
            assert part in body, f"{name}: no {part}"


def test_runbooks_give_the_commands_that_find_and_undo_a_pause() -> None:
    """Who paused what (CloudTrail, the SES v2 event names) and the commands that undo it."""
    text = RUNBOOKS.read_text()
    for command in (
        "aws cloudtrail lookup-events",
        "EventName,AttributeValue=PutAccountSendingAttributes",
        "EventName,AttributeValue=PutConfigurationSetSendingOptions",
        "aws sesv2 put-account-sending-attributes --sending-enabled",
        "aws sesv2 put-configuration-set-sending-options",
        "aws sesv2 put-account-suppression-attributes",
        "aws sesv2 get-account",
    ):
        assert command in text, command


def test_critical_alerts_keep_firing_when_their_data_goes_stale() -> None:
    """keep_firing_for hands a critical alert over to SesExporterDataStale (1 hour)."""
    for rule in rules("alert"):
        critical = rule["labels"]["severity"] == "critical"
        assert ("keep_firing_for" in rule) == critical, rule["alert"]
        if critical:
            assert rule["keep_firing_for"] == "1h"


def test_thresholds_come_from_the_exporter() -> None:
    text = RULES.read_text()
    assert "ses:reputation_threshold_ratio" not in text  # the old copy of the config
    assert "vector(" not in text
    approaching = [r for r in rules("alert") if r["alert"].endswith("ApproachingReview")]
    assert len(approaching) == 4
    for rule in approaching:
        assert "ses_exporter_reputation_threshold_ratio{" in rule["expr"]
        # Joined per scrape target, then deduplicated: never `on (job)` after the max,
        # which meets two releases' thresholds in one match group.
        assert rule["expr"].startswith("max without (instance, pod) (\n")
        assert "on (cluster, namespace, job, instance, pod) group_left ()" in rule["expr"]


# An ISP's VDM ratio against its account's: both recorded per target (replicas already
# aggregated away), the same labels but isp, so many ISPs meet one account series.
VDM_JOIN = re.compile(
    r"ses:vdm_isp_(\w+)_ratio:increase1d\n  > ignoring \(isp\) group_left \(\)\n"
    r"\([0-9.]+ \* ses:vdm_(\w+)_ratio:increase1d\)\n"
)


def test_every_join_matches_on_one_scrape_target() -> None:
    """Every group_left/group_right join names the join labels, inside a max without the
    replica labels; one-to-one arithmetic meets two deduplicated sides. The one exception
    joins two deduplicated recorded VDM ratios, ignoring only the isp label."""
    for rule in rules("alert") + rules("record"):
        expr = rule["expr"]
        for join in re.findall(r"(on \([^)]*\)|ignoring \([^)]*\)) group_(?:left|right)", expr):
            if join == "ignoring (isp)":
                match = VDM_JOIN.match(expr)
                assert match and match[1] == match[2], rule
                continue
            assert join == "on (cluster, namespace, job, instance, pod)", (rule, join)
        assert "on (job)" not in expr


def test_firing_cases_expect_no_instance_label_except_per_instance_alerts() -> None:
    """The promtool cases pin the labels; SES alerts must not carry instance or pod."""
    for group in load(RULE_TESTS)["tests"]:
        for case in group.get("alert_rule_test", []):
            for alert in case.get("exp_alerts") or []:
                carries = {"instance", "pod"} & alert["exp_labels"].keys()
                if case["alertname"] not in PER_INSTANCE:
                    assert not carries, case["alertname"]


# ---- the generator ---------------------------------------------------------------------


def test_committed_rules_are_the_generators_output() -> None:
    settings = GENERATOR.settings_from_file(RULES_CONFIG)
    assert RULES.read_text() == GENERATOR.render(settings), (
        "stale: run python3 deploy/prometheus/generate.py"
    )
    assert GENERATOR.main(["--check"]) == 0


def test_committed_config_lists_the_defaults() -> None:
    """rules-config.yml documents the defaults: every key, with the generator's values."""
    data = yaml.safe_load(RULES_CONFIG.read_text())
    assert set(data) == set(GENERATOR._CHECKS)
    assert GENERATOR.load_settings(data) == GENERATOR.Settings(for_=GENERATOR.DEFAULT_FOR)
    assert set(data["for"]) == alert_names()


def test_generated_rules_parse_back_to_what_was_generated() -> None:
    """The YAML writer (folded prose, literal expressions) loses nothing."""
    settings = GENERATOR.Settings()
    promql = GENERATOR.PromQL(settings)
    built = [
        GENERATOR.alert_rule(promql, alert)
        for _, make in GENERATOR.ALERT_GROUPS
        for alert in make(promql)
    ]
    assert rules("alert") == built


@needs_promtool
def test_another_job_and_grafana(tmp_path: Path) -> None:
    """The job selector reaches every selector, absent() included; links follow the URLs."""
    config = tmp_path / "mine.yml"
    config.write_text(
        'job_selector: \'job="mail-exporter", namespace="mail"\'\n'
        "grafana_url: https://grafana.example.com/\n"
        "runbook_url: https://wiki.example.com/ses\n"
        "replica_labels: [instance]\n"
        "for: {SesDailyQuotaHigh: 1h}\n"
    )
    out = tmp_path / "mine.rules.yml"
    assert GENERATOR.main(["--config", str(config), "--output", str(out)]) == 0
    run("promtool", "check", "rules", out)
    text = out.read_text()
    assert 'job="ses-exporter"' not in text
    data = yaml.safe_load(text)
    alerts = {r["alert"]: r for g in data["groups"] for r in g["rules"] if "alert" in r}
    down = alerts["SesExporterDown"]["expr"]
    assert 'absent(up{job="mail-exporter", namespace="mail"})' in down
    for rule in alerts.values():
        for selector in re.findall(r"\b[a-z_:]+\{[^}]*\}", rule["expr"]):
            assert 'job="mail-exporter", namespace="mail"' in selector, selector
        assert rule["annotations"]["dashboard"].startswith("https://grafana.example.com/d/")
        assert rule["annotations"]["runbook_url"].startswith("https://wiki.example.com/ses#")
        assert "without (instance, pod)" not in rule["expr"]  # replica_labels: [instance]
    assert alerts["SesDailyQuotaHigh"]["for"] == "1h"
    # The threshold in the annotations is read from the alert's own deployment.
    approaching = alerts["SesBounceRateApproachingReview"]["annotations"]["description"]
    assert 'cluster="%s", namespace="%s", job="%s"' in approaching


def test_bad_settings_name_the_key_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "bad.yml"
    config.write_text(
        "grafana_url: grafana.local\n"
        "keep_firing_for: soon\n"
        "replica_labels: [instance, 'not a label']\n"
        "data_stale_after: 0s\n"
        "configuration_sets_paused_on_purpose: ['(unclosed']\n"
        "send_rate_warning_ratio: 80\n"
        "cloudwatch_total_monthly_budget_usd: -1\n"
        "extra_labels: {severity: page, team: 7, 'bad label': x}\n"
        "severity: {SesExporterDown: urgent, SesNoSuchAlert: info}\n"
        "disabled_alerts: [SesNoSuchAlert]\n"
        "for: {SesNoSuchAlert: 5m, SesDailyQuotaHigh: 5 minutes}\n"
        "colour: blue\n"
    )
    out = tmp_path / "out.yml"
    assert GENERATOR.main(["--config", str(config), "--output", str(out)]) == 2
    assert not out.exists()
    errors = capsys.readouterr().err
    for expected in (
        "grafana_url: 'grafana.local' is not an absolute http(s) URL",
        "keep_firing_for: 'soon' is not a Prometheus duration",
        "replica_labels: expected a list of label names",
        "data_stale_after: must be longer than 0",
        "configuration_sets_paused_on_purpose[0]: '(unclosed' is not a regular expression",
        "send_rate_warning_ratio: expected a ratio above 0 and at most 1",
        "cloudwatch_total_monthly_budget_usd: expected a positive number",
        "extra_labels.severity: set by the rules themselves",
        "extra_labels.team: expected a string value",
        "extra_labels.bad label: not a label name",
        "severity.SesExporterDown: 'urgent' is not one of critical, warning, info",
        "severity.SesNoSuchAlert: no such alert",
        "disabled_alerts[0]: 'SesNoSuchAlert': no such alert",
        "for.SesNoSuchAlert: no such alert",
        "for.SesDailyQuotaHigh: '5 minutes' is not a Prometheus duration",
        "colour: unknown key",
    ):
        assert expected in errors, errors


def test_join_labels_must_include_the_replica_labels(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "bad.yml"
    config.write_text("join_labels: [namespace, job, instance]\n")
    assert GENERATOR.main(["--config", str(config), "--output", str(tmp_path / "o.yml")]) == 2
    assert "join_labels: must include every replica label (missing: pod)" in (
        capsys.readouterr().err
    )


def test_rules_use_only_documented_metrics() -> None:
    """A misspelt metric name (say aws_ses_sent_last_24_hours) would make an
    alert silently never fire; names in expressions, annotations and test series must be
    the ones docs/metrics.md documents."""
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


def test_identity_alerts_fire_only_for_identities_that_are_sending() -> None:
    """SES has no per-identity send count: an identity is sending when its SendingEnabled
    was 1 within identity_sending_window and its account and region sent mail in the last
    24 hours. Each identity alert links to the identities dashboard."""
    identity_alerts = [r for r in rules("alert") if r["alert"].startswith("SesIdentity")]
    assert len(identity_alerts) == 5
    for rule in identity_alerts:
        expr = rule["expr"]
        assert "max_over_time(aws_ses_identity_sending_enabled{" in expr, rule["alert"]
        assert "[1d])) == 1" in expr, rule["alert"]
        assert 'aws_ses_sent_last_24h{job="ses-exporter"}) > 0' in expr, rule["alert"]
        assert rule["annotations"]["dashboard"].startswith(DASHBOARDS[3])


def test_new_thresholds_are_checked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "bad.yml"
    config.write_text(
        "identity_sending_window: 0s\n"
        "dkim_pending_after: a day\n"
        "warmup_campaign_factor: 1\n"
        "warmup_campaign_min_hourly_sends: 0\n"
        "suppressed_destinations_daily_growth: 1.5\n"
        "vdm_isp_rate_factor: 0.5\n"
        "vdm_isp_min_sends: 0\n"
    )
    assert GENERATOR.main(["--config", str(config), "--output", str(tmp_path / "o.yml")]) == 2
    errors = capsys.readouterr().err
    for expected in (
        "identity_sending_window: must be longer than 0",
        "dkim_pending_after: 'a day' is not a Prometheus duration",
        "warmup_campaign_factor: expected a factor above 1",
        "warmup_campaign_min_hourly_sends: expected a whole number >= 1",
        "suppressed_destinations_daily_growth: expected a whole number >= 1",
        "vdm_isp_rate_factor: expected a factor above 1",
        "vdm_isp_min_sends: expected a whole number >= 1",
    ):
        assert expected in errors, errors


def test_new_thresholds_reach_the_rules(tmp_path: Path) -> None:
    config = tmp_path / "mine.yml"
    config.write_text(
        "identity_sending_window: 3d\n"
        "dkim_pending_after: 2d\n"
        "warmup_campaign_factor: 3.5\n"
        "warmup_campaign_min_hourly_sends: 20000\n"
        "suppressed_destinations_daily_growth: 250\n"
        "vdm_isp_rate_factor: 3.5\n"
        "vdm_isp_min_sends: 50000\n"
    )
    out = tmp_path / "mine.rules.yml"
    assert GENERATOR.main(["--config", str(config), "--output", str(out)]) == 0
    data = yaml.safe_load(out.read_text())
    alerts = {r["alert"]: r for g in data["groups"] for r in g["rules"] if "alert" in r}
    assert "[3d])) == 1" in alerts["SesIdentityVerificationFailed"]["expr"]
    assert (
        "within the last 3 days"
        in alerts["SesIdentityVerificationFailed"]["annotations"]["description"]
    )
    assert 'status="PENDING"} offset 2d == 1' in alerts["SesIdentityDkimNotSigning"]["expr"]
    warmup = alerts["SesDedicatedIpWarmupCampaign"]["expr"]
    assert "> 3.5 * avg_over_time(ses:sends:increase1h[7d])" in warmup
    assert "ses:sends:increase1h >= 20000" in warmup
    assert alerts["SesSuppressionListGrowing"]["expr"].endswith("> 250\n")
    for name in ("SesVdmIspPermanentBounceRateHigh", "SesVdmIspComplaintRateHigh"):
        expr = alerts[name]["expr"]
        assert "(3.5 * ses:vdm_" in expr and expr.endswith(" >= 50000\n"), expr
        assert "more than 3.5 times" in alerts[name]["annotations"]["description"]


# The ratios of the vdm collector's counters: ratio = numerator / denominator.
VDM_RATIOS = [
    re.fullmatch(r"(\w+) = (\w+) / (\w+)", ratio).groups()  # type: ignore[union-attr]
    for ratio in (
        "delivery = deliveries / sends",
        "permanent_bounce = permanent_bounces / sends",
        "transient_bounce = transient_bounces / sends",
        "complaint = complaints / feedback_loop_deliveries",
        "open = opens / open_tracked_deliveries",
        "click = clicks / click_tracked_deliveries",
    )
]


def test_vdm_ratios_are_recorded_per_isp_and_account_wide() -> None:
    """Over a day (VDM answers one datapoint a day), replicas aggregated away on both sides
    before the division, and no ratio where the denominator is 0 (no NaN or +Inf)."""
    recorded = {rule["record"]: rule["expr"] for rule in rules("record")}
    for ratio, numerator, denominator in VDM_RATIOS:
        for scope in ("isp_", ""):
            expr = recorded[f"ses:vdm_{scope}{ratio}_ratio:increase1d"]
            count = "max without (instance, pod) (increase(aws_ses_vdm_{}{}_total" + (
                '{{job="ses-exporter"}}[1d]))'
            )
            assert expr == (
                f"{count.format(scope, numerator)}\n  /\n({count.format(scope, denominator)} > 0)\n"
            ), expr


def test_vdm_isp_alerts_compare_with_the_account_and_need_volume() -> None:
    alerts = {rule["alert"]: rule for rule in rules("alert")}
    for name, ratio in (
        ("SesVdmIspPermanentBounceRateHigh", "permanent_bounce"),
        ("SesVdmIspComplaintRateHigh", "complaint"),
    ):
        expr = alerts[name]["expr"]
        assert expr.startswith(
            f"ses:vdm_isp_{ratio}_ratio:increase1d\n  > ignoring (isp) group_left ()\n"
            f"(2 * ses:vdm_{ratio}_ratio:increase1d)\n"
        )
        assert expr.endswith(
            'max without (instance, pod) (increase(aws_ses_vdm_isp_sends_total{job="ses-exporter"}'
            "[1d])) >= 1000\n"
        )
        assert alerts[name]["labels"]["severity"] == "warning"
        assert "&var-isp={{$labels.isp}}" in alerts[name]["annotations"]["dashboard"]
    assert alerts["SesVdmDisabled"]["labels"]["severity"] == "info"
    assert alerts["SesVdmDisabled"]["expr"] == (
        'max without (instance, pod) (ses_exporter_vdm_enabled{job="ses-exporter"}) == 0\n'
    )


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
                expected = {"summary", "description", "dashboard", "runbook_url"}
                assert expected <= alert["exp_annotations"].keys()


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


# ---- per-deployment settings, run by promtool -------------------------------------------

DEPLOYMENT = Path(__file__).parent / "data" / "rules"


@needs_promtool
def test_deployment_settings_reach_the_alerts(tmp_path: Path) -> None:
    """Extra labels, a severity override, a disabled alert, the stale threshold, the
    paused-set window and allow-list and how long DKIM may be PENDING, checked by promtool
    on the generated file."""
    config = DEPLOYMENT / "deployment.rules-config.yml"
    out = tmp_path / "mine.rules.yml"
    assert GENERATOR.main(["--config", str(config), "--output", str(out)]) == 0
    run("promtool", "check", "rules", out)
    data = yaml.safe_load(out.read_text())
    alerts = {r["alert"]: r for g in data["groups"] for r in g["rules"] if "alert" in r}
    assert "SesCloudWatchTotalSpendHigh" not in alerts
    assert len(alerts) == len(alert_names()) - 1
    assert all(rule["labels"]["team"] == "mail" for rule in alerts.values())
    under_review = alerts["SesBounceRateUnderReview"]
    assert under_review["labels"]["severity"] == "critical"
    assert under_review["keep_firing_for"] == "1h"  # as every critical alert
    assert "> 14400" in alerts["SesExporterDataStale"]["expr"]
    assert 'configuration_set!~"archive-.*"' in alerts["SesConfigurationSetSendingPaused"]["expr"]
    assert 'status="PENDING"} offset 2h == 1' in alerts["SesIdentityDkimNotSigning"]["expr"]
    cases = tmp_path / "cases.yml"
    shutil.copy(DEPLOYMENT / "deployment.test.yml", cases)
    assert "SUCCESS" in run("promtool", "test", "rules", cases)
