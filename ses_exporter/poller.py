"""Background polling with APScheduler: one job per (target, collector).

``max_instances=1`` and ``coalesce`` mean a poll that is still running makes the next
tick skip rather than pile up; a small jitter keeps many targets from calling AWS in
lock-step. A poll's result replaces the previous one in the store in one swap.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from .aws import describe_error, error_outcome
from .config import CollectorsConfig
from .logsetup import redact
from .store import SnapshotStore, StatusKey
from .targets import Target

log = logging.getLogger("ses_exporter.poller")

MAX_WORKERS = 32
MAX_JITTER_SECONDS = 5.0
FIRST_POLL_SPREAD_SECONDS = 1.0


def status_key(target: Target, collector: str) -> StatusKey:
    return (target.account.key, target.region, collector)


class Poller:
    def __init__(
        self,
        store: SnapshotStore,
        collectors: CollectorsConfig,
        clock: Callable[[], float] = time.time,
    ):
        self.store = store
        self.collectors = collectors
        self.clock = clock
        self._intervals: dict[StatusKey, float] = {}  # the scheduled jobs
        self._scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(MAX_WORKERS)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone=UTC,
        )

    def sync(self, targets: Iterable[Target], collectors: CollectorsConfig) -> None:
        """Makes the jobs match ``targets``: new ones scheduled, gone ones removed (with
        their cached results), changed intervals rescheduled; the rest keep their timers."""
        self.collectors = collectors
        wanted = {
            status_key(target, name): (target, name)
            for target in targets
            for name in target.collectors
        }
        for key in [k for k in self._intervals if k not in wanted]:
            self._scheduler.remove_job("/".join(key))
            del self._intervals[key]
            self.store.remove(key)
        for key, (target, name) in wanted.items():
            config = collectors.get(name)
            self.store.register(key, target.account.label, config.effective_max_staleness)
            interval = self._intervals.get(key)
            if interval is None:
                self._add_job(key, target, name, config.interval)
            elif interval != config.interval:
                self._scheduler.reschedule_job("/".join(key), trigger=_trigger(config.interval))
            self._intervals[key] = config.interval

    def _add_job(self, key: StatusKey, target: Target, name: str, interval: float) -> None:
        first = datetime.now(UTC) + timedelta(
            seconds=random.uniform(0, FIRST_POLL_SPREAD_SECONDS)  # noqa: S311 - not crypto
        )
        self._scheduler.add_job(
            self.poll,
            _trigger(interval),
            args=(target, name),
            id="/".join(key),
            name="/".join(key),
            next_run_time=first,
        )

    def start(self) -> None:
        self._scheduler.start()

    def shutdown(self, wait: bool = False) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=wait)

    def poll(self, target: Target, name: str) -> bool:
        """One poll of one collector on one target; never raises. Returns success."""
        key = status_key(target, name)
        started = time.monotonic()
        try:
            account_id = target.account.account_id(target.clients)
            families = target.collectors[name].poll(target.labels())
        except Exception as exc:  # isolation: any failure fails this poll only
            duration = time.monotonic() - started
            error = redact(describe_error(exc))  # shown on the landing page
            self.store.record_failure(key, target.account.label, error, duration, self.clock())
            log.warning(
                "poll failed",
                extra={
                    "account": target.account.label,
                    "region": target.region,
                    "collector": name,
                    "outcome": error_outcome(exc),
                    "error": error,
                },
            )
            return False
        duration = time.monotonic() - started
        self.store.record_success(key, account_id, families, duration, self.clock())
        log.debug(
            "poll done",
            extra={
                "account": account_id,
                "region": target.region,
                "collector": name,
                "duration_seconds": round(duration, 3),
            },
        )
        return True


def _trigger(interval: float) -> IntervalTrigger:
    return IntervalTrigger(seconds=interval, jitter=min(interval * 0.1, MAX_JITTER_SECONDS))
