"""Background polling with APScheduler: one job per (target, collector).

Scheduling at scale:

* **Spread, not jitter.** Each job ticks on its own fixed grid, ``anchor + k x interval``,
  whose phase is a hash of the job's key: 1,500 targets' account polls are spread evenly
  over the minute instead of starting in lock-step, and a job keeps its phase across
  reloads and restarts (``GridTrigger``). The first poll of a new job runs within a few
  seconds, so ``/-/ready`` does not wait for a whole interval; the job reaches its grid
  in one or two ticks, each between half an interval and one interval after the last.
* **No pile-ups.** ``max_instances=1`` and ``coalesce``: a poll still running (or still
  queued) when its next tick comes makes that tick skip, counted in
  ``ses_exporter_polls_skipped_total{collector}`` and logged once per collector when
  skipping starts and once when every job of that collector keeps up again, not at every
  tick nor per target. Ticks that come while a job's first poll is still queued or
  running are the start-up queue (``/-/ready`` tells when it is done): skipped, but
  neither counted nor logged.
* **Slow targets do not hold up others.** Up to ``MAX_WORKERS`` polls run at once, each
  in its own thread (threads are created only as concurrency needs them); a paced or slow
  target occupies one of them. When more are due than can run, ticks of targets that
  have been polled before go ahead of first polls (``_TickFirstExecutor``), so the
  thousands of first polls at start-up or after a large discovery do not delay anyone's
  regular cadence. How late every poll started after its tick is
  ``ses_exporter_collector_scheduling_lag_seconds``.

What the poller knows of one job (its key, interval, latest tick, skipping) is one
``_Job`` record, and every record is read and written under one lock. The lock is never
held while calling into APScheduler: its scheduler thread holds its own job-store lock
while it submits a job, and a submission takes ours.

A poll's result replaces the previous one in the store in one swap.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import math
import queue
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, JobExecutionEvent
from apscheduler.executors.base import BaseExecutor, run_job
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from .aws import describe_error, error_outcome
from .config import CollectorsConfig
from .logsetup import redact
from .store import ResultStore, StatusKey
from .targets import Target

log = logging.getLogger("ses_exporter.poller")

MAX_WORKERS = 256
FIRST_POLL_SPREAD_SECONDS = 1.0
# APScheduler logs this at every skipped tick; we count skips and log episodes instead.
_SKIPPED_MESSAGE = 'Execution of job "%s" skipped: maximum number of running instances reached (%d)'


def status_key(target: Target, collector: str) -> StatusKey:
    return (target.account.key, target.region, collector)


def job_id(key: StatusKey) -> str:
    return "/".join(key)


def phase(key: StatusKey, interval: float) -> float:
    """A stable offset in [0, interval) for the job's grid, from its key."""
    digest = hashlib.blake2b(job_id(key).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 * interval


@dataclass
class _Job:
    """What the poller knows of one scheduled poll job. Guarded by ``Poller._lock``."""

    key: StatusKey
    interval: float
    tick: float | None = None  # scheduled time of its latest submission; None: never
    skipped_since_submit: bool = False  # a tick skipped since the latest submission
    overrunning: bool = False  # in its collector's episode of skipped ticks


class _TickFirstExecutor(BaseExecutor):  # type: ignore[misc]
    """APScheduler's executor interface over a thread pool whose queue serves the ticks of
    jobs that have run before ahead of first polls.

    At start-up (or when Organizations adds hundreds of accounts) thousands of first polls
    are queued at once; in a plain FIFO every regular tick that falls in that window waits
    behind all of them. Here it goes first, so a target's cadence holds while new targets
    are still being polled for the first time. Threads are started only as concurrency
    needs them, up to ``max_workers``. Each submission is told to ``on_submit`` (job id and
    scheduled time, so the poll can tell how late it runs), which answers whether the job
    was submitted before (``_do_submit_job`` is APScheduler's hook).
    """

    _TICK, _FIRST = 0, 1

    def __init__(self, max_workers: int, on_submit: Callable[[str, float], bool]):
        super().__init__()
        self._max_workers = max_workers
        self._on_submit = on_submit
        self._queue: queue.PriorityQueue[tuple[int, int, Any, list[datetime]]] = (
            queue.PriorityQueue()
        )
        self._order = itertools.count()
        self._threads: list[threading.Thread] = []
        self._idle = 0  # workers waiting for an item
        self._pending = 0  # items queued and not yet taken
        self._pool_lock = threading.Lock()

    def _do_submit_job(self, job: Any, run_times: list[datetime]) -> None:
        priority = self._TICK if self._on_submit(job.id, run_times[-1].timestamp()) else self._FIRST
        with self._pool_lock:
            self._pending += 1
            if self._pending > self._idle and len(self._threads) < self._max_workers:
                worker = threading.Thread(target=self._work, name="poller", daemon=True)
                self._threads.append(worker)
                worker.start()
        self._queue.put((priority, next(self._order), job, run_times))

    def _work(self) -> None:
        while True:
            with self._pool_lock:
                self._idle += 1
            _, _, job, run_times = self._queue.get()
            with self._pool_lock:
                self._idle -= 1
                self._pending -= 1
            if job is None:
                return
            try:
                events = run_job(job, job._jobstore_alias, run_times, self._logger.name)
            except BaseException as exc:  # APScheduler logs it and counts the instance down
                self._run_job_error(job.id, exc, exc.__traceback__)
            else:
                self._run_job_success(job.id, events)

    def shutdown(self, wait: bool = True) -> None:
        with self._pool_lock:
            threads = list(self._threads)
        for _ in threads:
            with self._pool_lock:
                self._pending += 1
            self._queue.put((2, next(self._order), None, []))
        if wait:
            for thread in threads:
                thread.join()


class _DropSkipWarnings(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.msg != _SKIPPED_MESSAGE


# One instance: Logger.addFilter skips a filter it already has, however many pollers.
_DROP_SKIP_WARNINGS = _DropSkipWarnings()


class Poller:
    def __init__(
        self,
        store: ResultStore,
        collectors: CollectorsConfig,
        clock: Callable[[], float] = time.time,
        max_workers: int = MAX_WORKERS,
    ):
        self.store = store
        self.collectors = collectors
        self.clock = clock
        self.on_account_resolved: Callable[[Target], None] = lambda _: None
        self._lock = threading.Lock()  # guards the three below
        self._jobs: dict[str, _Job] = {}  # the scheduled polls, by job id
        # Per collector, how many jobs have ticks being skipped: logged per collector, once
        # when the first job starts skipping and once when the last keeps up again.
        self._overrunning: Counter[str] = Counter()
        self._skipped: Counter[str] = Counter()  # by collector
        self._executor = _TickFirstExecutor(max_workers, self._submitted)
        self._scheduler = BackgroundScheduler(
            executors={"default": self._executor},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone=UTC,
        )
        self._scheduler.add_listener(self._skipped_tick, EVENT_JOB_MAX_INSTANCES)
        logging.getLogger("apscheduler.scheduler").addFilter(_DROP_SKIP_WARNINGS)

    def sync(self, targets: Iterable[Target], collectors: CollectorsConfig) -> None:
        """Makes the jobs match ``targets``: new ones scheduled, gone ones removed (with
        their cached results), changed intervals rescheduled; the rest keep their timers."""
        self.collectors = collectors
        wanted = {
            status_key(target, name): (target, name)
            for target in targets
            for name in target.collectors
        }
        with self._lock:
            gone = [job.key for job in self._jobs.values() if job.key not in wanted]
        for key in gone:
            self._scheduler.remove_job(job_id(key))
            with self._lock:
                removed = self._jobs.pop(job_id(key))
                if removed.overrunning:
                    self._overrunning[key[2]] -= 1
            self.store.remove(key)
        for key, (target, name) in wanted.items():
            config = collectors.get(name)
            self.store.register(key, target.account.label, config.effective_max_staleness)
            with self._lock:
                job = self._jobs.get(job_id(key))
                changed = job is not None and job.interval != config.interval
                if job is None:  # recorded before APScheduler can submit it
                    self._jobs[job_id(key)] = _Job(key, config.interval)
                else:
                    job.interval = config.interval
            if job is None:
                self._add_job(key, target, name, config.interval)
            elif changed:
                self._scheduler.reschedule_job(job_id(key), trigger=_trigger(key, config.interval))

    def _add_job(self, key: StatusKey, target: Target, name: str, interval: float) -> None:
        first = datetime.now(UTC) + timedelta(
            seconds=random.uniform(0, FIRST_POLL_SPREAD_SECONDS)  # noqa: S311 - not crypto
        )
        self._scheduler.add_job(
            self.poll,
            _trigger(key, interval),
            args=(target, name),
            id=job_id(key),
            name=job_id(key),
            next_run_time=first,
        )

    def start(self) -> None:
        self._scheduler.start()

    def shutdown(self, wait: bool = False) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=wait)

    def add_job(self, func: Callable[[], Any], job: str, interval: float) -> None:
        """A job of the exporter's own (Organizations discovery): first run now, then every
        ``interval``; like the polls, never two at once."""
        self._scheduler.add_job(
            func,
            IntervalTrigger(seconds=interval),
            id=job,
            name=job,
            next_run_time=datetime.now(UTC),
            replace_existing=True,
        )

    def remove_job(self, job: str) -> None:
        if self._scheduler.get_job(job) is not None:
            self._scheduler.remove_job(job)

    def skipped(self) -> dict[str, int]:
        """Ticks skipped because the previous poll still ran, by collector."""
        with self._lock:
            return dict(self._skipped)

    def _submitted(self, job: str, scheduled: float) -> bool:
        """Records a job's submission; answers whether it was submitted before."""
        with self._lock:
            record = self._jobs.get(job)
            if record is None:
                return True  # one of the exporter's own jobs: ahead of first polls
            before, record.tick = record.tick is not None, scheduled
            # Over when two ticks in a row run: the poll between them fit in its interval.
            skipped, record.skipped_since_submit = record.skipped_since_submit, False
            if not record.overrunning or skipped:
                return before
            record.overrunning = False
            collector = record.key[2]
            self._overrunning[collector] -= 1
            if self._overrunning[collector]:
                return before
        log.info("polls keep up with their interval again", extra={"collector": collector})
        return before

    def _skipped_tick(self, event: JobExecutionEvent) -> None:
        with self._lock:
            job = self._jobs.get(event.job_id)
            if job is None or not self.store.attempted(job.key):
                return  # not a poll, or the start-up queue: its first poll has not ended
            collector, interval = job.key[2], job.interval
            self._skipped[collector] += 1
            job.skipped_since_submit = True
            if job.overrunning:
                return
            job.overrunning = True
            self._overrunning[collector] += 1
            if self._overrunning[collector] > 1:
                return
        log.warning(
            "polls outlast their interval; ticks are skipped until they keep up "
            "(see ses_exporter_polls_skipped_total)",
            extra={"collector": collector, "job": event.job_id, "interval_seconds": interval},
        )

    def poll(self, target: Target, name: str) -> bool:
        """One poll of one collector on one target; never raises. Returns success."""
        key = status_key(target, name)
        started = self.clock()
        with self._lock:
            job = self._jobs.get(job_id(key))
            tick = None if job is None else job.tick
        self.store.record_start(key, started, None if tick is None else max(0.0, started - tick))
        resolved = target.account.known_id is not None
        try:
            account_id = target.account.account_id(target.clients)
            if not resolved:
                self.on_account_resolved(target)
            families = target.collectors[name].poll(target.labels())
        except Exception as exc:  # isolation: any failure fails this poll only
            error = redact(describe_error(exc))  # shown on the landing page
            self.store.record_failure(key, target.account.label, error, started, self.clock())
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
        now = self.clock()
        self.store.record_success(key, account_id, families, started, now)
        log.debug(
            "poll done",
            extra={
                "account": account_id,
                "region": target.region,
                "collector": name,
                "duration_seconds": round(now - started, 3),
            },
        )
        return True


class GridTrigger(IntervalTrigger):  # type: ignore[misc]
    """Ticks on the job's grid, ``start_date + k x interval``, and never more than one
    interval after the previous tick.

    APScheduler's ``IntervalTrigger`` adds the interval to the previous fire time, so a job
    whose first run was off its grid (the first poll runs at once, see ``Poller._add_job``)
    stayed off it for good: every job of a collector ticked in lock-step one interval after
    start-up, 1,500 account polls in the same second of each minute. Here a tick on the
    grid is followed by the next grid point, and a tick off it (the first poll) by the
    first point of the job's half-interval grid (``start_date + k x interval / 2``) at
    least half an interval later: a grid point, or half an interval before one. So a job
    reaches its grid in one or two ticks, every gap is between half an interval and one
    interval (the next poll never comes later than with lock-step ticks: ``max_staleness``
    and ``lookback`` may be as short as one interval), and even the ticks on the way are
    spread by the job's phase. (No jitter and no end date: the poller sets neither.)
    """

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        start, length = self.start_date.timestamp(), self.interval_length
        if previous_fire_time is None:  # added or rescheduled: the first grid point from now
            return self._at(start + max(0, math.ceil((now.timestamp() - start) / length)) * length)
        previous = previous_fire_time.timestamp()
        # datetimes keep microseconds: a grid point's round trip is within the tolerance
        tolerance = min(_GRID_TOLERANCE_SECONDS, length / 4)
        ticks = round((previous - start) / length)
        if abs(previous - (start + ticks * length)) <= tolerance:  # on the grid
            point = start + (ticks + 1) * length
        else:
            half = length / 2
            point = start + math.ceil((previous + half - tolerance - start) / half) * half
        return max(self._at(point), previous_fire_time + _ONE_MICROSECOND)

    def _at(self, timestamp: float) -> datetime:
        return datetime.fromtimestamp(timestamp, self.timezone)


_GRID_TOLERANCE_SECONDS = 0.001
_ONE_MICROSECOND = timedelta(microseconds=1)  # never at or before the previous tick


def _trigger(key: StatusKey, interval: float) -> GridTrigger:
    # A grid anchored at the epoch plus the job's phase: the same on every restart.
    anchor = datetime.fromtimestamp(phase(key, interval), UTC)
    return GridTrigger(seconds=interval, start_date=anchor, timezone=UTC)
