"""The collectors, by the name used in config and in ``--collector.NAME`` flags.

Each collector is built with its target's clients and its own settings only;
``targets`` decides which section of the configuration goes to which collector.
"""

from __future__ import annotations

from .account import AccountCollector
from .base import Collector
from .cloudwatch import CloudWatchCollector, CloudWatchSettings
from .configuration_sets import ConfigurationSetsCollector, ConfigurationSetsSettings
from .send_statistics import SendStatisticsCollector

REGISTRY: dict[str, type[Collector]] = {
    AccountCollector.name: AccountCollector,
    SendStatisticsCollector.name: SendStatisticsCollector,
    CloudWatchCollector.name: CloudWatchCollector,
    ConfigurationSetsCollector.name: ConfigurationSetsCollector,
}

__all__ = [
    "REGISTRY",
    "AccountCollector",
    "CloudWatchCollector",
    "CloudWatchSettings",
    "Collector",
    "ConfigurationSetsCollector",
    "ConfigurationSetsSettings",
    "SendStatisticsCollector",
]
