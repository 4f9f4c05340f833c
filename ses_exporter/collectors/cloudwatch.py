"""The ``cloudwatch`` collector: namespace AWS/SES, as the console's charts show it.

Sources (see ``cloudwatch_source``): cloudwatch ListMetrics (which metrics exist, account-wide
and per configuration set; cached), then GetMetricData from the end of the last window read
less ``lookback`` (the lateness margin) up to now.

* Event counts (Send, Delivery, ...; Sum) become counters via ``WindowCounters``: the window
  overlaps the last one because CloudWatch publishes late and revises datapoints upwards,
  and reaches back over any gap after failed polls, as far as CloudWatch keeps data
  (``read_windows``: older parts at coarser periods, matched by ``add_coarse``). Only
  metrics CloudWatch lists get a series: account-wide for one it has without dimensions
  (Open, Click, DeliveryDelay and Subscription have none: SES publishes them only per
  configuration set).
* Reputation.BounceRate / .ComplaintRate (Average, already 0-1): the newest datapoint in a
  window of ``reputation_lookback`` (default 24 h: SES publishes them irregularly, hours
  apart for low-volume senders), its minute (the newest bucket read again at one minute),
  and a status against ``reputation_thresholds``.

Sample exposition (target labels shortened to ``...``)::

    aws_ses_sends_total{...} 1520.0
    aws_ses_configuration_set_bounces_total{...,configuration_set="marketing"} 37.0
    aws_ses_reputation_bounce_ratio{...} 0.021
    aws_ses_reputation_last_datapoint_timestamp_seconds{...,rate="bounce"} 1.7712e+09
    aws_ses_reputation_status{...,rate="overall",status="healthy"} 1.0
    aws_ses_configuration_set_reputation_status{...,configuration_set="m",rate="bounce",
        status="under_review"} 1.0
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, Self

from prometheus_client.metrics_core import Metric
from pydantic import field_validator

from ..aws import RETENTION, TargetClients, describe_error, error_outcome, retention
from ..config_types import (
    CollectorConfig,
    ConfigurationSetFilter,
    Duration,
    Problem,
    ReputationThresholds,
    ThresholdPair,
    format_duration,
)
from ..counters import WindowCounters
from ..families import FamilyBuilder
from ..logsetup import redact
from .base import Collector, TargetContext, register
from .cloudwatch_source import (
    MINUTE,
    Discovery,
    MetricData,
    MetricKey,
    Window,
    discover_metrics,
    fetch_metric_data,
    plan_queries,
    read_windows,
    trailing_window,
)

# ListMetrics changes only when a metric or a configuration set appears or goes quiet for
# two weeks, but a metric's appearance is the news: the first Reject ever only reaches the
# counters once ListMetrics lists it (AWS: up to 15 minutes after its first datapoint).
# Re-read every 15 minutes (or twice per look-back if that is shorter, so a new metric's
# first datapoints are still in the window when it is found): at $0.01 per 1,000 requests
# that is about $0.03 a month per page of 500 metrics, against GetMetricData's $0.01 per
# 1,000 metrics at every poll.
DISCOVERY_REFRESH_SECONDS = 900.0
CACHED = "cached from the last successful poll."


@dataclass(frozen=True)
class CounterRow:
    names: tuple[str, ...]  # CloudWatch metric names (SES has used two for rendering failures)
    # The account-wide family (no dimensions), or None for the events SES publishes only
    # through a configuration set's event destination: those always carry a dimension, and
    # CloudWatch never sums dimension sets into a metric without any.
    account: str | None
    per_set: str  # the per-configuration-set family (dimension ses:configuration-set)
    meaning: str

    @property
    def key(self) -> str:
        """What the row's series are keyed by (its first CloudWatch name)."""
        return self.names[0]


# Every name is written out, so that grep finds each family where it is defined.
COUNTERS: tuple[CounterRow, ...] = (
    CounterRow(
        ("Send",),
        "aws_ses_sends_total",
        "aws_ses_configuration_set_sends_total",
        "Emails accepted for sending",
    ),
    CounterRow(
        ("Delivery",),
        "aws_ses_deliveries_total",
        "aws_ses_configuration_set_deliveries_total",
        "Emails delivered to the receiving server",
    ),
    CounterRow(
        ("Bounce",),
        "aws_ses_bounces_total",
        "aws_ses_configuration_set_bounces_total",
        "Emails the receiving server rejected (bounces)",
    ),
    CounterRow(
        ("Complaint",),
        "aws_ses_complaints_total",
        "aws_ses_configuration_set_complaints_total",
        "Emails recipients marked as spam",
    ),
    CounterRow(
        ("Reject",),
        "aws_ses_rejects_total",
        "aws_ses_configuration_set_rejects_total",
        "Emails SES refused to send (they held a virus)",
    ),
    CounterRow(
        ("Rendering Failure", "RenderingFailure"),
        "aws_ses_rendering_failures_total",
        "aws_ses_configuration_set_rendering_failures_total",
        "Templated emails that failed to render",
    ),
    CounterRow(
        ("Open",),
        None,
        "aws_ses_configuration_set_opens_total",
        "Emails opened (open tracking)",
    ),
    CounterRow(
        ("Click",),
        None,
        "aws_ses_configuration_set_clicks_total",
        "Links clicked (click tracking)",
    ),
    CounterRow(
        ("DeliveryDelay",),
        None,
        "aws_ses_configuration_set_delivery_delays_total",
        "Emails whose delivery was delayed",
    ),
    CounterRow(
        ("Subscription",),
        None,
        "aws_ses_configuration_set_subscriptions_total",
        "Subscription preference updates",
    ),
)
# rate label -> CloudWatch metric (statistic Average; already a 0-1 ratio)
REPUTATION: dict[str, str] = {
    "bounce": "Reputation.BounceRate",
    "complaint": "Reputation.ComplaintRate",
}


@dataclass(frozen=True)
class ReputationNames:
    """The reputation families of one scope (account-wide, or per configuration set)."""

    ratio: dict[str, str]  # by rate
    last_datapoint: str
    status: str


REPUTATION_FAMILIES: dict[bool, ReputationNames] = {  # by "per configuration set"
    False: ReputationNames(
        {
            "bounce": "aws_ses_reputation_bounce_ratio",
            "complaint": "aws_ses_reputation_complaint_ratio",
        },
        "aws_ses_reputation_last_datapoint_timestamp_seconds",
        "aws_ses_reputation_status",
    ),
    True: ReputationNames(
        {
            "bounce": "aws_ses_configuration_set_reputation_bounce_ratio",
            "complaint": "aws_ses_configuration_set_reputation_complaint_ratio",
        },
        "aws_ses_configuration_set_reputation_last_datapoint_timestamp_seconds",
        "aws_ses_configuration_set_reputation_status",
    ),
}
STATUSES = ("healthy", "under_review", "at_risk")  # in order of severity
STAT_OF: dict[str, str] = {
    **{name: "Sum" for row in COUNTERS for name in row.names},
    **{name: "Average" for name in REPUTATION.values()},
}
ROW_OF: dict[str, CounterRow] = {name: row for row in COUNTERS for name in row.names}
RATE_OF: dict[str, str] = {metric: rate for rate, metric in REPUTATION.items()}

CounterKey = tuple[str, str | None]  # (CounterRow.key, configuration set or None)
# The newest bucket at the period (start, average), its newest 1-minute datapoint (minute,
# value), and when that was read (inf: nothing to read again, e.g. at a 1-minute period).
Refined = tuple[tuple[float, float], tuple[float, float], float]
ReputationKey = tuple[str, str | None]  # (rate, configuration set or None)


@dataclass(frozen=True)
class CloudWatchSnapshot:
    """Counter totals and the newest reputation datapoints, ready to expose."""

    counters: tuple[tuple[CounterKey, float], ...]
    reputation: tuple[tuple[ReputationKey, tuple[float, float]], ...]  # (timestamp, ratio)
    # Events read after a gap that could not be matched to what was counted (the live
    # collector's; None where nothing is catching up, e.g. in backfill).
    unattributed: float | None = None


def counter_observations(data: MetricData) -> dict[CounterKey, dict[float, float]]:
    """Datapoints per (CounterRow.key, set); ``wanted_metrics`` has left out account-wide
    queries of rows without an account-wide family. The two rendering-failure names are
    spellings of one event: if both exist, a timestamp counts once, at the larger value."""
    observations: dict[CounterKey, dict[float, float]] = {}
    for query, points in data.results:
        row = ROW_OF.get(query.metric)
        if row is None:
            continue
        merged = observations.setdefault((row.key, query.configuration_set), {})
        for timestamp, value in points:
            merged[timestamp] = max(value, merged.get(timestamp, -math.inf))
    return observations


def newest_reputation(data: MetricData) -> dict[ReputationKey, tuple[float, float]]:
    """The newest (timestamp, ratio) per (rate, set); queries without datapoints are left out."""
    newest: dict[ReputationKey, tuple[float, float]] = {}
    for query, points in data.results:
        if query.metric in RATE_OF and points:
            newest[(RATE_OF[query.metric], query.configuration_set)] = max(points)
    return newest


def wanted_metrics(discovery: Discovery, sets: ConfigurationSetFilter) -> list[MetricKey]:
    """The discovered metrics to read: account-wide ones that have an account-wide family,
    and those of the sets the account's include/exclude filter keeps."""
    return [
        (name, configuration_set)
        for name, configuration_set in discovery.metrics
        if (sets.matches(configuration_set) if configuration_set else _account_wide(name))
    ]


def _account_wide(name: str) -> bool:
    row = ROW_OF.get(name)
    return row is None or row.account is not None  # Reputation.* rows are not counters


def status_of(ratio: float, pair: ThresholdPair) -> str:
    return pair.status(ratio)


def _where(configuration_set: str | None) -> tuple[dict[str, str], str]:
    """Extra labels and HELP wording of account-wide or per-set series."""
    if configuration_set is None:
        return {}, "account-wide (no dimensions)"
    per_set = "per configuration set (dimension ses:configuration-set)"
    return {"configuration_set": configuration_set}, per_set


def cloudwatch_families(
    snap: CloudWatchSnapshot, thresholds: ReputationThresholds, labels: Mapping[str, str]
) -> list[Metric]:
    """CloudWatchSnapshot -> the cloudwatch collector's families, account-wide before
    per-set."""
    b = FamilyBuilder(labels)
    rows = {row.key: row for row in COUNTERS}
    for (key, configuration_set), total in sorted(snap.counters, key=_by_set):
        row, (extra, where) = rows[key], _where(configuration_set)
        family = row.account if configuration_set is None else row.per_set
        if family is None:
            continue  # no account-wide family: SES publishes it only per set
        doc = (
            f"{row.meaning}, {where}. Source: CloudWatch AWS/SES {' / '.join(row.names)} "
            f"(Sum), re-read at every poll from the end of the last window read, less "
            f"lookback; {CACHED}"
        )
        b.counter(family, doc, total, extra)
    by_set: dict[str | None, dict[str, tuple[float, float]]] = {}
    for (rate, configuration_set), point in sorted(snap.reputation, key=_by_set):
        by_set.setdefault(configuration_set, {})[rate] = point
    for configuration_set, rates in by_set.items():
        _reputation(b, configuration_set, rates, thresholds)
    if snap.unattributed is not None:
        doc = (
            "Events CloudWatch reported, after a gap older than it keeps datapoints at the "
            "configured period, in a coarser datapoint that could not be matched to what "
            "was already counted: left out of every counter (at most this many are missing)"
        )
        b.counter("ses_exporter_cloudwatch_unattributed_events_total", doc, snap.unattributed)
    return b.families()


def _by_set(item: tuple[tuple[str, str | None], Any]) -> tuple[bool, str, str]:
    (name, configuration_set), _ = item
    return (configuration_set is not None, configuration_set or "", name)


def _reputation(
    b: FamilyBuilder,
    configuration_set: str | None,
    rates: Mapping[str, tuple[float, float]],
    thresholds: ReputationThresholds,
) -> None:
    names = REPUTATION_FAMILIES[configuration_set is not None]
    extra, where = _where(configuration_set)
    both = f"Source: CloudWatch AWS/SES {' / '.join(REPUTATION.values())} (Average); {CACHED}"
    statuses: dict[str, str] = {}
    for rate, (timestamp, ratio) in rates.items():
        metric = REPUTATION[rate]
        source = f"Source: CloudWatch AWS/SES {metric} (Average); {CACHED}"
        doc = f"Newest {metric} within reputation_lookback, 0-1, {where}. {source}"
        b.gauge(names.ratio[rate], doc, ratio, extra)
        doc = f"Unix time of the newest reputation datapoint per rate, {where}. {both}"
        b.gauge(names.last_datapoint, doc, timestamp, {**extra, "rate": rate})
        statuses[rate] = status_of(ratio, getattr(thresholds, rate))
    statuses = {"overall": max(statuses.values(), key=STATUSES.index), **statuses}
    if configuration_set is None:
        meaning = (
            "AWS's own enforcement state is aws_ses_account_enforcement_status, which this "
            "does not read"
        )
    else:
        meaning = "AWS enforces per account only, never per configuration set"
    doc = (
        f"Reputation status derived from the rates, {where}, as the console's Reputation "
        f"page shows it: 1 for the current one (overall = the worse of bounce and "
        f"complaint; thresholds from reputation_thresholds); {meaning}. {both}"
    )
    for rate, current in statuses.items():
        for status in STATUSES:
            labels = {**extra, "rate": rate, "status": status}
            b.gauge(names.status, doc, float(status == current), labels)


NAME = "cloudwatch"  # collectors.cloudwatch, --collector.cloudwatch


class CloudWatchCollectorConfig(CollectorConfig):
    """``collectors.cloudwatch``: the GetMetricData period and the two look-backs."""

    period: Duration = 300.0
    lookback: Duration = 10_800.0
    # SES publishes Reputation.* irregularly, hours apart for low-volume senders: the newest
    # datapoint is looked for over a longer window than the event counts, so it does not
    # vanish (and alerts on it resolve) between two datapoints.
    reputation_lookback: Duration = 86_400.0

    @field_validator("period")
    @classmethod
    def _whole_minutes(cls, period: float) -> float:
        # AWS/SES metrics have one-minute resolution; GetMetricData wants multiples of 60.
        if period % 60:
            raise ValueError(f"must be a multiple of 60s, got {format_duration(period)}")
        return period

    def _problems(self) -> list[Problem]:
        problems = super()._problems()
        least = self.interval + self.period
        if self.lookback < least:
            # lookback is the lateness margin: each poll reads from the end of the last
            # window, less lookback. Less than a period would miss the growth of the
            # period being read; CloudWatch publishes late, and a datapoint is read only if
            # it arrives within lookback - period of its period's end.
            message = (
                f"must be at least interval + period ({format_duration(least)}): CloudWatch "
                "publishes datapoints minutes late, and one that arrives more than "
                "lookback - period after its period ends is never read; got "
            )
            problems.append((("lookback",), message + format_duration(self.lookback)))
        if self.reputation_lookback < self.period:
            message = f"must be at least the period ({format_duration(self.period)}), got "
            problems.append(
                (("reputation_lookback",), message + format_duration(self.reputation_lookback))
            )
        for key in ("lookback", "reputation_lookback"):
            seconds: float = getattr(self, key)
            kept = retention(int(self.period))
            if seconds > kept:
                problems.append(((key,), self._beyond_retention(seconds, kept)))
        return problems

    def _beyond_retention(self, seconds: float, kept: int) -> str:
        period = format_duration(self.period)
        coarser = [step for step, _ in RETENTION if step > self.period]
        hint = (
            f"; a period that is a multiple of {format_duration(coarser[0])} reads further back"
            if coarser
            else ""
        )
        return (
            f"must be at most {format_duration(kept)} with period {period}: CloudWatch answers "
            f"at that period for {format_duration(kept)} only and returns no datapoints for "
            f"older times{hint}; got {format_duration(seconds)}"
        )


@dataclass(frozen=True)
class CloudWatchSettings:
    """What the cloudwatch collector is configured with; replaced whole on a reload."""

    config: CloudWatchCollectorConfig  # collectors.cloudwatch: period and lookback
    configuration_sets: ConfigurationSetFilter  # the target account's include/exclude
    thresholds: ReputationThresholds  # reputation_thresholds, for the status families


@register
class CloudWatchCollector(Collector):
    """Discovery cache and counter state live here, for the life of the target.

    A failed ListMetrics refresh after a successful one keeps the cached discovery (logged,
    retried at the next poll): which metrics exist changes slowly, and GetMetricData still
    reads them. A failed first discovery, or any failed GetMetricData, fails the poll.
    """

    name = NAME
    title = "events and reputation (namespace AWS/SES)"
    default_interval = 300.0
    config_model = CloudWatchCollectorConfig

    def __init__(
        self,
        clients: TargetClients,
        settings: CloudWatchSettings,
        count_metrics: Callable[[int], None],
        clock: Callable[[], float] = time.time,
    ):
        """``count_metrics`` adds to ses_exporter_cloudwatch_metrics_requested_total of the
        target (kept by the target, so it survives this collector being switched off)."""
        super().__init__(clients)
        self.settings = settings
        self._count_metrics = count_metrics
        self._clock = clock
        self._counters: WindowCounters[CounterKey] = WindowCounters()
        self._discovery: Discovery | None = None
        self._discovered_at = -math.inf
        self._listed = True  # the last ListMetrics refresh succeeded
        self._counted: Window | None = None  # the last window read into the counters
        self._unattributed = 0.0  # ses_exporter_cloudwatch_unattributed_events_total
        self._refined: dict[ReputationKey, Refined] = {}

    @classmethod
    def build(cls, target: TargetContext, section: CollectorConfig, existing: Self | None) -> Self:
        assert isinstance(section, CloudWatchCollectorConfig)
        settings = CloudWatchSettings(
            section, target.configuration_sets, target.reputation_thresholds
        )
        if existing is None:
            return cls(target.clients, settings, target.count_cloudwatch_metrics)
        existing.configure(settings)
        return existing

    def configure(self, settings: CloudWatchSettings) -> None:
        """New settings after a reload; discovery cache and counters are kept."""
        self.settings = settings

    def poll(self, labels: Mapping[str, str]) -> list[Metric]:
        now = self._clock()
        config = self.settings.config
        period = int(config.period)
        keys = wanted_metrics(self._discover(now, labels), self.settings.configuration_sets)
        # Read from the end of the last window counted, less the lateness margin
        # (``lookback``): a datapoint CloudWatch publishes up to lookback - period late is
        # read, and after failed polls the window reaches back over the whole gap, as far
        # as CloudWatch still answers (older parts at coarser periods, see read_windows).
        counted = self._counted
        resume = now if counted is None else min(now, counted.end)
        *coarse, window = read_windows(resume - config.lookback, now, period, now)
        reputation = trailing_window(now, period, config.reputation_lookback)
        events = [key for key in keys if key[0] not in RATE_OF]
        rates = [key for key in keys if key[0] in RATE_OF]
        if window == reputation:
            data = self._fetch(events + rates, window)
        else:
            data = MetricData(
                self._fetch(events, window).results + self._fetch(rates, reputation).results
            )
        older = [(part, self._fetch(events, part)) for part in coarse]
        newest = self._newest(newest_reputation(data), period, now)
        # Everything AWS answered: only now do the counters move (a failure above leaves
        # them as they were, and the next poll reads the gap again).
        if counted is not None and counted.period != period:
            # A new period after a reload: datapoints are keyed by their start time, and
            # the new grid's cannot be matched with the old one's (after 5m -> 1m every
            # minute inside a counted 5-minute point would look new). Everything up to the
            # end of the last window read at the old period counts as counted.
            self._counters.rebaseline(counted.end)
        oldest = coarse[0].start if coarse else window.start
        self._catch_up(older, oldest, resume - config.lookback, labels)
        if self._listed or counted is None:
            self._counted = window
        else:
            # ListMetrics failed: a metric it would list by now (a first Reject, a new
            # set) may have datapoints in this window. Read from the same point again
            # until it answers, so they are still in the window when it does.
            self._counted = Window(counted.start, counted.end, period)
        observations = counter_observations(data)
        current_bucket = math.floor(now / period) * period
        self._counters.update(observations, window.start, current_bucket)
        self._counters.retain(observations)
        # The next poll reads from the end of what was counted less lookback: nothing older
        # is read again (but by a catch-up's coarser datapoints, matched from here on).
        next_start = math.floor((min(now, self._counted.end) - config.lookback) / period)
        self._counters.forget(next_start * period)
        snap = CloudWatchSnapshot(
            counters=tuple(self._counters.totals().items()),
            reputation=tuple(newest.items()),
            unattributed=self._unattributed,
        )
        return cloudwatch_families(snap, self.settings.thresholds, labels)

    def _catch_up(
        self,
        older: list[tuple[Window, MetricData]],
        oldest: float,
        wanted: float,
        labels: Mapping[str, str],
    ) -> None:
        """Count a gap's parts that CloudWatch keeps only at coarser periods; say so when
        the gap began before the ``oldest`` time CloudWatch still answers for."""
        where = {"region": self.clients.region, "account": labels.get("account_id")}
        if oldest > wanted:
            self.log.warning(
                "CloudWatch no longer keeps the start of the gap since the last poll; "
                "its events are not counted",
                extra={**where, "gap_start": wanted, "oldest_read": oldest},
            )
        for part, data in older:
            unmatched = self._counters.add_coarse(counter_observations(data), part.period)
            if unmatched:
                self._unattributed += unmatched
                self.log.warning(
                    "events after a long gap could not be matched to what was counted",
                    extra={**where, "events": unmatched, "period": part.period},
                )

    def _newest(
        self, buckets: Mapping[ReputationKey, tuple[float, float]], period: int, now: float
    ) -> dict[ReputationKey, tuple[float, float]]:
        """The newest reputation datapoint per key: at a period over a minute a bucket
        averages every datapoint in it and is stamped with its start, so the newest bucket
        is read again at one minute (CloudWatch's finest for AWS/SES) for the minute and
        value of its newest datapoint; once per new bucket, cached after."""
        refined: dict[ReputationKey, Refined] = {}
        by_start: dict[float, list[ReputationKey]] = {}
        for key, bucket in buckets.items():
            known = self._refined.get(key)
            # Read again while the bucket was still open at the last reading: a datapoint
            # since may leave its average as it was (a rate that stays the same).
            if known is not None and known[0] == bucket and known[2] >= bucket[0] + period:
                refined[key] = known
            elif period > MINUTE and bucket[0] >= now - retention(MINUTE) + MINUTE:
                by_start.setdefault(bucket[0], []).append(key)
            else:
                refined[key] = (bucket, bucket, math.inf)
        for start, group in sorted(by_start.items()):
            metrics = [(REPUTATION[rate], configuration_set) for rate, configuration_set in group]
            part = Window(start, start + period, MINUTE)
            for query, points in self._fetch(metrics, part).results:
                key = (RATE_OF[query.metric], query.configuration_set)
                refined[key] = (buckets[key], max(points) if points else buckets[key], now)
        self._refined = refined
        return {key: point for key, (_, point, _) in refined.items()}

    def _fetch(self, keys: Collection[MetricKey], window: Window) -> MetricData:
        """cloudwatch GetMetricData of ``keys`` over ``window`` (no call for no keys)."""
        queries = plan_queries(keys, STAT_OF)
        return fetch_metric_data(self.clients.cloudwatch, queries, window, self._count_metrics)

    def _discover(self, now: float, labels: Mapping[str, str]) -> Discovery:
        lookback = self.settings.config.lookback
        refresh = min(DISCOVERY_REFRESH_SECONDS, lookback / 2)
        if self._discovery is not None and now - self._discovered_at < refresh:
            return self._discovery
        try:
            self._discovery = discover_metrics(self.clients.cloudwatch, STAT_OF)
            self._listed = True
        except Exception as exc:
            if self._discovery is None:
                raise
            self._listed = False
            self.log.warning(
                "ListMetrics failed; using the cached list of CloudWatch metrics",
                extra={
                    "region": self.clients.region,
                    "account": labels.get("account_id"),
                    "outcome": error_outcome(exc),
                    "error": redact(describe_error(exc)),
                },
            )
            return self._discovery
        self._discovered_at = now
        return self._discovery
