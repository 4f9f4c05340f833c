"""The pure half of ``backfill``: a target's history as the live series, step by step.

At every sample time ``t`` of the window (``start``, ``start + step``, ..., ``end``) the
live builders themselves (``cloudwatch_families``, ``send_statistics_families``,
``vdm_families``) are handed a snapshot of what was known at ``t``, so names, labels and
HELP are the live ones by construction:

* counters: the sum of the datapoints whose period had ended by ``t`` (a CloudWatch
  datapoint stamped T with period P covers [T, T + P); a GetSendStatistics bucket covers
  15 minutes), from 0 at the start of the first datapoint; an account-wide CloudWatch
  counter exists only for a metric ListMetrics lists without dimensions (SES publishes
  Open, Click, DeliveryDelay and Subscription only per configuration set, and
  CloudWatch never sums dimension sets), from 0 at the window's start as live.
  ``increase(x[1h])`` over the backfill is the events of that hour. The live exporter's
  counters start at 0 when it starts; Prometheus reads the drop from the backfilled
  total as a counter reset, and ``increase()`` over both adds the backfilled part and
  the live part. With ``--continue-from`` each counter series adds its live value at
  the gap's start (``OpenMetricsWriter``'s ``start_values``);
* reputation: the newest Reputation.* datapoint whose period had ended by ``t`` and that
  started within ``collectors.cloudwatch.reputation_lookback`` before ``t`` (the live
  collector's look-back for reputation; read from that long before the window, so the
  window's first sample has it too), with its timestamp and status; none (a gap) when
  there is no such datapoint;
* the configured reputation thresholds (``ses_exporter_reputation_threshold_ratio``), once
  for the whole file with only the given labels, as the live exporter shows them;
* VDM counters (``vdm_families``, where GetAccount says VDM is enabled): every query of
  the live collector is a series from the window's start at 0, as the live collector
  shows them all from its first poll. VDM keeps one datapoint per UTC day; a day counts
  at its end (the first sample at or after the next 00:00 UTC), when it is complete,
  never earlier (that would place events before they happened), and only days wholly
  inside the window (``history.vdm_days``), so ``increase(x[1d])`` at a midnight is that
  day's count. ``ses_exporter_vdm_enabled`` and ``aws_ses_vdm_engagement_metrics_enabled``
  are the switches' present state, which AWS keeps no history of: not written;
* nothing for families without a history API: quota, sending and enforcement status,
  account info (``account``) and configuration-set settings (``configuration_sets``).

``OpenMetricsWriter`` keeps each family's series together across targets (spilled to one
file per family, so memory holds one target at a time) and writes the file
``promtool tsdb create-blocks-from openmetrics`` reads: every family once (HELP, TYPE),
each series' samples in time order, timestamps in seconds, no blank line, ``# EOF``.

Sample output (labels shortened)::

    # HELP aws_ses_sends Emails accepted for sending, account-wide (no dimensions). ...
    # TYPE aws_ses_sends counter
    aws_ses_sends_total{account_id="123456789012",job="ses",region="us-east-1"} 0.0 1767225600
    aws_ses_sends_total{account_id="123456789012",job="ses",region="us-east-1"} 541.0 1767225660
    # EOF
"""

from __future__ import annotations

import math
import shutil
from array import array
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO

from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics.exposition import generate_latest
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString

from ..collectors.cloudwatch import (
    RATE_OF,
    CloudWatchSnapshot,
    cloudwatch_families,
    counter_observations,
)
from ..collectors.cloudwatch_source import Window
from ..collectors.send_statistics import (
    SLOT_SECONDS,
    SendStatisticsSnapshot,
    observations,
    send_statistics_families,
)
from ..collectors.vdm import VdmSnapshot, vdm_families
from ..collectors.vdm_source import DAY, VdmKey
from ..config import ReputationThresholds
from ..families import threshold_family
from .history import TargetHistory

EOF = b"# EOF\n"


@dataclass(frozen=True)
class SeriesSettings:
    window: Window
    thresholds: ReputationThresholds  # reputation_thresholds, for the status families
    lookback: float  # collectors.cloudwatch.reputation_lookback: how old a datapoint may be


def sample_times(window: Window) -> range:
    """start, start + step, ..., end (both ends included)."""
    return range(int(window.start), int(window.end) + 1, window.period)


class _Cumulative:
    """The sum of the datapoints whose period ended by t; absent before the first one, or
    0 from ``since`` on (the live account-wide counters exist at 0 from the first poll)."""

    def __init__(self, points: Mapping[float, float], period: float, since: float = float("inf")):
        self._points = sorted(points.items())
        self._period = period
        self._since = min(since, self._points[0][0]) if self._points else since
        self._next = 0
        self._total = 0.0

    def at(self, t: float) -> float | None:
        points = self._points
        if t < self._since:
            return None
        while self._next < len(points) and points[self._next][0] + self._period <= t:
            self._total += max(points[self._next][1], 0.0)  # a counter never decreases
            self._next += 1
        return self._total


class _Newest:
    """The newest (timestamp, value) whose period ended by t, if within the look-back."""

    def __init__(self, points: Iterable[tuple[float, float]], period: float, lookback: float):
        self._points = sorted(points)
        self._period = period
        self._lookback = lookback
        self._next = 0
        self._newest: tuple[float, float] | None = None

    def at(self, t: float) -> tuple[float, float] | None:
        points = self._points
        while self._next < len(points) and points[self._next][0] + self._period <= t:
            self._newest = points[self._next]
            self._next += 1
        if self._newest is None or self._newest[0] < t - self._lookback:
            return None
        return self._newest


def target_steps(
    history: TargetHistory, settings: SeriesSettings, extra_labels: Mapping[str, str]
) -> Iterator[tuple[int, list[Metric]]]:
    """(t, the families the live collectors would have shown at t) for every sample time."""
    window, labels = settings.window, {**dict(history.labels), **extra_labels}
    counters: dict[tuple[str, str | None], _Cumulative] = {}
    reputation: dict[tuple[str, str | None], _Newest] = {}
    if history.cloudwatch is not None:
        # One entry per counter query, with or without datapoints. Account-wide: only the
        # metrics ListMetrics lists without dimensions (SES publishes Open, Click,
        # DeliveryDelay and Subscription only per configuration set, and CloudWatch never
        # sums dimension sets), at 0 from the start as the live collector shows them.
        # Per set: from the first datapoint.
        for key, observed in counter_observations(history.cloudwatch).items():
            since = window.start if key[1] is None else math.inf
            counters[key] = _Cumulative(observed, window.period, since)
        for query, points in history.cloudwatch.results:
            if query.metric in RATE_OF:
                key = (RATE_OF[query.metric], query.configuration_set)
                reputation[key] = _Newest(points, window.period, settings.lookback)
    buckets = _send_buckets(history.send_statistics, window)
    vdm = _vdm_days(history, window)
    vdm_counts: tuple[tuple[VdmKey, float], ...] | None = None
    vdm_shown: list[Metric] = []
    for t in sample_times(window):
        families: list[Metric] = []
        if history.cloudwatch is not None:
            snap = CloudWatchSnapshot(
                counters=tuple((k, v) for k, c in counters.items() if (v := c.at(t)) is not None),
                reputation=tuple(
                    (k, p) for k, n in reputation.items() if (p := n.at(t)) is not None
                ),
            )
            families += cloudwatch_families(snap, settings.thresholds, labels)
        totals = {f: v for f, c in buckets.items() if (v := c.at(t)) is not None}
        families += send_statistics_families(totals, labels)
        if vdm:
            counts = tuple((k, v) for k, c in vdm.items() if (v := c.at(t)) is not None)
            if counts != vdm_counts:  # once a day: the same families until a day ends
                vdm_counts = counts
                vdm_shown = vdm_families(VdmSnapshot(None, None, counts), labels)
            families += vdm_shown
        yield t, families


def threshold_steps(
    settings: SeriesSettings, extra_labels: Mapping[str, str]
) -> Iterator[tuple[int, list[Metric]]]:
    """``ses_exporter_reputation_threshold_ratio{rate,status}`` at every sample time, from
    the config's reputation_thresholds. Not per target: the live series carries only the
    labels Prometheus adds at scrape (``job``, ``instance``), so only ``extra_labels``."""
    ratios = settings.thresholds.ratios()
    for t in sample_times(settings.window):
        yield t, [threshold_family(ratios, extra_labels)]


def _send_buckets(snap: SendStatisticsSnapshot | None, window: Window) -> dict[str, _Cumulative]:
    """Per field, the buckets that start inside the window."""
    if snap is None:
        return {}
    # Keyed by 15-minute slot on the grid of the first bucket, as the live collector does.
    phase = snap.buckets[0].timestamp % SLOT_SECONDS if snap.buckets else 0.0
    return {
        field: _Cumulative(
            {ts: v for ts, v in points.items() if window.start <= ts < window.end},
            SLOT_SECONDS,
        )
        for field, points in observations(snap, phase).items()
        if any(window.start <= ts < window.end for ts in points)
    }


def _vdm_days(history: TargetHistory, window: Window) -> dict[VdmKey, _Cumulative]:
    """Per query, its whole days in the window, each counted at its end; every series
    from the window's start (none where VDM is off)."""
    vdm = history.vdm
    if vdm is None or not vdm.enabled:
        return {}
    return {
        key: _Cumulative(
            {day: v for day, v in points.items() if vdm.start <= day and day + DAY <= vdm.end},
            DAY,
            window.start,
        )
        for key, points in vdm.points
    }


class _Series:
    __slots__ = ("times", "values")

    def __init__(self) -> None:
        self.times = array("q")
        self.values = array("d")


class _Family:
    def __init__(self, header: bytes, spill: Path):
        self.header = header
        self.spill = spill
        self.file: IO[bytes] = spill.open("wb")


class OpenMetricsWriter:
    """Series of any number of targets, written as one OpenMetrics file.

    ``add`` takes one target's steps; its samples go to one spill file per family under
    ``directory``. ``write`` puts the families out in order of first appearance, each
    with its header once, then ``# EOF``.

    ``start_values`` ({(sample name, labels): value}, ``--continue-from``) are added to
    every sample of the counter series with exactly that name and those labels, so that
    they continue the live counters; ``continued`` is how many series got one.
    """

    def __init__(
        self,
        directory: Path,
        start_values: Mapping[tuple[str, tuple[tuple[str, str], ...]], float] | None = None,
    ):
        self._directory = directory
        self._families: dict[str, _Family] = {}
        self._prefixes: dict[tuple[str, tuple[tuple[str, str], ...]], bytes] = {}
        self._starts = {
            self._prefix(Sample(name, dict(labels), value, None, None)): value
            for (name, labels), value in (start_values or {}).items()
        }
        self._continued: set[bytes] = set()
        self.samples = 0

    @property
    def continued(self) -> int:
        return len(self._continued)

    def add(self, steps: Iterable[tuple[int, list[Metric]]]) -> None:
        by_family: dict[str, dict[bytes, _Series]] = {}
        starts = self._starts
        for t, families in steps:
            for metric in families:
                if metric.name not in self._families:
                    spill = self._directory / f"{len(self._families)}.om"
                    self._families[metric.name] = _Family(_header(metric), spill)
                series = by_family.setdefault(metric.name, {})
                continues = bool(starts) and metric.type == "counter"
                for sample in metric.samples:
                    prefix = self._prefix(sample)
                    found = series.get(prefix)
                    if found is None:
                        found = series[prefix] = _Series()
                        if continues and prefix in starts:
                            self._continued.add(prefix)
                    found.times.append(t)
                    start = starts.get(prefix, 0.0) if continues else 0.0
                    found.values.append(sample.value + start)
        for name, series in by_family.items():
            out = self._families[name].file
            for prefix, points in series.items():
                self.samples += len(points.times)
                out.writelines(
                    b"%s %s %d\n" % (prefix, _number(v), t)
                    for t, v in zip(points.times, points.values, strict=True)
                )

    def write(self, out: BinaryIO) -> None:
        for family in self._families.values():
            family.file.close()
            out.write(family.header)
            with family.spill.open("rb") as spilled:
                shutil.copyfileobj(spilled, out, 1 << 20)
        out.write(EOF)

    def close(self) -> None:
        for family in self._families.values():
            family.file.close()

    def _prefix(self, sample: Sample) -> bytes:
        """``name{labels}`` as prometheus_client's OpenMetrics printer writes it (escaping,
        sorted labels); rendered once per series."""
        key = (sample.name, tuple(sample.labels.items()))
        prefix = self._prefixes.get(key)
        if prefix is None:
            metric = Metric(sample.name, "", "unknown")
            metric.samples.append(Sample(sample.name, sample.labels, math.nan, None, None))
            line = _printed(metric).splitlines()[-1]
            prefix = self._prefixes[key] = line.rsplit(b" ", 1)[0]
        return prefix


def _number(value: float) -> bytes:
    """As prometheus_client prints a sample value (1.0, 0.05, +Inf)."""
    return str(floatToGoString(value)).encode()  # type: ignore[no-untyped-call]


def _header(metric: Metric) -> bytes:
    """HELP and TYPE of a family, as prometheus_client prints them."""
    return _printed(Metric(metric.name, metric.documentation, metric.type, metric.unit))


def _printed(metric: Metric) -> bytes:
    class _One:
        def collect(self) -> list[Metric]:
            return [metric]

    text: bytes = generate_latest(_One())  # type: ignore[no-untyped-call]
    return text[: -len(EOF)]
