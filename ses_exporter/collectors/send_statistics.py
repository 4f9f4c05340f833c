"""The ``send_statistics`` collector: SES's own 15-minute sending buckets as counters.

Source: ses GetSendStatistics. The call is free and answers with the sending activity of
the last two weeks in 15-minute buckets, in no particular order; an idle account gets an
empty list. The buckets become never-decreasing counters by the rules of
``ses_exporter.counters``: buckets present at the first poll are the baseline,
so the counters start at 0; afterwards a new bucket adds its value and a known bucket adds
its growth (SES keeps filling the current bucket while mail is sent). Buckets are known by
their 15-minute slot, not their exact timestamp (``slot_of``), so a shifted grid never
counts a bucket twice. An account that has sent nothing in two weeks exposes no series
until its first bucket appears; then the series show 0 for one poll and count from the
next (``increase()`` ignores a series' first sample).

The last answer is also kept summed per hour (``hourly_sums``, ``Collector.hourly``) for
the target view's Sending statistics charts: no metric holds the two weeks AWS returns.

Sample exposition::

    # HELP aws_ses_send_statistics_delivery_attempts_total Delivery attempts (...)
    # TYPE aws_ses_send_statistics_delivery_attempts_total counter
    aws_ses_send_statistics_delivery_attempts_total{account_id="123456789012",
        region="eu-west-1"} 1520.0
    aws_ses_send_statistics_bounces_total{account_id="123456789012",region="eu-west-1"} 12.0
    aws_ses_send_statistics_complaints_total{account_id="123456789012",region="eu-west-1"} 0.0
    aws_ses_send_statistics_rejects_total{account_id="123456789012",region="eu-west-1"} 1.0
"""

from __future__ import annotations

import time
from array import array
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from prometheus_client.metrics_core import Metric

from ..aws import TargetClients
from ..counters import WindowCounters
from ..families import FamilyBuilder
from .base import Collector, Hourly, register

if TYPE_CHECKING:
    from mypy_boto3_ses import SESClient


SOURCE = (
    " Counted from the 15-minute buckets of SES GetSendStatistics since the exporter started"
    " (buckets present at its first poll are the baseline); cached from the last successful poll."
)


@dataclass(frozen=True)
class SendBucket:
    """One 15-minute bucket of GetSendStatistics."""

    timestamp: float  # start of the bucket, unix seconds
    delivery_attempts: int
    bounces: int
    complaints: int
    rejects: int


@dataclass(frozen=True)
class SendStatisticsSnapshot:
    """The buckets of one answer, oldest first (AWS sends them in no particular order)."""

    buckets: tuple[SendBucket, ...]


# bucket field, metric name, HELP text.
COUNTERS: tuple[tuple[str, str, str], ...] = (
    (
        "delivery_attempts",
        "aws_ses_send_statistics_delivery_attempts_total",
        "Delivery attempts, one per recipient (DeliveryAttempts).",
    ),
    (
        "bounces",
        "aws_ses_send_statistics_bounces_total",
        "Emails that bounced (Bounces).",
    ),
    (
        "complaints",
        "aws_ses_send_statistics_complaints_total",
        "Emails that recipients marked as spam (Complaints).",
    ),
    (
        "rejects",
        "aws_ses_send_statistics_rejects_total",
        "Emails that SES rejected, e.g. for containing a virus (Rejects).",
    ),
)


def fetch_send_statistics(ses: SESClient) -> SendStatisticsSnapshot:
    """ses GetSendStatistics -> SendStatisticsSnapshot."""
    answer = ses.get_send_statistics()
    buckets = [
        SendBucket(
            timestamp=point["Timestamp"].timestamp(),
            delivery_attempts=int(point.get("DeliveryAttempts", 0)),
            bounces=int(point.get("Bounces", 0)),
            complaints=int(point.get("Complaints", 0)),
            rejects=int(point.get("Rejects", 0)),
        )
        for point in answer.get("SendDataPoints", [])
        # A bucket without its time cannot be told from the others; it is left out
        # rather than failing the whole poll.
        if "Timestamp" in point
    ]
    return SendStatisticsSnapshot(tuple(sorted(buckets, key=lambda b: b.timestamp)))


SLOT_SECONDS = 900.0  # GetSendStatistics reports 15-minute buckets


def slot_of(timestamp: float, phase: float) -> float:
    """The 15-minute slot of a bucket: its start, snapped to the nearest ``phase + k * 900``.

    AWS documents 15-minute buckets but no grid for their timestamps (accounts see their
    own offset, e.g. :08, :23, ...). Keyed by exact timestamp, a bucket whose timestamp
    moved by a second would be a new bucket and count twice; keyed by slot, a shift of
    up to 7.5 minutes either way is the same bucket.
    """
    return phase + round((timestamp - phase) / SLOT_SECONDS) * SLOT_SECONDS


def observations(snap: SendStatisticsSnapshot, phase: float) -> dict[str, dict[float, float]]:
    """{field: {slot: value}}, the shape WindowCounters reads (see ``slot_of``)."""
    observed: dict[str, dict[float, float]] = {}
    if not snap.buckets:
        return observed  # no series at all: "no data" must not look like 0
    for field, _, _ in COUNTERS:
        points = observed[field] = {}
        for bucket in snap.buckets:
            # Two points in one slot are not expected; summing them keeps the result
            # independent of the order AWS lists them in.
            slot = slot_of(bucket.timestamp, phase)
            points[slot] = points.get(slot, 0.0) + getattr(bucket, field)
    return observed


def send_statistics_families(
    totals: Mapping[str, float], labels: Mapping[str, str]
) -> list[Metric]:
    """Counter totals by field -> the send_statistics families (only fields AWS has data for)."""
    b = FamilyBuilder(labels)
    for field, name, doc in COUNTERS:
        if field in totals:
            b.counter(name, doc + SOURCE, totals[field])
    return b.families()


HOUR = 3600.0
# The console's Sending statistics charts, by bucket field; the pages draw them per hour.
PANE_SERIES: tuple[tuple[str, str], ...] = (
    ("sends", "delivery_attempts"),
    ("rejects", "rejects"),
    ("bounces", "bounces"),
    ("complaints", "complaints"),
)
KEEP_HOURS = 15 * 24  # AWS answers for two weeks; a stray older bucket must not grow this


def hourly_sums(snap: SendStatisticsSnapshot) -> Hourly:
    """The buckets summed per hour (UTC clock hours: a bucket counts in the hour it starts
    in), one array per series of ``PANE_SERIES``; 8 bytes per hour and series, about
    11 KB per target for two weeks. An idle account gets empty arrays."""
    if not snap.buckets:
        return Hourly(0.0, {series: array("q") for series, _ in PANE_SERIES})
    last = int(snap.buckets[-1].timestamp // HOUR)
    first = max(int(snap.buckets[0].timestamp // HOUR), last - KEEP_HOURS + 1)
    counts = {series: array("q", [0]) * (last - first + 1) for series, _ in PANE_SERIES}
    for bucket in snap.buckets:
        index = int(bucket.timestamp // HOUR) - first
        if index < 0:
            continue
        for series, field in PANE_SERIES:
            counts[series][index] += getattr(bucket, field)
    return Hourly(first * HOUR, counts)


NAME = "send_statistics"  # collectors.send_statistics, --collector.send_statistics


@register
class SendStatisticsCollector(Collector):
    """Needs no settings; keeps the counters built from the buckets, and the last answer's
    buckets summed per hour for the pages (``hourly``)."""

    name = NAME
    title = "the Sending statistics pane (GetSendStatistics)"
    default_interval = 300.0

    def __init__(self, clients: TargetClients, clock: Callable[[], float] = time.time):
        super().__init__(clients)
        self._clock = clock
        self._counters: WindowCounters[str] = WindowCounters()
        self._phase: float | None = None  # the slot grid, from the first bucket ever seen
        self._hourly: Hourly | None = None  # replaced whole by each successful poll

    def hourly(self) -> Hourly | None:
        return self._hourly

    def poll(self, labels: Mapping[str, str]) -> list[Metric]:
        snap = fetch_send_statistics(self.clients.ses)
        if self._phase is None and snap.buckets:
            self._phase = snap.buckets[0].timestamp % SLOT_SECONDS
        phase = self._phase or 0.0
        # Buckets older than the oldest one in this answer have left AWS's two-week
        # window: forgetting them bounds memory and keeps a re-listed one from counting
        # twice. An empty answer forgets nothing (and, as a first poll, sets an empty
        # baseline: the first buckets that appear later are exposed at 0 first, then
        # counted if they may hold mail sent after the first poll: AWS documents no grid
        # for the buckets, so any bucket that starts less than 15 minutes before the poll).
        oldest = slot_of(snap.buckets[0].timestamp, phase) if snap.buckets else float("-inf")
        since = self._clock() - SLOT_SECONDS
        self._counters.update(observations(snap, phase), oldest, since)
        families = send_statistics_families(self._counters.totals(), labels)
        self._hourly = hourly_sums(snap)
        return families
