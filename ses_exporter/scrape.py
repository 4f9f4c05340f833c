"""``/metrics``: the store's pre-rendered results, then the exporter's own metrics.

``Scrape.render`` answers a scrape. The SES families were rendered when their poll was
stored (``exposition``), so a scrape joins bytes: one HELP/TYPE per family with the
samples of every fresh result under it. Then the self-metrics of SPEC 3.5: build_info
and the headers of the per-target ones are rendered once, the per-target samples
(``ses_exporter_collector_*``, four per target and collector: 24,000 lines at 1,500
targets) are kept rendered by the store in each ``PollStatus.own``, and only the few
others and the process, platform and GC collectors are printed per scrape by
prometheus_client. For gzip, the joined SES part is compressed once per content version
(``exposition.GzipPrefix``) and each scrape compresses only the self-metrics after it.

The output is byte for byte what prometheus_client prints for ``registry`` (the custom
collector ``ExporterCollector`` and the same three), which also serves, as before, the
Accept headers and results the join cannot (``exposition.choose``, ``Rendered.plain``).
``describe()`` returns nothing so registering never triggers a collection.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Protocol

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector as PromCollector

from . import __version__
from .aws import RequestCounter
from .discovery import DiscoveryStatus
from .exposition import GzipPrefix, choose, join, render
from .families import merge_families, threshold_family
from .store import COLLECTOR_LABELS, COLLECTOR_SERIES, PollStatus, ResultStore

# The joined SES part is compressed once per content version; see README, Performance.
# Level 1: at 1,500 targets the content changes between most scrapes (some poll always
# just finished), and the whole 15 MB is compressed in 24 ms at level 1 against 67 ms at
# level 6, for a body 28 % larger (818 against 640 KiB): CPU the polls need more.
GZIP_LEVEL = 1


class ExporterState(Protocol):
    """What the self-metrics read from the running exporter (``daemon.Exporter``)."""

    requests: RequestCounter

    def cloudwatch_requested(self) -> Mapping[tuple[str, str], float]: ...
    def reload_successful(self) -> bool: ...
    def reputation_thresholds(self) -> Mapping[tuple[str, str], float]: ...
    def polls_skipped(self) -> Mapping[str, int]: ...
    def discovery_statuses(self) -> Sequence[DiscoveryStatus]: ...
    def account_names(self) -> Mapping[str, tuple[str, str]]: ...
    def target_count(self) -> int: ...
    def all_shards_target_count(self) -> int: ...
    def shard_position(self) -> tuple[int, int]: ...


class Scrape:
    """Renders ``/metrics`` for an Accept header, optionally gzip-compressed.

    ``registry`` holds ``ExporterCollector`` and then ``runtime`` (the process, platform
    and GC collectors); ``render`` prints what prometheus_client would print for it.
    """

    def __init__(
        self,
        store: ResultStore,
        state: ExporterState,
        clock: Callable[[], float] = time.time,
        runtime: PromCollector | None = None,
    ):
        self.store = store
        self.clock = clock
        own = SelfMetrics(state)
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(ExporterCollector(store, own, clock))
        # Printed per scrape: the self-metrics after the per-target ones, and the runtime.
        self._rest = CollectorRegistry(auto_describe=False)
        self._rest.register(own)
        if runtime is not None:
            self.registry.register(runtime)
            self._rest.register(runtime)
        # Rendered once: build_info and the headers of the per-target self-metrics (their
        # samples are each status's ``own`` lines).
        self._head = render([own.build_info(), *_collector_families([])])
        self._gzip: dict[int, GzipPrefix] = {}  # per format: at most two

    def render(self, accept_header: str | None, gzip: bool = False) -> tuple[bytes, str]:
        encoder, content_type, fmt = choose(accept_header)
        version, statuses = self.store.snapshot()
        now = self.clock()
        fresh = bytes(status.is_fresh(now) for status in statuses)
        results = [s.rendered for s, is_fresh in zip(statuses, fresh, strict=True) if is_fresh]
        if fmt is None or not all(result.plain for result in results):
            body = encoder(self.registry)
            return (_gzip(body) if gzip else body), content_type
        own = self._own_lines(statuses, fmt) + encoder(self._rest)
        if not gzip:
            return join(results, fmt, own), content_type
        key = (version, fresh)
        cached = self._gzip.get(fmt)
        if cached is None or cached.key != key:
            cached = self._gzip[fmt] = GzipPrefix(key, join(results, fmt), GZIP_LEVEL)
        return cached.finish(own), content_type

    def _own_lines(self, statuses: Sequence[PollStatus], fmt: int) -> bytes:
        """build_info and the per-target self-metrics, as prometheus_client prints them."""
        info, *headers = self._head.fragments
        parts = [info.header[fmt], info.samples[fmt]]
        for index, fragment in enumerate(headers):
            parts.append(fragment.header[fmt])
            parts.extend(status.own[index] for status in statuses)
        return b"".join(parts)


def _gzip(body: bytes) -> bytes:
    prefix = GzipPrefix(None, body, GZIP_LEVEL)
    return prefix.finish(b"")


class ExporterCollector(PromCollector):
    """The fresh SES families of the store, merged, then the self-metrics."""

    def __init__(
        self,
        store: ResultStore,
        own: SelfMetrics,
        clock: Callable[[], float] = time.time,
    ):
        self.store = store
        self.clock = clock
        self.own = own

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        statuses = self.store.statuses()
        now = self.clock()
        yield from merge_families(s.metric_families() for s in statuses if s.is_fresh(now))
        yield from self.own.families(statuses)


class SelfMetrics(PromCollector):
    """The exporter's own metrics (SPEC 3.5), without the SES families: all of them with
    ``families``; as a collector, those printed at every scrape (``rest``: build_info and
    the per-target ones are kept rendered by ``Scrape``)."""

    def __init__(self, state: ExporterState):
        self.state = state

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        return self.rest()

    def families(self, statuses: list[PollStatus]) -> Iterator[Metric]:
        yield self.build_info()
        yield from _collector_families(statuses)
        yield from self.rest()

    def build_info(self) -> Metric:
        info = GaugeMetricFamily(
            "ses_exporter_build_info",
            "Build information of ses-exporter; always 1.",
            labels=["version", "python_version"],
        )
        info.add_metric([__version__, platform.python_version()], 1.0)
        return info

    def rest(self) -> Iterator[Metric]:
        """The self-metrics after the per-target ones."""
        requests = CounterMetricFamily(
            "ses_exporter_aws_requests_total",
            "AWS API calls made by the exporter (after botocore's retries), by outcome: "
            "success, the AWS error code, timeout or connection_error.",
            labels=["service", "operation", "outcome"],
        )
        for (service, operation, outcome), count in sorted(self.state.requests.snapshot().items()):
            requests.add_metric([service, operation, outcome], float(count))
        yield requests
        billed = CounterMetricFamily(
            "ses_exporter_cloudwatch_metrics_requested_total",
            "CloudWatch metrics requested with GetMetricData (what CloudWatch bills for).",
            labels=["account_id", "region"],
        )
        for (account_id, region), billed_count in sorted(self.state.cloudwatch_requested().items()):
            billed.add_metric([account_id, region], billed_count)
        yield billed
        reload_ok = GaugeMetricFamily(
            "ses_exporter_config_last_reload_successful",
            "1 if the last configuration (re)load succeeded.",
        )
        reload_ok.add_metric([], float(self.state.reload_successful()))
        yield reload_ok
        yield threshold_family(self.state.reputation_thresholds())
        yield from self._scale_families()
        yield from _shard_families(self.state)

    def _scale_families(self) -> Iterator[Metric]:
        targets = GaugeMetricFamily(
            "ses_exporter_targets",
            "Targets (account x region) this process polls, listed and discovered.",
        )
        targets.add_metric([], float(self.state.target_count()))
        yield targets
        skipped = CounterMetricFamily(
            "ses_exporter_polls_skipped_total",
            "Scheduled polls skipped because the previous poll of the same target and "
            "collector was still running or queued (the poll outlasts its interval).",
            labels=["collector"],
        )
        for collector, count in sorted(self.state.polls_skipped().items()):
            skipped.add_metric([collector], float(count))
        yield skipped
        names = GaugeMetricFamily(
            "ses_exporter_account_info",
            "Name of each polled account (from accounts[].name or AWS Organizations), "
            "and the organizations[] entry that discovered it; always 1. Join on account_id.",
            labels=["account_id", "account_name", "organization"],
        )
        for account_id, (name, organization) in sorted(self.state.account_names().items()):
            names.add_metric([account_id, name, organization], 1.0)
        yield names
        yield from _discovery_families(self.state.discovery_statuses())


def _collector_families(statuses: Sequence[PollStatus]) -> list[Metric]:
    """The per-target self-metrics (``store.COLLECTOR_SERIES``) of ``statuses``."""
    families = [
        GaugeMetricFamily(name, documentation, labels=list(COLLECTOR_LABELS))
        for name, documentation in COLLECTOR_SERIES
    ]
    for status in statuses:
        labels = [status.account_id, status.region, status.collector]
        for family, value in zip(families, status.values(), strict=True):
            if value is not None:
                family.add_metric(labels, value)
    return list[Metric](families)


def _discovery_families(statuses: Sequence[DiscoveryStatus]) -> Iterator[Metric]:
    accounts = GaugeMetricFamily(
        "ses_exporter_organization_accounts",
        "Accounts kept by the last successful AWS Organizations discovery (ListAccounts, "
        "or ListAccountsForParent and ListChildren), after the include/exclude filter.",
        labels=["organization"],
    )
    success = GaugeMetricFamily(
        "ses_exporter_organization_discovery_success",
        "1 if the last AWS Organizations discovery of this organizations[] entry succeeded.",
        labels=["organization"],
    )
    last = GaugeMetricFamily(
        "ses_exporter_organization_discovery_last_success_timestamp_seconds",
        "Unix time of the last successful AWS Organizations discovery.",
        labels=["organization"],
    )
    for status in statuses:
        if status.success is None:
            continue
        success.add_metric([status.organization], float(status.success))
        if status.accounts is not None:
            accounts.add_metric([status.organization], float(status.accounts))
        if status.last_success is not None:
            last.add_metric([status.organization], status.last_success)
    yield accounts
    yield success
    yield last


def _shard_families(state: ExporterState) -> Iterator[Metric]:
    """Where this replica stands among ``--shard.count`` replicas (one of one unsharded).
    ``sum(ses_exporter_targets)`` over the replicas equals each one's
    ``ses_exporter_targets_all_shards`` when every target has exactly one owner."""
    index, count = state.shard_position()
    shard_index = GaugeMetricFamily(
        "ses_exporter_shard_index",
        "This replica's --shard.index (0-based; 0 when not sharded).",
    )
    shard_index.add_metric([], float(index))
    yield shard_index
    # Not ..._shard_count: promtool keeps the _count suffix for histograms and summaries.
    shard_count = GaugeMetricFamily(
        "ses_exporter_shards",
        "--shard.count: the replicas that split the targets by rendezvous hashing.",
    )
    shard_count.add_metric([], float(count))
    yield shard_count
    all_targets = GaugeMetricFamily(
        "ses_exporter_targets_all_shards",
        "Targets (account x region) of all replicas together, listed and discovered, as "
        "this replica sees them; ses_exporter_targets is the share this replica polls.",
    )
    all_targets.add_metric([], float(state.all_shards_target_count()))
    yield all_targets
