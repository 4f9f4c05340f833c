"""The collectors, by the name used in config and in ``--collector.NAME`` flags."""

from __future__ import annotations

from .account import AccountCollector
from .base import Collector, CollectorContext

REGISTRY: dict[str, type[Collector]] = {
    AccountCollector.name: AccountCollector,
}

__all__ = ["REGISTRY", "Collector", "CollectorContext"]
