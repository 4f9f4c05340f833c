"""End to end: ``ses-exporter backfill --demo`` into blocks, a real Prometheus on them,
the live demo exporter scraped by the same Prometheus.

1. ``ses-exporter backfill --demo --days 14 --step 5m --tsdb DIR`` with the labels the
   scrape will add (``job``; ``instance`` set in the scrape config, so it is known before
   the exporter's port is), which runs ``promtool tsdb create-blocks-from openmetrics``;
2. the live exporter (``--demo``, its own simulated AWS with the same 14-day history);
3. Prometheus on DIR, scraping it every second.

Then, over the last 14 days:

* every panel query of the Account dashboard's Sending statistics row returns points on
  at least 13 of the 14 days (``query_range``, 1-hour steps);
* history and live data are one series, and ``increase(aws_ses_sends_total[14d])`` across
  the reset where the live counter starts from 0 equals the simulated Send datapoints of
  those 14 days (the history the demo recomputes, plus what the live exporter counted),
  within one step's worth of sends: what fell between the backfill's last whole minute
  and the live exporter's first poll (its baseline) is in neither;
* VDM's account-wide sends (daily, each whole UTC day counted at its end) join the live
  counter the same way: one series, one reset, the backfilled part the simulated sends
  of the whole days, and ``increase()`` over 14 days the backfilled plus the live part;
* the backfill made the minimum of GetMetricData requests: 9 account-wide event metrics
  x 4,032 periods = 36,288 datapoints, one request; the 2 reputation metrics from 24
  hours earlier, another.

One region and no configuration sets, so the file is small (26 series, and VDM's 60) and
the test takes about as long as the demo takes to publish its first live minute (60 s).
"""

from __future__ import annotations

import math
import os
import re
import shutil
import time
from pathlib import Path

import pytest

from ses_exporter.demo.history import DAY, history_minutes
from ses_exporter.demo.world import PROFILES
from tests.daemon import demo_config, demo_daemon, run_exporter
from tests.dashboards import iter_panels, load_dashboards, panel_queries
from tests.prometheus import launch_prometheus

pytestmark = [
    pytest.mark.process,
    pytest.mark.skipif(
        shutil.which("prometheus") is None or shutil.which("promtool") is None,
        reason="prometheus is not installed (or promtool missing)",
    ),
]

REGION = "us-east-1"
STEP = 300
DEMO_SEED = 2026  # DemoWorld's default
CONFIG = demo_config(account="2s", send_statistics="5s", cloudwatch="5s", configuration_sets="10s")
CONFIG = CONFIG.replace("regions: [us-east-1, eu-west-1]", f"regions: [{REGION}]").replace(
    "    labels: {env: demo}\n",
    '    labels: {env: demo}\n    configuration_sets: {exclude: [".*"]}\n',
)
VARIABLES = {"account_id": "123456789012", "region": REGION, "datasource": "prometheus"}
VARIABLES["configuration_set"] = ".*"


SENDING_STATISTICS = ["Sends", "Rejects", "Bounces", "Complaints"]


def sending_statistics_queries() -> list[tuple[str, str]]:
    """The Account dashboard's Sending statistics charts (in each region's row)."""
    board = load_dashboards()["ses-account-dashboard.json"]
    panels = [
        panel
        for panel in iter_panels(board)
        if panel.get("type") == "timeseries" and panel.get("title") in SENDING_STATISTICS
    ]
    first: dict[str, str] = {}  # each chart's data query; the others are threshold lines
    for title, query in panel_queries({"panels": panels}, VARIABLES):
        first.setdefault(title, query)
    assert list(first) == SENDING_STATISTICS
    return list(first.items())


def simulated_sends(start: float, end: float) -> int:
    """Send datapoints of the demo's history, account-wide, for the minutes in [start, end)."""
    first, last = math.ceil(start / 60) * 60, math.ceil(end / 60) * 60
    ticks = PROFILES[REGION].sends_per_tick
    return sum(
        counts["send"]
        for minute in history_minutes(DEMO_SEED, REGION, ticks, first, last)
        for counts in minute.events.values()
    )


@pytest.mark.timeout(300)
def test_backfilled_history_and_live_data_are_one_line(tmp_path: Path) -> None:
    config = tmp_path / "demo.yaml"
    config.write_text(CONFIG)
    data, history = tmp_path / "data", tmp_path / "history.om"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    done = run_exporter(
        "backfill", "--demo",
        f"--config.file={config}", "--days=14", "--step=5m", f"--output={history}",
        f"--tsdb={data}", "--label", "job=ses-exporter", "--label", "instance=ses-demo",
        env=env, timeout=240,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "2 GetMetricData calls, 8 metrics requested" in done.stderr, done.stderr
    assert list(data.glob("*/meta.json")), "promtool wrote no block"
    ends = re.findall(r"^aws_ses_sends_total\{.*\} \S+ (\d+)$", history.read_text(), re.M)
    backfill_end = int(ends[-1])
    vdm_days = [
        (int(t), float(v))
        for v, t in re.findall(
            r"^aws_ses_vdm_sends_total\{.*\} (\S+) (\d+)$", history.read_text(), re.M
        )
    ]

    launched = time.time()
    exporter = demo_daemon(tmp_path, config_text=CONFIG)
    prometheus = None
    try:
        exporter.wait_ready(timeout=60)
        prom_config = tmp_path / "prometheus.yml"
        prom_config.write_text(
            "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
            "scrape_configs:\n  - job_name: ses-exporter\n"
            f"    static_configs: [{{targets: ['127.0.0.1:{exporter.port}'], "
            "labels: {instance: ses-demo}}]\n"
        )
        prometheus = launch_prometheus(prom_config, data)
        sends = f'aws_ses_sends_total{{region="{REGION}"}}'
        # Live samples follow the backfilled ones (a reset to 0), and the live counter
        # moves once the demo publishes its first live minute, 60 s after it starts.
        moved = f"(resets({sends}[15m]) > 0) and ({sends} > 0)"
        prometheus.wait_for(
            "the live counter to move",
            lambda: prometheus.api("query", query=moved)["result"],
            timeout=150,
        )
        now = time.time()
        at = {"time": f"{now:.3f}"}

        # History and live data are one series (the same labels), the live part restarting.
        series = prometheus.api("query", query=f"count_over_time({sends}[14d])", **at)["result"]
        assert len(series) == 1, series
        assert series[0]["metric"]["job"] == "ses-exporter"
        assert int(series[0]["value"][1]) > 14 * DAY // STEP  # backfilled plus scraped
        resets = prometheus.api("query", query=f"resets({sends}[14d])", **at)["result"]
        assert resets[0]["value"][1] == "1"

        # increase() across the reset: the simulated sends of the 14 days.
        live = float(prometheus.api("query", query=sends, **at)["result"][0]["value"][1])
        increase = prometheus.api("query", query=f"increase({sends}[14d])", **at)["result"]
        measured = float(increase[0]["value"][1])
        history_end = launched // 60 * 60  # the live demo world's history ends there
        expected = simulated_sends(now - 14 * DAY, history_end) + live
        one_step = simulated_sends(now - 14 * DAY, now - 13 * DAY) / (DAY / STEP)
        assert live > 0
        assert backfill_end <= history_end
        assert abs(measured - expected) <= one_step, (measured, expected, one_step)

        # VDM (daily, each whole day counted at its end): the same join, one reset, and
        # the backfilled part is the simulated sends of the whole UTC days it covers.
        vdm_sends = f'aws_ses_vdm_sends_total{{region="{REGION}"}}'
        found = prometheus.api("query", query=f"count_over_time({vdm_sends}[14d])", **at)
        assert len(found["result"]) == 1, found
        resets = prometheus.api("query", query=f"resets({vdm_sends}[14d])", **at)["result"]
        assert resets[0]["value"][1] == "1"
        assert vdm_days[-1][1] == simulated_sends(
            math.ceil(vdm_days[0][0] / DAY) * DAY, vdm_days[-1][0] // DAY * DAY
        )
        live = float(prometheus.api("query", query=vdm_sends, **at)["result"][0]["value"][1])
        increase = prometheus.api("query", query=f"increase({vdm_sends}[14d])", **at)["result"]
        assert float(increase[0]["value"][1]) == pytest.approx(vdm_days[-1][1] + live, rel=1e-4)

        # Every Sending statistics panel has points on at least 13 of the 14 days.
        start_at = now - 14 * DAY
        for title, expr in sending_statistics_queries():
            answer = prometheus.api(
                "query_range", query=expr, start=f"{start_at:.3f}", end=f"{now:.3f}", step="3600"
            )
            days = {
                min(int((float(t) - start_at) // DAY), 13)
                for s in answer["result"]
                for t, _ in s["values"]
            }
            assert len(days) >= 13, (title, sorted(days))
    finally:
        exporter.stop()
        if prometheus is not None:
            prometheus.stop()
