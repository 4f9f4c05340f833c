"""The Helm chart (deploy/helm/ses-exporter), rendered and checked by the real tools.

``helm lint`` and ``helm template`` with the default values and with 3 shards plus
ServiceMonitor, PrometheusRule and dashboards; every rendered object validated against
the Kubernetes schemas in strict mode (``kubernetes-validate``, at the chart's oldest
supported Kubernetes and the newest it knows), the two prometheus-operator objects against
their published CRD schemas (tests/data/crds/, unknown fields rejected); what the objects
carry is compared with the files they come from, and the exporter itself checks the
rendered configuration and flags.

helm comes from ``.ci/install-helm`` (``.ci/bin/helm``), or ``$SES_EXPORTER_HELM``, or
the PATH. Without it these tests skip, except in CI, where they fail.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
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

ROOT = Path(__file__).resolve().parent.parent
CHART = ROOT / "deploy" / "helm" / "ses-exporter"
RULES = ROOT / "deploy" / "prometheus" / "ses-exporter.rules.yml"
DASHBOARDS = ROOT / "deploy" / "grafana" / "dashboards"
CRDS = Path(__file__).parent / "data" / "crds"
# The chart's kubeVersion floor, and the newest Kubernetes that kubernetes-validate knows.
KUBERNETES_VERSIONS = ("1.25.0", "1.37.0")
FULL = (
    "shards=3",
    "serviceMonitor.enabled=true",
    "prometheusRule.enabled=true",
    "grafanaDashboards.enabled=true",
)


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


def helm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [helm_binary(), *args], capture_output=True, text=True, timeout=60, check=False
    )


@cache
def _render(sets: tuple[str, ...]) -> str:
    flags = [f"--set={s}" for s in sets]
    done = helm("template", "rel", str(CHART), "--namespace=monitoring", *flags)
    assert done.returncode == 0, done.stderr
    return done.stdout


def render(*sets: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(_render(tuple(sets))) if d]


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


@pytest.mark.parametrize("sets", [(), FULL], ids=["default", "full"])
def test_helm_lint_passes(sets: tuple[str, ...]) -> None:
    done = helm("lint", "--strict", str(CHART), *[f"--set={s}" for s in sets])
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
    # The rules' SesExporterDown selects job="ses-exporter": the job label comes from here.
    assert service["metadata"]["labels"][monitor["spec"]["jobLabel"]] == "ses-exporter"


ORGANIZATION_ONLY = (
    "config.organizations[0].member_role_name=ses-exporter",
    "config.organizations[0].regions[0]=eu-west-1",
)


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
        done = subprocess.run(
            [sys.executable, "-m", "ses_exporter", f"--config.file={config}", "--config.check"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
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
    key = r"serviceAccount.annotations.eks\.amazonaws\.com/role-arn"
    objects = render(f"{key}={role}")
    (account,) = by_kind(objects)["ServiceAccount"]
    assert account["metadata"]["annotations"] == {"eks.amazonaws.com/role-arn": role}
    pod = workload(objects)["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == account["metadata"]["name"]


def test_web_config_goes_into_a_secret_and_probes_still_work(tmp_path: Path) -> None:
    import bcrypt

    from ses_exporter.web import load_web_config

    hashed = bcrypt.hashpw(b"secret", bcrypt.gensalt(rounds=4)).decode()
    objects = render(f"webConfig.basic_auth_users.prometheus={hashed}")
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
    sets = (
        "webConfig.tls_server_config.cert_file=/certs/tls.crt",
        "webConfig.tls_server_config.key_file=/certs/tls.key",
        "serviceMonitor.enabled=true",
        "serviceMonitor.tlsConfig.ca.secret.name=ses-exporter-ca",
        "serviceMonitor.tlsConfig.ca.secret.key=ca.crt",
        "serviceMonitor.basicAuth.username.name=scrape",
        "serviceMonitor.basicAuth.username.key=user",
        "serviceMonitor.basicAuth.password.name=scrape",
        "serviceMonitor.basicAuth.password.key=password",
    )
    objects = render(*sets)
    main = container(objects)
    assert main["livenessProbe"]["httpGet"]["scheme"] == "HTTPS"
    assert main["readinessProbe"]["httpGet"]["scheme"] == "HTTPS"
    (monitor,) = by_kind(objects)["ServiceMonitor"]
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["scheme"] == "https"
    assert endpoint["tlsConfig"]["ca"]["secret"]["name"] == "ses-exporter-ca"
    jsonschema.Draft7Validator(crd_schema("ServiceMonitor")).validate(monitor)


def test_the_prometheus_rule_carries_exactly_the_bundled_rules() -> None:
    (rule,) = by_kind(render(*FULL))["PrometheusRule"]
    assert rule["spec"] == yaml.safe_load(RULES.read_text())


def alert_annotations(spec: dict[str, Any]) -> list[dict[str, str]]:
    return [r["annotations"] for g in spec["groups"] for r in g["rules"] if "alert" in r]


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
    bundled = yaml.safe_load(RULES.read_text())
    annotations = alert_annotations(rule["spec"])
    assert len(annotations) == len(alert_annotations(bundled)) == 25
    for got, original in zip(annotations, alert_annotations(bundled), strict=True):
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
    for group in (*rule["spec"]["groups"], *bundled["groups"]):
        for r in group["rules"]:
            r.get("annotations", {}).pop("dashboard", None)
            r.get("annotations", {}).pop("runbook_url", None)
    assert rule["spec"] == bundled


def test_notes_warn_when_alerts_link_to_localhost() -> None:
    def notes(*sets: str) -> str:
        flags = [f"--set={s}" for s in ("prometheusRule.enabled=true", *sets)]
        done = helm("install", "rel", str(CHART), "--dry-run=client", *flags)
        assert done.returncode == 0, done.stderr
        return done.stdout.split("NOTES:", 1)[1]

    assert "prometheusRule.grafanaUrl" in notes()
    assert "prometheusRule.grafanaUrl" not in notes("prometheusRule.grafanaUrl=https://g.example")


def test_dashboards_are_config_maps_for_the_grafana_sidecar() -> None:
    objects = render("grafanaDashboards.enabled=true")
    maps = [o for o in objects if "grafana_dashboard" in o["metadata"]["labels"]]
    files = {p.name: p.read_text() for p in DASHBOARDS.glob("*.json")}
    assert len(files) == 2
    found = {}
    for config_map in maps:
        assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
        ((name, text),) = config_map["data"].items()
        found[name] = text
    assert found.keys() == files.keys()
    for name, text in found.items():
        assert json.loads(text) == json.loads(files[name])


@pytest.mark.parametrize("sets", [(), FULL], ids=["default", "full"])
@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_object_is_valid_kubernetes_in_strict_mode(
    sets: tuple[str, ...], version: str
) -> None:
    import kubernetes_validate

    checked = 0
    for obj in render(*sets):
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


def test_values_schema_rejects_what_cannot_work() -> None:
    for bad in (
        "shards=0",
        "image.pullPolicy=Sometimes",
        "extraArgs[0]=no-dashes",
        "nope=1",
        "prometheusRule.grafanaUrl=grafana.example.com",  # no scheme: not a link
        "prometheusRule.runbookUrl=https://x.example/runbooks.md#top",  # anchors are appended
    ):
        done = helm("template", "rel", str(CHART), f"--set={bad}")
        assert done.returncode != 0, bad


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
