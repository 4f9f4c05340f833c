"""The collectors, by the name used in config and in ``--collector.NAME`` flags.

Each module imported below registers its collector (``base.register``): its class owns its
name, config model, default interval and how it is built for a target. ``REGISTRY`` keeps
the order of these imports, which is the order of the configuration's ``collectors``
section, the flags and the README's collector table. Adding a collector is one new module
and its line here (plus its tests, its row in the README's collector table and its section
in docs/metrics.md); nothing outside this package names it.
"""

from __future__ import annotations

# The order of registration is the collectors' order.
# isort: off
from . import account  # noqa: F401
from . import send_statistics  # noqa: F401
from . import cloudwatch  # noqa: F401
from . import configuration_sets  # noqa: F401
from . import identities  # noqa: F401
from . import dedicated_ips  # noqa: F401
from . import suppression  # noqa: F401
from . import vdm  # noqa: F401

# isort: on
from .base import REGISTRY, Collector, Hourly, TargetContext

__all__ = ["REGISTRY", "Collector", "Hourly", "TargetContext"]
