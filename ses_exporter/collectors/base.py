"""What every collector is: a poll that talks to AWS and returns ready-built families.

A collector is built with its target's clients and the settings it uses, nothing more
(``targets`` hands each one its own section of the configuration). An instance lives as
long as its target, so collectors with state across polls (counters built from AWS
windows, caches) keep it on ``self``; on a reload, a collector with settings receives
the new ones through ``configure`` and keeps its state. ``poll`` raises on any failure;
the poller records the failure and keeps the last good families until they are stale.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import ClassVar

from prometheus_client.metrics_core import Metric

from ..aws import TargetClients


class Collector(ABC):
    name: ClassVar[str]  # as in config (collectors.NAME) and flags (--collector.NAME)

    def __init__(self, clients: TargetClients):
        self.clients = clients  # of one (account, region) target; clients.region is its region
        self.log = logging.getLogger(f"ses_exporter.collectors.{self.name}")

    @abstractmethod
    def poll(self, labels: Mapping[str, str]) -> list[Metric]:
        """Call AWS and return the families for this target; ``labels`` go on every series."""
