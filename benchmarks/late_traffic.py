"""SES traffic with a ground truth, published to CloudWatch late, as SES publishes it.

The world of ``ground_truth.py`` (one target) and of the soak (many). A ``Publisher``
thread plays SES for every target of ``clients``: every ``TICK_SECONDS`` it "sends" a random
number of events of each metric of ``Traffic.metrics`` in each configuration set of
``Traffic.sets``, and of the metrics SES also publishes account-wide (``ACCOUNT_WIDE``)
some mail without a set; the account-wide value of a minute is the sum of all of them.
Open, Click, DeliveryDelay and Subscription exist only per set: SES publishes them only
through a configuration set's event destination.

When a minute ends, each of its datapoints (per set, and account-wide) is published with
PutMetricData, timestamped with its own minute, after a random delay of ``Traffic.late``
from the end of the minute; ``SPLIT_CHANCE`` of them in two parts, the second up to
``late`` max later (an upward revision: CloudWatch sums both). ``truth`` is the events
sent per (account id, region, metric, set or None: account-wide).

``Traffic.list_every_series`` puts one zero datapoint a day old per series SES would have:
ListMetrics lists them all from the exporter's first poll on, and no poll window holds it.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

NAMESPACE = "AWS/SES"
SET_DIMENSION = "ses:configuration-set"
# The metrics SES publishes without a configuration set too (account-wide).
ACCOUNT_WIDE = ("Send", "Delivery", "Bounce", "Complaint", "Reject", "Rendering Failure")
TICK_SECONDS = 5.0
PERIOD = 60.0
SPLIT_CHANCE = 0.3
PUT_METRIC_DATA_MOST = 1000  # datapoints in one PutMetricData call

Target = tuple[str, str]  # (account id, region)
Series = tuple[str, str | None]  # (CloudWatch metric, configuration set or None)
Key = tuple[str, str, str, str | None]  # (account id, region, metric, set or None)


def datum(series: Series, minute: float, value: float) -> dict[str, Any]:
    metric, configuration_set = series
    dimensions = [] if configuration_set is None else [
        {"Name": SET_DIMENSION, "Value": configuration_set}
    ]  # fmt: skip
    return {
        "MetricName": metric,
        "Dimensions": dimensions,
        "Timestamp": datetime.fromtimestamp(minute, UTC),
        "Value": float(value),
    }


@dataclass(frozen=True)
class Traffic:
    sets: tuple[str, ...]
    metrics: Mapping[str, int]  # metric -> most events per set (and per no-set mail) a tick
    late: tuple[float, float]  # publication delay after the end of a minute, min and max

    def series(self) -> list[Series]:
        """Every series SES publishes for this traffic (per set, and account-wide)."""
        per_set = [(m, s) for m in self.metrics for s in self.sets]
        return per_set + [(m, None) for m in self.metrics if m in ACCOUNT_WIDE]

    def list_every_series(self, cloudwatch: Any) -> None:
        day_ago = math.floor(time.time() / PERIOD) * PERIOD - 86_400
        cloudwatch.put_metric_data(
            Namespace=NAMESPACE, MetricData=[datum(s, day_ago, 0) for s in self.series()]
        )


def always(configuration_set: str, now: float) -> bool:
    return True


@dataclass(order=True)
class _Due:
    when: float
    seq: int
    key: Key = field(compare=False)
    minute: float = field(compare=False)
    value: int = field(compare=False)


class Publisher(threading.Thread):
    """SES sending and CloudWatch publishing late, for every target of ``clients`` (its
    CloudWatch client); see the module doc. ``sends(set, now)`` says whether a set sends;
    ``pause`` stops all sending (what was sent is still published); ``idle`` says that,
    paused, everything sent is in CloudWatch."""

    def __init__(
        self,
        clients: Mapping[Target, Any],
        traffic: Traffic,
        rng: random.Random,
        sends: Callable[[str, float], bool] = always,
    ):
        super().__init__(daemon=True, name="publisher")
        self.clients = clients
        self.traffic = traffic
        self.rng = rng
        self.sends = sends
        self.truth: dict[Key, int] = defaultdict(int)
        self.datapoints = 0  # PutMetricData datapoints published
        self.revisions = 0  # of them, second parts of a datapoint published before
        self.errors = 0  # PutMetricData calls that failed (published again at the next tick)
        self.last_publication = 0.0
        self._open: dict[float, dict[Key, int]] = {}  # minute -> events not yet scheduled
        self._due: list[_Due] = []
        self._in_flight = 0  # datapoints taken from _due, not yet in CloudWatch
        self._seq = itertools.count()
        self._sending = threading.Event()
        self._sending.set()
        self._stopping = threading.Event()
        self._lock = threading.Lock()

    def pause(self) -> None:
        self._sending.clear()

    def resume(self) -> None:
        self._sending.set()

    def idle(self) -> bool:
        with self._lock:
            pending = self._open or self._due or self._in_flight
            return not self._sending.is_set() and not pending

    def stop(self) -> None:
        self._stopping.set()
        self.join(timeout=60)

    def run(self) -> None:
        while not self._stopping.is_set():
            now = time.time()
            with self._lock:
                if self._sending.is_set():
                    self._send(now)
                self._schedule(now)
                due = self._take_due(now)
            self._publish(due)
            self._stopping.wait(TICK_SECONDS)

    def _send(self, now: float) -> None:
        minute = math.floor(now / PERIOD) * PERIOD
        events = self._open.setdefault(minute, defaultdict(int))
        sets = [s for s in self.traffic.sets if self.sends(s, now)]
        for account_id, region in self.clients:
            for metric, most in self.traffic.metrics.items():
                account_wide = 0
                for name in sets:
                    n = self.rng.randint(0, most)
                    events[(account_id, region, metric, name)] += n
                    account_wide += n
                if metric in ACCOUNT_WIDE:
                    account_wide += self.rng.randint(0, most)  # mail sent without a set
                    events[(account_id, region, metric, None)] += account_wide

    def _schedule(self, now: float) -> None:
        """Each datapoint of each ended minute: due after a delay, maybe in two parts."""
        low, high = self.traffic.late
        for minute in [m for m in self._open if now >= m + PERIOD]:
            by_scope: dict[tuple[Target, str | None], list[tuple[Key, int]]] = defaultdict(list)
            for key, value in self._open.pop(minute).items():
                self.truth[key] += value
                if value:
                    by_scope[((key[0], key[1]), key[3])].append((key, value))
            for items in by_scope.values():
                first = minute + PERIOD + self.rng.uniform(low, high)
                split = self.rng.random() < SPLIT_CHANCE
                rest = self.rng.uniform(first, minute + PERIOD + high)
                for key, value in items:
                    part = self.rng.randint(1, value - 1) if split and value >= 2 else value
                    self._push(_Due(first, next(self._seq), key, minute, part))
                    if part < value:
                        self._push(_Due(rest, next(self._seq), key, minute, value - part))
                        self.revisions += 1

    def _push(self, due: _Due) -> None:
        heapq.heappush(self._due, due)

    def _take_due(self, now: float) -> list[_Due]:
        due: list[_Due] = []
        while self._due and self._due[0].when <= now:
            due.append(heapq.heappop(self._due))
        self._in_flight += len(due)
        return due

    def _publish(self, due: Sequence[_Due]) -> None:
        by_target: dict[Target, list[_Due]] = defaultdict(list)
        for d in due:
            by_target[(d.key[0], d.key[1])].append(d)
        for target, items in by_target.items():
            for first in range(0, len(items), PUT_METRIC_DATA_MOST):
                batch = items[first : first + PUT_METRIC_DATA_MOST]
                try:
                    self.clients[target].put_metric_data(
                        Namespace=NAMESPACE,
                        MetricData=[datum((d.key[2], d.key[3]), d.minute, d.value) for d in batch],
                    )
                except Exception:  # a moto hiccup: publish it at the next tick
                    with self._lock:
                        self.errors += 1
                        self._in_flight -= len(batch)
                        for d in batch:
                            self._push(d)
                    continue
                with self._lock:
                    self._in_flight -= len(batch)
                    self.datapoints += len(batch)
                    self.last_publication = time.time()
