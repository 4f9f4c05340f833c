"""The custom collector behind ``/metrics``: cached SES families plus the exporter's own.

``collect()`` builds nothing from AWS: it merges the families the poller already built
and adds the self-metrics of SPEC 3.5. ``describe()`` returns nothing so registering
never triggers a collection.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable, Iterator, Mapping

from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector as PromCollector

from . import __version__
from .aws import RequestCounter
from .families import merge_families
from .store import PollStatus, SnapshotStore

TARGET_LABELS = ["account_id", "region", "collector"]


class ExporterCollector(PromCollector):
    def __init__(
        self,
        store: SnapshotStore,
        requests: RequestCounter,
        cloudwatch_requested: Callable[[], Mapping[tuple[str, str], float]],
        reload_successful: Callable[[], bool],
        clock: Callable[[], float] = time.time,
    ):
        self.store = store
        self.requests = requests
        self.cloudwatch_requested = cloudwatch_requested
        self.reload_successful = reload_successful
        self.clock = clock

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        statuses = self.store.statuses()
        now = self.clock()
        yield from merge_families(s.families for s in statuses if s.is_fresh(now))
        yield from self._self_metrics(statuses)

    def _self_metrics(self, statuses: list[PollStatus]) -> Iterator[Metric]:
        info = GaugeMetricFamily(
            "ses_exporter_build_info",
            "Build information of ses-exporter; always 1.",
            labels=["version", "python_version"],
        )
        info.add_metric([__version__, platform.python_version()], 1.0)
        yield info
        yield from _collector_families(statuses)
        requests = CounterMetricFamily(
            "ses_exporter_aws_requests",
            "AWS API calls made by the exporter (after botocore's retries), by outcome: "
            "success, the AWS error code, timeout or connection_error.",
            labels=["service", "operation", "outcome"],
        )
        for (service, operation, outcome), count in sorted(self.requests.snapshot().items()):
            requests.add_metric([service, operation, outcome], float(count))
        yield requests
        billed = CounterMetricFamily(
            "ses_exporter_cloudwatch_metrics_requested",
            "CloudWatch metrics requested with GetMetricData (what CloudWatch bills for).",
            labels=["account_id", "region"],
        )
        for (account_id, region), billed_count in sorted(self.cloudwatch_requested().items()):
            billed.add_metric([account_id, region], billed_count)
        yield billed
        reload_ok = GaugeMetricFamily(
            "ses_exporter_config_last_reload_successful",
            "1 if the last configuration (re)load succeeded.",
        )
        reload_ok.add_metric([], float(self.reload_successful()))
        yield reload_ok


def _collector_families(statuses: list[PollStatus]) -> Iterator[Metric]:
    success = GaugeMetricFamily(
        "ses_exporter_collector_success",
        "1 if the collector's last poll of the target succeeded.",
        labels=TARGET_LABELS,
    )
    last = GaugeMetricFamily(
        "ses_exporter_collector_last_success_timestamp_seconds",
        "Unix time of the collector's last successful poll of the target.",
        labels=TARGET_LABELS,
    )
    duration = GaugeMetricFamily(
        "ses_exporter_collector_duration_seconds",
        "Duration of the collector's last poll of the target.",
        labels=TARGET_LABELS,
    )
    for status in statuses:
        if status.success is None:
            continue
        labels = [status.account_id, status.region, status.collector]
        success.add_metric(labels, float(status.success))
        if status.duration is not None:
            duration.add_metric(labels, status.duration)
        if status.last_success is not None:
            last.add_metric(labels, status.last_success)
    yield success
    yield last
    yield duration
