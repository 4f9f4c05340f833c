"""AWS requests per poll, read from the daemon's own /metrics, and their physical minimum.

Each collector calls its own AWS operations (``OPERATIONS``), so the requests of one poll
of a collector are the growth of ``ses_exporter_aws_requests_total`` for its operations
between the first scrape that shows its previous ``last_success_timestamp`` and the first
that shows the next one. With 30 s between polls and a scrape every ~0.1 s, no other poll
of the same collector can fall in between. Two collectors that call the same operation
(``configuration_sets`` and ``vdm`` list the sets) cannot be told apart this way, so
they are never tracked together (``run.py`` measures ``vdm`` alone).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from world import SET_METRICS

OPERATIONS: dict[str, tuple[tuple[str, str], ...]] = {
    "configuration_sets": (("sesv2", "ListConfigurationSets"), ("sesv2", "GetConfigurationSet")),
    "cloudwatch": (("cloudwatch", "ListMetrics"), ("cloudwatch", "GetMetricData")),
    "send_statistics": (("ses", "GetSendStatistics"),),
    "identities": (("sesv2", "ListEmailIdentities"), ("sesv2", "GetEmailIdentity")),
    "dedicated_ips": (
        ("sesv2", "ListDedicatedIpPools"),
        ("sesv2", "GetDedicatedIpPool"),
        ("sesv2", "GetDedicatedIps"),
    ),
    "vdm": (
        ("sesv2", "GetAccount"),
        ("sesv2", "ListConfigurationSets"),
        ("sesv2", "BatchGetMetricData"),
    ),
}
METRICS_REQUESTED = ("cloudwatch", "metrics requested (billed)")
# The exporter sends ListConfigurationSets without PageSize (the sesv2 model documents
# no range for it), so the page is the server's choice: 100 on moto.
SES_PAGE, CLOUDWATCH_PAGE, GET_METRIC_DATA_BATCH = 100, 500, 500
IDENTITY_PAGE = 1000  # ListEmailIdentities: the exporter asks for the documented maximum
VDM_BATCH = 10  # BatchGetMetricData: at most 10 queries a call
VDM_METRICS = 10  # SEND, DELIVERY, ..., DELIVERY_COMPLAINT: one query each per slice
# GetMetricData answers at most 100,800 datapoints a call: reputation_lookback's 24 hours
# of 5-minute periods (289 with the current one) fit 348 queries a call.
REPUTATION_BATCH = min(GET_METRIC_DATA_BATCH, 100_800 // (86_400 // 300 + 1))
# Of the metrics world.py publishes per set and account, the Reputation.* share.
RATE_SHARE = (sum(m.startswith("Reputation.") for m in SET_METRICS), len(SET_METRICS))

_SAMPLE = re.compile(r"^(\w+)\{(.*)\} (\S+)$")
_LABEL = re.compile(r'(\w+)="([^"]*)"')
Counts = dict[tuple[str, str], float]


@dataclass(frozen=True)
class SelfMetrics:
    """The parts of one scrape that say what the daemon did."""

    last_success: dict[str, float]  # collector -> unix time
    success: dict[str, float]
    requests: Counts  # (service, operation) -> calls, every outcome
    failed_requests: float  # calls whose outcome was not "success"
    metrics_requested: float


def self_metrics(body: bytes) -> SelfMetrics:
    """Reads only the ses_exporter_* lines (a full parse of 3 MB would take seconds)."""
    last: dict[str, float] = {}
    success: dict[str, float] = {}
    requests: Counts = {}
    failed = requested = 0.0
    for line in body.decode().splitlines():
        match = _SAMPLE.match(line) if line.startswith("ses_exporter_") else None
        if match is None:
            continue
        name, labels, value = match[1], dict(_LABEL.findall(match[2])), float(match[3])
        if name == "ses_exporter_collector_last_success_timestamp_seconds":
            last[labels["collector"]] = value
        elif name == "ses_exporter_collector_success":
            success[labels["collector"]] = value
        elif name == "ses_exporter_aws_requests_total":
            key = (labels["service"], labels["operation"])
            requests[key] = requests.get(key, 0.0) + value
            failed += value if labels["outcome"] != "success" else 0.0
        elif name == "ses_exporter_cloudwatch_metrics_requested_total":
            requested += value
    return SelfMetrics(last, success, requests, failed, requested)


def counts_of(metrics: SelfMetrics) -> Counts:
    return {**metrics.requests, METRICS_REQUESTED: metrics.metrics_requested}


@dataclass
class PollTracker:
    """Per collector, the counts at the first scrape after each successful poll."""

    collectors: tuple[str, ...]
    seen: dict[str, list[tuple[float, Counts]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        keys = [key for collector in self.collectors for key in OPERATIONS[collector]]
        shared = sorted({" ".join(key) for key in keys if keys.count(key) > 1})
        if shared:
            raise ValueError(f"{', '.join(shared)}: called by more than one collector tracked")

    def observe(self, metrics: SelfMetrics) -> None:
        if metrics.failed_requests or any(v != 1 for v in metrics.success.values()):
            raise RuntimeError("a poll or an AWS request failed; see the daemon's log")
        for collector in self.collectors:
            polls = self.seen.setdefault(collector, [])
            when = metrics.last_success.get(collector)
            if when is not None and (not polls or polls[-1][0] != when):
                polls.append((when, counts_of(metrics)))

    def polls_done(self) -> int:
        return min(len(self.seen.get(c, [])) for c in self.collectors)

    def wait(self, scrape: Callable[[], bytes], polls: int, timeout: float) -> SelfMetrics:
        deadline = time.monotonic() + timeout
        while True:
            metrics = self_metrics(scrape())
            self.observe(metrics)
            if self.polls_done() >= polls:
                return metrics
            if time.monotonic() > deadline:
                raise RuntimeError(f"collectors did not complete {polls} polls in {timeout:.0f}s")
            time.sleep(0.1)

    def per_poll(self, poll: int) -> Counts:
        """Requests of poll number ``poll`` (0 = the first) of each collector, by operation."""
        found: Counts = {}
        for collector in self.collectors:
            polls = self.seen[collector]
            after, before = polls[poll][1], polls[poll - 1][1] if poll else {}
            for key in (*OPERATIONS[collector], *_extra(collector)):
                found[key] = after.get(key, 0.0) - before.get(key, 0.0)
        return found


def _extra(collector: str) -> Iterable[tuple[str, str]]:
    return (METRICS_REQUESTED,) if collector == "cloudwatch" else ()


def minimum(
    sets: int, queries: int, first_poll: bool, page: int, newest: bool
) -> Mapping[tuple[str, str], int]:
    """The fewest requests one poll can make: every set read, every metric queried once,
    every identity (as many as sets, ``world.seed``) listed in pages of 1,000 and read
    once (the benchmark's SES pace lets one poll read them all; at 1 request per second
    the identities collector reads 0.4 x interval of them per poll, see its module), the
    dedicated IPs listed (an account without any: no pool to read).

    ``page`` is ListConfigurationSets' page size, the server's choice (100 on moto).
    ListMetrics runs on the first poll only (its answer is cached).
    Event counts and Reputation.* are read over different windows (``lookback`` and
    ``reputation_lookback``), so in GetMetricData calls of their own: of the metrics
    ``world.SET_METRICS`` publishes for every set and the account, ``RATE_SHARE`` are
    Reputation.*, read 348 a call (24 hours of 5-minute datapoints each: at most 100,800
    a call). The newest reputation bucket (5 minutes) is read once more at one minute for
    its newest datapoint (``newest``: at the first poll, and at the next one if that
    bucket was still open at the first: a datapoint since may leave its average as it
    was), in ceil(rates / 500) more calls; the world publishes every rate at one time.
    """
    rates = queries * RATE_SHARE[0] // RATE_SHARE[1]
    batch = GET_METRIC_DATA_BATCH
    newest_rates = rates if newest else 0
    return {
        ("sesv2", "ListConfigurationSets"): max(1, math.ceil(sets / page)),
        ("sesv2", "GetConfigurationSet"): sets,
        ("cloudwatch", "ListMetrics"): math.ceil(queries / CLOUDWATCH_PAGE) if first_poll else 0,
        ("cloudwatch", "GetMetricData"): math.ceil((queries - rates) / batch)
        + math.ceil(rates / REPUTATION_BATCH)
        + math.ceil(newest_rates / batch),
        METRICS_REQUESTED: queries + newest_rates,
        ("ses", "GetSendStatistics"): 1,
        ("sesv2", "ListEmailIdentities"): max(1, math.ceil(sets / IDENTITY_PAGE)),
        ("sesv2", "GetEmailIdentity"): sets,
        ("sesv2", "ListDedicatedIpPools"): 1,
        ("sesv2", "GetDedicatedIpPool"): 0,
        ("sesv2", "GetDedicatedIps"): 1,
    }


def vdm_queries(isps: int, sets: int) -> int:
    """The vdm collector's queries per poll: every metric for the account, per ISP, and
    per (configuration set, ISP) with ``by_configuration_set``."""
    return VDM_METRICS * (1 + isps + isps * sets)


def vdm_minimum(isps: int, sets: int, page: int) -> Mapping[tuple[str, str], int]:
    """The fewest requests one vdm poll can make, first or steady alike: GetAccount once
    (whether VDM is on), the sets listed (``page``: the server's page size, as for the
    configuration_sets collector, which lists them with the same call) and every query
    once, 10 a call."""
    return {
        ("sesv2", "GetAccount"): 1,
        ("sesv2", "ListConfigurationSets"): max(1, math.ceil(sets / page)),
        ("sesv2", "BatchGetMetricData"): math.ceil(vdm_queries(isps, sets) / VDM_BATCH),
    }
