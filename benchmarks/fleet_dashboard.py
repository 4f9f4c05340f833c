"""Fleet overview benchmark: every query of the fleet dashboard against 1,500 targets'
history in a real Prometheus.

Usage: ``python benchmarks/fleet_dashboard.py [--targets 1500] [--sets 2] [--days 7]
[--step 60] [--ranges 1d,7d] [--runs 3] [--keep DIR]``

1. Writes the history of ``--targets`` simulated targets (accounts x 3 regions, three
   exporter processes sharing them, ``--sets`` configuration sets per target) as
   OpenMetrics, with the labels Prometheus adds (``job``, ``instance``):

   * the counters the fleet view reads over its time range
     (``aws_ses_configuration_set_bounces_total``, ``..._complaints_total``), a sample
     every ``--step`` seconds (a scrape interval) for ``--days`` days;
   * every other family the fleet view reads (enforcement status, sending, quota, rates,
     thresholds, collector success and last success, account names, ``up``), a sample
     every ``--step`` seconds for the last two hours: those panels are instant queries that
     look back five minutes, so older samples of these families are never read.

2. ``promtool tsdb create-blocks-from openmetrics`` turns it into TSDB blocks, and Debian's
   ``prometheus`` (retention above the history) serves them.

3. Runs every panel query of ``deploy/grafana/dashboards/ses-fleet-overview.json`` (the
   variables at their defaults, "All", as the dashboard opens) as Grafana's instant query
   at the end of the history, for each ``--ranges`` value of ``$__range``, ``--runs``
   times each, then all of them at once (as Grafana loads the dashboard), and prints one
   Markdown table: per query the slowest run, and the slowest whole dashboard, against
   Grafana's default data source timeout (30 s).

Not a test: it runs for minutes and needs the machine to itself. Exits 0.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TextIO

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import free_port  # noqa: E402
from tests.dashboards import ALL, iter_panels, load_dashboards, panel_queries  # noqa: E402

REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-2")
EXPORTERS = 3
JOB = "ses-exporter"
GRAFANA_TIMEOUT = 30.0
COLLECTORS = ("account", "send_statistics", "cloudwatch", "configuration_sets")
RECENT = 2 * 3600  # seconds of history for the instant-query families


def targets(count: int) -> list[tuple[str, str, str]]:
    """(account_id, region, instance) of each target; accounts x 3 regions."""
    out = []
    for n in range(count):
        account = str(300_000_000_000 + n // len(REGIONS))
        out.append((account, REGIONS[n % len(REGIONS)], f"exporter-{n % EXPORTERS}:10049"))
    return out


def labels(**pairs: str) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in pairs.items()) + "}"


def write_history(out: TextIO, n_targets: int, sets: int, days: int, step: int, end: int) -> int:
    """The OpenMetrics history; returns the number of samples written."""
    rng = random.Random(2026)
    fleet = targets(n_targets)
    written = 0

    def family(name: str, kind: str, series: list[tuple[str, object]], start: int) -> None:
        """series: (label text, value or a function of the step number)."""
        nonlocal written
        metric = name.removesuffix("_total") if kind == "counter" else name
        suffix = "_total" if kind == "counter" else ""
        out.write(f"# TYPE {metric} {kind}\n")
        for number, t in enumerate(range(start, end + 1, step)):
            out.write(
                "".join(
                    f"{metric}{suffix}{text} {value(number) if callable(value) else value} {t}\n"
                    for text, value in series
                )
            )
            written += len(series)

    long_start, recent_start = end - days * 86400, end - RECENT
    per_set = [
        (account, region, instance, f"set-{s}")
        for account, region, instance in fleet
        for s in range(sets)
    ]
    for name, per_step in (("bounces", 3), ("complaints", 1)):
        series = []
        for account, region, instance, cs in per_set:
            rate = rng.randint(0, per_step)
            text = labels(
                account_id=account, region=region, configuration_set=cs, job=JOB, instance=instance
            )
            series.append((text, lambda k, r=rate: k * r))
        family(f"aws_ses_configuration_set_{name}_total", "counter", series, long_start)

    def gauge(name: str, rows: list[tuple[dict[str, str], float]]) -> None:
        family(name, "gauge", [(labels(**lbl), v) for lbl, v in rows], recent_start)

    def target_labels(account: str, region: str, instance: str) -> dict[str, str]:
        return {"account_id": account, "region": region, "job": JOB, "instance": instance}

    status_rows = []
    for account, region, instance in fleet:
        status = rng.choices(["HEALTHY", "PROBATION", "SHUTDOWN"], [0.98, 0.015, 0.005])[0]
        for word in ("HEALTHY", "PROBATION", "SHUTDOWN"):
            row = target_labels(account, region, instance) | {"status": word}
            status_rows.append((row, 1 if word == status else 0))
    gauge("aws_ses_account_enforcement_status", status_rows)
    base = [target_labels(*t) for t in fleet]
    gauge("aws_ses_account_sending_enabled", [(lbl, int(rng.random() > 0.01)) for lbl in base])
    gauge("aws_ses_sending_quota_used_ratio", [(lbl, round(rng.random(), 3)) for lbl in base])
    gauge("aws_ses_reputation_bounce_ratio", [(lbl, round(rng.random() * 0.12, 4)) for lbl in base])
    gauge(
        "aws_ses_reputation_complaint_ratio",
        [(lbl, round(rng.random() * 0.006, 5)) for lbl in base],
    )
    for name in ("bounce", "complaint"):
        gauge(
            f"aws_ses_configuration_set_reputation_{name}_ratio",
            [
                (target_labels(a, r, i) | {"configuration_set": cs}, round(rng.random() / 10, 4))
                for a, r, i, cs in per_set
            ],
        )
    per_collector = [lbl | {"collector": c} for lbl in base for c in COLLECTORS]
    gauge(
        "ses_exporter_collector_success",
        [(lbl, int(rng.random() > 0.005)) for lbl in per_collector],
    )
    gauge(
        "ses_exporter_collector_last_success_timestamp_seconds",
        [(lbl, end - rng.randint(0, 900)) for lbl in per_collector],
    )
    instances = sorted({i for _, _, i in fleet})
    names = {}
    for account, _, instance in fleet:
        names[(account, instance)] = {
            "account_id": account,
            "account_name": f"team-{account[-4:]}",
            "job": JOB,
            "instance": instance,
        }
    gauge("ses_exporter_account_info", [(lbl, 1) for lbl in names.values()])
    thresholds = []
    for instance in instances:
        for rate, review, risk in (("bounce", 0.05, 0.10), ("complaint", 0.001, 0.005)):
            for status, value in (("under_review", review), ("at_risk", risk)):
                row = {"rate": rate, "status": status, "job": JOB, "instance": instance}
                thresholds.append((row, value))
    gauge("ses_exporter_reputation_threshold_ratio", thresholds)
    scrape = [{"job": JOB, "instance": i} for i in instances]
    gauge("ses_exporter_build_info", [(lbl, 1) for lbl in scrape])
    gauge("up", [(lbl, 1) for lbl in scrape])
    out.write("# EOF\n")
    return written


class Prometheus:
    def __init__(self, data: Path, tmp: Path):
        self.port = free_port()
        config = tmp / "prometheus.yml"
        config.write_text("global: {scrape_interval: 1m}\nscrape_configs: []\n")
        self.proc = subprocess.Popen(
            [
                "prometheus",
                f"--config.file={config}",
                f"--storage.tsdb.path={data}",
                "--storage.tsdb.retention.time=400d",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=warn",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def query(self, expr: str, at: int) -> tuple[float, int]:
        """(seconds, series) of one instant query; fails on an error."""
        params = urllib.parse.urlencode({"query": expr, "time": str(at)})
        url = f"http://127.0.0.1:{self.port}/api/v1/query?{params}"
        began = time.perf_counter()
        with urllib.request.urlopen(url, timeout=300) as resp:
            answer = json.load(resp)
        took = time.perf_counter() - began
        assert answer["status"] == "success", answer
        return took, len(answer["data"]["result"])

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            try:
                url = f"http://127.0.0.1:{self.port}/-/ready"
                with urllib.request.urlopen(url, timeout=5) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                pass
            time.sleep(1)
        raise RuntimeError("prometheus never became ready")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=60)


def fleet_queries(time_range: str) -> list[tuple[str, str]]:
    board = load_dashboards()["ses-fleet-overview.json"]
    everything = {"account_id": ALL, "region": ALL, "job": ALL, "cluster": ALL}
    out = []
    for panel in iter_panels(board):
        found = panel_queries({"panels": [panel]}, everything | {"__range": time_range})
        renamed = {}
        for step in panel.get("transformations", []):
            renamed |= step["options"].get("renameByName", {})
        for (title, expr), target in zip(found, panel.get("targets", []), strict=True):
            column = renamed.get(f"Value #{target['refId']}")
            out.append((f"{title}: {column}" if len(found) > 1 else title, expr))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=1500)
    parser.add_argument("--sets", type=int, default=2, help="configuration sets per target")
    parser.add_argument("--days", type=int, default=7, help="days of counter history")
    parser.add_argument("--step", type=int, default=60, help="seconds between samples")
    parser.add_argument("--ranges", default="1d,7d", help="values of $__range")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="keep the TSDB in this directory")
    args = parser.parse_args()
    for tool in ("promtool", "prometheus"):
        if shutil.which(tool) is None:
            print(f"{tool} is not installed (Debian: prometheus)", file=sys.stderr)
            return 0

    with tempfile.TemporaryDirectory(prefix="ses-fleet-bench-") as tmp_name:
        tmp = Path(tmp_name)
        data = args.keep or tmp / "data"
        end = int(time.time()) // 60 * 60
        began = time.monotonic()
        history = tmp / "history.om"
        with history.open("w") as out:
            samples = write_history(out, args.targets, args.sets, args.days, args.step, end)
        wrote = time.monotonic() - began
        print(
            f"history: {samples:,} samples, {history.stat().st_size / 2**30:.1f} GiB, "
            f"{wrote:.0f} s",
            file=sys.stderr,
        )
        began = time.monotonic()
        subprocess.run(
            [
                "promtool", "tsdb", "create-blocks-from", "openmetrics",
                f"--max-block-duration={24 * (args.days + 1)}h", str(history), str(data),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        history.unlink()
        print(f"blocks: {time.monotonic() - began:.0f} s", file=sys.stderr)

        prometheus = Prometheus(data, tmp)
        try:
            prometheus.wait_ready()
            rows = []
            totals = {}
            for time_range in args.ranges.split(","):
                queries = fleet_queries(time_range)
                for title, expr in queries:
                    runs = [prometheus.query(expr, end) for _ in range(args.runs)]
                    took = [t for t, _ in runs]
                    rows.append((time_range, title, runs[0][1], statistics.median(took), max(took)))
                walls = []
                for _ in range(args.runs):
                    began = time.perf_counter()
                    with ThreadPoolExecutor(max_workers=len(queries)) as pool:
                        list(pool.map(lambda q: prometheus.query(q[1], end), queries))
                    walls.append(time.perf_counter() - began)
                totals[time_range] = (len(queries), max(walls))
        finally:
            prometheus.stop()

    print(
        f"Fleet overview, {args.targets:,} targets, {args.sets} sets per target, "
        f"{args.days} d of counters at {args.step} s, {samples:,} samples; "
        f"instant queries at the end of the history, {args.runs} runs each.\n"
    )
    print("| $__range | panel | series | median | slowest |")
    print("|---|---|---:|---:|---:|")
    for time_range, title, series, median, slowest in rows:
        print(f"| {time_range} | {title} | {series:,} | {median:.3f} s | {slowest:.3f} s |")
    print()
    for time_range, (count, wall) in totals.items():
        verdict = "within" if wall < GRAFANA_TIMEOUT else "OVER"
        print(
            f"- $__range {time_range}: all {count} queries at once (the dashboard loading): "
            f"{wall:.2f} s, {verdict} Grafana's default {GRAFANA_TIMEOUT:.0f} s timeout."
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
