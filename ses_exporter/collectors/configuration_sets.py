"""The ``configuration_sets`` collector: each configuration set's sending and reputation switches.

Sources: sesv2 ListConfigurationSets (``aws.next_token_pages``: botocore has no paginator
for it) and sesv2 GetConfigurationSet, one call per set, a budget of them per poll: each
poll lists every set and refreshes the sets due (``refresh.RefreshQueue``: never tried
first, then those tried longest ago; errors of one set never fail the poll; a set that is
no longer listed disappears at that poll). A failing ListConfigurationSets fails the poll
(it raises).

Sample exposition::

    aws_ses_configuration_sets{account_id="123456789012",region="eu-west-1"} 2.0
    aws_ses_configuration_set_reputation_metrics_enabled{account_id="123456789012",
        region="eu-west-1",configuration_set="marketing"} 1.0
    aws_ses_configuration_set_sending_enabled{account_id="123456789012",
        region="eu-west-1",configuration_set="marketing"} 1.0
    aws_ses_configuration_set_last_fresh_start_timestamp_seconds{account_id="123456789012",
        region="eu-west-1",configuration_set="marketing"} 1.7041536e+09
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Self

from prometheus_client.metrics_core import Metric

from ..aws import TargetClients, next_token_pages, unix_seconds
from ..config_types import CollectorConfig, ConfigurationSetFilter
from ..families import FamilyBuilder
from .base import Collector, TargetContext, register
from .refresh import RefreshQueue, refresh_budget

if TYPE_CHECKING:
    from mypy_boto3_sesv2 import SESV2Client


@dataclass(frozen=True)
class ConfigurationSetSnapshot:
    """One GetConfigurationSet answer, as plain values."""

    name: str
    reputation_metrics_enabled: bool
    sending_enabled: bool
    last_fresh_start: float | None  # unix seconds; None if never given a fresh start


def list_configuration_set_pages(sesv2: SESV2Client) -> Iterator[tuple[str, ...]]:
    """sesv2 ListConfigurationSets, one page per call, following NextToken exactly.

    No PageSize: the sesv2 model documents the parameter but no range for it, so any
    value could be one real AWS rejects; AWS picks the page size and NextToken pages on.
    """
    request: dict[str, Any] = {}
    for answer in next_token_pages("ListConfigurationSets", sesv2.list_configuration_sets, request):
        yield tuple(answer.get("ConfigurationSets", []))


def list_configuration_sets(sesv2: SESV2Client) -> tuple[str, ...]:
    """sesv2 ListConfigurationSets -> every set name, in AWS's order, without duplicates."""
    pages = list_configuration_set_pages(sesv2)
    return tuple(dict.fromkeys(itertools.chain.from_iterable(pages)))


def fetch_configuration_set(sesv2: SESV2Client, name: str) -> ConfigurationSetSnapshot:
    """sesv2 GetConfigurationSet -> snapshot; absent fields take AWS's documented defaults."""
    answer = sesv2.get_configuration_set(ConfigurationSetName=name)
    reputation = answer.get("ReputationOptions", {})
    sending = answer.get("SendingOptions", {})
    return ConfigurationSetSnapshot(
        name=name,
        reputation_metrics_enabled=bool(reputation.get("ReputationMetricsEnabled", False)),
        sending_enabled=bool(sending.get("SendingEnabled", True)),
        last_fresh_start=unix_seconds(reputation.get("LastFreshStart")),
    )


CACHED = " Source: SES {}; cached, each set refreshed every few polls."
# name, help, value (None = AWS has no value: the series is left out).
SET_GAUGES: tuple[tuple[str, str, Callable[[ConfigurationSetSnapshot], float | None]], ...] = (
    (
        "aws_ses_configuration_set_reputation_metrics_enabled",
        "1 if SES publishes reputation metrics (bounce and complaint rates) for the "
        "configuration set (ReputationOptions.ReputationMetricsEnabled).",
        lambda s: float(s.reputation_metrics_enabled),
    ),
    (
        "aws_ses_configuration_set_sending_enabled",
        "The configuration set's own sending switch (SendingOptions.SendingEnabled): 0 stops "
        "email that uses the set; 1 does not mean SES sends it, the account's sending "
        "switch and enforcement status (paused = SHUTDOWN) still apply.",
        lambda s: float(s.sending_enabled),
    ),
    (
        "aws_ses_configuration_set_last_fresh_start_timestamp_seconds",
        "When the configuration set's reputation metrics were last given a fresh start, "
        "in unix seconds (ReputationOptions.LastFreshStart; absent if never).",
        lambda s: s.last_fresh_start,
    ),
)


def configuration_set_families(
    count: int, snapshots: Iterable[ConfigurationSetSnapshot], labels: Mapping[str, str]
) -> list[Metric]:
    """The number of sets passing the filter, and the known sets -> the
    configuration_sets collector's families."""
    b = FamilyBuilder(labels)
    b.gauge(
        "aws_ses_configuration_sets",
        "Configuration sets that pass the include/exclude filter."
        " Source: SES ListConfigurationSets; cached from the last successful poll.",
        float(count),
    )
    ordered = sorted(snapshots, key=lambda s: s.name)
    for name, doc, value_of in SET_GAUGES:
        for snap in ordered:
            value = value_of(snap)
            if value is not None:
                source = CACHED.format("GetConfigurationSet")
                b.gauge(name, doc + source, value, {"configuration_set": snap.name})
    return b.families()


@dataclass(frozen=True)
class ConfigurationSetsSettings:
    """What the configuration_sets collector is configured with; replaced whole on a reload."""

    configuration_sets: ConfigurationSetFilter  # the target account's include/exclude
    interval: float  # collectors.configuration_sets.interval: the budget is per interval
    requests_per_second: float  # the account's ses_requests_per_second (the SES pace)


@register
class ConfigurationSetsCollector(Collector):
    name = "configuration_sets"
    title = "the configuration sets (ListConfigurationSets, GetConfigurationSet)"
    default_interval = 900.0

    def __init__(self, clients: TargetClients, settings: ConfigurationSetsSettings):
        super().__init__(clients)
        self.settings = settings
        self._sets = RefreshQueue(
            "GetConfigurationSet",
            lambda name: fetch_configuration_set(self.clients.sesv2, name),
            self.log,
        )
        self._pending = 0

    @property
    def pending(self) -> int:
        """Listed sets (passing the filter) never fetched successfully yet, as of the last poll."""
        return self._pending

    @classmethod
    def build(
        cls,
        target: TargetContext,
        section: CollectorConfig,
        existing: Self | None,
    ) -> Self:
        settings = ConfigurationSetsSettings(
            target.configuration_sets, section.interval, target.ses_requests_per_second
        )
        if existing is None:
            return cls(target.clients, settings)
        existing.configure(settings)
        return existing

    def configure(self, settings: ConfigurationSetsSettings) -> None:
        """New settings after a reload; what is known about the sets is kept."""
        self.settings = settings

    def poll(self, labels: Mapping[str, str]) -> list[Metric]:
        pages = list(list_configuration_set_pages(self.clients.sesv2))
        listed = dict.fromkeys(itertools.chain.from_iterable(pages))
        names = [n for n in listed if self.settings.configuration_sets.matches(n)]
        self._sets.keep_only(set(names))
        settings = self.settings
        budget = refresh_budget(settings.interval, settings.requests_per_second, len(pages))
        context = {"account": labels.get("account_id"), "region": self.clients.region}
        deleted = self._sets.refresh(self._sets.due(names)[:budget], context)
        names = [n for n in names if n not in deleted]
        self._pending = self._sets.pending(names)
        return configuration_set_families(len(names), self._sets.known.values(), labels)
