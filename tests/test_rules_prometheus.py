"""The generated rules in a real Prometheus over two sharded exporters and two releases.

Two demo exporter processes (``--shard.count 2``, ``--shard.index`` 0 and 1) split the
demo's targets. Debian's ``prometheus`` scrapes them as two releases of one job,
``ses-exporter``: release ``a`` (namespace a) scrapes both shards, release ``b``
(namespace b) only the shard that owns fewer targets, as if its other shard were gone.
So every SES series and every threshold series exists twice per job, differing by
namespace (before the per-target joins, ``*ApproachingReview`` failed here with "found
duplicate series for the match group").

The rules are generated with ``for: 0s`` everywhere and evaluated every second, then:

* every rule's health in ``/api/v1/rules`` is ``ok``: no evaluation error, and
  every rule has been evaluated;
* the demo's bounce problem (the ``marketing`` set crosses the 5 % review threshold
  about a minute after start) fires SesConfigurationSetBounceRateUnderReview in release a;
* SesExporterShardCoverageBroken fires for release b (a target no replica it scrapes
  polls) and not for release a.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.daemon import DEMO_CONFIG_FOR_PROMETHEUS, DaemonProcess, demo_daemon
from tests.prometheus import GENERATOR, Prometheus, firing, launch_prometheus

pytestmark = [
    pytest.mark.process,
    pytest.mark.skipif(shutil.which("prometheus") is None, reason="prometheus is not installed"),
]

BOUNCE_ALERT = "SesConfigurationSetBounceRateUnderReview"
SHARD_ALERT = "SesExporterShardCoverageBroken"


def gauge(daemon: DaemonProcess, name: str) -> float:
    response = daemon.request("/metrics")
    assert response.status == 200
    found = re.search(rf"^{name} (\S+)$", response.body, re.MULTILINE)
    assert found, name
    return float(found.group(1))


def scrape_job(release: str, *ports: int) -> str:
    """One release's scrape config: its own job_name, relabelled to the rules' job."""
    targets = ", ".join(f"'127.0.0.1:{port}'" for port in ports)
    return (
        f"  - job_name: release-{release}\n"
        f"    static_configs: [{{targets: [{targets}], labels: {{namespace: {release}}}}}]\n"
        "    relabel_configs: [{target_label: job, replacement: ses-exporter}]\n"
    )


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    tmp = tmp_path_factory.mktemp("rules-prometheus")
    shards: list[DaemonProcess] = []
    prometheus = None
    try:
        for index in (0, 1):
            shard_dir = tmp / f"shard-{index}"
            shard_dir.mkdir()
            args = ("--shard.count=2", f"--shard.index={index}")
            shards.append(demo_daemon(shard_dir, *args, config_text=DEMO_CONFIG_FOR_PROMETHEUS))
        for shard in shards:
            shard.wait_ready(timeout=120)
        owned = [gauge(shard, "ses_exporter_targets") for shard in shards]
        assert sum(owned) == gauge(shards[0], "ses_exporter_targets_all_shards") == 2
        smaller = shards[owned.index(min(owned))]
        settings = GENERATOR.Settings(for_=dict.fromkeys(GENERATOR.DEFAULT_FOR, "0s"))
        rules = tmp / "rules.yml"
        rules.write_text(GENERATOR.render(settings))
        config = tmp / "prometheus.yml"
        config.write_text(
            "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
            f"rule_files: [{rules}]\n"
            "scrape_configs:\n"
            + scrape_job("a", *(shard.port for shard in shards))
            + scrape_job("b", smaller.port)
        )
        prometheus = launch_prometheus(config, tmp / "data")
        prometheus.wait_for(
            "three scrape targets up",
            lambda: (
                len(prometheus.api("query", query='up{job="ses-exporter"} == 1')["result"]) == 3
            ),
            timeout=120,
        )
        yield prometheus
    finally:
        for shard in shards:
            shard.stop()
        if prometheus is not None:
            prometheus.stop()


def rule_states(prometheus: Prometheus) -> list[dict[str, Any]]:
    return [rule for group in prometheus.api("rules")["groups"] for rule in group["rules"]]


def test_the_bounce_alert_fires_in_the_release_that_polls_both_shards(
    stack: Prometheus,
) -> None:
    alerts = stack.wait_for(
        BOUNCE_ALERT,
        lambda: [a for a in firing(stack, BOUNCE_ALERT) if a["labels"]["namespace"] == "a"],
        timeout=240,
    )
    assert {a["labels"]["configuration_set"] for a in alerts} == {"marketing"}
    assert all("instance" not in a["labels"] and "pod" not in a["labels"] for a in alerts)
    # One alert per target and release, whichever shard reported it.
    keys = [(a["labels"]["account_id"], a["labels"]["region"]) for a in alerts]
    assert len(keys) == len(set(keys))


def test_the_shard_alert_fires_for_the_release_missing_a_shard_only(stack: Prometheus) -> None:
    alerts = stack.wait_for(SHARD_ALERT, lambda: firing(stack, SHARD_ALERT), timeout=120)
    assert {a["labels"]["namespace"] for a in alerts} == {"b"}
    assert float(alerts[0]["value"]) < 0  # targets no replica of b polls


def test_every_rule_is_evaluated_without_error(stack: Prometheus) -> None:
    """After the demo's data is all there (the bounce alert fires), every rule has been
    evaluated and none failed: no duplicate series, many-to-many or template error."""
    stack.wait_for(BOUNCE_ALERT, lambda: firing(stack, BOUNCE_ALERT), timeout=240)
    expected = len(
        [
            r
            for g in yaml.safe_load(Path(GENERATOR.OUTPUT).read_text())["groups"]
            for r in g["rules"]
        ]
    )
    states = stack.wait_for(
        "every rule evaluated",
        lambda: (s := rule_states(stack)) and all(r["health"] != "unknown" for r in s) and s,
        timeout=60,
    )
    assert len(states) == expected
    failing = {r["name"]: r.get("lastError") for r in states if r["health"] != "ok"}
    assert not failing, failing
