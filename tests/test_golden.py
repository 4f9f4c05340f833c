"""A full scrape compared with a golden file, and checked by promtool.

Regenerate the golden file after an intended change with
``python -m pytest tests/test_golden.py --update-golden`` and review the diff.
"""

from __future__ import annotations

import gzip
import platform
import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from prometheus_client.exposition import choose_encoder

from ses_exporter import __version__
from ses_exporter.daemon import Exporter
from tests.fakes import FakeAccountApi
from tests.helpers import config_for

GOLDEN = Path(__file__).parent / "data" / "golden" / "full_scrape.prom"
# Values that differ from run to run are masked; the series themselves are compared.
VOLATILE = re.compile(
    r"^((ses_exporter_collector_(duration_seconds|last_success_timestamp_seconds)"
    r"|aws_ses_(configuration_set_)?reputation_last_datapoint_timestamp_seconds)\{.*\}) .*$",
    re.MULTILINE,
)
PROCESS_FAMILIES = re.compile(
    r"^# (HELP|TYPE) (process|python)_.*\n|^(process|python)_.*\n", re.MULTILINE
)


def full_scrape(fake_api: FakeAccountApi) -> bytes:
    body, _ = polled_exporter(fake_api).render_metrics(None)
    return body


def polled_exporter(fake_api: FakeAccountApi) -> Exporter:
    """An exporter after two polls of every collector of three targets."""
    config = config_for(
        "us-east-1",
        "eu-west-1",
        "ap-southeast-2",
        extra="    labels: {env: prod, team: mail}\n",
    )
    fake_api.set_account(
        "eu-west-1",
        ProductionAccessEnabled=False,
        SendQuota={"Max24HourSend": 200.0, "MaxSendRate": 1.0, "SentLast24Hours": 12.0},
    )
    fake_api.set_account("ap-southeast-2", EnforcementStatus="PROBATION")
    seed_configuration_sets_and_cloudwatch(fake_api, "us-east-1")
    start = datetime(2026, 11, 26, 4, 8, tzinfo=UTC)
    fake_api.send_data_points = [
        {
            "Timestamp": start + timedelta(minutes=15 * i),
            "DeliveryAttempts": 100 + i,
            "Bounces": 2,
            "Complaints": 0,
            "Rejects": i % 2,
        }
        for i in (2, 0, 1)
    ]
    exporter = Exporter(config, client_hooks=[fake_api.hook])
    poll_everything(exporter)
    # Second poll: a bucket grows and a new one arrives; CloudWatch revises and adds data.
    fake_api.send_data_points[0]["DeliveryAttempts"] += 5
    fake_api.send_data_points.append(
        {
            "Timestamp": start + timedelta(minutes=45),
            "DeliveryAttempts": 40,
            "Bounces": 1,
            "Complaints": 1,
            "Rejects": 0,
        }
    )
    put_cloudwatch_data(
        "us-east-1",
        [
            {
                "MetricName": "Send",
                "Dimensions": MARKETING,
                "Timestamp": datetime.now(UTC) - timedelta(minutes=2),
                "Value": 30,
            }
        ],
    )
    poll_everything(exporter)
    return exporter


MARKETING = [{"Name": "ses:configuration-set", "Value": "marketing"}]


def poll_everything(exporter: Exporter) -> None:
    for target in exporter.targets:
        for name in target.collectors:
            assert exporter.poller.poll(target, name)


def put_cloudwatch_data(region: str, data: list[dict[str, Any]]) -> None:
    boto3.client("cloudwatch", region_name=region).put_metric_data(
        Namespace="AWS/SES", MetricData=data
    )


def seed_configuration_sets_and_cloudwatch(fake_api: FakeAccountApi, region: str) -> None:
    """Two configuration sets and a few AWS/SES datapoints, 10 minutes old."""
    sesv2 = boto3.client("sesv2", region_name=region)
    fake_api.configuration_sets = {
        "marketing": {
            "ReputationOptions": {"ReputationMetricsEnabled": True},
            "SendingOptions": {"SendingEnabled": True},
        },
        "archive": {
            "ReputationOptions": {"ReputationMetricsEnabled": False},
            "SendingOptions": {"SendingEnabled": False},
        },
    }
    for name in fake_api.configuration_sets:
        sesv2.create_configuration_set(ConfigurationSetName=name)
    when = datetime.now(UTC) - timedelta(minutes=10)
    per_set = MARKETING
    put_cloudwatch_data(
        region,
        [
            {"MetricName": "Send", "Dimensions": per_set, "Timestamp": when, "Value": 120},
            {"MetricName": "Bounce", "Dimensions": per_set, "Timestamp": when, "Value": 7},
            {
                "MetricName": "Reputation.BounceRate",
                "Dimensions": per_set,
                "Timestamp": when,
                "Value": 0.062,
            },
            {"MetricName": "Reputation.ComplaintRate", "Timestamp": when, "Value": 0.0004},
            {"MetricName": "Delivery", "Timestamp": when, "Value": 300},
        ],
    )


def normalise(text: str) -> str:
    """Without process_*/python_* families; volatile values and versions masked."""
    text = PROCESS_FAMILIES.sub("", text)
    text = VOLATILE.sub(r"\1 <volatile>", text)
    return text.replace(f'version="{__version__}"', 'version="<version>"').replace(
        f'python_version="{platform.python_version()}"', 'python_version="<python>"'
    )


def test_full_scrape_matches_golden(
    aws: None, fake_api: FakeAccountApi, update_golden: bool
) -> None:
    got = normalise(full_scrape(fake_api).decode())
    if update_golden:
        GOLDEN.write_text(got)
    assert got == GOLDEN.read_text(), "scrape changed: rerun with --update-golden and review"


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_full_scrape_passes_promtool_check_metrics(aws: None, fake_api: FakeAccountApi) -> None:
    result = subprocess.run(
        ["promtool", "check", "metrics"],
        input=full_scrape(fake_api),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()


@pytest.mark.parametrize(
    "accept",
    [
        None,
        "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,"
        "text/plain;version=0.0.4;q=0.3",  # Prometheus 3 (abridged)
        "application/openmetrics-text",
        "text/plain;version=1.0.0;escaping=dots",  # served by prometheus_client itself
    ],
)
def test_pre_rendered_scrape_equals_prometheus_client_on_the_same_registry(
    aws: None, fake_api: FakeAccountApi, accept: str | None
) -> None:
    """/metrics joins pre-rendered results; prometheus_client printing the daemon's registry
    (every fresh family merged, then the self-metrics) must give the same bytes, in the
    text format (the golden file above) and in OpenMetrics."""
    exporter = polled_exporter(fake_api)
    encoder, content_type = choose_encoder(accept or "")
    expected = normalise(encoder(exporter.registry).decode())
    body, got_type = exporter.render_metrics(accept)
    assert (normalise(body.decode()), got_type) == (expected, content_type)
    compressed, _ = exporter.render_metrics(accept, gzip=True)
    assert normalise(gzip.decompress(compressed).decode()) == expected
    if accept is not None and "openmetrics" in accept:
        assert body.endswith(b"\n# EOF\n") and body.count(b"# EOF") == 1
        counter = "aws_ses_send_statistics_bounces"
        assert f"# TYPE {counter} counter\n{counter}_total{{" in expected
