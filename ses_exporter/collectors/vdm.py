"""The ``vdm`` collector: Virtual Deliverability Manager, by mailbox provider (off by default).

The account's bounce rate that decides reviews counts permanent bounces only, and
CloudWatch has no mailbox provider: only VDM splits bounces into permanent and transient
and counts sends, deliveries, complaints, opens and clicks per ISP (the VDM console's
Dashboard -> ISP view), per configuration set and per identity.

VDM is a paid feature: while it is enabled AWS bills every outbound email ($0.07 per
1,000 at the time of writing, see the SES pricing page); reading it costs nothing more
(BatchGetMetricData is free). Turn it on in the SES console (Virtual Deliverability
Manager -> Settings) or with ``aws sesv2 put-account-vdm-attributes --vdm-attributes
VdmEnabled=ENABLED``, per region.

Sources:

* sesv2 GetAccount (on the target's SES pace), at every poll: ``VdmAttributes.VdmEnabled``
  decides whether the collector reads VDM. While it is not ENABLED the collector reads
  nothing, exposes ``ses_exporter_vdm_enabled 0`` and logs the change once; its
  counters keep their totals and go on when VDM is back. BatchGetMetricData answers
  NotFoundException where VDM is off: that too means off (VDM turned off between the
  two calls, or GetAccount denied by the policy, which is then logged once).
* sesv2 ListConfigurationSets / ListEmailIdentities (SES pace) when ``by_configuration_set``
  / ``by_identity`` ask for them, one page a call.
* sesv2 BatchGetMetricData (``vdm_source``), on a pace of its own
  (``requests_per_second``, default 8 of the 16 calls a second AWS allows): each of the
  ten metrics for the whole account, for each ISP in ``isps``, and for each (set, ISP) and
  (identity, ISP) asked for, in ceil(queries / 10) calls. 50 ISPs x 100 sets is 50,510
  queries: 5,051 calls, about 11 minutes at 8 a second, within the default hour.

VDM keeps one datapoint per day; each poll reads from the end of the last window read
less ``lookback`` (default 3 days: past days are revised upwards as late bounces and
complaints arrive) up to now, and after failed polls over the whole gap, at most
``max_catch_up`` back. The counting rules are the CloudWatch counters'
(``counters.WindowCounters``): the first poll is the baseline, a datapoint counts once
with its growth, nothing decreases. Ratios (delivery, bounce, open, click, complaint) are
recording rules over these counters, not gauges of the exporter.

Sample exposition (target labels shortened to ``...``)::

    ses_exporter_vdm_enabled{...} 1.0
    aws_ses_vdm_permanent_bounces_total{...} 412.0
    aws_ses_vdm_isp_permanent_bounces_total{...,isp="Gmail"} 97.0
    aws_ses_vdm_configuration_set_sends_total{...,configuration_set="marketing",isp="Gmail"} 5210.0
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Self

from prometheus_client.metrics_core import Metric
from pydantic import AfterValidator, Field, Strict, StrictBool

from ..aws import ClientError, Pacer, TargetClients, error_code
from ..config_types import (
    CollectorConfig,
    ConfigurationSetFilter,
    Duration,
    Problem,
    format_duration,
    non_empty,
)
from ..counters import WindowCounters
from ..families import FamilyBuilder
from .account import ACCESS_DENIED_CODES
from .base import Collector, TargetContext, register
from .configuration_sets import list_configuration_sets
from .identities import list_identity_pages
from .vdm_source import DAY, METRICS, Slice, VdmKey, fetch_vdm

if TYPE_CHECKING:
    from mypy_boto3_sesv2 import SESV2Client

NAME = "vdm"  # collectors.vdm, --collector.vdm
# Mailbox providers as VDM names them in its ISP dimension (the console's ISP view).
DEFAULT_ISPS = ("Gmail", "Hotmail", "Yahoo", "AOL", "iCloud")
# BatchGetMetricData's answer where VDM is off ("To use this feature you must enable
# Virtual Deliverability Manager").
VDM_OFF_CODE = "NotFoundException"
MAX_CALLS_PER_SECOND = 16.0  # BatchGetMetricData: "no more than 16 times per second"
CACHED = "cached from the last successful poll."


@dataclass(frozen=True)
class EventRow:
    """One VDM metric and its four families (every name written out, so grep finds it)."""

    metric: str  # BatchGetMetricDataQuery.Metric
    account: str  # the whole account: no Dimensions
    isp: str  # per ISP of ``isps``
    configuration_set: str  # per configuration set and ISP
    identity: str  # per identity and ISP
    meaning: str


EVENTS: tuple[EventRow, ...] = (
    EventRow(
        "SEND",
        "aws_ses_vdm_sends_total",
        "aws_ses_vdm_isp_sends_total",
        "aws_ses_vdm_configuration_set_sends_total",
        "aws_ses_vdm_identity_sends_total",
        "Emails sent that VDM tracks (not to the mailbox simulator, one recipient each)",
    ),
    EventRow(
        "DELIVERY",
        "aws_ses_vdm_deliveries_total",
        "aws_ses_vdm_isp_deliveries_total",
        "aws_ses_vdm_configuration_set_deliveries_total",
        "aws_ses_vdm_identity_deliveries_total",
        "Emails delivered",
    ),
    EventRow(
        "PERMANENT_BOUNCE",
        "aws_ses_vdm_permanent_bounces_total",
        "aws_ses_vdm_isp_permanent_bounces_total",
        "aws_ses_vdm_configuration_set_permanent_bounces_total",
        "aws_ses_vdm_identity_permanent_bounces_total",
        "Permanent (hard) bounces: mail to mailboxes that do not exist",
    ),
    EventRow(
        "TRANSIENT_BOUNCE",
        "aws_ses_vdm_transient_bounces_total",
        "aws_ses_vdm_isp_transient_bounces_total",
        "aws_ses_vdm_configuration_set_transient_bounces_total",
        "aws_ses_vdm_identity_transient_bounces_total",
        "Transient (soft) bounces: delivery failures other than a missing mailbox",
    ),
    EventRow(
        "COMPLAINT",
        "aws_ses_vdm_complaints_total",
        "aws_ses_vdm_isp_complaints_total",
        "aws_ses_vdm_configuration_set_complaints_total",
        "aws_ses_vdm_identity_complaints_total",
        "Complaints",
    ),
    EventRow(
        "OPEN",
        "aws_ses_vdm_opens_total",
        "aws_ses_vdm_isp_opens_total",
        "aws_ses_vdm_configuration_set_opens_total",
        "aws_ses_vdm_identity_opens_total",
        "Unique opens of emails with an open tracker (engagement metrics)",
    ),
    EventRow(
        "CLICK",
        "aws_ses_vdm_clicks_total",
        "aws_ses_vdm_isp_clicks_total",
        "aws_ses_vdm_configuration_set_clicks_total",
        "aws_ses_vdm_identity_clicks_total",
        "Unique clicks on wrapped links (engagement metrics)",
    ),
    EventRow(
        "DELIVERY_OPEN",
        "aws_ses_vdm_open_tracked_deliveries_total",
        "aws_ses_vdm_isp_open_tracked_deliveries_total",
        "aws_ses_vdm_configuration_set_open_tracked_deliveries_total",
        "aws_ses_vdm_identity_open_tracked_deliveries_total",
        "Deliveries of emails with an open tracker (the open rate's denominator)",
    ),
    EventRow(
        "DELIVERY_CLICK",
        "aws_ses_vdm_click_tracked_deliveries_total",
        "aws_ses_vdm_isp_click_tracked_deliveries_total",
        "aws_ses_vdm_configuration_set_click_tracked_deliveries_total",
        "aws_ses_vdm_identity_click_tracked_deliveries_total",
        "Deliveries of emails with wrapped links (the click rate's denominator)",
    ),
    EventRow(
        "DELIVERY_COMPLAINT",
        "aws_ses_vdm_feedback_loop_deliveries_total",
        "aws_ses_vdm_isp_feedback_loop_deliveries_total",
        "aws_ses_vdm_configuration_set_feedback_loop_deliveries_total",
        "aws_ses_vdm_identity_feedback_loop_deliveries_total",
        "Deliveries to ISPs that report complaints to SES (the complaint rate's denominator)",
    ),
)
assert tuple(row.metric for row in EVENTS) == METRICS
ROW_OF: dict[str, EventRow] = {row.metric: row for row in EVENTS}


def _isp_name(name: str) -> str:
    if not name.strip():
        raise ValueError("an ISP name cannot be empty")
    if name == "*":
        raise ValueError('"*" is VDM\'s wildcard (the sum over every ISP), not an ISP')
    return name


IspName = Annotated[str, AfterValidator(_isp_name)]


class IdentityFilter(ConfigurationSetFilter):
    """Which identities ``by_identity`` reads (regular expressions matching the whole name)."""


class VdmCollectorConfig(CollectorConfig):
    """``collectors.vdm``: off by default (VDM is paid); which breakdowns to read."""

    enabled: StrictBool = False
    isps: Annotated[tuple[IspName, ...], non_empty("ISP")] = DEFAULT_ISPS
    lookback: Duration = 3 * DAY
    max_catch_up: Duration = 14 * DAY
    requests_per_second: Annotated[float, Strict(), Field(gt=0, le=MAX_CALLS_PER_SECOND)] = 8.0
    by_configuration_set: StrictBool = False
    by_identity: StrictBool = False
    identities: IdentityFilter = IdentityFilter()

    def _problems(self) -> list[Problem]:
        problems = super()._problems()
        twice = sorted({isp for isp in self.isps if self.isps.count(isp) > 1})
        if twice:
            problems.append((("isps",), f"lists {', '.join(map(repr, twice))} more than once"))
        if self.lookback < DAY:
            message = (
                "must be at least 1d: VDM keeps one datapoint per day and revises the past "
                "days', which a shorter look-back never reads again; got "
            )
            problems.append((("lookback",), message + format_duration(self.lookback)))
        if self.max_catch_up < self.lookback:
            message = f"must be at least the lookback ({format_duration(self.lookback)}), got "
            problems.append((("max_catch_up",), message + format_duration(self.max_catch_up)))
        return problems


@dataclass(frozen=True)
class VdmSnapshot:
    """What the families show: VDM's switches (None: not read) and the counter totals."""

    enabled: bool | None
    engagement_metrics: bool | None
    counters: tuple[tuple[VdmKey, float], ...]


def wanted_keys(
    isps: Sequence[str], sets: Sequence[str] = (), identities: Sequence[str] = ()
) -> list[VdmKey]:
    """Every query of one poll, ten metrics per slice (so each call asks for one slice):
    the account, each ISP, then each set and identity with each ISP."""
    slices = [Slice(), *(Slice(isp) for isp in isps)]
    slices += [Slice(isp, configuration_set=s) for s in sets for isp in isps]
    slices += [Slice(isp, identity=i) for i in identities for isp in isps]
    return [(metric, where) for where in slices for metric in METRICS]


def listed_keys(sesv2: SESV2Client, settings: VdmSettings) -> list[VdmKey]:
    """``wanted_keys`` of the configured ISPs and of the sets and identities listed now
    (sesv2 ListConfigurationSets / ListEmailIdentities, only when ``by_configuration_set``
    / ``by_identity`` ask for them, through their filters)."""
    config = settings.config
    sets: tuple[str, ...] = ()
    identities: tuple[str, ...] = ()
    if config.by_configuration_set:
        wanted = settings.configuration_sets
        sets = tuple(s for s in list_configuration_sets(sesv2) if wanted.matches(s))
    if config.by_identity:
        listed = (i.name for page in list_identity_pages(sesv2) for i in page)
        identities = tuple(sorted({i for i in listed if config.identities.matches(i)}))
    return wanted_keys(config.isps, sets, identities)


def _family(row: EventRow, where: Slice) -> tuple[str, dict[str, str], str]:
    """(family, extra labels, HELP wording) of a key's series."""
    if where.isp is None:
        return row.account, {}, "the whole account (every ISP, also those not in isps)"
    if where.configuration_set is not None:
        labels = {"configuration_set": where.configuration_set, "isp": where.isp}
        return row.configuration_set, labels, "per configuration set and ISP"
    if where.identity is not None:
        return row.identity, {"identity": where.identity, "isp": where.isp}, "per identity and ISP"
    return row.isp, {"isp": where.isp}, "per ISP (the mailbox provider, as VDM names it)"


def vdm_families(snap: VdmSnapshot, labels: Mapping[str, str]) -> list[Metric]:
    """VdmSnapshot -> the vdm collector's families: switches, then counters by metric and
    scope (account, ISP, configuration set, identity)."""
    b = FamilyBuilder(labels)
    if snap.enabled is not None:
        b.gauge(
            "ses_exporter_vdm_enabled",
            "1 while SES GetAccount says VDM is enabled (VdmAttributes.VdmEnabled) and the "
            "vdm collector reads it; 0 while it is off there and the collector reads nothing.",
            float(snap.enabled),
        )
    if snap.engagement_metrics is not None:
        b.gauge(
            "aws_ses_vdm_engagement_metrics_enabled",
            "1 if VDM collects opens and clicks (VdmAttributes.DashboardAttributes."
            "EngagementMetrics); while 0 the opens and clicks counters stay flat. "
            "Source: SES GetAccount.",
            float(snap.engagement_metrics),
        )
    order = {metric: index for index, metric in enumerate(METRICS)}

    def position(item: tuple[VdmKey, float]) -> tuple[int, int, Slice]:
        (metric, where), _ = item
        # account 0, ISP 1, configuration set 3, identity 4
        scope = (where.isp is not None) + 2 * (where.configuration_set is not None)
        scope += 3 * (where.identity is not None)
        return (order[metric], scope, where)

    for (metric, where), total in sorted(snap.counters, key=position):
        row = ROW_OF[metric]
        family, extra, scope = _family(row, where)
        doc = (
            f"{row.meaning}, {scope}. Source: SES VDM BatchGetMetricData {metric} (daily "
            f"datapoints re-read from the end of the last window read, less lookback); {CACHED}"
        )
        b.counter(family, doc, total, extra)
    return b.families()


@dataclass(frozen=True)
class VdmSettings:
    """What the vdm collector is configured with; replaced whole on a reload."""

    config: VdmCollectorConfig
    configuration_sets: ConfigurationSetFilter  # the account's include/exclude


@register
class VdmCollector(Collector):
    """Counter state, the last window read and VDM's last known switch live here.

    A failed GetAccount, listing or BatchGetMetricData (an error for any query) fails the
    poll; the counters move only when everything was read, and the next poll reads the
    gap again.
    """

    name = NAME
    title = "deliverability by mailbox provider (Virtual Deliverability Manager)"
    default_interval = 3600.0
    config_model = VdmCollectorConfig

    def __init__(
        self, clients: TargetClients, settings: VdmSettings, clock: Callable[[], float] = time.time
    ):
        super().__init__(clients)
        self.settings = settings
        self._clock = clock
        self._pacer = Pacer(settings.config.requests_per_second)
        self._vdm_client: SESV2Client | None = None
        self._counters: WindowCounters[VdmKey] = WindowCounters()
        self._counted_until: float | None = None  # the end of the last window counted
        self._enabled: bool | None = None  # VDM's state at the last poll
        self._denied = False  # GetAccount was denied (logged once)

    @classmethod
    def build(cls, target: TargetContext, section: CollectorConfig, existing: Self | None) -> Self:
        assert isinstance(section, VdmCollectorConfig)
        settings = VdmSettings(section, target.configuration_sets)
        if existing is None:
            return cls(target.clients, settings)
        existing.settings = settings  # counters and the last window are kept
        existing._pacer.set_rate(section.requests_per_second)
        return existing

    def poll(self, labels: Mapping[str, str]) -> list[Metric]:
        now = self._clock()
        where = {"account": labels.get("account_id"), "region": self.clients.region}
        attributes = self._vdm_attributes(where)
        enabled = None if attributes is None else attributes.get("VdmEnabled") == "ENABLED"
        if enabled is not False:
            try:
                self._read(now, where)
                enabled = True
            except ClientError as exc:
                if error_code(exc) != VDM_OFF_CODE:
                    raise
                enabled = False  # turned off since GetAccount answered, or it was denied
        self._say(enabled, where, (attributes or {}).get("VdmEnabled"))
        engagement = (attributes or {}).get("DashboardAttributes", {}).get("EngagementMetrics")
        snap = VdmSnapshot(
            enabled=enabled,
            engagement_metrics=None if engagement is None else engagement == "ENABLED",
            counters=tuple(self._counters.totals().items()),
        )
        return vdm_families(snap, labels)

    def _vdm_attributes(self, where: Mapping[str, Any]) -> Mapping[str, Any] | None:
        """GetAccount's VdmAttributes; None where GetAccount is denied (a policy without
        ses:GetAccount): then BatchGetMetricData itself says whether VDM is on."""
        try:
            return self.clients.sesv2.get_account().get("VdmAttributes", {})
        except ClientError as exc:
            if error_code(exc) not in ACCESS_DENIED_CODES:
                raise
            if not self._denied:
                self.log.warning(
                    "sesv2 GetAccount denied; whether VDM is on is judged from "
                    "BatchGetMetricData (NotFoundException where it is off)",
                    extra=where,
                )
            self._denied = True
            return None

    def _say(self, enabled: bool, where: Mapping[str, Any], status: str | None) -> None:
        """One log line when VDM's state changes (and at the first poll)."""
        if enabled == self._enabled:
            return
        self._enabled = enabled
        if enabled:
            self.log.info("VDM is enabled: reading its metrics", extra=where)
        else:
            self.log.warning(
                "VDM is not enabled in this account and region (GetAccount "
                "VdmAttributes.VdmEnabled is not ENABLED, or BatchGetMetricData answered "
                "NotFoundException): the vdm collector reads nothing until it is",
                extra={**where, "vdm_enabled": status},
            )

    def _read(self, now: float, where: Mapping[str, Any]) -> None:
        config = self.settings.config
        keys = listed_keys(self.clients.sesv2, self.settings)
        # From the end of the last window counted, less lookback (VDM revises past days),
        # over any gap after failed polls, but no further back than max_catch_up.
        resume = now if self._counted_until is None else min(now, self._counted_until)
        wanted_start = resume - config.lookback
        start = _day(max(wanted_start, now - config.max_catch_up))
        if wanted_start < start:
            self.log.warning(
                "the gap since the last VDM poll began before max_catch_up; its older days "
                "are not counted",
                extra={**where, "gap_start": wanted_start, "oldest_read": start},
            )
        data = fetch_vdm(self._client(), keys, start, now)
        # Everything AWS answered: only now do the counters move.
        self._counters.update(data, start, _day(now))
        self._counters.retain(data)
        self._counted_until = now
        self._counters.forget(_day(now - config.lookback))

    def _client(self) -> SESV2Client:
        """A sesv2 client on the collector's own pace: BatchGetMetricData has a throttle of
        its own (16 calls a second), apart from the about one request a second of the
        other SES calls, which stay on the target's pace."""
        if self._vdm_client is None:
            self._vdm_client = self.clients.with_pacer("sesv2", self._pacer)
        return self._vdm_client


def _day(t: float) -> float:
    """The start (00:00 UTC) of the day holding ``t``."""
    return float(math.floor(t / DAY) * DAY)
