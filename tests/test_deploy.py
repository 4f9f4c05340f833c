"""The deployment files that cannot run here (no container engine): checked by tools.

The compose stack's mounts must exist and point where the configs expect them, its
Prometheus config must pass ``promtool check config`` with the rules it mounts, its
Alertmanager config ``amtool check-config``, Grafana's provisioning must find the
dashboards; the Dockerfile must keep its promises (non-root, healthcheck, exec form).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).parent.parent
COMPOSE_DIR = ROOT / "deploy" / "compose"


def compose() -> dict[str, Any]:
    return dict(yaml.safe_load((COMPOSE_DIR / "docker-compose.yml").read_text()))


def mounts(service: str) -> dict[str, Path]:
    """{container path: host path} of a service's bind mounts."""
    out = {}
    for volume in compose()["services"][service].get("volumes", []):
        host, container = volume.split(":")[:2]
        out[container] = (COMPOSE_DIR / host).resolve()
    return out


def test_every_mounted_file_exists_and_images_are_pinned() -> None:
    services = compose()["services"]
    assert set(services) == {"ses-exporter", "prometheus", "alertmanager", "grafana"}
    for name, service in services.items():
        for host in mounts(name).values():
            assert host.exists(), f"{name}: {host} does not exist"
        image = service.get("image")
        if image:
            assert re.fullmatch(r"[\w./-]+:v?\d+\.\d+\.\d+", image), f"{name}: unpinned {image}"
    exporter = services["ses-exporter"]
    assert (COMPOSE_DIR / exporter["build"]["context"] / "Dockerfile").exists()
    assert exporter["command"] == ["--demo"]


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_compose_prometheus_config_and_its_mounted_rules_pass_promtool(tmp_path: Path) -> None:
    volumes = mounts("prometheus")
    config = yaml.safe_load(volumes["/etc/prometheus/prometheus.yml"].read_text())
    # Point the config at the files the container would see, as they are on this disk.
    config["rule_files"] = [str(volumes[path]) for path in config["rule_files"]]
    local = tmp_path / "prometheus.yml"
    local.write_text(yaml.safe_dump(config))
    result = run("promtool", "check", "config", str(local))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr
    targets = config["scrape_configs"][0]["static_configs"][0]["targets"]
    assert targets == ["ses-exporter:10049"]
    assert config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == [
        "alertmanager:9093"
    ]


@pytest.mark.skipif(shutil.which("amtool") is None, reason="amtool is not installed")
def test_compose_alertmanager_config_passes_amtool() -> None:
    result = run(
        "amtool", "check-config", str(mounts("alertmanager")["/etc/alertmanager/alertmanager.yml"])
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_grafana_provisioning_finds_the_dashboards_and_the_datasource() -> None:
    volumes = mounts("grafana")
    provisioning = volumes["/etc/grafana/provisioning"]
    providers = yaml.safe_load((provisioning / "dashboards" / "ses-exporter.yml").read_text())
    path = providers["providers"][0]["options"]["path"]
    dashboards = volumes[path]
    assert sorted(p.name for p in dashboards.glob("*.json")) == [
        "ses-account-dashboard.json",
        "ses-deliverability.json",
        "ses-fleet-overview.json",
        "ses-identities.json",
        "ses-reputation-metrics.json",
    ]
    for dashboard in dashboards.glob("*.json"):
        assert "${DS_" not in dashboard.read_text()
        assert json.loads(dashboard.read_text())["uid"] in {
            "ses-account-dashboard",
            "ses-deliverability",
            "ses-fleet-overview",
            "ses-identities",
            "ses-reputation-metrics",
        }
    sources = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())
    assert sources["datasources"][0]["type"] == "prometheus"
    assert sources["datasources"][0]["url"] == "http://prometheus:9090"
    home = compose()["services"]["grafana"]["environment"]
    assert home["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"].startswith(path)


def test_dockerfile_keeps_its_promises() -> None:
    text = (ROOT / "Dockerfile").read_text()
    stages = re.findall(r"(?m)^FROM (\S+)", text)
    assert len(stages) >= 2 and all(s.startswith("python:3.11-slim") for s in stages)
    user = re.findall(r"(?m)^USER (\S+)", text)
    assert user and not user[-1].startswith(("root", "0"))
    assert re.search(r"(?m)^EXPOSE 10049$", text)
    assert re.search(r"(?m)^HEALTHCHECK .*\n?.*/-/healthy", text)
    entrypoint = re.search(r"(?m)^ENTRYPOINT (.*)$", text)
    assert entrypoint and json.loads(entrypoint.group(1)) == ["ses-exporter"]
    cmd = re.search(r"(?m)^CMD (.*)$", text)
    assert cmd and isinstance(json.loads(cmd.group(1)), list)
    assert re.search(r"(?m)^ENV .*\bMALLOC_ARENA_MAX=2\b", text), "RSS growth, see the soak"


def test_the_image_installs_only_the_hash_pinned_locks() -> None:
    """Every dependency comes from deploy/docker/requirements.lock, each file checked
    against its hash and nothing resolved at build time; the package itself adds none, and
    its build backend comes from its own lock (no unpinned download behind the build)."""
    text = (ROOT / "Dockerfile").read_text()
    joined = text.replace("\\\n", " ")  # continuation lines
    installs = [" ".join(i.split()) for i in re.findall(r"pip install ([^&\n]*)", joined)]
    assert len(installs) == 3, installs
    build, runtime, package = installs
    for lock in (build, runtime):
        assert "--require-hashes" in lock and "--no-deps" in lock
    assert build.endswith("-r build-requirements.lock")
    assert runtime.endswith("-r requirements.lock") and "--prefix=/install" in runtime
    assert package.endswith(" .") and "--no-deps" in package
    assert "--no-build-isolation" in package and "--prefix=/install" in package
    copied = re.search(r"(?m)^COPY (deploy/docker/\S+) (deploy/docker/\S+) \./$", text)
    assert copied and {Path(p).name for p in copied.groups()} == {
        "requirements.lock",
        "build-requirements.lock",
    }
    # .dockerignore leaves deploy/ out of the build context, but not these two.
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    for path in copied.groups():
        assert (ROOT / path).exists()
        assert f"!{path}" in ignore
    assert ignore.index("deploy") < min(ignore.index(f"!{p}") for p in copied.groups())
