"""``/metrics``: the store's pre-rendered results, then the exporter's own metrics.

``Scrape.render`` answers a scrape. The SES families were rendered when their poll was
stored (``exposition``), so a scrape joins bytes: one HELP/TYPE per family with the
samples of every fresh result under it. Then the exporter's own metrics: build_info
and the headers of the per-target ones are rendered once, the per-target samples
(``ses_exporter_collector_*``, four per target and collector: 24,000 lines at 1,500
targets) are kept rendered by the store in each ``PollStatus.own``, those with a sample
per target or account (billed CloudWatch metrics, account names) line by line as their
values change (``exposition.SampleLines``), and only the few others and the process,
platform and GC collectors are printed per scrape by prometheus_client. For gzip, the
joined SES part is compressed once per content version (``exposition.GzipPrefix``) and
each scrape compresses only the self-metrics after it.

The output is byte for byte what prometheus_client prints for ``registry`` (the custom
collector ``ExporterCollector`` and the same three), which also serves, as before, the
Accept headers and results the join cannot (``exposition.choose``, ``Rendered.plain``).
``describe()`` returns nothing so registering never triggers a collection.
"""

from __future__ import annotations

import itertools
import operator
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
from .exposition import GzipPrefix, Labels, SampleLines, choose, join, render
from .families import merge_families, threshold_family
from .store import COLLECTOR_LABELS, COLLECTOR_SERIES, PollStatus, ResultStore

# The joined SES part is compressed once per content version; see docs/performance.md.
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
        own = self.own = SelfMetrics(state)
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(ExporterCollector(store, own, clock))
        # Printed per scrape: the self-metrics after the per-target ones, and the runtime.
        self._rest = CollectorRegistry(auto_describe=False)
        self._rest.register(own)
        if runtime is not None:
            self.registry.register(runtime)
            self._rest.register(runtime)
        # Rendered once: build_info and the headers of the self-metrics with a sample per
        # target or account (those of the per-target ones are each status's ``own`` lines).
        self._head = render(
            [own.build_info(), *_collector_families([]), _billed_family(), _names_family()]
        )
        self._billed = SampleLines[tuple[str, str]](BILLED, BILLED_LABELS)
        self._names = SampleLines[tuple[str, str, str]](NAMES, NAMES_LABELS)
        self._gzip: dict[int, GzipPrefix] = {}  # per format: at most two

    def render(self, accept_header: str | None, gzip: bool = False) -> tuple[bytes, str]:
        encoder, content_type, fmt = choose(accept_header)
        version, statuses = self.store.snapshot()
        now = self.clock()
        fresh = bytes([now <= status.fresh_until for status in statuses])
        results = [status.rendered for status in itertools.compress(statuses, fresh)]
        if fmt is None or not all(map(operator.attrgetter("plain"), results)):
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
        """build_info and the self-metrics with a sample per target or account, as
        prometheus_client prints them."""
        info, *headers, billed, names = self._head.fragments
        parts = [info.header[fmt], info.samples]
        # One column of lines per family, cut by zip in C: 24,000 lines at 1,500 targets.
        columns = list(zip(*[status.own for status in statuses], strict=True))
        for fragment, lines in zip(headers, columns or [()] * len(headers), strict=True):
            parts.append(fragment.header[fmt])
            parts.extend(lines)
        parts += (billed.header[fmt], self._billed.render(self.own.billed()))
        parts += (names.header[fmt], self._names.render(self.own.account_info()))
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
    """The exporter's own metrics, without the SES families: all of them with
    ``families``; as a collector, those printed at every scrape (``rest``: build_info and
    those with a sample per target or account are kept rendered by ``Scrape``)."""

    def __init__(self, state: ExporterState):
        self.state = state

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        return self.rest()

    def families(self, statuses: list[PollStatus]) -> Iterator[Metric]:
        yield self.build_info()
        yield from _collector_families(statuses)
        yield _with_samples(_billed_family(), self.billed())
        yield _with_samples(_names_family(), self.account_info())
        yield from self.rest()

    def billed(self) -> Mapping[tuple[str, str], float]:
        """The samples of the billed counter: (account_id, region): metrics requested."""
        return self.state.cloudwatch_requested()

    def account_info(self) -> dict[tuple[str, str, str], float]:
        """The samples of ses_exporter_account_info: (account_id, name, organization): 1."""
        names = self.state.account_names().items()
        return {(account_id, name, org): 1.0 for account_id, (name, org) in names}

    def build_info(self) -> Metric:
        info = GaugeMetricFamily(
            "ses_exporter_build_info",
            "Build information of ses-exporter; always 1.",
            labels=["version", "python_version"],
        )
        info.add_metric([__version__, platform.python_version()], 1.0)
        return info

    def rest(self) -> Iterator[Metric]:
        """The self-metrics after those with a sample per target or account."""
        requests = CounterMetricFamily(
            "ses_exporter_aws_requests_total",
            "AWS API calls made by the exporter (after botocore's retries), by outcome: "
            "success, the AWS error code, timeout or connection_error.",
            labels=["service", "operation", "outcome"],
        )
        for (service, operation, outcome), count in sorted(self.state.requests.snapshot().items()):
            requests.add_metric([service, operation, outcome], float(count))
        yield requests
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


BILLED = "ses_exporter_cloudwatch_metrics_requested_total"
BILLED_LABELS = ("account_id", "region")
NAMES = "ses_exporter_account_info"
NAMES_LABELS = ("account_id", "account_name", "organization")


def _with_samples(
    family: CounterMetricFamily | GaugeMetricFamily, values: Mapping[Labels, float]
) -> Metric:
    """``family`` with a sample per label tuple, in sorted order (as ``SampleLines``)."""
    for labels in sorted(values):
        family.add_metric(list(labels), values[labels])
    return family


def _billed_family() -> CounterMetricFamily:
    return CounterMetricFamily(
        BILLED,
        "CloudWatch metrics requested with GetMetricData (what CloudWatch bills for).",
        labels=list(BILLED_LABELS),
    )


def _names_family() -> GaugeMetricFamily:
    return GaugeMetricFamily(
        NAMES,
        "Name of each polled account (from accounts[].name or AWS Organizations), "
        "and the organizations[] entry that discovered it; always 1. Join on account_id.",
        labels=list(NAMES_LABELS),
    )


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
