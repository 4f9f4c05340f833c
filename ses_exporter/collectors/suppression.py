"""The ``suppression`` collector: the size of the account-level suppression list, by reason.

SES adds an address to the account's suppression list when mail to it hard-bounces or
draws a complaint (for the reasons ``SuppressionAttributes.SuppressedReasons`` lists) and
stops sending to it. A list that grows by thousands a day means a bad list was imported
or a campaign went to stale addresses; a list of hundreds of thousands is the history of
both.

Off by default: SES gives no count, so each poll pages through the whole list.

Sources:

* sesv2 ListSuppressedDestinations over the account's list, NextToken pages, at most
  ``collectors.suppression.max_pages`` per poll (default 100: 100 requests, about 100
  seconds of the account's SES pace, once an hour by default). No ``PageSize`` is sent:
  the API reference documents no range for it, so any value could be one AWS rejects;
  AWS picks the page size. When the cap cuts the listing short,
  ``aws_ses_suppressed_destinations_truncated`` is 1 and the counts are lower bounds.

Which reasons add addresses to the list (GetAccount ``SuppressionAttributes``) is the
account collector's ``aws_ses_suppression_reason_enabled``: it reads GetAccount anyway.

Any failure fails the poll (the last values stay until they are stale).

Sample exposition::

    aws_ses_suppressed_destinations{account_id="123456789012",region="eu-west-1",
        reason="BOUNCE"} 5230.0
    aws_ses_suppressed_destinations_truncated{account_id="123456789012",
        region="eu-west-1"} 0.0
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import TYPE_CHECKING, Self

from prometheus_client.metrics_core import Metric
from pydantic import PositiveInt, StrictBool

from ..aws import TargetClients, next_token_pages
from ..config_types import CollectorConfig
from ..families import FamilyBuilder
from .base import Collector, TargetContext, register

if TYPE_CHECKING:
    from mypy_boto3_sesv2 import SESV2Client

REASONS = ("BOUNCE", "COMPLAINT")  # SuppressionListReason: always exposed, 0 if none


class SuppressionCollectorConfig(CollectorConfig):
    """``collectors.suppression``: off by default; how many pages one poll may read."""

    enabled: StrictBool = False
    max_pages: PositiveInt = 100


def count_suppressed(sesv2: SESV2Client, max_pages: int) -> tuple[Counter[str], bool]:
    """sesv2 ListSuppressedDestinations over the account's list, at most ``max_pages``
    pages -> (addresses per reason, whether the cap cut the listing short)."""
    counts: Counter[str] = Counter()
    call = sesv2.list_suppressed_destinations
    for number, page in enumerate(next_token_pages("ListSuppressedDestinations", call, {})):
        counts.update(entry["Reason"] for entry in page.get("SuppressedDestinationSummaries", []))
        if number + 1 >= max_pages and page.get("NextToken"):
            return counts, True
    return counts, False


def suppression_families(
    counts: Mapping[str, int], truncated: bool, labels: Mapping[str, str]
) -> list[Metric]:
    """What one poll read -> the suppression collector's families."""
    b = FamilyBuilder(labels)
    for reason in sorted(set(REASONS) | set(counts)):
        b.gauge(
            "aws_ses_suppressed_destinations",
            "Addresses on the account-level suppression list, by the reason SES added them"
            " (BOUNCE, COMPLAINT); a lower bound when"
            " aws_ses_suppressed_destinations_truncated is 1."
            " Source: SES ListSuppressedDestinations.",
            counts.get(reason, 0),
            {"reason": reason},
        )
    b.gauge(
        "aws_ses_suppressed_destinations_truncated",
        "1 if collectors.suppression.max_pages cut the listing short: the counts are lower"
        " bounds. Source: SES ListSuppressedDestinations.",
        float(truncated),
    )
    return b.families()


@register
class SuppressionCollector(Collector):
    name = "suppression"
    title = "the account-level suppression list (ListSuppressedDestinations)"
    default_interval = 3600.0
    config_model = SuppressionCollectorConfig

    def __init__(self, clients: TargetClients, max_pages: int):
        super().__init__(clients)
        self.max_pages = max_pages

    @classmethod
    def build(cls, target: TargetContext, section: CollectorConfig, existing: Self | None) -> Self:
        assert isinstance(section, SuppressionCollectorConfig)
        if existing is None:
            return cls(target.clients, section.max_pages)
        existing.max_pages = section.max_pages
        return existing

    def poll(self, labels: Mapping[str, str]) -> list[Metric]:
        counts, truncated = count_suppressed(self.clients.sesv2, self.max_pages)
        return suppression_families(counts, truncated, labels)
