"""Live reload in process: targets come and go, intervals change, counters keep counting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from ses_exporter.config import load_config
from ses_exporter.daemon import Exporter
from tests.fakes import FakeAccountApi

CONFIG = """
accounts:
  - name: test
    regions: [{regions}]
    ses_requests_per_second: 1000
collectors:
  account: {{interval: {account_interval}}}
  cloudwatch: {{enabled: false}}
  configuration_sets: {{enabled: false}}
"""
START = datetime(2026, 11, 26, 4, 0, tzinfo=UTC)


def write(path: Path, regions: str = "us-east-1, eu-west-1", account_interval: str = "60s") -> None:
    path.write_text(CONFIG.format(regions=regions, account_interval=account_interval))


def scrape(exporter: Exporter) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    body, _ = exporter.render_metrics(None)
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for f in text_string_to_metric_families(body.decode())
        for s in f.samples
    }


def by_region(found: dict, name: str) -> dict[str, float]:
    return {dict(k[1])["region"]: v for k, v in found.items() if k[0] == name}


def poll_all(exporter: Exporter) -> None:
    for target in exporter.targets:
        for name in target.collectors:
            assert exporter.poller.poll(target, name)


@pytest.fixture
def setup(aws: None, fake_api: FakeAccountApi, tmp_path: Path) -> tuple[Exporter, Path]:
    path = tmp_path / "config.yaml"
    write(path)
    fake_api.send_data_points = [
        {"Timestamp": START, "DeliveryAttempts": 10, "Bounces": 0, "Complaints": 0, "Rejects": 0}
    ]
    exporter = Exporter(load_config(path), str(path), client_hooks=[fake_api.hook])
    return exporter, path


def test_counters_of_unchanged_targets_survive_a_reload(
    setup: tuple[Exporter, Path], fake_api: FakeAccountApi
) -> None:
    exporter, path = setup
    poll_all(exporter)  # baseline
    assert fake_api.send_data_points is not None
    fake_api.send_data_points.append(
        {
            "Timestamp": START + timedelta(minutes=15),
            "DeliveryAttempts": 7,
            "Bounces": 1,
            "Complaints": 0,
            "Rejects": 0,
        }
    )
    poll_all(exporter)
    attempts = "aws_ses_send_statistics_delivery_attempts_total"
    assert by_region(scrape(exporter), attempts) == {"us-east-1": 7, "eu-west-1": 7}
    kept = exporter.targets[0]

    write(path, regions="us-east-1, ap-southeast-2")
    assert exporter.reload() == (True, "config reloaded")
    assert exporter.targets[0] is kept  # same clients, account id and collector state
    after = scrape(exporter)
    # eu-west-1 is gone at once; ap-southeast-2 has not been polled yet.
    assert by_region(after, attempts) == {"us-east-1": 7}
    assert not exporter.is_ready()
    fake_api.send_data_points.append(
        {
            "Timestamp": START + timedelta(minutes=30),
            "DeliveryAttempts": 3,
            "Bounces": 0,
            "Complaints": 0,
            "Rejects": 0,
        }
    )
    poll_all(exporter)
    # us-east-1 counts on (7 + 3); the new target starts from its baseline.
    assert by_region(scrape(exporter), attempts) == {"us-east-1": 10, "ap-southeast-2": 0}
    assert exporter.is_ready()
    success = by_region(scrape(exporter), "ses_exporter_collector_success")
    assert set(success) == {"us-east-1", "ap-southeast-2"}


def test_interval_change_reschedules_only_that_collector(setup: tuple[Exporter, Path]) -> None:
    exporter, path = setup
    jobs = {job.id: job for job in exporter.poller._scheduler.get_jobs()}
    assert jobs["test/us-east-1/account"].trigger.interval == timedelta(seconds=60)
    write(path, account_interval="15s")
    assert exporter.reload()[0]
    jobs = {job.id: job for job in exporter.poller._scheduler.get_jobs()}
    assert jobs["test/us-east-1/account"].trigger.interval == timedelta(seconds=15)
    assert jobs["test/us-east-1/send_statistics"].trigger.interval == timedelta(seconds=300)
    assert len(jobs) == 4


def test_invalid_config_keeps_the_old_one(setup: tuple[Exporter, Path]) -> None:
    exporter, path = setup
    poll_all(exporter)
    before = exporter.targets
    path.write_text("accounts:\n  - regions: [us-east-x]\n")
    ok, message = exporter.reload()
    assert not ok
    assert "accounts[0].regions[0]: 'us-east-x' is not an AWS region" in message
    assert exporter.targets == before
    found = scrape(exporter)
    assert found[("ses_exporter_config_last_reload_successful", frozenset())] == 0
    assert by_region(found, "aws_ses_daily_sending_quota") == {
        "us-east-1": 50000,
        "eu-west-1": 50000,
    }
    write(path)
    assert exporter.reload()[0]
    assert scrape(exporter)[("ses_exporter_config_last_reload_successful", frozenset())] == 1


def test_a_poll_finishing_after_its_target_was_removed_is_dropped() -> None:
    from ses_exporter.store import SnapshotStore

    store = SnapshotStore()
    key = ("test", "eu-west-1", "account")
    store.register(key, "123456789012", 180.0)
    store.remove(key)  # a reload removed the target while its poll was running
    store.record_success(key, "123456789012", [], 0.1, 1.0)
    store.record_failure(key, "123456789012", "Throttling", 0.1, 2.0)
    assert store.statuses() == []
