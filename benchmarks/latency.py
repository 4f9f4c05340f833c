"""/metrics latency: timings, the floor (the same bytes served from memory), poll windows.

The floor is what no renderer can beat: a child process (``python latency.py FILE``)
serves the bytes of one scrape from memory with the same stdlib HTTP stack
(``http.server``, HTTP/1.1 keep-alive), and ``world.Scraper`` times it exactly as it
times the daemon.

``poll_windows`` reads from a scrape when each collector's last successful poll ran
(``last_success_timestamp_seconds - duration_seconds`` to ``last_success``), so scrapes
can be sorted afterwards into those that overlapped a poll and those that did not.
"""

from __future__ import annotations

import gzip
import math
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Self

from ses_exporter.exposition import GzipPrefix
from ses_exporter.scrape import GZIP_LEVEL

_SELF_START = b"# HELP ses_exporter_collector_success "
_WINDOW = re.compile(
    rb'^ses_exporter_collector_(last_success_timestamp|duration)_seconds\{[^}]*collector="(\w+)"'
    rb"[^}]*\} (\S+)$",
    re.MULTILINE,
)


@dataclass(frozen=True)
class Timing:
    median: float  # seconds
    p99: float
    count: int = 0


def timing(samples: Sequence[float]) -> Timing:
    """Median and 99th percentile (nearest rank) of durations in seconds."""
    ordered = sorted(samples)
    if not ordered:
        return Timing(math.nan, math.nan, 0)
    rank = max(1, math.ceil(0.99 * len(ordered)))
    return Timing(statistics.median(ordered), ordered[rank - 1], len(ordered))


def time_calls(call: Callable[[], object], times: int) -> list[float]:
    durations = []
    for _ in range(times):
        started = time.perf_counter()
        call()
        durations.append(time.perf_counter() - started)
    return durations


def series_count(body: bytes) -> int:
    return sum(1 for line in body.split(b"\n") if line and not line.startswith(b"#"))


def self_tail(body: bytes) -> bytes:
    """The self-metrics of a scrape from ses_exporter_collector_success on (they follow the
    SES families): what ``polls.self_metrics`` and ``poll_windows`` read."""
    return body[max(body.rfind(_SELF_START), 0) :]


def poll_windows(body: bytes) -> dict[str, tuple[float, float]]:
    """collector -> (start, end) of its last successful poll, in Unix time (one target).

    Reads only the self-metrics at the end of the body (a full parse would cost the
    benchmark more CPU than the daemon's scrape)."""
    tail = self_tail(body)
    last: dict[str, float] = {}
    duration: dict[str, float] = {}
    for kind, collector, value in _WINDOW.findall(tail):
        into = last if kind == b"last_success_timestamp" else duration
        into[collector.decode()] = float(value)
    return {c: (end - duration[c], end) for c, end in last.items() if c in duration}


def gzip_costs(body: bytes, times: int = 20) -> tuple[dict[str, float], dict[str, int]]:
    """Seconds (median, in this process) and bytes of gzip for one scrape: the whole body
    at level 1 and at 6 (what a scrape costs when the results changed since the last
    one), and the daemon's way when they did not (the SES part compressed once per
    content version at ``scrape.GZIP_LEVEL``; each scrape compresses only the
    self-metrics after it)."""
    split = body.rfind(b"# HELP ses_exporter_build_info ")
    prefix, tail = body[:split], body[split:]
    cached = GzipPrefix("bench", prefix, GZIP_LEVEL)
    ways: dict[str, Callable[[], bytes]] = {
        "level 1, all": lambda: gzip.compress(body, 1, mtime=0),
        "level 6, all": lambda: gzip.compress(body, 6, mtime=0),
        f"level {GZIP_LEVEL}, self-metrics only": lambda: cached.finish(tail),
    }
    seconds = {way: timing(time_calls(call, times)).median for way, call in ways.items()}
    sizes = {way: len(call()) for way, call in ways.items()}
    return seconds, sizes


class StaticServer:
    """``python latency.py FILE`` in a child process: the floor's server."""

    def __init__(self, body_file: Path):
        self.proc = subprocess.Popen(
            [sys.executable, __file__, str(body_file)],
            stdout=subprocess.PIPE,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode().split()
        if line[:1] != ["ready"]:
            raise RuntimeError("static server did not start")
        self.port = int(line[1])

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def serve(body: bytes) -> None:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(f"ready {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    serve(Path(sys.argv[1]).read_bytes())
