"""Building real targets and exporters against moto for tests."""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from html import unescape
from typing import Any

from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from ses_exporter.aws import ClientFactory, RequestCounter, TargetClients, make_session
from ses_exporter.config import Config, parse_config
from ses_exporter.daemon import Exporter
from ses_exporter.demo.world import DemoWorld
from ses_exporter.targets import Target, build_targets
from tests.fakes import FakeAccountApi

FAST = "ses_requests_per_second: 1000"  # tests need not wait for SES pacing
# A config's collectors section with only the account collector on.
ONLY_ACCOUNT_COLLECTOR = """
collectors:
  send_statistics: {enabled: false}
  cloudwatch: {enabled: false}
  configuration_sets: {enabled: false}
  identities: {enabled: false}
  dedicated_ips: {enabled: false}
"""


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


def exporter_samples(exporter: Exporter) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """The exporter's scrape as {(sample name, labels): value}."""
    body, content_type = exporter.render_metrics(None)
    assert content_type.startswith("text/plain")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
    }


def sample_value(samples: dict, name: str, **labels: str) -> float | None:
    """The first sample of ``name`` with these labels (among others), else None."""
    for (sample_name, sample_labels), v in samples.items():
        if sample_name == name and set(labels.items()) <= sample_labels:
            return v
    return None


def exporter_value(exporter: Exporter, name: str, **labels: str) -> float | None:
    """The first sample of ``name`` with these labels (among others) in the exporter's
    scrape, else None."""
    return sample_value(exporter_samples(exporter), name, **labels)


def paced_clients(counter: RequestCounter, region: str) -> TargetClients:
    """One target's clients to moto (or a Stubber), paced at 1,000 requests/s so that tests
    never wait; what a collector reads per poll follows its own settings, not this pace."""
    session = make_session(
        profile=None,
        role_arn=None,
        external_id=None,
        endpoint_url=None,
        region=region,
        counter=counter,
    )
    return session.target_clients(region, 1000)


def record_calls(clients: TargetClients, operation: str, parameter: str) -> list[str]:
    """The ``parameter`` of every sesv2 ``operation`` call (e.g. GetEmailIdentity's
    EmailIdentity), in call order."""
    found: list[str] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        found.append(params[parameter])

    clients.sesv2.meta.events.register(f"provide-client-params.sesv2.{operation}", record)
    return found


class ManualClock:
    """A clock a test moves by hand, in whole seconds from now unless given a time (a
    datetime made from it is exactly the clock's time: the demo stamps things with it)."""

    def __init__(self, now: float | None = None) -> None:
        self.now = float(int(time.time())) if now is None else now

    def __call__(self) -> float:
        return self.now


def running_demo(regions: Sequence[str], clock: ManualClock) -> Iterator[DemoWorld]:
    """A started DemoWorld on ``clock``, stopped afterwards (the body of a fixture)."""
    world = DemoWorld(list(regions), clock=clock)
    world.start()
    try:
        yield world
    finally:
        world.stop()
