"""The poller with the real APScheduler: a poll that outlasts its interval.

Real time, so the intervals are short; nothing asserts a duration, only what every scrape
contains and what the self-metrics and logs say.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections import Counter

import pytest

from ses_exporter.daemon import Exporter
from tests.fakes import FakeAccountApi
from tests.helpers import config_for, exporter_samples, sample_value

ONE_SECOND = (
    "collectors:\n  account: {interval: 1s}\n  send_statistics: {enabled: false}\n"
    "  cloudwatch: {enabled: false}\n  configuration_sets: {enabled: false}\n"
    "  identities: {enabled: false}\n  dedicated_ips: {enabled: false}\n"
)
POLL_SECONDS = 3.3  # more than max_staleness (3 x 1 s)


def test_a_poll_three_times_its_interval_keeps_every_series_in_every_scrape(
    aws: None, fake_api: FakeAccountApi, caplog: pytest.LogCaptureFixture
) -> None:
    slow = {"on": False}

    def on_call(region: str, operation: str) -> None:
        if slow["on"]:
            time.sleep(POLL_SECONDS)

    fake_api.on_call = on_call
    exporter = Exporter(config_for("eu-west-1", extra=ONE_SECOND), client_hooks=[fake_api.hook])
    caplog.set_level(logging.INFO)
    exporter.start()
    try:
        deadline = time.monotonic() + 60
        while not exporter.is_ready():
            assert time.monotonic() < deadline, "no first poll"
            time.sleep(0.05)
        slow["on"] = True
        # Scrape through two slow polls, past max_staleness (3 s) without a success, and
        # at least until three ticks were skipped: however loaded the machine, every scrape
        # has every series.
        scrapes, end, deadline = 0, time.monotonic() + 2 * POLL_SECONDS, time.monotonic() + 60
        while time.monotonic() < end or scrapes < 50 or skipped(exporter) < 3:
            assert time.monotonic() < deadline, f"{skipped(exporter)} ticks skipped"
            samples = exporter_samples(exporter)
            assert sample_value(samples, "aws_ses_max_send_rate", region="eu-west-1") == 14, scrapes
            assert sample_value(samples, "ses_exporter_collector_success", collector="account") == 1
            scrapes += 1
            time.sleep(0.05)
        slow["on"] = False
        # the poll under way ends, then two ticks in a row run: skipping is over
        deadline = time.monotonic() + 60
        while KEEP_UP not in [r.getMessage() for r in caplog.records]:
            assert time.monotonic() < deadline, "no end of skipping logged"
            time.sleep(0.05)
    finally:
        exporter.stop()
    messages = [r.getMessage() for r in caplog.records]
    outlast = "polls outlast their interval; ticks are skipped until they keep up"
    assert len([m for m in messages if m.startswith(outlast)]) == 1
    assert messages.count(KEEP_UP) == 1
    assert not [m for m in messages if "maximum number of running instances" in m]


KEEP_UP = "polls keep up with their interval again"


def skipped(exporter: Exporter) -> float:
    count = sample_value(
        exporter_samples(exporter), "ses_exporter_polls_skipped_total", collector="account"
    )
    return 0 if count is None else count


# Where each job's 1-second grid lies (its phase, a hash of the job's key): written out, so
# that the test fails if every job got the same phase (lock-step) or a phase changed, which
# would move every job's ticks at the next upgrade.
ACCOUNT_JOB_PHASES = {"eu-west-1": 0.716794, "us-east-1": 0.021566}


def test_polls_tick_on_a_spread_grid_and_report_their_lag(
    aws: None, fake_api: FakeAccountApi
) -> None:
    from ses_exporter.poller import job_id, status_key

    exporter = Exporter(
        config_for("eu-west-1", "us-east-1", extra=ONE_SECOND), client_hooks=[fake_api.hook]
    )
    jobs = {t.region: job_id(status_key(t, "account")) for t in exporter.targets}
    scheduler = exporter.poller._scheduler

    def off_grid() -> dict[str, float]:
        """Each job's next tick within its second, for the jobs not yet on their grid."""
        ticks = {region: scheduler.get_job(job).next_run_time for region, job in jobs.items()}
        within = {region: tick.timestamp() % 1 for region, tick in ticks.items()}
        return {
            region: offset
            for region, offset in within.items()
            if abs(offset - ACCOUNT_JOB_PHASES[region]) > 1e-3
        }

    exporter.start()
    try:
        # The first poll runs at once, off the grid; the job is on it within two ticks.
        deadline = time.monotonic() + 30
        while True:
            late, lags = off_grid(), scheduling_lags(exporter)
            if not late and len(lags) == 2:
                break
            assert time.monotonic() < deadline, f"next ticks off their grid: {late}; lags {lags}"
            time.sleep(0.05)
    finally:
        exporter.stop()
    # How late a poll started after its tick, not the time since start-up or since the
    # epoch: a few seconds at most, however loaded the machine.
    assert all(0 <= lag < 10 for lag in lags), lags


def scheduling_lags(exporter: Exporter) -> list[float]:
    return [
        v
        for (name, _), v in exporter_samples(exporter).items()
        if name == "ses_exporter_collector_scheduling_lag_seconds"
    ]


def test_long_lived_objects_are_frozen_during_the_first_round_and_after_a_change(
    aws: None, fake_api: FakeAccountApi
) -> None:
    import gc

    from ses_exporter.config import parse_config

    exporter = Exporter(config_for("eu-west-1", extra=ONE_SECOND), client_hooks=[fake_api.hook])
    collections: list[int] = []

    def count(phase: str, info: dict[str, int]) -> None:
        if phase == "start" and info["generation"] == 2:
            collections.append(len(collections))

    gc.callbacks.append(count)
    gc.disable()  # only the exporter's own collections are counted
    try:
        gc.unfreeze()
        exporter._freeze_long_lived()
        # the first round: frozen as it grows, without a full collection
        assert gc.get_freeze_count() > 10_000 and collections == []
        for target in exporter.targets:
            exporter.poller.poll(target, "account")
        exporter._freeze_long_lived()  # ready: what the polls made is collected, then frozen
        frozen = gc.get_freeze_count()
        assert len(collections) == 1
        exporter._freeze_long_lived()
        assert gc.get_freeze_count() == frozen and len(collections) == 1  # nothing changed
        exporter.apply(
            parse_config("accounts:\n  - regions: [eu-west-1, us-east-1]\n" + ONE_SECOND)
        )
        exporter._freeze_long_lived()  # not ready: the new target is not polled yet
        assert len(collections) == 1
        for target in exporter.targets:
            exporter.poller.poll(target, "account")
        exporter._freeze_long_lived()  # changed targets: thawed, collected, frozen again
        assert len(collections) == 2 and gc.get_freeze_count() > 10_000
    finally:
        gc.enable()
        gc.callbacks.remove(count)
        gc.unfreeze()


def test_ticks_of_polled_targets_go_ahead_of_first_polls() -> None:
    """One worker, busy; then three first polls and one regular tick are queued: the tick
    runs first, the first polls after it in the order they came."""
    import threading
    from datetime import UTC, datetime
    from types import SimpleNamespace

    from ses_exporter.poller import _TickFirstExecutor

    ran: list[str] = []
    busy, release = threading.Event(), threading.Event()

    def job(name: str) -> SimpleNamespace:
        def func() -> None:
            if name == "busy":
                busy.set()
                assert release.wait(10)
            ran.append(name)

        return SimpleNamespace(
            id=name,
            func=func,
            args=(),
            kwargs={},
            misfire_grace_time=None,
            max_instances=5,
            _jobstore_alias="x",
        )

    submitted: set[str] = set()

    def submitted_before(job: str, scheduled: float) -> bool:  # as the poller answers
        before = job in submitted
        submitted.add(job)
        return before

    scheduler = SimpleNamespace(_create_lock=threading.RLock, _dispatch_event=lambda _: None)
    executor = _TickFirstExecutor(1, submitted_before)
    executor.start(scheduler, "default")
    now = [datetime.now(UTC)]
    executor.submit_job(job("regular"), now)  # its first poll
    executor.submit_job(job("busy"), now)
    assert busy.wait(10)
    for name in ("new-1", "new-2", "regular", "new-3"):
        executor.submit_job(job(name), now)
    release.set()
    executor.shutdown(wait=True)
    assert ran == ["regular", "busy", "regular", "new-1", "new-2", "new-3"]


def test_jobs_reach_their_own_grid_within_two_ticks_never_more_than_an_interval_apart() -> None:
    """APScheduler's IntervalTrigger adds the interval to the previous run, so the first
    poll (run at once, off the grid) put every job in lock-step one interval after
    start-up. The grid trigger brings each job onto its own phase in one or two ticks,
    each half an interval to one interval after the last (never later than lock-step:
    max_staleness and lookback may be one interval), then exactly one interval apart."""
    from datetime import UTC, datetime, timedelta

    from ses_exporter.poller import _trigger, phase

    interval = 60.0
    start = datetime(2026, 11, 30, 12, 0, 0, 400_000, tzinfo=UTC)  # start-up; first polls now
    on_grid_at: list[float] = []
    successors: Counter[int] = Counter()  # first ticks after the first poll, by second
    for number in range(200):
        key = (f"{number:012d}", "eu-west-1", "account")
        trigger = _trigger(key, interval)
        ticks = [start + timedelta(seconds=number / 200)]  # the first round's spread
        for _ in range(8):
            ticks.append(trigger.get_next_fire_time(ticks[-1], ticks[-1]))
        successors[int(ticks[1].timestamp())] += 1
        gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(ticks)]
        assert all(interval / 2 - 0.002 <= gap <= interval for gap in gaps), gaps
        on_grid = [abs(t.timestamp() % interval - phase(key, interval)) < 1e-3 for t in ticks]
        assert on_grid[1] or on_grid[2], gaps
        first = on_grid.index(True)
        assert all(on_grid[first:]) and gaps[first:] == [interval] * len(gaps[first:])
        on_grid_at.append(ticks[first].timestamp() % interval)
    # 200 jobs started within the same second tick all over the minute afterwards
    per_ten_seconds = [sum(1 for s in on_grid_at if lo <= s < lo + 10) for lo in range(0, 60, 10)]
    assert min(per_ten_seconds) >= 15, per_ten_seconds
    # and so are the ticks on the way: no second holds many of them (lock-step would be 200)
    assert max(successors.values()) <= 20, successors.most_common(3)


def test_a_new_or_rescheduled_job_ticks_at_its_next_grid_point() -> None:
    from datetime import UTC, datetime

    from ses_exporter.poller import _trigger, phase

    key = ("111111111111", "us-east-1", "cloudwatch")
    now = datetime(2026, 11, 30, 12, 0, 0, tzinfo=UTC)
    tick = _trigger(key, 300.0).get_next_fire_time(None, now)
    assert 0 <= (tick - now).total_seconds() < 300
    assert abs(tick.timestamp() % 300 - phase(key, 300.0)) < 1e-3
    # APScheduler asks again with the tick itself to list missed runs: it moves on
    assert _trigger(key, 300.0).get_next_fire_time(tick, tick) > tick


@pytest.mark.parametrize("interval", [0.0005, 0.001, 0.003, 1.0])
def test_tiny_intervals_still_move_on(interval: float) -> None:
    """APScheduler lists missed runs by asking until a tick is in the future: a trigger
    that returned its previous tick would hang the scheduler."""
    from datetime import UTC, datetime

    from ses_exporter.poller import _trigger

    trigger = _trigger(("1", "eu-west-1", "account"), interval)
    tick = datetime(2026, 11, 30, 12, 0, 0, 123_457, tzinfo=UTC)
    for _ in range(50):
        later = trigger.get_next_fire_time(tick, tick)
        assert later > tick
        tick = later


def test_ticks_skipped_while_the_first_poll_is_queued_are_not_counted(
    aws: None, fake_api: FakeAccountApi, caplog: pytest.LogCaptureFixture
) -> None:
    """The start-up queue is not an overrun: a tick that comes while a job's first poll
    is still queued or running is skipped without a count or a warning; once it has
    ended, skips count again."""
    from types import SimpleNamespace

    exporter = Exporter(config_for("eu-west-1", extra=ONE_SECOND), client_hooks=[fake_api.hook])
    poller = exporter.poller
    target = exporter.targets[0]
    job = "/".join((target.account.key, target.region, "account"))
    caplog.set_level(logging.INFO)
    try:
        exporter.poller.sync(exporter.targets, exporter.config.collectors)
        poller._skipped_tick(SimpleNamespace(job_id=job))  # first poll still queued
        assert poller.skipped() == {}
        assert not [r for r in caplog.records if "outlast" in r.getMessage()]
        poller.poll(target, "account")
        poller._skipped_tick(SimpleNamespace(job_id=job))
        assert poller.skipped() == {"account": 1}
    finally:
        exporter.stop()


def test_one_record_per_job_tells_first_polls_episodes_and_removal(
    aws: None, fake_api: FakeAccountApi, caplog: pytest.LogCaptureFixture
) -> None:
    """The poller's record of a job answers the executor (first poll or regular tick),
    holds the skipping episode (warned once, over when two ticks in a row run) and goes
    with the job: a target removed and added again is polled first as a new one."""
    from types import SimpleNamespace

    exporter = Exporter(config_for("eu-west-1", extra=ONE_SECOND), client_hooks=[fake_api.hook])
    poller = exporter.poller
    target = exporter.targets[0]
    job = "/".join((target.account.key, target.region, "account"))
    caplog.set_level(logging.INFO)

    def messages(text: str) -> int:
        return sum(text in record.getMessage() for record in caplog.records)

    try:
        poller.sync(exporter.targets, exporter.config.collectors)
        assert poller._submitted(job, 1.0) is False  # its first poll
        assert poller._submitted(job, 2.0) is True
        assert poller._submitted("organizations-discovery", 2.0) is True  # not a poll
        poller.poll(target, "account")
        for _ in range(2):  # two skipped ticks: one episode, one warning
            poller._skipped_tick(SimpleNamespace(job_id=job))
        assert poller.skipped() == {"account": 2}
        assert messages("outlast") == 1
        poller._submitted(job, 3.0)  # the tick after a skip: still in the episode
        assert messages("keep up with their interval again") == 0
        poller._submitted(job, 4.0)  # two in a row: over
        assert messages("keep up with their interval again") == 1

        poller.sync([], exporter.config.collectors)
        assert poller._submitted(job, 5.0) is True  # unknown now: not a first poll
        poller.sync(exporter.targets, exporter.config.collectors)
        assert poller._submitted(job, 6.0) is False  # added again: a first poll again
    finally:
        exporter.stop()
