"""Scale benchmark: the real daemon polling N assumed-role accounts x 3 regions.

Usage: ``python benchmarks/scale.py [--accounts 1,100,500] [--duration 360]
[--scrape-every 15] [--pythonpath DIR] [--before DIR]`` (``--pythonpath``: run the daemon
of another checkout; ``--before``: also run the daemon of another checkout, e.g. an export
of the code before a change, against the same seeded world, first, and print both side by
side).

For each number of accounts N:

1. a moto server (``moto_server.py``, which also answers sesv2 GetAccount) is seeded
   (``world.seed_accounts``): N accounts, each reached by STS AssumeRole, each with two
   configuration sets and 18 AWS/SES datapoints in each of us-east-1, eu-west-1 and
   ap-southeast-2;
2. the daemon (``python -m ses_exporter --log.level=warn``, unchanged) is started with
   those N accounts under ``accounts:`` (``role_arn``, ``endpoint_url``, three regions):
   3N targets, every collector on, at its default interval (``INTERVALS``; ``--fast``:
   every 60 s);
3. for ``--duration`` seconds from its spawn, from outside:

   * ``/-/healthy`` and ``/-/ready`` every 0.1 s until each answers 200 (seconds from spawn);
   * RSS, open fds and threads from ``/proc/PID`` every 0.5 s (fds and threads: the most
     seen; RSS: at the end, with the peak from VmHWM);
   * GET /metrics every ``--scrape-every`` seconds over one keep-alive connection, from
     /-/healthy on, as a Prometheus server would (p50/p99 of the first round, before
     /-/ready, and of the steady state after it). Each scrape is also read for
     what the daemon did:
     ``ses_exporter_collector_scheduling_lag_seconds`` (max seen, "n/a" if the daemon has no
     such family), the start of every successful poll (its
     ``last_success_timestamp_seconds`` minus its ``duration_seconds``) and
     ``ses_exporter_collector_success``;

4. the daemon's log is counted for ``level=warn`` lines (APScheduler logs one per skipped
   tick).

Prints one Markdown table, then notes on the issue's targets (met / MISSED). Exits 0: it
is a benchmark; missed targets are printed, not failed.
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import itertools
import os
import platform
import re
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import world
from latency import Timing, gzip_costs, series_count, timing

# The defaults: the load users have (``--fast`` runs every collector every 60 s instead).
INTERVALS = {  # every collector on by default (suppression is off by default)
    "account": 60,
    "send_statistics": 300,
    "cloudwatch": 300,
    "configuration_sets": 900,
    "identities": 300,
    "dedicated_ips": 300,
}
FAST_INTERVALS = dict.fromkeys(INTERVALS, 60)
# Prometheus scrapes every 15 to 60 s; a scrape costs the daemon CPU (its GIL) that polls
# then lack, so the benchmark scrapes as a Prometheus server would.
SCRAPE_EVERY_SECONDS = 15.0
GZIP = {"Accept-Encoding": "gzip"}  # as Prometheus asks; the timing includes compressing
ALLOWED_LAG_RATIO = 0.10  # every poll starts within interval + 10 %
HEALTHY_WITHIN, READY_WITHIN, AT_TARGETS = 5.0, 120.0, 1500
SCRAPE_P99_SECONDS = 0.250  # at AT_TARGETS, while polls run
RSS_PER_TARGET_KIB, RSS_TOTAL_MIB, MAX_FDS = 1024.0, 2048.0, 1024
PROBE_SECONDS, PROC_SECONDS = 0.1, 0.5
MIN_AVAILABLE_KIB = 2 * 1024 * 1024  # stop a size before it leaves others < 2 GiB

LAG = b"ses_exporter_collector_scheduling_lag_seconds"
SKIPPED = b"ses_exporter_polls_skipped_total"
SUCCESS = b"ses_exporter_collector_success"
LAST_SUCCESS = b"ses_exporter_collector_last_success_timestamp_seconds"
DURATION = b"ses_exporter_collector_duration_seconds"
_SAMPLE = re.compile(rb"^(\w+)\{([^}]*)\} (\S+)$")
_LABEL = re.compile(rb'(\w+)="([^"]*)"')
_LOGGER = re.compile(r"\blogger=(\S+)")

Key = tuple[str, str, str]  # account_id, region, collector


@dataclass
class Observed:
    """What the scrapes of one run showed about the daemon's polls."""

    lag_family: bool = False
    worst_lag: dict[str, float] = field(default_factory=dict)  # collector -> seconds
    starts: dict[Key, list[float]] = field(default_factory=dict)  # successful polls' starts
    success: dict[Key, float] = field(default_factory=dict)  # at the last scrape
    skipped: float | None = None
    durations: list[float] = field(default_factory=list)  # of every last poll, sorted
    intervals: dict[str, int] = field(default_factory=lambda: dict(INTERVALS))

    def read(self, body: bytes, steady_after: float | None = 0.0) -> None:
        """Lags count only for polls that started after ``steady_after`` (Unix time of
        /-/ready; None: not ready yet): the steady state, not the first round's queue."""
        by_name: dict[bytes, dict[Key, float]] = {
            LAG: {},
            SUCCESS: {},
            LAST_SUCCESS: {},
            DURATION: {},
        }
        skipped = None
        for line in body.split(b"\n"):
            if not line.startswith(b"ses_exporter_") or (match := _SAMPLE.match(line)) is None:
                continue
            name, value = match[1], float(match[3])
            if name == SKIPPED:
                skipped = (skipped or 0.0) + value
            elif name in by_name:
                labels = {k.decode(): v.decode() for k, v in _LABEL.findall(match[2])}
                key = (labels["account_id"], labels["region"], labels["collector"])
                by_name[name][key] = value
        last, duration = by_name[LAST_SUCCESS], by_name[DURATION]
        self.lag_family = self.lag_family or bool(by_name[LAG])
        self.success = by_name[SUCCESS]
        self.skipped = skipped
        self.durations = sorted(duration.values())
        for key, lag in by_name[LAG].items():
            started = last.get(key, 0.0) - duration.get(key, 0.0)
            if steady_after is not None and started > steady_after:
                self.worst_lag[key[2]] = max(self.worst_lag.get(key[2], 0.0), lag)
        for key, finished in last.items():
            if self.success.get(key) == 1 and key in duration:
                starts = self.starts.setdefault(key, [])
                start = finished - duration[key]
                if not starts or abs(starts[-1] - start) > 0.001:
                    starts.append(start)

    def worst_gap_ratio(self) -> dict[str, float]:
        """Per collector: the longest time between two successive poll starts of one target,
        over the interval (1.0 = on time; a skipped tick shows as about 2)."""
        worst: dict[str, float] = {}
        for (_, _, collector), starts in self.starts.items():
            for before, after in itertools.pairwise(starts):
                ratio = (after - before) / self.intervals[collector]
                worst[collector] = max(worst.get(collector, 0.0), ratio)
        return worst

    def fewest_polls(self, targets: int) -> int:
        """The fewest successful polls seen of any (target, collector)."""
        if len(self.starts) < targets * len(INTERVALS):
            return 0
        return min(len(s) for s in self.starts.values())

    def succeeded(self) -> dict[str, int]:
        counts = Counter(k[2] for k, v in self.success.items() if v == 1)
        return {name: counts[name] for name in INTERVALS}


@dataclass
class Row:
    accounts: int
    targets: int
    seed_seconds: float
    code: str = "after"  # "before" (--before) or this checkout's (or --pythonpath's)
    rss_kib: int = 0
    peak_rss_kib: int = 0
    fds: int = 0
    threads: int = 0
    healthy: float | None = None
    ready: float | None = None
    scrape: Timing | None = None  # after /-/ready: the steady state
    first_round_scrape: Timing | None = None  # from /-/healthy to /-/ready
    series: int = 0
    observed: Observed = field(default_factory=Observed)
    warnings: Counter[str] = field(default_factory=Counter)
    aborted: str | None = None
    body: bytes = b""  # the last scrape, until gzip_costs has read it
    gzip: tuple[dict[str, float], dict[str, int]] | None = None  # latency.gzip_costs


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS, VmHWM (KiB) and Threads from /proc/PID/status, and the open fds."""
    text = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    found = {key: int(fields[key].split()[0]) for key in ("VmRSS", "VmHWM", "Threads")}
    found["fds"] = len(os.listdir(f"/proc/{pid}/fd"))
    return found


def available_kib() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1])
    return 0


def probe(port: int, path: str) -> bool:
    """GET ``path`` on a new connection; True on 200 (False while not listening)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", path)
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


def intervals(args: argparse.Namespace) -> dict[str, int]:
    return FAST_INTERVALS if args.fast else INTERVALS


def measure(accounts: int, args: argparse.Namespace, workdir: Path) -> list[Row]:
    """One row per daemon (``--before``'s first), each against the same seeded world."""
    ids = world.account_ids(accounts)
    rows = []
    with world.MotoServer() as moto:
        started = time.monotonic()
        world.seed_accounts(moto, ids)
        seeded = time.monotonic() - started
        config = workdir / f"accounts-{accounts}.yaml"
        config.write_text(world.accounts_config(moto.url, ids, intervals(args)))
        daemons = [("before", args.before)] if args.before else []
        for code, pythonpath in [*daemons, ("after", args.pythonpath)]:
            row = Row(accounts, accounts * len(world.REGIONS), seeded, code)
            row.observed.intervals = intervals(args)
            spawned = time.monotonic()
            with world.Daemon(config, pythonpath) as daemon:
                try:
                    watch(daemon, row, spawned, args)
                finally:
                    log = Path(daemon.log.name)
            row.warnings = count_warnings(log.read_text(errors="replace"))
            if row.body:  # with the daemon gone: the machine is quiet
                row.gzip, row.body = gzip_costs(row.body, times=5), b""
            rows.append(row)
    return rows


def watch(daemon: world.Daemon, row: Row, spawned: float, args: argparse.Namespace) -> None:
    def since() -> float:
        return time.monotonic() - spawned

    scraper: world.Scraper | None = None
    ready_at: float | None = None
    durations: list[float] = []  # after /-/ready
    first_round: list[float] = []  # before it
    next_proc = next_scrape = 0.0
    spacing = args.scrape_every
    body = b""
    while since() < args.duration:
        if daemon.proc.poll() is not None:
            row.aborted = f"daemon exited ({daemon.proc.returncode}); see {daemon.log.name}"
            break
        if since() >= next_proc:
            next_proc = since() + PROC_SECONDS
            status = proc_status(daemon.proc.pid)
            row.fds, row.threads = max(row.fds, status["fds"]), max(row.threads, status["Threads"])
            if available_kib() < MIN_AVAILABLE_KIB:
                row.aborted = f"stopped at {since():.0f} s: under 2 GiB of memory left"
                break
        if row.healthy is None:
            if probe(daemon.port, "/-/healthy"):
                row.healthy = since()
                next_scrape = row.healthy
                scraper = world.Scraper(daemon.port)
        elif row.ready is None and probe(daemon.port, "/-/ready"):
            row.ready, ready_at = since(), time.time()
        if scraper is not None and since() >= next_scrape:
            next_scrape += spacing
            body, elapsed = scraper.get(GZIP)
            (durations if ready_at is not None else first_round).append(elapsed)
            body = gzip.decompress(body)
            row.observed.read(body, ready_at)
        time.sleep(PROBE_SECONDS)
    if scraper is not None and row.aborted is None:
        body = gzip.decompress(scraper.get(GZIP)[0])  # the state at the end
        row.observed.read(body, ready_at)
        scraper.close()
    if daemon.proc.poll() is None:
        status = proc_status(daemon.proc.pid)
        row.rss_kib, row.peak_rss_kib = status["VmRSS"], status["VmHWM"]
        row.fds, row.threads = max(row.fds, status["fds"]), max(row.threads, status["Threads"])
    row.scrape = timing(durations) if durations else None
    row.first_round_scrape = timing(first_round) if first_round else None
    row.series = series_count(body)
    row.body = body


def first_round_ms(t: Timing | None) -> str:
    if t is None:
        return "—"
    return f"{t.median * 1000:,.0f} / {t.p99 * 1000:,.0f} ({t.count})"


def poll_quantiles(durations: Sequence[float]) -> str:
    if not durations:
        return "n/a"
    p50 = durations[len(durations) // 2]
    p99 = durations[min(len(durations) - 1, int(len(durations) * 0.99))]
    return f"{p50:.2f} / {p99:.2f}"


def count_warnings(log: str) -> Counter[str]:
    """level=warn lines of the daemon's log, by logger."""
    found: Counter[str] = Counter()
    for line in log.splitlines():
        if "level=warn" in line:
            match = _LOGGER.search(line)
            found[match[1] if match else "?"] += 1
    return found


def base_of(rows: Sequence[Row], row: Row) -> Row | None:
    """The 1-account row of the same code, if measured."""
    return next((r for r in rows if r.accounts == 1 and r.code == row.code), None)


def per_target_kib(row: Row, base: Row | None) -> float | None:
    if base is None or row.targets == base.targets or not row.rss_kib:
        return None
    return (row.rss_kib - base.rss_kib) / (row.targets - base.targets)


def fmt(value: float | None, spec: str, missing: str = "n/a") -> str:
    return missing if value is None else format(value, spec)


def table(rows: Sequence[Row], duration: float) -> list[str]:
    lines = [
        "| Accounts | Targets | Code | RSS MiB | RSS/target KiB | Peak RSS MiB | fds | Threads "
        "| s to healthy | s to ready | Worst lag s | Worst gap / interval | Poll p50/p99 s "
        "| Scrape p50 / p99 ms, first round | Scrape p50 ms | Scrape p99 ms | Series "
        "| Success at end | Fewest polls | Warnings |",
        "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:"
        "|---:|---:|",
    ]
    for r in rows:
        base = base_of(rows, r)
        worst_lag = max(r.observed.worst_lag.values(), default=None)
        gap = max(r.observed.worst_gap_ratio().values(), default=None)
        success = "/".join(str(n) for n in r.observed.succeeded().values())
        cells = [
            f"{r.accounts:,}",
            f"{r.targets:,}",
            r.code,
            fmt(r.rss_kib / 1024 if r.rss_kib else None, ",.0f"),
            fmt(per_target_kib(r, base), ",.0f", "—"),
            fmt(r.peak_rss_kib / 1024 if r.peak_rss_kib else None, ",.0f"),
            f"{r.fds:,}",
            f"{r.threads:,}",
            fmt(r.healthy, ".1f", f"> {duration:g}"),
            fmt(r.ready, ".1f", f"> {duration:g}"),
            fmt(worst_lag, ".2f"),
            fmt(gap, ".2f"),
            poll_quantiles(r.observed.durations),
            first_round_ms(r.first_round_scrape),
            fmt(r.scrape.median * 1000 if r.scrape else None, ",.1f"),
            fmt(r.scrape.p99 * 1000 if r.scrape else None, ",.1f"),
            f"{r.series:,}",
            success,
            f"{r.observed.fewest_polls(r.targets)}",
            f"{sum(r.warnings.values()):,}",
        ]
        lines.append(f"| {' | '.join(cells)} |")
    return lines


def verdicts(rows: Sequence[Row], duration: float) -> list[str]:
    """The issue's targets, each met / MISSED / not measured, with the figure behind it."""
    base = rows[0] if rows[0].accounts == 1 else None
    lines = []
    slow = [r for r in rows if r.healthy is None or r.healthy > HEALTHY_WITHIN]
    lines.append(
        f"- /-/healthy within {HEALTHY_WITHIN:g} s of start at every size: "
        f"{met(not slow)} (worst {fmt(max((r.healthy or duration) for r in rows), '.1f')} s)."
    )
    for r in rows:
        kib = per_target_kib(r, base)
        if kib is not None:
            lines.append(
                f"- {r.targets:,} targets: RSS above the 1-account process <= 1 MiB per target: "
                f"{met(kib <= RSS_PER_TARGET_KIB)} ({kib:,.0f} KiB per target)."
            )
    big = [r for r in rows if r.targets >= AT_TARGETS and r.aborted is None]
    if not big:
        lines.append(f"- At {AT_TARGETS:,} targets: not measured (no row with that many).")
        grown = [r for r in rows if per_target_kib(r, base) is not None and r.aborted is None]
        if base is not None and grown:
            r = grown[-1]
            kib = per_target_kib(r, base) or 0.0
            rss = (base.rss_kib + (AT_TARGETS - base.targets) * kib) / 1024
            fds = base.fds + (AT_TARGETS - base.targets) * (r.fds - base.fds) / (
                r.targets - base.targets
            )
            lines.append(
                f"  Straight line through 1 and {r.accounts:,} accounts: {rss:,.0f} MiB "
                f"(target < {RSS_TOTAL_MIB:,.0f}: {met(rss < RSS_TOTAL_MIB)}), {fds:,.0f} fds "
                f"(target <= {MAX_FDS:,}: {met(fds <= MAX_FDS)})."
            )
    for r in big:
        rss = r.rss_kib / 1024
        lines.append(
            f"- {r.targets:,} targets: RSS < {RSS_TOTAL_MIB:,.0f} MiB: {met(rss < RSS_TOTAL_MIB)} "
            f"({rss:,.0f} MiB, peak {r.peak_rss_kib / 1024:,.0f}); open fds <= {MAX_FDS:,}: "
            f"{met(r.fds <= MAX_FDS)} ({r.fds:,}); /-/ready within {READY_WITHIN:g} s: "
            f"{met(r.ready is not None and r.ready <= READY_WITHIN)} "
            f"({fmt(r.ready, '.1f', f'not within {duration:g}')} s)."
        )
        p99 = r.scrape.p99 if r.scrape else None
        lines.append(
            f"- {r.targets:,} targets: scrape p99 <= {SCRAPE_P99_SECONDS * 1000:g} ms while polls "
            f"run (after /-/ready): {met(p99 is not None and p99 <= SCRAPE_P99_SECONDS)} "
            f"({fmt(p99 * 1000 if p99 is not None else None, ',.1f')} ms)."
        )
    for r in rows:
        lines.append(f"- {r.targets:,} targets: {lag_verdict(r)}")
    return lines


def met(ok: bool) -> str:
    return "met" if ok else "MISSED"


def lag_verdict(r: Row) -> str:
    allowed = {name: ALLOWED_LAG_RATIO * seconds for name, seconds in r.observed.intervals.items()}
    lag = r.observed.worst_lag
    if r.observed.lag_family:
        late = {c: v for c, v in lag.items() if v > allowed[c]}
        by = ", ".join(f"{c} {v:.2f}" for c, v in sorted(lag.items()))
        said = f"scheduling lag <= 10 % of the interval: {met(not late)} (worst s: {by})"
    else:
        said = "scheduling lag: n/a (no ses_exporter_collector_scheduling_lag_seconds)"
    gaps = r.observed.worst_gap_ratio()
    late_gaps = {c: v for c, v in gaps.items() if v > 1 + ALLOWED_LAG_RATIO}
    by = ", ".join(f"{c} {v:.2f}" for c, v in sorted(gaps.items())) or "none seen"
    on_time = met(bool(gaps) and not late_gaps)
    return f"{said}; successive poll starts <= 1.1 intervals apart: {on_time} (worst: {by})."


def notes(rows: Sequence[Row], args: argparse.Namespace) -> list[str]:
    every = ", ".join(f"{name} {seconds} s" for name, seconds in intervals(args).items())
    daemon_from = f"after: {args.pythonpath or world.REPO}"
    if args.before:
        daemon_from = f"before: {args.before}, {daemon_from}; each against the same world"
    lines = [
        f"- Daemon ({daemon_from}): every collector on: {every}; every account by its role_arn "
        f"in {', '.join(world.REGIONS)}; ses_requests_per_second: "
        f"{world.SES_REQUESTS_PER_SECOND:g} (real SES allows about 1; here only to be fast); "
        "--log.level=warn.",
        f"- World: per account and region {world.SETS_PER_REGION} configuration sets and "
        f"{len(world.ACCOUNT_METRICS) * (world.SETS_PER_REGION + 1)} AWS/SES metrics; sesv2 "
        "GetAccount answered by moto_server.py. moto runs in a child process on the same "
        "cores as the daemon. moto's (werkzeug's) server closes every connection after one "
        "answer, so fds count only connections in use; AWS keeps them open, and each idle "
        "pooled connection of each client would add one.",
        f"- {args.duration:g} s from spawn per size; GET /metrics every {args.scrape_every:g} s "
        "over one keep-alive connection with Accept-Encoding: gzip, as Prometheus asks, from "
        "/-/healthy on: scrapes of the first round (before "
        "/-/ready, when every target's first polls run at once) apart from the steady state "
        "after it. fds and threads: the "
        "most seen (every 0.5 s); RSS at the end. RSS/target: (RSS - RSS at 1 account) / "
        "(targets - 3).",
        "- Worst lag: max of ses_exporter_collector_scheduling_lag_seconds of the polls that "
        "started after /-/ready (the steady state; the first round is a queue by design, and "
        "/-/ready says when it is done). Poll p50/p99: ses_exporter_collector_duration_seconds "
        "at the end, over every target and collector (the simulated AWS's latency). "
        "Worst gap / interval: the longest time between two successive successful poll starts "
        "(last_success_timestamp - duration) of one target and collector, over its interval "
        "(a job reaches its grid in one or two ticks of half to one interval after its first "
        "poll); "
        "(The code before the scale work used APScheduler's jitter, up to 10 % on its own.)",
        "- Success at end: targets with ses_exporter_collector_success == 1, per collector ("
        f"{'/'.join(INTERVALS)}). Fewest polls: successful polls seen of the least-polled "
        "(target, collector) (0 if some never succeeded). Warnings: level=warn log lines.",
    ]
    for r in rows:
        extra = f"seeded in {r.seed_seconds:.0f} s"
        if r.observed.skipped is not None:
            extra += f"; ses_exporter_polls_skipped_total {r.observed.skipped:,.0f}"
        if r.warnings:
            extra += "; warnings by logger: " + ", ".join(
                f"{name} {n:,}" for name, n in r.warnings.most_common()
            )
        if r.gzip:
            seconds, sizes = r.gzip
            extra += "; gzip of the last scrape (in the benchmark's process, p50): " + ", ".join(
                f"{way} {seconds[way] * 1000:,.0f} ms ({sizes[way] / 1024:,.0f} KiB)"
                for way in seconds
            )
        if r.aborted:
            extra += f"; ABORTED: {r.aborted}"
        lines.append(f"- {r.accounts:,} account(s), {r.code}: {extra}.")
    versions = ", ".join(f"{p} {metadata.version(p)}" for p in ("botocore", "moto", "APScheduler"))
    lines.append(
        f"- Machine: {platform.machine()}, {os.cpu_count()} CPUs, "
        f"{available_kib() / 1024 / 1024:.0f} GiB available, Python "
        f"{platform.python_version()}, {versions}, {platform.system()} {platform.release()}."
    )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", default="1,100,500", help="comma-separated counts")
    parser.add_argument("--duration", type=float, default=360.0, help="seconds per size")
    parser.add_argument(
        "--scrape-every", type=float, default=SCRAPE_EVERY_SECONDS, help="seconds between scrapes"
    )
    parser.add_argument("--pythonpath", type=Path, help="run the daemon from this checkout")
    parser.add_argument(
        "--fast", action="store_true", help="every collector every 60 s (default: the defaults)"
    )
    parser.add_argument("--before", type=Path, help="also run the daemon of this checkout")
    args = parser.parse_args()
    counts = [int(n) for n in args.accounts.split(",")]
    if args.scrape_every <= 0 or args.duration <= 0 or min(counts) < 1:
        parser.error("--scrape-every, --duration and --accounts must be positive")
    for option, path in (("--pythonpath", args.pythonpath), ("--before", args.before)):
        if path is not None and not (path / "ses_exporter").is_dir():
            parser.error(f"{option}: no ses_exporter package in {path}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="ses-exporter-scale-") as tmp:
        for accounts in counts:
            print(f"measuring {accounts:,} account(s) ...", file=sys.stderr, flush=True)
            rows.extend(measure(accounts, args, Path(tmp)))
    said = []
    for code in dict.fromkeys(r.code for r in rows):
        group = [r for r in rows if r.code == code]
        said += [f"Targets, {code}:", *verdicts(group, args.duration)]
    print("\n".join([*table(rows, args.duration), "", *said]))
    print("\n".join(["", *notes(rows, args)]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
