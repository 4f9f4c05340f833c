"""moto's CloudWatch made to answer GetMetricData as CloudWatch does, for every test double.

moto 5.2 answers a GetMetricData query without dimensions with the sum over every
dimension set of that metric name. CloudWatch never aggregates across dimension sets: a
query reads exactly the metric with the query's dimensions ("CloudWatch treats each
unique combination of dimensions as a separate metric", the CloudWatch concepts guide),
so a query without dimensions reads only datapoints published without dimensions. The
exporter's account-wide counters depend on exactly that (SES publishes Open and Click
only per configuration set), so every moto the tests and benchmarks run is patched:

* ``get_metric_data``: datapoints indexed by (namespace, name, dimension set) once per
  request, then moto's own code runs per query on that query's metric alone. Besides
  making it exact, the index makes it fast: moto scans every datapoint for every period
  of every query (about a minute per poll at 1,000 configuration sets);
* ``get_filtered_metrics`` (ListMetrics): moto's, with its already-seen check done by a
  set instead of a comparison with every metric found before.

``install()`` patches moto's class in this process (the ``aws`` fixture, the moto server
child processes); ``installed()`` does it for a ``with`` block and undoes it after.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from types import SimpleNamespace
from typing import Any

from moto.cloudwatch.models import CloudWatchBackend, MetricDatumBase

Key = tuple[str, str, tuple[tuple[str, str], ...]]
_ORIGINAL = (CloudWatchBackend.get_metric_data, CloudWatchBackend.get_filtered_metrics)


def _key(namespace: str, name: str, dimensions: Sequence[Any]) -> Key:
    return (namespace, name, tuple(sorted((d.name, d.value) for d in dimensions)))


def _query_key(query: dict[str, Any]) -> Key:
    metric = query["MetricStat"]["Metric"]
    pairs = [
        SimpleNamespace(name=d["Name"], value=d["Value"]) for d in metric.get("Dimensions", [])
    ]
    return _key(metric["Namespace"], metric["MetricName"], pairs)


def _exact_get_metric_data(original: Callable[..., list[dict[str, Any]]]) -> Callable[..., Any]:
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


def install() -> None:
    """Patch moto's CloudWatch in this process (idempotent)."""
    get_metric_data, _ = _ORIGINAL
    CloudWatchBackend.get_metric_data = _exact_get_metric_data(get_metric_data)  # type: ignore[method-assign]
    CloudWatchBackend.get_filtered_metrics = _deduplicated_filtered_metrics  # type: ignore[method-assign]


def uninstall() -> None:
    CloudWatchBackend.get_metric_data, CloudWatchBackend.get_filtered_metrics = _ORIGINAL  # type: ignore[method-assign]


@contextlib.contextmanager
def installed() -> Iterator[None]:
    install()
    try:
        yield
    finally:
        uninstall()
