"""The ``identities`` collector: each verified identity's verification, DKIM and MAIL FROM.

What breaks sending without anything changing on the Account dashboard: a DNS change
breaks a domain's DKIM records (SES stops signing: mail goes to spam or is rejected); a
domain's verification lapses (TEMPORARY_FAILURE, then FAILED after 72 hours) and sending
from it stops; a custom MAIL FROM domain loses its MX record and SES falls back to its
own MAIL FROM domain, or rejects the mail (``BehaviorOnMxFailure``).

Sources:

* sesv2 ListEmailIdentities, every page at every poll (``PageSize`` 1000, the documented
  maximum): each identity's type, verification status and sending switch. A failing list
  fails the poll.
* sesv2 GetEmailIdentity, one call per identity, a budget of them per poll
  (``refresh.RefreshQueue``: 0.4 of the SES pace over one interval, never-read identities
  first, then those read longest ago): DKIM, MAIL FROM, the default configuration set and
  the last successful verification. At the default 5-minute interval and 1 request per
  second that is 119 identities per poll: 1,000 identities are all read within 9 polls
  (45 minutes) and then each again every 45 minutes; what is known is served meanwhile.

``collectors.identities.include`` / ``exclude`` (regular expressions matching the whole
identity name) bound the cardinality for accounts with thousands of identities: 5 to 7
series per identity (verification status, sending switch; once read: DKIM status, DKIM
signing switch, info, last verification success when AWS gives one, MAIL FROM status
when a custom MAIL FROM domain is set).

Statuses are one series per identity with the current status as its ``status`` label,
not one series per possible status: for thousands of identities that is five times
fewer series, and ``{status="FAILED"} == 1`` selects the same identities either way.

Sample exposition::

    aws_ses_identities{account_id="123456789012",region="eu-west-1",identity_type="DOMAIN"} 1.0
    aws_ses_identity_verification_status{account_id="123456789012",region="eu-west-1",
        identity="example.com",identity_type="DOMAIN",status="SUCCESS"} 1.0
    aws_ses_identity_dkim_status{account_id="123456789012",region="eu-west-1",
        identity="example.com",identity_type="DOMAIN",status="TEMPORARY_FAILURE"} 1.0
    aws_ses_identity_mail_from_status{account_id="123456789012",region="eu-west-1",
        behavior_on_mx_failure="USE_DEFAULT_VALUE",identity="example.com",
        identity_type="DOMAIN",mail_from_domain="bounce.example.com",status="FAILED"} 1.0
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Self

from prometheus_client.metrics_core import Metric

from ..aws import TargetClients, next_token_pages, unix_seconds
from ..config_types import CollectorConfig, Pattern, matches_any
from ..families import FamilyBuilder
from .base import Collector, TargetContext, register
from .refresh import RefreshQueue, refresh_budget

if TYPE_CHECKING:
    from mypy_boto3_sesv2 import SESV2Client

PAGE_SIZE = 1000  # ListEmailIdentities: "at least 0, and can be no more than 1000"
PACE_SHARE = 0.4  # of the target's SES pace (configuration_sets has 0.5; see refresh.py)
IDENTITY_TYPES = ("EMAIL_ADDRESS", "DOMAIN", "MANAGED_DOMAIN")  # always counted, 0 if none


class IdentitiesCollectorConfig(CollectorConfig):
    """``collectors.identities``: which identities to expose and count (regular
    expressions matching the whole identity name); the list call lists them all."""

    include: tuple[Pattern, ...] = (".*",)
    exclude: tuple[Pattern, ...] = ()

    def matches(self, identity: str) -> bool:
        return matches_any(self.include, identity) and not matches_any(self.exclude, identity)


@dataclass(frozen=True)
class ListedIdentity:
    """One entry of ListEmailIdentities."""

    name: str
    identity_type: str
    sending_enabled: bool | None  # None: AWS left the field out
    verification_status: str | None


@dataclass(frozen=True)
class IdentityDetails:
    """One GetEmailIdentity answer, as plain values (None: AWS left the field out)."""

    dkim_status: str | None
    dkim_signing_enabled: bool | None
    dkim_signing_attributes_origin: str
    mail_from_domain: str  # "" when no custom MAIL FROM domain is set
    mail_from_status: str | None
    behavior_on_mx_failure: str
    configuration_set: str
    verification_last_success: float | None  # unix seconds


def list_identity_pages(sesv2: SESV2Client) -> Iterator[list[ListedIdentity]]:
    """sesv2 ListEmailIdentities, one page per call (botocore has no paginator for it)."""
    request = {"PageSize": PAGE_SIZE}
    for answer in next_token_pages("ListEmailIdentities", sesv2.list_email_identities, request):
        yield [
            ListedIdentity(
                name=entry["IdentityName"],
                identity_type=entry.get("IdentityType", ""),
                sending_enabled=entry.get("SendingEnabled"),
                verification_status=entry.get("VerificationStatus"),
            )
            for entry in answer.get("EmailIdentities", [])
            if entry.get("IdentityName")
        ]


def fetch_identity(sesv2: SESV2Client, name: str) -> IdentityDetails:
    """sesv2 GetEmailIdentity -> details."""
    answer: Mapping[str, Any] = sesv2.get_email_identity(EmailIdentity=name)
    dkim = answer.get("DkimAttributes", {})
    mail_from = answer.get("MailFromAttributes", {})
    verification = answer.get("VerificationInfo", {})
    return IdentityDetails(
        dkim_status=dkim.get("Status"),
        dkim_signing_enabled=dkim.get("SigningEnabled"),
        dkim_signing_attributes_origin=dkim.get("SigningAttributesOrigin", ""),
        mail_from_domain=mail_from.get("MailFromDomain", ""),
        mail_from_status=mail_from.get("MailFromDomainStatus"),
        behavior_on_mx_failure=mail_from.get("BehaviorOnMxFailure", ""),
        configuration_set=answer.get("ConfigurationSetName", ""),
        verification_last_success=unix_seconds(verification.get("LastSuccessTimestamp")),
    )


LISTED = " Source: SES ListEmailIdentities."
READ = " Source: SES GetEmailIdentity; cached, each identity read again every few polls."

Labels = dict[str, str]
# name, help, (value, labels besides identity and identity_type) of a listed identity
# or None (AWS left the field out: no series).
LISTED_GAUGES: tuple[
    tuple[str, str, Callable[[ListedIdentity], tuple[float, Labels] | None]], ...
] = (
    (
        "aws_ses_identity_verification_status",
        "1 for the identity's current verification status (PENDING, SUCCESS, FAILED,"
        " TEMPORARY_FAILURE, NOT_STARTED): only SUCCESS may send; a domain in"
        " TEMPORARY_FAILURE becomes FAILED after 72 hours." + LISTED,
        lambda i: None if i.verification_status is None else (1, {"status": i.verification_status}),
    ),
    (
        "aws_ses_identity_sending_enabled",
        "1 if sending from the identity is enabled (SendingEnabled)." + LISTED,
        lambda i: None if i.sending_enabled is None else (float(i.sending_enabled), {}),
    ),
)
# The same, of an identity's GetEmailIdentity details.
READ_GAUGES: tuple[
    tuple[str, str, Callable[[IdentityDetails], tuple[float, Labels] | None]], ...
] = (
    (
        "aws_ses_identity_dkim_status",
        "1 for the identity's current DKIM status (DkimAttributes.Status: PENDING, SUCCESS,"
        " FAILED, TEMPORARY_FAILURE, NOT_STARTED); SES signs only in SUCCESS." + READ,
        lambda d: None if d.dkim_status is None else (1, {"status": d.dkim_status}),
    ),
    (
        "aws_ses_identity_dkim_signing_enabled",
        "1 if DKIM signing is enabled for the identity (DkimAttributes.SigningEnabled)." + READ,
        lambda d: None if d.dkim_signing_enabled is None else (float(d.dkim_signing_enabled), {}),
    ),
    (
        "aws_ses_identity_mail_from_status",
        "1 for the status of the identity's custom MAIL FROM domain"
        " (MailFromAttributes.MailFromDomainStatus: PENDING, SUCCESS, FAILED,"
        " TEMPORARY_FAILURE); behavior_on_mx_failure is what SES does while its MX record is"
        " missing: USE_DEFAULT_VALUE sends from amazonses.com, REJECT_MESSAGE rejects the"
        " mail." + READ,
        lambda d: (
            None
            if not d.mail_from_domain or d.mail_from_status is None
            else (
                1,
                {
                    "mail_from_domain": d.mail_from_domain,
                    "behavior_on_mx_failure": d.behavior_on_mx_failure,
                    "status": d.mail_from_status,
                },
            )
        ),
    ),
    (
        "aws_ses_identity_info",
        "1 for each identity read: its default configuration set (ConfigurationSetName,"
        ' "" if none) and where its DKIM keys come from'
        " (DkimAttributes.SigningAttributesOrigin: AWS_SES, EXTERNAL, ...)." + READ,
        lambda d: (
            1,
            {
                "configuration_set": d.configuration_set,
                "dkim_signing_attributes_origin": d.dkim_signing_attributes_origin,
            },
        ),
    ),
    (
        "aws_ses_identity_verification_last_success_timestamp_seconds",
        "When SES last verified the identity successfully, in unix seconds"
        " (VerificationInfo.LastSuccessTimestamp)." + READ,
        lambda d: (
            None if d.verification_last_success is None else (d.verification_last_success, {})
        ),
    ),
)


def identity_families(
    listed: Iterable[ListedIdentity],
    details: Mapping[str, IdentityDetails],
    labels: Mapping[str, str],
) -> list[Metric]:
    """The identities passing the filter (and what is known of each) -> families."""
    b = FamilyBuilder(labels)
    ordered = sorted(listed, key=lambda i: (i.identity_type, i.name))
    counts = Counter(i.identity_type for i in ordered)
    for identity_type in sorted(set(IDENTITY_TYPES) | set(counts)):
        b.gauge(
            "aws_ses_identities",
            "Identities (email addresses and domains) that pass the include/exclude filter,"
            " by type." + LISTED,
            counts[identity_type],
            {"identity_type": identity_type},
        )
    for name, doc, listed_value in LISTED_GAUGES:
        for i in ordered:
            if (found := listed_value(i)) is not None:
                b.gauge(name, doc, found[0], {**_of(i), **found[1]})
    known = [(i, details[i.name]) for i in ordered if i.name in details]
    for name, doc, read_value in READ_GAUGES:
        for i, d in known:
            if (found := read_value(d)) is not None:
                b.gauge(name, doc, found[0], {**_of(i), **found[1]})
    return b.families()


def _of(identity: ListedIdentity) -> dict[str, str]:
    return {"identity": identity.name, "identity_type": identity.identity_type}


@dataclass(frozen=True)
class IdentitiesSettings:
    """What the identities collector is configured with; replaced whole on a reload."""

    config: IdentitiesCollectorConfig  # collectors.identities: interval, include, exclude
    requests_per_second: float  # the account's ses_requests_per_second (the SES pace)


@register
class IdentitiesCollector(Collector):
    name = "identities"
    title = "identities: verification, DKIM, MAIL FROM (ListEmailIdentities, GetEmailIdentity)"
    default_interval = 300.0
    config_model = IdentitiesCollectorConfig

    def __init__(self, clients: TargetClients, settings: IdentitiesSettings):
        super().__init__(clients)
        self.settings = settings
        self._details = RefreshQueue(
            "GetEmailIdentity", lambda name: fetch_identity(self.clients.sesv2, name), self.log
        )
        self.pending = 0  # identities passing the filter not read yet, as of the last poll

    @classmethod
    def build(cls, target: TargetContext, section: CollectorConfig, existing: Self | None) -> Self:
        assert isinstance(section, IdentitiesCollectorConfig)
        settings = IdentitiesSettings(section, target.ses_requests_per_second)
        if existing is None:
            return cls(target.clients, settings)
        existing.settings = settings  # what is known of the identities is kept
        return existing

    def poll(self, labels: Mapping[str, str]) -> list[Metric]:
        pages = list(list_identity_pages(self.clients.sesv2))
        listed = {i.name: i for page in pages for i in page}  # a name twice: the last
        config, rate = self.settings.config, self.settings.requests_per_second
        wanted = [i for i in listed.values() if config.matches(i.name)]
        names = [i.name for i in wanted]
        self._details.keep_only(set(names))
        budget = refresh_budget(config.interval, rate, len(pages), PACE_SHARE)
        context = {"account": labels.get("account_id"), "region": self.clients.region}
        deleted = self._details.refresh(self._details.due(names)[:budget], context)
        wanted = [i for i in wanted if i.name not in deleted]
        self.pending = self._details.pending(i.name for i in wanted)
        return identity_families(wanted, self._details.known, labels)
