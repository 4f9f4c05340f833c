"""Soak: the real daemon for N minutes against moto behind the fault proxy, faults on and off.

Usage: ``python benchmarks/soak.py [--minutes 10] [--warmup 90] [--phase 30] [--samples CSV]``
(or ``benchmarks/soak``). Prints a Markdown table; the first 90 s are warm-up.

* the world: moto (child process) with two regions, two configuration sets each, one
  email and its CloudWatch datapoints per region every second;
* the daemon: one account, both regions, every collector every second
  (``ses_requests_per_second: 50``), ``--log.level=info``;
* faults: phases of ``--phase`` seconds, every other one with a fault, cycling through
  ``FAULTS`` (throttling, 5xx, resets, a hang, AccessDenied, ...);
* once a second: GET /metrics (latency, status, counters never decreasing); every five
  seconds: RSS, threads and open file descriptors of the daemon from /proc.

Memory: RSS right after warm-up and at the end, and the least-squares slope (MB/min)
over everything after warm-up and over the second half of the run; a leak shows as a
steady positive slope, while allocator noise averages out.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.faultproxy import (  # noqa: E402 - after the path set-up
    DaemonProcess,
    Fault,
    FaultProxy,
    MotoServer,
    World,
    parse_scrape,
)

REGIONS = ("us-east-1", "eu-west-1")
# (operation, fault, region): one per fault phase, in turn.
FAULTS: tuple[tuple[str, Fault, str], ...] = (
    ("GetAccount", Fault.THROTTLING, "us-east-1"),
    ("GetMetricData", Fault.HTTP_500, "eu-west-1"),
    ("ListConfigurationSets", Fault.RESET, "us-east-1"),
    ("GetSendStatistics", Fault.HANG, "eu-west-1"),
    ("GetAccount", Fault.ACCESS_DENIED, "eu-west-1"),
    ("GetConfigurationSet", Fault.TRUNCATED, "us-east-1"),
    ("GetMetricData", Fault.EXPIRED_TOKEN, "us-east-1"),
    ("GetSendStatistics", Fault.TOO_MANY_REQUESTS, "us-east-1"),
)
CONFIG = """\
accounts:
  - name: soak
    regions: [{regions}]
    endpoint_url: {endpoint}
    ses_requests_per_second: 50
collectors:
  account: {{interval: 1s}}
  send_statistics: {{interval: 1s}}
  cloudwatch: {{interval: 1s, period: 60s, lookback: 2m}}  # the window fills in warm-up
  configuration_sets: {{interval: 1s}}
"""


@dataclass
class Figures:
    scrape_seconds: list[float] = field(default_factory=list)
    scrape_errors: int = 0
    slow_scrapes: int = 0  # over one second
    samples: list[tuple[float, dict[str, int]]] = field(default_factory=list)  # (t, proc stats)
    phases: list[str] = field(default_factory=list)
    failed_polls: int = 0
    aws_outcomes: dict[str, float] = field(default_factory=dict)


def slope_mb_per_minute(points: Sequence[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, KiB) points, in MB per minute."""
    if len(points) < 2:
        return float("nan")
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    var = sum((x - mean_x) ** 2 for x in xs)
    cov = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True))
    return (cov / var) * 60 / 1024 if var else float("nan")


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run(
    minutes: float, warmup: float, phase: float, workdir: Path
) -> tuple[Figures, DaemonProcess]:
    figures = Figures()
    with MotoServer() as moto:
        world = World(moto, REGIONS).seed()
        world.start_traffic(every=1.0)
        with FaultProxy(moto.url) as proxy:
            config = CONFIG.format(regions=", ".join(REGIONS), endpoint=proxy.url)
            daemon = DaemonProcess(config, workdir, log_level="info")
            try:
                daemon.wait_ready()
                _drive(daemon, proxy, figures, minutes * 60, phase)
                final = daemon.scrape()
                for key, value in final.samples.items():
                    if key[0] == "ses_exporter_aws_requests_total":
                        outcome = dict(key[1])["outcome"]
                        figures.aws_outcomes[outcome] = figures.aws_outcomes.get(outcome, 0) + value
            finally:
                proxy.clear()
                daemon.stop()
                world.stop()
    figures.failed_polls = daemon.output().count('msg="poll failed"')
    return figures, daemon


def _drive(
    daemon: DaemonProcess, proxy: FaultProxy, figures: Figures, seconds: float, phase: float
) -> None:
    started = time.monotonic()
    next_scrape = next_sample = started
    current = -1
    while (elapsed := time.monotonic() - started) < seconds:
        index = int(elapsed // phase)
        if index != current:
            current = index
            proxy.clear()
            if index % 2:
                operation, fault, region = FAULTS[(index // 2) % len(FAULTS)]
                proxy.fault(operation, fault, region=region)
                figures.phases.append(f"{fault.value} on {operation} in {region}")
        now = time.monotonic()
        if now >= next_sample:
            figures.samples.append((now - started, daemon.proc_stats()))
            next_sample += 5.0
        if now >= next_scrape:
            _scrape(daemon, figures)
            next_scrape += 1.0
        time.sleep(max(0.0, min(next_scrape, next_sample) - time.monotonic()))
    assert daemon.proc.poll() is None, "the daemon died"


def _scrape(daemon: DaemonProcess, figures: Figures) -> None:
    try:
        response = daemon.request("/metrics", timeout=5.0)
    except OSError:
        figures.scrape_errors += 1
        return
    figures.scrape_seconds.append(response.seconds)
    if response.status != 200:
        figures.scrape_errors += 1
        return
    if response.seconds > 1.0:
        figures.slow_scrapes += 1
    daemon.watch.check(parse_scrape(response.status, response.seconds, response.body))


def report(figures: Figures, daemon: DaemonProcess, minutes: float, warmup: float) -> str:
    after = [(t, s) for t, s in figures.samples if t >= warmup]
    if not after:
        raise SystemExit("the run is shorter than the warm-up: nothing to report")
    half = figures.samples[-1][0] / 2
    rss = [(t, float(s["rss_kib"])) for t, s in after]
    second_half = [(t, float(s["rss_kib"])) for t, s in figures.samples if t >= half]
    first, last = after[0][1], after[-1][1]
    lat = [x * 1000 for x in figures.scrape_seconds]
    outcomes = ", ".join(
        f"{k} {v:g}" for k, v in sorted(figures.aws_outcomes.items(), key=lambda kv: -kv[1])
    )
    rows = [
        ("duration", f"{minutes:g} min (warm-up {warmup:g} s), {len(figures.phases)} fault phases"),
        (
            "RSS after warm-up → end",
            f"{first['rss_kib'] / 1024:.1f} MB → {last['rss_kib'] / 1024:.1f} MB",
        ),
        (
            "RSS min / max after warm-up",
            f"{min(r for _, r in rss) / 1024:.1f} / {max(r for _, r in rss) / 1024:.1f} MB",
        ),
        ("RSS slope after warm-up", f"{slope_mb_per_minute(rss):+.3f} MB/min"),
        ("RSS slope, second half", f"{slope_mb_per_minute(second_half):+.3f} MB/min"),
        (
            "threads after warm-up → end (max)",
            f"{first['threads']} → {last['threads']} ({max(s['threads'] for _, s in after)})",
        ),
        (
            "open fds after warm-up → end (max)",
            f"{first['fds']} → {last['fds']} ({max(s['fds'] for _, s in after)})",
        ),
        (
            "scrape latency p50 / p90 / p99 / max",
            f"{percentile(lat, 0.5):.1f} / {percentile(lat, 0.9):.1f} / "
            f"{percentile(lat, 0.99):.1f} / {max(lat):.1f} ms ({len(lat)} scrapes)",
        ),
        ("scrape errors / over 1 s", f"{figures.scrape_errors} / {figures.slow_scrapes}"),
        ("counter decreases", str(len(daemon.watch.decreases))),
        ("failed polls (log)", str(figures.failed_polls)),
        ("AWS calls by outcome", outcomes),
    ]
    lines = ["| figure | value |", "|---|---|"]
    lines += [f"| {name} | {value} |" for name, value in rows]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=90.0, help="seconds left out")
    parser.add_argument("--phase", type=float, default=30.0, help="seconds per fault phase")
    parser.add_argument("--samples", type=Path, help="also write the /proc samples to this CSV")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="ses-exporter-soak-") as tmp:
        figures, daemon = run(args.minutes, args.warmup, args.phase, Path(tmp))
        print(report(figures, daemon, args.minutes, args.warmup))
        if args.samples:
            rows = [f"{t:.1f},{s['rss_kib']},{s['threads']},{s['fds']}" for t, s in figures.samples]
            args.samples.write_text("seconds,rss_kib,threads,fds\n" + "\n".join(rows) + "\n")
        print()
        print("Fault phases: " + "; ".join(figures.phases))
        if daemon.watch.decreases:
            print("Counter decreases: " + "; ".join(daemon.watch.decreases[:10]))
    return 1 if figures.scrape_errors or daemon.watch.decreases else 0


if __name__ == "__main__":
    sys.exit(main())
