"""``--demo``: the real exporter against a simulated AWS (moto, in process).

One account (moto's 123456789012) in two regions:

* ``us-east-1`` has production access and a 50,000-a-day quota that it is close to
  exhausting (the used ratio climbs towards 97 %, then older sends leave the 24-hour
  window and it falls back);
* ``eu-west-1`` is still in the sandbox (200 a day, 1 per second), with its production
  access request pending.

A traffic thread sends mail through moto's SES API every few seconds, including some
from an unverified sender, which SES rejects. moto lacks sesv2 GetAccount and ses
GetAccountSendingEnabled; those are answered from the same simulated state through
botocore's ``before-call`` hook (``simulation.install_responder``), so every other call
goes through boto3 to moto exactly as it would to AWS.
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore.client import BaseClient

from .simulation import install_responder, work_around_moto

log = logging.getLogger("ses_exporter.demo")

DEMO_ACCOUNT_ID = "123456789012"
SENDER = "noreply@demo.example.com"
UNVERIFIED_SENDER = "someone@unverified.example.net"
TICK_SECONDS = 5.0

DEMO_CONFIG = """
accounts:
  - name: demo
    regions: [us-east-1, eu-west-1]
    labels: {env: demo}
collectors:
  account: {interval: 15s}
  send_statistics: {interval: 60s}
  cloudwatch: {interval: 60s, period: 60s, lookback: 1h}
  configuration_sets: {interval: 60s}
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


PROFILES: dict[str, RegionProfile] = {
    "us-east-1": RegionProfile(50_000, 14, True, "GRANTED", "TRANSACTIONAL", (40, 50), 41_000),
    "eu-west-1": RegionProfile(200, 1, False, "PENDING", "MARKETING", (0, 2), 37),
}
DEFAULT_PROFILE = RegionProfile(10_000, 5, True, "GRANTED", "TRANSACTIONAL", (5, 20), 2_000)


class DemoWorld:
    """The simulated AWS: moto's backends plus the account facts moto does not model."""

    def __init__(self, regions: list[str], seed: int = 2026):
        from moto import mock_aws  # the demo extra; imported only when --demo is used

        self._mock = mock_aws()
        self._random = random.Random(seed)  # noqa: S311 - simulation, not crypto
        self._regions = regions
        self._offset = {r: PROFILES.get(r, DEFAULT_PROFILE).start_offset for r in regions}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demo-traffic", daemon=True)
        self._lock = threading.Lock()
        self._ses: dict[str, Any] = {}

    def start(self) -> None:
        import boto3

        self._mock.start()
        for region in self._regions:
            ses = boto3.client("ses", region_name=region)
            ses.verify_domain_identity(Domain="demo.example.com")
            ses.verify_email_identity(EmailAddress=SENDER)
            self._ses[region] = ses
        self._tick()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2)
        self._mock.stop()

    def client_hook(self, service: str, client: BaseClient) -> None:
        """Given to the exporter's client factory: answers what moto lacks."""
        region = client.meta.region_name
        work_around_moto(service, client)
        if service == "sesv2":
            install_responder(client, "GetAccount", lambda _: self.get_account(region))
        elif service == "ses":
            install_responder(client, "GetAccountSendingEnabled", lambda _: {"Enabled": True})

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
            "EnforcementStatus": "HEALTHY",
            "ProductionAccessEnabled": profile.production,
            "SendQuota": {
                "Max24HourSend": profile.quota,
                "MaxSendRate": profile.rate,
                "SentLast24Hours": self.sent_last_24_hours(region),
            },
            "SendingEnabled": True,
            "SuppressionAttributes": {"SuppressedReasons": ["BOUNCE", "COMPLAINT"]},
            "Details": {
                "MailType": profile.mail_type,
                "WebsiteURL": "https://demo.example.com",
                "ContactLanguage": "EN",
                "UseCaseDescription": "Demo traffic",
                "ReviewDetails": {"Status": profile.review_status, "CaseId": "demo-case-1"},
            },
            "VdmAttributes": {"VdmEnabled": "ENABLED" if profile.production else "DISABLED"},
        }

    def _run(self) -> None:
        while not self._stop.wait(TICK_SECONDS):
            try:
                self._tick()
            except Exception:  # the demo's traffic must never take the exporter down
                log.exception("demo traffic tick failed")

    def _tick(self) -> None:
        for region, ses in self._ses.items():
            profile = PROFILES.get(region, DEFAULT_PROFILE)
            low, high = profile.sends_per_tick
            recipients = self._random.randint(low, high)
            if recipients:
                to = [f"user{i}@demo.example.com" for i in range(recipients)]
                ses.send_email(
                    Source=SENDER,
                    Destination={"ToAddresses": to},
                    Message={"Subject": {"Data": "demo"}, "Body": {"Text": {"Data": "hi"}}},
                )
            if self._random.random() < 0.2:
                self._send_rejected(ses)
            self._roll_window(region, profile)

    def _send_rejected(self, ses: Any) -> None:
        # SES rejects an unverified sender, and counts it as a reject.
        with contextlib.suppress(ses.exceptions.MessageRejected):
            ses.send_email(
                Source=UNVERIFIED_SENDER,
                Destination={"ToAddresses": ["user@demo.example.com"]},
                Message={"Subject": {"Data": "x"}, "Body": {"Text": {"Data": "x"}}},
            )

    def _roll_window(self, region: str, profile: RegionProfile) -> None:
        """Older sends leave the 24-hour window, so usage never runs past ~97 %."""
        if self.sent_last_24_hours(region) >= 0.97 * profile.quota:
            with self._lock:
                self._offset[region] -= 0.12 * profile.quota
