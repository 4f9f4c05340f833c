"""The poll results between the poller and ``/metrics`` (``ResultStore``).

Each (target, collector) has one frozen ``PollStatus``. A poll replaces it whole, so a
scrape sees either the old or the new result, never half of each; ``/metrics`` reads
only this and never waits on AWS.

Staleness, exactly: the last good families are exposed while

* no more than ``max_staleness`` has passed since the poll that produced them finished
  (``last_success``), or
* a poll is in flight that started within ``max_staleness`` of that success: the attempt
  that may replace them is under way, so they stay until it ends, however long it takes
  (every AWS call in it is bounded by timeouts and retries).

So a failing collector's series go absent ``max_staleness`` after its last success (or
when the attempt in flight at that moment fails), and a slow but succeeding one's never
do: its next poll starts at the next tick, at most one interval after the last success.

A successful poll's families are kept rendered (``exposition.render``, in the poller's
thread, before the swap), so a scrape joins bytes instead of printing numbers; the
``Metric`` objects themselves only where the text cannot give them back exactly
(``PollStatus.metric_families``), as the rare scrapes the join cannot serve need them.
Freshness is still decided at scrape time: a stale result's fragments are left out then.
``snapshot`` returns the statuses with a version that changes whenever some status's
rendered content does (or a status comes or goes), so what is derived from the rendered
results alone can be cached per (version, which of them are fresh).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from prometheus_client.metrics_core import Metric

from .exposition import EMPTY, Rendered, label_text, parse, render, sample_line, sample_values

# (account key, region, collector): stable across polls and config reloads.
StatusKey = tuple[str, str, str]

# The exporter's own series per (target, collector), in the order /metrics
# prints them: (name, HELP). Each status keeps its sample lines of these families ready
# (``PollStatus.own``), so a scrape of 1,500 targets joins 24,000 lines instead of
# printing them.
COLLECTOR_SERIES: tuple[tuple[str, str], ...] = (
    (
        "ses_exporter_collector_success",
        "1 if the collector's last poll of the target succeeded.",
    ),
    (
        "ses_exporter_collector_last_success_timestamp_seconds",
        "Unix time of the collector's last successful poll of the target.",
    ),
    (
        "ses_exporter_collector_duration_seconds",
        "Duration of the collector's last poll of the target.",
    ),
    (
        "ses_exporter_collector_scheduling_lag_seconds",
        "How late the collector's last poll of the target started after its scheduled "
        "time (waiting for a free worker); near 0 when the exporter keeps up.",
    ),
)
COLLECTOR_LABELS = ("account_id", "region", "collector")
NO_LINES = (b"",) * len(COLLECTOR_SERIES)


@dataclass(frozen=True)
class PollStatus:
    account_id: str
    region: str
    collector: str
    max_staleness: float
    attempts: int = 0
    success: bool | None = None  # None until the first poll has finished
    last_success: float | None = None  # when the last successful poll finished
    in_flight_since: float | None = None  # start of the poll running now, if any
    duration: float | None = None
    scheduling_lag: float | None = None  # of the last poll: its start minus its tick
    last_error: str | None = None
    families: tuple[Metric, ...] = ()  # () when ``rendered`` holds them: see metric_families
    rendered: Rendered = EMPTY  # the families, rendered
    # Sample lines of COLLECTOR_SERIES, one bytes per family (both formats print them
    # alike), kept up to date by the store whenever the fields they show change.
    own: tuple[bytes, ...] = NO_LINES
    # Until when the last good families may be exposed (see the module docstring):
    # ``max_staleness`` after the last success, for good while a poll is in flight that
    # started by then; -inf before any success. Set by __post_init__ from the fields above.
    fresh_until: float = field(init=False, repr=False, compare=False)

    def metric_families(self, only: Collection[str] | None = None) -> Sequence[Metric]:
        """The last good families (those named in ``only``, if given; a counter by its name
        without ``_total``): kept as they are, or parsed back from ``rendered`` when that
        gives them exactly (``exposition.parse``), which holds a fraction of the memory."""
        if self.families or not self.rendered.plain:
            return self.families if only is None else [f for f in self.families if f.name in only]
        return parse(self.rendered, only)

    def samples(self, only: Collection[str]) -> Iterator[tuple[str, dict[str, str], float]]:
        """(sample name, labels, value) of the last good families named in ``only``: read
        from the rendered lines where the families are not kept (no ``Metric`` built)."""
        if self.families or not self.rendered.plain:
            for family in self.families:
                if family.name in only:
                    for sample in family.samples:
                        yield sample.name, sample.labels, sample.value
            return
        yield from sample_values(self.rendered, only)

    def values(self) -> tuple[float | None, ...]:
        """The values of COLLECTOR_SERIES, None where a series is absent."""
        if self.success is None:
            return (None,) * len(COLLECTOR_SERIES)
        return (float(self.success), self.last_success, self.duration, self.scheduling_lag)

    def with_own_lines(self) -> PollStatus:
        """This status with ``own`` rendered from its fields (the text format's lines,
        which OpenMetrics prints the same way for a gauge)."""
        labels = label_text(COLLECTOR_LABELS, (self.account_id, self.region, self.collector))
        lines = tuple(
            b"" if value is None else sample_line(name, labels, value)
            for (name, _), value in zip(COLLECTOR_SERIES, self.values(), strict=True)
        )
        return replace(self, own=lines)

    def __post_init__(self) -> None:
        until = -math.inf
        if self.last_success is not None:
            until = self.last_success + self.max_staleness
            in_flight = self.in_flight_since
            if in_flight is not None and in_flight <= until:
                until = math.inf
        object.__setattr__(self, "fresh_until", until)

    def is_fresh(self, now: float) -> bool:
        """Whether the last good families may still be exposed at ``now``."""
        return now <= self.fresh_until


class ResultStore:
    """The latest ``PollStatus`` of every (target, collector): written by the poller, read
    by the scrape (``scrape.ExporterCollector``) and the landing page."""

    def __init__(self) -> None:
        self._entries: dict[StatusKey, PollStatus] = {}
        self._lock = threading.Lock()
        self._version = 0  # changes when the statuses or their rendered content do

    def register(self, key: StatusKey, account_id: str, max_staleness: float) -> None:
        with self._lock:
            old = self._entries.get(key)
            if old is None:
                self._entries[key] = PollStatus(account_id, key[1], key[2], max_staleness)
                self._version += 1
            else:
                self._entries[key] = replace(old, max_staleness=max_staleness)

    def remove(self, key: StatusKey) -> None:
        with self._lock:
            if self._entries.pop(key, None) is not None:
                self._version += 1

    def keys(self) -> list[StatusKey]:
        with self._lock:
            return list(self._entries)

    def record_start(self, key: StatusKey, started: float, lag: float | None) -> None:
        """A poll of ``key`` started at ``started``, ``lag`` seconds after its tick."""
        with self._lock:
            old = self._entries.get(key)
            if old is not None:
                new = replace(old, in_flight_since=started, scheduling_lag=lag)
                self._entries[key] = new.with_own_lines() if lag != old.scheduling_lag else new

    def record_success(
        self,
        key: StatusKey,
        account_id: str,
        families: Sequence[Metric],
        started: float,
        now: float,
    ) -> None:
        families = tuple(families)
        rendered = render(families)  # outside the lock: scrapes never wait for it
        self._record(
            key,
            account_id,
            now,
            now - started,
            success=True,
            last_success=now,
            last_error=None,
            families=() if rendered.plain else families,
            rendered=rendered,
        )

    def record_failure(
        self, key: StatusKey, account_id: str, error: str, started: float, now: float
    ) -> None:
        self._record(key, account_id, now, now - started, success=False, last_error=error)

    def _record(
        self, key: StatusKey, account_id: str, now: float, duration: float, **changes: Any
    ) -> None:
        with self._lock:
            old = self._entries.get(key)
            if old is None:
                return  # removed by a reload while this poll ran: its result has no home
            new = replace(
                old,
                account_id=account_id,
                attempts=old.attempts + 1,
                duration=duration,
                in_flight_since=None,
                **changes,
            )
            if not new.is_fresh(now):
                # the last good values have gone stale
                new = replace(new, families=(), rendered=EMPTY)
            if new.rendered is not old.rendered:
                self._version += 1
            self._entries[key] = new.with_own_lines()

    def statuses(self) -> list[PollStatus]:
        with self._lock:
            return list(self._entries.values())

    def snapshot(self) -> tuple[int, list[PollStatus]]:
        """The statuses and the version of their rendered content (see the module doc)."""
        with self._lock:
            return self._version, list(self._entries.values())

    def attempted(self, key: StatusKey) -> bool:
        """Whether a poll of ``key`` has ended (succeeded or failed)."""
        with self._lock:
            status = self._entries.get(key)
            return status is not None and status.attempts > 0

    def all_attempted(self) -> bool:
        with self._lock:
            return all(status.attempts > 0 for status in self._entries.values())
