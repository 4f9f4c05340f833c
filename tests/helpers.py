"""Building real targets and exporters against moto for tests."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from html import unescape
from typing import Any

from prometheus_client.metrics_core import Metric

from ses_exporter.aws import ClientFactory, RequestCounter
from ses_exporter.config import Config, parse_config
from ses_exporter.targets import Target, build_targets
from tests.fakes import FakeAccountApi

FAST = "ses_requests_per_second: 1000"  # tests need not wait for SES pacing


def config_for(*regions: str, extra: str = "") -> Config:
    return parse_config(
        f"accounts:\n  - name: test\n    regions: [{', '.join(regions)}]\n    {FAST}\n{extra}"
    )


def make_target(fake_api: FakeAccountApi, region: str) -> Target:
    targets = build_targets(config_for(region), ClientFactory(RequestCounter(), [fake_api.hook]))
    return targets[0]


# {(sample name, labels other than the target's): value}
Values = dict[tuple[str, tuple[tuple[str, str], ...]], float]
TARGET_LABELS = frozenset({"account_id", "region"})


def values(families: Iterable[Metric]) -> Values:
    """The samples of families as {(name, extra labels): value}, without the target labels."""
    out = {}
    for family in families:
        for s in family.samples:
            extra = tuple(sorted((k, v) for k, v in s.labels.items() if k not in TARGET_LABELS))
            out[(s.name, extra)] = s.value
    return out


def send_point(
    when: float, attempts: int, bounces: int = 0, complaints: int = 0, rejects: int = 0
) -> dict[str, Any]:
    """One GetSendStatistics data point (a 15-minute bucket starting at ``when``)."""
    return {
        "Timestamp": datetime.fromtimestamp(when, UTC),
        "DeliveryAttempts": attempts,
        "Bounces": bounces,
        "Complaints": complaints,
        "Rejects": rejects,
    }


def page_field(page: str, name: str) -> str:
    """The text of a page's ``<dd data-field="name">`` (tags dropped, entities decoded)."""
    found = re.search(rf'<dd data-field="{name}">(.*?)</dd>', page)
    assert found, name
    return unescape(re.sub(r"<[^>]+>", "", found.group(1)))
