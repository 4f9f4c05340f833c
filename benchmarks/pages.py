"""Pages benchmark: the fleet view and a target view at 1,500 targets.

Usage: ``python benchmarks/pages.py [--targets 1500] [--sets 2] [--views 200]``

1. Fills a real ``ResultStore`` with what the daemon holds after a round of polls of
   ``--targets`` targets (accounts x 3 regions): the account, cloudwatch, configuration_sets
   and send_statistics results, made by the collectors' own family builders (so kept
   rendered, as the daemon keeps them), ``--sets`` configuration sets per target, and two
   weeks of hourly sums per target as the send_statistics collector keeps them.
2. Serves the real pages (``pages.Pages``, the daemon's ``page``) through the real
   ``web.WebServer`` on 127.0.0.1, and GETs over one keep-alive connection, ``--views``
   times each: the fleet view's first page, a filtered one, and a target view with its
   14-day charts. Between two views of the fleet, 25 account results are replaced (what
   1,500 targets' polls every 60 s write in a second), so the view re-reads what changed.
3. Prints one Markdown table: per view the server's time (request written to response
   read; the client is the same process, so it includes a little of the client) at p50
   and p99, the time of the first (cold) view, and the HTML size.

Not a test: it takes about a minute and wants the machine to itself. Exits 0.
"""

from __future__ import annotations

import argparse
import http.client
import statistics
import sys
import time
from array import array
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ses_exporter.collectors.account import AccountSnapshot, account_families  # noqa: E402
from ses_exporter.collectors.cloudwatch import (  # noqa: E402
    CloudWatchSnapshot,
    cloudwatch_families,
)
from ses_exporter.collectors.configuration_sets import (  # noqa: E402
    ConfigurationSetSnapshot,
    configuration_set_families,
)
from ses_exporter.collectors.send_statistics import send_statistics_families  # noqa: E402
from ses_exporter.config_types import ReputationThresholds  # noqa: E402
from ses_exporter.pages import Hourly, Pages, Source  # noqa: E402
from ses_exporter.store import ResultStore  # noqa: E402
from ses_exporter.web import WebServer  # noqa: E402

REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-2")
STATUSES = ("HEALTHY",) * 97 + ("PROBATION", "PROBATION", "SHUTDOWN")
THRESHOLDS = ReputationThresholds()
CHANGED_PER_VIEW = 25


class World:
    """The store and hourly sums of ``targets`` targets, and a WebApp serving their pages."""

    version = "benchmark"

    def __init__(self, targets: int, sets: int) -> None:
        self.store = ResultStore()
        self.now = time.time()
        self.names: dict[str, str] = {}
        self.hourly: dict[tuple[str, str], Hourly] = {}
        self.pages = Pages()
        self.targets: list[tuple[str, str]] = []
        first_hour = int(self.now // 3600) * 3600 - 14 * 24 * 3600
        for i in range(targets):
            account_id, region = f"{200_000_000_000 + i // 3}", REGIONS[i % 3]
            self.targets.append((account_id, region))
            self.names[account_id] = f"team-{i // 3:04d}-mail"
            labels = {"account_id": account_id, "region": region}
            set_names = [f"set-{n}" for n in range(sets)]
            reputation = [(("bounce", None), (self.now, 0.01 + i % 7 / 100))]
            reputation += [(("complaint", None), (self.now, 0.0002))]
            for name in set_names:
                reputation += [(("bounce", name), (self.now, 0.02))]
                reputation += [(("complaint", name), (self.now, 0.0001))]
            counters = tuple(((m, None), 1000.0 + i) for m in ("Send", "Delivery", "Bounce"))
            results = {
                "account": account_families(self.snapshot(i, 0), region, labels),
                "cloudwatch": cloudwatch_families(
                    CloudWatchSnapshot(counters, tuple(reputation)), THRESHOLDS, labels
                ),
                "configuration_sets": configuration_set_families(
                    sets,
                    [ConfigurationSetSnapshot(n, True, True, None) for n in set_names],
                    labels,
                ),
                "send_statistics": send_statistics_families(
                    {"delivery_attempts": 1e6, "bounces": 1e4, "complaints": 10, "rejects": 5},
                    labels,
                ),
            }
            for collector, families in results.items():
                key = (account_id, region, collector)
                self.store.register(key, account_id, 900.0)
                self.store.record_success(key, account_id, families, self.now - 1, self.now)
            hours = 14 * 24 + 1
            self.hourly[(account_id, region)] = (
                float(first_hour),
                {
                    "sends": array("q", [1_000 + (h * 37 + i) % 500 for h in range(hours)]),
                    "rejects": array("q", [h % 3 for h in range(hours)]),
                    "bounces": array("q", [20 + h % 11 for h in range(hours)]),
                    "complaints": array("q", [h % 2 for h in range(hours)]),
                },
            )
        self._changes = 0

    def snapshot(self, i: int, change: int) -> AccountSnapshot:
        return AccountSnapshot(
            max_24_hour_send=50_000.0,
            max_send_rate=14.0,
            sent_last_24_hours=float((i * 97 + change) % 50_000),
            sending_enabled=True,
            production_access_enabled=i % 10 != 0,
            enforcement_status=STATUSES[i % len(STATUSES)],
            info=(("mail_type", "TRANSACTIONAL"),),
            source="GetAccount",
        )

    def poll_some(self) -> None:
        """New account results for CHANGED_PER_VIEW targets, as their polls would write."""
        for _ in range(CHANGED_PER_VIEW):
            self._changes += 1
            i = self._changes * 7919 % len(self.targets)
            account_id, region = self.targets[i]
            labels = {"account_id": account_id, "region": region}
            families = account_families(self.snapshot(i, self._changes), region, labels)
            key = (account_id, region, "account")
            self.store.record_success(key, account_id, families, self.now - 1, self.now)

    # --- web.WebApp ---------------------------------------------------------------------

    def render_metrics(self, accept_header: str | None, gzip: bool = False) -> tuple[bytes, str]:
        return b"", "text/plain"

    def is_ready(self) -> bool:
        return True

    def page(self, path: str, query: str) -> tuple[int, str, bytes] | None:
        source = Source(
            self.store.statuses(),
            self.names,
            THRESHOLDS,
            lambda a, r: self.hourly.get((a, r)),
            self.now,
            self.version,
        )
        return self.pages.respond(path, query, source)


def measure(conn: http.client.HTTPConnection, path: str) -> tuple[float, int]:
    started = time.perf_counter()
    conn.request("GET", path)
    response = conn.getresponse()
    body = response.read()
    elapsed = time.perf_counter() - started
    assert response.status == 200, (path, response.status)
    return elapsed, len(body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--targets", type=int, default=1_500)
    parser.add_argument("--sets", type=int, default=2)
    parser.add_argument("--views", type=int, default=200)
    args = parser.parse_args()
    started = time.perf_counter()
    world = World(args.targets, args.sets)
    print(
        f"{args.targets} targets, {args.sets} configuration sets each: store filled in "
        f"{time.perf_counter() - started:.1f} s",
        file=sys.stderr,
    )
    account_id, region = world.targets[len(world.targets) // 2]
    views = [
        ("Fleet view, page 1 of 15", "/", True),
        (
            "Fleet view, filtered (`?region=eu-west-1&health=HEALTHY&page=2`)",
            "/?region=eu-west-1&health=HEALTHY&page=2",
            True,
        ),
        ("Fleet view, search (`?q=team-01`)", "/?q=team-01", True),
        ("Target view, 14-day charts", f"/targets/{account_id}/{region}?days=14", False),
    ]
    server = WebServer(world, "127.0.0.1:0")
    server.start()
    rows = []
    try:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        for title, path, fleet in views:
            world.pages = Pages()  # cold: nothing kept from earlier views
            cold, size = measure(conn, path)
            times = []
            for _ in range(args.views):
                if fleet:
                    world.poll_some()
                times.append(measure(conn, path)[0])
            times.sort()
            p99 = times[min(len(times) - 1, round(0.99 * len(times)) - 1)]
            rows.append((title, statistics.median(times), p99, cold, size))
        conn.close()
    finally:
        server.shutdown()
    print(f"\n{args.targets:,} targets, {args.views} views each (server time, ms)\n")
    print("| view | p50 | p99 | first view | HTML |")
    print("|---|---:|---:|---:|---:|")
    for title, p50, p99, cold, size in rows:
        print(
            f"| {title} | {p50 * 1000:.0f} | {p99 * 1000:.0f} | {cold * 1000:.0f} "
            f"| {size / 1024:.0f} KiB |"
        )


if __name__ == "__main__":
    main()
