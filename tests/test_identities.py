"""The identities collector: source functions, families, then budgeted polls.

Clients are paced at 1000 requests/s so the tests never wait; the account config's
``ses_requests_per_second`` (1 here, as in production) only sets the refresh budget:
with the default 300 s interval that is floor(0.4 x 300 x 1) = 120 calls per poll, list
pages included. moto answers ListEmailIdentities and GetEmailIdentity, but every
identity's DKIM is NOT_STARTED there and it has no MAIL FROM: those fields are checked
with Stubber (which validates each answer against the botocore model) or the fake.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from ses_exporter.aws import ClientFactory, RequestCounter, TargetClients
from ses_exporter.collectors.identities import (
    IdentitiesCollector,
    IdentitiesCollectorConfig,
    IdentitiesSettings,
    IdentityDetails,
    ListedIdentity,
    fetch_identity,
    identity_families,
    list_identity_pages,
)
from ses_exporter.collectors.refresh import refresh_budget
from ses_exporter.config import parse_config
from ses_exporter.targets import build_targets
from tests.fakes import FakeAccountApi
from tests.helpers import Values, config_for, make_target, paced_clients, record_calls, values

REGION = "eu-west-1"
LABELS = {"account_id": "123456789012", "region": REGION}
VERIFIED = datetime(2026, 11, 20, tzinfo=UTC)  # 1795132800
CHECKED = datetime(2026, 12, 1, tzinfo=UTC)
DKIM_STATUS = "aws_ses_identity_dkim_status"


def per_identity(got: Values, metric: str) -> dict[str, float]:
    return {dict(k[1])["identity"]: v for k, v in got.items() if k[0] == metric}


def labels_of(got: Values, metric: str) -> dict[str, dict[str, str]]:
    """{identity: its labels other than the target's} of one family."""
    return {dict(k[1])["identity"]: dict(k[1]) for k in got if k[0] == metric}


def counts(got: Values) -> dict[str, float]:
    return {dict(k[1])["identity_type"]: v for k, v in got.items() if k[0] == "aws_ses_identities"}


def dkim(got: Values) -> dict[str, str]:
    """{identity: its DKIM status} of the identities read."""
    return {i: labels["status"] for i, labels in labels_of(got, DKIM_STATUS).items()}


def make_collector(
    clients: TargetClients, interval: str = "300s", rate: float = 1, filters: str = ""
) -> IdentitiesCollector:
    config = parse_config(
        f"accounts:\n  - regions: [{REGION}]\n    ses_requests_per_second: {rate}\n"
        f"collectors:\n  identities: {{interval: {interval}{filters}}}\n"
    )
    section = config.collectors.get("identities")
    assert isinstance(section, IdentitiesCollectorConfig)
    settings = IdentitiesSettings(section, config.accounts[0].ses_requests_per_second)
    return IdentitiesCollector(clients, settings)


def calls(counter: RequestCounter, before: dict[tuple[str, str, str], int]) -> dict[str, int]:
    """AWS calls by operation since ``before`` (a counter snapshot)."""
    out: dict[str, int] = {}
    for key, n in counter.snapshot().items():
        operation = key[1]
        out[operation] = out.get(operation, 0) + n - before.get(key, 0)
    return {op: n for op, n in out.items() if n}


def listed(name: str, kind: str = "DOMAIN", status: str = "SUCCESS") -> dict[str, Any]:
    """One ListEmailIdentities entry as AWS gives it."""
    return {
        "IdentityType": kind,
        "IdentityName": name,
        "SendingEnabled": True,
        "VerificationStatus": status,
    }


def get_answer(dkim_status: str = "SUCCESS", configuration_set: str = "") -> dict[str, Any]:
    """A GetEmailIdentity answer of a verified domain without a custom MAIL FROM."""
    answer: dict[str, Any] = {
        "IdentityType": "DOMAIN",
        "FeedbackForwardingStatus": True,
        "VerifiedForSendingStatus": True,
        "DkimAttributes": {
            "SigningEnabled": True,
            "Status": dkim_status,
            "SigningAttributesOrigin": "AWS_SES",
        },
        "Policies": {},
        "VerificationStatus": "SUCCESS",
    }
    if configuration_set:
        answer["ConfigurationSetName"] = configuration_set
    return answer


# Every member of GetEmailIdentity's answer, as AWS gives it for a domain with Easy DKIM
# in trouble and a custom MAIL FROM domain whose MX record is missing.
FULL_ANSWER: dict[str, Any] = {
    "IdentityType": "DOMAIN",
    "FeedbackForwardingStatus": True,
    "VerifiedForSendingStatus": True,
    "DkimAttributes": {
        "SigningEnabled": True,
        "Status": "TEMPORARY_FAILURE",
        "Tokens": ["abcdefgh", "ijklmnop", "qrstuvwx"],
        "SigningAttributesOrigin": "AWS_SES",
        "NextSigningKeyLength": "RSA_2048_BIT",
        "CurrentSigningKeyLength": "RSA_2048_BIT",
        "LastKeyGenerationTimestamp": datetime(2026, 1, 5, tzinfo=UTC),
    },
    "MailFromAttributes": {
        "MailFromDomain": "bounce.example.com",
        "MailFromDomainStatus": "FAILED",
        "BehaviorOnMxFailure": "REJECT_MESSAGE",
    },
    "Policies": {"sender": '{"Version":"2012-10-17","Statement":[]}'},
    "Tags": [{"Key": "team", "Value": "growth"}],
    "ConfigurationSetName": "marketing",
    "VerificationStatus": "SUCCESS",
    "VerificationInfo": {
        "LastCheckedTimestamp": CHECKED,
        "LastSuccessTimestamp": VERIFIED,
        "ErrorType": "DNS_SERVER_ERROR",
        "SOARecord": {
            "PrimaryNameServer": "ns-1.awsdns-01.org",
            "AdminEmail": "hostmaster.example.com",
            "SerialNumber": 2026112001,
        },
    },
}


@pytest.fixture
def sesv2() -> Iterator[Any]:
    yield boto3.client(
        "sesv2", region_name=REGION, aws_access_key_id="a", aws_secret_access_key="b"
    )


# --- source functions -------------------------------------------------------------------


def test_list_sends_page_size_1000_and_follows_next_token_exactly(sesv2: Any) -> None:
    """Stubber checks the exact parameters of each call."""
    with Stubber(sesv2) as stub:
        stub.add_response(
            "list_email_identities",
            {
                "EmailIdentities": [
                    listed("a.example.com"),
                    listed("b@example.com", "EMAIL_ADDRESS"),
                ],
                "NextToken": "tok-1",
            },
            {"PageSize": 1000},
        )
        stub.add_response(
            "list_email_identities",
            # Every member of IdentityInfo is optional in the model: what is left out is
            # None (no series), and an entry without a name is no identity.
            {"EmailIdentities": [{"IdentityName": "c.example.com"}, {"IdentityType": "DOMAIN"}]},
            {"PageSize": 1000, "NextToken": "tok-1"},
        )
        pages = list(list_identity_pages(sesv2))
        stub.assert_no_pending_responses()
    assert pages == [
        [
            ListedIdentity("a.example.com", "DOMAIN", True, "SUCCESS"),
            ListedIdentity("b@example.com", "EMAIL_ADDRESS", True, "SUCCESS"),
        ],
        [ListedIdentity("c.example.com", "", None, None)],
    ]


def test_list_ends_on_an_empty_token_and_an_empty_answer(sesv2: Any) -> None:
    with Stubber(sesv2) as stub:
        stub.add_response(
            "list_email_identities", {"EmailIdentities": [listed("a.com")], "NextToken": ""}
        )
        assert [len(page) for page in list_identity_pages(sesv2)] == [1]
        stub.add_response("list_email_identities", {})
        assert list(list_identity_pages(sesv2)) == [[]]
        stub.assert_no_pending_responses()


def test_list_refuses_a_looping_token(sesv2: Any) -> None:
    with Stubber(sesv2) as stub:
        for name in ("a.com", "b.com"):
            stub.add_response(
                "list_email_identities", {"EmailIdentities": [listed(name)], "NextToken": "t"}
            )
        with pytest.raises(RuntimeError, match="NextToken 't' twice"):
            list(list_identity_pages(sesv2))
        stub.assert_no_pending_responses()


def test_fetch_reads_every_field_of_a_real_shaped_answer(sesv2: Any) -> None:
    with Stubber(sesv2) as stub:  # the answer is checked against botocore's model
        stub.add_response("get_email_identity", FULL_ANSWER, {"EmailIdentity": "example.com"})
        details = fetch_identity(sesv2, "example.com")
    assert details == IdentityDetails(
        dkim_status="TEMPORARY_FAILURE",
        dkim_signing_enabled=True,
        dkim_signing_attributes_origin="AWS_SES",
        mail_from_domain="bounce.example.com",
        mail_from_status="FAILED",
        behavior_on_mx_failure="REJECT_MESSAGE",
        configuration_set="marketing",
        verification_last_success=VERIFIED.timestamp(),
    )
    got = values(
        identity_families(
            [ListedIdentity("example.com", "DOMAIN", True, "SUCCESS")],
            {"example.com": details},
            LABELS,
        )
    )
    of = (("identity", "example.com"), ("identity_type", "DOMAIN"))
    assert got == {
        ("aws_ses_identities", (("identity_type", "DOMAIN"),)): 1,
        ("aws_ses_identities", (("identity_type", "EMAIL_ADDRESS"),)): 0,
        ("aws_ses_identities", (("identity_type", "MANAGED_DOMAIN"),)): 0,
        ("aws_ses_identity_verification_status", (*of, ("status", "SUCCESS"))): 1,
        ("aws_ses_identity_sending_enabled", of): 1,
        (DKIM_STATUS, (*of, ("status", "TEMPORARY_FAILURE"))): 1,
        ("aws_ses_identity_dkim_signing_enabled", of): 1,
        (
            "aws_ses_identity_mail_from_status",
            (
                ("behavior_on_mx_failure", "REJECT_MESSAGE"),
                *of,
                ("mail_from_domain", "bounce.example.com"),
                ("status", "FAILED"),
            ),
        ): 1,
        (
            "aws_ses_identity_info",
            (
                ("configuration_set", "marketing"),
                ("dkim_signing_attributes_origin", "AWS_SES"),
                *of,
            ),
        ): 1,
        ("aws_ses_identity_verification_last_success_timestamp_seconds", of): 1795132800,
    }


@pytest.mark.parametrize(
    "answer",
    [
        {},  # every member is optional in the model
        {"IdentityType": "EMAIL_ADDRESS", "VerificationStatus": "PENDING", "Policies": {}},
        {"DkimAttributes": {}, "VerificationInfo": {"LastCheckedTimestamp": CHECKED}},
    ],
)
def test_fetch_absent_fields_leave_their_series_out(sesv2: Any, answer: dict[str, Any]) -> None:
    with Stubber(sesv2) as stub:
        stub.add_response("get_email_identity", answer, {"EmailIdentity": "new@example.com"})
        details = fetch_identity(sesv2, "new@example.com")
    assert details == IdentityDetails(None, None, "", "", None, "", "", None)
    identity = ListedIdentity("new@example.com", "EMAIL_ADDRESS", True, "PENDING")
    got = values(identity_families([identity], {"new@example.com": details}, LABELS))
    names = {name for name, _ in got}
    assert names == {
        "aws_ses_identities",
        "aws_ses_identity_verification_status",
        "aws_ses_identity_sending_enabled",
        "aws_ses_identity_info",  # read: its configuration set is "" and origin unknown
    }
    info = labels_of(got, "aws_ses_identity_info")["new@example.com"]
    assert (info["configuration_set"], info["dkim_signing_attributes_origin"]) == ("", "")


def test_fetch_against_moto(aws: None) -> None:
    client = boto3.client("sesv2", region_name=REGION)
    client.create_email_identity(EmailIdentity="example.com")
    details = fetch_identity(client, "example.com")
    # moto 5.2 answers DKIM NOT_STARTED, signing off, for every identity, and no MAIL FROM.
    assert (details.dkim_status, details.dkim_signing_enabled) == ("NOT_STARTED", False)
    assert (details.mail_from_domain, details.mail_from_status) == ("", None)
    assert details.configuration_set == ""
    with pytest.raises(ClientError, match="NotFoundException"):
        fetch_identity(client, "missing.example.com")


@pytest.mark.parametrize(
    ("interval", "rate", "pages", "budget"),
    [
        (300, 1, 1, 119),  # the defaults: 1,000 identities are all read within 9 polls
        (300, 1, 3, 117),
        (60, 10, 1, 239),
        (2, 1, 1, 1),  # always at least one, or a short interval would never progress
    ],
)
def test_refresh_budget_at_the_identities_share(
    interval: float, rate: float, pages: int, budget: int
) -> None:
    assert refresh_budget(interval, rate, pages, 0.4) == budget


def details(
    dkim_status: str | None = "SUCCESS",
    mail_from: tuple[str, str | None] = ("", None),
    configuration_set: str = "",
) -> IdentityDetails:
    return IdentityDetails(
        dkim_status=dkim_status,
        dkim_signing_enabled=dkim_status is not None,
        dkim_signing_attributes_origin="AWS_SES",
        mail_from_domain=mail_from[0],
        mail_from_status=mail_from[1],
        behavior_on_mx_failure="USE_DEFAULT_VALUE" if mail_from[0] else "",
        configuration_set=configuration_set,
        verification_last_success=None,
    )


def test_families_one_status_series_per_identity_and_counts_with_zeros() -> None:
    identities = [
        ListedIdentity("z.example.com", "DOMAIN", True, "TEMPORARY_FAILURE"),
        ListedIdentity("a.example.com", "DOMAIN", False, "SUCCESS"),
        ListedIdentity("ops@example.com", "EMAIL_ADDRESS", True, "PENDING"),
        ListedIdentity("unread.example.com", "DOMAIN", True, "SUCCESS"),
    ]
    known = {
        "z.example.com": details("FAILED", ("bounce.z.example.com", "PENDING"), "marketing"),
        "a.example.com": details("SUCCESS"),
        "ops@example.com": details("NOT_STARTED"),
        "gone.example.com": details(),  # known but no longer listed: not exposed
    }
    families = identity_families(identities, known, LABELS)
    got = values(families)
    assert counts(got) == {"DOMAIN": 3, "EMAIL_ADDRESS": 1, "MANAGED_DOMAIN": 0}
    verification = labels_of(got, "aws_ses_identity_verification_status")
    assert {i: v["status"] for i, v in verification.items()} == {
        "a.example.com": "SUCCESS",
        "ops@example.com": "PENDING",
        "unread.example.com": "SUCCESS",
        "z.example.com": "TEMPORARY_FAILURE",
    }
    assert set(per_identity(got, "aws_ses_identity_verification_status").values()) == {1}
    assert per_identity(got, "aws_ses_identity_sending_enabled") == {
        "a.example.com": 0,
        "ops@example.com": 1,
        "unread.example.com": 1,
        "z.example.com": 1,
    }
    # Read identities only; one series each with the current status.
    assert dkim(got) == {
        "a.example.com": "SUCCESS",
        "ops@example.com": "NOT_STARTED",
        "z.example.com": "FAILED",
    }
    # MAIL FROM only where a custom MAIL FROM domain is set.
    assert labels_of(got, "aws_ses_identity_mail_from_status") == {
        "z.example.com": {
            "identity": "z.example.com",
            "identity_type": "DOMAIN",
            "mail_from_domain": "bounce.z.example.com",
            "behavior_on_mx_failure": "USE_DEFAULT_VALUE",
            "status": "PENDING",
        }
    }
    info = labels_of(got, "aws_ses_identity_info")
    assert {i: v["configuration_set"] for i, v in info.items()} == {
        "a.example.com": "",
        "ops@example.com": "",
        "z.example.com": "marketing",
    }
    assert not per_identity(got, "aws_ses_identity_verification_last_success_timestamp_seconds")
    # Stable order: by type, then name.
    verification_family = next(
        f for f in families if f.name == "aws_ses_identity_verification_status"
    )
    assert [s.labels["identity"] for s in verification_family.samples] == [
        "a.example.com",
        "unread.example.com",
        "z.example.com",
        "ops@example.com",
    ]
    assert all(s.labels["account_id"] == "123456789012" for f in families for s in f.samples)
    sources = {f.name: f.documentation.split("Source: SES ")[1] for f in families}
    for name in ("identities", "identity_verification_status", "identity_sending_enabled"):
        assert sources[f"aws_ses_{name}"] == "ListEmailIdentities."
    for name in ("dkim_status", "dkim_signing_enabled", "mail_from_status", "info"):
        assert sources[f"aws_ses_identity_{name}"].startswith("GetEmailIdentity; cached")


def test_no_identities_gives_zero_counts_and_no_other_family() -> None:
    assert values(identity_families([], {}, LABELS)) == {
        ("aws_ses_identities", (("identity_type", "DOMAIN"),)): 0,
        ("aws_ses_identities", (("identity_type", "EMAIL_ADDRESS"),)): 0,
        ("aws_ses_identities", (("identity_type", "MANAGED_DOMAIN"),)): 0,
    }


# --- the collector ----------------------------------------------------------------------


def test_1000_identities_first_poll_reads_119_later_polls_the_rest_then_the_oldest(
    aws: None,
) -> None:
    counter = RequestCounter()
    clients = paced_clients(counter, REGION)
    names = [f"id-{i:04d}.example.com" for i in range(1000)]
    for name in names:
        clients.sesv2.create_email_identity(EmailIdentity=name)
    collector = make_collector(clients)  # 300 s at 1 request/s: 0.4 x 300 - 1 page = 119
    gets = record_calls(clients, "GetEmailIdentity", "EmailIdentity")
    for poll in range(9):
        before = counter.snapshot()
        gets.clear()
        got = values(collector.poll(LABELS))
        if poll < 8:
            assert gets == names[poll * 119 : (poll + 1) * 119], f"poll {poll}"
        else:  # the 48 never read, then the 71 read longest ago
            assert gets == names[952:] + names[:71]
        assert calls(counter, before) == {"ListEmailIdentities": 1, "GetEmailIdentity": 119}
        assert collector.pending == max(0, 1000 - (poll + 1) * 119)
        assert counts(got)["DOMAIN"] == 1000
        assert len(per_identity(got, "aws_ses_identity_verification_status")) == 1000
        assert len(dkim(got)) == min(1000, (poll + 1) * 119)  # unread ones have no DKIM yet


def test_list_pages_count_against_the_budget_and_a_name_listed_twice_is_one(
    aws: None,
) -> None:
    counter = RequestCounter()
    clients = paced_clients(counter, REGION)
    collector = make_collector(clients, interval="10s")  # floor(0.4 x 10) - 2 pages = 2
    with Stubber(clients.sesv2) as stub:
        first = {"EmailIdentities": [listed("a.com"), listed("b.com")], "NextToken": "tok-1"}
        stub.add_response("list_email_identities", first, {"PageSize": 1000})
        second = {"EmailIdentities": [listed("b.com", status="FAILED"), listed("c.com")]}
        stub.add_response("list_email_identities", second, {"PageSize": 1000, "NextToken": "tok-1"})
        for name in ("a.com", "b.com"):
            stub.add_response("get_email_identity", get_answer(), {"EmailIdentity": name})
        got = values(collector.poll(LABELS))
        stub.assert_no_pending_responses()
    assert counts(got)["DOMAIN"] == 3
    verification = labels_of(got, "aws_ses_identity_verification_status")
    assert {i: v["status"] for i, v in verification.items()} == {
        "a.com": "SUCCESS",
        "b.com": "FAILED",  # the later entry
        "c.com": "SUCCESS",
    }
    assert sorted(dkim(got)) == ["a.com", "b.com"]
    assert collector.pending == 1


def test_include_and_exclude_filters(aws: None) -> None:
    counter = RequestCounter()
    clients = paced_clients(counter, REGION)
    for name in ("example.com", "news.example.com", "ops@example.com", "example.org"):
        clients.sesv2.create_email_identity(EmailIdentity=name)
    filters = r", include: ['.*\.example\.com', 'example\.com', '.*@example\.com']"
    filters += r", exclude: ['news\..*']"
    collector = make_collector(clients, filters=filters)
    gets = record_calls(clients, "GetEmailIdentity", "EmailIdentity")
    before = counter.snapshot()
    got = values(collector.poll(LABELS))
    assert sorted(gets) == ["example.com", "ops@example.com"]
    assert calls(counter, before) == {"ListEmailIdentities": 1, "GetEmailIdentity": 2}
    assert counts(got) == {"DOMAIN": 1, "EMAIL_ADDRESS": 1, "MANAGED_DOMAIN": 0}
    assert sorted(per_identity(got, "aws_ses_identity_verification_status")) == [
        "example.com",
        "ops@example.com",
    ]
    assert sorted(dkim(got)) == ["example.com", "ops@example.com"]


def test_a_deleted_identity_disappears_at_the_next_list(aws: None) -> None:
    clients = paced_clients(RequestCounter(), REGION)
    for name in ("keep.example.com", "gone.example.com"):
        clients.sesv2.create_email_identity(EmailIdentity=name)
    collector = make_collector(clients)
    assert sorted(dkim(values(collector.poll(LABELS)))) == ["gone.example.com", "keep.example.com"]
    clients.sesv2.delete_email_identity(EmailIdentity="gone.example.com")
    gets = record_calls(clients, "GetEmailIdentity", "EmailIdentity")
    got = values(collector.poll(LABELS))
    assert gets == ["keep.example.com"]
    assert counts(got)["DOMAIN"] == 1
    assert {dict(k[1]).get("identity") for k in got} == {None, "keep.example.com"}


def test_not_found_between_list_and_get_is_dropped_not_a_failure(
    aws: None, caplog: pytest.LogCaptureFixture
) -> None:
    clients = paced_clients(RequestCounter(), REGION)
    collector = make_collector(clients)
    listing = {"EmailIdentities": [listed("a.com"), listed("b.com"), listed("c.com")]}
    with Stubber(clients.sesv2) as stub, caplog.at_level(logging.WARNING):
        stub.add_response("list_email_identities", listing, {"PageSize": 1000})
        stub.add_response("get_email_identity", get_answer(), {"EmailIdentity": "a.com"})
        stub.add_client_error(
            "get_email_identity",
            "NotFoundException",
            "Email identity b.com does not exist",
            404,
            expected_params={"EmailIdentity": "b.com"},
        )
        stub.add_response("get_email_identity", get_answer(), {"EmailIdentity": "c.com"})
        got = values(collector.poll(LABELS))
        stub.assert_no_pending_responses()
    assert counts(got)["DOMAIN"] == 2
    assert sorted(per_identity(got, "aws_ses_identity_verification_status")) == ["a.com", "c.com"]
    assert sorted(dkim(got)) == ["a.com", "c.com"]
    assert collector.pending == 0
    assert not caplog.records


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("TooManyRequestsException", 429),
        ("Throttling", 400),
        ("ServiceUnavailable", 503),  # a 5xx left after botocore's retries
        ("InternalFailure", 500),
    ],
)
def test_throttled_get_keeps_old_data_and_stops_the_refresh(
    aws: None, caplog: pytest.LogCaptureFixture, code: str, status: int
) -> None:
    counter = RequestCounter()
    clients = paced_clients(counter, REGION)
    collector = make_collector(clients)
    listing = {"EmailIdentities": [listed("a.com"), listed("b.com"), listed("c.com")]}
    with Stubber(clients.sesv2) as stub, caplog.at_level(logging.WARNING):
        stub.add_response("list_email_identities", listing)
        for name in ("a.com", "b.com", "c.com"):
            stub.add_response("get_email_identity", get_answer(), {"EmailIdentity": name})
        collector.poll(LABELS)
        stub.add_response("list_email_identities", listing)
        stub.add_response("get_email_identity", get_answer("FAILED"), {"EmailIdentity": "a.com"})
        stub.add_client_error("get_email_identity", code, "simulated", status)
        before = counter.snapshot()
        got = values(collector.poll(LABELS))  # c.com is not asked for: Stubber would raise
        stub.assert_no_pending_responses()
        assert dkim(got) == {"a.com": "FAILED", "b.com": "SUCCESS", "c.com": "SUCCESS"}
        assert counts(got)["DOMAIN"] == 3
        assert calls(counter, before) == {"ListEmailIdentities": 1, "GetEmailIdentity": 2}
        [warning] = caplog.records
        assert warning.getMessage().startswith("GetEmailIdentity failed")
        assert warning.__dict__["left_for_next_poll"] == 1
        assert warning.__dict__["failed"] == 1
        assert warning.__dict__["error"].startswith(f"b.com: {code}")
        # c.com, not tried at the last poll, goes first; a.com and b.com follow.
        stub.add_response("list_email_identities", listing)
        for name in ("c.com", "a.com", "b.com"):
            stub.add_response("get_email_identity", get_answer(), {"EmailIdentity": name})
        collector.poll(LABELS)
        stub.assert_no_pending_responses()


def test_other_get_errors_keep_old_data_continue_and_warn_once_per_poll(
    aws: None, caplog: pytest.LogCaptureFixture
) -> None:
    clients = paced_clients(RequestCounter(), REGION)
    collector = make_collector(clients, interval="10s")  # budget floor(4) - 1 page = 3
    names = ("a.com", "b.com", "c.com", "d.com")
    listing = {"EmailIdentities": [listed(name) for name in names]}
    with Stubber(clients.sesv2) as stub, caplog.at_level(logging.WARNING):
        stub.add_response("list_email_identities", listing)
        stub.add_client_error("get_email_identity", "AccessDeniedException", "denied", 403)
        stub.add_client_error("get_email_identity", "BadRequestException", "odd", 400)
        stub.add_response("get_email_identity", get_answer(configuration_set="tx"))
        got = values(collector.poll(LABELS))
        stub.assert_no_pending_responses()
        assert dkim(got) == {"c.com": "SUCCESS"}
        assert (counts(got)["DOMAIN"], collector.pending) == (4, 3)
        [warning] = caplog.records
        assert warning.__dict__["failed"] == 2
        assert warning.__dict__["left_for_next_poll"] == 0
        assert warning.__dict__["error"].startswith("a.com: AccessDeniedException")
        # A failed identity goes to the back of the queue: d (never tried) first, then a, b.
        stub.add_response("list_email_identities", listing)
        for name in ("d.com", "a.com", "b.com"):
            stub.add_response("get_email_identity", get_answer(), {"EmailIdentity": name})
        got = values(collector.poll(LABELS))
        stub.assert_no_pending_responses()
    assert sorted(dkim(got)) == list(names)
    info = labels_of(got, "aws_ses_identity_info")
    assert info["c.com"]["configuration_set"] == "tx"  # kept from the first poll
    assert collector.pending == 0
    assert len(caplog.records) == 1


def test_a_failing_list_fails_the_poll_and_keeps_what_is_known(aws: None) -> None:
    clients = paced_clients(RequestCounter(), REGION)
    collector = make_collector(clients)
    listing = {"EmailIdentities": [listed("a.com"), listed("b.com")]}
    with Stubber(clients.sesv2) as stub:
        stub.add_response("list_email_identities", listing)
        stub.add_response("get_email_identity", get_answer("SUCCESS"))
        stub.add_response("get_email_identity", get_answer("PENDING"))
        collector.poll(LABELS)
        stub.add_client_error("list_email_identities", "TooManyRequestsException", "slow", 429)
        with pytest.raises(ClientError, match="TooManyRequestsException"):
            collector.poll(LABELS)
        stub.add_response("list_email_identities", listing)
        stub.add_client_error("get_email_identity", "Throttling", "Rate exceeded", 400)
        got = values(collector.poll(LABELS))
        stub.assert_no_pending_responses()
    assert dkim(got) == {"a.com": "SUCCESS", "b.com": "PENDING"}


def test_a_poll_through_the_target_with_the_fake_details(
    aws: None, fake_api: FakeAccountApi
) -> None:
    """The registered collector, built by the target from the default configuration, with
    moto's list and the fake's GetEmailIdentity (DKIM and MAIL FROM, which moto lacks)."""
    fake_api.identity_details = {
        "example.com": FULL_ANSWER,
        "ops@example.com": {**get_answer("NOT_STARTED"), "IdentityType": "EMAIL_ADDRESS"},
    }
    target = make_target(fake_api, REGION)
    sesv2 = boto3.client("sesv2", region_name=REGION)
    for name in ("example.com", "ops@example.com"):
        sesv2.create_email_identity(EmailIdentity=name)
    collector = target.collectors["identities"]
    assert isinstance(collector, IdentitiesCollector)
    assert collector.settings.config.interval == 300
    got = values(collector.poll(target.labels()))
    assert counts(got) == {"DOMAIN": 1, "EMAIL_ADDRESS": 1, "MANAGED_DOMAIN": 0}
    assert dkim(got) == {"example.com": "TEMPORARY_FAILURE", "ops@example.com": "NOT_STARTED"}
    assert labels_of(got, "aws_ses_identity_mail_from_status")["example.com"]["status"] == "FAILED"
    assert "ops@example.com" not in labels_of(got, "aws_ses_identity_mail_from_status")
    last = per_identity(got, "aws_ses_identity_verification_last_success_timestamp_seconds")
    assert last == {"example.com": 1795132800}


def test_a_reload_keeps_the_collector_and_applies_its_new_filter(
    aws: None, fake_api: FakeAccountApi
) -> None:
    factory = ClientFactory(RequestCounter(), [fake_api.hook])
    [target] = build_targets(config_for(REGION), factory)
    sesv2 = boto3.client("sesv2", region_name=REGION)
    for name in ("a.example.com", "b.example.com"):
        sesv2.create_email_identity(EmailIdentity=name)
    collector = target.collectors["identities"]
    assert sorted(dkim(values(collector.poll(target.labels())))) == [
        "a.example.com",
        "b.example.com",
    ]
    reloaded = config_for(REGION, extra="collectors:\n  identities: {exclude: ['b\\..*']}\n")
    [again] = build_targets(reloaded, factory, previous=[target])
    assert again.collectors["identities"] is collector
    got = values(collector.poll(again.labels()))
    assert sorted(dkim(got)) == ["a.example.com"]
    assert counts(got)["DOMAIN"] == 1
