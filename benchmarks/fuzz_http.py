"""Fuzz the web server for a long run: the properties of tests/test_fuzz_http.py, many cases.

Usage: ``python benchmarks/fuzz_http.py [--cases 100000] [--workers 8] [--seed 1]``
(or ``benchmarks/fuzz_http``). Prints a Markdown table; exits 1 if any case failed.

The generators and the oracle are tests/httpfuzz.py's (its docstring says what is
checked). Two servers run in this process, as in the tests: plain HTTP, and TLS with
basic auth. ``--cases`` is split across the properties by weight; hypothesis generates
each property's cases from ``--seed`` (generation only: a failure is counted and its
bytes printed, not shrunk), and ``--workers`` threads send them at once, so the server
also sees that many hostile connections together. The cases that do not hang up wait
for the server's deadlines (3 s each), so they are a small share.

Per property: cases, failed cases (a wrong or malformed answer, a connection open 30 s
after the client was done, or an exception, warning or traceback from the server while
the property ran), cases whose client was starved past the server's deadlines before it
had sent everything (on a loaded machine; the server may then close unanswered, as for
any client that slow), connections the server still tracks 30 s after the last case, the
process's RSS (servers and clients together) before and after, and the wall time. A
scraper fetches /metrics from each server every 0.2 s throughout; its failures count too.
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from hypothesis import HealthCheck, Phase, given, seed, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from tests import httpfuzz  # noqa: E402 - after the path set-up
from tests.httpfuzz import Exchange, Served  # noqa: E402
from tests.pki import make_pki  # noqa: E402


@dataclass(frozen=True)
class Property:
    name: str
    tls: bool
    weight: float
    strategy: st.SearchStrategy[Exchange]
    raw_tls: bool = False  # bytes straight onto the TLS port, no handshake
    at_most: int | None = None


PROPERTIES = (
    Property("request lines", False, 20, httpfuzz.singles(httpfuzz.request_lines())),
    Property("headers", False, 20, httpfuzz.singles(httpfuzz.header_sets())),
    Property("bodies, Transfer-Encoding", False, 15, httpfuzz.singles(httpfuzz.bodies())),
    Property("pipelined", False, 10, httpfuzz.pipelines()),
    Property("half-closed", False, 10, httpfuzz.half_closed()),
    Property("no hang-up (deadlines)", False, 0.2, httpfuzz.kept_open(), at_most=300),
    Property(
        "TLS + basic auth",
        True,
        15,
        st.one_of(
            httpfuzz.singles(httpfuzz.any_request(auth=True)),
            httpfuzz.pipelines(auth=True),
            httpfuzz.half_closed(auth=True),
        ),
    ),
    Property("TLS port, no TLS", True, 10, httpfuzz.tls_junk(), raw_tls=True),
)


@dataclass
class Result:
    name: str
    port: str
    cases: int = 0
    failures: int = 0
    late: int = 0  # cases whose client was starved past the server's deadlines (no failure)
    open_after: int = 0
    rss_start: int = 0
    rss_end: int = 0
    seconds: float = 0.0
    examples: list[str] = field(default_factory=list)


def run_property(
    prop: Property, served: Served, cases: int, workers: int, watch: httpfuzz.Watch, run_seed: int
) -> Result:
    result = Result(prop.name, "HTTPS" if prop.tls else "HTTP")
    lock = threading.Lock()
    slots = threading.BoundedSemaphore(workers * 4)  # generation stays a little ahead
    pool = ThreadPoolExecutor(workers, thread_name_prefix="fuzz-client")
    futures: list[Future[None]] = []

    def send(exchange: Exchange) -> None:
        try:
            outcome = httpfuzz.run_exchange(
                served.port, exchange, served.context, httpfuzz.PATIENCE, prop.raw_tls
            )
            found = httpfuzz.problems(exchange, outcome, httpfuzz.PATIENCE)
            with lock:
                result.cases += 1
                result.late += outcome.late
                if result.cases % 2000 == 0:
                    rate = result.cases / (time.monotonic() - started)
                    print(f"  {prop.name}: {result.cases} cases, {rate:.0f}/s", file=sys.stderr)
                if found:
                    result.failures += 1
                    if len(result.examples) < 5:
                        result.examples.append(f"{found} for {exchange.data[:200]!r}")
        finally:
            slots.release()

    @settings(
        max_examples=cases,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @seed(run_seed)
    @given(prop.strategy)
    def generate(exchange: Exchange) -> None:
        slots.acquire()
        futures.append(pool.submit(send, exchange))

    gc.collect()
    result.rss_start = httpfuzz.rss_bytes()
    failures_before = len(watch.failures)
    started = time.monotonic()
    generate()
    pool.shutdown(wait=True)
    for future in futures:
        future.result()  # a bug in this script, not in the server: let it show
    result.seconds = time.monotonic() - started
    result.open_after = httpfuzz.wait_for_no_connections(served)
    gc.collect()
    result.rss_end = httpfuzz.rss_bytes()
    server_failures = watch.failures[failures_before:]
    result.failures += len(server_failures)
    result.examples += server_failures[:3]
    return result


def table(results: list[Result], scrapers: dict[str, httpfuzz.Scraper], seconds: float) -> str:
    mb = 1024 * 1024
    lines = [
        "| property | port | cases | failed | client late | open after | RSS start → end (MB) "
        "| wall (s) |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.name} | {r.port} | {r.cases:,} | {r.failures} | {r.late} | {r.open_after} "
            f"| {r.rss_start / mb:.0f} → {r.rss_end / mb:.0f} | {r.seconds:.0f} |"
        )
    cases = sum(r.cases for r in results)
    failed = sum(r.failures for r in results)
    first, last = results[0].rss_start / mb, results[-1].rss_end / mb
    open_after = sum(r.open_after for r in results)
    late = sum(r.late for r in results)
    lines.append(
        f"| **all** | | **{cases:,}** | **{failed}** | **{late}** | **{open_after}** "
        f"| **{first:.0f} → {last:.0f}** | **{seconds:.0f}** |"
    )
    scrapes = ", ".join(
        f"{port}: {s.ok:,} scrapes answered 200, {len(s.failures)} failed"
        for port, s in scrapers.items()
    )
    note = (
        "Client late: the client took longer than the server's deadlines from connecting to "
        "its last byte (a starved thread); an unanswered request is then no failure."
    )
    failed = [f"- {port} {failure}" for port, s in scrapers.items() for failure in s.failures[:5]]
    return "\n".join([*lines, "", f"Meanwhile /metrics: {scrapes}.", *failed, "", note, ""])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=100_000, help="split across properties")
    parser.add_argument("--workers", type=int, default=8, help="connections sent at once")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    weights = sum(p.weight for p in PROPERTIES)
    servers = {
        False: httpfuzz.serve(),
        True: httpfuzz.serve(make_pki(Path(tempfile.mkdtemp(prefix="fuzz-pki-")))),
    }
    scrapers = {  # every 0.2 s: TLS handshakes cost the fuzzing's CPU on a busy machine
        "HTTP": httpfuzz.Scraper(servers[False], interval=0.2),
        "HTTPS": httpfuzz.Scraper(servers[True], interval=0.2),
    }
    watch = httpfuzz.Watch()
    results: list[Result] = []
    started = time.monotonic()
    progress: Callable[[str], None] = lambda text: print(text, file=sys.stderr, flush=True)  # noqa: E731
    with watch.installed(), scrapers["HTTP"], scrapers["HTTPS"]:
        for prop in PROPERTIES:
            cases = max(1, round(args.cases * prop.weight / weights))
            cases = min(cases, prop.at_most or cases)
            result = run_property(prop, servers[prop.tls], cases, args.workers, watch, args.seed)
            results.append(result)
            progress(
                f"{prop.name}: {result.cases} cases, {result.failures} failed, "
                f"{result.seconds:.0f} s"
            )
            for example in result.examples:
                progress(f"  {example[:2000]}")
    for served in servers.values():
        served.server.shutdown()
    print(table(results, scrapers, time.monotonic() - started))
    failed = sum(r.failures for r in results) + sum(len(s.failures) for s in scrapers.values())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
