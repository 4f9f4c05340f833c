"""The real daemon as a subprocess in demo mode, over real HTTP."""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.daemon import DaemonProcess, demo_daemon, run_exporter

pytestmark = pytest.mark.process


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[DaemonProcess]:
    with demo_daemon(tmp_path) as d:
        d.wait_ready()
        yield d


def samples(body: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for f in text_string_to_metric_families(body)
        for s in f.samples
    }


def by_region(found: dict, name: str) -> dict[str, float]:
    return {dict(labels)["region"]: v for (n, labels), v in found.items() if n == name}


def test_demo_serves_account_metrics_for_two_regions_and_they_move(daemon: DaemonProcess) -> None:
    response = daemon.request("/metrics")
    assert response.status == 200
    body = response.body
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    first = samples(body)
    quota = by_region(first, "aws_ses_daily_sending_quota")
    assert quota == {"us-east-1": 50000, "eu-west-1": 200}
    production = by_region(first, "aws_ses_account_production_access_enabled")
    assert production == {"us-east-1": 1, "eu-west-1": 0}
    used = by_region(first, "aws_ses_sending_quota_used_ratio")
    assert 0.8 < used["us-east-1"] < 0.98
    for labels in {dict(k[1])["account_id"] for k in first if k[0].startswith("aws_ses_")}:
        assert labels == "123456789012"
    assert all(dict(k[1]).get("env") == "demo" for k in first if k[0].startswith("aws_ses_"))
    success = by_region(first, "ses_exporter_collector_success")
    assert success == {"us-east-1": 1, "eu-west-1": 1}
    # The demo keeps sending: within a few polls SentLast24Hours changes.
    sent = by_region(first, "aws_ses_sent_last_24h")
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        time.sleep(1)
        now = by_region(samples(daemon.request("/metrics").body), "aws_ses_sent_last_24h")
        if now["us-east-1"] != sent["us-east-1"]:
            break
    else:
        pytest.fail("demo values did not move")


def test_endpoints(daemon: DaemonProcess) -> None:
    healthy, ready = daemon.request("/-/healthy"), daemon.request("/-/ready")
    assert (healthy.status, healthy.body) == (200, "Healthy\n")
    assert (ready.status, ready.body) == (200, "Ready\n")
    status = daemon.request("/status")
    assert status.status == 200
    page = status.body
    assert "SES Exporter" in page and "/metrics" in page
    assert "us-east-1" in page and "eu-west-1" in page and "account" in page
    fleet = daemon.request("/")
    page = fleet.body
    assert fleet.status == 200 and '<table id="fleet">' in page
    assert daemon.request("/nope").status == 404
    assert daemon.request("/-/reload").status == 405


def test_clean_shutdown_on_sigterm(daemon: DaemonProcess) -> None:
    daemon.proc.send_signal(signal.SIGTERM)
    assert daemon.proc.wait(timeout=60) == 0  # a limit for a hang, not a timing claim
    output = daemon.output()
    assert "Traceback" not in output
    assert "level=info" in output and 'msg="shutting down"' in output


def test_invalid_config_exits_2_without_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("accounts:\n  - regions: [us-east-x]\n")
    result = run_exporter(f"--config.file={bad}", timeout=30)
    assert result.returncode == 2
    assert "accounts[0].regions[0]: 'us-east-x' is not an AWS region" in result.stderr
    assert "Traceback" not in result.stderr


def test_config_check_of_the_example_config() -> None:
    example = Path(__file__).parent.parent / "config.example.yaml"
    result = run_exporter("--config.check", f"--config.file={example}", timeout=30)
    assert result.returncode == 0, result.stderr
    assert "OK" in result.stdout


def test_reload_keeps_the_old_config_when_the_new_one_is_invalid(
    daemon: DaemonProcess,
) -> None:
    config = daemon.config_file
    good = config.read_text()
    config.write_text("accounts: []\n")
    reload = daemon.request("/-/reload", method="POST")
    assert reload.status == 500
    assert "at least one account" in reload.body
    after = samples(daemon.request("/metrics").body)
    assert after[("ses_exporter_config_last_reload_successful", frozenset())] == 0
    assert by_region(after, "aws_ses_daily_sending_quota") == {"us-east-1": 50000, "eu-west-1": 200}
    config.write_text(good.replace("[us-east-1, eu-west-1]", "[us-east-1]"))
    daemon.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        found = samples(daemon.request("/metrics").body)
        if found[("ses_exporter_config_last_reload_successful", frozenset())] == 1 and by_region(
            found, "aws_ses_daily_sending_quota"
        ) == {"us-east-1": 50000}:
            break
        time.sleep(0.3)
    else:
        pytest.fail("SIGHUP reload did not apply the new config")


DEMO_FAMILIES = {
    # account
    "aws_ses_daily_sending_quota",
    "aws_ses_max_send_rate",
    "aws_ses_sent_last_24h",
    "aws_ses_remaining_sends",
    "aws_ses_sending_quota_used_ratio",
    "aws_ses_account_sending_enabled",
    "aws_ses_account_production_access_enabled",
    "aws_ses_account_enforcement_status",
    "aws_ses_account_info",
    "aws_ses_smtp_endpoint_info",
    # send_statistics
    "aws_ses_send_statistics_delivery_attempts_total",
    "aws_ses_send_statistics_bounces_total",
    "aws_ses_send_statistics_complaints_total",
    "aws_ses_send_statistics_rejects_total",
    # cloudwatch: account-wide only what SES publishes without dimensions ...
    *(f"aws_ses_{n}_total" for n in ("sends", "deliveries", "bounces", "complaints")),
    # ... per configuration set also what only an event destination publishes
    *(
        f"aws_ses_configuration_set_{n}_total"
        for n in (
            "sends",
            "deliveries",
            "bounces",
            "complaints",
            "opens",
            "clicks",
            "delivery_delays",
        )
    ),
    "aws_ses_rejects_total",
    "aws_ses_rendering_failures_total",
    *(
        f"aws_ses_{p}reputation_{n}"
        for p in ("", "configuration_set_")
        for n in ("bounce_ratio", "complaint_ratio", "last_datapoint_timestamp_seconds", "status")
    ),
    # configuration_sets
    "aws_ses_configuration_sets",
    "aws_ses_configuration_set_reputation_metrics_enabled",
    "aws_ses_configuration_set_sending_enabled",
    # the exporter itself
    "ses_exporter_build_info",
    "ses_exporter_collector_success",
    "ses_exporter_collector_last_success_timestamp_seconds",
    "ses_exporter_collector_duration_seconds",
    "ses_exporter_aws_requests_total",
    "ses_exporter_cloudwatch_metrics_requested_total",
    "ses_exporter_cloudwatch_unattributed_events_total",
    "ses_exporter_config_last_reload_successful",
}
# CloudWatch has no account-wide Open, Click, DeliveryDelay or Subscription (SES publishes
# them only through a configuration set's event destination): never a fake 0.
NOT_ON_AWS = {f"aws_ses_{n}_total" for n in ("opens", "clicks", "delivery_delays", "subscriptions")}


def test_demo_scrape_has_every_family_and_passes_promtool(daemon: DaemonProcess) -> None:
    body = daemon.request("/metrics").body
    names = {name for name, _ in samples(body)}
    assert DEMO_FAMILIES - names == set()
    assert NOT_ON_AWS & names == set()
    found = samples(body)
    sets = {
        dict(k[1]).get("configuration_set")
        for k in found
        if k[0] == "aws_ses_configuration_set_reputation_metrics_enabled"
    }
    assert sets == {"transactional", "marketing", "newsletters"}
    disabled = {
        dict(k[1])["configuration_set"]: v
        for k, v in found.items()
        if k[0] == "aws_ses_configuration_set_reputation_metrics_enabled"
    }
    assert disabled == {"transactional": 1, "marketing": 1, "newsletters": 0}
    per_set_ratio = {
        dict(k[1])["configuration_set"]
        for k in found
        if k[0] == "aws_ses_configuration_set_reputation_bounce_ratio"
    }
    assert per_set_ratio == {"transactional", "marketing"}  # none without reputation metrics
    assert shutil.which("promtool"), "promtool is needed (Debian package prometheus)"
    result = subprocess.run(
        ["promtool", "check", "metrics"],
        input=body.encode(),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode()
