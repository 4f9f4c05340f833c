"""The exporter as a whole: targets, poller, result store and the private registry.

Targets come from ``accounts[]`` and from Organizations discovery (one job per
``organizations[]`` entry, every ``refresh_interval``). A reload and a discovery apply
the same way: ``build_targets`` keeps unchanged targets (clients, counters, timers) and
``Poller.sync`` adds and removes the rest.

With ``--shard.count`` > 1 every replica builds every target (a few KB each until
polled) but schedules only those its ``shard.Shard`` owns. A listed account whose id
only STS can tell is still resolved by every replica when organizations are configured
(one GetCallerIdentity), so that each replica drops the discovered twin of that account
as one process would, whichever replica owns the twin.

``Exporter`` is what the web server serves (it implements ``web.WebApp``): it renders
``/metrics`` from the store (``scrape.Scrape``) and the pages (``pages.Pages``) from the
store and its targets' collectors, answers readiness, and applies a new configuration
that ``reload.Reloader`` has validated.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping

from prometheus_client import CollectorRegistry
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from . import __version__
from .aws import ClientFactory, ClientHook, RequestCounter, describe_error
from .config import Config
from .discovery import DiscoveryStatus, OrganizationDiscovery
from .pages import Hourly, Pages, Source
from .poller import Poller
from .scrape import Scrape
from .shard import Shard
from .store import ResultStore
from .targets import Target, account_names, build_targets

log = logging.getLogger("ses_exporter")
RESOLVE_RETRY_SECONDS = 60.0

HOUSEKEEPING_SECONDS = 5.0  # cheap: a readiness check, and a gc.freeze() while not ready


class Exporter:
    def __init__(
        self,
        config: Config,
        client_hooks: Iterable[ClientHook] = (),
        collector_overrides: Mapping[str, bool] | None = None,
        clock: Callable[[], float] = time.time,
        shard: Shard | None = None,
    ):
        self.version = __version__
        self.shard = shard or Shard()
        self.client_hooks = tuple(client_hooks)
        self.clock = clock
        self.collector_overrides = dict(collector_overrides or {})
        self.requests = RequestCounter()
        self._reload_ok = True
        self._changes = 0  # target sets applied (config loads, reloads, discoveries)
        self._frozen_at: int | None = None
        self._lock = threading.RLock()
        self.config = self._apply_overrides(config)
        self.factory = ClientFactory(self.requests, self.client_hooks)
        self.store = ResultStore()
        self.discoveries: dict[int, OrganizationDiscovery] = {}
        self.targets: list[Target] = []  # this replica's: the polled ones
        self.all_targets: list[Target] = []  # every replica's
        # Id resolutions of other replicas' accounts by job id (see _resolve_ids).
        self._resolving: dict[str, Target] = {}
        self.poller = Poller(self.store, self.config.collectors, clock)
        self.poller.on_account_resolved = self._account_resolved
        self._apply(self.config)
        runtime = CollectorRegistry(auto_describe=False)  # process_*, python_*
        ProcessCollector(registry=runtime)
        PlatformCollector(registry=runtime)
        GCCollector(registry=runtime)
        self.scrape = Scrape(self.store, self, clock, runtime)
        self.registry = self.scrape.registry  # what /metrics prints (the private registry)
        self.pages = Pages()

    def _apply_overrides(self, config: Config) -> Config:
        if not self.collector_overrides:
            return config
        collectors = config.collectors.with_enabled(self.collector_overrides)
        return config.model_copy(update={"collectors": collectors})

    def start(self) -> None:
        self.poller.add_job(self._freeze_long_lived, "housekeeping", HOUSEKEEPING_SECONDS)
        self.poller.start()
        log.info(
            "polling started",
            extra={
                "targets": len(self.targets),
                "shard": f"{self.shard.index}/{self.shard.count}",
                "targets_all_shards": len(self.all_targets),
                "collectors": ",".join(sorted({c for t in self.targets for c in t.collectors})),
            },
        )

    def stop(self) -> None:
        self.poller.shutdown(wait=False)

    # --- web.WebApp ---------------------------------------------------------------

    def render_metrics(self, accept_header: str | None, gzip: bool = False) -> tuple[bytes, str]:
        return self.scrape.render(accept_header, gzip)

    def is_ready(self) -> bool:
        """Every organization discovered once (or tried) and every target polled once."""
        discovered = all(d.status().attempts > 0 for d in list(self.discoveries.values()))
        return discovered and self.store.all_attempted()

    def page(self, path: str, query: str) -> tuple[int, str, bytes] | None:
        """The pages, from the store and what the collectors keep: no AWS call."""
        targets = list(self.targets)
        names = {t.account.label: t.account.display_name for t in targets}
        by_target = {(t.account.label, t.region): t for t in targets}

        def hourly(account_id: str, region: str) -> Hourly | None:
            target = by_target.get((account_id, region))
            if target is None:
                return None
            kept = (c.hourly() for c in list(target.collectors.values()))
            return next((h for h in kept if h is not None), None)

        source = Source(
            self.store.statuses(),
            names,
            self.config.reputation_thresholds,
            hourly,
            self.clock(),
            self.version,
        )
        return self.pages.respond(path, query, source)

    # --- reload.Reloader ------------------------------------------------------------

    def apply(self, config: Config) -> None:
        """Uses a new, already validated config (the collector flags still override it)."""
        self._apply(self._apply_overrides(config))

    def reload_finished(self, ok: bool) -> None:
        """Exposed as ses_exporter_config_last_reload_successful."""
        self._reload_ok = ok

    def _apply(self, config: Config) -> None:
        """Makes targets, jobs and discoveries match ``config`` and the latest discoveries;
        unchanged targets keep their state and their timers."""
        with self._lock:
            self._sync_discoveries(config)
            found = [d.result for d in self.discoveries.values() if d.result is not None]
            targets = build_targets(config, self.factory, found, self.all_targets)
            owned = self.shard.select(targets)
            self.poller.sync(owned, config.collectors)
            self.config, self.targets, self.all_targets = config, owned, targets
            self._changes += 1
            self._resolve_ids(config)

    def _resolve_ids(self, config: Config) -> None:
        """Jobs that resolve the ids of listed accounts another replica polls, where an
        organization may have discovered the same account (see the module's doc)."""
        wanted: dict[str, Target] = {}
        if config.organizations and self.shard.count > 1:
            polled = {t.account.key for t in self.targets}
            for target in self.all_targets:
                account = target.account
                unknown = account.organization is None and account.known_id is None
                if unknown and account.key not in polled:
                    wanted.setdefault(f"resolve/{account.key}", target)
        for job in self._resolving.keys() - wanted.keys():
            self.poller.remove_job(job)
        for job in wanted.keys() - self._resolving.keys():
            self.poller.add_job(
                lambda j=job: self._resolve(j),  # type: ignore[misc]
                job,
                RESOLVE_RETRY_SECONDS,
            )
        self._resolving = wanted  # a job finds its target here: the newest after a reload

    def resolve_now(self) -> None:
        """Runs the pending id resolutions at once, in this thread (tests, tools)."""
        for job in list(self._resolving):
            self._resolve(job)

    def _resolve(self, job: str) -> None:
        target = self._resolving.get(job)
        if target is None:
            return
        try:
            target.account.account_id(target.clients)
        except Exception as exc:  # retried every RESOLVE_RETRY_SECONDS
            log.warning(
                "cannot resolve the account id of another replica's account",
                extra={"account": target.account.key, "error": describe_error(exc)},
            )
            return
        with self._lock:
            if self._resolving.pop(job, None) is not None:
                self.poller.remove_job(job)
        self._account_resolved(target)

    def _sync_discoveries(self, config: Config) -> None:
        """One discovery per organizations[] entry; an unchanged entry keeps its discovery,
        a changed one starts from its previous version's accounts (filtered anew)."""
        for index in [i for i in self.discoveries if i >= len(config.organizations)]:
            self.poller.remove_job(self.discoveries.pop(index).job_id)
        for index, organization in enumerate(config.organizations):
            current = self.discoveries.get(index)
            if current is not None and current.config == organization:
                continue
            discovery = OrganizationDiscovery(index, organization, self.factory, self.clock)
            if current is not None:
                discovery.inherit(current)
            self.discoveries[index] = discovery
            self.poller.add_job(
                lambda d=discovery: self._discover(d),  # type: ignore[misc]
                discovery.job_id,
                organization.refresh_interval,
            )

    def _freeze_long_lived(self) -> None:
        """Keeps Python's full garbage collections short at 1,500 targets.

        The heap is mostly long-lived: botocore's models, client classes, clients and
        sessions, collector state. A full collection walks all of it (about a second per
        300 targets measured here), holding the interpreter, so every poll and scrape
        waits. ``gc.freeze()`` (a list splice, no walk) moves what exists now out of the
        collector's reach; afterwards only what was made since is walked.

        * During a round of first polls (before ``/-/ready``), at every housekeeping tick:
          the first round creates most of the heap, and unfrozen it made full collections
          of 0.2 s growing to 2.3 s every few seconds (measured at 1,500 targets), the last
          one stalling a scrape for 3.5 s.
        * When ready: collect what is not frozen (what the last seconds made), then freeze.
        * When ready after the targets changed (reload, discovery): thaw and collect
          everything once, so that what removed targets (and the first round's temporaries
          frozen with it) left behind in reference cycles is freed, then freeze again.
        """
        changes = self._changes
        if not self.is_ready():
            gc.freeze()
            return
        if self._frozen_at == changes:
            return
        started = time.monotonic()
        if self._frozen_at is not None:
            gc.unfreeze()
        gc.collect()
        gc.freeze()
        self._frozen_at = changes
        seconds = round(time.monotonic() - started, 3)
        log.debug(
            "long-lived objects frozen",
            extra={"objects": gc.get_freeze_count(), "seconds": seconds},
        )

    def discover_now(self) -> None:
        """Runs every organization's discovery at once, in this thread (tests, tools)."""
        for discovery in list(self.discoveries.values()):
            self._discover(discovery)

    def _discover(self, discovery: OrganizationDiscovery) -> None:
        if discovery.refresh():
            with self._lock:
                if self.discoveries.get(discovery.index) is discovery:  # not replaced meanwhile
                    self._apply(self.config)
                    log.info("targets updated from discovery", extra={"targets": len(self.targets)})

    def _account_resolved(self, target: Target) -> None:
        """A listed account's id is now known: if an organization discovered the same
        account, it is polled once, as listed (the discovered twin goes)."""
        account_id = target.account.known_id
        with self._lock:
            twins = [
                t
                for t in self.all_targets
                if t.account.organization is not None and t.account.key == account_id
            ]
            if twins:
                self._apply(self.config)

    # --- what the self-metrics read -------------------------------------------------

    def cloudwatch_requested(self) -> Mapping[tuple[str, str], float]:
        """Billable CloudWatch metrics requested per target (the cloudwatch collector adds)."""
        return {(t.account.label, t.region): t.cloudwatch_metrics_requested for t in self.targets}

    def reload_successful(self) -> bool:
        return self._reload_ok

    def reputation_thresholds(self) -> Mapping[tuple[str, str], float]:
        return self.config.reputation_thresholds.ratios()

    def polls_skipped(self) -> Mapping[str, int]:
        return self.poller.skipped()

    def discovery_statuses(self) -> list[DiscoveryStatus]:
        return [d.status() for d in list(self.discoveries.values())]

    def account_names(self) -> Mapping[str, tuple[str, str]]:
        return account_names(self.targets)

    def target_count(self) -> int:
        return len(self.targets)

    def all_shards_target_count(self) -> int:
        return len(self.all_targets)

    def shard_position(self) -> tuple[int, int]:
        """(index, count) of this replica."""
        return self.shard.index, self.shard.count
