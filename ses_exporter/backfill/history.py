"""The AWS half of ``backfill``: one target's CloudWatch and GetSendStatistics history.

The calls and the query planning are the live collectors' own (``collectors``):

* cloudwatch ListMetrics(Namespace=AWS/SES) says which metrics exist, account-wide and per
  configuration set (``discover_metrics``), the account's configuration-set filter picks
  the sets, ``plan_queries`` makes one query per metric (Sum, or Average for reputation);
* cloudwatch GetMetricData reads the event counts over the whole window with the period
  ``--step``, and Reputation.* from ``reputation_lookback`` earlier (``reputation_window``:
  the live collector shows a datapoint that old at the window's start). One request may
  ask for at most 500 queries and return at most 100,800 datapoints (botocore's model of
  GetMetricData says both); ``fetch_metric_data`` plans the requests as the live
  collector's (``plan_requests``: equal batches of at most floor(100,800 / periods)
  queries over the whole window, so each query is billed once): 14 days at 60 s are
  20,160 datapoints a query, so 30 event queries take 6 requests of 5, and 6 reputation
  queries over 15 days 2 more. It still follows a NextToken if AWS sends one;
* ses GetSendStatistics answers with two weeks of 15-minute buckets (free), paced by the
  target's SES pacer like every SES call;
* with ``collectors.vdm`` on, sesv2 GetAccount says whether VDM is enabled in the
  target's account and region (``VdmAttributes.VdmEnabled``; where it is not, nothing
  more is read and the target does not fail), then the live collector's slices
  (``listed_keys``: the account, each ISP, each listed configuration set and identity
  with each ISP, listed with the same filters) are read by sesv2 BatchGetMetricData
  (``fetch_vdm``: ten queries a call, on the collector's own ``requests_per_second``)
  over the whole UTC days inside the window, at most ``VDM_MAX_DAYS`` a query (AWS
  refuses a longer interval), so ceil(queries / 10) calls per 60 days. Free.

Clients come from ``aws.ClientFactory`` (standard retries, bounded timeouts), as the
daemon's do. The result is a frozen ``TargetHistory``; ``series`` turns it into samples.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from ..aws import Pacer, retention
from ..collectors.cloudwatch import NAME as CLOUDWATCH
from ..collectors.cloudwatch import RATE_OF, STAT_OF, wanted_metrics
from ..collectors.cloudwatch_source import (
    MetricData,
    Window,
    discover_metrics,
    fetch_metric_data,
    plan_queries,
)
from ..collectors.send_statistics import NAME as SEND_STATISTICS
from ..collectors.send_statistics import (
    SendStatisticsSnapshot,
    fetch_send_statistics,
)
from ..collectors.vdm import NAME as VDM
from ..collectors.vdm import VdmSettings, listed_keys
from ..collectors.vdm_source import Points, VdmKey, fetch_vdm, plan_batches
from ..targets import Target

MINUTE = 60
DAY = 86_400
# The oldest history both APIs still have: GetSendStatistics returns "the last two
# weeks"; CloudWatch keeps 1-minute datapoints for 15 days (5-minute ones for 63).
KEPT_SECONDS = 14 * DAY
_KEPT = "GetSendStatistics keeps 14 days, CloudWatch 1-minute data 15"
RETENTION_MARGIN = 600  # the target's own requests take a while after the bound is set
# BatchGetMetricData: "Invalid interval, can request at most 60 days" (BadRequestException)
VDM_MAX_DAYS = 60


def history_window(
    now: float,
    days: int | None,
    step: int,
    *,
    end: float | None = None,
    start: float | None = None,
) -> Window:
    """The sample times of a backfill: ``days`` (or from ``start``; neither: from the oldest
    data AWS keeps) up to ``end``, every ``step``.

    Without ``end`` the window ends at the last whole minute before ``now``, so that the
    live exporter started right after the backfill misses at most a minute. With ``end``
    (``--end``, e.g. the first live sample after a restart) it ends at the last whole
    minute strictly before ``end``, and with ``start`` (``--start``, the last live sample
    before the gap) it begins at the first whole minute strictly after it: no backfilled
    sample shares a timestamp with a live one. CloudWatch buckets a request's datapoints
    from its StartTime (rounded down to the minute for data younger than 15 days), so a
    5-minute step needs no 5-minute clock alignment.

    Raises ``ValueError`` naming the flag for an ``end`` in the future, a ``start`` not
    before ``end``, and a window that begins before the oldest data the APIs keep
    (``KEPT_SECONDS`` before the last whole minute: GetSendStatistics's two weeks).
    """
    last = math.floor(now / MINUTE) * MINUTE
    if end is None:
        stop = last
    elif end > now:
        raise ValueError(f"--end {iso(end)}: in the future (now is {iso(now)})")
    else:
        stop = math.ceil(end / MINUTE) * MINUTE - MINUTE
    oldest = last - KEPT_SECONDS
    if start is None and days is None:
        first = oldest
        if first >= stop:
            raise ValueError(f"--end {iso(stop)}: before the oldest data AWS keeps ({_KEPT})")
    elif start is None:
        assert days is not None
        first = stop - days * DAY
        if first < oldest:
            most = math.floor((stop - oldest) / DAY)
            raise ValueError(
                f"--days {days}: the window would start at {iso(first)}, before the "
                f"oldest data AWS keeps ({iso(oldest)}: {_KEPT}); "
                + (f"with this --end, at most --days {most}" if most else "use --start")
            )
    else:
        first = math.floor(start / MINUTE) * MINUTE + MINUTE
        if first >= stop:
            raise ValueError(
                f"--start {iso(start)}: must be over a minute before the end ({iso(stop)})"
            )
        if first < oldest:
            raise ValueError(f"--start {iso(start)}: before {iso(oldest)} ({_KEPT})")
    return Window(float(first), float(stop), step)


def iso(t: float) -> str:
    """Unix seconds as RFC 3339 in UTC, e.g. 2026-11-30T12:00:00Z."""
    return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class VdmHistory:
    """VDM's daily datapoints of every query the live collector makes, over the whole UTC
    days [start, end) of the window; ``enabled`` False (and nothing read) where GetAccount
    says VDM is not enabled."""

    enabled: bool
    start: float  # 00:00 UTC of the first whole day in the window
    end: float  # 00:00 UTC after the last one (start when the window holds none)
    points: tuple[tuple[VdmKey, Points], ...] = ()  # every query, with or without datapoints


@dataclass(frozen=True)
class TargetHistory:
    """What AWS answered for one target (None: that collector is disabled)."""

    labels: tuple[tuple[str, str], ...]  # the target's labels, as the live series have them
    cloudwatch: MetricData | None
    send_statistics: SendStatisticsSnapshot | None
    vdm: VdmHistory | None = None


def fetch_history(
    target: Target,
    window: Window,
    count_metrics: Callable[[int], None],
    reputation_lookback: float = 0.0,
    clock: Callable[[], float] = time.time,
    count_vdm: Callable[[int, int], None] = lambda calls, queries: None,
) -> TargetHistory:
    """STS GetCallerIdentity (once), then the history of every enabled history collector.

    ``count_metrics`` is called once per answered GetMetricData request with the metrics
    it requested, as the live collector's billing counter is; ``count_vdm`` with the
    BatchGetMetricData calls and queries of each answered read. Reputation.* is read from
    ``reputation_lookback`` before the window (``reputation_window``, bounded by
    ``clock()`` at this target's turn).
    """
    target.account.account_id(target.clients)
    data = None
    if CLOUDWATCH in target.collectors:
        rates = reputation_window(window, reputation_lookback, clock())
        data = fetch_cloudwatch(target, window, count_metrics, rates)
    send = None
    if SEND_STATISTICS in target.collectors:
        send = fetch_send_statistics(target.clients.ses)
    vdm = None
    settings = getattr(target.collectors.get(VDM), "settings", None)
    if isinstance(settings, VdmSettings):  # the vdm collector is on for this target
        vdm = fetch_vdm_history(target, settings, window, count_vdm)
    return TargetHistory(tuple(target.labels().items()), data, send, vdm)


def reputation_window(window: Window, lookback: float, now: float) -> Window:
    """Where Reputation.* is read from: ``lookback`` (``reputation_lookback``) before the
    window, in whole periods on the window's grid, so that the sample at the window's
    start already shows the newest datapoint within the look-back, as the live collector
    would have. Never before what CloudWatch keeps at the window's period
    (``aws.retention``), less ``RETENTION_MARGIN``."""
    period = window.period
    oldest = now - retention(period) + RETENTION_MARGIN
    periods = min(math.ceil(lookback / period), math.floor((window.start - oldest) / period))
    return Window(window.start - max(periods, 0) * period, window.end, period)


def fetch_cloudwatch(
    target: Target,
    window: Window,
    count_metrics: Callable[[int], None],
    reputation: Window | None = None,
) -> MetricData:
    """ListMetrics, then GetMetricData per ``plan_requests``: the event counts over
    ``window``, Reputation.* over ``reputation`` (default ``window``)."""
    cloudwatch = target.clients.cloudwatch
    sets = target.account.config.configuration_sets
    keys = wanted_metrics(discover_metrics(cloudwatch, STAT_OF), sets)
    queries = plan_queries(keys, STAT_OF)
    events = [query for query in queries if query.metric not in RATE_OF]
    rates = [query for query in queries if query.metric in RATE_OF]
    counts = fetch_metric_data(cloudwatch, events, window, count_metrics)
    newest = fetch_metric_data(cloudwatch, rates, reputation or window, count_metrics)
    found = dict(counts.results + newest.results)
    return MetricData(tuple((query, found[query]) for query in queries))


def vdm_days(window: Window) -> tuple[float, float]:
    """[00:00 UTC of the first whole day in ``window``, 00:00 UTC after the last one): VDM
    keeps one datapoint per day, and only a day wholly inside the window can be placed in
    it (a day cut by ``--start`` was partly counted by the live exporter before the gap;
    one cut by the end holds events after it)."""
    start = math.ceil(window.start / DAY) * DAY
    end = math.floor(window.end / DAY) * DAY
    return float(start), float(max(start, end))


def fetch_vdm_history(
    target: Target,
    settings: VdmSettings,
    window: Window,
    count_vdm: Callable[[int, int], None] = lambda calls, queries: None,
) -> VdmHistory:
    """GetAccount (is VDM enabled here?), the live collector's configuration sets and
    identities (ListConfigurationSets / ListEmailIdentities with its filters, only when
    ``by_configuration_set`` / ``by_identity``), then BatchGetMetricData of every query
    over ``vdm_days`` in chunks of at most ``VDM_MAX_DAYS``."""
    sesv2 = target.clients.sesv2
    start, end = vdm_days(window)
    attributes = sesv2.get_account().get("VdmAttributes", {})
    if attributes.get("VdmEnabled") != "ENABLED":
        return VdmHistory(enabled=False, start=start, end=end)
    config = settings.config
    keys = listed_keys(sesv2, settings)
    found: dict[VdmKey, Points] = {key: {} for key in keys}
    if start < end:
        # BatchGetMetricData has a throttle of its own (16 calls a second): the collector's pace.
        client = target.clients.with_pacer("sesv2", Pacer(config.requests_per_second))
        chunk = VDM_MAX_DAYS * DAY
        for first in range(int(start), int(end), chunk):
            data = fetch_vdm(client, keys, first, min(first + chunk, end))
            count_vdm(len(plan_batches(keys)), len(keys))
            for key, points in data.items():
                found[key].update(points)
    return VdmHistory(enabled=True, start=start, end=end, points=tuple(found.items()))
