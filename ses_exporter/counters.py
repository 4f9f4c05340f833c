"""Prometheus counters from AWS answers that are windows of timestamped datapoints.

GetSendStatistics (15-minute buckets over two weeks) and CloudWatch GetMetricData (a
window re-read at every poll, from the end of the last one less a lateness margin) both
answer with datapoints keyed by time, some of which arrive late and some of which AWS
revises upwards. The rules:

* datapoints present at the collector's first poll are the baseline: counters start at 0;
* afterwards a new datapoint adds its value, a known one adds its growth;
* a counter never decreases (a datapoint revised downwards adds nothing);
* datapoints older than the window are forgotten, and ignored if they come back, so a
  datapoint counts once however often it is re-read;
* a series that first appears after the first poll (a first Reject ever, a new
  configuration set's first Bounce) is exposed at 0 for one poll before it counts: its
  datapoints from the first poll's bucket on are counted at the next poll, older ones are
  its baseline (as they are for a series present at the first poll without datapoints).
  ``increase()`` ignores a series' first sample, so a series born at its total would
  hide exactly the burst that created it;
* a series that leaves (``retain``: a configuration set excluded by a reload, a metric
  ListMetrics stops listing) is kept, unexposed, with its total and the datapoints it
  counted that are still in the window, for a day and for as long as one of those is
  in the window. If it returns by then it goes on from its total: its known datapoints
  count only their growth, new ones count, and ones older than the window are ignored.
  After that it returns as a new series (0 first), whose datapoints in the window can
  only be new. Baselining a returning series
  instead would lose the events that happened while it was away and are still in the
  window; forgetting it at once (as before) counted its whole window again;
* after a gap longer than CloudWatch keeps the counters' period, ``add_coarse`` counts
  the older part from coarser datapoints: each adds what it holds beyond the datapoints
  already counted inside it, and one that straddles datapoints already forgotten cannot
  be matched and is reported instead of counted.

>>> c = WindowCounters()
>>> c.update({"Send": {0: 5.0}}, forget_before=0)      # baseline
>>> c.update({"Send": {0: 7.0, 60: 3.0}}, forget_before=0)
>>> c.totals()
{'Send': 5.0}
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
# How long a series that left is kept (its total and the datapoints it counted that are
# still in the window) in case it comes back: a day of the window's progress bounds the
# memory of deleted configuration sets, and covers an exclusion undone the same day.
KEEP_HIDDEN_SECONDS = 86_400.0


@dataclass
class _Series:
    total: float = 0.0
    seen: dict[float, float] = field(default_factory=dict)  # timestamp -> largest value seen
    forgotten_before: float = float("-inf")
    # Datapoints starting before this are a baseline (recorded, not counted): set when the
    # datapoints' grid changes (see WindowCounters.rebaseline).
    counted_until: float = float("-inf")
    pending: float = 0.0  # counted at the next update (a late series' first datapoints)

    def first_update(
        self, points: Mapping[float, float], forget_before: float, origin: float
    ) -> None:
        """A late series: datapoints before ``origin`` are baseline, newer ones pending."""
        self.counted_until = max(self.counted_until, origin)  # also for those read later
        self.update(points, forget_before, count=True)
        self.pending, self.total = self.total, 0.0

    def forget(self, before: float) -> None:
        self.forgotten_before = max(self.forgotten_before, before)
        for timestamp in [t for t in self.seen if t < self.forgotten_before]:
            del self.seen[timestamp]

    def update(self, points: Mapping[float, float], forget_before: float, count: bool) -> None:
        self.total += self.pending
        self.pending = 0.0
        self.forgotten_before = max(self.forgotten_before, forget_before)
        for timestamp, value in points.items():
            if timestamp < self.forgotten_before:
                continue  # already counted and forgotten, or too old to matter
            counts = count and timestamp >= self.counted_until
            previous = self.seen.get(timestamp)
            if previous is None:
                self.seen[timestamp] = value
                if counts:
                    self.total += max(value, 0.0)
            elif value > previous:
                self.seen[timestamp] = value
                if counts:
                    self.total += value - previous
        self.forget(self.forgotten_before)


class WindowCounters(Generic[K]):
    """One never-decreasing total per series key (e.g. a metric, or metric + config set)."""

    def __init__(self) -> None:
        self._series: dict[K, _Series] = {}
        # Series that left -> the forget line when they left; kept for KEEP_HIDDEN_SECONDS
        self._hidden: dict[K, float] = {}
        self._origin: float | None = None  # the first poll's bucket
        self._forget_before = float("-inf")  # one line for every series, never moving back

    def update(
        self,
        observations: Mapping[K, Mapping[float, float]],
        forget_before: float,
        current_bucket: float = float("-inf"),
    ) -> None:
        """Feed one poll's datapoints; ``current_bucket`` is the timestamp of the bucket
        (period) holding the poll's time. The first call only records the baseline. A
        series first seen later shows 0 now; its datapoints from the first poll's bucket on
        count at the next call (new activity, not history).
        """
        self._forget_before = max(self._forget_before, forget_before)
        started = self._origin is not None
        if self._origin is None:
            self._origin = current_bucket
        born = set()
        for key, points in observations.items():
            if key in self._series:
                continue
            series = self._series[key] = _Series()
            if started:
                series.first_update(points, self._forget_before, self._origin)
                born.add(key)
            elif not points:
                # There at the first poll without data (an account-wide counter whose metric
                # CloudWatch does not list yet): datapoints that turn up later but started
                # before the first poll's bucket are history, as a late series' are.
                series.counted_until = self._origin
        for key in observations:
            self._hidden.pop(key, None)
        for key, series in self._series.items():
            if key not in born:
                series.update(observations.get(key, {}), self._forget_before, count=started)

    def forget(self, before: float) -> None:
        """Datapoints starting before ``before`` will not be read again (the next window
        starts there): forget them now, so memory holds one window, not the last poll's
        (which after a long gap can be days of minutes)."""
        self._forget_before = max(self._forget_before, before)
        for series in self._series.values():
            series.forget(self._forget_before)
        self._drop_hidden()

    def _drop_hidden(self) -> None:
        """Forget series hidden for over KEEP_HIDDEN_SECONDS of the window's progress, once
        no datapoint they counted is left in the window (a look-back longer than a day
        still holds them: a new series would count them again)."""
        line = self._forget_before
        gone = [
            key
            for key, since in self._hidden.items()
            if line - since > KEEP_HIDDEN_SECONDS and not self._series[key].seen
        ]
        for key in gone:
            del self._hidden[key]
            del self._series[key]

    def add_coarse(self, observations: Mapping[K, Mapping[float, float]], period: float) -> float:
        """Count datapoints of a coarser grid (``period`` a multiple of the counters'),
        read once for a gap older than CloudWatch keeps at the counters' period; call it
        before the ``update`` of the same poll. Each datapoint adds its value less the
        known datapoints inside it. Returns the sum of those that cannot be matched (they
        start before what the series still remembers) and are not counted.
        """
        unmatched = 0.0
        origin = self._origin if self._origin is not None else float("-inf")
        for key, points in observations.items():
            series = self._series.get(key)
            if series is None:
                # Born during the gap: as a late series, what started since the first poll
                # is new (it is counted at once: there was no earlier sample to hide).
                series = self._series[key] = _Series(counted_until=origin)
                series.forgotten_before = self._forget_before
            for start, value in points.items():
                if start + period <= series.counted_until:
                    continue  # baseline
                inside = sum(v for t, v in series.seen.items() if start <= t < start + period)
                growth = max(value - inside, 0.0)
                if start >= series.forgotten_before and start >= series.counted_until:
                    series.total += growth
                else:  # straddles what is forgotten, or the baseline: cannot be split
                    unmatched += growth
        return unmatched

    def rebaseline(self, counted_until: float) -> None:
        """The datapoints' grid changes (e.g. a new CloudWatch period): what was counted
        covers the time before ``counted_until``.

        Datapoints are known by their start time only, so a datapoint of the new grid
        cannot be matched with those of the old one: after 5m -> 1m, the 1-minute points
        inside a counted 5-minute one would all look new. From here on, every known
        series treats datapoints starting before ``counted_until`` as a baseline and
        counts only later ones, so a change of grid can lose what CloudWatch publishes
        late for the time before it, but never count anything twice. Totals are kept.
        """
        for series in self._series.values():
            series.seen.clear()
            series.counted_until = max(series.counted_until, counted_until)

    def totals(self) -> dict[K, float]:
        """The total of every series not hidden."""
        hidden = self._hidden
        return {key: series.total for key, series in self._series.items() if key not in hidden}

    def retain(self, keys: Iterable[K]) -> None:
        """Hide the series not in ``keys`` (a set excluded or deleted, a metric no longer
        listed): kept, unexposed, for a day, so that one which comes back goes on from its
        total and counts nothing twice (see the module's rules)."""
        keep = set(keys)
        line = self._forget_before
        self._hidden = {key: self._hidden.get(key, line) for key in self._series if key not in keep}
