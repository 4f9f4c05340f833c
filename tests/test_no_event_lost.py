"""No event lost, none invented: the real daemon against moto as CloudWatch answers.

One daemon, one account and region, only the cloudwatch collector (every second, period
60 s, ``lookback`` 62 s: the least ``interval + period`` allows), behind the fault
proxy. moto answers GetMetricData as CloudWatch does (``cloudwatch_like``: no sum over
dimension sets). Datapoints are published with timestamps in the past, as CloudWatch
publishes late. In order:

* only series AWS has: Open exists only per configuration set, so no account-wide
  ``aws_ses_opens_total`` (a fake 0 before);
* a set excluded by a reload and included again goes on from its total (before: it came
  back at 0 and counted its window again);
* GetMetricData fails (AccessDenied) for longer than ``lookback``; sends published into
  the outage's first minute are all counted once it ends (before: the trailing window
  had moved past them), and once only.
"""

from __future__ import annotations

import math
import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.daemon import DaemonProcess, Scrape
from tests.faultproxy import Fault, FaultProxy, MotoServer

pytestmark = pytest.mark.process

REGION = "us-east-1"
SETS = ("news", "shop")
LOOKBACK = 62.0


def config(endpoint: str, exclude: tuple[str, ...] = ()) -> str:
    sets = f"    configuration_sets: {{exclude: [{', '.join(exclude)}]}}\n" if exclude else ""
    return (
        "accounts:\n"
        "  - name: truth\n"
        f"    regions: [{REGION}]\n"
        f"    endpoint_url: {endpoint}\n"
        f"{sets}"
        "collectors:\n"
        "  account: {enabled: false}\n"
        "  send_statistics: {enabled: false}\n"
        "  configuration_sets: {enabled: false}\n"
        "  identities: {enabled: false}\n"
        "  dedicated_ips: {enabled: false}\n"
        "  cloudwatch: {interval: 1s, max_staleness: 600s, period: 60s, "
        f"lookback: {LOOKBACK:g}s}}\n"
    )


def put(cloudwatch: Any, name: str, cset: str | None, at: float, value: float) -> None:
    dims = [] if cset is None else [{"Name": "ses:configuration-set", "Value": cset}]
    cloudwatch.put_metric_data(
        Namespace="AWS/SES",
        MetricData=[
            {
                "MetricName": name,
                "Dimensions": dims,
                "Timestamp": datetime.fromtimestamp(at, UTC),
                "Value": value,
            }
        ],
    )


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, FaultProxy, Path]]:
    with MotoServer() as moto, FaultProxy(moto.url) as proxy:
        cloudwatch = moto.client("cloudwatch", REGION)
        before = time.time() - 600  # history: the first poll's baseline
        put(cloudwatch, "Send", None, before, 5)
        for cset in SETS:
            put(cloudwatch, "Send", cset, before, 2)
            put(cloudwatch, "Open", cset, before, 1)
        yield cloudwatch, proxy, tmp_path_factory.mktemp("no-event-lost")


def value(scrape: Scrape, name: str, **labels: str) -> float | None:
    return scrape.value(name, **labels)


@pytest.mark.timeout(400)  # the outage must outlast lookback and a minute's alignment
def test_the_daemon_counts_every_event_once_through_reloads_and_a_long_outage(
    world: tuple[Any, FaultProxy, Path],
) -> None:
    cloudwatch, proxy, workdir = world
    with DaemonProcess(config(proxy.url), workdir) as daemon:
        daemon.wait_ready()
        first, _ = daemon.wait_for(
            lambda s: value(s, "aws_ses_sends_total") is not None, timeout=30
        )
        # The first poll's bucket: every datapoint from it on is new.
        origin = math.floor(first.at / 60) * 60 - 60

        # (2) only series AWS has
        names = {name for name, _ in first.samples}
        assert "aws_ses_opens_total" not in names
        assert "aws_ses_configuration_set_opens_total" in names
        assert value(first, "aws_ses_sends_total") == 0

        # (3) a set excluded by a reload and included again counts nothing twice
        put(cloudwatch, "Send", "shop", time.time(), 3)
        shop = {"configuration_set": "shop"}
        daemon.wait_for(
            lambda s: value(s, "aws_ses_configuration_set_sends_total", **shop) == 3, timeout=30
        )
        daemon.config_file.write_text(config(proxy.url, exclude=("shop",)))
        daemon.proc.send_signal(signal.SIGHUP)
        daemon.wait_for(
            lambda s: value(s, "aws_ses_configuration_set_sends_total", **shop) is None,
            timeout=30,
        )
        daemon.config_file.write_text(config(proxy.url))
        daemon.proc.send_signal(signal.SIGHUP)
        back, _ = daemon.wait_for(
            lambda s: value(s, "aws_ses_configuration_set_sends_total", **shop) is not None,
            timeout=30,
        )
        assert value(back, "aws_ses_configuration_set_sends_total", **shop) == 3
        for scrape in daemon.scrapes(3, every=0.5):  # and stays there (no recount)
            assert value(scrape, "aws_ses_configuration_set_sends_total", **shop) == 3

        # (1) an outage longer than lookback: the sends of its first minute count after it
        proxy.fault("GetMetricData", Fault.ACCESS_DENIED)
        time.sleep(2)  # polls in flight end
        start = max(time.time(), origin + 60)
        for n in range(7):
            put(cloudwatch, "Send", None, start + n, 1)
        bucket = math.floor(start / 60) * 60
        # until a trailing window of lookback would start after the sends' minute
        while time.time() < bucket + 60 + LOOKBACK + 2 or time.time() < start + LOOKBACK + 2:
            time.sleep(1)
        failing = daemon.scrape()
        assert value(failing, "ses_exporter_collector_success", collector="cloudwatch") == 0
        assert value(failing, "aws_ses_sends_total") == 0
        proxy.clear("GetMetricData")
        done, _ = daemon.wait_for(lambda s: value(s, "aws_ses_sends_total") == 7, timeout=30)
        for scrape in daemon.scrapes(3, every=0.5):  # once only
            assert value(scrape, "aws_ses_sends_total") == 7
        assert value(done, "ses_exporter_cloudwatch_unattributed_events_total") == 0
