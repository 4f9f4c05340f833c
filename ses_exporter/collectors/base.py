"""What every collector is, and the registry they add themselves to.

A collector is built with its target's clients and the settings it uses, nothing more
(``TargetContext`` and its own section ``collectors.NAME``). An instance lives as long as
its target, so collectors with state across polls (counters built from AWS windows,
caches) keep it on ``self``; on a reload ``build`` hands the existing instance its new
settings, and it keeps its state. ``poll`` raises on any failure; the poller records the
failure and keeps the last good families until they are stale.

Each collector module registers its class with ``@register``: the class says its name (in
config and flags), its config model and default interval, and how it is built. The
configuration's ``collectors`` section, the ``--collector.NAME`` flags and the target
builder all follow ``REGISTRY``, so nothing outside ``collectors/`` names a collector.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar, NamedTuple, Self, TypeVar

from prometheus_client.metrics_core import Metric

from ..aws import TargetClients
from ..config_types import CollectorConfig, ConfigurationSetFilter, ReputationThresholds


@dataclass(frozen=True)
class TargetContext:
    """What a collector may know of its target (one account in one region) and of the
    configuration besides its own section."""

    clients: TargetClients
    configuration_sets: ConfigurationSetFilter  # the account's include/exclude filter
    ses_requests_per_second: float  # the account's SES pace, shared by its collectors
    reputation_thresholds: ReputationThresholds
    # Adds to ses_exporter_cloudwatch_metrics_requested_total of the target (kept by the
    # target, so it survives a collector being switched off and on).
    count_cloudwatch_metrics: Callable[[int], None]


class Hourly(NamedTuple):
    """Counts per hour that AWS keeps itself and that no metric holds (the 14 days of
    GetSendStatistics), for the exporter's pages. Read from other threads while polls
    run: a collector replaces it whole and never changes one it handed out."""

    start: float  # unix seconds of the first hour
    counts: Mapping[str, Sequence[int]]  # series -> one count per hour from ``start``


class Collector(ABC):
    name: ClassVar[str]  # as in config (collectors.NAME) and flags (--collector.NAME)
    title: ClassVar[str]  # what it reads, as its heading in docs/metrics.md
    default_interval: ClassVar[float]  # seconds, when collectors.NAME.interval is not set
    config_model: ClassVar[type[CollectorConfig]] = CollectorConfig  # collectors.NAME

    def __init__(self, clients: TargetClients):
        self.clients = clients  # of one (account, region) target; clients.region is its region
        self.log = logging.getLogger(f"ses_exporter.collectors.{self.name}")

    @classmethod
    def build(cls, target: TargetContext, section: CollectorConfig, existing: Self | None) -> Self:
        """The target's collector with the settings of ``section``: ``existing`` (the
        instance of the previous configuration, its state kept) or a new one. Collectors
        with settings override this."""
        return existing if existing is not None else cls(target.clients)

    @abstractmethod
    def poll(self, labels: Mapping[str, str]) -> list[Metric]:
        """Call AWS and return the families for this target; ``labels`` go on every series."""

    def hourly(self) -> Hourly | None:
        """What the last successful poll read of AWS's per-hour history, for the pages;
        None for collectors that keep none (all but send_statistics)."""
        return None


REGISTRY: dict[str, type[Collector]] = {}  # name -> class, in the order of registration
C = TypeVar("C", bound=type[Collector])


def register(cls: C) -> C:
    """Class decorator: add a collector to ``REGISTRY`` under its ``name``."""
    if cls.name in REGISTRY:
        raise ValueError(f"two collectors are named {cls.name!r}")
    REGISTRY[cls.name] = cls
    return cls
