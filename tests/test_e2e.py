"""End to end: the demo exporter, a real Prometheus with the bundled rules, the dashboards.

Starts ``ses-exporter --demo`` with short intervals and two sharded demo exporters
(``--shard.count 2``, ``--shard.index 0`` and ``1``), Debian's ``prometheus`` scraping the
three in one job every second with the alert and recording rules loaded: every target is
polled by two processes, as by two replicas during a rollout. Then

* waits for the demo's bounce problem (the ``marketing`` configuration set crosses the 5 %
  review threshold about a minute after start) to fire the bounce-rate alert;
* runs every panel query and every variable query of every dashboard (fleet overview
  included) through Prometheus's HTTP API, with the variables substituted as Grafana
  would, and requires a result of the right type without errors: non-empty, except the
  panels listed in EMPTY_IN_THE_DEMO, whose no-data text is checked instead; one series
  per account and region (or set): replicas are never shown twice, and counts are not
  doubled.

The rules' ``for:`` durations (15 minutes and more) are set to 0 in the copy Prometheus
loads: their edges are covered by ``promtool test rules``; here the expressions must fire.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.daemon import DEMO_CONFIG_FOR_PROMETHEUS, DaemonProcess, demo_daemon
from tests.dashboards import iter_panels, load_dashboards, panel_queries, variable_queries
from tests.prometheus import GENERATOR, Prometheus, firing, launch_prometheus_scraping


def grafana_option(series: dict[str, Any], regex: str) -> str | None:
    """What Grafana offers for one query_result() series: it formats the series as
    ``name{k="v",...} value timestamp`` and applies the variable's regex; with named
    groups, ``text`` is shown and ``value`` selected. Returns "text=value" (or the line)."""
    metric = series["metric"]
    labels = ",".join(f'{k}="{v}"' for k, v in metric.items() if k != "__name__")
    line = f"{metric.get('__name__', '')}{{{labels}}} {series['value'][1]} {series['value'][0]}"
    if not regex:
        return line
    found = re.search(regex.strip("/").replace("(?<", "(?P<"), line)  # JavaScript -> Python
    if found is None:
        return None
    groups = found.groupdict()
    return f"{groups['text']}={groups['value']}" if "text" in groups else found.group(0)


pytestmark = [
    pytest.mark.process,
    pytest.mark.skipif(shutil.which("prometheus") is None, reason="prometheus is not installed"),
]

RULES = Path(__file__).parent.parent / "deploy" / "prometheus" / "ses-exporter.rules.yml"
VARIABLES: dict[str, Any] = {
    "account_id": "123456789012",
    "region": ["us-east-1", "eu-west-1"],
    "configuration_set": ["marketing", "transactional"],
    "isp": ["Gmail", "Yahoo"],
    "datasource": "prometheus",
    "job": "ses-exporter",
}
# Panels that are empty in the demo by design, with the no-data text (noValue) they must
# show. None today: the fleet's counts of paused or under-review targets answer 0 (`or
# vector(0)`), the demo publishes every rate and has no v1-API fallback.
EMPTY_IN_THE_DEMO: dict[str, str] = {}
SHARDS = (("--shard.count=2", "--shard.index=0"), ("--shard.count=2", "--shard.index=1"))
ALERT = "SesConfigurationSetBounceRateUnderReview"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DaemonProcess, Prometheus]]:
    tmp = tmp_path_factory.mktemp("e2e")
    exporters: list[DaemonProcess] = []
    prometheus = None
    try:
        for number, shard in enumerate(((), *SHARDS)):
            home = tmp / f"exporter-{number}"
            home.mkdir()
            exporters.append(demo_daemon(home, *shard, config_text=DEMO_CONFIG_FOR_PROMETHEUS))
        for exporter in exporters:
            exporter.wait_ready(timeout=60)
        rules = re.sub(r"(?m)^(\s+for:) .*$", r"\1 0s", RULES.read_text())
        prometheus = launch_prometheus_scraping(tmp, [e.port for e in exporters], rules)
        prometheus.wait_for(
            "the first scrape of each exporter",
            lambda: (
                len(prometheus.api("query", query='up{job="ses-exporter"} == 1')["result"])
                == len(exporters)
            ),
            timeout=60,
        )
        yield exporters[0], prometheus
    finally:
        for exporter in exporters:
            exporter.stop()
        if prometheus is not None:
            prometheus.stop()


def test_the_demo_bounce_problem_fires_the_bounce_rate_alert(
    stack: tuple[DaemonProcess, Prometheus],
) -> None:
    _, prometheus = stack
    alerts = prometheus.wait_for(ALERT, lambda: firing(prometheus, ALERT), timeout=150)
    labels = {a["labels"]["configuration_set"] for a in alerts}
    assert "marketing" in labels
    assert "transactional" not in labels
    assert all(a["labels"]["severity"] in {"warning", "critical"} for a in alerts)
    assert all("ses-reputation-metrics" in a["annotations"]["dashboard"] for a in alerts)


def panel_results(
    prometheus: Prometheus, panel: dict[str, Any], variables: dict[str, Any]
) -> list[tuple[str, list[dict[str, Any]]]]:
    """[(query, result)] of one panel's queries; a query error fails the test (api())."""
    out = []
    for _, expr in panel_queries({"panels": [panel]}, variables):
        data = prometheus.api("query", query=expr)
        assert data["resultType"] in {"vector", "matrix"}, (panel["title"], expr, data)
        out.append((expr, data["result"]))
    return out


@pytest.mark.parametrize("dashboard", sorted(load_dashboards()))
@pytest.mark.timeout(400)  # against a hang: the waits below add up to 240 s, plus the stack
def test_every_panel_query_returns_data(
    stack: tuple[DaemonProcess, Prometheus], dashboard: str
) -> None:
    _, prometheus = stack
    # CloudWatch counters need two demo flushes (a minute apart) to move.
    prometheus.wait_for(ALERT, lambda: firing(prometheus, ALERT), timeout=150)
    panels = [p for p in iter_panels(load_dashboards()[dashboard]) if p.get("targets")]
    assert panels
    # Subqueries (e.g. "History starts at": [1h:1m]) are evaluated at whole minutes, so they
    # have data once a minute boundary has passed since the first scrape: on a loaded
    # machine the alert can fire before that. Every panel gets up to 90 s more.
    deadline = time.monotonic() + 90
    while True:
        empty = []
        for panel in panels:
            results = panel_results(prometheus, panel, VARIABLES)
            if not any(result for _, result in results):
                empty.append(panel["title"])
            for expr, result in results:
                for series in result:
                    assert series["value"][1] != "NaN", (panel["title"], expr)
                    # Aggregated over the exporters that poll a target: never one series
                    # per replica (the demo and a shard poll each target here).
                    if "account_id" in series["metric"]:
                        assert "instance" not in series["metric"], (panel["title"], expr)
        if set(empty) <= set(EMPTY_IN_THE_DEMO) or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert set(empty) <= set(EMPTY_IN_THE_DEMO), f"panels without data: {empty}"
    for panel in panels:
        if panel["title"] in empty:  # shows its no-data text: it must say why
            wanted = EMPTY_IN_THE_DEMO[panel["title"]]
            assert panel["fieldConfig"]["defaults"].get("noValue") == wanted, panel["title"]


def test_counts_are_counted_once_while_two_exporters_poll_a_target(
    stack: tuple[DaemonProcess, Prometheus],
) -> None:
    """Sends over the range equal the count of one exporter, not the sum of the two that
    poll the target (the demo and a shard): `max by` over replicas."""
    _, prometheus = stack
    sends = 'aws_ses_sends_total{job="ses-exporter"}'
    prometheus.wait_for(
        "two exporters counting sends",
        lambda: any(
            int(s["value"][1]) == 2
            for s in prometheus.api("query", query=f"count by (region) ({sends} > 0)")["result"]
        ),
        timeout=150,
    )
    [panel] = [
        p
        for p in iter_panels(load_dashboards()["ses-reputation-metrics.json"])
        if p["title"] == "Sent in the time range"
    ]
    at = f"{time.time():.3f}"
    [(_, expr)] = panel_queries({"panels": [panel]}, VARIABLES | {"__range": "10m"})
    shown = {
        s["metric"]["region"]: float(s["value"][1])
        for s in prometheus.api("query", query=expr, time=at)["result"]
    }
    per_exporter: dict[str, list[float]] = {}
    for s in prometheus.api("query", query=f"increase({sends}[10m])", time=at)["result"]:
        per_exporter.setdefault(s["metric"]["region"], []).append(float(s["value"][1]))
    twice = [r for r, counts in per_exporter.items() if len(counts) == 2 and min(counts) > 0]
    assert twice, per_exporter
    for region in twice:
        assert shown[region] == max(per_exporter[region]), (shown, per_exporter)
        assert shown[region] < sum(per_exporter[region]), (shown, per_exporter)


@pytest.mark.parametrize("dashboard", sorted(load_dashboards()))
def test_every_variable_query_offers_values(
    stack: tuple[DaemonProcess, Prometheus], dashboard: str
) -> None:
    _, prometheus = stack
    board = load_dashboards()[dashboard]
    by_name = {v["name"]: v for v in board["templating"]["list"]}
    for name, query in variable_queries(board, VARIABLES):
        variable = by_name[name]
        label_values = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", query)
        query_result = re.fullmatch(r"query_result\((.*)\)", query)
        if label_values:
            expr, label = label_values.groups()
            found = {s["metric"].get(label) for s in prometheus.api("query", query=expr)["result"]}
        else:
            assert query_result, f"{name}: unexpected variable query {query}"
            found = {
                grafana_option(s, variable["regex"])
                for s in prometheus.api("query", query=query_result.group(1))["result"]
            }
        if name == "cluster":  # one Prometheus, no cluster label: "All" (.*) matches
            assert found <= {None}, found
            continue
        assert found - {None}, f"{dashboard}: variable {name} offers nothing ({query})"
        if name == "account_id":  # the account's name is shown, its id selected
            assert found == {"demo=123456789012"}, found


# ---- the first reject after start ----------------------------------------------------


def test_the_first_reject_after_start_is_seen_by_increase_and_the_reject_alert(
    tmp_path: Path,
) -> None:
    """A Reject metric that does not exist when the exporter starts (the first reject
    ever): its counter must be exposed at 0 before its first non-zero value, so that
    increase() sees the first reject and SesRejectRateSpike goes pending at once.

    Needs the exporter to expose a counter at 0 before its first event. The
    rules are the bundled ones with reject_min_count 1 (one reject among ~1 send a
    second is far above 1 %); `for` is kept, so the alert is pending, not firing.
    """
    from tests.faultproxy import FaultProxy, MotoServer, World

    region = "eu-west-1"
    with MotoServer() as moto, FaultProxy(moto.url) as proxy:
        world = World(moto, (region,)).seed()  # Send and Delivery, no Reject yet
        config = (
            "accounts:\n  - name: first-reject\n"
            f"    regions: [{region}]\n    endpoint_url: {proxy.url}\n"
            "    ses_requests_per_second: 50\n"
            "collectors:\n  account: {interval: 1s}\n  send_statistics: {interval: 5s}\n"
            "  cloudwatch: {interval: 2s, period: 60s, lookback: 2m}\n"
            "  configuration_sets: {interval: 5s}\n"
        )
        with DaemonProcess(config, tmp_path / "daemon") as daemon:
            daemon.wait_ready()
            world.start_traffic(every=1.0)
            rules = GENERATOR.render(GENERATOR.Settings(reject_min_count=1))
            prometheus = launch_prometheus_scraping(tmp_path, daemon.port, rules)
            try:
                prometheus.wait_for(
                    "sends counted",
                    lambda: prometheus.api("query", query="aws_ses_sends_total > 0")["result"],
                    timeout=120,
                )
                moto.client("cloudwatch", region).put_metric_data(
                    Namespace="AWS/SES",
                    MetricData=[{"MetricName": "Reject", "Timestamp": time.time(), "Value": 3.0}],
                )
                prometheus.wait_for(
                    "the first reject",
                    lambda: prometheus.api("query", query="aws_ses_rejects_total > 0")["result"],
                    timeout=180,
                )
                seen = prometheus.api("query", query="increase(aws_ses_rejects_total[10m]) > 0")[
                    "result"
                ]
                assert [s["metric"]["region"] for s in seen] == [region]
                pending = prometheus.wait_for(
                    "SesRejectRateSpike pending",
                    lambda: prometheus.api(
                        "query",
                        query='ALERTS{alertname="SesRejectRateSpike", alertstate="pending"}',
                    )["result"],
                    timeout=30,
                )
                assert pending[0]["metric"]["region"] == region
                assert "instance" not in pending[0]["metric"]
            finally:
                world.stop()
                prometheus.stop()
