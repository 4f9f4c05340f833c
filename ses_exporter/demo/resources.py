"""What SES keeps for the demo account besides its mail: identities, dedicated IPs and
the suppression list, and how each of them moves while the demo runs.

Pure bookkeeping over time, no AWS (as ``traffic``): ``world.DemoWorld`` creates the
identities and the pools in moto and answers from here the sesv2 calls moto lacks or
answers unlike AWS (every answer is checked against the botocore model by
``responders``). Times are seconds since the world started (``elapsed``).

Identities, the same in every region:

* ``demo.example.com`` (the senders' domain): verified, Easy DKIM SUCCESS, custom MAIL
  FROM ``bounce.demo.example.com`` SUCCESS with REJECT_MESSAGE;
* ``marketing.example.org``: verified through Easy DKIM, whose CNAME records vanish
  ``DKIM_BREAKS_AFTER`` (3 minutes) in: DKIM and verification status TEMPORARY_FAILURE,
  still sending; ``DKIM_FAILS_AFTER`` (10 minutes) in, FAILED (SES gives up after 72
  hours; the demo after seven minutes), and it can no longer send. It stays FAILED;
* ``newsletters.example.org``: verified, DKIM SUCCESS, MAIL FROM
  ``bounce.newsletters.example.org`` FAILED (its MX record was never published) with
  USE_DEFAULT_VALUE, so SES sends with its own MAIL FROM domain;
* ``noreply@demo.example.com`` (the traffic's sender): verified;
* ``ops@example.net``: PENDING (the verification mail was never clicked), cannot send.

Dedicated IPs, in ``us-east-1`` only: the STANDARD pool ``transactional-ips`` with
198.51.100.10 (warm-up DONE) and 198.51.100.11, warming up from 37 % one point a minute
(DONE at 100 %, 63 minutes in); the MANAGED pool ``marketing-managed`` with 198.51.100.25,
whose warm-up SES handles (NOT_APPLICABLE, WarmupPercentage -1, as AWS answers).

The suppression list (account level, per region): a few thousand addresses from the
year before the demo started (``RegionProfile.suppressed_at_start``), then one more
address per bounce (reason BOUNCE) and per complaint (COMPLAINT) of the live traffic,
for the reasons GetAccount's SuppressionAttributes lists.
"""

from __future__ import annotations

import base64
import binascii
import json
import random
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

from botocore.utils import parse_to_aware_datetime

from .responders import SimulatedError

T = TypeVar("T")

DKIM_BREAKS_AFTER = 180.0  # seconds after start: marketing.example.org's CNAMEs vanish
DKIM_FAILS_AFTER = 600.0  # ... and SES stops retrying: FAILED
CHECK_SECONDS = 60  # SES re-checks DNS records every few hours; the demo every minute
KNOWN_SINCE = 90 * 86_400  # the verified identities were verified this long before start
WARMUP_START_PERCENT = 37
WARMUP_POINTS_PER_MINUTE = 1
DEFAULT_PAGE_SIZE = 100  # the API reference gives no default; the demo's choice
MAX_PAGE_SIZE = 1000


@dataclass(frozen=True)
class IdentitySpec:
    name: str
    verified: bool = True  # False: PENDING, as an email address whose link was not clicked
    configuration_set: str | None = None
    mail_from: str | None = None
    mail_from_status: str = "SUCCESS"
    mail_from_behavior: str = "USE_DEFAULT_VALUE"
    dkim_breaks: bool = False  # the Easy DKIM CNAMEs vanish at DKIM_BREAKS_AFTER

    @property
    def identity_type(self) -> str:
        return "EMAIL_ADDRESS" if "@" in self.name else "DOMAIN"


IDENTITIES = (
    IdentitySpec(
        "demo.example.com",
        configuration_set="transactional",
        mail_from="bounce.demo.example.com",
        mail_from_behavior="REJECT_MESSAGE",
    ),
    IdentitySpec("marketing.example.org", configuration_set="marketing", dkim_breaks=True),
    IdentitySpec(
        "newsletters.example.org",
        configuration_set="newsletters",
        mail_from="bounce.newsletters.example.org",
        mail_from_status="FAILED",
    ),
    IdentitySpec("noreply@demo.example.com"),
    IdentitySpec("ops@example.net", verified=False),
)


def verification_status(spec: IdentitySpec, elapsed: float) -> str:
    """A domain verified through Easy DKIM has the status of its DKIM records."""
    if not spec.verified:
        return "PENDING"
    if spec.identity_type == "DOMAIN":
        return dkim_status(spec, elapsed)
    return "SUCCESS"


def dkim_status(spec: IdentitySpec, elapsed: float) -> str:
    if spec.identity_type != "DOMAIN":
        return "NOT_STARTED"  # as moto and AWS answer for an address: DKIM is the domain's
    if spec.dkim_breaks and elapsed >= DKIM_FAILS_AFTER:
        return "FAILED"
    if spec.dkim_breaks and elapsed >= DKIM_BREAKS_AFTER:
        return "TEMPORARY_FAILURE"
    return "SUCCESS"


def can_send(spec: IdentitySpec, elapsed: float) -> bool:
    """SES keeps sending through a TEMPORARY_FAILURE; FAILED and PENDING cannot send."""
    return verification_status(spec, elapsed) in ("SUCCESS", "TEMPORARY_FAILURE")


def identity_info(spec: IdentitySpec, elapsed: float) -> dict[str, Any]:
    """One entry of ListEmailIdentities."""
    return {
        "IdentityType": spec.identity_type,
        "IdentityName": spec.name,
        "SendingEnabled": can_send(spec, elapsed),
        "VerificationStatus": verification_status(spec, elapsed),
    }


def _at(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


def _dkim_tokens(name: str) -> list[str]:
    rng = random.Random(name)  # noqa: S311 - stable names, not secrets
    alphabet = "abcdefghijklmnopqrstuvwxyz234567"
    return ["".join(rng.choice(alphabet) for _ in range(32)) for _ in range(3)]


def email_identity(spec: IdentitySpec, started: float, now: float) -> dict[str, Any]:
    """A GetEmailIdentity answer."""
    elapsed = now - started
    status = verification_status(spec, elapsed)
    last_check = now // CHECK_SECONDS * CHECK_SECONDS
    info: dict[str, Any] = {"LastCheckedTimestamp": _at(last_check)}
    if spec.verified:
        last_good = now if not spec.dkim_breaks else min(now, started + DKIM_BREAKS_AFTER - 1)
        info["LastSuccessTimestamp"] = _at(last_good // CHECK_SECONDS * CHECK_SECONDS)
    if status in ("TEMPORARY_FAILURE", "FAILED"):
        info["ErrorType"] = "HOST_NOT_FOUND"  # the CNAME records are gone
    if spec.identity_type == "DOMAIN":
        dkim: dict[str, Any] = {
            "SigningEnabled": True,
            "Status": dkim_status(spec, elapsed),
            "Tokens": _dkim_tokens(spec.name),
            "SigningAttributesOrigin": "AWS_SES",
            "NextSigningKeyLength": "RSA_2048_BIT",
            "CurrentSigningKeyLength": "RSA_2048_BIT",
            "LastKeyGenerationTimestamp": _at(started - KNOWN_SINCE),
        }
    else:
        dkim = {
            "SigningEnabled": False,
            "Status": "NOT_STARTED",
            "SigningAttributesOrigin": "AWS_SES",
            "NextSigningKeyLength": "RSA_1024_BIT",
        }
    answer: dict[str, Any] = {
        "IdentityType": spec.identity_type,
        "FeedbackForwardingStatus": True,
        "VerifiedForSendingStatus": can_send(spec, elapsed),
        "DkimAttributes": dkim,
        "Policies": {},
        "Tags": [],
        "VerificationStatus": status,
        "VerificationInfo": info,
    }
    if spec.configuration_set:
        answer["ConfigurationSetName"] = spec.configuration_set
    if spec.mail_from:
        answer["MailFromAttributes"] = {
            "MailFromDomain": spec.mail_from,
            "MailFromDomainStatus": spec.mail_from_status,
            "BehaviorOnMxFailure": spec.mail_from_behavior,
        }
    return answer


# --- dedicated IPs ---------------------------------------------------------------------


@dataclass(frozen=True)
class DedicatedIpSpec:
    ip: str
    pool: str
    warm_at_start: int | None  # None: in a MANAGED pool, SES warms it up


ScalingMode = Literal["STANDARD", "MANAGED"]
DEDICATED_IP_POOLS: Mapping[str, Sequence[tuple[str, ScalingMode]]] = {
    "us-east-1": (("transactional-ips", "STANDARD"), ("marketing-managed", "MANAGED")),
}
DEDICATED_IPS: Mapping[str, Sequence[DedicatedIpSpec]] = {
    "us-east-1": (
        DedicatedIpSpec("198.51.100.10", "transactional-ips", 100),
        DedicatedIpSpec("198.51.100.11", "transactional-ips", WARMUP_START_PERCENT),
        DedicatedIpSpec("198.51.100.25", "marketing-managed", None),
    ),
}


def warmup_percentage(spec: DedicatedIpSpec, elapsed: float) -> int:
    if spec.warm_at_start is None:
        return -1
    climbed = int(max(elapsed, 0.0) // 60) * WARMUP_POINTS_PER_MINUTE
    return min(100, spec.warm_at_start + climbed)


def dedicated_ip(spec: DedicatedIpSpec, elapsed: float) -> dict[str, Any]:
    """One entry of GetDedicatedIps."""
    percent = warmup_percentage(spec, elapsed)
    if spec.warm_at_start is None:
        status = "NOT_APPLICABLE"
    else:
        status = "DONE" if percent >= 100 else "IN_PROGRESS"
    return {
        "Ip": spec.ip,
        "WarmupStatus": status,
        "WarmupPercentage": percent,
        "PoolName": spec.pool,
    }


# --- paging ----------------------------------------------------------------------------


def page(
    items: Sequence[T], params: Mapping[str, Any], listing: str
) -> tuple[Sequence[T], str | None]:
    """One page of ``items`` for ``PageSize`` and ``NextToken``, and the next token (None on
    the last page). The token is opaque to callers; one from another listing, or made up,
    is answered as AWS does, with BadRequestException / InvalidNextTokenException."""
    size = params.get("PageSize", DEFAULT_PAGE_SIZE)
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise SimulatedError("BadRequestException", f"PageSize must be 1 to {MAX_PAGE_SIZE}")
    start = 0
    if params.get("NextToken"):
        start = _position(str(params["NextToken"]), listing)
    end = start + size
    token = None
    if end < len(items):
        raw = json.dumps({"listing": listing, "position": end}).encode()
        token = base64.urlsafe_b64encode(raw).decode()
    return items[start:end], token


def _position(token: str, listing: str) -> int:
    try:
        decoded = json.loads(base64.urlsafe_b64decode(token.encode()))
        position = decoded["position"]
        if decoded["listing"] == listing and isinstance(position, int) and position >= 0:
            return position
    except (binascii.Error, ValueError, KeyError, TypeError):
        pass
    code = "InvalidNextTokenException" if listing == "suppression" else "BadRequestException"
    raise SimulatedError(code, "The NextToken is not valid.")


# --- the suppression list --------------------------------------------------------------


@dataclass(frozen=True)
class Suppressed:
    address: str
    reason: str  # BOUNCE or COMPLAINT
    at: float  # LastUpdateTime


RECIPIENT_DOMAINS = ("example.com", "example.net", "example.org")
COMPLAINT_SHARE_AT_START = 0.08
SUPPRESSED_SINCE = 365 * 86_400


class SuppressionList:
    """One region's account-level suppression list, oldest entry first. Only ever grows
    (an address once suppressed stays: nobody removes them in the demo), so a NextToken
    (a position in the filtered list) stays valid while the list grows."""

    def __init__(self, seed: int, region: str, size: int, reasons: Sequence[str], now: float):
        rng = random.Random(f"{seed}-{region}-suppression")  # noqa: S311 - simulation
        self.reasons = tuple(reasons)
        self._lock = threading.Lock()
        self._entries: list[Suppressed] = []
        times = sorted(now - rng.uniform(0, SUPPRESSED_SINCE) for _ in range(size))
        for t in times:
            complaint = "COMPLAINT" in self.reasons and rng.random() < COMPLAINT_SHARE_AT_START
            self._append("COMPLAINT" if complaint else "BOUNCE", t)

    def _append(self, reason: str, at: float) -> None:
        n = len(self._entries)
        domain = RECIPIENT_DOMAINS[n % len(RECIPIENT_DOMAINS)]
        self._entries.append(Suppressed(f"recipient{n:07d}@{domain}", reason, at))

    def add(self, bounces: int, complaints: int, now: float) -> None:
        """SES suppresses an address on a (hard) bounce or a complaint, if the account
        suppresses for that reason."""
        with self._lock:
            for reason, count in (("BOUNCE", bounces), ("COMPLAINT", complaints)):
                if reason in self.reasons:
                    for _ in range(count):
                        self._append(reason, now)

    def counts(self) -> dict[str, int]:
        with self._lock:
            entries = list(self._entries)
        return {
            reason: sum(1 for e in entries if e.reason == reason)
            for reason in ("BOUNCE", "COMPLAINT")
        }

    def list_suppressed_destinations(self, params: Mapping[str, Any]) -> Mapping[str, Any]:
        """A ListSuppressedDestinations answer. Reasons, StartDate (inclusive) and EndDate
        (exclusive) filter on the reason and the LastUpdateTime; paging as ``page``."""
        reasons = set(params.get("Reasons") or ("BOUNCE", "COMPLAINT"))
        start = _seconds(params.get("StartDate"), float("-inf"))
        end = _seconds(params.get("EndDate"), float("inf"))
        if start > end:
            raise SimulatedError("BadRequestException", "StartDate is after EndDate")
        with self._lock:
            matching = [e for e in self._entries if e.reason in reasons and start <= e.at < end]
        entries, token = page(matching, params, "suppression")
        answer: dict[str, Any] = {
            "SuppressedDestinationSummaries": [
                {"EmailAddress": e.address, "Reason": e.reason, "LastUpdateTime": _at(e.at)}
                for e in entries
            ]
        }
        if token:
            answer["NextToken"] = token
        return answer


def _seconds(value: Any, default: float) -> float:
    """A timestamp as botocore takes it (datetime, ISO string or epoch) in epoch seconds."""
    if value is None:
        return default
    return parse_to_aware_datetime(value).timestamp()
