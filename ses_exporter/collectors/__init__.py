"""The collectors, by the name used in config and in ``--collector.NAME`` flags.

``REGISTRY`` follows ``config.COLLECTOR_NAMES`` (the fields of ``CollectorsConfig``), in
that order: a name without a collector class fails at import. Each collector is built
with its target's clients and its own settings only; ``targets`` decides which section of
the configuration goes to which collector.
"""

from __future__ import annotations

from ..config import COLLECTOR_NAMES
from .account import AccountCollector
from .base import Collector
from .cloudwatch import CloudWatchCollector, CloudWatchSettings
from .configuration_sets import ConfigurationSetsCollector, ConfigurationSetsSettings
from .send_statistics import SendStatisticsCollector

_CLASSES: tuple[type[Collector], ...] = (
    AccountCollector,
    SendStatisticsCollector,
    CloudWatchCollector,
    ConfigurationSetsCollector,
)
_BY_NAME = {collector.name: collector for collector in _CLASSES}
REGISTRY: dict[str, type[Collector]] = {name: _BY_NAME[name] for name in COLLECTOR_NAMES}

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
