"""/metrics latency of the daemon, and the floor: prometheus_client rendering the same series.

The floor parses one scrape into metric families, serves them from a collector that only
returns the prebuilt families, in a fresh ``CollectorRegistry``, and times
``generate_latest`` on it in this process. The daemon's time also includes HTTP (request
parsing, the response over loopback) and building its families from the snapshot store.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector


@dataclass(frozen=True)
class Timing:
    median: float  # seconds
    p99: float


def timing(samples: Sequence[float]) -> Timing:
    """Median and 99th percentile (nearest rank) of durations in seconds."""
    ordered = sorted(samples)
    rank = max(1, math.ceil(0.99 * len(ordered)))
    return Timing(statistics.median(ordered), ordered[rank - 1])


class Prebuilt(Collector):
    def __init__(self, families: Sequence[Metric]):
        self.families = families

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        return iter(self.families)


def floor_registry(body: bytes) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(Prebuilt(list(text_string_to_metric_families(body.decode()))))
    return registry


def time_calls(call: Callable[[], object], times: int) -> list[float]:
    durations = []
    for _ in range(times):
        started = time.perf_counter()
        call()
        durations.append(time.perf_counter() - started)
    return durations


def floor(body: bytes, times: int) -> tuple[Timing, int]:
    """generate_latest on a registry holding the scrape's series; returns its output size too."""
    registry = floor_registry(body)
    size = len(generate_latest(registry))
    return timing(time_calls(lambda: generate_latest(registry), times)), size


def series_count(body: bytes) -> int:
    return sum(1 for line in body.split(b"\n") if line and not line.startswith(b"#"))
