"""What the pages show, as plain values: read from the store's poll results, never from AWS.

A target's values come from the families its collectors' last good polls left in the store
(``PollStatus.metric_families``, only the families a view needs), its sending history
from the send_statistics collector's hourly sums (``Hourly``), and the reputation status
from the rates and the configured ``reputation_thresholds`` (as the cloudwatch collector
derives it). Results that have gone stale are not shown, as ``/metrics`` leaves them out.

The fleet view reads every target at every view: the values of each poll result are kept
(``FleetModel``) until the store holds a new result for that (target, collector), so a
view of 1,500 targets parses only what changed since the last view.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..config_types import ReputationThresholds, ThresholdPair
from ..store import PollStatus

HOUR = 3600
DAYS = (1, 3, 7, 14)  # the console's ranges of the Sending statistics charts
SERIES = ("sends", "rejects", "bounces", "complaints")  # its charts, in its order
PAGE_SIZE = 100  # fleet rows per page: about 150 KB of HTML

# GetAccount's EnforcementStatus in the console's words; a higher rank is worse.
HEALTH: dict[str, tuple[str, int]] = {
    "HEALTHY": ("Healthy", 0),
    "PROBATION": ("Under review", 2),
    "SHUTDOWN": ("Paused", 3),
}
UNKNOWN_HEALTH = ("Unknown", 1)  # no GetAccount answer, or a status AWS added since
# Reputation status derived from the rates, as the console's Reputation page words it.
REPUTATION: dict[str, tuple[str, int]] = {
    "healthy": ("Healthy", 0),
    "under_review": ("Under review", 2),
    "at_risk": ("At risk", 3),
}
UNKNOWN_REPUTATION = ("Unknown", 1)

# Hourly counts of one target: (first hour in unix seconds, series -> one count per hour).
Hourly = tuple[float, Mapping[str, Sequence[int]]]
# Sample name -> [(labels, value)], the labels as the store has them (target labels too).
Samples = dict[str, list[tuple[dict[str, str], float]]]

FLEET_FAMILIES = frozenset(
    {
        "aws_ses_daily_sending_quota",
        "aws_ses_max_send_rate",
        "aws_ses_sent_last_24h",
        "aws_ses_remaining_sends",
        "aws_ses_sending_quota_used_ratio",
        "aws_ses_account_sending_enabled",
        "aws_ses_account_production_access_enabled",
        "aws_ses_account_enforcement_status",
        "aws_ses_reputation_bounce_ratio",
        "aws_ses_reputation_complaint_ratio",
    }
)
TARGET_FAMILIES = FLEET_FAMILIES | {
    "aws_ses_account_info",
    "aws_ses_smtp_endpoint_info",
    "aws_ses_reputation_last_datapoint_timestamp_seconds",
    "aws_ses_configuration_sets",
    "aws_ses_configuration_set_sending_enabled",
    "aws_ses_configuration_set_reputation_metrics_enabled",
    "aws_ses_configuration_set_last_fresh_start_timestamp_seconds",
    "aws_ses_configuration_set_reputation_bounce_ratio",
    "aws_ses_configuration_set_reputation_complaint_ratio",
}


@dataclass(frozen=True)
class Source:
    """What the daemon holds, as the pages read it (built per request; cheap)."""

    statuses: Sequence[PollStatus]
    names: Mapping[str, str]  # account_id label -> the account's name
    thresholds: ReputationThresholds
    hourly: Callable[[str, str], Hourly | None]  # (account_id, region) -> its hourly counts
    now: float
    version: str


def status_of(ratio: float | None, pair: ThresholdPair) -> str | None:
    """healthy / under_review / at_risk against the configured thresholds; None if no rate."""
    if ratio is None or math.isnan(ratio):
        return None
    return pair.status(ratio)


def worse(*statuses: str | None) -> str | None:
    known = [s for s in statuses if s is not None]
    return max(known, key=lambda s: REPUTATION[s][1]) if known else None


def samples_of(statuses: Iterable[PollStatus], now: float, only: Collection[str]) -> Samples:
    """The samples of the wanted families in the fresh results of ``statuses``."""
    out: Samples = {}
    for status in statuses:
        if status.is_fresh(now):
            _add_samples(out, status, only)
    return out


def _add_samples(out: Samples, status: PollStatus, only: Collection[str]) -> None:
    for name, labels, value in status.samples(only):
        out.setdefault(name, []).append((labels, value))


def _value(samples: Samples, name: str) -> float | None:
    found = samples.get(name)
    return found[0][1] if found else None


def _switch(samples: Samples, name: str) -> bool | None:
    value = _value(samples, name)
    return None if value is None else value == 1.0


def _current(samples: Samples, name: str, label: str) -> str | None:
    """The label value of the enum sample that is 1 (aws_ses_account_enforcement_status)."""
    return next((labels[label] for labels, v in samples.get(name, []) if v == 1.0), None)


@dataclass(frozen=True)
class Account:
    """The account dashboard's values of one target (None: AWS did not say, or no data)."""

    quota: float | None = None  # inf: unlimited
    max_rate: float | None = None
    sent: float | None = None
    remaining: float | None = None
    used_ratio: float | None = None
    sending: bool | None = None
    production: bool | None = None
    enforcement: str | None = None  # GetAccount's EnforcementStatus
    bounce: float | None = None
    complaint: float | None = None

    @classmethod
    def of(cls, s: Samples) -> Account:
        return cls(
            quota=_value(s, "aws_ses_daily_sending_quota"),
            max_rate=_value(s, "aws_ses_max_send_rate"),
            sent=_value(s, "aws_ses_sent_last_24h"),
            remaining=_value(s, "aws_ses_remaining_sends"),
            used_ratio=_value(s, "aws_ses_sending_quota_used_ratio"),
            sending=_switch(s, "aws_ses_account_sending_enabled"),
            production=_switch(s, "aws_ses_account_production_access_enabled"),
            enforcement=_current(s, "aws_ses_account_enforcement_status", "status"),
            bounce=_value(s, "aws_ses_reputation_bounce_ratio"),
            complaint=_value(s, "aws_ses_reputation_complaint_ratio"),
        )


@dataclass(frozen=True)
class CollectorState:
    collector: str
    success: bool | None  # None: not polled yet
    last_success: float | None
    error: str | None


@dataclass(frozen=True)
class FleetRow:
    account_id: str
    name: str
    region: str
    account: Account
    bounce_status: str | None
    complaint_status: str | None
    collectors: tuple[CollectorState, ...]

    @property
    def reputation(self) -> str | None:
        return worse(self.bounce_status, self.complaint_status)

    @property
    def health(self) -> tuple[str, int]:
        status = self.account.enforcement
        return UNKNOWN_HEALTH if status is None else HEALTH.get(status, UNKNOWN_HEALTH)

    @property
    def errors(self) -> tuple[CollectorState, ...]:
        return tuple(c for c in self.collectors if c.success is False)

    def age(self, now: float) -> float | None:
        """Seconds since the oldest of the collectors' last successes (None: no data yet)."""
        times = [c.last_success for c in self.collectors if c.last_success is not None]
        return max(now - min(times), 0.0) if times else None

    def severity(self) -> tuple[float, ...]:
        """Larger is worse: account health, reputation, failing collectors, quota used."""
        reputation = self.reputation
        rank = UNKNOWN_REPUTATION[1] if reputation is None else REPUTATION[reputation][1]
        used = self.account.used_ratio
        return (self.health[1], rank, len(self.errors), -1.0 if used is None else used)


@dataclass(frozen=True)
class Filters:
    q: str = ""
    region: str = ""
    health: str = ""  # an EnforcementStatus, or ""
    reputation: str = ""  # a key of REPUTATION, or ""
    page: int = 1

    @classmethod
    def parse(cls, query: Mapping[str, Sequence[str]]) -> Filters:
        """From the GET parameters; a value the form cannot send is ignored."""

        def first(name: str) -> str:
            values = query.get(name) or [""]
            return values[0].strip()[:200]

        health = first("health").upper()
        reputation = first("reputation").lower()
        try:
            page = max(int(first("page") or "1"), 1)
        except ValueError:
            page = 1
        return cls(
            q=first("q"),
            region=first("region"),
            health=health if health in HEALTH else "",
            reputation=reputation if reputation in REPUTATION else "",
            page=page,
        )

    def matches(self, row: FleetRow) -> bool:
        q = self.q.lower()
        if q and q not in row.account_id.lower() and q not in row.name.lower():
            return False
        if self.region and row.region != self.region:
            return False
        if self.health and row.account.enforcement != self.health:
            return False
        return not self.reputation or row.reputation == self.reputation

    def active(self) -> bool:
        return bool(self.q or self.region or self.health or self.reputation)


@dataclass(frozen=True)
class FleetPage:
    rows: tuple[FleetRow, ...]  # this page's, worst first
    matching: int
    total: int
    page: int
    pages: int
    filters: Filters
    regions: tuple[str, ...]  # every region of the fleet, for the filter


@dataclass(frozen=True)
class _Kept:
    """A target's row and what it was made of: the store replaces a ``PollStatus`` whole
    whenever anything in it changes, so identity tells whether the row is still true."""

    statuses: tuple[PollStatus, ...]
    fresh: tuple[bool, ...]
    name: str
    thresholds: ReputationThresholds
    row: FleetRow

    def still(
        self, statuses: tuple[PollStatus, ...], fresh: tuple[bool, ...], source: Source, name: str
    ) -> bool:
        return (
            len(statuses) == len(self.statuses)
            and all(a is b for a, b in zip(statuses, self.statuses, strict=True))
            and fresh == self.fresh
            and name == self.name
            and source.thresholds is self.thresholds
        )


@dataclass
class FleetModel:
    """Builds fleet pages, keeping each target's row until the store replaces one of its
    poll statuses (and each poll result's values until the store replaces the result)."""

    _rows: dict[tuple[str, str], _Kept] = field(default_factory=dict)
    _results: dict[tuple[str, str, str], tuple[object, Samples]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def rows(self, source: Source) -> list[FleetRow]:
        by_target: dict[tuple[str, str], list[PollStatus]] = {}
        for status in source.statuses:
            by_target.setdefault((status.account_id, status.region), []).append(status)
        rows = []
        kept_rows: dict[tuple[str, str], _Kept] = {}
        kept_results: dict[tuple[str, str, str], tuple[object, Samples]] = {}
        with self._lock:
            for target, found in by_target.items():
                statuses = tuple(found)
                fresh = tuple(s.is_fresh(source.now) for s in statuses)
                name = source.names.get(target[0], target[0])
                kept = self._rows.get(target)
                if kept is None or not kept.still(statuses, fresh, source, name):
                    samples = self._samples(statuses, fresh, kept_results)
                    row = _row(target[0], target[1], statuses, samples, source)
                    kept = _Kept(statuses, fresh, name, source.thresholds, row)
                else:
                    for status in statuses:
                        key = (*target, status.collector)
                        if key in self._results:
                            kept_results[key] = self._results[key]
                kept_rows[target] = kept
                rows.append(kept.row)
            # Targets and results gone from the store are forgotten.
            self._rows, self._results = kept_rows, kept_results
        return rows

    def _samples(
        self,
        statuses: tuple[PollStatus, ...],
        fresh: tuple[bool, ...],
        kept: dict[tuple[str, str, str], tuple[object, Samples]],
    ) -> Samples:
        samples: Samples = {}
        for status, is_fresh in zip(statuses, fresh, strict=True):
            if not is_fresh:
                continue
            key = (status.account_id, status.region, status.collector)
            # A new poll result is a new object: identity says whether it changed.
            content = status.families or status.rendered
            known = self._results.get(key)
            if known is None or known[0] is not content:
                part: Samples = {}
                _add_samples(part, status, FLEET_FAMILIES)
                known = (content, part)
            kept[key] = known
            samples.update(known[1])
        return samples

    def page(self, source: Source, filters: Filters) -> FleetPage:
        rows = self.rows(source)
        regions = tuple(sorted({r.region for r in rows}))
        matching = [r for r in rows if filters.matches(r)]
        matching.sort(key=lambda r: (r.name.lower(), r.account_id, r.region))
        matching.sort(key=FleetRow.severity, reverse=True)  # stable: worst first, then by name
        pages = max(math.ceil(len(matching) / PAGE_SIZE), 1)
        page = min(filters.page, pages)
        shown = matching[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
        return FleetPage(tuple(shown), len(matching), len(rows), page, pages, filters, regions)


def _row(
    account_id: str,
    region: str,
    statuses: Sequence[PollStatus],
    samples: Samples,
    source: Source,
) -> FleetRow:
    account = Account.of(samples)
    thresholds = source.thresholds
    collectors = tuple(
        CollectorState(s.collector, s.success, s.last_success, s.last_error)
        for s in sorted(statuses, key=lambda s: s.collector)
    )
    return FleetRow(
        account_id,
        source.names.get(account_id, account_id),
        region,
        account,
        status_of(account.bounce, thresholds.bounce),
        status_of(account.complaint, thresholds.complaint),
        collectors,
    )


@dataclass(frozen=True)
class ConfigurationSet:
    name: str
    sending: bool | None
    reputation_metrics: bool | None
    bounce: float | None
    complaint: float | None
    bounce_status: str | None
    complaint_status: str | None
    last_fresh_start: float | None

    @property
    def status(self) -> str | None:
        return worse(self.bounce_status, self.complaint_status)


# GET parameter ``sort`` of the configuration-set table -> its key (rates: worst first).
SET_SORTS: dict[str, tuple[Callable[[ConfigurationSet], Any], bool]] = {
    "name": (lambda s: s.name, False),
    "status": (lambda s: -1 if s.status is None else REPUTATION[s.status][1], True),
    "bounce-rate": (lambda s: -1.0 if s.bounce is None else s.bounce, True),
    "complaint-rate": (lambda s: -1.0 if s.complaint is None else s.complaint, True),
    "sending": (lambda s: s.sending is not False, False),
}


@dataclass(frozen=True)
class TargetView:
    row: FleetRow
    info: Mapping[str, str]  # aws_ses_account_info's labels
    smtp: Mapping[str, str]  # aws_ses_smtp_endpoint_info's labels
    reputation_updated: Mapping[str, float]  # rate -> newest datapoint, unix seconds
    configuration_sets: tuple[ConfigurationSet, ...]
    configuration_set_count: float | None
    hourly: Hourly | None
    days: int
    sort: str


def target_view(
    source: Source, account_id: str, region: str, query: Mapping[str, Sequence[str]]
) -> TargetView | None:
    """The target's view, or None if the store has no such target."""
    statuses = [s for s in source.statuses if s.account_id == account_id and s.region == region]
    if not statuses:
        return None
    samples = samples_of(statuses, source.now, TARGET_FAMILIES)
    row = _row(account_id, region, statuses, samples, source)
    info = next((labels for labels, _ in samples.get("aws_ses_account_info", [])), {})
    smtp = next((labels for labels, _ in samples.get("aws_ses_smtp_endpoint_info", [])), {})
    updated = {
        labels.get("rate", ""): value
        for labels, value in samples.get("aws_ses_reputation_last_datapoint_timestamp_seconds", [])
    }
    days = _choice(query, "days", {str(d) for d in DAYS}, "14")
    sort = _choice(query, "sort", set(SET_SORTS), "status")
    sets = _configuration_sets(samples, source.thresholds)
    by_name = sorted(sets, key=lambda s: s.name)
    key, descending = SET_SORTS[sort]
    return TargetView(
        row,
        info,
        smtp,
        updated,
        tuple(sorted(by_name, key=key, reverse=descending)),
        _value(samples, "aws_ses_configuration_sets"),
        source.hourly(account_id, region),
        int(days),
        sort,
    )


def _choice(query: Mapping[str, Sequence[str]], name: str, allowed: set[str], default: str) -> str:
    value = (query.get(name) or [default])[0]
    return value if value in allowed else default


def _configuration_sets(
    samples: Samples, thresholds: ReputationThresholds
) -> list[ConfigurationSet]:
    per_set: dict[str, dict[str, float]] = {}
    prefix = "aws_ses_configuration_set_"
    for name, found in samples.items():
        if name.startswith(prefix) and name != "aws_ses_configuration_sets":
            for labels, value in found:
                if "configuration_set" in labels:
                    per_set.setdefault(labels["configuration_set"], {})[name[len(prefix) :]] = value
    out = []
    for name, values in per_set.items():
        bounce = values.get("reputation_bounce_ratio")
        complaint = values.get("reputation_complaint_ratio")
        sending = values.get("sending_enabled")
        metrics = values.get("reputation_metrics_enabled")
        out.append(
            ConfigurationSet(
                name,
                None if sending is None else sending == 1.0,
                None if metrics is None else metrics == 1.0,
                bounce,
                complaint,
                status_of(bounce, thresholds.bounce),
                status_of(complaint, thresholds.complaint),
                values.get("last_fresh_start_timestamp_seconds"),
            )
        )
    return out


def hourly_points(
    hourly: Hourly | None, series: str, days: int, now: float
) -> list[tuple[int, int]]:
    """(unix seconds of the hour, count) for every hour of the last ``days`` days up to and
    including the current hour, 0 where AWS has no bucket."""
    end = int(now // HOUR) * HOUR
    start = end - days * 24 * HOUR + HOUR
    counts: Sequence[int] = ()
    first = 0
    if hourly is not None:
        first = int(hourly[0])
        counts = hourly[1].get(series, ())
    points = []
    for hour in range(start, end + HOUR, HOUR):
        index = (hour - first) // HOUR
        points.append((hour, int(counts[index]) if 0 <= index < len(counts) else 0))
    return points
