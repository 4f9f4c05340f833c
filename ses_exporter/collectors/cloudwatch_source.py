"""The AWS half of the ``cloudwatch`` collector: ListMetrics discovery, batched GetMetricData.

* ``discover_metrics``: cloudwatch ListMetrics(Namespace="AWS/SES"), every page. It says
  which metrics exist account-wide (no dimensions) and per configuration set (exactly the
  dimension ``ses:configuration-set``); other dimension sets (``ses:caller-identity``,
  custom message tags) are not what the console shows and are ignored.
* ``fetch_metric_data``: cloudwatch GetMetricData for a window, in the requests of
  ``plan_requests`` (the API's limits of 500 queries and 100,800 datapoints a call, each
  query billed once), following NextToken (``aws.next_token_pages``, which fails on a
  repeated token). CloudWatch bills per metric requested, in every request, so each
  answered request reports ``len(batch)`` metrics.

Both return frozen snapshots of plain values; nothing here knows about Prometheus.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from math import lcm
from typing import TYPE_CHECKING

from ..aws import RETENTION, next_token_pages, retention

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_cloudwatch.type_defs import (
        GetMetricDataInputTypeDef,
        MetricDataQueryTypeDef,
        MetricDataResultTypeDef,
        MetricOutputTypeDef,
        MetricStatTypeDef,
        MetricTypeDef,
    )

NAMESPACE = "AWS/SES"
SET_DIMENSION = "ses:configuration-set"
MAX_QUERIES_PER_CALL = 500  # GetMetricData's limit of MetricDataQueries per request
# GetMetricData: "as many as 500 different metrics in a single request, with a total of
# as many as 100,800 data points" (the API reference; MaxDatapoints defaults to it).
MAX_DATAPOINTS_PER_CALL = 100_800
MINUTE = 60
DAY = 86_400

# (CloudWatch metric name, configuration set or None for the account-wide metric)
MetricKey = tuple[str, str | None]
# Datapoints of one query: (unix timestamp, value), newest first.
Points = tuple[tuple[float, float], ...]


class CloudWatchDataError(Exception):
    """GetMetricData answered, but not with usable data (InternalError or Forbidden)."""


@dataclass(frozen=True)
class Discovery:
    """The AWS/SES metrics that exist, as far as the exporter cares."""

    metrics: frozenset[MetricKey]


@dataclass(frozen=True)
class Query:
    """One MetricDataQuery; ``id`` matches ^[a-z][a-zA-Z0-9_]*$ as the API requires."""

    id: str
    metric: str
    configuration_set: str | None
    stat: str  # "Sum" or "Average"


@dataclass(frozen=True)
class Window:
    """[start, end) in unix seconds, both multiples of ``period``."""

    start: float
    end: float
    period: int


@dataclass(frozen=True)
class MetricData:
    """Every query of one poll with its datapoints (possibly none)."""

    results: tuple[tuple[Query, Points], ...]


def discover_metrics(cloudwatch: CloudWatchClient, names: Collection[str]) -> Discovery:
    """cloudwatch ListMetrics(Namespace=AWS/SES), all pages -> the ``names`` that exist."""
    found: set[MetricKey] = set()
    for page in cloudwatch.get_paginator("list_metrics").paginate(Namespace=NAMESPACE):
        for metric in page.get("Metrics", []):
            key = _metric_key(metric)
            if key is not None and key[0] in names:
                found.add(key)
    return Discovery(frozenset(found))


def _metric_key(metric: MetricOutputTypeDef) -> MetricKey | None:
    name = metric.get("MetricName")
    dimensions = metric.get("Dimensions", [])
    if not name:
        return None
    if not dimensions:
        return (name, None)
    if len(dimensions) == 1 and dimensions[0].get("Name") == SET_DIMENSION:
        return (name, dimensions[0].get("Value"))
    return None


def plan_queries(keys: Iterable[MetricKey], stat_of: Mapping[str, str]) -> tuple[Query, ...]:
    """One query per metric key, account-wide first, then by set and name; ids q0, q1, ..."""
    ordered = sorted(keys, key=lambda k: (k[1] is not None, k[1] or "", k[0]))
    return tuple(
        Query(f"q{index}", name, configuration_set, stat_of[name])
        for index, (name, configuration_set) in enumerate(ordered)
    )


def trailing_window(now: float, period: float, lookback: float) -> Window:
    """[now - lookback, now] widened to whole periods (CloudWatch aligns buckets to them).

    The end is rounded up so the current, still-growing period is read too: counters add
    its growth at the next poll, and reputation shows the freshest datapoint.
    """
    step = int(period)
    start = math.floor((now - lookback) / step) * step
    end = math.ceil(now / step) * step
    return Window(float(start), float(max(end, start + step)), step)


def read_windows(start: float, end: float, period: int, now: float) -> tuple[Window, ...]:
    """[start, end) as CloudWatch can still answer it, oldest first.

    The part within ``retention(period)`` is one window at ``period`` (start rounded down
    to it). Older parts are read at the coarser periods CloudWatch keeps them at (300 s,
    then 3600 s, each a multiple of ``period``), one window each, every boundary on both
    grids; anything older than the coarsest retention cannot be read and is left out.
    Each boundary keeps one coarse period of margin from the retention edge, so that no
    window starts at a time CloudWatch has just dropped.
    """
    coarser = [lcm(period, step) for step, _ in RETENTION if lcm(period, step) > period]
    steps = [period, *dict.fromkeys(coarser)]
    windows: list[Window] = []
    high = math.ceil(end / period) * period
    for index, step in enumerate(steps):
        low = math.floor(start / step) * step
        if index + 1 < len(steps):
            outer = steps[index + 1]
            oldest = now - retention(step) + outer
            low = max(low, math.ceil(oldest / outer) * outer)
        else:
            oldest = now - retention(step) + step
            low = max(low, math.ceil(oldest / step) * step)
        if low < high:
            windows.append(Window(float(low), float(high), step))
            high = low
        if low <= start:
            break
    return tuple(reversed(windows))


def plan_requests(queries: Sequence[Query], window: Window) -> list[tuple[Sequence[Query], Window]]:
    """The GetMetricData requests for ``queries`` over ``window``, within both limits of one
    call: 500 queries and 100,800 datapoints.

    CloudWatch bills every metric of every request, and requests themselves are free, so
    the window is never cut while a whole query fits: batches of (nearly) equal size, at
    most floor(100,800 / periods in the window) queries each (500 at most), bill each
    query once. Only a query whose window alone holds more than 100,800 periods (none
    that CloudWatch keeps: 15 days of minutes are 21,600) is read in time slices.
    """
    if not queries:
        return []
    periods = math.ceil((window.end - window.start) / window.period)
    size = max(1, min(MAX_QUERIES_PER_CALL, MAX_DATAPOINTS_PER_CALL // periods))
    batches = math.ceil(len(queries) / size)
    size = math.ceil(len(queries) / batches)
    span = MAX_DATAPOINTS_PER_CALL * window.period
    requests: list[tuple[Sequence[Query], Window]] = []
    for first in range(0, len(queries), size):
        batch = queries[first : first + size]
        start = window.start
        while start < window.end:
            end = min(start + span, window.end)
            requests.append((batch, Window(start, end, window.period)))
            start = end
    return requests


def fetch_metric_data(
    cloudwatch: CloudWatchClient,
    queries: Sequence[Query],
    window: Window,
    count_metrics: Callable[[int], None],
) -> MetricData:
    """cloudwatch GetMetricData, one request per ``plan_requests``, each to its last page."""
    merged: dict[str, dict[float, float]] = {query.id: {} for query in queries}
    for batch, part in plan_requests(queries, window):
        _fetch_batch(cloudwatch, batch, part, count_metrics, merged)
    return MetricData(
        tuple((query, tuple(sorted(merged[query.id].items(), reverse=True))) for query in queries)
    )


def _fetch_batch(
    cloudwatch: CloudWatchClient,
    batch: Sequence[Query],
    window: Window,
    count_metrics: Callable[[int], None],
    merged: dict[str, dict[float, float]],
) -> None:
    request: GetMetricDataInputTypeDef = {
        "MetricDataQueries": [_query(query, window.period) for query in batch],
        "StartTime": datetime.fromtimestamp(window.start, UTC),
        "EndTime": datetime.fromtimestamp(window.end, UTC),
        "ScanBy": "TimestampDescending",
    }
    by_id = {query.id: query for query in batch}
    # PartialData means "more on the next page"; the pages follow NextToken either way.
    for answer in next_token_pages("GetMetricData", cloudwatch.get_metric_data, request):
        count_metrics(len(batch))  # every answered request bills all metrics it asked for
        for result in answer.get("MetricDataResults", []):
            _merge(result, by_id, merged)


def _query(query: Query, period: int) -> MetricDataQueryTypeDef:
    metric: MetricTypeDef = {"Namespace": NAMESPACE, "MetricName": query.metric}
    if query.configuration_set is not None:
        metric["Dimensions"] = [{"Name": SET_DIMENSION, "Value": query.configuration_set}]
    stat: MetricStatTypeDef = {"Metric": metric, "Period": period, "Stat": query.stat}
    return {"Id": query.id, "MetricStat": stat}


def _merge(
    result: MetricDataResultTypeDef,
    by_id: Mapping[str, Query],
    merged: dict[str, dict[float, float]],
) -> None:
    query = by_id.get(result.get("Id", ""))
    if query is None:
        return  # not one of ours: nothing to map it to
    status = result.get("StatusCode", "Complete")
    if status in ("InternalError", "Forbidden"):
        where = query.metric + (f" of {query.configuration_set}" if query.configuration_set else "")
        raise CloudWatchDataError(f"GetMetricData: {status} for {where}")
    points = merged[query.id]
    for timestamp, value in zip(
        result.get("Timestamps", []), result.get("Values", []), strict=False
    ):
        points[timestamp.timestamp()] = float(value)
