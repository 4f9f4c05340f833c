"""The exporter as a whole: targets, poller, snapshot store and the private registry.

``Exporter`` is what the web server serves (it implements ``web.WebApp``): it renders
``/metrics`` from the store, answers readiness, and applies a new configuration that
``reload.Reloader`` has validated.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from . import __version__
from .aws import ClientHook, RequestCounter
from .config import Config
from .exposition import ExporterCollector
from .poller import Poller
from .store import SnapshotStore
from .targets import Target, build_targets

log = logging.getLogger("ses_exporter")


class Exporter:
    def __init__(
        self,
        config: Config,
        client_hooks: Iterable[ClientHook] = (),
        collector_overrides: Mapping[str, bool] | None = None,
        clock: Callable[[], float] = time.time,
    ):
        self.version = __version__
        self.client_hooks = tuple(client_hooks)
        self.clock = clock
        self.collector_overrides = dict(collector_overrides or {})
        self.requests = RequestCounter()
        self._reload_ok = True
        self._lock = threading.Lock()
        self.config = self._apply_overrides(config)
        self.store = SnapshotStore()
        self.targets: list[Target] = build_targets(self.config, self.requests, self.client_hooks)
        self.poller = Poller(self.store, self.config.collectors, clock)
        self.poller.sync(self.targets, self.config.collectors)
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(
            ExporterCollector(
                self.store,
                self.requests,
                self.cloudwatch_requested,
                lambda: self._reload_ok,
                clock,
            )
        )
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)

    def _apply_overrides(self, config: Config) -> Config:
        if not self.collector_overrides:
            return config
        collectors = config.collectors.with_enabled(self.collector_overrides)
        return config.model_copy(update={"collectors": collectors})

    def start(self) -> None:
        self.poller.start()
        log.info(
            "polling started",
            extra={
                "targets": len(self.targets),
                "collectors": ",".join(sorted({c for t in self.targets for c in t.collectors})),
            },
        )

    def stop(self) -> None:
        self.poller.shutdown(wait=False)

    # --- web.WebApp ---------------------------------------------------------------

    def render_metrics(self, accept_header: str | None) -> tuple[bytes, str]:
        encoder, content_type = choose_encoder(accept_header or "")
        return encoder(self.registry), content_type

    def is_ready(self) -> bool:
        return self.store.all_attempted()

    # --- reload.Reloader ------------------------------------------------------------

    def apply(self, config: Config) -> None:
        """Uses a new, already validated config (the collector flags still override it)."""
        with self._lock:
            self._swap(self._apply_overrides(config))

    def reload_finished(self, ok: bool) -> None:
        """Exposed as ses_exporter_config_last_reload_successful."""
        self._reload_ok = ok

    def _swap(self, config: Config) -> None:
        """Applies a new config; unchanged targets keep their state and their timers."""
        targets = build_targets(config, self.requests, self.client_hooks, self.targets)
        self.poller.sync(targets, config.collectors)
        self.config, self.targets = config, targets

    def cloudwatch_requested(self) -> Mapping[tuple[str, str], float]:
        """Billable CloudWatch metrics requested per target (the cloudwatch collector adds)."""
        return {(t.account.label, t.region): t.cloudwatch_metrics_requested for t in self.targets}
