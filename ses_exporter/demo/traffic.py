"""The demo's simulated mail traffic: who sends how much, and how much of it bounces.

Pure bookkeeping, no AWS: ``DemoTraffic.tick`` decides a few seconds of traffic per
region and configuration set; ``world.DemoWorld`` turns it into moto SES sends, AWS/SES
CloudWatch datapoints and GetSendStatistics buckets.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from dataclasses import dataclass, field

BUCKET_SECONDS = 900  # GetSendStatistics aggregates into 15-minute buckets
# The "marketing" set's bounce rate climbs from 4 % past the 5 % review threshold to
# about 7.5 % over this many seconds after start, so alerts have something to fire on.
BOUNCE_PROBLEM_RAMP_SECONDS = 120.0


@dataclass(frozen=True)
class SetProfile:
    name: str
    share: float  # of the region's sends
    bounce_rate: float
    complaint_rate: float
    reputation_metrics: bool
    sending_enabled: bool = True


SETS = (
    SetProfile("transactional", 0.6, 0.012, 0.0002, reputation_metrics=True),
    SetProfile("marketing", 0.3, 0.04, 0.0008, reputation_metrics=True),
    SetProfile("newsletters", 0.1, 0.02, 0.0006, reputation_metrics=False),
)


@dataclass
class Events:
    """Counts of one kind of event per configuration set since the last flush."""

    send: int = 0
    delivery: int = 0
    bounce: int = 0
    complaint: int = 0
    open: int = 0
    click: int = 0
    delivery_delay: int = 0


@dataclass
class Bucket:
    delivery_attempts: int = 0
    bounces: int = 0
    complaints: int = 0
    rejects: int = 0


@dataclass
class RegionTraffic:
    pending: dict[str, Events] = field(default_factory=lambda: defaultdict(Events))
    rejects: int = 0
    buckets: dict[int, Bucket] = field(default_factory=lambda: defaultdict(Bucket))


class DemoTraffic:
    def __init__(self, regions: list[str], seed: int, started: float):
        self.random = random.Random(seed)  # noqa: S311 - simulation, not crypto
        self.started = started
        self.regions = {region: RegionTraffic() for region in regions}

    def bounce_rate(self, profile: SetProfile, now: float) -> float:
        if profile.name != "marketing":
            return profile.bounce_rate
        ramp = min(max(now - self.started, 0.0) / BOUNCE_PROBLEM_RAMP_SECONDS, 1.0)
        wobble = 0.003 * math.sin((now - self.started) / 45.0)
        return profile.bounce_rate + 0.035 * ramp + wobble

    def tick(self, region: str, sends: int, rejected: int, now: float) -> tuple[int, int]:
        """Spreads ``sends`` over the configuration sets and draws their outcomes; returns
        the tick's bounces and complaints (each one an address SES suppresses)."""
        traffic = self.regions[region]
        total_bounces = total_complaints = 0
        bucket = traffic.buckets[int(now // BUCKET_SECONDS * BUCKET_SECONDS)]
        bucket.rejects += rejected
        traffic.rejects += rejected
        for profile in SETS:
            n = self._share(sends, profile.share)
            bounces = self._draw(n, self.bounce_rate(profile, now))
            complaints = self._draw(n, profile.complaint_rate)
            events = traffic.pending[profile.name]
            events.send += n
            events.bounce += bounces
            events.complaint += complaints
            events.delivery += n - bounces
            events.open += self._draw(n - bounces, 0.35)
            events.click += self._draw(n - bounces, 0.06)
            events.delivery_delay += self._draw(n, 0.004)
            bucket.delivery_attempts += n
            bucket.bounces += bounces
            bucket.complaints += complaints
            total_bounces += bounces
            total_complaints += complaints
        return total_bounces, total_complaints

    def take_pending(self, region: str) -> tuple[dict[str, Events], int]:
        """The events since the last call, per set, and the region's rejects."""
        traffic = self.regions[region]
        pending, rejects = dict(traffic.pending), traffic.rejects
        traffic.pending.clear()
        traffic.rejects = 0
        return pending, rejects

    def _share(self, total: int, share: float) -> int:
        exact = total * share
        return int(exact) + (1 if self.random.random() < exact - int(exact) else 0)

    def _draw(self, n: int, rate: float) -> int:
        return sum(1 for _ in range(n) if self.random.random() < rate)
