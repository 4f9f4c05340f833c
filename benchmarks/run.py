"""Benchmark of the real ses-exporter daemon at 1, 100 and 1,000 configuration sets.

Usage: ``python benchmarks/run.py [--sets 1,100,1000] [--scrapes 200]``

For each number of sets N, on one target (one account, one region):

1. a moto server (``moto_server.py``) is seeded with N configuration sets and six AWS/SES
   metrics per set plus six account-wide ones (``world.seed``);
2. the daemon (``python -m ses_exporter``, unchanged) polls it, every collector every 30 s;
3. AWS requests of the first poll (which also discovers the CloudWatch metrics) and of
   the second, steady-state poll are read from the daemon's own self-metrics and compared
   with the physical minimum (``polls.minimum``);
4. between the two polls, /metrics is scraped ``--scrapes`` times over one keep-alive
   connection, and compared with ``generate_latest`` on the same series prebuilt
   (``latency.floor``);
5. the daemon's resident memory is read from /proc.

Prints two Markdown tables and notes; exits 1 if any poll made a number of AWS requests
other than the minimum.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import world
from latency import Timing, floor, series_count, timing
from polls import (
    METRICS_REQUESTED,
    OPERATIONS,
    SES_PAGE,
    Counts,
    PollTracker,
    minimum,
)
from polls import self_metrics as read_self_metrics

from ses_exporter.collectors import REGISTRY

WAIT_SECONDS = 2 * world.INTERVAL_SECONDS + 60
TARGET_RATIO, TARGET_RSS_MIB, TARGET_SETS = 2.0, 100.0, 1000
LIST_SETS = ("sesv2", "ListConfigurationSets")
ROW_ORDER = [key for name in OPERATIONS for key in OPERATIONS[name]]
ROW_ORDER.insert(ROW_ORDER.index(("cloudwatch", "GetMetricData")) + 1, METRICS_REQUESTED)


@dataclass(frozen=True)
class Result:
    sets: int
    queries: int
    polls: tuple[Counts, Counts]  # requests of the first poll and of the steady one
    caller_identity: float
    series: int
    body_bytes: int
    scrape: Timing
    floor: Timing
    quiet: bool  # no poll ran while /metrics was timed
    rss_kib: int
    peak_rss_kib: int


def collectors() -> tuple[str, ...]:
    return tuple(name for name in REGISTRY if name in OPERATIONS)


def measure(sets: int, scrapes: int, workdir: Path) -> Result:
    with world.MotoServer() as moto:
        queries = world.seed(moto, sets)
        config = workdir / f"sets-{sets}.yaml"
        config.write_text(world.daemon_config(moto.url))
        with world.Daemon(config) as daemon:
            daemon.wait_listening()
            scraper = world.Scraper(daemon.port)
            tracker = PollTracker(collectors())
            try:
                before = tracker.wait(lambda: scraper.get()[0], 1, WAIT_SECONDS)
                durations = []
                for _ in range(scrapes):
                    body, elapsed = scraper.get()
                    durations.append(elapsed)
                after = read_self_metrics(body)
                final = tracker.wait(lambda: scraper.get()[0], 2, WAIT_SECONDS)
            except (RuntimeError, OSError):
                print(f"daemon log (last lines):\n{daemon.log_tail()}", file=sys.stderr)
                raise
            memory = daemon.memory_kib()
            scraper.close()
    return Result(
        sets=sets,
        queries=queries,
        polls=(tracker.per_poll(0), tracker.per_poll(1)),
        caller_identity=final.requests.get(("sts", "GetCallerIdentity"), 0.0),
        series=series_count(body),
        body_bytes=len(body),
        scrape=timing(durations),
        floor=floor(body, scrapes)[0],
        quiet=before.requests == after.requests and before.last_success == after.last_success,
        rss_kib=memory["VmRSS"],
        peak_rss_kib=memory["VmHWM"],
    )


def requests_table(results: list[Result]) -> tuple[list[str], bool]:
    lines = [
        "| Sets | AWS operation | First poll | Minimum | Steady poll | Minimum |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    ok = True
    for r in results:
        for key in sorted(r.polls[1], key=ROW_ORDER.index):
            cells = []
            for index, counts in enumerate(r.polls):
                least = minimum(r.sets, r.queries, index == 0, SES_PAGE)[key]
                ok = ok and counts[key] == least
                cells += [f"{counts[key]:.0f}", f"{least}"]
            operation = " ".join(key) if key != METRICS_REQUESTED else "CloudWatch metrics billed"
            lines.append(f"| {r.sets:,} | {operation} | {' | '.join(cells)} |")
    return lines, ok


def latency_table(results: list[Result]) -> list[str]:
    lines = [
        "| Sets | Series | /metrics size | Scrape median | Scrape p99 | Floor median "
        "| Ratio | RSS | Peak RSS |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.sets:,} | {r.series:,} | {r.body_bytes / 1024:,.0f} KiB "
            f"| {r.scrape.median * 1000:.1f} ms | {r.scrape.p99 * 1000:.1f} ms "
            f"| {r.floor.median * 1000:.1f} ms | {r.scrape.median / r.floor.median:.2f} "
            f"| {r.rss_kib / 1024:.1f} MiB | {r.peak_rss_kib / 1024:.1f} MiB |"
        )
    return lines


def notes(results: list[Result], scrapes: int) -> list[str]:
    lines = [
        f"- Daemon: {', '.join(collectors())} every {world.INTERVAL_SECONDS} s; account "
        "collector off (moto's server has no sesv2 GetAccount). "
        f"ses_requests_per_second: {world.SES_REQUESTS_PER_SECOND:g}, only to make the "
        "benchmark fast (real SES allows about 1).",
        "- Minimum: every set read once, every discovered (metric, dimensions) queried once, "
        "500 queries per GetMetricData, 500 metrics per ListMetrics page. ListMetrics runs at "
        "the first poll only (the daemon caches the list for an hour).",
        "- ListConfigurationSets: pages of 1,000 (SES's maximum PageSize, which moto honours).",
        f"- Scrape: {scrapes} sequential GET /metrics over one keep-alive connection, "
        "including HTTP over loopback. Floor: prometheus_client.generate_latest on a "
        "registry holding the same families prebuilt. Ratio = scrape median / floor median.",
        f"- sts GetCallerIdentity: {results[-1].caller_identity:.0f} per daemon (the account "
        "id is resolved once, not per poll).",
    ]
    for r in results:
        if not r.quiet:
            lines.append(f"- {r.sets:,} sets: a poll ran while /metrics was being timed.")
    for r in results:
        if r.sets == TARGET_SETS:
            ratio, rss = r.scrape.median / r.floor.median, r.rss_kib / 1024
            met = {True: "met", False: "MISSED"}
            lines.append(
                f"- Targets at {TARGET_SETS:,} sets: ratio <= {TARGET_RATIO:g}: "
                f"{met[ratio <= TARGET_RATIO]} ({ratio:.2f}); RSS < {TARGET_RSS_MIB:g} MiB: "
                f"{met[rss < TARGET_RSS_MIB]} ({rss:.1f} MiB)."
            )
    lines.append(
        f"- Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}, {platform.system()} {platform.release()}."
    )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", default="1,100,1000", help="comma-separated set counts")
    parser.add_argument("--scrapes", type=int, default=200, help="GET /metrics per count")
    args = parser.parse_args()
    if args.scrapes < 1:
        parser.error("--scrapes must be at least 1")
    results = []
    with tempfile.TemporaryDirectory(prefix="ses-exporter-bench-") as tmp:
        for sets in (int(n) for n in args.sets.split(",")):
            print(f"measuring with {sets:,} configuration set(s) ...", file=sys.stderr, flush=True)
            results.append(measure(sets, args.scrapes, Path(tmp)))
    requests, ok = requests_table(results)
    print("\n".join([*requests, "", *latency_table(results), "", *notes(results, args.scrapes)]))
    if not ok:
        print("FAIL: some poll's AWS requests differ from the minimum", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
