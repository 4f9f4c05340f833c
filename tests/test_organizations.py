"""AWS Organizations discovery (ses_exporter.organizations) against moto and Stubber answers.

moto 5.2.5 against botocore's model and the AWS documentation, where tests rely on it:

* ListChildren ignores MaxResults and never pages; AWS pages it (at most 20 a page), so
  its paging is tested with Stubber answers.
* CloseAccount sets both State and Status to SUSPENDED at once; AWS passes through
  PENDING_CLOSURE first (CloseAccount docs: "While the close account request is in
  progress, Account status will indicate PENDING_CLOSURE"). Both are skipped here.
* ListAccounts includes the management account (named "master" by moto), as AWS does.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from ses_exporter.organizations import PAGE_SIZE, MemberAccount, discover_accounts
from tests.orgworld import OrgWorld, build_organization, create_account

if TYPE_CHECKING:
    from mypy_boto3_organizations import OrganizationsClient

REGION = "us-east-1"
MANAGEMENT = "111111111111"
ORG_ID = "o-exampleorg1"


@pytest.fixture
def org(aws: None) -> OrganizationsClient:
    return boto3.client("organizations", region_name=REGION)


@pytest.fixture
def world(org: OrganizationsClient) -> OrgWorld:
    return build_organization(org)


@pytest.fixture
def small_world(org: OrganizationsClient) -> OrgWorld:
    return build_organization(org, accounts=12)


@pytest.fixture
def stubbed() -> Iterator[tuple[OrganizationsClient, Stubber]]:
    client = boto3.client(
        "organizations",
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def arn(account_id: str, partition: str = "aws") -> str:
    return f"arn:{partition}:organizations::{MANAGEMENT}:account/{ORG_ID}/{account_id}"


def entry(account_id: str, name: str, **fields: str) -> dict[str, Any]:
    """One Accounts entry as AWS answers it; ``fields`` override or add State/Status/Arn."""
    return {
        "Id": account_id,
        "Name": name,
        "Arn": arn(account_id),
        "Email": f"{name}@example.com",
        "State": "ACTIVE",
        "Status": "ACTIVE",
        **fields,
    }


def without(entry: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in entry.items() if k not in keys}


def ids(accounts: Sequence[MemberAccount]) -> list[str]:
    return [a.account_id for a in accounts]


def patterns(include: Sequence[str] = (".*",), exclude: Sequence[str] = ()) -> Callable[..., bool]:
    """The config's accounts include/exclude: full-match regexes on the id or the name."""

    def hit(regexes: Sequence[str], account_id: str, name: str) -> bool:
        return any(re.fullmatch(r, account_id) or re.fullmatch(r, name) for r in regexes)

    def accept(account_id: str, name: str) -> bool:
        return hit(include, account_id, name) and not hit(exclude, account_id, name)

    return accept


def record_params(client: OrganizationsClient, operation: str) -> list[dict[str, Any]]:
    """The parameters of every call of ``operation``, in call order."""
    calls: list[dict[str, Any]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        calls.append(dict(params))

    client.meta.events.register(f"provide-client-params.organizations.{operation}", record)
    return calls


# --- the whole organization (ListAccounts), against moto -------------------------------


def test_every_account_of_the_organization_is_discovered(
    org: OrganizationsClient, world: OrgWorld
) -> None:
    got = discover_accounts(org)

    expected = world.account_ids() | {world.management_account_id}
    assert len(world.accounts) == 120
    assert len(got) == 121
    assert set(ids(got)) == expected
    assert ids(got) == sorted(expected)
    assert {a.account_id: a.name for a in got} == {i: world.name_of(i) for i in expected}
    assert world.name_of(world.management_account_id) == "master"  # moto's name for it
    first = world.accounts[0]
    member = next(a for a in got if a.account_id == first.account_id)
    assert member.name == "mail-000"
    assert member.arn == (
        f"arn:aws:organizations::{world.management_account_id}:account/"
        f"{world.organization_id}/{first.account_id}"
    )
    assert member.partition == "aws"
    assert member.role_arn("ses-exporter") == f"arn:aws:iam::{first.account_id}:role/ses-exporter"


def test_list_accounts_is_read_20_a_page(org: OrganizationsClient, world: OrgWorld) -> None:
    calls = record_params(org, "ListAccounts")

    got = discover_accounts(org)

    assert len(got) == 121
    assert len(calls) == math.ceil(121 / PAGE_SIZE) == 7
    assert all(call["MaxResults"] == 20 for call in calls)
    assert "NextToken" not in calls[0]
    assert all(call["NextToken"] for call in calls[1:])


# --- paging edge cases, with Stubber answers --------------------------------------------


def test_empty_pages_with_a_next_token_are_followed(
    stubbed: tuple[OrganizationsClient, Stubber],
) -> None:
    # AWS: "These operations can occasionally return an empty set of results even when
    # more results are available. Continue making requests until NextToken returns null."
    client, stubber = stubbed
    first = {"MaxResults": 20}
    stubber.add_response(
        "list_accounts",
        {"Accounts": [entry("222222222222", "a"), entry("333333333333", "b")], "NextToken": "t1"},
        first,
    )
    stubber.add_response(
        "list_accounts", {"Accounts": [], "NextToken": "t2"}, {**first, "NextToken": "t1"}
    )
    stubber.add_response("list_accounts", {"NextToken": "t3"}, {**first, "NextToken": "t2"})
    stubber.add_response(
        "list_accounts", {"Accounts": [entry("444444444444", "c")]}, {**first, "NextToken": "t3"}
    )

    got = discover_accounts(client)

    assert [(a.account_id, a.name) for a in got] == [
        ("222222222222", "a"),
        ("333333333333", "b"),
        ("444444444444", "c"),
    ]


def test_ou_walk_follows_empty_pages_of_both_calls(
    stubbed: tuple[OrganizationsClient, Stubber],
) -> None:
    client, stubber = stubbed
    parent, child = "ou-abcd-11111111", "ou-abcd-22222222"

    def accounts_of(ou: str, answer: dict[str, Any], token: str | None = None) -> None:
        params = {"ParentId": ou, "MaxResults": 20} | ({"NextToken": token} if token else {})
        stubber.add_response("list_accounts_for_parent", answer, params)

    def children_of(ou: str, answer: dict[str, Any], token: str | None = None) -> None:
        params = {"ParentId": ou, "ChildType": "ORGANIZATIONAL_UNIT", "MaxResults": 20}
        stubber.add_response(
            "list_children", answer, params | ({"NextToken": token} if token else {})
        )

    accounts_of(parent, {"Accounts": [], "NextToken": "a1"})
    accounts_of(parent, {"Accounts": [entry("555555555555", "in-parent")]}, "a1")
    children_of(parent, {"Children": [], "NextToken": "c1"})
    children_of(parent, {"Children": [{"Id": child, "Type": "ORGANIZATIONAL_UNIT"}]}, "c1")
    accounts_of(child, {"Accounts": [entry("333333333333", "in-child")]})
    children_of(child, {"Children": []})

    got = discover_accounts(client, organizational_units=[parent])

    assert [(a.account_id, a.name) for a in got] == [
        ("333333333333", "in-child"),
        ("555555555555", "in-parent"),
    ]


def test_an_error_on_a_later_page_fails_the_whole_discovery(
    stubbed: tuple[OrganizationsClient, Stubber],
) -> None:
    # Half an organization would make the other half's targets disappear.
    client, stubber = stubbed
    stubber.add_response(
        "list_accounts", {"Accounts": [entry("222222222222", "a")], "NextToken": "t1"}
    )
    stubber.add_client_error("list_accounts", "TooManyRequestsException", http_status_code=400)

    with pytest.raises(ClientError) as raised:
        discover_accounts(client)
    assert raised.value.response["Error"]["Code"] == "TooManyRequestsException"


# --- organizational units, against moto -------------------------------------------------


def test_organizational_units_select_the_accounts_below_them(
    org: OrganizationsClient, world: OrgWorld
) -> None:
    prod, prod_1, dev = world.ou_id("prod"), world.ou_id("prod-1"), world.ou_id("dev")
    assert world.child_ous[prod] == (prod_1, world.ou_id("prod-2"))

    under_prod = discover_accounts(org, organizational_units=[prod])
    # 12 accounts in each of prod, prod-1 and prod-2: the walk goes into the child OUs
    assert len(under_prod) == 36
    assert set(ids(under_prod)) == world.accounts_under(prod)
    assert {a.name for a in under_prod} >= {"mail-001", "mail-002", "mail-003"}

    leaf = discover_accounts(org, organizational_units=[prod_1])
    assert set(ids(leaf)) == world.accounts_under(prod_1)
    assert len(leaf) == 12
    assert {a.name for a in leaf} == {f"mail-{i:03d}" for i in range(2, 120, 10)}

    # an OU and its child both configured: each account once
    overlapping = discover_accounts(org, organizational_units=[prod_1, prod])
    assert ids(overlapping) == ids(under_prod)

    two = discover_accounts(org, organizational_units=[prod_1, dev])
    assert set(ids(two)) == world.accounts_under(prod_1) | world.accounts_under(dev)
    assert len(two) == 48
    assert ids(two) == sorted(ids(two))

    # the root works as a parent too, and holds the management account
    everything = discover_accounts(org, organizational_units=[world.root_id])
    assert ids(everything) == ids(discover_accounts(org))
    assert len(everything) == 121


def test_an_unknown_organizational_unit_raises(org: OrganizationsClient) -> None:
    build_organization(org, accounts=1, top_level_ous=())

    with pytest.raises(ClientError) as raised:
        discover_accounts(org, organizational_units=["ou-abcd-99999999"])
    assert raised.value.response["Error"]["Code"] == "ParentNotFoundException"


# --- include/exclude through accept -----------------------------------------------------


def test_accept_sees_id_and_name_of_every_active_account(
    org: OrganizationsClient, world: OrgWorld
) -> None:
    seen: list[tuple[str, str]] = []

    def keep_none(account_id: str, name: str) -> bool:
        seen.append((account_id, name))
        return False

    assert discover_accounts(org, accept=keep_none) == []
    everyone = world.account_ids() | {world.management_account_id}
    assert sorted(seen) == sorted((i, world.name_of(i)) for i in everyone)

    by_name = discover_accounts(org, accept=patterns(include=["mail-00[0-9]"]))
    assert {a.name for a in by_name} == {f"mail-00{i}" for i in range(10)}
    assert ids(by_name) == sorted(a.account_id for a in world.accounts[:10])

    one = world.accounts[42]
    by_id = discover_accounts(org, accept=patterns(include=[one.account_id]))
    assert [(a.account_id, a.name) for a in by_id] == [(one.account_id, "mail-042")]

    no_management = discover_accounts(
        org, accept=patterns(exclude=[world.management_account_id, "mail-0[0-4][0-9]"])
    )
    assert len(no_management) == 70
    assert set(ids(no_management)) == {a.account_id for a in world.accounts[50:]}

    # accept and the OU filter together
    prod_only = discover_accounts(
        org, organizational_units=[world.ou_id("prod")], accept=patterns(exclude=["mail-00.*"])
    )
    assert {a.name for a in prod_only} == {
        world.name_of(i) for i in world.accounts_under(world.ou_id("prod"))
    } - {"mail-001", "mail-002", "mail-003"}


# --- account states -------------------------------------------------------------------


def test_a_closed_account_is_skipped(org: OrganizationsClient, small_world: OrgWorld) -> None:
    closed = small_world.accounts[3]
    org.close_account(AccountId=closed.account_id)
    described = org.describe_account(AccountId=closed.account_id)["Account"]
    # moto goes straight to SUSPENDED; AWS shows PENDING_CLOSURE first (skipped as well)
    assert (described.get("State"), described.get("Status")) == ("SUSPENDED", "SUSPENDED")

    got = discover_accounts(org)

    assert closed.account_id not in ids(got)
    assert len(got) == 12  # 12 created + management - 1 closed
    in_ou = discover_accounts(org, organizational_units=[closed.parent_id])
    assert closed.account_id not in ids(in_ou)
    assert set(ids(in_ou)) == small_world.accounts_under(closed.parent_id) - {closed.account_id}


def test_state_is_read_and_status_only_without_it(
    stubbed: tuple[OrganizationsClient, Stubber],
) -> None:
    client, stubber = stubbed
    accounts = [
        without(entry("200000000001", "status-only-active"), "State"),
        without(entry("200000000002", "status-only-suspended", Status="SUSPENDED"), "State"),
        entry("200000000003", "pending-closure", State="PENDING_CLOSURE", Status="PENDING_CLOSURE"),
        # State wins where the two disagree
        entry("200000000004", "state-says-closing", State="PENDING_CLOSURE", Status="ACTIVE"),
        without(entry("200000000005", "pending-activation", State="PENDING_ACTIVATION"), "Status"),
        without(entry("200000000006", "state-only-active"), "Status"),
        entry("200000000007", "closed", State="CLOSED", Status="SUSPENDED"),
        entry("200000000008", "a-state-from-the-future", State="HIBERNATING"),
    ]
    stubber.add_response("list_accounts", {"Accounts": accounts})

    got = discover_accounts(client)

    assert [(a.account_id, a.name) for a in got] == [
        ("200000000001", "status-only-active"),
        ("200000000006", "state-only-active"),
    ]


def test_malformed_entries_are_skipped_with_a_warning(
    stubbed: tuple[OrganizationsClient, Stubber], caplog: pytest.LogCaptureFixture
) -> None:
    client, stubber = stubbed
    accounts = [
        without(entry("300000000001", "no-id"), "Id"),
        without(entry("300000000002", "no-name"), "Name"),
        entry("300000000003", "bad-arn", Arn="not-an-arn"),
        entry("300000000004", "arn-of-another", Arn=arn("300000000099")),
        without(entry("300000000005", "no-arn"), "Arn"),
        without(entry("300000000006", "stateless"), "State", "Status"),
        entry("300000000007", "fine"),
    ]
    stubber.add_response("list_accounts", {"Accounts": accounts})

    with caplog.at_level(logging.WARNING, logger="ses_exporter.organizations"):
        got = discover_accounts(client)

    assert [(a.account_id, a.name) for a in got] == [("300000000007", "fine")]
    warnings = [
        r.getMessage()
        for r in caplog.records
        if r.name == "ses_exporter.organizations" and r.levelno == logging.WARNING
    ]
    assert len(warnings) == 6
    assert "None" in warnings[0]  # the entry without an Id
    for n, message in enumerate(warnings[1:], start=2):
        assert f"30000000000{n}" in message
    assert "not-an-arn" in warnings[2]


# --- partitions and role ARNs -----------------------------------------------------------


@pytest.mark.parametrize(
    ("partition", "role_name", "expected"),
    [
        ("aws", "ses-exporter", "arn:aws:iam::222222222222:role/ses-exporter"),
        ("aws-cn", "ses-exporter", "arn:aws-cn:iam::222222222222:role/ses-exporter"),
        ("aws-us-gov", "ses-exporter", "arn:aws-us-gov:iam::222222222222:role/ses-exporter"),
        ("aws", "team/ses-exporter", "arn:aws:iam::222222222222:role/team/ses-exporter"),
        ("aws-cn", "/team/ses-exporter", "arn:aws-cn:iam::222222222222:role/team/ses-exporter"),
    ],
)
def test_role_arn_is_built_in_the_accounts_partition(
    partition: str, role_name: str, expected: str
) -> None:
    account = MemberAccount("222222222222", "mail", arn("222222222222", partition))
    assert account.partition == partition
    assert account.role_arn(role_name) == expected


@pytest.mark.parametrize(
    "bad_arn",
    [
        "not-an-arn",
        "arn:aws:organizations::111111111111:account/o-exampleorg1/333333333333",  # other id
        "arn:aws:iam::222222222222:root",
        "arn:aws:organizations::111111111111:ou/o-exampleorg1/ou-abcd-11111111",
    ],
)
def test_member_account_refuses_an_arn_that_is_not_its_own(bad_arn: str) -> None:
    with pytest.raises(ValueError, match="ARN"):
        MemberAccount("222222222222", "mail", bad_arn)


def test_stubbed_gov_cloud_answer_gives_gov_cloud_role_arns(
    stubbed: tuple[OrganizationsClient, Stubber],
) -> None:
    client, stubber = stubbed
    gov = entry("400000000001", "gov", Arn=arn("400000000001", "aws-us-gov"))
    stubber.add_response("list_accounts", {"Accounts": [gov]})

    (got,) = discover_accounts(client)

    assert got.role_arn("ses-exporter") == "arn:aws-us-gov:iam::400000000001:role/ses-exporter"


def test_china_organization_in_moto_gives_china_role_arns(aws: None) -> None:
    client = boto3.client("organizations", region_name="cn-north-1")
    world = build_organization(client, accounts=2, top_level_ous=())

    got = discover_accounts(client)

    assert [a.partition for a in got] == ["aws-cn"] * 3
    assert {a.role_arn("ses-exporter") for a in got} == {
        f"arn:aws-cn:iam::{i}:role/ses-exporter"
        for i in world.account_ids() | {world.management_account_id}
    }


# --- the organization changing between discoveries --------------------------------------


def test_accounts_added_and_closed_between_discoveries(
    org: OrganizationsClient, small_world: OrgWorld
) -> None:
    prod = small_world.ou_id("prod")
    before = discover_accounts(org)
    before_prod = discover_accounts(org, organizational_units=[prod])
    assert len(before) == 13
    assert set(ids(before_prod)) == small_world.accounts_under(prod)
    assert len(before_prod) == 4  # mail-001 and mail-011 in prod, mail-002 and mail-003 below

    added = create_account(org, "mail-new", small_world.root_id, small_world.ou_id("prod-2"))
    closed = next(a for a in small_world.accounts if a.parent_id == prod)
    org.close_account(AccountId=closed.account_id)

    after = discover_accounts(org)
    after_prod = discover_accounts(org, organizational_units=[prod])

    assert set(ids(after)) == set(ids(before)) - {closed.account_id} | {added}
    assert set(ids(after_prod)) == set(ids(before_prod)) - {closed.account_id} | {added}
    assert next(a.name for a in after if a.account_id == added) == "mail-new"
