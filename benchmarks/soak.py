"""Soak: the real daemon for an hour of everything going wrong at once, against a ground truth.

Usage: ``python benchmarks/soak.py [--minutes 60] [--accounts 24] [--seed 1] [--plot PNG]
[--samples CSV] [--workdir DIR] [--tracemalloc] [--env NAME=VALUE]`` (or
``benchmarks/soak``). A benchmark, not a timed test: it prints Markdown tables and exits 1
if a criterion below failed.

The world (``soak_world.py``): moto (``moto_server.py``: CloudWatch that never sums across
dimension sets, VDM data) behind the fault proxy of ``tests/faultproxy.py``; an AWS
Organization of ``--accounts`` members plus the management account, each polled through
the role ``ses-exporter`` in two regions (50 targets by default), every collector on; SES
traffic published to CloudWatch 30 s to 2 min late, 30 % of it revised upwards later; the
daemon serves TLS with basic auth. Then, for ``--minutes``:

* faults in turn (``FAULT_PHASE`` s each, the last ``FAULT_REST`` s of a phase without):
  every kind of ``FAULT_KINDS`` on a rotating operation of ``FAULT_OPERATIONS`` and region;
* a reload every ``RELOAD_EVERY`` s, every other one changing intervals and filters;
* every ``ORG_CHANGE_EVERY`` s an account joins the organization, and from the second
  change on the one that joined before leaves it (the daemon lists it every minute);
* every ``BURST_EVERY`` s, a burst of ``BURST_CLIENTS`` slow clients (half never start
  the TLS handshake, half trickle a request a byte a second);
* a scrape every ``SCRAPE_EVERY`` s (HTTPS, basic auth), with RSS, threads and open fds;
* SIGKILL and a restart at ``RESTARTS`` (fractions of the run), each in the middle of
  polls. A restart starts new counters from a new baseline by design (what CloudWatch
  holds at the first poll is not counted again: docs/metrics.md), so events published
  between the last poll before the kill and the first poll after it could never be
  counted: before each kill the traffic pauses until what was sent is published and read,
  and resumes once every target has polled CloudWatch again. Faults pause in that window.

Criteria: every scrape 200 within 1 s outside the restart windows; no counter decreases
within a process; after each restart every target's series back within one interval of
their collector; every slow client ended by the server; every reload answered 200;
every event counted once: per counter series, what ``increase()`` over the run sees
equals the events sent (0 lost, 0 double-counted, no series AWS does not have). Resources:
RSS, threads and fds per process life, and the least-squares RSS slope after a warm-up.
With ``--tracemalloc`` the daemon also samples Python's own allocations
(``tracemalloc_site``), and the report sets their slope beside RSS's and lists the
allocation sites that grew: what separates objects kept from growth outside Python's heap.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import random
import re
import statistics
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks import soak_world  # noqa: E402 - after the path set-up
from benchmarks.ground_truth import METRIC_OF, Row  # noqa: E402
from benchmarks.late_traffic import Key, Publisher  # noqa: E402
from benchmarks.soak_world import (  # noqa: E402
    QUIET_SET,
    REGIONS,
    TRAFFIC,
    Organization,
    SecureDaemon,
    SlowBurst,
    WebSecurity,
)
from benchmarks.world import MotoServer  # noqa: E402
from ses_exporter.config_types import parse_duration  # noqa: E402
from tests.daemon import Scrape, fake_aws_env  # noqa: E402
from tests.fakes import GET_ACCOUNT  # noqa: E402
from tests.faultproxy import Fault, FaultProxy  # noqa: E402

FAULT_KINDS = (
    Fault.THROTTLING,
    Fault.HTTP_500,
    Fault.ACCESS_DENIED,
    Fault.EXPIRED_TOKEN,
    Fault.TRUNCATED,
    Fault.RESET,
    Fault.HANG,
    Fault.TOO_MANY_REQUESTS,
    Fault.HTTP_503,
    Fault.CUT_SHORT,
    Fault.MALFORMED,
)
# (operation, regional): a global operation's fault applies in every region.
FAULT_OPERATIONS = (
    ("GetMetricData", True),
    ("GetAccount", True),
    ("ListMetrics", True),
    ("AssumeRole", False),
    ("GetSendStatistics", True),
    ("ListConfigurationSets", True),
    ("GetConfigurationSet", True),
    ("ListEmailIdentities", True),
    ("GetEmailIdentity", True),
    ("ListDedicatedIpPools", True),
    ("ListSuppressedDestinations", True),
    ("BatchGetMetricData", True),
    ("ListAccounts", False),
)
FAULT_PHASE = 120.0
FAULT_REST = 30.0
RELOAD_EVERY = 300.0
ORG_CHANGE_EVERY = 420.0
BURST_EVERY = 600.0
BURST_CLIENTS = 200
BURST_HOLD = 25.0
SCRAPE_EVERY = 15.0
WAIT_EVERY = 2.0  # scrapes while waiting for a condition
RESTARTS = (0.25, 0.42)
WARMUP = 300.0  # seconds of a process life left out of the RSS slope
HEAP_SITE = REPO / "benchmarks" / "tracemalloc_site"  # --tracemalloc: the sampler
HEAP_SNAPSHOT_EVERY = 300.0  # seconds between --tracemalloc snapshots
HEAP_SITES = 10  # allocation sites listed per process
READ_MARGIN = 15.0  # a poll that ended this long after a publication started after it
SLOW_SCRAPE = 1.0
STAMP = "ses_exporter_collector_last_success_timestamp_seconds"
VDM_ISPS = 5

# Two configurations: the reloads alternate; B changes intervals and filters.
INTERVALS = {
    "a": {
        "account": "30s",
        "send_statistics": "60s",
        "cloudwatch": "30s",
        "configuration_sets": "60s",
        "identities": "60s",
        "dedicated_ips": "60s",
        "suppression": "120s",
        "vdm": "5m",
    },
    "b": {
        "account": "45s",
        "send_statistics": "90s",
        "cloudwatch": "45s",
        "configuration_sets": "90s",
        "identities": "90s",
        "dedicated_ips": "90s",
        "suppression": "3m",
        "vdm": "10m",
    },
}
FILTERS = {
    "a": {"sets": "[]", "identities": "[]"},
    "b": {"sets": f"[{QUIET_SET}]", "identities": "['nobody@.*']"},
}
CONFIG = """\
organizations:
  - name: soak
    endpoint_url: {endpoint}
    member_role_name: {role}
    regions: [{regions}]
    refresh_interval: 1m
    ses_requests_per_second: 5
    configuration_sets: {{exclude: {sets}}}
collectors:
  account: {{interval: {account}}}
  send_statistics: {{interval: {send_statistics}}}
  cloudwatch: {{interval: {cloudwatch}, period: 60s, lookback: 5m}}
  configuration_sets: {{interval: {configuration_sets}}}
  identities: {{interval: {identities}, exclude: {identities_exclude}}}
  dedicated_ips: {{interval: {dedicated_ips}}}
  suppression: {{interval: {suppression}}}
  vdm: {{enabled: true, interval: {vdm}}}
"""


def config_text(endpoint: str, variant: str) -> str:
    return CONFIG.format(
        endpoint=endpoint,
        role=soak_world.ROLE_NAME,
        regions=", ".join(REGIONS),
        sets=FILTERS[variant]["sets"],
        identities_exclude=FILTERS[variant]["identities"],
        **INTERVALS[variant],
    )


# --- what was seen ---------------------------------------------------------------------


@dataclass
class Life:
    """One daemon process, from spawn to kill (or the end)."""

    spawned: float
    pid: int
    samples: list[tuple[float, dict[str, int]]] = field(default_factory=list)  # (t, /proc)
    decreases: list[str] = field(default_factory=list)
    failed_polls: int = 0
    outcomes: dict[str, float] = field(default_factory=dict)


@dataclass
class Restart:
    at: float  # seconds into the run, at the kill
    quiesce: float  # seconds from pausing traffic to the kill
    up: float  # seconds from spawn to listening (Python and its imports starting)
    ready: float  # seconds from listening to /-/ready
    back: dict[str, float] = field(default_factory=dict)  # collector -> slowest target, s
    missing: list[str] = field(default_factory=list)  # series never back


@dataclass
class OrgChange:
    what: str  # "join" or "leave"
    account_id: str
    at: float
    seen_after: float | None = None  # seconds until its targets appeared / vanished


@dataclass
class Figures:
    started: float = 0.0
    scrapes: list[tuple[float, float, int, bool]] = field(
        default_factory=list
    )  # t, s, status, window
    lives: list[Life] = field(default_factory=list)
    restarts: list[Restart] = field(default_factory=list)
    reloads: list[tuple[float, str, int, bool]] = field(
        default_factory=list
    )  # t, variant, status, ok
    org: list[OrgChange] = field(default_factory=list)
    bursts: list[tuple[float, SlowBurst]] = field(default_factory=list)
    phases: list[tuple[float, float, str]] = field(default_factory=list)  # start, end, what
    targets: list[int] = field(default_factory=list)

    def t(self) -> float:
        return time.time() - self.started


SeriesKey = tuple[str, frozenset[tuple[str, str]]]


class Counted:
    """Per CloudWatch counter series, what ``increase()`` over the run sees: the last
    value of every process life added up (a restart is a counter reset)."""

    def __init__(self) -> None:
        self.last: dict[SeriesKey, float] = {}
        self.banked: dict[SeriesKey, float] = defaultdict(float)

    def add(self, scrape: Scrape) -> None:
        for key, value in scrape.samples.items():
            if key[0] in METRIC_OF:
                self.last[key] = value

    def restart(self) -> None:
        for key, value in self.last.items():
            self.banked[key] += value
        self.last.clear()

    def by_key(self) -> dict[Key, float]:
        totals: dict[Key, float] = defaultdict(float)
        for key in self.last.keys() | self.banked.keys():
            name, labels = key
            metric, per_set = METRIC_OF[name]
            found = dict(labels)
            configuration_set = found.get("configuration_set") if per_set else None
            series = (found["account_id"], found["region"], metric, configuration_set)
            totals[series] += self.last.get(key, 0.0) + self.banked[key]
        return totals


def compare(truth: dict[Key, int], counted: dict[Key, float]) -> Row:
    """Per series: lost and double-counted never offset each other. A series AWS has
    (one the world seeded) that saw no traffic has 0 sent; any other is invented."""
    seeded = set(TRAFFIC.series())
    result = Row("every counter series")
    for key in sorted(truth.keys() | counted.keys(), key=str):
        got = counted.get(key, 0.0)
        if (key[2], key[3]) not in seeded:
            result.invented.append(str(key))
            continue
        result.add(truth.get(key, 0), got, str(key))
    return result


# --- the run ---------------------------------------------------------------------------


class Soak:
    def __init__(self, args: argparse.Namespace, workdir: Path):
        self.args = args
        self.workdir = workdir
        self.figures = Figures()
        self.counted = Counted()
        self.variant = "a"
        self.faults_on = True
        self.phase_index = -1
        self.reload_count = 0
        self.last_scrape: Scrape | None = None
        self.joined: list[str] = []
        self.pending: list[tuple[OrgChange, Callable[[Scrape], bool]]] = []
        self.burst: threading.Thread | None = None
        self.in_window = False
        self.heap_directory = workdir / "tracemalloc"

    # the world

    def run(self) -> int:
        with (
            MotoServer(vdm_isps=VDM_ISPS, vdm_sets=len(TRAFFIC.sets)) as moto,
            FaultProxy(moto.url) as proxy,
        ):
            self.proxy = proxy
            for region in REGIONS:  # VDM on, as in an account that enabled it
                proxy.accounts[region] = {**GET_ACCOUNT, "VdmAttributes": {"VdmEnabled": "ENABLED"}}
            self.org = Organization(moto.url)
            self.org.seed(soak_world.MANAGEMENT_ACCOUNT)
            self.org.add_many(self.args.accounts)
            self.stable = list(self.org.members)
            print(
                f"organization: {len(self.stable)} accounts, {len(self.stable) * len(REGIONS)} "
                "targets",
                flush=True,
            )
            self.security = WebSecurity.make(self.workdir)
            self.figures.started = time.time()  # the run's clock: from the first spawn
            self.daemon = self.spawn()
            self.daemon.wait_ready(timeout=300)
            self.wait("every target's first CloudWatch poll", self.cloudwatch_read_after(0.0), 600)
            clients = {
                (a, r): self.org.client(a, "cloudwatch", r) for a in self.stable for r in REGIONS
            }
            self.publisher = Publisher(clients, TRAFFIC, random.Random(self.args.seed))
            self.publisher.start()
            try:
                self.drive()
                self.quiesce()
                self.observe(self.daemon.scrape(timeout=10.0))
            finally:
                proxy.clear()
                self.end_life()
                self.publisher.stop()
        truth = compare(self.publisher.truth, self.counted.by_key())
        print(report(self, truth))
        return 0 if passed(self, truth) else 1

    def spawn(self) -> SecureDaemon:
        life = len(self.figures.lives) + 1
        text = config_text(self.proxy.url, self.variant)
        extra = dict(self.args.env)
        if self.args.tracemalloc:  # see tracemalloc_site/sitecustomize.py
            path = os.pathsep.join(filter(None, [str(HEAP_SITE), os.environ.get("PYTHONPATH")]))
            extra.update(
                PYTHONPATH=path,
                SES_EXPORTER_TRACEMALLOC=str(self.heap_directory),
                SES_EXPORTER_TRACEMALLOC_EVERY=str(HEAP_SNAPSHOT_EVERY),
            )
        env = fake_aws_env(**extra)
        spawned = time.time()
        daemon = SecureDaemon(text, self.workdir / f"life-{life}", self.security, env=env)
        self.figures.lives.append(Life(spawned=spawned, pid=daemon.proc.pid))
        return daemon

    def end_life(self, kill: bool = False) -> None:
        life = self.figures.lives[-1]
        if kill:
            self.daemon.proc.kill()
        self.daemon.stop()
        life.decreases = list(self.daemon.watch.decreases)
        log = self.daemon.output()
        life.failed_polls = log.count('msg="poll failed"')
        if self.last_scrape is not None:
            for (name, labels), value in self.last_scrape.samples.items():
                if name == "ses_exporter_aws_requests_total":
                    outcome = dict(labels)["outcome"]
                    life.outcomes[outcome] = life.outcomes.get(outcome, 0.0) + value

    # the schedule

    def drive(self) -> None:
        total = self.args.minutes * 60
        restarts = [f * total for f in RESTARTS]
        next_scrape, next_reload, next_org, next_burst = 0.0, RELOAD_EVERY, ORG_CHANGE_EVERY, 180.0
        while (now := self.figures.t()) < total:
            self.faults(now)
            if restarts and now >= restarts[0]:
                restarts.pop(0)
                self.restart()
                continue
            if now >= next_reload:
                next_reload += RELOAD_EVERY
                self.reload()
            if now >= next_org:
                next_org += ORG_CHANGE_EVERY
                self.change_organization()
            if now >= next_burst:
                next_burst += BURST_EVERY
                self.start_burst()
            if now >= next_scrape:
                next_scrape = now + SCRAPE_EVERY
                self.scrape()
            time.sleep(max(0.0, min(next_scrape - self.figures.t(), 1.0)))
        if self.burst is not None:
            self.burst.join()

    def faults(self, now: float) -> None:
        """The phase's fault from its start until its rest; nothing while paused."""
        if not self.faults_on:
            return
        index = int(now // FAULT_PHASE)
        rest_from = index * FAULT_PHASE + FAULT_PHASE - FAULT_REST
        if now >= rest_from:
            if self.phase_index == index:
                self.proxy.clear()
                self.phase_index = -1
            return
        if index == self.phase_index:
            return
        self.phase_index = index
        kind = FAULT_KINDS[index % len(FAULT_KINDS)]
        operation, regional = FAULT_OPERATIONS[index % len(FAULT_OPERATIONS)]
        region = REGIONS[index % len(REGIONS)] if regional else None
        self.proxy.clear()
        self.proxy.fault(operation, kind, region=region)
        what = f"{kind.value} on {operation} in {region or 'every region'}"
        self.figures.phases.append((now, rest_from, what))

    # scrapes

    def scrape(self) -> Scrape | None:
        t = self.figures.t()
        try:
            scrape = self.daemon.scrape(timeout=10.0)
        except (OSError, http.client.HTTPException):
            self.figures.scrapes.append((t, float("nan"), 0, self.in_window))
            return None
        self.figures.scrapes.append((t, scrape.seconds, scrape.status, self.in_window))
        if scrape.status == 200:
            self.observe(scrape)
        return scrape

    def observe(self, scrape: Scrape) -> None:
        self.last_scrape = scrape
        self.counted.add(scrape)
        with contextlib.suppress(OSError, KeyError):
            self.figures.lives[-1].samples.append((self.figures.t(), self.daemon.proc_stats()))
        self.figures.targets.append(len(self.success(scrape, "cloudwatch")))
        for change, seen in list(self.pending):
            if seen(scrape):
                change.seen_after = self.figures.t() - change.at
                self.pending.remove((change, seen))

    @staticmethod
    def success(scrape: Scrape, collector: str | None = None) -> dict[tuple[str, str, str], float]:
        """(account id, region, collector) -> the last success timestamp, of the collectors
        whose last poll succeeded."""
        stamps: dict[tuple[str, str, str], float] = {}
        ok: set[tuple[str, str, str]] = set()
        for (name, labels), value in scrape.samples.items():
            if name not in ("ses_exporter_collector_success", STAMP):
                continue
            got = dict(labels)
            if collector is not None and got.get("collector") != collector:
                continue
            key = (got["account_id"], got["region"], got["collector"])
            if name == STAMP:
                stamps[key] = value
            elif value == 1:
                ok.add(key)
        return {key: stamps.get(key, 0.0) for key in ok}

    def cloudwatch_read_after(self, when: float) -> Callable[[Scrape], bool]:
        """Every traffic target's CloudWatch poll succeeded after ``when``."""

        def check(scrape: Scrape) -> bool:
            read = self.success(scrape, "cloudwatch")
            return all(
                read.get((a, r, "cloudwatch"), 0.0) > when for a in self.stable for r in REGIONS
            )

        return check

    def wait(self, what: str, condition: Callable[[Scrape], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            scrape = self.scrape()
            if scrape is not None and scrape.status == 200 and condition(scrape):
                return
            time.sleep(WAIT_EVERY)
        raise RuntimeError(f"waited {timeout:g} s in vain for {what}")

    # the events

    def quiesce(self) -> float:
        """Pause traffic and faults until everything sent is published and read."""
        started = time.time()
        self.faults_on = False
        self.proxy.clear()
        self.publisher.pause()
        while not self.publisher.idle():
            self.scrape()
            time.sleep(WAIT_EVERY)
        self.wait(
            "every target to read the last publication",
            self.cloudwatch_read_after(self.publisher.last_publication + READ_MARGIN),
            600,
        )
        return time.time() - started

    def restart(self) -> None:
        self.in_window = True
        quiesce = self.quiesce()
        before = self.daemon.scrape(timeout=10.0)
        self.observe(before)
        polled = set(self.success(before))
        at = self.figures.t()
        self.end_life(kill=True)
        self.counted.restart()
        self.daemon = self.spawn()
        spawned = self.figures.lives[-1].spawned
        self.daemon.wait_ready(timeout=300)
        listening = listening_at(self.daemon.output()) or spawned
        restart = Restart(at, quiesce, listening - spawned, time.time() - listening)
        interval = {name: parse_duration(value) for name, value in INTERVALS[self.variant].items()}
        missing = set(polled)
        deadline = time.time() + 2 * max(interval.values())
        while missing and time.time() < deadline:
            scrape = self.scrape()
            if scrape is not None and scrape.status == 200:
                back = self.success(scrape)
                for key in [k for k in missing if k in back]:
                    missing.discard(key)
                    back_after = scrape.at - listening
                    restart.back[key[2]] = max(restart.back.get(key[2], 0.0), back_after)
            time.sleep(1.0)
        restart.missing = sorted(f"{a} {r} {c}" for a, r, c in missing)
        self.wait("every target's first CloudWatch poll", self.cloudwatch_read_after(spawned), 600)
        self.figures.restarts.append(restart)
        self.publisher.resume()
        self.faults_on = True
        self.phase_index = -1
        self.in_window = False
        print(
            f"restart at {at / 60:.1f} min: listening after {restart.up:.1f} s, ready "
            f"{restart.ready:.1f} s later",
            flush=True,
        )

    def reload(self) -> None:
        self.reload_count += 1
        self.variant = "b" if self.reload_count % 2 else "a"
        self.daemon.config_file.write_text(config_text(self.proxy.url, self.variant))
        t = self.figures.t()
        try:
            response = self.daemon.request("/-/reload", method="POST", timeout=30.0)
            status = response.status
        except OSError:
            status = 0
        scrape = self.scrape()
        ok = scrape is not None and scrape.value("ses_exporter_config_last_reload_successful") == 1
        self.figures.reloads.append((t, self.variant, status, ok))

    def change_organization(self) -> None:
        t = self.figures.t()
        joined = self.org.add()
        change = OrgChange("join", joined, t)
        self.pending.append((change, lambda s, a=joined: any(k[0] == a for k in self.success(s))))
        self.figures.org.append(change)
        if self.joined:
            leaving = self.joined.pop(0)
            self.org.remove(leaving)
            gone = OrgChange("leave", leaving, t)
            self.pending.append(
                (
                    gone,
                    lambda s, a=leaving: (
                        not s.values("ses_exporter_collector_success", account_id=a)
                    ),
                )
            )
            self.figures.org.append(gone)
        self.joined.append(joined)

    def start_burst(self) -> None:
        if self.burst is not None and self.burst.is_alive():
            return
        port, context, t = self.daemon.port, self.security.context, self.figures.t()

        def run() -> None:
            burst = soak_world.slow_clients(port, context, BURST_CLIENTS, BURST_HOLD)
            self.figures.bursts.append((t, burst))

        self.burst = threading.Thread(target=run, name="slow-clients", daemon=True)
        self.burst.start()


def listening_at(log: str) -> float | None:
    """Unix time of the daemon's "listening" log line: its start-up is over."""
    found = re.search(r"^ts=(\S+) .*msg=listening", log, re.MULTILINE)
    if found is None:
        return None
    return datetime.fromisoformat(found.group(1).replace("Z", "+00:00")).timestamp()


# --- the report ------------------------------------------------------------------------


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
    return (
        ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else float("nan")
    )


def outside(soak: Soak) -> list[tuple[float, float, int, bool]]:
    return [s for s in soak.figures.scrapes if not s[3]]


def passed(soak: Soak, truth: Row) -> bool:
    f = soak.figures
    scrapes = outside(soak)
    return (
        all(status == 200 and s <= SLOW_SCRAPE for _, s, status, _ in scrapes)
        and not any(life.decreases for life in f.lives)
        and all(not r.missing for r in f.restarts)
        and all(
            back <= parse_duration(INTERVALS["a"][c]) or back <= parse_duration(INTERVALS["b"][c])
            for r in f.restarts
            for c, back in r.back.items()
        )
        and all(b.still_open == 0 for _, b in f.bursts)
        and all(status == 200 and ok for _, _, status, ok in f.reloads)
        and truth.lost == 0
        and truth.double == 0
        and not truth.invented
    )


def life_rows(soak: Soak) -> list[str]:
    lines = [
        "| process | minutes | RSS after warm-up → end (max) | RSS slope after warm-up "
        "/ second half | threads (after warm-up → end, max) | fds (after warm-up → end, max) |",
        "|---|---:|---|---|---|---|",
    ]
    for n, life in enumerate(soak.figures.lives, 1):
        if not life.samples:
            continue
        begin = life.samples[0][0]
        after = [(t, s) for t, s in life.samples if t - begin >= WARMUP] or life.samples
        end = life.samples[-1][0]
        half = [(t, float(s["rss_kib"])) for t, s in after if t >= (after[0][0] + end) / 2]
        rss = [(t, float(s["rss_kib"])) for t, s in after]
        first, last = after[0][1], after[-1][1]
        slopes = (
            f"{slope_mb_per_minute(rss):+.3f} / {slope_mb_per_minute(half):+.3f} MB/min"
            if end - begin >= 2 * WARMUP
            else "— (too short)"
        )
        lines.append(
            f"| {n} | {(end - begin) / 60:.1f} | {first['rss_kib'] / 1024:.1f} → "
            f"{last['rss_kib'] / 1024:.1f} MB ({max(r for _, r in rss) / 1024:.1f}) | "
            f"{slopes} | "
            f"{first['threads']} → {last['threads']} ({max(s['threads'] for _, s in after)}) | "
            f"{first['fds']} → {last['fds']} ({max(s['fds'] for _, s in after)}) |"
        )
    return lines


def heap_rows(soak: Soak) -> list[str]:
    """Per process life: Python's traced allocations against RSS after the warm-up, and the
    allocation sites that grew most between the first snapshot after the warm-up and the
    last (``tracemalloc_site``)."""
    import tracemalloc

    lines = [
        "| process | Python heap (traced) after warm-up → end | its slope | RSS slope, same span |",
        "|---|---|---|---|",
    ]
    growth: list[str] = []
    for n, life in enumerate(soak.figures.lives, 1):
        totals_file = soak.heap_directory / f"{life.pid}.csv"
        if not totals_file.exists():
            continue
        totals = [
            (float(t), float(b) / 1024)
            for t, b in (line.split(",") for line in totals_file.read_text().split())
        ]
        after = [(t, kib) for t, kib in totals if t >= WARMUP] or totals
        spawned = life.spawned - soak.figures.started  # samples count from the run's start
        rss = [(t, float(s["rss_kib"])) for t, s in life.samples if t - spawned >= after[0][0]]
        slopes = (
            f"{slope_mb_per_minute(after):+.3f} MB/min | {slope_mb_per_minute(rss):+.3f} MB/min"
            if after[-1][0] - after[0][0] >= WARMUP
            else "— (too short) | —"
        )
        lines.append(
            f"| {n} | {after[0][1] / 1024:.1f} → {after[-1][1] / 1024:.1f} MB | {slopes} |"
        )
        snapshots = sorted(soak.heap_directory.glob(f"{life.pid}-*.snapshot"))
        later = [p for p in snapshots if int(p.stem.split("-")[1]) >= WARMUP] or snapshots
        if len(later) < 2:
            continue
        ignore = [tracemalloc.Filter(False, tracemalloc.__file__)]
        first = tracemalloc.Snapshot.load(str(later[0])).filter_traces(ignore)
        last = tracemalloc.Snapshot.load(str(later[-1])).filter_traces(ignore)
        span = " → ".join(f"{int(p.stem.split('-')[1])} s" for p in (later[0], later[-1]))
        growth.append(f"Process {n}, where Python's allocations grew most ({span}):")
        for stat in last.compare_to(first, "traceback")[:HEAP_SITES]:
            frames = " ← ".join(
                f"{Path(f.filename).name}:{f.lineno}" for f in reversed(stat.traceback)
            )
            growth.append(f"  {stat.size_diff / 1024:+.0f} KiB ({stat.count_diff:+d}): {frames}")
    return [*lines, "", *growth] if growth else lines


def report(soak: Soak, truth: Row) -> str:
    f, p = soak.figures, soak.publisher
    scrapes = outside(soak)
    latency = [s * 1000 for _, s, status, _ in scrapes if status == 200]
    bad = sum(1 for _, _, status, _ in scrapes if status != 200)
    slow = sum(1 for _, s, status, _ in scrapes if status == 200 and s > SLOW_SCRAPE)
    in_bursts = [
        s * 1000
        for t, s, status, _ in scrapes
        if status == 200 and any(b <= t <= b + BURST_HOLD for b, _ in f.bursts)
    ]
    out = [f"## Soak: {soak.args.minutes:g} minutes, seed {soak.args.seed}", ""]
    out += ["| figure | value |", "|---|---|"]
    reloads = sum(1 for r in f.reloads if r[2] == 200 and r[3])
    rows = [
        ("targets (traffic accounts x regions; max polled)",
         f"{len(soak.stable) * len(REGIONS)} ({max(f.targets, default=0)})"),
        ("scrapes outside restarts: non-200 / over 1 s", f"{bad} / {slow} of {len(scrapes)}"),
        ("scrape p50 / p90 / p99 / max",
         f"{percentile(latency, 0.5):.0f} / {percentile(latency, 0.9):.0f} / "
         f"{percentile(latency, 0.99):.0f} / {max(latency, default=float('nan')):.0f} ms"),
        ("scrape max during slow-client bursts", f"{max(in_bursts, default=float('nan')):.0f} ms"),
        ("counter decreases within a process", str(sum(len(x.decreases) for x in f.lives))),
        ("fault phases", str(len(f.phases))),
        ("failed polls (logged)", str(sum(x.failed_polls for x in f.lives))),
        ("reloads: answered 200 and applied", f"{reloads} of {len(f.reloads)}"),
        ("events sent / series", f"{truth.sent:,} / {truth.series}"),
        ("datapoints published (upward revisions)", f"{p.datapoints:,} ({p.revisions:,})"),
        ("**lost / double-counted / invented series**",
         f"**{truth.lost:g} / {truth.double:g} / {len(truth.invented)}**"),
    ]  # fmt: skip
    out += [f"| {name} | {value} |" for name, value in rows]
    out += ["", *life_rows(soak), ""]
    if soak.args.tracemalloc:
        out += [*heap_rows(soak), ""]
    out += [
        "| restart at | quiet before kill | listening after | then ready after | slowest "
        "target back after listening, per collector (interval) |",
        "|---|---:|---:|---:|---|",
    ]
    for r in f.restarts:
        backs = ", ".join(
            f"{c} {s:.0f} s ({INTERVALS[soak.variant].get(c, '?')})"
            for c, s in sorted(r.back.items())
        )
        missing = f"; never back: {', '.join(r.missing[:5])}" if r.missing else ""
        out.append(
            f"| {r.at / 60:.1f} min | {r.quiesce:.0f} s | {r.up:.1f} s | {r.ready:.1f} s | "
            f"{backs}{missing} |"
        )
    out += ["", "| organization change | at | targets followed after |", "|---|---:|---:|"]
    for c in f.org:
        after = f"{c.seen_after:.0f} s" if c.seen_after is not None else "never"
        out.append(f"| {c.what} {c.account_id} | {c.at / 60:.1f} min | {after} |")
    out += [
        "",
        "| slow-client burst at | opened | ended by the server | still open | slowest end |",
        "|---:|---:|---:|---:|---:|",
    ]
    for t, b in f.bursts:
        out.append(
            f"| {t / 60:.1f} min | {b.opened} | {b.closed_by_server} | {b.still_open} | "
            f"{max(b.seconds_to_close, default=float('nan')):.1f} s |"
        )
    outcomes: dict[str, float] = defaultdict(float)
    for life in f.lives:
        for k, v in life.outcomes.items():
            outcomes[k] += v
    out += [
        "",
        "AWS calls by outcome: "
        + ", ".join(f"{k} {v:g}" for k, v in sorted(outcomes.items(), key=lambda kv: -kv[1])),
    ]
    out += ["", "Fault phases: " + "; ".join(f"{s / 60:.0f} min {w}" for s, _, w in f.phases)]
    for line in truth.off[:20]:
        out.append(f"  off: {line}")
    for life in f.lives:
        for line in life.decreases[:5]:
            out.append(f"  decrease: {line}")
    return "\n".join(out)


def plot(soak: Soak, path: Path) -> None:
    """RSS, fds and threads, and scrape latency over the run, restarts marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    f = soak.figures
    fig, (rss_ax, fd_ax, lat_ax) = plt.subplots(3, 1, figsize=(10, 8), sharex=True)
    for n, life in enumerate(f.lives, 1):
        xs = [t / 60 for t, _ in life.samples]
        rss_ax.plot(xs, [s["rss_kib"] / 1024 for _, s in life.samples], label=f"process {n}")
        fd_ax.plot(xs, [s["fds"] for _, s in life.samples], color="tab:blue")
        fd_ax.plot(xs, [s["threads"] for _, s in life.samples], color="tab:orange")
    fd_ax.legend(["open fds", "threads"], loc="upper left")
    ok = [(t / 60, s * 1000) for t, s, status, _ in f.scrapes if status == 200]
    lat_ax.plot([x for x, _ in ok], [y for _, y in ok], ".", markersize=3)
    lat_ax.axhline(SLOW_SCRAPE * 1000, color="red", linewidth=0.8, linestyle="--")
    lat_ax.set_yscale("log")
    for start, end, _ in f.phases:
        for ax in (rss_ax, fd_ax, lat_ax):
            ax.axvspan(start / 60, end / 60, color="grey", alpha=0.08, linewidth=0)
    for r in f.restarts:
        for ax in (rss_ax, fd_ax, lat_ax):
            ax.axvline(r.at / 60, color="black", linewidth=0.8)
    for t, _ in f.bursts:
        lat_ax.axvline(t / 60, color="tab:purple", linewidth=0.6, linestyle=":")
    rss_ax.set_ylabel("RSS (MB)")
    rss_ax.legend(loc="upper left")
    fd_ax.set_ylabel("count")
    lat_ax.set_ylabel("scrape (ms)")
    lat_ax.set_xlabel(
        "minutes (grey: a fault on; black: SIGKILL and restart; dotted: slow clients)"
    )
    fig.suptitle(
        f"ses-exporter soak: {len(soak.stable) * len(REGIONS)} targets, {soak.args.minutes:g} min"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def environment_variable(value: str) -> tuple[str, str]:
    name, equals, setting = value.partition("=")
    if not equals or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise argparse.ArgumentTypeError(f"{value!r}: want NAME=VALUE")
    return name, setting


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument(
        "--accounts", type=int, default=24, help="members besides the management account"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--plot", type=Path, help="write a PNG of RSS, fds and latency here")
    parser.add_argument("--samples", type=Path, help="also write the /proc samples to this CSV")
    parser.add_argument("--workdir", type=Path, help="keep the daemons' configs and logs here")
    parser.add_argument(
        "--tracemalloc",
        action="store_true",
        help="run the daemon under tracemalloc (slower: its latency figures do not compare) "
        "and report where Python's allocations grew after the warm-up",
    )
    parser.add_argument(
        "--env",
        type=environment_variable,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="set in the daemon's environment (repeatable), e.g. MALLOC_ARENA_MAX=2",
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="ses-exporter-soak-") as tmp:
        workdir = args.workdir or Path(tmp)
        soak = Soak(args, workdir)
        code = soak.run()
        if args.plot:
            plot(soak, args.plot)
        if args.samples:
            rows = [
                f"{n},{t:.1f},{s['rss_kib']},{s['threads']},{s['fds']}"
                for n, life in enumerate(soak.figures.lives, 1)
                for t, s in life.samples
            ]
            args.samples.write_text(
                "process,seconds,rss_kib,threads,fds\n" + "\n".join(rows) + "\n"
            )
    return code


if __name__ == "__main__":
    sys.exit(main())
