"""The collectors, by the name used in config and in ``--collector.NAME`` flags."""

from __future__ import annotations

from .account import AccountCollector
from .base import Collector, CollectorContext
from .cloudwatch import CloudWatchCollector
from .configuration_sets import ConfigurationSetsCollector
from .send_statistics import SendStatisticsCollector

REGISTRY: dict[str, type[Collector]] = {
    AccountCollector.name: AccountCollector,
    SendStatisticsCollector.name: SendStatisticsCollector,
    CloudWatchCollector.name: CloudWatchCollector,
    ConfigurationSetsCollector.name: ConfigurationSetsCollector,
}

__all__ = ["REGISTRY", "Collector", "CollectorContext"]
