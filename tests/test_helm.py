"""The Helm chart (deploy/helm/ses-exporter), rendered and checked by the real tools.

``helm lint`` and ``helm template`` with each values file of the chart's ci/ folder (the
cases .ci/supply-chain scans with checkov too: the default values, 3 shards with
ServiceMonitor, PrometheusRule and dashboards, an organization, basic auth, TLS, IRSA,
customised rules); every rendered object validated against the Kubernetes schemas in
strict mode (``kubernetes-validate``, at the chart's oldest supported Kubernetes and the
newest it knows), the container's security settings checked in each, the two
prometheus-operator objects against
their published CRD schemas (tests/data/crds/, unknown fields rejected); what the objects
carry is compared with the files they come from, and the exporter itself checks the
rendered configuration and flags. The PrometheusRule is checked against the shipped rules
file for each value that changes it (selector, labels, severities, ``for``, disabled
alerts, links), by ``promtool check rules``, and by ``promtool test rules`` running the
rules of three releases in one Prometheus.

helm comes from ``.ci/install-helm`` (``.ci/bin/helm``), or ``$SES_EXPORTER_HELM``, or
the PATH. Without it these tests skip, except in CI, where they fail.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

import ses_exporter
from ses_exporter.cli import build_parser
from tests.daemon import run_exporter

ROOT = Path(__file__).resolve().parent.parent
CHART = ROOT / "deploy" / "helm" / "ses-exporter"
RULES = ROOT / "deploy" / "prometheus" / "ses-exporter.rules.yml"
DASHBOARDS = ROOT / "deploy" / "grafana" / "dashboards"
CRDS = Path(__file__).parent / "data" / "crds"
# The values files the chart is rendered with here and scanned with by .ci/supply-chain.
CASES = {
    p.name.removesuffix("-values.yaml"): p for p in sorted((CHART / "ci").glob("*-values.yaml"))
}
# The chart's kubeVersion floor, and the newest Kubernetes that kubernetes-validate knows.
KUBERNETES_VERSIONS = ("1.25.0", "1.37.0")


def case(name: str) -> str:
    """A values file of the chart's ci/ folder, as YAML text for ``values=``."""
    return CASES[name].read_text()


def as_sets(values: Any, prefix: str = "") -> Iterator[str]:
    """A values map as ``--set`` strings (dots in keys escaped), to combine with others."""
    if isinstance(values, dict):
        for key, value in values.items():
            yield from as_sets(value, f"{prefix}{key.replace('.', chr(92) + '.')}.")
    elif isinstance(values, list):
        for i, value in enumerate(values):
            yield from as_sets(value, f"{prefix[:-1]}[{i}].")
    else:
        text = str(values).lower() if isinstance(values, bool) else str(values)
        yield f"{prefix[:-1]}={text}"


# 3 shards with the ServiceMonitor, the PrometheusRule and the dashboards.
FULL = tuple(as_sets(yaml.safe_load(case("sharded"))))


def helm_binary() -> str:
    for candidate in (os.environ.get("SES_EXPORTER_HELM"), str(ROOT / ".ci" / "bin" / "helm")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("helm")
    if found:
        return found
    message = "helm is not installed: run .ci/install-helm"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def helm(*args: str, values: str = "") -> subprocess.CompletedProcess[str]:
    """helm with ``args``; ``values``, a values file's YAML, is read from stdin (``-f -``),
    for the values ``--set`` cannot write (commas and quotes in a string)."""
    if values:
        args = (*args, "--values=-")
    return subprocess.run(
        [helm_binary(), *args],
        input=values,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def template(
    *sets: str, values: str = "", release: str = "rel", namespace: str = "monitoring"
) -> subprocess.CompletedProcess[str]:
    flags = [f"--set={s}" for s in sets]
    return helm("template", release, str(CHART), f"--namespace={namespace}", *flags, values=values)


@cache
def _render(sets: tuple[str, ...], values: str, release: str, namespace: str) -> str:
    done = template(*sets, values=values, release=release, namespace=namespace)
    assert done.returncode == 0, done.stderr
    return done.stdout


def render(
    *sets: str, values: str = "", release: str = "rel", namespace: str = "monitoring"
) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(_render(tuple(sets), values, release, namespace)) if d]


def by_kind(objects: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    kinds: dict[str, list[dict[str, Any]]] = {}
    for obj in objects:
        kinds.setdefault(obj["kind"], []).append(obj)
    return kinds


def workload(objects: list[dict[str, Any]]) -> dict[str, Any]:
    (found,) = [o for o in objects if o["kind"] in {"Deployment", "StatefulSet"}]
    return found


def container(objects: list[dict[str, Any]]) -> dict[str, Any]:
    (found,) = workload(objects)["spec"]["template"]["spec"]["containers"]
    return dict(found)


def test_the_cases_are_the_combinations_the_tests_use() -> None:
    assert set(CASES) >= {"default", "sharded", "organization", "basic-auth", "tls", "irsa"}
    assert FULL == (
        "shards=3",
        "serviceMonitor.enabled=true",
        "prometheusRule.enabled=true",
        "grafanaDashboards.enabled=true",
    )


@pytest.mark.parametrize("name", CASES)
def test_helm_lint_passes(name: str) -> None:
    done = helm("lint", "--strict", str(CHART), f"--values={CASES[name]}")
    assert done.returncode == 0, done.stdout + done.stderr


def test_default_values_make_one_deployment_polling_everything() -> None:
    objects = render()
    assert sorted(by_kind(objects)) == ["ConfigMap", "Deployment", "Service", "ServiceAccount"]
    deployment = workload(objects)
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}  # never two pollers
    main = container(objects)
    assert not [a for a in main["args"] if a.startswith("--shard")]
    assert main["livenessProbe"]["httpGet"]["path"] == "/-/healthy"
    assert main["readinessProbe"]["httpGet"]["path"] == "/-/ready"
    assert main["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "privileged": False,
        "capabilities": {"drop": ["ALL"]},
    }
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10049  # the Dockerfile's user
    assert main["resources"]["limits"]["memory"] == "1Gi"
    assert main["image"] == f"ses-exporter:{ses_exporter.__version__}"


def test_shards_make_a_statefulset_whose_replicas_equal_shard_count() -> None:
    objects = render(*FULL)
    kinds = by_kind(objects)
    assert sorted(kinds) == [
        "ConfigMap",
        "PodDisruptionBudget",
        "PrometheusRule",
        "Service",
        "ServiceAccount",
        "ServiceMonitor",
        "StatefulSet",
    ]
    statefulset = workload(objects)
    main = container(objects)
    counts = [a.removeprefix("--shard.count=") for a in main["args"] if "--shard.count" in a]
    assert counts == ["3"]
    assert statefulset["spec"]["replicas"] == int(counts[0])
    assert statefulset["spec"]["podManagementPolicy"] == "Parallel"
    assert not [a for a in main["args"] if a.startswith("--shard.index")]  # the ordinal
    (pod_index,) = [e for e in main["env"] if e["name"] == "SES_EXPORTER_POD_INDEX"]
    assert pod_index["valueFrom"]["fieldRef"]["fieldPath"] == (
        "metadata.labels['apps.kubernetes.io/pod-index']"
    )
    (service,) = kinds["Service"]
    assert service["spec"]["clusterIP"] == "None"
    assert statefulset["spec"]["serviceName"] == service["metadata"]["name"]
    selector = service["spec"]["selector"]
    assert selector.items() <= statefulset["spec"]["template"]["metadata"]["labels"].items()
    (monitor,) = kinds["ServiceMonitor"]
    assert monitor["spec"]["selector"]["matchLabels"] == selector
    assert monitor["spec"]["endpoints"][0]["port"] == "http"
    # The rules select the job named by this label of the Service (see the rules' tests).
    assert service["metadata"]["labels"][monitor["spec"]["jobLabel"]] == "ses-exporter"


@pytest.mark.parametrize("name", CASES)
def test_every_case_runs_locked_down_with_sized_resources(name: str) -> None:
    """What a security review asks of the pod, whatever the values: not root, nothing
    written outside its volumes, no capabilities, the runtime's seccomp profile, and the
    resources values.yaml sizes from the scale benchmark."""
    objects = render(values=case(name))
    pod = workload(objects)["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    main = container(objects)
    context = main["securityContext"]
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert main["resources"] == {
        "requests": {"cpu": "100m", "memory": "256Mi"},
        "limits": {"memory": "1Gi"},
    }


def test_sharded_releases_get_a_disruption_budget_of_one_shard() -> None:
    import kubernetes_validate

    objects = render(*FULL)
    (budget,) = by_kind(objects)["PodDisruptionBudget"]
    assert budget["spec"]["maxUnavailable"] == 1
    statefulset = workload(objects)
    assert budget["spec"]["selector"] == statefulset["spec"]["selector"]
    assert budget["metadata"]["namespace"] == statefulset["metadata"]["namespace"]
    for version in KUBERNETES_VERSIONS:
        kubernetes_validate.validate(budget, version, strict=True)
    (percent,) = by_kind(render(*FULL, "podDisruptionBudget.maxUnavailable=50%"))[
        "PodDisruptionBudget"
    ]
    assert percent["spec"]["maxUnavailable"] == "50%"
    # One replica: a budget would block every node drain. Off: none either.
    assert "PodDisruptionBudget" not in by_kind(render())
    assert "PodDisruptionBudget" not in by_kind(
        render("shards=1", "podDisruptionBudget.maxUnavailable=1")
    )
    assert "PodDisruptionBudget" not in by_kind(render(*FULL, "podDisruptionBudget.enabled=false"))
    done = template(*FULL, "podDisruptionBudget.maxUnavailable=0")
    assert done.returncode != 0
    assert "/podDisruptionBudget/maxUnavailable" in done.stderr


ORGANIZATION_ONLY = tuple(as_sets(yaml.safe_load(case("organization"))))


def rendered_config(objects: list[dict[str, Any]]) -> dict[str, Any]:
    (config_map,) = [o for o in objects if "config.yaml" in o.get("data", {})]
    return dict(yaml.safe_load(config_map["data"]["config.yaml"]))


def test_values_replace_the_default_configuration_not_add_to_it() -> None:
    assert rendered_config(render()) == {
        "accounts": [{"name": "default", "regions": ["us-east-1"]}]
    }
    assert rendered_config(render(*ORGANIZATION_ONLY)) == {
        "organizations": [{"member_role_name": "ses-exporter", "regions": ["eu-west-1"]}]
    }


def test_the_exporter_accepts_the_rendered_flags_and_configuration(tmp_path: Path) -> None:
    for objects in (render(), render(*FULL), render(*ORGANIZATION_ONLY)):
        args = build_parser().parse_args(container(objects)["args"])
        assert args.config_file == "/etc/ses-exporter/config/config.yaml"
        (config_map,) = [o for o in objects if "config.yaml" in o.get("data", {})]
        config = tmp_path / "config.yaml"
        config.write_text(config_map["data"]["config.yaml"])
        done = run_exporter(f"--config.file={config}", "--config.check")
        assert done.returncode == 0, done.stderr


def test_a_config_change_rolls_the_pods_unless_told_otherwise() -> None:
    def checksum(*sets: str) -> str | None:
        annotations = workload(render(*sets))["spec"]["template"]["metadata"]["annotations"]
        return (annotations or {}).get("checksum/config")

    before = checksum()
    assert before is not None
    assert checksum("config.accounts[0].regions[0]=eu-west-1") not in {None, before}
    assert checksum("rollOnConfigChange=false") is None


def test_irsa_role_goes_on_the_service_account() -> None:
    role = "arn:aws:iam::111122223333:role/ses-exporter"
    assert yaml.safe_load(case("irsa"))["serviceAccount"]["annotations"] == {
        "eks.amazonaws.com/role-arn": role
    }
    objects = render(values=case("irsa"))
    (account,) = by_kind(objects)["ServiceAccount"]
    assert account["metadata"]["annotations"] == {"eks.amazonaws.com/role-arn": role}
    pod = workload(objects)["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == account["metadata"]["name"]


def test_web_config_goes_into_a_secret_and_probes_still_work(tmp_path: Path) -> None:
    import bcrypt

    from ses_exporter.web import load_web_config

    hashed = yaml.safe_load(case("basic-auth"))["webConfig"]["basic_auth_users"]["prometheus"]
    assert bcrypt.checkpw(b"secret", hashed.encode())
    objects = render(values=case("basic-auth"))
    (secret,) = by_kind(objects)["Secret"]
    path = tmp_path / "web-config.yml"
    path.write_text(secret["stringData"]["web-config.yml"])
    assert load_web_config(str(path)).basic_auth_users == {"prometheus": hashed.encode()}
    main = container(objects)
    assert "--web.config.file=/etc/ses-exporter/web/web-config.yml" in main["args"]
    # Probes cannot send basic auth: /-/healthy is served without it, and readiness uses it.
    assert "--web.health-unauthenticated" in main["args"]
    assert main["readinessProbe"]["httpGet"]["path"] == "/-/healthy"
    annotations = workload(objects)["spec"]["template"]["metadata"]["annotations"]
    assert "checksum/web-config" in annotations


def test_with_tls_probes_and_scrapes_use_https() -> None:
    objects = render(values=case("tls"))
    main = container(objects)
    assert main["livenessProbe"]["httpGet"]["scheme"] == "HTTPS"
    assert main["readinessProbe"]["httpGet"]["scheme"] == "HTTPS"
    (monitor,) = by_kind(objects)["ServiceMonitor"]
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["scheme"] == "https"
    assert endpoint["tlsConfig"]["ca"]["secret"]["name"] == "ses-exporter-ca"
    jsonschema.Draft7Validator(crd_schema("ServiceMonitor")).validate(monitor)


# ---- the PrometheusRule ----------------------------------------------------------------
#
# Expectations come from the shipped rules file, never from a count or list of its alerts:
# the file is generated (deploy/prometheus/generate.py) and grows.

# The job selector the generated file uses in every expression, which the chart replaces.
GENERATED_SELECTOR = 'job="ses-exporter"'
# A selector of the exporter's own series in an expression (recorded ses:... series are
# the rules' own), with its braces.
EXPORTER_SERIES = re.compile(r"(?<![\w:])(?:up|aws_ses_\w+|ses_exporter_\w+)\b\s*(\{[^}]*\})?")

needs_promtool = pytest.mark.skipif(
    shutil.which("promtool") is None, reason="promtool is not installed (Debian: prometheus)"
)


def bundled_rules(selector: str = GENERATED_SELECTOR) -> dict[str, Any]:
    """The shipped rules file, with the job selector of every expression replaced."""
    spec = yaml.safe_load(RULES.read_text())
    for rule in all_rules(spec):
        rule["expr"] = rule["expr"].replace(GENERATED_SELECTOR, selector)
    return dict(spec)


def all_rules(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for g in spec["groups"] for r in g["rules"]]


def alerts(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in all_rules(spec) if "alert" in r]


def rule_spec(*sets: str, values: str = "", **where: str) -> dict[str, Any]:
    (rule,) = by_kind(render(*sets, values=values, **where))["PrometheusRule"]
    return dict(rule["spec"])


def assert_every_exporter_series_selected_by(spec: dict[str, Any], selector: str) -> None:
    selected = 0
    for rule in all_rules(spec):
        for found in EXPORTER_SERIES.finditer(rule["expr"]):
            assert found[1] and selector in found[1], (found[0], rule["expr"])
            selected += 1
    assert selected > 0


def test_the_chart_replaces_the_generated_files_job_selector() -> None:
    """The file selects the exporter's series with the string the chart replaces (were the
    generator's default changed, the chart would leave it in place)."""
    assert f"`{GENERATED_SELECTOR}`" in (CHART / "templates" / "prometheusrule.yaml").read_text()
    assert_every_exporter_series_selected_by(bundled_rules(), GENERATED_SELECTOR)


def test_the_prometheus_rule_carries_the_bundled_rules_for_this_release() -> None:
    spec = rule_spec(*FULL)
    assert spec == bundled_rules('job="ses-exporter", namespace="monitoring"')


@pytest.mark.parametrize(
    ("override", "job"),
    [
        ("", "ses-exporter"),
        ("nameOverride=mail", "mail"),
        ("fullnameOverride=smtp", "ses-exporter"),
    ],
)
def test_the_rules_select_the_job_the_service_monitor_gives(override: str, job: str) -> None:
    """The ServiceMonitor names the job after a label of the Service; nameOverride changes
    it, and the rules must follow (with job="ses-exporter" they never fired)."""
    objects = render(*FULL, *([override] if override else []))
    kinds = by_kind(objects)
    (service,) = kinds["Service"]
    (monitor,) = kinds["ServiceMonitor"]
    assert service["metadata"]["labels"][monitor["spec"]["jobLabel"]] == job
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": ["monitoring"]}
    (rule,) = kinds["PrometheusRule"]
    selector = f'job="{job}", namespace="monitoring"'
    assert rule["spec"] == bundled_rules(selector)
    assert_every_exporter_series_selected_by(rule["spec"], selector)
    if job != "ses-exporter":
        assert not [r for r in all_rules(rule["spec"]) if GENERATED_SELECTOR in r["expr"]]


def test_two_releases_alert_only_on_their_own_exporter(tmp_path: Path) -> None:
    """Three releases in one Prometheus: two in different namespaces under the same name
    (one job), one beside the first with nameOverride. Each release's rules, run by
    promtool together, raise the down alert for its own exporter once, and nobody's for an
    exporter that is up."""
    releases = {  # release: (namespace, job, extra value)
        "a": ("team-a", "ses-exporter", ()),
        "b": ("team-b", "ses-exporter", ()),
        "c": ("team-a", "mail", ("nameOverride=mail",)),
    }
    files = []
    for release, (namespace, _, extra) in releases.items():
        spec = rule_spec(*FULL, *extra, release=release, namespace=namespace)
        for rule in all_rules(spec):
            rule.pop("annotations", None)  # no part in what fires; promtool compares them
        path = tmp_path / f"{release}.rules.yml"
        path.write_text(yaml.safe_dump(spec))
        files.append(path.name)
    # The alert on `up` (the exporter down), the same in every release.
    (down,) = [r for r in alerts(bundled_rules()) if re.search(r"(?<![\w:])up\{", r["expr"])]
    up = {"a": 0, "b": 1, "c": 0}  # a and c are down, b is up
    series = [
        {
            "series": f'up{{job="{job}", namespace="{namespace}", instance="{r}-0", pod="{r}-0"}}',
            "values": f"{up[r]}x30",
        }
        for r, (namespace, job, _) in releases.items()
    ]
    fired = [
        {
            "exp_labels": {
                **down["labels"],
                "job": job,
                "namespace": namespace,
                "instance": f"{r}-0",
                "pod": f"{r}-0",
            }
        }
        for r, (namespace, job, _) in releases.items()
        if not up[r]
    ]
    wait = seconds(down.get("for", "0s")) + 60
    tests = {
        "rule_files": files,
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": series,
                "alert_rule_test": [
                    {"eval_time": f"{wait}s", "alertname": down["alert"], "exp_alerts": fired}
                ],
            }
        ],
    }
    (tmp_path / "tests.yml").write_text(yaml.safe_dump(tests))
    done = run_promtool("test", "rules", str(tmp_path / "tests.yml"))
    assert "SUCCESS" in done.stdout, done.stdout + done.stderr


def seconds(duration: str) -> int:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    return sum(int(n) * units[u] for n, u in re.findall(r"(\d+)([smhd])", duration))


def run_promtool(*args: str) -> subprocess.CompletedProcess[str]:
    if shutil.which("promtool") is None:
        pytest.skip("promtool is not installed (Debian: prometheus)")
    return subprocess.run(
        ["promtool", *args], capture_output=True, text=True, timeout=120, check=False
    )


CUSTOM_SELECTOR = 'job=~"ses-exporter|ses", cluster="eu-1"'


def test_a_custom_selector_replaces_the_job_selector_wholesale() -> None:
    values = yaml.safe_dump({"prometheusRule": {"selector": CUSTOM_SELECTOR}})
    spec = rule_spec(*FULL, "nameOverride=mail", values=values)
    assert spec == bundled_rules(CUSTOM_SELECTOR)
    assert_every_exporter_series_selected_by(spec, CUSTOM_SELECTOR)
    text = yaml.safe_dump([r["expr"] for r in all_rules(spec)])
    assert 'job="mail"' not in text
    assert "namespace=" not in text
    # Without the ServiceMonitor too: then it is the only way to say which job to select.
    assert rule_spec("prometheusRule.enabled=true", values=values) == spec


def test_without_the_service_monitor_the_chart_asks_for_the_selector() -> None:
    done = template("prometheusRule.enabled=true")
    assert done.returncode != 0
    assert "prometheusRule.selector: set it to the label matchers" in done.stderr


def test_alert_labels_severities_for_and_disabled_alerts() -> None:
    bundled = bundled_rules('job="ses-exporter", namespace="monitoring"')
    names = [r["alert"] for r in alerts(bundled)]
    current = {r["alert"]: r["labels"]["severity"] for r in alerts(bundled)}
    # Each severity changed to another, on one alert of each severity the file uses.
    other = {"critical": "info", "warning": "critical", "info": "warning"}
    severity = {next(n for n in names if current[n] == s): other[s] for s in set(current.values())}
    pending = {names[0]: "42m"}
    disabled = [names[-1], names[len(names) // 2]]
    labels = {"team": "mail", "tier": "1"}
    values = yaml.safe_dump(
        {
            "prometheusRule": {
                "alertLabels": labels,
                "severity": severity,
                "for": pending,
                "disabled": disabled,
            }
        }
    )
    objects = render(*FULL, values=values)
    (rule,) = by_kind(objects)["PrometheusRule"]
    spec = rule["spec"]
    assert [r["alert"] for r in alerts(spec)] == [n for n in names if n not in disabled]
    for group in bundled["groups"]:  # what the values say, done on the file
        group["rules"] = [r for r in group["rules"] if r.get("alert") not in disabled]
        for r in group["rules"]:
            if "alert" in r:
                r["labels"] = {**labels, **r["labels"]}
                r["labels"]["severity"] = severity.get(r["alert"], r["labels"]["severity"])
                # Made critical: keeps firing while stale, as the bundled critical alerts
                # do; made less than critical: no longer.
                if severity.get(r["alert"]) == "critical":
                    r["keep_firing_for"] = "1h"
                elif r["alert"] in severity:
                    r.pop("keep_firing_for", None)
                r["for"] = pending.get(r["alert"], r.get("for"))
                if r["for"] is None:
                    del r["for"]
    assert spec == bundled
    assert {r["alert"]: r["labels"]["severity"] for r in alerts(spec)}.items() >= severity.items()
    kept = {r["alert"] for r in alerts(spec) if "keep_firing_for" in r}
    assert kept == {r["alert"] for r in alerts(spec) if r["labels"]["severity"] == "critical"}
    assert all(r["labels"].items() >= labels.items() for r in alerts(spec))
    assert not [r for r in all_rules(spec) if "record" in r and "labels" in r]
    jsonschema.Draft7Validator(crd_schema("PrometheusRule")).validate(rule)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("severity.SesNoSuchAlert=info", "prometheusRule.severity.SesNoSuchAlert: no alert"),
        ("for.SesNoSuchAlert=5m", "prometheusRule.for.SesNoSuchAlert: no alert"),
        ("disabled[0]=SesNoSuchAlert", "prometheusRule.disabled[0]: no alert named SesNoSuchAlert"),
    ],
)
def test_an_unknown_alert_name_fails_the_render_naming_the_value(value: str, message: str) -> None:
    done = template(*FULL, f"prometheusRule.{value}")
    assert done.returncode != 0
    assert message in done.stderr
    assert "SesExporterDown" in done.stderr  # the names it could have been


def test_alert_labels_cannot_replace_a_label_an_alert_sets() -> None:
    # severity has its own value; the schema says so.
    done = template(*FULL, "prometheusRule.alertLabels.severity=page")
    assert done.returncode != 0
    assert "don't meet the specifications of the schema" in done.stderr
    assert "'severity'" in done.stderr
    # Others (a rate label, say) are the alerts' own: inhibitions and routes match on them.
    owned = {k for r in alerts(bundled_rules()) for k in r["labels"]} - {"severity"}
    for label in sorted(owned):
        done = template(*FULL, f"prometheusRule.alertLabels.{label}=x")
        assert done.returncode != 0
        assert f"prometheusRule.alertLabels.{label}: the alert " in done.stderr


@needs_promtool
@pytest.mark.parametrize(
    "values",
    [
        {},
        yaml.safe_load(case("customised")),
        {"prometheusRule": {"selector": CUSTOM_SELECTOR}},
    ],
    ids=["default", "customised", "selector"],
)
def test_promtool_accepts_the_rendered_rules(values: dict[str, Any], tmp_path: Path) -> None:
    spec = rule_spec(*FULL, values=yaml.safe_dump(values))
    path = tmp_path / "rendered.rules.yml"
    path.write_text(yaml.safe_dump(spec))
    done = run_promtool("check", "rules", str(path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(all_rules(spec))} rules found" in done.stdout


def test_the_rules_default_link_bases_are_the_generated_files() -> None:
    """The chart's defaults are rules-config.yml's, so the default render is the file."""
    generator = yaml.safe_load((RULES.parent / "rules-config.yml").read_text())
    rule_values = yaml.safe_load((CHART / "values.yaml").read_text())["prometheusRule"]
    assert rule_values["grafanaUrl"] == generator["grafana_url"]
    assert rule_values["runbookUrl"] == generator["runbook_url"]


def test_the_rules_links_follow_the_grafana_and_runbook_values() -> None:
    grafana, runbook = "https://grafana.example.com/", "https://wiki.example.com/ses/runbooks"
    objects = render(
        *FULL, f"prometheusRule.grafanaUrl={grafana}", f"prometheusRule.runbookUrl={runbook}"
    )
    (rule,) = by_kind(objects)["PrometheusRule"]
    bundled = bundled_rules('job="ses-exporter", namespace="monitoring"')
    annotations = [r["annotations"] for r in alerts(rule["spec"])]
    originals = [r["annotations"] for r in alerts(bundled)]
    assert len(annotations) == len(originals) > 0
    for got, original in zip(annotations, originals, strict=True):
        # The path and query of each link stay; only the base changes (no double slash).
        path = original["dashboard"].split("/d/", 1)[1]
        assert got["dashboard"] == f"https://grafana.example.com/d/{path}"
        anchor = original["runbook_url"].split("#", 1)[1]
        assert got["runbook_url"] == f"{runbook}#{anchor}"
        assert got["summary"] == original["summary"]
    text = yaml.safe_dump(rule["spec"])
    assert "localhost:3000" not in text
    assert "github.com/ses-exporter" not in text
    jsonschema.Draft7Validator(crd_schema("PrometheusRule")).validate(rule)
    # Everything but the two link bases is the bundled file.
    for r in (*all_rules(rule["spec"]), *all_rules(bundled)):
        r.get("annotations", {}).pop("dashboard", None)
        r.get("annotations", {}).pop("runbook_url", None)
    assert rule["spec"] == bundled


def test_notes_warn_when_alerts_link_to_localhost() -> None:
    def notes(*sets: str) -> str:
        flags = [
            f"--set={s}"
            for s in ("serviceMonitor.enabled=true", "prometheusRule.enabled=true", *sets)
        ]
        done = helm("install", "rel", str(CHART), "--dry-run=client", *flags)
        assert done.returncode == 0, done.stderr
        return done.stdout.split("NOTES:", 1)[1]

    assert "prometheusRule.grafanaUrl" in notes()
    assert "prometheusRule.grafanaUrl" not in notes("prometheusRule.grafanaUrl=https://g.example")
    assert 'up{job="ses-exporter", namespace="default"} should return' in notes()


def test_dashboards_are_config_maps_for_the_grafana_sidecar() -> None:
    objects = render("grafanaDashboards.enabled=true")
    maps = [o for o in objects if "grafana_dashboard" in o["metadata"]["labels"]]
    files = {p.name: p.read_text() for p in DASHBOARDS.glob("*.json")}
    # Every dashboard of deploy/grafana is shipped (files/dashboards links to each).
    generated = ROOT / "deploy" / "grafana" / "dashboards"
    assert files.keys() == {p.name for p in generated.glob("*.json")}
    assert len(files) == 5
    found = {}
    for config_map in maps:
        assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
        ((name, text),) = config_map["data"].items()
        found[name] = text
    assert found.keys() == files.keys()
    for name, text in found.items():
        assert json.loads(text) == json.loads(files[name])


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_object_is_valid_kubernetes_in_strict_mode(name: str, version: str) -> None:
    import kubernetes_validate

    checked = 0
    for obj in render(values=case(name)):
        if obj["apiVersion"].startswith("monitoring.coreos.com/"):
            continue  # custom resources: below
        kubernetes_validate.validate(obj, version, strict=True)
        checked += 1
    assert checked >= 4


def test_an_unknown_field_fails_strict_validation() -> None:
    """The validation above would catch a typo in a template."""
    import kubernetes_validate

    deployment = copy.deepcopy(workload(render()))
    deployment["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSIONS[-1], strict=True)


def crd_schema(kind: str) -> dict[str, Any]:
    """The v1 openAPIV3Schema of a vendored CRD, with unknown fields rejected where the
    schema lists its fields (as the API server's strict field validation does)."""
    for path in CRDS.glob("*.yaml"):
        crd = yaml.safe_load(path.read_text())
        if crd["spec"]["names"]["kind"] == kind:
            (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
            return _strict(version["schema"]["openAPIV3Schema"])
    raise AssertionError(f"no CRD for {kind} in {CRDS}")


def _strict(schema: Any) -> Any:
    if isinstance(schema, dict):
        out = {k: _strict(v) for k, v in schema.items()}
        preserve = schema.get("x-kubernetes-preserve-unknown-fields")
        if "properties" in schema and "additionalProperties" not in schema and not preserve:
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_strict(v) for v in schema]
    return schema


@pytest.mark.parametrize("kind", ["ServiceMonitor", "PrometheusRule"])
def test_custom_resources_match_their_published_crd_schemas(kind: str) -> None:
    (obj,) = by_kind(render(*FULL))[kind]
    # Not check_schema: the CRDs' patterns are Go regular expressions (e.g. "^(?i)..."),
    # which Python's re rejects; none of those fields is set here.
    validator = jsonschema.Draft7Validator(crd_schema(kind))
    validator.validate(obj)
    broken = copy.deepcopy(obj)
    broken["spec"]["unknownField"] = 1
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(broken)


# Each value the schema refuses, and where helm's schema error points: the value's path
# and what is wrong with it.
BAD_VALUES = [
    ("shards=0", "at '/shards': minimum: got 0, want 1"),
    ("image.pullPolicy=Sometimes", "at '/image/pullPolicy': value must be one of"),
    ("extraArgs[0]=no-dashes", "at '/extraArgs/0': 'no-dashes' does not match pattern '^--'"),
    ("nope=1", "additional properties 'nope' not allowed"),
    # no scheme: not a link
    ("prometheusRule.grafanaUrl=grafana.example.com", "at '/prometheusRule/grafanaUrl'"),
    # anchors are appended
    (
        "prometheusRule.runbookUrl=https://x.example/runbooks.md#top",
        "at '/prometheusRule/runbookUrl'",
    ),
    # not a severity the routes know
    (
        "prometheusRule.severity.SesExporterDown=page",
        "at '/prometheusRule/severity/SesExporterDown': value must be one of",
    ),
    # no unit
    ("prometheusRule.for.SesExporterDown=5", "at '/prometheusRule/for/SesExporterDown'"),
    # not an alert name
    ("prometheusRule.disabled[0]=Ses Exporter Down", "at '/prometheusRule/disabled/0'"),
    ("prometheusRule.alertLabels.__name__=x", "invalid propertyName '__name__'"),  # reserved
    ("prometheusRule.alertLabels.team-name=x", "invalid propertyName 'team-name'"),
]


@pytest.mark.parametrize(("bad", "error"), BAD_VALUES)
def test_values_schema_rejects_what_cannot_work(bad: str, error: str) -> None:
    done = template(*FULL, bad)
    assert done.returncode != 0, bad
    assert "don't meet the specifications of the schema" in done.stderr, bad
    assert error in done.stderr, done.stderr


def test_values_schema_rejects_a_selector_that_is_not_label_matchers() -> None:
    for selector in ('{job="x"}', "job=x", 'job="x" namespace="y"'):  # braces, quotes, comma
        values = yaml.safe_dump({"prometheusRule": {"selector": selector}})
        done = template(*FULL, values=values)
        assert done.returncode != 0, selector
        assert "/prometheusRule/selector" in done.stderr, selector


def test_the_package_holds_the_linked_files_themselves(tmp_path: Path) -> None:
    done = helm("package", str(CHART), f"--destination={tmp_path}")
    assert done.returncode == 0, done.stderr
    (package,) = tmp_path.glob("ses-exporter-*.tgz")
    with tarfile.open(package) as tar:
        rules = tar.extractfile("ses-exporter/files/ses-exporter.rules.yml")
        assert rules is not None
        assert rules.read().decode() == RULES.read_text()
        names = tar.getnames()
    assert {f"ses-exporter/files/dashboards/{p.name}" for p in DASHBOARDS.glob("*.json")} <= set(
        names
    )


def test_chart_version_follows_the_package() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["appVersion"] == ses_exporter.__version__


WHOLE = {  # maps described as one value, passed through as they are
    "config",
    "resources",
    "podSecurityContext",
    "securityContext",
    "livenessProbe",
    "readinessProbe",
}


def _leaves(values: dict[str, Any], prefix: str = "") -> Iterator[str]:
    """Dotted value paths; a map that is empty by default (labels, annotations, the
    exporter's config, webConfig) counts as one value."""
    for key, value in values.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value and key not in WHOLE:
            yield from _leaves(value, f"{path}.")
        else:
            yield path


def test_the_chart_readme_and_schema_describe_every_value() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    readme = (CHART / "README.md").read_text()
    schema = json.loads((CHART / "values.schema.json").read_text())
    documented = {
        line.split("|")[1].strip().strip("`")
        for line in readme.splitlines()
        if line.startswith("| `")
    }
    leaves = set(_leaves(values))
    assert leaves - documented == set()
    assert documented - leaves == set()
    jsonschema.validate(values, schema)
    assert set(schema["properties"]) == set(values)


def test_notes_say_how_the_release_runs() -> None:
    done = helm("install", "rel", str(CHART), "--dry-run=client", "--set=shards=3")
    assert done.returncode == 0, done.stderr
    notes = done.stdout.split("NOTES:", 1)[1]
    assert "a StatefulSet of 3 shards" in notes
    assert "port-forward pod/rel-ses-exporter-0 10049" in notes
    assert "no IRSA role annotation is set" in notes
