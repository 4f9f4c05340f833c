"""The demo's simulated AWS: ``DemoWorld`` and the ``--demo`` configuration.

One account (moto's 123456789012) in two regions:

* ``us-east-1`` has production access and a 50,000-a-day quota that it is close to
  exhausting (the used ratio climbs towards 97 %, then older sends leave the 24-hour
  window and it falls back), and Virtual Deliverability Manager enabled, with its
  engagement metrics;
* ``eu-west-1`` is still in the sandbox (200 a day, 1 per second), with its production
  access request pending, and VDM disabled (BatchGetMetricData answers NotFoundException
  there, as AWS does).

Two more regions are simulated when a configuration lists them (``--demo
--config.file=...``), for trying the pages and for tests: ``us-west-2`` is under review
(EnforcementStatus PROBATION) and ``ap-northeast-1`` is paused (SHUTDOWN, sending
disabled, no traffic). Any other region gets a healthy default profile.

Each region has three configuration sets: ``transactional``, ``marketing`` (whose
bounce rate climbs past the 5 % review threshold within two minutes) and
``newsletters`` (reputation metrics disabled); five identities, created through moto's
sesv2 CreateEmailIdentity (``marketing.example.org``'s DKIM records vanish three minutes
in, TEMPORARY_FAILURE, then FAILED at ten; ``newsletters.example.org``'s MAIL FROM domain
has FAILED; ``ops@example.net`` is PENDING); and an account-level suppression list (3,200
addresses in ``us-east-1``, 45 in ``eu-west-1`` at start) to which every bounce and
complaint of the traffic adds one. ``us-east-1`` also has dedicated IPs: a STANDARD pool
with one IP warmed up and one warming up a point a minute from 37 %, and a MANAGED pool.
``resources`` has the details.

A traffic thread sends mail through moto's SES API every few seconds, including some
from an unverified sender, which SES rejects, and every minute publishes what the mail
did (sends, deliveries, bounces, ...) as AWS/SES CloudWatch datapoints into moto, as SES
itself would. What moto lacks or gets wrong is answered from the same simulated state
through botocore's ``before-call`` hook (``responders.install_responder``): sesv2
GetAccount and GetConfigurationSet, ses GetAccountSendingEnabled and GetSendStatistics
(moto returns one running point instead of 15-minute buckets), cloudwatch GetMetricData
(``history.CloudWatchStore``: moto is far too slow over two weeks of minutes), sesv2
ListEmailIdentities and GetEmailIdentity (moto has every identity verified, without DKIM
or MAIL FROM status), ListDedicatedIpPools (moto fails given a PageSize), GetDedicatedIps,
ListSuppressedDestinations and BatchGetMetricData (not in moto). Every other call,
GetDedicatedIpPool among them, goes through boto3 to moto exactly as it would to AWS.

The world's time is its ``clock`` (``time.time`` unless a test hands it another), from
which the traffic, the identities' and the IPs' timelines are read.

The world also has a past (``history``): the 14 days before it started, minute by
minute, in CloudWatch and in the GetSendStatistics buckets, so that
``ses-exporter backfill --demo`` has something to read.

Where VDM is enabled, the same mail is also counted by VDM (``vdm.VdmStore``): per UTC
day, per mailbox provider, configuration set and the set's identity (``SET_IDENTITIES``).
Each minute the traffic publishes is divided among the providers (Gmail 40 %, Hotmail
25 %, Yahoo 15 %, AOL and iCloud 5 % each, and Comcast and GMX, which the exporter does
not list by default), so every day's VDM totals are CloudWatch's sends, deliveries,
bounces (permanent and transient), complaints, opens and clicks. Yahoo is the provider
with a problem: its permanent bounce ratio is several times the account's. The history
goes in as whole days (each day's totals divided once, so the backfill's world and the
live one agree on every whole day; CloudWatch keeps the minutes). VDM revises past days
as late events arrive; here, five minutes past midnight, the day before gets its late
complaints, once.
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import unquote

from .history import (
    ACCOUNT_WIDE,
    DAY,
    EVENT_METRICS,
    HISTORY_DAYS,
    MINUTE,
    CloudWatchStore,
    Minute,
    add_to_buckets,
    history_minutes,
)
from .resources import (
    DEDICATED_IP_POOLS,
    DEDICATED_IPS,
    IDENTITIES,
    SuppressionList,
    dedicated_ip,
    email_identity,
    identity_info,
    page,
)
from .responders import SimulatedError, install_api_responder, install_responder
from .traffic import SETS, DemoTraffic, Events
from .vdm import (
    LATE_COMPLAINTS_AFTER,
    VdmStore,
    day_start,
    late_complaints,
    record_events,
    vdm_disabled,
)

if TYPE_CHECKING:
    from botocore.client import BaseClient

log = logging.getLogger("ses_exporter.demo")

DEMO_ACCOUNT_ID = "123456789012"
SENDER = "noreply@demo.example.com"
UNVERIFIED_SENDER = "someone@unverified.example.net"
TICK_SECONDS = 5.0
FLUSH_SECONDS = 60.0  # CloudWatch datapoints are published once a minute
KEEP_CLOUDWATCH_SECONDS = 7200.0  # moto scans all it holds on every query: keep it small
# sesv2's BehaviorOnMxFailure as ses (v1) spells it
MX_FAILURE_V1: dict[str, Literal["UseDefaultValue", "RejectMessage"]] = {
    "USE_DEFAULT_VALUE": "UseDefaultValue",
    "REJECT_MESSAGE": "RejectMessage",
}

DEMO_CONFIG = """
accounts:
  - name: demo
    regions: [us-east-1, eu-west-1]
    labels: {env: demo}
collectors:
  account: {interval: 15s}
  send_statistics: {interval: 60s}
  cloudwatch: {interval: 60s, period: 60s, lookback: 30m}
  configuration_sets: {interval: 60s}
  identities: {interval: 60s}
  dedicated_ips: {interval: 60s}
  suppression: {enabled: true, interval: 60s}
"""


@dataclass
class RegionProfile:
    quota: float
    rate: float
    production: bool
    review_status: str
    mail_type: str
    sends_per_tick: tuple[int, int]  # recipients per tick, min..max
    start_offset: float  # emails already sent in the last 24 h before the demo started
    enforcement: str = "HEALTHY"  # GetAccount's EnforcementStatus
    sending_enabled: bool = True
    suppressed_at_start: int = 400  # addresses on the suppression list when the demo starts
    suppressed_reasons: tuple[str, ...] = ("BOUNCE", "COMPLAINT")
    vdm: bool = True  # Virtual Deliverability Manager (and its engagement metrics) enabled


PROFILES: dict[str, RegionProfile] = {
    "us-east-1": RegionProfile(
        50_000, 14, True, "GRANTED", "TRANSACTIONAL", (40, 50), 41_000, suppressed_at_start=3_200
    ),
    "eu-west-1": RegionProfile(
        200, 1, False, "PENDING", "MARKETING", (0, 2), 37, suppressed_at_start=45, vdm=False
    ),
    # Not in DEMO_CONFIG: for a configuration that lists them (the pages' browser tests).
    "us-west-2": RegionProfile(
        10_000, 5, True, "GRANTED", "TRANSACTIONAL", (5, 20), 2_000, "PROBATION"
    ),
    "ap-northeast-1": RegionProfile(
        10_000, 5, True, "GRANTED", "TRANSACTIONAL", (0, 0), 0, "SHUTDOWN", False
    ),
}
DEFAULT_PROFILE = RegionProfile(10_000, 5, True, "GRANTED", "TRANSACTIONAL", (5, 20), 2_000)
# The identity each configuration set's mail is sent from, as VDM's EMAIL_IDENTITY counts it.
SET_IDENTITIES = {
    profile.name: next((i.name for i in IDENTITIES if i.configuration_set == profile.name), None)
    for profile in SETS
}


class DemoWorld:
    """The simulated AWS: moto's backends plus what moto does not model."""

    def __init__(
        self, regions: list[str], seed: int = 2026, clock: Callable[[], float] = time.time
    ):
        """``clock`` is the simulated AWS's time (tests move it instead of sleeping)."""
        from moto import mock_aws  # the demo extra; imported only when --demo is used

        self._mock = mock_aws()
        self._regions = regions
        self._seed = seed
        self._clock = clock
        self._traffic = DemoTraffic(regions, seed, clock())
        # History ends at the minute the world starts; live datapoints follow it.
        self.history_end = int(self._traffic.started // MINUTE * MINUTE)
        self._stores = {r: CloudWatchStore(self.history_end - HISTORY_DAYS * DAY) for r in regions}
        self._offset = {r: PROFILES.get(r, DEFAULT_PROFILE).start_offset for r in regions}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demo-traffic", daemon=True)
        self._lock = threading.Lock()
        self._clients: dict[str, tuple[Any, Any]] = {}  # region -> (ses, cloudwatch)
        self._vdm = {r: VdmStore() for r in regions if PROFILES.get(r, DEFAULT_PROFILE).vdm}
        self._vdm_random = {r: random.Random(f"{seed}:{r}:vdm") for r in self._vdm}  # noqa: S311
        self._vdm_revised = dict.fromkeys(self._vdm, day_start(self._traffic.started))
        self._suppression = {
            r: SuppressionList(
                seed,
                r,
                PROFILES.get(r, DEFAULT_PROFILE).suppressed_at_start,
                PROFILES.get(r, DEFAULT_PROFILE).suppressed_reasons,
                self._traffic.started,
            )
            for r in regions
        }

    def start(self) -> None:
        import boto3

        self._mock.start()
        for region in self._regions:
            ses = boto3.client("ses", region_name=region)
            sesv2 = boto3.client("sesv2", region_name=region)
            for identity in IDENTITIES:
                sesv2.create_email_identity(EmailIdentity=identity.name)
                if identity.mail_from:  # sesv2's PutEmailIdentityMailFromAttributes is not in moto
                    ses.set_identity_mail_from_domain(
                        Identity=identity.name,
                        MailFromDomain=identity.mail_from,
                        BehaviorOnMXFailure=MX_FAILURE_V1[identity.mail_from_behavior],
                    )
            for pool, scaling_mode in DEDICATED_IP_POOLS.get(region, ()):
                sesv2.create_dedicated_ip_pool(PoolName=pool, ScalingMode=scaling_mode)
            for profile in SETS:
                sesv2.create_configuration_set(
                    ConfigurationSetName=profile.name,
                    ReputationOptions={"ReputationMetricsEnabled": profile.reputation_metrics},
                )
            self._clients[region] = (ses, boto3.client("cloudwatch", region_name=region))
            self._add_history(region)
        self._tick()
        self._flush()  # so that CloudWatch discovery finds every metric at the first poll
        self._thread.start()

    def _add_history(self, region: str) -> None:
        store, buckets = self._stores[region], self._traffic.regions[region].buckets
        profile = PROFILES.get(region, DEFAULT_PROFILE)
        start = self.history_end - HISTORY_DAYS * DAY
        days: dict[int, dict[str, dict[str, int]]] = {}  # day -> set -> Events field -> count
        for minute in history_minutes(
            self._seed, region, profile.sends_per_tick, start, self.history_end
        ):
            store.add(minute)
            add_to_buckets(buckets, minute)
            of_day = days.setdefault(day_start(minute.start), {})
            for name, counts in minute.events.items():
                totals = of_day.setdefault(name, {})
                for field, count in counts.items():
                    totals[field] = totals.get(field, 0) + count
        if region in self._vdm:
            # VDM keeps days, not minutes: each day's totals are split once among the
            # providers, by a draw of its own, so every world agrees on every whole day.
            for day, events in days.items():
                rng = random.Random(f"{self._seed}:{region}:vdm:{day}")  # noqa: S311
                record_events(self._vdm[region], day, events, SET_IDENTITIES, rng)

    def cloudwatch_store(self, region: str) -> CloudWatchStore:
        return self._stores[region]

    def suppression_list(self, region: str) -> SuppressionList:
        return self._suppression[region]

    def vdm_store(self, region: str) -> VdmStore:
        """The region's VDM counts (KeyError where VDM is disabled)."""
        return self._vdm[region]

    @property
    def started(self) -> float:
        """When the world started, by its clock (the identities' and IPs' timelines)."""
        return self._traffic.started

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2)
        self._mock.stop()

    def client_hook(self, service: str, client: BaseClient) -> None:
        """Given to the exporter's client factory: answers what moto lacks."""
        region = client.meta.region_name
        if service == "sesv2":
            install_responder(client, "GetAccount", lambda _: self.get_account(region))
            install_responder(client, "GetConfigurationSet", self.get_configuration_set)
            # moto answers every identity as verified, without DKIM or MAIL FROM status
            install_api_responder(client, "ListEmailIdentities", self.list_email_identities)
            install_api_responder(client, "GetEmailIdentity", self.get_email_identity)
            # moto fails ListDedicatedIpPools given a PageSize, and lacks GetDedicatedIps
            install_api_responder(
                client, "ListDedicatedIpPools", lambda p: self.list_dedicated_ip_pools(region, p)
            )
            install_api_responder(
                client, "GetDedicatedIps", lambda p: self.get_dedicated_ips(region, p)
            )
            if region in self._suppression:
                install_api_responder(
                    client,
                    "ListSuppressedDestinations",
                    self._suppression[region].list_suppressed_destinations,
                )
            if region in self._vdm:
                install_api_responder(
                    client, "BatchGetMetricData", self._vdm[region].batch_get_metric_data
                )
            else:
                install_responder(client, "BatchGetMetricData", vdm_disabled)
        elif service == "ses":
            enabled = PROFILES.get(region, DEFAULT_PROFILE).sending_enabled
            install_responder(client, "GetAccountSendingEnabled", lambda _: {"Enabled": enabled})
            install_responder(client, "GetSendStatistics", lambda _: self.send_statistics(region))
        elif service == "cloudwatch" and region in self._stores:
            store = self._stores[region]
            install_api_responder(client, "GetMetricData", store.get_metric_data)

    def sent_last_24_hours(self, region: str) -> float:
        from moto.ses.models import ses_backends

        sent = ses_backends[DEMO_ACCOUNT_ID][region].sent_message_count
        with self._lock:
            return self._offset.get(region, 0.0) + sent

    def get_account(self, region: str) -> Mapping[str, Any]:
        """A sesv2 GetAccount answer, shaped as AWS documents it."""
        profile = PROFILES.get(region, DEFAULT_PROFILE)
        return {
            "DedicatedIpAutoWarmupEnabled": profile.production,
            "EnforcementStatus": profile.enforcement,
            "ProductionAccessEnabled": profile.production,
            "SendQuota": {
                "Max24HourSend": profile.quota,
                "MaxSendRate": profile.rate,
                "SentLast24Hours": self.sent_last_24_hours(region),
            },
            "SendingEnabled": profile.sending_enabled,
            "SuppressionAttributes": {"SuppressedReasons": list(profile.suppressed_reasons)},
            "Details": {
                "MailType": profile.mail_type,
                "WebsiteURL": "https://demo.example.com",
                "ContactLanguage": "EN",
                "UseCaseDescription": "Demo traffic",
                "ReviewDetails": {"Status": profile.review_status, "CaseId": "demo-case-1"},
            },
            "VdmAttributes": (
                {"VdmEnabled": "ENABLED", "DashboardAttributes": {"EngagementMetrics": "ENABLED"}}
                if profile.vdm
                else {"VdmEnabled": "DISABLED"}
            ),
        }

    def get_configuration_set(self, request: Mapping[str, Any]) -> Mapping[str, Any]:
        """moto 5.2 mangles SendingOptions, so the demo answers from its own definitions."""
        name = unquote(str(request.get("url_path", "")).rsplit("/", 1)[-1])
        for profile in SETS:
            if profile.name == name:
                return {
                    "ConfigurationSetName": name,
                    "ReputationOptions": {"ReputationMetricsEnabled": profile.reputation_metrics},
                    "SendingOptions": {"SendingEnabled": profile.sending_enabled},
                }
        raise SimulatedError(
            "NotFoundException", f"Configuration set <{name}> does not exist.", 404
        )

    def list_email_identities(self, params: Mapping[str, Any]) -> Mapping[str, Any]:
        """A sesv2 ListEmailIdentities answer: the identities created in moto, with the
        statuses they have at this point of the demo (``resources``), through ``Filter``
        (name substring, type, verification status) when given."""
        elapsed = self._clock() - self.started
        wanted = params.get("Filter") or {}
        infos = [
            info
            for info in (identity_info(i, elapsed) for i in IDENTITIES)
            if wanted.get("IDENTITY_NAME_CONTAINS", "") in info["IdentityName"]
            and wanted.get("IDENTITY_TYPE", info["IdentityType"]) == info["IdentityType"]
            and wanted.get("VERIFICATION_STATUS", info["VerificationStatus"])
            == info["VerificationStatus"]
        ]
        entries, token = page(infos, params, "identities")
        answer: dict[str, Any] = {"EmailIdentities": list(entries)}
        if token:
            answer["NextToken"] = token
        return answer

    def get_email_identity(self, params: Mapping[str, Any]) -> Mapping[str, Any]:
        name = params["EmailIdentity"]
        for identity in IDENTITIES:
            if identity.name == name:
                return email_identity(identity, self.started, self._clock())
        raise SimulatedError("NotFoundException", f"Email identity {name} does not exist.", 404)

    def list_dedicated_ip_pools(self, region: str, params: Mapping[str, Any]) -> Mapping[str, Any]:
        names = [name for name, _ in DEDICATED_IP_POOLS.get(region, ())]
        pools, token = page(names, params, "pools")
        return {"DedicatedIpPools": list(pools), **({"NextToken": token} if token else {})}

    def get_dedicated_ips(self, region: str, params: Mapping[str, Any]) -> Mapping[str, Any]:
        """The account's dedicated IPs in the region, or one pool's (``PoolName``)."""
        ips = list(DEDICATED_IPS.get(region, ()))
        if params.get("PoolName"):
            pool = params["PoolName"]
            if pool not in {name for name, _ in DEDICATED_IP_POOLS.get(region, ())}:
                raise SimulatedError("NotFoundException", f"Pool {pool} does not exist.", 404)
            ips = [ip for ip in ips if ip.pool == pool]
        elapsed = self._clock() - self.started
        chosen, token = page(ips, params, "dedicated-ips")
        answer: dict[str, Any] = {"DedicatedIps": [dedicated_ip(ip, elapsed) for ip in chosen]}
        if token:
            answer["NextToken"] = token
        return answer

    def send_statistics(self, region: str) -> Mapping[str, Any]:
        """15-minute buckets, in no particular order, as GetSendStatistics answers."""
        oldest = self._clock() - HISTORY_DAYS * DAY  # SES answers for the last two weeks
        with self._lock:
            buckets = [
                (start, bucket)
                for start, bucket in self._traffic.regions[region].buckets.items()
                if start >= oldest
            ]
        self._traffic.random.shuffle(buckets)
        return {
            "SendDataPoints": [
                {
                    "Timestamp": datetime.fromtimestamp(start, UTC),
                    "DeliveryAttempts": b.delivery_attempts,
                    "Bounces": b.bounces,
                    "Complaints": b.complaints,
                    "Rejects": b.rejects,
                }
                for start, b in buckets
            ]
        }

    def _run(self) -> None:
        last_flush = time.monotonic()
        while not self._stop.wait(TICK_SECONDS):
            try:
                self._tick()
                if time.monotonic() - last_flush >= FLUSH_SECONDS:
                    last_flush = time.monotonic()
                    self._flush()
            except Exception:  # the demo's traffic must never take the exporter down
                log.exception("demo traffic tick failed")

    def _tick(self) -> None:
        now = self._clock()
        for region, (ses, _) in self._clients.items():
            profile = PROFILES.get(region, DEFAULT_PROFILE)
            low, high = profile.sends_per_tick
            recipients = self._traffic.random.randint(low, high)
            if recipients:
                to = [f"user{i}@demo.example.com" for i in range(recipients)]
                ses.send_email(
                    Source=SENDER,
                    Destination={"ToAddresses": to},
                    Message={"Subject": {"Data": "demo"}, "Body": {"Text": {"Data": "hi"}}},
                )
            rejected = int(self._traffic.random.random() < 0.2)
            if rejected:
                self._send_rejected(ses)
            with self._lock:
                bounces, complaints = self._traffic.tick(region, recipients, rejected, now)
            self._suppression[region].add(bounces, complaints, now)
            self._roll_window(region, profile)
            self._revise_vdm(region, now)

    def _flush(self) -> None:
        """Publishes the last minute's events as AWS/SES datapoints, as SES does."""
        now = self._clock()
        for region, (_, cloudwatch) in self._clients.items():
            with self._lock:
                pending, rejects = self._traffic.take_pending(region)
            data = cloudwatch_datapoints(pending, rejects, self._traffic, now)
            minute = _live_minute(pending, rejects, self._traffic, now)
            self._stores[region].add(minute)
            if region in self._vdm:
                record_events(
                    self._vdm[region], now, minute.events, SET_IDENTITIES, self._vdm_random[region]
                )
            for start in range(0, len(data), 1000):
                cloudwatch.put_metric_data(
                    Namespace="AWS/SES", MetricData=data[start : start + 1000]
                )
            _forget_old_cloudwatch_data(region, now - KEEP_CLOUDWATCH_SECONDS)

    def _send_rejected(self, ses: Any) -> None:
        # SES rejects an unverified sender, and counts it as a reject.
        with contextlib.suppress(ses.exceptions.MessageRejected):
            ses.send_email(
                Source=UNVERIFIED_SENDER,
                Destination={"ToAddresses": ["user@demo.example.com"]},
                Message={"Subject": {"Data": "x"}, "Body": {"Text": {"Data": "x"}}},
            )

    def _revise_vdm(self, region: str, now: float) -> None:
        """A few minutes past midnight, yesterday's late complaints arrive: VDM revises
        the day before upwards, once a day."""
        today = day_start(now)
        due = region in self._vdm and today > self._vdm_revised[region]
        if due and now - today >= LATE_COMPLAINTS_AFTER:
            late_complaints(self._vdm[region], today - DAY, SET_IDENTITIES)
            self._vdm_revised[region] = today

    def _roll_window(self, region: str, profile: RegionProfile) -> None:
        """Older sends leave the 24-hour window, so usage never runs past ~97 %."""
        if self.sent_last_24_hours(region) >= 0.97 * profile.quota:
            with self._lock:
                self._offset[region] -= 0.12 * profile.quota


COUNTER_METRICS = EVENT_METRICS  # CloudWatch metric -> Events field, as the history has them


def cloudwatch_datapoints(
    pending: Mapping[str, Events], rejects: int, traffic: DemoTraffic, now: float
) -> list[dict[str, Any]]:
    """Per-set datapoints, plus the account-level ones SES publishes (``ACCOUNT_WIDE``,
    Reject, Rendering Failure, Reputation.*), for ListMetrics: GetMetricData is answered
    from the ``CloudWatchStore``, which keeps each dimension set apart as CloudWatch
    does. Open, Click and DeliveryDelay exist only per configuration set."""
    when = datetime.fromtimestamp(now, UTC)
    data: list[dict[str, Any]] = []
    for profile in SETS:
        events = pending.get(profile.name, Events())
        dims = [{"Name": "ses:configuration-set", "Value": profile.name}]
        for metric, attr in COUNTER_METRICS.items():
            value = float(getattr(events, attr))
            data.append(
                {"MetricName": metric, "Dimensions": dims, "Timestamp": when, "Value": value}
            )
        if profile.reputation_metrics:
            for metric, rate in (
                ("Reputation.BounceRate", traffic.bounce_rate(profile, now)),
                ("Reputation.ComplaintRate", profile.complaint_rate),
            ):
                data.append(
                    {"MetricName": metric, "Dimensions": dims, "Timestamp": when, "Value": rate}
                )
    for metric in ACCOUNT_WIDE:
        value = float(
            sum(getattr(pending.get(p.name, Events()), COUNTER_METRICS[metric]) for p in SETS)
        )
        data.append({"MetricName": metric, "Timestamp": when, "Value": value})
    data.append({"MetricName": "Rendering Failure", "Timestamp": when, "Value": 0.0})
    data.append({"MetricName": "Reject", "Timestamp": when, "Value": float(rejects)})
    account_bounce = sum(p.share * traffic.bounce_rate(p, now) for p in SETS)
    account_complaint = sum(p.share * p.complaint_rate for p in SETS)
    data.append({"MetricName": "Reputation.BounceRate", "Timestamp": when, "Value": account_bounce})
    data.append(
        {"MetricName": "Reputation.ComplaintRate", "Timestamp": when, "Value": account_complaint}
    )
    return data


def _live_minute(
    pending: Mapping[str, Events], rejects: int, traffic: DemoTraffic, now: float
) -> Minute:
    """What one flush publishes, as the minute it falls in (two flushes in one minute add)."""
    events = {
        profile.name: {
            field: getattr(pending.get(profile.name, Events()), field)
            for field in COUNTER_METRICS.values()
        }
        for profile in SETS
    }
    rates = {profile.name: traffic.bounce_rate(profile, now) for profile in SETS}
    return Minute(int(now // MINUTE * MINUTE), events, rejects, rates)


def _forget_old_cloudwatch_data(region: str, before: float) -> None:
    """moto keeps every datapoint and scans them all per query: drop what is long past."""
    from moto.cloudwatch.models import cloudwatch_backends

    backend = cloudwatch_backends[DEMO_ACCOUNT_ID][region]
    cutoff = datetime.fromtimestamp(before, UTC).replace(tzinfo=None)  # moto keeps naive UTC
    backend.metric_data = [
        d for d in backend.metric_data if d.timestamp.replace(tzinfo=None) >= cutoff
    ]
