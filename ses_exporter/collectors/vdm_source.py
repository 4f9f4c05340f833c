"""The AWS half of the ``vdm`` collector: sesv2 BatchGetMetricData, batched at the minimum.

What the API reference and the botocore model say, and what the collector relies on:

* a call carries 1 to 10 queries (``MAX_QUERIES_PER_CALL``), and the account may make 16
  calls and 160 queries a second: the minimum number of calls for n queries is
  ceil(n / 10), which ``plan_batches`` makes;
* a query asks for one metric (``METRICS``) in namespace VDM, filtered by ``Dimensions``
  (EMAIL_IDENTITY, CONFIGURATION_SET, ISP, TENANT_NAME -> one value each: the model's
  ``MetricDimensionValue`` is a string). Its answer is one series, the sum over
  everything the filter matches: results carry no dimension values, so one mailbox
  provider (ISP) takes a query of its own, and a query without ``Dimensions`` answers the
  whole account (providers the exporter does not list included);
* an answer is ``Results`` (Id, Timestamps, Values: counts) and ``Errors`` (Id, Code
  INTERNAL_FAILURE or ACCESS_DENIED, Message) per query. Any error fails the read (the
  counters move only when everything was answered);
* VDM keeps one datapoint per day (stamped 00:00 UTC, the day's count so far); the
  current day grows, past days are revised upwards as late bounces and complaints come
  in. Nothing here depends on the grid: datapoints are returned keyed by their time.

The calls are free; VDM itself is billed per email sent while it is enabled.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from mypy_boto3_sesv2 import SESV2Client
    from mypy_boto3_sesv2.type_defs import (
        BatchGetMetricDataQueryTypeDef,
        BatchGetMetricDataResponseTypeDef,
    )

NAMESPACE: Literal["VDM"] = "VDM"
MAX_QUERIES_PER_CALL = 10  # BatchGetMetricDataQueries: 1 to 10 a call
DAY = 86_400
# BatchGetMetricDataQuery.Metric, in the order of the collector's families.
METRICS = (
    "SEND",
    "DELIVERY",
    "PERMANENT_BOUNCE",
    "TRANSIENT_BOUNCE",
    "COMPLAINT",
    "OPEN",
    "CLICK",
    "DELIVERY_OPEN",
    "DELIVERY_CLICK",
    "DELIVERY_COMPLAINT",
)


class VdmDataError(Exception):
    """BatchGetMetricData answered, but with an error for a query (or without its result)."""


@dataclass(frozen=True, order=True)
class Slice:
    """What a query's Dimensions select: the whole account (all None), one ISP, or one ISP
    of one configuration set or identity."""

    isp: str | None = None
    configuration_set: str | None = None
    identity: str | None = None

    def dimensions(self) -> dict[str, str]:
        named = {
            "ISP": self.isp,
            "CONFIGURATION_SET": self.configuration_set,
            "EMAIL_IDENTITY": self.identity,
        }
        return {name: value for name, value in named.items() if value is not None}

    def describe(self) -> str:
        parts = [
            f"{what} {value}"
            for what, value in (
                ("configuration set", self.configuration_set),
                ("identity", self.identity),
                ("ISP", self.isp),
            )
            if value is not None
        ]
        return ", ".join(parts) or "the account"


VdmKey = tuple[str, Slice]  # (metric, slice): one query
Points = dict[float, float]  # unix seconds of a datapoint -> its count


def plan_batches(keys: Sequence[VdmKey]) -> list[Sequence[VdmKey]]:
    """The calls for ``keys``: ceil(n / 10), each full but the last (keys in their order)."""
    step = MAX_QUERIES_PER_CALL
    return [keys[first : first + step] for first in range(0, len(keys), step)]


def fetch_vdm(
    sesv2: SESV2Client,
    keys: Sequence[VdmKey],
    start: float,
    end: float,
) -> dict[VdmKey, Points]:
    """BatchGetMetricData of ``keys`` over [start, end) (unix seconds), in ``plan_batches``'
    calls -> the datapoints of every key (an empty dict for a query without datapoints)."""
    window = (datetime.fromtimestamp(start, UTC), datetime.fromtimestamp(end, UTC))
    found: dict[VdmKey, Points] = {}
    for batch in plan_batches(keys):
        queries: list[BatchGetMetricDataQueryTypeDef] = [
            _query(f"q{index}", key, window) for index, key in enumerate(batch)
        ]
        answer = sesv2.batch_get_metric_data(Queries=queries)
        found.update(_parse(answer, {f"q{index}": key for index, key in enumerate(batch)}))
    return found


def _query(
    query_id: str, key: VdmKey, window: tuple[datetime, datetime]
) -> BatchGetMetricDataQueryTypeDef:
    metric, where = key
    query: BatchGetMetricDataQueryTypeDef = {
        "Id": query_id,
        "Namespace": NAMESPACE,
        "Metric": metric,  # type: ignore[typeddict-item]  # one of METRICS
        "StartDate": window[0],
        "EndDate": window[1],
    }
    dimensions = where.dimensions()
    if dimensions:
        query["Dimensions"] = dimensions  # type: ignore[typeddict-item]  # keys: Dimension names
    return query


def _parse(
    answer: BatchGetMetricDataResponseTypeDef, by_id: dict[str, VdmKey]
) -> dict[VdmKey, Points]:
    for error in answer.get("Errors", []):
        key = by_id.get(error.get("Id", ""))
        where = f"{key[0]} of {key[1].describe()}" if key else f"query {error.get('Id')!r}"
        raise VdmDataError(
            f"BatchGetMetricData: {error.get('Code', 'error')} for {where}: "
            f"{error.get('Message', '')}".rstrip(": ")
        )
    # A query without a result has no datapoints: counters only move on what is read, so
    # a missing answer delays a count to the next read of the window, never loses it.
    found: dict[VdmKey, Points] = {key: {} for key in by_id.values()}
    for result in answer.get("Results", []):
        key = by_id.get(result.get("Id", ""))
        if key is None:
            continue  # not one of ours: nothing to map it to
        points = found[key]
        for timestamp, value in zip(
            result.get("Timestamps", []), result.get("Values", []), strict=False
        ):
            points[timestamp.timestamp()] = float(value)
    return found
