"""Benchmark of the real ses-exporter daemon at 1, 100 and 1,000 configuration sets (and
as many identities).

Usage: ``python benchmarks/run.py [--sets 1,100,1000] [--scrapes 200] [--before DIR]
[--vdm-isps 50] [--vdm-sets 100]`` (``--before``: also run the daemon of another checkout,
e.g. an export of the code before a change, against the same world, and print both side
by side; ``--vdm-isps 0``: leave out the VDM phase; ``--sets ""``: only the VDM phase).

For each number of sets N, on one target (one account, one region):

1. a moto server (``moto_server.py``) is seeded with N configuration sets and six AWS/SES
   metrics per set plus six account-wide ones, and N domain identities (``world.seed``);
2. the daemon (``python -m ses_exporter``, unchanged; first the ``--before`` one if
   given, then this checkout's) polls it, every collector every 30 s;
3. AWS requests of the first poll (which also discovers the CloudWatch metrics) and of
   the second, steady-state poll are read from the daemon's own self-metrics and compared
   with the physical minimum (``polls.minimum``);
4. after the first poll, /metrics is scraped back to back over one keep-alive connection:
   ``--scrapes`` times with ``Accept-Encoding: gzip``, then plain, for up to
   ``--busy-seconds`` or until ``--scrapes`` scrapes overlapped a CloudWatch poll, each
   followed by a scrape of the floor: the same bytes served from memory by a stdlib HTTP
   server in a child process (``latency.StaticServer``) over its own keep-alive
   connection, so the floor pays for the same CPU contention. Every scrape is sorted
   afterwards, by the poll windows the daemon's self-metrics report
   (``latency.poll_windows``), into *quiet* (no poll of any collector ran) and *during a
   CloudWatch poll* (one of all N sets ran);
5. the gzip ways, in this process, on the last body (``latency.gzip_costs``);
6. the daemon's resident memory is read from /proc; the rendered cache's size is that of
   the scrape's SES families rendered as ``exposition.render`` does (one result).

Then the VDM phase, for each number of sets M of ``--vdm-sets``: a moto server that also
answers sesv2 BatchGetMetricData from daily counts of ``--vdm-isps`` mailbox providers and
the M sets (``world.seed_vdm``), and says VDM is enabled in GetAccount; a daemon running
only the ``vdm`` collector (``world.vdm_config``: the providers listed,
``by_configuration_set``, 16 calls a second, AWS's limit) until its second poll ends. Only
vdm runs there because the configuration_sets collector lists the sets with the same
call, and requests are told apart by operation. A poll of 50 providers x 100 sets asks
10 x (1 + 50 + 50 x 100) = 50,510 queries: at least 5,051 calls, 316 s at 16 a second,
so the phase takes about 11 minutes.

Prints three Markdown tables and notes; exits 1 if any poll made a number of AWS requests
other than the minimum.
"""

from __future__ import annotations

import argparse
import gzip
import os
import platform
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import world
from latency import (
    StaticServer,
    Timing,
    gzip_costs,
    poll_windows,
    self_tail,
    series_count,
    timing,
)
from polls import (
    METRICS_REQUESTED,
    OPERATIONS,
    SES_PAGE,
    Counts,
    PollTracker,
    minimum,
    vdm_minimum,
    vdm_queries,
)
from polls import self_metrics as read_self_metrics
from prometheus_client.parser import text_string_to_metric_families

from ses_exporter.collectors import REGISTRY
from ses_exporter.exposition import render

WAIT_SECONDS = 2 * world.INTERVAL_SECONDS + 240  # 1,000 sets and identities read per poll on moto
BUSY_SECONDS = 3 * world.INTERVAL_SECONDS
TARGET_SETS, TARGET_P50, TARGET_P99, TARGET_CACHE_RATIO = 1000, 0.010, 0.050, 2.0
REPUTATION_PERIOD = 300  # collectors.cloudwatch.period, the default: world.daemon_config
VDM_ISPS, VDM_SETS = 50, "100"
# A scrape of 50,000 VDM series is 7 MB: every 0.5 s, and every 0.05 s in a poll's last
# 2 seconds at the pace, so that the next poll (its tick 0-30 s after the last poll's
# end) rarely starts before the scrape that shows the end ("measure_vdm").
VDM_SCRAPE_EVERY, VDM_SCRAPE_NEAR_END, VDM_NEAR_END_SECONDS = 0.5, 0.05, 2.0
GET_ACCOUNT, BATCH_GET_METRIC_DATA = ("sesv2", "GetAccount"), ("sesv2", "BatchGetMetricData")
GZIP = {"Accept-Encoding": "gzip"}
LIST_SETS = ("sesv2", "ListConfigurationSets")
ROW_ORDER = list(dict.fromkeys(key for name in OPERATIONS for key in OPERATIONS[name]))
ROW_ORDER.insert(ROW_ORDER.index(("cloudwatch", "GetMetricData")) + 1, METRICS_REQUESTED)


@dataclass(frozen=True)
class Run:
    """One daemon against one world."""

    code: str  # "before" or "after" (this checkout)
    polls: tuple[Counts, Counts]  # requests of the first poll and of the steady one
    # When the first CloudWatch poll started: the steady poll reads the newest reputation
    # bucket again if that bucket was still open then (``polls.minimum``).
    first_cloudwatch_poll: float
    caller_identity: float
    series: int
    body_bytes: int
    gzip_bytes: int
    quiet: Timing  # no poll of any collector overlapped
    busy: Timing  # overlapped a CloudWatch poll
    floor_quiet: Timing  # the same bytes from memory, interleaved with the above
    floor_busy: Timing
    gzip: Timing  # Accept-Encoding: gzip, quiet
    cloudwatch_poll: float  # seconds, the longest CloudWatch poll seen
    rss_kib: int
    peak_rss_kib: int


@dataclass(frozen=True)
class Result:
    sets: int
    queries: int
    published: float  # when the seeded datapoints are stamped (Unix time)
    runs: list[Run]
    cache_bytes: int  # the SES families rendered (both formats, shared sample lines)
    gzip_seconds: dict[str, float]  # way -> median seconds
    gzip_sizes: dict[str, int]


@dataclass(frozen=True)
class VdmResult:
    """The vdm collector alone against ``isps`` providers and ``sets`` configuration sets."""

    isps: int
    sets: int
    polls: tuple[Counts, Counts]  # requests of the first poll and of the steady one
    seconds: tuple[float, float]  # how long each of them ran
    series: int  # aws_ses_vdm_* only
    body_bytes: int


@dataclass
class Scrapes:
    """Timed scrapes, and every poll window the daemon reported, to sort them by."""

    plain: list[tuple[float, float, float]] = field(default_factory=list)  # start, end, s
    compressed: list[tuple[float, float, float]] = field(default_factory=list)
    floor: list[tuple[float, float, float]] = field(default_factory=list)
    windows: dict[str, set[tuple[float, float]]] = field(default_factory=dict)

    def note(self, body: bytes) -> None:
        for collector, window in poll_windows(body).items():
            self.windows.setdefault(collector, set()).add(window)

    def overlapping(
        self, collector: str | None, which: list[tuple[float, float, float]]
    ) -> list[float]:
        """Durations of the scrapes that overlapped a poll of ``collector`` (None: of none)."""
        found = []
        for start, end, seconds in which:
            hit = {
                c
                for c, windows in self.windows.items()
                if any(a < end and start < b for a, b in windows)
            }
            if (collector is None and not hit) or (collector is not None and collector in hit):
                found.append(seconds)
        return found

    def settled_after(self, when: float) -> bool:
        """Every collector finished a poll after ``when``: no timed scrape can overlap a
        poll whose window is still unknown."""
        return all(max(b for _, b in w) > when for w in self.windows.values())


def collectors() -> tuple[str, ...]:
    """The collectors ``world.daemon_config`` runs (vdm has a phase of its own)."""
    return tuple(name for name in REGISTRY if name in OPERATIONS and name != "vdm")


def measure(sets: int, args: argparse.Namespace, workdir: Path) -> Result:
    runs = []
    with world.MotoServer() as moto:
        published = time.time() - world.PUBLISHED_AGO
        queries = world.seed(moto, sets)
        config = workdir / f"sets-{sets}.yaml"
        config.write_text(world.daemon_config(moto.url))
        daemons = [("before", args.before)] if args.before else []
        for code, pythonpath in [*daemons, ("after", None)]:
            print(f"  {code} ...", file=sys.stderr, flush=True)
            run, body = measure_daemon(code, config, pythonpath, args, workdir)
            runs.append(run)
    seconds, sizes = gzip_costs(body)
    return Result(sets, queries, published, runs, cache_bytes(body), seconds, sizes)


def measure_daemon(
    code: str, config: Path, pythonpath: Path | None, args: argparse.Namespace, workdir: Path
) -> tuple[Run, bytes]:
    scrapes = Scrapes()
    with world.Daemon(config, pythonpath) as daemon:
        daemon.wait_listening()
        scraper = world.Scraper(daemon.port)
        tracker = PollTracker(collectors())

        def observe(body: bytes) -> bytes:
            scrapes.note(body)
            tracker.observe(read_self_metrics(self_tail(body)))
            return body

        def timed(
            into: list[tuple[float, float, float]],
            headers: dict[str, str] | None = None,
            scraper: world.Scraper = scraper,
        ) -> bytes:
            wall = time.time()
            body, seconds = scraper.get(headers)
            into.append((wall, wall + seconds, seconds))
            return body

        try:
            tracker.wait(lambda: observe(scraper.get()[0]), 1, WAIT_SECONDS)
            for _ in range(args.scrapes):
                compressed = timed(scrapes.compressed, GZIP)
            body = observe(scraper.get()[0])
            body_file = workdir / f"body-{code}.prom"
            body_file.write_bytes(body)
            with StaticServer(body_file) as server:
                floor = world.Scraper(server.port)
                busy_until = time.monotonic() + args.busy_seconds
                while time.monotonic() < busy_until:
                    body = observe(timed(scrapes.plain))
                    timed(scrapes.floor, scraper=floor)
                    busy = scrapes.overlapping("cloudwatch", scrapes.plain)
                    quiet = scrapes.overlapping(None, scrapes.plain)
                    if min(len(busy), len(quiet)) >= args.scrapes:
                        break
                floor.close()
            last = max(end for _, end, _ in [*scrapes.plain, *scrapes.compressed])
            deadline = time.monotonic() + WAIT_SECONDS
            while tracker.polls_done() < 2 or not scrapes.settled_after(last):
                if time.monotonic() > deadline:
                    raise RuntimeError("the daemon's polls did not settle")
                observe(scraper.get()[0])
                time.sleep(0.2)
        except (RuntimeError, OSError):
            print(f"daemon log (last lines):\n{daemon.log_tail()}", file=sys.stderr)
            raise
        memory = daemon.memory_kib()
        scraper.close()
    final = read_self_metrics(self_tail(body))
    cloudwatch = scrapes.windows.get("cloudwatch", set())
    run = Run(
        code=code,
        polls=(tracker.per_poll(0), tracker.per_poll(1)),
        first_cloudwatch_poll=min(start for start, _ in cloudwatch),
        caller_identity=final.requests.get(("sts", "GetCallerIdentity"), 0.0),
        series=series_count(body),
        body_bytes=len(body),
        gzip_bytes=len(compressed),
        quiet=timing(scrapes.overlapping(None, scrapes.plain)),
        busy=timing(scrapes.overlapping("cloudwatch", scrapes.plain)),
        floor_quiet=timing(scrapes.overlapping(None, scrapes.floor)),
        floor_busy=timing(scrapes.overlapping("cloudwatch", scrapes.floor)),
        gzip=timing(scrapes.overlapping(None, scrapes.compressed)),
        cloudwatch_poll=max((b - a for a, b in cloudwatch), default=0.0),
        rss_kib=memory["VmRSS"],
        peak_rss_kib=memory["VmHWM"],
    )
    if gzip.decompress(compressed).count(b"\n") < series_count(body):
        raise RuntimeError("the gzip-compressed scrape is not the scrape")
    return run, body


def measure_vdm(isps: int, sets: int, workdir: Path) -> VdmResult:
    """The first and the steady poll of the vdm collector, alone in the daemon.

    A poll's requests are those counted up to the first scrape that shows it ended; if the
    next poll had begun by then, its GetAccount (its first call) is counted too, and the
    run fails rather than print a wrong figure (rare: see ``VDM_SCRAPE_NEAR_END``)."""
    calls = vdm_minimum(isps, sets, SES_PAGE)[BATCH_GET_METRIC_DATA]
    poll_seconds = calls / world.VDM_REQUESTS_PER_SECOND
    timeout = 2 * poll_seconds + 2 * world.INTERVAL_SECONDS + 240  # on a loaded machine
    with world.MotoServer(vdm_isps=isps, vdm_sets=sets) as moto:
        world.create_sets(moto, sets)
        config = workdir / f"vdm-{isps}-{sets}.yaml"
        config.write_text(world.vdm_config(moto.url, isps))
        print(f"  vdm: 2 polls of at least {poll_seconds:.0f} s ...", file=sys.stderr, flush=True)
        with world.Daemon(config) as daemon:
            daemon.wait_listening()
            scraper = world.Scraper(daemon.port)
            tracker = PollTracker(("vdm",))
            windows: set[tuple[float, float]] = set()
            body = b""

            deadline = time.monotonic() + timeout
            near_end = calls - VDM_NEAR_END_SECONDS * world.VDM_REQUESTS_PER_SECOND
            try:
                while tracker.polls_done() < 2:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"vdm did not complete 2 polls in {timeout:.0f} s")
                    body = scraper.get()[0]
                    window = poll_windows(body).get("vdm")
                    if window is not None:
                        windows.add(window)
                    metrics = read_self_metrics(self_tail(body))
                    tracker.observe(metrics)
                    done = len(tracker.seen.get("vdm", []))
                    this_poll = metrics.requests.get(BATCH_GET_METRIC_DATA, 0.0) - done * calls
                    end_near = this_poll >= near_end
                    time.sleep(VDM_SCRAPE_NEAR_END if end_near else VDM_SCRAPE_EVERY)
            except (RuntimeError, OSError):
                print(f"daemon log (last lines):\n{daemon.log_tail()}", file=sys.stderr)
                raise
            scraper.close()
    for index, (_, counts) in enumerate(tracker.seen["vdm"][:2]):
        if counts.get(GET_ACCOUNT, 0.0) != index + 1:
            raise RuntimeError(
                f"vdm poll {index + 2} began before the scrape that showed poll {index + 1} "
                "ended: their requests cannot be told apart; run again"
            )
    first, steady = sorted(windows)[:2]
    return VdmResult(
        isps=isps,
        sets=sets,
        polls=(tracker.per_poll(0), tracker.per_poll(1)),
        seconds=(first[1] - first[0], steady[1] - steady[0]),
        series=sum(1 for line in body.split(b"\n") if line.startswith(b"aws_ses_vdm_")),
        body_bytes=len(body),
    )


def vdm_table(results: list[VdmResult]) -> tuple[list[str], bool]:
    """The vdm collector's requests per poll against ``polls.vdm_minimum``; ``ok``: equal."""
    lines = [
        "| Sets x ISPs | Queries | AWS operation | First poll | Minimum | Steady poll | Minimum |",
        "|---:|---:|---|---:|---:|---:|---:|",
    ]
    ok = True
    for r in results:
        least = vdm_minimum(r.isps, r.sets, SES_PAGE)
        for key in OPERATIONS["vdm"]:
            first, steady = (counts[key] for counts in r.polls)
            ok = ok and first == least[key] == steady
            lines.append(
                f"| {r.sets:,} x {r.isps} | {vdm_queries(r.isps, r.sets):,} | {' '.join(key)} "
                f"| {first:.0f} | {least[key]} | {steady:.0f} | {least[key]} |"
            )
    return lines, ok


def vdm_notes(results: list[VdmResult]) -> list[str]:
    lines = []
    for r in results:
        calls = vdm_minimum(r.isps, r.sets, SES_PAGE)[BATCH_GET_METRIC_DATA]
        pace = calls / world.VDM_REQUESTS_PER_SECOND
        lines.append(
            f"- VDM, {r.sets:,} sets x {r.isps} ISPs: the vdm collector alone, "
            f"requests_per_second {world.VDM_REQUESTS_PER_SECOND:g} (AWS's limit); polls took "
            f"{r.seconds[0]:.0f} s and {r.seconds[1]:.0f} s ({calls:,} calls at that pace: "
            f"{pace:.0f} s); {r.series:,} VDM series, /metrics "
            f"{r.body_bytes / 1024 / 1024:.1f} MiB."
        )
    return lines


def ses_families(body: bytes) -> list[object]:
    own = ("ses_exporter_", "process_", "python_")
    return [f for f in text_string_to_metric_families(body.decode()) if not f.name.startswith(own)]


def cache_bytes(body: bytes) -> int:
    return render(ses_families(body)).nbytes()  # type: ignore[arg-type]


def requests_table(results: list[Result]) -> tuple[list[str], bool]:
    """This checkout's requests per poll; ``ok``: its runs' are at the minimum (another
    checkout's, e.g. --before, may differ by design and are not judged)."""
    lines = [
        "| Sets | AWS operation | First poll | Minimum | Steady poll | Minimum |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    ok = True
    for r in results:
        for run in r.runs[-1:]:
            for key in run.polls[1]:
                for index, counts in enumerate(run.polls):
                    least = least_of(r, run, index)[key]
                    ok = ok and counts[key] == least
        run = r.runs[-1]
        for key in sorted(run.polls[1], key=ROW_ORDER.index):
            cells = []
            for index, counts in enumerate(run.polls):
                least = least_of(r, run, index)[key]
                cells += [f"{counts[key]:.0f}", f"{least}"]
            operation = " ".join(key) if key != METRICS_REQUESTED else "CloudWatch metrics billed"
            lines.append(f"| {r.sets:,} | {operation} | {' | '.join(cells)} |")
    return lines, ok


def least_of(result: Result, run: Run, poll: int) -> Mapping[tuple[str, str], int]:
    """The minimum of poll ``poll`` (0: the first) of ``run``."""
    bucket_end = (result.published // REPUTATION_PERIOD + 1) * REPUTATION_PERIOD
    open_at_first_poll = run.first_cloudwatch_poll < bucket_end
    newest = poll == 0 or open_at_first_poll
    return minimum(result.sets, result.queries, poll == 0, SES_PAGE, newest)


def ms(t: Timing) -> str:
    return f"{t.median * 1000:.1f} / {t.p99 * 1000:.1f}"


def latency_table(results: list[Result]) -> list[str]:
    lines = [
        "| Sets | Code | Series | /metrics | gzip | Quiet p50 / p99 ms (n) | Floor quiet "
        "| During a CloudWatch poll p50 / p99 ms (n) | Floor during the poll "
        "| gzip quiet p50 / p99 ms | RSS MiB | Peak RSS MiB |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        for run in r.runs:
            lines.append(
                f"| {r.sets:,} | {run.code} | {run.series:,} | {run.body_bytes / 1024:,.0f} KiB "
                f"| {run.gzip_bytes / 1024:,.0f} KiB | {ms(run.quiet)} ({run.quiet.count}) "
                f"| {ms(run.floor_quiet)} | {ms(run.busy)} ({run.busy.count}) "
                f"| {ms(run.floor_busy)} | {ms(run.gzip)} "
                f"| {run.rss_kib / 1024:.1f} | {run.peak_rss_kib / 1024:.1f} |"
            )
    return lines


def notes(results: list[Result], args: argparse.Namespace) -> list[str]:
    before = f"before = the daemon of {args.before}, " if args.before else ""
    lines = [
        f"- Daemon: {', '.join(collectors())} every {world.INTERVAL_SECONDS} s; account "
        "collector off (its calls are not what this measures). "
        f"ses_requests_per_second: {world.SES_REQUESTS_PER_SECOND:g}, only to make the "
        "benchmark fast (real SES allows about 1). Code: "
        f"{before}after = this checkout ({world.REPO}).",
        "- Minimum: every set read once, every discovered (metric, dimensions) queried once, "
        "500 queries per GetMetricData, 500 metrics per ListMetrics page. ListMetrics runs at "
        "the first poll only (the daemon caches the list for 15 minutes). Requests shown and "
        "checked for this checkout.",
        "- ListConfigurationSets: no PageSize (the sesv2 model documents no range), so pages"
        " of the server's size: 100 on moto.",
        f"- Scrape: sequential GET /metrics over one keep-alive connection, including HTTP "
        f"over loopback: {args.scrapes} with Accept-Encoding: gzip, then plain ones for up "
        f"to {args.busy_seconds:g} s or until {args.scrapes} were quiet and {args.scrapes} "
        "overlapped a CloudWatch poll, each followed by one of the floor: the same bytes "
        "served from memory by http.server in a child process over its own keep-alive "
        "connection (so it shares the CPU with moto and the poll as the scrape does). "
        "Quiet: scrapes that overlapped no poll of any collector; during a CloudWatch poll: "
        "those that overlapped one; n of each; sorted by the poll windows of the daemon's "
        "self-metrics.",
    ]
    for r in results:
        polls = ", ".join(f"{run.code} {run.cloudwatch_poll:.1f} s" for run in r.runs)
        ways = "; ".join(
            f"{way} {r.gzip_seconds[way] * 1000:.1f} ms ({r.gzip_sizes[way] / 1024:,.0f} KiB)"
            for way in r.gzip_seconds
        )
        size = r.runs[-1].body_bytes
        lines.append(
            f"- {r.sets:,} sets: longest CloudWatch poll: {polls}. Rendered cache: "
            f"{r.cache_bytes / 1024:,.0f} KiB for {size / 1024:,.0f} KiB of text "
            f"({r.cache_bytes / size:.2f}x). gzip in this process, p50: {ways}."
        )
    for r in results:
        if r.sets != TARGET_SETS:
            continue
        after, met = r.runs[-1], {True: "met", False: "MISSED"}
        lines.append(
            f"- Targets at {TARGET_SETS:,} sets during a CloudWatch poll: p50 <= "
            f"{TARGET_P50 * 1000:g} ms: {met[after.busy.median <= TARGET_P50]} "
            f"({after.busy.median * 1000:.1f} ms); p99 <= {TARGET_P99 * 1000:g} ms: "
            f"{met[after.busy.p99 <= TARGET_P99]} ({after.busy.p99 * 1000:.1f} ms); "
            f"floor during the poll p50 / p99 {ms(after.floor_busy)} ms."
        )
        limit = TARGET_CACHE_RATIO * after.body_bytes
        extra = f"rendered cache <= {TARGET_CACHE_RATIO:g} x text: {met[r.cache_bytes <= limit]}"
        if len(r.runs) > 1:
            grown = (after.rss_kib - r.runs[0].rss_kib) * 1024
            extra += (
                f"; RSS after - before <= {TARGET_CACHE_RATIO:g} x text: {met[grown <= limit]} "
                f"({grown / 1024 / 1024:+.1f} MiB for {after.body_bytes / 1024 / 1024:.1f} MiB)"
            )
        lines.append(f"- {extra}.")
    lines.append(
        f"- Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}, {platform.system()} {platform.release()}."
    )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", default="1,100,1000", help="comma-separated set counts")
    parser.add_argument("--scrapes", type=int, default=200, help="GET /metrics per kind")
    parser.add_argument(
        "--busy-seconds",
        type=float,
        default=BUSY_SECONDS,
        help="most time spent scraping for scrapes during a CloudWatch poll",
    )
    parser.add_argument("--before", type=Path, help="also run the daemon of this checkout")
    parser.add_argument(
        "--vdm-isps",
        type=int,
        default=VDM_ISPS,
        help="VDM phase: mailbox providers the vdm collector lists (0: no VDM phase)",
    )
    parser.add_argument(
        "--vdm-sets", default=VDM_SETS, help="VDM phase: comma-separated set counts"
    )
    args = parser.parse_args()
    if args.scrapes < 1:
        parser.error("--scrapes must be at least 1")
    if args.before is not None and not (args.before / "ses_exporter").is_dir():
        parser.error(f"--before: no ses_exporter package in {args.before}")
    results, vdm_results = [], []
    with tempfile.TemporaryDirectory(prefix="ses-exporter-bench-") as tmp:
        for sets in (int(n) for n in args.sets.split(",") if n):
            print(f"measuring with {sets:,} configuration set(s) ...", file=sys.stderr, flush=True)
            results.append(measure(sets, args, Path(tmp)))
        for sets in (int(n) for n in args.vdm_sets.split(",") if n and args.vdm_isps):
            print(
                f"measuring VDM with {sets:,} set(s) x {args.vdm_isps} ISPs ...",
                file=sys.stderr,
                flush=True,
            )
            vdm_results.append(measure_vdm(args.vdm_isps, sets, Path(tmp)))
    printed, ok = [], True
    if results:
        requests, ok = requests_table(results)
        printed += [*requests, "", *latency_table(results), "", *notes(results, args)]
    if vdm_results:
        vdm_requests, vdm_ok = vdm_table(vdm_results)
        ok = ok and vdm_ok
        printed += ["", *vdm_requests, "", *vdm_notes(vdm_results)]
    print("\n".join(printed).strip("\n"))
    if not ok:
        print("FAIL: some poll's AWS requests differ from the minimum", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
