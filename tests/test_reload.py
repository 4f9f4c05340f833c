"""Live reload in process: targets come and go, intervals change, counters keep counting;
a bad exporter config or web config keeps both running ones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from ses_exporter.config import load_config
from ses_exporter.daemon import Exporter
from ses_exporter.reload import Reloader
from ses_exporter.web import WebConfig
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
  identities: {{enabled: false}}
  dedicated_ips: {{enabled: false}}
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
def exporter(aws: None, fake_api: FakeAccountApi, tmp_path: Path) -> Exporter:
    write(tmp_path / "config.yaml")
    for region in ("us-east-1", "eu-west-1", "ap-southeast-2"):
        fake_api.send_data_points[region] = [
            {"Timestamp": START, "DeliveryAttempts": 10, "Bounces": 0, "Complaints": 0}
        ]
    return Exporter(load_config(tmp_path / "config.yaml"), client_hooks=[fake_api.hook])


@pytest.fixture
def setup(exporter: Exporter, tmp_path: Path) -> tuple[Exporter, Reloader, Path]:
    path = tmp_path / "config.yaml"
    return exporter, Reloader(exporter, str(path)), path


def test_counters_of_unchanged_targets_survive_a_reload(
    setup: tuple[Exporter, Reloader, Path], fake_api: FakeAccountApi
) -> None:
    exporter, reloader, path = setup
    poll_all(exporter)  # baseline
    fake_api.send_data_points["us-east-1"].append(
        {
            "Timestamp": START + timedelta(minutes=15),
            "DeliveryAttempts": 7,
            "Bounces": 1,
            "Complaints": 0,
            "Rejects": 0,
        }
    )
    fake_api.send_data_points["eu-west-1"].append(
        {"Timestamp": START + timedelta(minutes=15), "DeliveryAttempts": 2}
    )
    poll_all(exporter)
    attempts = "aws_ses_send_statistics_delivery_attempts_total"
    assert by_region(scrape(exporter), attempts) == {"us-east-1": 7, "eu-west-1": 2}
    kept = exporter.targets[0]

    write(path, regions="us-east-1, ap-southeast-2")
    assert reloader.reload() == (True, "config reloaded")
    assert exporter.targets[0] is kept  # same clients, account id and collector state
    after = scrape(exporter)
    # eu-west-1 is gone at once; ap-southeast-2 has not been polled yet.
    assert by_region(after, attempts) == {"us-east-1": 7}
    assert not exporter.is_ready()
    fake_api.send_data_points["us-east-1"].append(
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


def test_interval_change_reschedules_only_that_collector(
    setup: tuple[Exporter, Reloader, Path],
) -> None:
    exporter, reloader, path = setup
    jobs = {job.id: job for job in exporter.poller._scheduler.get_jobs()}
    assert jobs["test/us-east-1/account"].trigger.interval == timedelta(seconds=60)
    write(path, account_interval="15s")
    assert reloader.reload()[0]
    jobs = {job.id: job for job in exporter.poller._scheduler.get_jobs()}
    assert jobs["test/us-east-1/account"].trigger.interval == timedelta(seconds=15)
    assert jobs["test/us-east-1/send_statistics"].trigger.interval == timedelta(seconds=300)
    assert len(jobs) == 4


def test_invalid_config_keeps_the_old_one(setup: tuple[Exporter, Reloader, Path]) -> None:
    exporter, reloader, path = setup
    poll_all(exporter)
    before = exporter.targets
    path.write_text("accounts:\n  - regions: [us-east-x]\n")
    ok, message = reloader.reload()
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
    assert reloader.reload()[0]
    assert scrape(exporter)[("ses_exporter_config_last_reload_successful", frozenset())] == 1


def test_both_files_are_swapped_or_neither(exporter: Exporter, tmp_path: Path) -> None:
    path, web_path = tmp_path / "config.yaml", tmp_path / "web.yml"
    applied: list[WebConfig] = []
    reloader = Reloader(exporter, str(path), str(web_path), applied.append)
    before = exporter.targets
    write(path, regions="us-east-1")
    web_path.write_text("basic_auth_users: {prometheus: plaintext}\n")
    ok, message = reloader.reload()
    assert not ok
    assert message.startswith(f"{web_path}: basic_auth_users.prometheus: not a bcrypt hash")
    assert (exporter.targets, applied) == (before, [])  # the valid config file waits too
    web_path.write_text("http_server_config: {headers: {X-Frame-Options: deny}}\n")
    path.write_text("accounts: []\n")
    ok, message = reloader.reload()
    assert not ok
    assert (exporter.targets, applied) == (before, [])
    write(path, regions="us-east-1")
    assert reloader.reload() == (True, "config reloaded")
    assert [t.region for t in exporter.targets] == ["us-east-1"]
    assert [dict(c.headers) for c in applied] == [{"X-Frame-Options": "deny"}]


def test_threshold_metric_follows_the_reloaded_config(
    setup: tuple[Exporter, Reloader, Path],
) -> None:
    exporter, reloader, path = setup

    def thresholds() -> dict[tuple[str, str], float]:
        return {
            (dict(labels)["rate"], dict(labels)["status"]): value
            for (name, labels), value in scrape(exporter).items()
            if name == "ses_exporter_reputation_threshold_ratio"
        }

    assert thresholds() == {
        ("bounce", "under_review"): 0.05,
        ("bounce", "at_risk"): 0.10,
        ("complaint", "under_review"): 0.001,
        ("complaint", "at_risk"): 0.005,
    }
    write(path)
    path.write_text(path.read_text() + "reputation_thresholds:\n  bounce: {at_risk: 0.08}\n")
    assert reloader.reload()[0]
    assert thresholds()[("bounce", "at_risk")] == 0.08
    assert thresholds()[("bounce", "under_review")] == 0.05


def test_nothing_to_reload(exporter: Exporter) -> None:
    assert Reloader(exporter, None).reload() == (False, "no --config.file to reload")


def test_a_poll_finishing_after_its_target_was_removed_is_dropped() -> None:
    from ses_exporter.store import ResultStore

    store = ResultStore()
    key = ("test", "eu-west-1", "account")
    store.register(key, "123456789012", 180.0)
    store.remove(key)  # a reload removed the target while its poll was running
    store.record_success(key, "123456789012", [], 0.1, 1.0)
    store.record_failure(key, "123456789012", "Throttling", 0.1, 2.0)
    assert store.statuses() == []


def test_a_reload_gives_kept_collectors_their_own_new_settings() -> None:
    from ses_exporter.aws import ClientFactory, RequestCounter
    from ses_exporter.collectors.cloudwatch import CloudWatchCollector
    from ses_exporter.collectors.configuration_sets import ConfigurationSetsCollector
    from ses_exporter.config import parse_config
    from ses_exporter.targets import build_targets

    def config(extra: str) -> str:
        return (
            "accounts:\n  - regions: [eu-west-1]\n    ses_requests_per_second: 2\n"
            "    configuration_sets: {include: ['prod-.*']}\n" + extra
        )

    factory = ClientFactory(RequestCounter())
    (before,) = build_targets(parse_config(config("")), factory)
    cloudwatch, sets = before.collectors["cloudwatch"], before.collectors["configuration_sets"]
    changed = parse_config(
        config(
            "collectors:\n  cloudwatch: {lookback: 1h}\n  configuration_sets: {interval: 30m}\n"
            "reputation_thresholds:\n  bounce: {at_risk: 0.08}\n"
        )
    )
    (after,) = build_targets(changed, factory, previous=[before])
    assert after is before
    assert after.collectors["cloudwatch"] is cloudwatch  # its counters and cache are kept
    assert after.collectors["configuration_sets"] is sets
    assert isinstance(cloudwatch, CloudWatchCollector)
    assert cloudwatch.settings.config.lookback == 3600
    assert cloudwatch.settings.thresholds.bounce.at_risk == 0.08
    assert cloudwatch.settings.configuration_sets.matches("prod-eu")
    assert not cloudwatch.settings.configuration_sets.matches("test")
    assert isinstance(sets, ConfigurationSetsCollector)
    assert (sets.settings.interval, sets.settings.requests_per_second) == (1800, 2)
