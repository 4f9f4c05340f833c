"""moto's server for the benchmark, with CloudWatch made fast enough for 6,000 metrics.

Usage: ``python benchmarks/moto_server.py`` listens on 127.0.0.1, on a free port it prints
("ready PORT"), until its standard input is closed.

moto 5.2.1 answers every GetMetricData query by scanning every datapoint of the account
once per period of the window, and deduplicates ListMetrics by comparing each metric with
every metric found before: O(queries x datapoints) and O(metrics^2) in pure Python, about a
minute per poll at 1,000 configuration sets. That is moto's time, not the exporter's, so
this server indexes the datapoints by (namespace, name, dimensions) first. The answers are
moto's own (its code runs on the matching datapoints), with one difference that makes moto
more like CloudWatch: a query without dimensions reads only the metric without dimensions
(plain moto sums every dimension set of that name).

Nothing here touches the exporter: it talks to this server over HTTP like to AWS.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from collections.abc import Callable, Sequence
from types import SimpleNamespace
from typing import Any

from moto.cloudwatch.models import CloudWatchBackend, MetricDatumBase
from moto.server import ThreadedMotoServer

Key = tuple[str, str, tuple[tuple[str, str], ...]]


def _key(namespace: str, name: str, dimensions: Sequence[Any]) -> Key:
    return (namespace, name, tuple(sorted((d.name, d.value) for d in dimensions)))


def _query_key(query: dict[str, Any]) -> Key:
    metric = query["MetricStat"]["Metric"]
    pairs = [
        SimpleNamespace(name=d["Name"], value=d["Value"]) for d in metric.get("Dimensions", [])
    ]
    return _key(metric["Namespace"], metric["MetricName"], pairs)


def _indexed_get_metric_data(original: Callable[..., list[dict[str, Any]]]) -> Callable[..., Any]:
    def get_metric_data(
        self: CloudWatchBackend,
        queries: list[dict[str, Any]],
        start_time: Any,
        end_time: Any,
        scan_by: str = "TimestampAscending",
    ) -> list[dict[str, Any]]:
        if any("MetricStat" not in q for q in queries):
            return original(self, queries, start_time, end_time, scan_by)
        index: dict[Key, list[MetricDatumBase]] = defaultdict(list)
        for datum in self.get_all_metrics():
            index[_key(datum.namespace, datum.name, datum.dimensions)].append(datum)
        results = []
        for query in queries:
            data = index.get(_query_key(query), [])
            only = SimpleNamespace(get_all_metrics=lambda data=data: data)
            results += original(only, [query], start_time, end_time, scan_by)
        return results

    return get_metric_data


def _deduplicated_filtered_metrics(
    self: CloudWatchBackend, metric_name: str, namespace: str, dimensions: list[dict[str, str]]
) -> list[MetricDatumBase]:
    """moto's get_filtered_metrics, with the already-seen check done by a set."""
    seen: set[Key] = set()
    found = []
    for datum in self.get_all_metrics():
        if not datum.filter(namespace=namespace, name=metric_name, dimensions=dimensions):
            continue
        key = _key(datum.namespace, datum.name, datum.dimensions)
        if datum.dimensions and key in seen:
            continue
        seen.add(key)
        found.append(datum)
    return found


def main() -> None:
    CloudWatchBackend.get_metric_data = _indexed_get_metric_data(  # type: ignore[method-assign]
        CloudWatchBackend.get_metric_data
    )
    CloudWatchBackend.get_filtered_metrics = _deduplicated_filtered_metrics  # type: ignore[method-assign]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    print("ready", server.get_host_and_port()[1], flush=True)
    try:
        sys.stdin.read()  # until the parent closes our stdin (or kills us)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
