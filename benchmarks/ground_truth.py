"""Ground-truth soak: every CloudWatch counter of the real daemon against the events sent.

Usage: ``python benchmarks/ground_truth.py [--minutes 30] [--lookback 15m] [--outage 17m]
[--late 1m-10m] [--interval 30s] [--seed 1] [--without reloads|outage]
[--workdir DIR]`` (or ``benchmarks/ground_truth``). A benchmark, not a timed test: it runs
``--minutes`` of traffic, then waits for the last late datapoints (about 45 minutes in all
with the defaults). Prints the timeline, a Markdown table per counter family and one line
``lost N, double-counted M``; exits 1 unless both are 0 and no series was invented.

The world: ``moto_server.py`` (moto that answers a query without dimensions from the
metric without dimensions only, as CloudWatch does: it never sums across dimension sets)
behind the fault proxy of ``tests/faultproxy.py``; the real daemon polls one account and
region through the proxy, only the ``cloudwatch`` collector, period 60 s.

SES traffic comes from ``late_traffic.py``: every ``TICK_SECONDS`` random events of each
metric in each configuration set of ``SETS`` and account-wide, each minute's datapoints
published to CloudWatch ``--late`` after the minute, some in two parts (an upward
revision). The ground truth is the events sent per (metric, set or account-wide).

The daemon's counters start at 0 at its first CloudWatch poll (what is there is the
baseline), so the publisher starts after that poll; every series is listed (ListMetrics)
before it, by one zero datapoint a day old, so no series is discovered late. Then, relative
to the start of traffic (``Plan``):

* ``RETURNING`` sends for one to two minutes, then pauses; once its last late datapoint
  has been read, a reload excludes it, and another two polls later includes it again;
  it sends again from then on. It is idle while excluded, so whatever rule the exporter
  keeps for a returning series (remember what it counted, or baseline on return), the
  truth is the events sent; a recount of what it counted before shows as double-counted.
* an outage longer than ``--lookback``: every ListMetrics and GetMetricData call answers
  500 InternalFailure; publishing goes on (late datapoints pile up).
* traffic stops after ``--minutes``; the run ends two polls after the last publication
  and after the outage.

``--without reloads`` / ``--without outage`` leave one out, to tell their losses apart.

Counted is what Prometheus's ``increase()`` over the whole run would see: /metrics is
scraped every ``SCRAPE_SECONDS`` and a series that goes down is taken as a counter reset
(its last value is kept). An account-wide family of a metric AWS publishes only per set,
exposed anyway, is an invented series (a 0 that is not a measurement).
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks import late_traffic  # noqa: E402 - after the path set-up
from benchmarks.late_traffic import PERIOD, Publisher, Traffic  # noqa: E402
from benchmarks.world import MotoServer  # noqa: E402
from ses_exporter.collectors.cloudwatch import COUNTERS  # noqa: E402
from ses_exporter.config_types import format_duration, parse_duration  # noqa: E402
from tests.faultproxy import DaemonProcess, Fault, FaultProxy, Scrape  # noqa: E402

ACCOUNT = "123456789012"  # moto's default account
REGION = "us-east-1"
SETS = ("transactional", "marketing", "campaign")
RETURNING = "campaign"  # the set the two reloads exclude and include again
# CloudWatch metric -> most events of that kind per set (and per no-set mail) per tick.
METRICS: dict[str, int] = {
    "Send": 6,
    "Delivery": 6,
    "Bounce": 2,
    "Complaint": 1,
    "Reject": 1,
    "Rendering Failure": 1,
    "Open": 4,
    "Click": 3,
    "DeliveryDelay": 1,
    "Subscription": 1,
}
OUTAGE_OPERATIONS = ("ListMetrics", "GetMetricData")
SCRAPE_SECONDS = 5.0
SLACK = 30.0  # for a poll to run and finish after what it waits for
CONFIG = """\
accounts:
  - name: soak
    regions: [{region}]
    endpoint_url: {endpoint}
    ses_requests_per_second: 50
    configuration_sets: {{exclude: [{exclude}]}}
collectors:
  account: {{enabled: false}}
  send_statistics: {{enabled: false}}
  configuration_sets: {{enabled: false}}
  identities: {{enabled: false}}
  dedicated_ips: {{enabled: false}}
  cloudwatch: {{interval: {interval}, period: {period}, lookback: {lookback}}}
"""

Key = tuple[str, str | None]  # (CloudWatch metric, configuration set or None: account-wide)


@dataclass(frozen=True)
class Plan:
    """When things happen, in Unix seconds, from ``start`` (the start of traffic)."""

    start: float
    interval: float
    lookback: float
    late: tuple[float, float]  # publication delay after the end of a minute, min and max
    pause: float  # RETURNING stops sending (a minute boundary)
    exclude: float  # reload 1: RETURNING excluded (its last datapoint read by then)
    include: float  # reload 2: RETURNING included again; it sends again from here
    outage: tuple[float, float]  # every CloudWatch call fails in [start, end)
    traffic_end: float
    end: float  # final scrape, if the daemon has polled twice after the last publication

    @classmethod
    def make(cls, start: float, args: argparse.Namespace) -> Plan:
        late = args.late
        pause = math.ceil(start / PERIOD) * PERIOD + PERIOD  # two minutes of traffic at most
        exclude = pause + late[1] + args.interval + SLACK
        include = exclude + 2 * args.interval + SLACK
        outage_start = include + args.interval
        outage = (outage_start, outage_start + args.outage)
        traffic_end = start + args.minutes * 60
        if traffic_end < outage_start + PERIOD:
            need = (outage_start + PERIOD - start) / 60
            raise SystemExit(f"--minutes must be at least {need:.1f} for this timeline")
        last_publication = max(traffic_end + PERIOD + late[1], outage[1])
        end = last_publication + 2 * args.interval + SLACK
        return cls(
            start, args.interval, args.lookback, late, pause, exclude, include, outage,
            traffic_end, end,
        )  # fmt: skip

    def sends(self, configuration_set: str, now: float) -> bool:
        if configuration_set != RETURNING:
            return True
        return now < self.pause or now >= self.include

    def timeline(self, without: Sequence[str]) -> str:
        """A Markdown table of the plan; steps left out by ``--without`` say so."""

        def at(t: float) -> str:
            return f"+{(t - self.start) / 60:.1f} min"

        outage = format_duration(self.outage[1] - self.outage[0])
        steps = [
            ("", f"{at(self.start)} to {at(self.traffic_end)}", "traffic"),
            ("", at(self.pause), f"`{RETURNING}` pauses"),
            ("reloads", at(self.exclude), f"reload 1: `{RETURNING}` excluded"),
            ("reloads", at(self.include), f"reload 2: `{RETURNING}` included"),
            ("", at(self.include), f"`{RETURNING}` sends again"),
            (
                "outage",
                f"{at(self.outage[0])} to {at(self.outage[1])}",
                f"outage of {outage} (lookback {format_duration(self.lookback)}): every "
                "CloudWatch call answers 500",
            ),
            ("", f"{at(self.end)} or later", "final scrape"),
        ]
        lines = ["| when | what |", "|---|---|"]
        for kind, when, what in steps:
            lines.append(f"| {when} | {what}{' (left out)' if kind in without else ''} |")
        return "\n".join(lines)


# --- what the daemon counted ------------------------------------------------------------

FAMILY_OF: dict[Key, str] = {}  # (metric, set or None) -> family (set: any set)
METRIC_OF: dict[str, tuple[str, bool]] = {}  # family -> (metric, per set)


def account_family(row: Any) -> str:
    """The row's account-wide family; for a metric AWS publishes only per set (no such
    family in the exporter) the name one would have, to catch it if it were exposed."""
    return row.account or row.per_set.replace("aws_ses_configuration_set_", "aws_ses_")


for _row in COUNTERS:
    METRIC_OF[account_family(_row)] = (_row.names[0], False)
    METRIC_OF[_row.per_set] = (_row.names[0], True)

SeriesKey = tuple[str, frozenset[tuple[str, str]]]


class CountedTotals:
    """Per counter series, what ``increase()`` over the whole run sees: the last value, plus
    the value before every decrease (a counter reset: a target rebuilt, a process restart)."""

    def __init__(self) -> None:
        self.last: dict[SeriesKey, float] = {}
        self.banked: dict[SeriesKey, float] = defaultdict(float)
        self.resets: list[str] = []

    def add(self, scrape: Scrape) -> None:
        for key, value in scrape.samples.items():
            if key[0] not in METRIC_OF:
                continue
            before = self.last.get(key)
            if before is not None and value < before:
                self.banked[key] += before
                self.resets.append(f"{key[0]}{dict(key[1])}: {before:g} -> {value:g}")
            self.last[key] = value

    def by_key(self) -> dict[Key, float]:
        """Totals per (metric, set or None), summed over the other labels."""
        totals: dict[Key, float] = defaultdict(float)
        for key, value in self.last.items():
            name, labels = key
            metric, per_set = METRIC_OF[name]
            configuration_set = dict(labels).get("configuration_set") if per_set else None
            totals[(metric, configuration_set)] += value + self.banked[key]
        return totals


@dataclass
class Row:
    family: str
    off: list[str] = field(default_factory=list)  # "set: sent -> counted" of series that differ
    series: int = 0
    sent: int = 0
    counted: float = 0.0
    lost: float = 0.0
    double: float = 0.0
    invented: list[str] = field(default_factory=list)

    def add(self, sent: int, got: float, where: str) -> None:
        """One series: lost and double-counted are its own, never offset by another's."""
        self.series += 1
        self.sent += sent
        self.counted += got
        self.lost += max(0.0, sent - got)
        self.double += max(0.0, got - sent)
        if got != sent:
            self.off.append(f"{where}: {sent} -> {got:g}")


def compare(truth: dict[Key, int], counted: dict[Key, float]) -> list[Row]:
    """One row per family; lost and double-counted are summed per series, so a loss in one
    set is never offset by a double count in another."""
    rows: dict[str, Row] = {}
    for row in COUNTERS:
        rows[account_family(row)] = Row(account_family(row))
    for row in COUNTERS:
        rows[row.per_set] = Row(row.per_set)
    families = {(m, p): f for f, (m, p) in METRIC_OF.items()}
    for key in sorted(truth.keys() | counted.keys(), key=str):
        metric, configuration_set = key
        found = rows[families[(metric, configuration_set is not None)]]
        sent, got = truth.get(key), counted.get(key, 0.0)
        if sent is None:
            found.invented.append(configuration_set or "account-wide")
            found.counted += got
            continue
        found.add(sent, got, configuration_set or "account-wide")
    return [r for r in rows.values() if r.series or r.invented]


def table(rows: Sequence[Row]) -> str:
    lines = [
        "| family | series | sent | counted | lost | double-counted |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        if r.series:
            cells = f"{r.series} | {r.sent} | {r.counted:g} | {r.lost:g} | {r.double:g}"
        else:  # no events of this kind exist in this scope
            cells = f"0 | — | {r.counted:g} (invented) | — | —"
        lines.append(f"| `{r.family}` | {cells} |")
    return "\n".join(lines)


# --- the run ----------------------------------------------------------------------------


def config_text(proxy_url: str, args: argparse.Namespace, exclude: str = "") -> str:
    return CONFIG.format(
        region=REGION,
        endpoint=proxy_url,
        exclude=exclude,
        interval=format_duration(args.interval),
        period=format_duration(PERIOD),
        lookback=format_duration(args.lookback),
    )


def reload(daemon: DaemonProcess, text: str) -> None:
    daemon.config_file.write_text(text)
    response = daemon.request("/-/reload", method="POST", timeout=30.0)
    if response.status != 200:
        raise RuntimeError(f"reload answered {response.status}: {response.body}")


def last_success(scrape: Scrape) -> float:
    value = scrape.value(
        "ses_exporter_collector_last_success_timestamp_seconds", collector="cloudwatch"
    )
    return value or 0.0


@dataclass
class Result:
    plan: Plan
    publisher: Publisher
    counted: CountedTotals
    rows: list[Row]
    outage_calls: dict[str, int]  # requests the proxy saw by the end of the outage
    failed_polls: int


def run(args: argparse.Namespace, workdir: Path) -> Result:
    rng = random.Random(args.seed)
    counted = CountedTotals()
    with MotoServer() as moto, FaultProxy(moto.url) as proxy:
        cloudwatch = moto.client("cloudwatch")
        traffic = Traffic(SETS, METRICS, args.late)
        traffic.list_every_series(cloudwatch)
        daemon = DaemonProcess(config_text(proxy.url, args), workdir, log_level="info")
        try:
            daemon.wait_ready(timeout=120)
            daemon.wait_for(lambda s: last_success(s) > 0, timeout=120)
            plan = Plan.make(time.time(), args)
            print(plan.timeline(args.without), flush=True)
            publisher = Publisher({(ACCOUNT, REGION): cloudwatch}, traffic, rng, plan.sends)
            publisher.start()
            outage_calls: dict[str, int] = {}

            def outage_on() -> None:
                for operation in OUTAGE_OPERATIONS:
                    proxy.fault(operation, Fault.HTTP_500)

            def outage_off() -> None:
                outage_calls.update({op: proxy.seen(op) for op in OUTAGE_OPERATIONS})
                proxy.clear()

            steps: list[tuple[float, Callable[[], None]]] = [(plan.traffic_end, publisher.pause)]
            if "reloads" not in args.without:
                steps += [
                    (plan.exclude, lambda: reload(daemon, config_text(proxy.url, args, RETURNING))),
                    (plan.include, lambda: reload(daemon, config_text(proxy.url, args))),
                ]
            if "outage" not in args.without:
                steps += [(plan.outage[0], outage_on), (plan.outage[1], outage_off)]
            steps.sort(key=lambda step: step[0])
            while True:
                now = time.time()
                while steps and steps[0][0] <= now:
                    steps.pop(0)[1]()
                scrape = daemon.scrape(timeout=30.0)
                counted.add(scrape)
                done = now >= plan.end and publisher.idle()
                quiet = max(publisher.last_publication, plan.outage[1])
                polled = last_success(scrape) >= quiet + 2 * args.interval
                if done and polled:
                    break
                if daemon.proc.poll() is not None:
                    raise RuntimeError("the daemon died")
                time.sleep(SCRAPE_SECONDS)
            publisher.stop()
        finally:
            proxy.clear()
            daemon.stop()
    log = daemon.output()
    rows = compare(one_target(publisher.truth), counted.by_key())
    return Result(plan, publisher, counted, rows, outage_calls, log.count('msg="poll failed"'))


def one_target(truth: dict[late_traffic.Key, int]) -> dict[Key, int]:
    return {(metric, name): n for (_, _, metric, name), n in truth.items()}


def parse_late(value: str) -> tuple[float, float]:
    low, _, high = value.partition("-")
    bounds = (parse_duration(low), parse_duration(high or low))
    if not 0 <= bounds[0] <= bounds[1]:
        raise argparse.ArgumentTypeError(f"{value!r}: want MIN-MAX, e.g. 1m-10m")
    return bounds


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="minutes of traffic")
    parser.add_argument("--lookback", type=parse_duration, default=parse_duration("15m"))
    parser.add_argument("--outage", type=parse_duration, help="default: lookback + 2m")
    parser.add_argument("--late", type=parse_late, default=(60.0, 600.0), help="e.g. 1m-10m")
    parser.add_argument("--interval", type=parse_duration, default=parse_duration("30s"))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--without",
        action="append",
        choices=("reloads", "outage"),
        default=[],
        help="leave out the reloads or the outage (repeatable), to tell their losses apart",
    )
    parser.add_argument("--workdir", type=Path, help="keep the daemon's config and log here")
    args = parser.parse_args(argv)
    args.outage = args.outage if args.outage is not None else args.lookback + 120
    if args.lookback < args.interval + PERIOD + args.late[1]:
        parser.error("--lookback must cover interval + period + the latest publication")
    if args.lookback > 15 * 86_400:
        parser.error("--lookback must be at most 15d (CloudWatch keeps 1-minute data 15 days)")
    if args.outage <= args.lookback and "outage" not in args.without:
        parser.error("--outage must be longer than --lookback")
    with tempfile.TemporaryDirectory(prefix="ses-exporter-ground-truth-") as tmp:
        result = run(args, args.workdir or Path(tmp))
        print()
        print(table(result.rows))
        print()
        report(result, args)
        lost = sum(r.lost for r in result.rows)
        double = sum(r.double for r in result.rows)
        invented = [f"{r.family}{{{s}}}" for r in result.rows for s in r.invented]
        print(f"lost {lost:g}, double-counted {double:g}")
        if invented:
            print(f"invented series (AWS has no such metric): {', '.join(invented)}")
    return 1 if lost or double or invented else 0


def report(result: Result, args: argparse.Namespace) -> None:
    p = result.publisher
    sent = sum(p.truth.values())
    late = "-".join(format_duration(t) for t in p.traffic.late)
    outage = ", ".join(f"{op} {n}" for op, n in result.outage_calls.items())
    print(
        f"seed {args.seed}; {sent} events in {len(p.truth)} series; {p.datapoints} datapoints "
        f"published {late} late, "
        f"{p.revisions} of them upward revisions; publish errors {p.errors}"
    )
    print(
        f"daemon: interval {format_duration(args.interval)}, period {format_duration(PERIOD)}, "
        f"lookback {format_duration(args.lookback)}; failed polls {result.failed_polls}; "
        f"requests seen by the proxy by the end of the outage: {outage}; counter resets "
        f"seen {len(result.counted.resets)}"
    )
    for row in result.rows:
        if row.off:
            print(f"  {row.family}, sent -> counted: {'; '.join(row.off)}")
    for line in result.counted.resets[:10]:
        print(f"  reset: {line}")


if __name__ == "__main__":
    sys.exit(main())
