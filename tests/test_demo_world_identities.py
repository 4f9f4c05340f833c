"""The demo world's identities, dedicated IPs and suppression list (``demo.resources``),
driven through boto3 as the exporter drives them.

Every answer must fit the operation's output shape in the botocore model (checked here
with botocore's validator, on top of the check ``responders`` makes on every call), page
as the API reference says, and move as ``demo.resources`` documents: one domain's DKIM
breaks and then fails, one IP warms up, the suppression list grows with the bounces.
Time moves by the world's clock, never by sleeping; the traffic thread still ticks
every few seconds, which only ever adds to the suppression list.

A module of its own: the demo world holds moto's global backends for the whole module.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.exceptions import ClientError
from botocore.validate import validate_parameters

from ses_exporter.demo import resources
from ses_exporter.demo.world import DemoWorld
from tests.helpers import ManualClock, running_demo

REGIONS = ["us-east-1", "eu-west-1"]
SESV2 = botocore.session.get_session().get_service_model("sesv2")


@pytest.fixture(scope="module")
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(scope="module")
def demo(clock: ManualClock) -> Iterator[DemoWorld]:
    yield from running_demo(REGIONS, clock)


def at(demo: DemoWorld, clock: ManualClock, elapsed: float) -> None:
    """Sets the world's clock ``elapsed`` seconds after the world started."""
    clock.now = demo.started + elapsed


def sesv2(demo: DemoWorld, region: str = "us-east-1", hooked: bool = True) -> Any:
    client = boto3.client("sesv2", region_name=region)
    if hooked:
        demo.client_hook("sesv2", client)
    return client


def fits(operation: str, answer: Mapping[str, Any]) -> None:
    """Raises unless botocore's validator takes ``answer`` as the operation's output."""
    members = {k: v for k, v in answer.items() if k != "ResponseMetadata"}
    validate_parameters(members, SESV2.operation_model(operation).output_shape)


def error_code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def all_suppressed(client: Any, **params: Any) -> list[list[dict[str, Any]]]:
    """Every page of ListSuppressedDestinations for ``params``."""
    pages, token = [], None
    while True:
        answer = client.list_suppressed_destinations(
            **params, **({"NextToken": token} if token else {})
        )
        fits("ListSuppressedDestinations", answer)
        pages.append(answer["SuppressedDestinationSummaries"])
        token = answer.get("NextToken")
        if not token:
            return pages


# --- shapes --------------------------------------------------------------------------


@pytest.mark.parametrize("elapsed", [0.0, 200.0, 700.0, 5000.0])
@pytest.mark.parametrize("region", REGIONS)
def test_every_answer_fits_the_botocore_model(
    demo: DemoWorld, clock: ManualClock, region: str, elapsed: float
) -> None:
    at(demo, clock, elapsed)
    client = sesv2(demo, region)
    fits("ListEmailIdentities", client.list_email_identities(PageSize=1000))
    for identity in resources.IDENTITIES:
        fits("GetEmailIdentity", client.get_email_identity(EmailIdentity=identity.name))
    fits("ListDedicatedIpPools", client.list_dedicated_ip_pools(PageSize=1000))
    for pool in client.list_dedicated_ip_pools()["DedicatedIpPools"]:
        fits("GetDedicatedIpPool", client.get_dedicated_ip_pool(PoolName=pool))
    fits("GetDedicatedIps", client.get_dedicated_ips(PageSize=1000))
    fits("ListSuppressedDestinations", client.list_suppressed_destinations(PageSize=1000))
    fits("GetAccount", client.get_account())


# --- identities ----------------------------------------------------------------------


@pytest.mark.parametrize("region", REGIONS)
def test_the_identities_are_the_ones_created_in_moto(demo: DemoWorld, region: str) -> None:
    listed = sesv2(demo, region).list_email_identities(PageSize=1000)["EmailIdentities"]
    in_moto = sesv2(demo, region, hooked=False).list_email_identities()["EmailIdentities"]
    assert [(i["IdentityName"], i["IdentityType"]) for i in listed] == [
        (i["IdentityName"], i["IdentityType"]) for i in in_moto
    ]
    assert {i["IdentityType"] for i in listed} == {"DOMAIN", "EMAIL_ADDRESS"}


def test_list_email_identities_pages(demo: DemoWorld) -> None:
    client = sesv2(demo)
    first = client.list_email_identities(PageSize=2)
    second = client.list_email_identities(PageSize=2, NextToken=first["NextToken"])
    third = client.list_email_identities(PageSize=2, NextToken=second["NextToken"])
    names = [i["IdentityName"] for p in (first, second, third) for i in p["EmailIdentities"]]
    assert names == [i.name for i in resources.IDENTITIES]
    assert "NextToken" not in third


def test_list_email_identities_filters(demo: DemoWorld, clock: ManualClock) -> None:
    client = sesv2(demo)
    at(demo, clock, resources.DKIM_FAILS_AFTER)

    def names(**filters: str) -> list[str]:
        answer = client.list_email_identities(Filter=filters)
        return [i["IdentityName"] for i in answer["EmailIdentities"]]

    assert names(IDENTITY_TYPE="EMAIL_ADDRESS") == ["noreply@demo.example.com", "ops@example.net"]
    assert names(VERIFICATION_STATUS="FAILED") == ["marketing.example.org"]
    assert names(IDENTITY_NAME_CONTAINS="example.org") == [
        "marketing.example.org",
        "newsletters.example.org",
    ]
    assert names(IDENTITY_NAME_CONTAINS="demo", IDENTITY_TYPE="DOMAIN") == ["demo.example.com"]


def test_the_mail_from_domains_agree_with_moto_and_one_has_failed(demo: DemoWorld) -> None:
    client = sesv2(demo)
    got = {
        i.name: client.get_email_identity(EmailIdentity=i.name).get("MailFromAttributes")
        for i in resources.IDENTITIES
    }
    assert got["newsletters.example.org"] == {
        "MailFromDomain": "bounce.newsletters.example.org",
        "MailFromDomainStatus": "FAILED",
        "BehaviorOnMxFailure": "USE_DEFAULT_VALUE",
    }
    assert got["demo.example.com"] == {
        "MailFromDomain": "bounce.demo.example.com",
        "MailFromDomainStatus": "SUCCESS",
        "BehaviorOnMxFailure": "REJECT_MESSAGE",
    }
    ses = boto3.client("ses", region_name="us-east-1")  # what the demo set in moto
    in_moto = ses.get_identity_mail_from_domain_attributes(Identities=list(got))
    assert {
        name: a["MailFromDomain"]
        for name, a in in_moto["MailFromDomainAttributes"].items()
        if a.get("MailFromDomain")
    } == {name: a["MailFromDomain"] for name, a in got.items() if a}


def test_one_email_address_is_pending_and_cannot_send(demo: DemoWorld) -> None:
    client = sesv2(demo)
    listed = {i["IdentityName"]: i for i in client.list_email_identities()["EmailIdentities"]}
    assert listed["ops@example.net"]["VerificationStatus"] == "PENDING"
    assert listed["ops@example.net"]["SendingEnabled"] is False
    pending = client.get_email_identity(EmailIdentity="ops@example.net")
    assert pending["VerifiedForSendingStatus"] is False
    assert "LastSuccessTimestamp" not in pending["VerificationInfo"]
    assert listed["noreply@demo.example.com"]["VerificationStatus"] == "SUCCESS"


def test_an_unknown_identity_is_not_found(demo: DemoWorld) -> None:
    with pytest.raises(ClientError) as exc:
        sesv2(demo).get_email_identity(EmailIdentity="nobody.example.com")
    assert error_code(exc) == "NotFoundException"


def dkim_and_sending(client: Any, name: str) -> tuple[str, str, bool, bool]:
    got = client.get_email_identity(EmailIdentity=name)
    listed = {i["IdentityName"]: i for i in client.list_email_identities()["EmailIdentities"]}[name]
    assert listed["VerificationStatus"] == got["VerificationStatus"]
    return (
        got["DkimAttributes"]["Status"],
        got["VerificationStatus"],
        listed["SendingEnabled"],
        got["VerifiedForSendingStatus"],
    )


def test_marketing_dkim_breaks_then_fails_at_the_documented_points(
    demo: DemoWorld, clock: ManualClock
) -> None:
    client, name = sesv2(demo), "marketing.example.org"
    at(demo, clock, 0.0)
    assert dkim_and_sending(client, name) == ("SUCCESS", "SUCCESS", True, True)
    at(demo, clock, resources.DKIM_BREAKS_AFTER - 1)
    assert dkim_and_sending(client, name) == ("SUCCESS", "SUCCESS", True, True)
    at(demo, clock, resources.DKIM_BREAKS_AFTER)
    # SES keeps sending through a temporary failure
    assert dkim_and_sending(client, name) == (
        "TEMPORARY_FAILURE",
        "TEMPORARY_FAILURE",
        True,
        True,
    )
    broken = client.get_email_identity(EmailIdentity=name)["VerificationInfo"]
    assert broken["ErrorType"] == "HOST_NOT_FOUND"
    assert broken["LastSuccessTimestamp"] < datetime.fromtimestamp(
        demo.started + resources.DKIM_BREAKS_AFTER, UTC
    )
    at(demo, clock, resources.DKIM_FAILS_AFTER)
    assert dkim_and_sending(client, name) == ("FAILED", "FAILED", False, False)
    at(demo, clock, 10 * resources.DKIM_FAILS_AFTER)
    assert dkim_and_sending(client, name) == ("FAILED", "FAILED", False, False)
    # the others are untouched
    for other in ("demo.example.com", "newsletters.example.org"):
        assert dkim_and_sending(client, other) == ("SUCCESS", "SUCCESS", True, True)


# --- dedicated IPs -------------------------------------------------------------------


def test_us_east_1_has_a_standard_and_a_managed_pool_as_moto_keeps_them(
    demo: DemoWorld,
) -> None:
    client = sesv2(demo)
    first = client.list_dedicated_ip_pools(PageSize=1)
    second = client.list_dedicated_ip_pools(PageSize=1, NextToken=first["NextToken"])
    assert "NextToken" not in second
    pools = first["DedicatedIpPools"] + second["DedicatedIpPools"]
    modes = {p: client.get_dedicated_ip_pool(PoolName=p)["DedicatedIpPool"] for p in pools}
    assert {p: m["ScalingMode"] for p, m in modes.items()} == {
        "transactional-ips": "STANDARD",
        "marketing-managed": "MANAGED",
    }
    in_moto = sesv2(demo, hooked=False).list_dedicated_ip_pools()["DedicatedIpPools"]
    assert sorted(in_moto) == sorted(pools)


def test_eu_west_1_has_no_dedicated_ips(demo: DemoWorld) -> None:
    client = sesv2(demo, "eu-west-1")
    assert client.list_dedicated_ip_pools()["DedicatedIpPools"] == []
    assert client.get_dedicated_ips()["DedicatedIps"] == []


def test_one_ip_warms_up_to_done_while_the_others_stay(demo: DemoWorld, clock: ManualClock) -> None:
    client = sesv2(demo)
    seen: list[tuple[str, int]] = []
    for minute in range(0, 80, 5):
        at(demo, clock, minute * 60.0 + 1)
        ips = {ip["Ip"]: ip for ip in client.get_dedicated_ips()["DedicatedIps"]}
        assert ips["198.51.100.10"]["WarmupStatus"] == "DONE"
        assert ips["198.51.100.10"]["WarmupPercentage"] == 100
        assert ips["198.51.100.25"]["WarmupStatus"] == "NOT_APPLICABLE"
        assert ips["198.51.100.25"]["WarmupPercentage"] == -1  # managed, as AWS answers
        seen.append(
            (ips["198.51.100.11"]["WarmupStatus"], ips["198.51.100.11"]["WarmupPercentage"])
        )
    percents = [p for _, p in seen]
    assert percents[0] == resources.WARMUP_START_PERCENT
    assert percents == sorted(percents) and percents[-1] == 100
    assert percents[1] == resources.WARMUP_START_PERCENT + 5
    assert all(s == ("DONE" if p == 100 else "IN_PROGRESS") for s, p in seen)
    assert ("IN_PROGRESS", 97) in seen and seen[-1] == ("DONE", 100)


def test_get_dedicated_ips_of_one_pool_pages(demo: DemoWorld) -> None:
    client = sesv2(demo)
    first = client.get_dedicated_ips(PoolName="transactional-ips", PageSize=1)
    second = client.get_dedicated_ips(
        PoolName="transactional-ips", PageSize=1, NextToken=first["NextToken"]
    )
    assert [ip["Ip"] for ip in first["DedicatedIps"] + second["DedicatedIps"]] == [
        "198.51.100.10",
        "198.51.100.11",
    ]
    assert "NextToken" not in second
    with pytest.raises(ClientError) as exc:
        client.get_dedicated_ips(PoolName="no-such-pool")
    assert error_code(exc) == "NotFoundException"


# --- suppression list ----------------------------------------------------------------


def test_get_account_lists_the_suppressed_reasons(demo: DemoWorld) -> None:
    for region in REGIONS:
        reasons = sesv2(demo, region).get_account()["SuppressionAttributes"]
        assert reasons == {"SuppressedReasons": ["BOUNCE", "COMPLAINT"]}


def test_the_suppression_list_pages_by_page_size(demo: DemoWorld) -> None:
    client = sesv2(demo)
    before_start = datetime.fromtimestamp(demo.started, UTC)  # the list as it started: stable
    pages = all_suppressed(client, PageSize=1000, EndDate=before_start)
    assert len(pages) == 4  # 3,200 addresses at start
    assert [len(p) for p in pages] == [1000, 1000, 1000, 200]
    addresses = [s["EmailAddress"] for p in pages for s in p]
    assert len(set(addresses)) == len(addresses) == 3200
    assert {s["Reason"] for p in pages for s in p} == {"BOUNCE", "COMPLAINT"}
    small = all_suppressed(client, PageSize=333, EndDate=before_start)
    assert [s["EmailAddress"] for p in small for s in p] == addresses
    assert max(len(p) for p in small) == 333


def test_the_suppression_list_filters_by_reason_and_dates(demo: DemoWorld) -> None:
    client = sesv2(demo)
    end = datetime.fromtimestamp(demo.started, UTC)
    everything = [s for p in all_suppressed(client, PageSize=1000, EndDate=end) for s in p]
    complaints = [
        s
        for p in all_suppressed(client, PageSize=50, Reasons=["COMPLAINT"], EndDate=end)
        for s in p
    ]
    assert complaints == [s for s in everything if s["Reason"] == "COMPLAINT"]
    assert 0 < len(complaints) < len(everything)
    both = all_suppressed(client, PageSize=1000, Reasons=["BOUNCE", "COMPLAINT"], EndDate=end)
    assert sum(len(p) for p in both) == len(everything)
    middle = everything[len(everything) // 2]["LastUpdateTime"]
    later = [s for p in all_suppressed(client, StartDate=middle, EndDate=end) for s in p]
    assert later == [s for s in everything if s["LastUpdateTime"] >= middle]
    assert 0 < len(later) < len(everything)
    # an epoch number, as botocore also takes it
    same = all_suppressed(client, StartDate=middle.timestamp(), EndDate=end)
    assert [s for p in same for s in p] == later


def test_bad_page_sizes_and_tokens_are_refused_as_aws_does(demo: DemoWorld) -> None:
    client = sesv2(demo)
    for size in (0, 1001):
        with pytest.raises(ClientError) as exc:
            client.list_suppressed_destinations(PageSize=size)
        assert error_code(exc) == "BadRequestException"
    with pytest.raises(ClientError) as exc:
        client.list_suppressed_destinations(NextToken="not-a-token")
    assert error_code(exc) == "InvalidNextTokenException"
    token = client.list_email_identities(PageSize=1)["NextToken"]  # another listing's
    with pytest.raises(ClientError) as exc:
        client.list_suppressed_destinations(NextToken=token)
    assert error_code(exc) == "InvalidNextTokenException"


def test_the_suppression_list_grows_with_the_traffic_bounces(
    demo: DemoWorld, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each bounce (complaint) of the live traffic adds one BOUNCE (COMPLAINT) address,
    stamped with the world's time. (At least: a tick may be between its draw and the
    list when the counting starts.)"""
    listing = demo.suppression_list("us-east-1")
    drawn = {"BOUNCE": 0, "COMPLAINT": 0}
    lock = threading.Lock()
    traffic = demo._traffic  # the thread's own draws, to compare with the list's growth
    real_tick = traffic.tick

    def counting_tick(region: str, sends: int, rejected: int, now: float) -> tuple[int, int]:
        bounces, complaints = real_tick(region, sends, rejected, now)
        if region == "us-east-1":
            with lock:
                drawn["BOUNCE"] += bounces
                drawn["COMPLAINT"] += complaints
        return bounces, complaints

    at(demo, clock, 20_000.0)  # later than anything the other tests stamped
    stamp = datetime.fromtimestamp(clock.now, UTC)
    with lock:
        monkeypatch.setattr(traffic, "tick", counting_tick)
        before = listing.counts()
    client = sesv2(demo)
    deadline = time.monotonic() + 120
    while True:
        with lock:
            expected = {r: before[r] + drawn[r] for r in drawn}
            bounced = drawn["BOUNCE"]
        counts = listing.counts()
        if bounced and all(counts[r] >= expected[r] for r in expected):
            break
        assert time.monotonic() < deadline, f"no bounce suppressed: {drawn}, {listing.counts()}"
        time.sleep(0.5)
    monkeypatch.undo()
    new = [s for p in all_suppressed(client, PageSize=1000, StartDate=stamp) for s in p]
    assert len(new) >= bounced
    assert all(s["LastUpdateTime"] == stamp for s in new)
    assert {s["Reason"] for s in new} <= {"BOUNCE", "COMPLAINT"}
    total = sum(len(p) for p in all_suppressed(client, PageSize=1000))
    assert total >= 3200 + bounced
