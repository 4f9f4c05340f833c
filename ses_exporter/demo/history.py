"""The demo's past: two weeks of AWS/SES datapoints and GetSendStatistics buckets.

Every minute before the world started is a pure function of (seed, region, minute): one
``random.Random`` per region and UTC day draws that day's minutes, so two demo worlds
started at different times (the backfill's and the live exporter's) agree on every
minute both call history, and a test can recompute what was sent. The volumes and rates
are the live traffic's (``traffic``): the same sends per minute, the same shares and
bounce rates, so history and live data join into one line. The ``marketing`` set also
has a bounce incident every fifth day, 14:00-17:00 UTC, for the charts to show.

``CloudWatchStore`` holds one value per minute per (metric, configuration set) for the
history and for what the live traffic publishes after it, and answers cloudwatch
GetMetricData from it (``get_metric_data``). moto could answer it from PutMetricData'd
datapoints, but it scans every datapoint it holds for every period of every query: two
weeks of minutes (about 730,000 datapoints per region) would take hours per request.
"""

from __future__ import annotations

import math
import random
import threading
from array import array
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .traffic import BUCKET_SECONDS, SETS, Bucket, SetProfile

MINUTE = 60
DAY = 86_400
HISTORY_DAYS = 14
TICKS_PER_MINUTE = 12  # the live traffic ticks every 5 s
REJECT_CHANCE = 0.2  # per tick, as the live traffic's unverified sender
INCIDENT_EVERY_DAYS = 5
INCIDENT_HOURS = (14, 17)  # UTC
INCIDENT_BOUNCE = 0.04  # added to the marketing set's bounce rate

# CloudWatch metric -> Events field (per set; the account-wide metric is the sum)
EVENT_METRICS = {
    "Send": "send",
    "Delivery": "delivery",
    "Bounce": "bounce",
    "Complaint": "complaint",
    "Open": "open",
    "Click": "click",
    "DeliveryDelay": "delivery_delay",
}
ACCOUNT_ONLY = ("Reject", "Rendering Failure")
# What SES publishes without dimensions (its free account-level statistics), beside
# ACCOUNT_ONLY. Open, Click and DeliveryDelay exist only through a configuration set's
# event destination, always with a dimension, and CloudWatch never sums dimension sets.
ACCOUNT_WIDE = ("Send", "Delivery", "Bounce", "Complaint")
BOUNCE_RATE, COMPLAINT_RATE = "Reputation.BounceRate", "Reputation.ComplaintRate"

Key = tuple[str, str | None]  # (metric, configuration set or None for account-wide)


def history_bounce_rate(profile: SetProfile, t: float) -> float:
    """A set's bounce rate at a past time: the live base rate (and, for ``marketing``,
    its wobble), plus the incidents."""
    if profile.name != "marketing":
        return profile.bounce_rate
    rate = profile.bounce_rate + 0.003 * math.sin(t / 45.0)
    day, hour = divmod(int(t) // 3600, 24)
    if day % INCIDENT_EVERY_DAYS == 2 and INCIDENT_HOURS[0] <= hour < INCIDENT_HOURS[1]:
        rate += INCIDENT_BOUNCE
    return rate


@dataclass(frozen=True)
class Minute:
    """What happened in one minute of one region, per set (as ``traffic.Events``)."""

    start: int
    events: Mapping[str, Mapping[str, int]]  # set -> Events field -> count
    rejects: int
    bounce_rates: Mapping[str, float]  # set -> bounce rate that minute


def history_minutes(
    seed: int, region: str, sends_per_tick: tuple[int, int], start: int, end: int
) -> Iterator[Minute]:
    """Every minute in [start, end) (whole minutes), the same whichever range asks."""
    first_day, last_day = start // DAY, (end - 1) // DAY
    for day in range(first_day, last_day + 1):
        rng = random.Random(f"{seed}:{region}:{day}")  # noqa: S311 - simulation, not crypto
        for minute in range(day * DAY, (day + 1) * DAY, MINUTE):
            drawn = _minute(rng, minute, sends_per_tick)  # drawn even if not asked for
            if start <= minute < end:
                yield drawn


def _minute(rng: random.Random, t: int, sends_per_tick: tuple[int, int]) -> Minute:
    low, high = sends_per_tick
    mean = TICKS_PER_MINUTE * (low + high) / 2
    variance = TICKS_PER_MINUTE * ((high - low + 1) ** 2 - 1) / 12
    sends = max(round(rng.gauss(mean, math.sqrt(variance))), 0)
    events, rates = {}, {}
    for profile in SETS:
        n = round(sends * profile.share)
        rates[profile.name] = rate = history_bounce_rate(profile, t)
        bounces = _binomial(rng, n, rate)
        delivered = n - bounces
        events[profile.name] = {
            "send": n,
            "delivery": delivered,
            "bounce": bounces,
            "complaint": _binomial(rng, n, profile.complaint_rate),
            "open": _binomial(rng, delivered, 0.35),
            "click": _binomial(rng, delivered, 0.06),
            "delivery_delay": _binomial(rng, n, 0.004),
        }
    rejects = _binomial(rng, TICKS_PER_MINUTE, REJECT_CHANCE)
    return Minute(t, events, rejects, rates)


def _binomial(rng: random.Random, n: int, p: float) -> int:
    """A binomial draw: exact for small expectations, normal approximation above."""
    if n <= 0:
        return 0
    mean = n * p
    if mean < 10:
        return sum(1 for _ in range(n) if rng.random() < p) if n < 50 else _poisson(rng, mean)
    return min(max(round(rng.gauss(mean, math.sqrt(mean * (1 - p)))), 0), n)


def _poisson(rng: random.Random, mean: float) -> int:
    limit, k, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        k += 1
        product *= rng.random()
    return k


def account_rates(rates: Mapping[str, float]) -> tuple[float, float]:
    """(bounce, complaint) account-wide: the sets' rates weighted by their shares."""
    bounce = sum(p.share * rates.get(p.name, p.bounce_rate) for p in SETS)
    return bounce, sum(p.share * p.complaint_rate for p in SETS)


class CloudWatchStore:
    """One region's AWS/SES datapoints, one per minute per key (NaN: none that minute)."""

    def __init__(self, base: int):
        self.base = base  # unix time of index 0, a whole minute
        self._series: dict[Key, array[float]] = {}
        self._lock = threading.Lock()
        self.requests = 0  # GetMetricData requests answered
        self.max_datapoints = 0  # the most datapoints one request asked for

    def add(self, minute: Minute) -> None:
        """Adds (counters) or sets (rates) one minute's datapoints, as SES publishes them."""
        with self._lock:
            index = (minute.start - self.base) // MINUTE
            if index < 0:
                return
            totals = dict.fromkeys(EVENT_METRICS.values(), 0)
            for profile in SETS:
                counts = minute.events.get(profile.name, {})
                for metric, field in EVENT_METRICS.items():
                    self._add((metric, profile.name), index, counts.get(field, 0))
                    totals[field] += counts.get(field, 0)
                if profile.reputation_metrics:
                    rate = minute.bounce_rates.get(profile.name, profile.bounce_rate)
                    self._set((BOUNCE_RATE, profile.name), index, rate)
                    self._set((COMPLAINT_RATE, profile.name), index, profile.complaint_rate)
            for metric in ACCOUNT_WIDE:
                self._add((metric, None), index, totals[EVENT_METRICS[metric]])
            self._add(("Reject", None), index, minute.rejects)
            self._add(("Rendering Failure", None), index, 0)
            bounce, complaint = account_rates(minute.bounce_rates)
            self._set((BOUNCE_RATE, None), index, bounce)
            self._set((COMPLAINT_RATE, None), index, complaint)

    def _cell(self, key: Key, index: int) -> array[float]:
        series = self._series.setdefault(key, array("d"))
        if len(series) <= index:
            series.extend([math.nan] * (index + 1 - len(series)))
        return series

    def _add(self, key: Key, index: int, value: float) -> None:
        series = self._cell(key, index)
        series[index] = (0.0 if math.isnan(series[index]) else series[index]) + value

    def _set(self, key: Key, index: int, value: float) -> None:
        self._cell(key, index)[index] = value

    def get_metric_data(self, request: Mapping[str, Any]) -> Mapping[str, Any]:
        """cloudwatch GetMetricData (MetricStat queries, Sum or Average) over the stored
        minutes; periods counted from StartTime, as CloudWatch does."""
        start = _seconds(request["StartTime"])
        end = _seconds(request["EndTime"])
        newest_first = request.get("ScanBy", "TimestampDescending") == "TimestampDescending"
        results, datapoints = [], 0
        for query in request["MetricDataQueries"]:
            stat = query["MetricStat"]
            metric = stat["Metric"]
            dims = metric.get("Dimensions", [])
            key = (metric["MetricName"], dims[0]["Value"] if dims else None)
            period = int(stat["Period"])
            datapoints += math.ceil((end - start) / period)
            with self._lock:
                series = self._series.get(key, array("d"))
                points = _aggregate(series, self.base, start, end, period, stat["Stat"])
            if newest_first:
                points.reverse()
            results.append(
                {
                    "Id": query["Id"],
                    "Label": metric["MetricName"],
                    "Timestamps": [datetime.fromtimestamp(t, UTC) for t, _ in points],
                    "Values": [v for _, v in points],
                    "StatusCode": "Complete",
                }
            )
        with self._lock:
            self.requests += 1
            self.max_datapoints = max(self.max_datapoints, datapoints)
        return {"MetricDataResults": results, "Messages": []}


def _aggregate(
    series: array[float], base: int, start: int, end: int, period: int, stat: str
) -> list[tuple[int, float]]:
    points = []
    for bucket in range(start, end, period):
        first = max(math.ceil((bucket - base) / MINUTE), 0)
        last = max(math.ceil((min(bucket + period, end) - base) / MINUTE), 0)
        values = [v for v in series[first:last] if not math.isnan(v)]
        if values:
            total = sum(values)
            points.append((bucket, total if stat == "Sum" else total / len(values)))
    return points


def _seconds(value: Any) -> int:
    if isinstance(value, datetime):
        return int(value.timestamp())
    return int(float(value))


def add_to_buckets(buckets: dict[int, Bucket], minute: Minute) -> None:
    """The minute's events into its GetSendStatistics 15-minute bucket."""
    bucket = buckets[minute.start // BUCKET_SECONDS * BUCKET_SECONDS]
    for counts in minute.events.values():
        bucket.delivery_attempts += counts["send"]
        bucket.bounces += counts["bounce"]
        bucket.complaints += counts["complaint"]
    bucket.rejects += minute.rejects
