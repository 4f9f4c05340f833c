"""What every collector is: a poll that talks to AWS and returns ready-built families.

A collector instance lives as long as its target, so collectors with state across polls
(counters built from AWS windows) keep it on ``self``. ``poll`` raises on any failure;
the poller records the failure and keeps the last good families until they are stale.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import ClassVar

from prometheus_client.metrics_core import Metric

from ..aws import TargetClients
from ..config import AccountConfig, CollectorsConfig, ReputationThresholds


@dataclass(frozen=True)
class CollectorContext:
    """Everything a collector may use: its target's clients and the relevant config."""

    clients: TargetClients
    account: AccountConfig
    region: str
    collectors: CollectorsConfig
    thresholds: ReputationThresholds
    # Adds to ses_exporter_cloudwatch_metrics_requested_total of this target.
    count_cloudwatch_metrics: Callable[[int], None] = lambda _: None


class Collector(ABC):
    name: ClassVar[str]

    def __init__(self, context: CollectorContext):
        self.context = context
        self.log = logging.getLogger(f"ses_exporter.collectors.{self.name}")

    @abstractmethod
    def poll(self, labels: Mapping[str, str]) -> list[Metric]:
        """Call AWS and return the families for this target; ``labels`` go on every series."""
