"""An AWS Organization built in moto, for discovery tests at any level.

``build_organization`` creates the organization (the caller's account becomes its
management account), a tree of OUs and member accounts spread over the root and every OU:

    root ─┬─ ou "prod"    ─┬─ ou "prod-1"
          │                └─ ou "prod-2"
          ├─ ou "staging" ─┬─ ...
          └─ ou "dev"     ─┬─ ...

With the defaults, 120 accounts over 10 parents (root, 3 OUs, 6 child OUs): 12 in each,
named ``mail-000`` ... ``mail-119``, dealt round robin (mail-000 in the root, mail-001 in
prod, mail-002 in prod-1, ...). Run it inside moto (``mock_aws`` or the ``aws`` fixture)
with an organizations client; the client's region picks the partition of the ARNs moto
returns (cn-north-1 gives ``arn:aws-cn:...``).

moto 5.2.5: CreateAccount answers State SUCCEEDED with the AccountId at once, where AWS
answers IN_PROGRESS and the id comes later from DescribeCreateAccountStatus; the helper
handles both. The management account (moto names it "master") is in the root.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mypy_boto3_organizations import OrganizationsClient

TOP_LEVEL_OUS = ("prod", "staging", "dev")
# The regions of an org_entry().
ORG_REGIONS = ("us-east-1", "eu-west-1")
MAX_STATUS_READS = 50  # DescribeCreateAccountStatus calls before giving up on an account


@dataclass(frozen=True)
class OrgAccount:
    account_id: str
    name: str
    parent_id: str  # the root or OU id the account sits in


@dataclass(frozen=True)
class OrgWorld:
    organization_id: str
    root_id: str
    management_account_id: str
    management_account_name: str
    top_level_ous: tuple[str, ...]  # OU ids directly under the root, in TOP_LEVEL_OUS order
    child_ous: Mapping[str, tuple[str, ...]]  # parent id -> ids of the OUs directly under it
    ou_names: Mapping[str, str]  # OU id -> name
    accounts: tuple[OrgAccount, ...]  # the created member accounts, in creation order

    @property
    def ou_ids(self) -> tuple[str, ...]:
        """Every OU id (not the root), parents before their children."""
        return tuple(self._ous_under(self.root_id))

    def ou_id(self, name: str) -> str:
        return next(ou_id for ou_id, ou_name in self.ou_names.items() if ou_name == name)

    def account_ids(self) -> set[str]:
        """The created member accounts, without the management account."""
        return {a.account_id for a in self.accounts}

    def accounts_under(self, parent_id: str) -> set[str]:
        """Ids of the created accounts in ``parent_id`` or any OU below it.

        The management account is not among them, although it sits in the root.
        """
        parents = {parent_id, *self._ous_under(parent_id)}
        return {a.account_id for a in self.accounts if a.parent_id in parents}

    def name_of(self, account_id: str) -> str:
        if account_id == self.management_account_id:
            return self.management_account_name
        return next(a.name for a in self.accounts if a.account_id == account_id)

    def _ous_under(self, parent_id: str) -> Iterator[str]:
        for child in self.child_ous.get(parent_id, ()):
            yield child
            yield from self._ous_under(child)


def create_account(
    client: OrganizationsClient, name: str, root_id: str, parent_id: str | None = None
) -> str:
    """CreateAccount (then MoveAccount into ``parent_id``); returns the new account id."""
    status = client.create_account(AccountName=name, Email=f"{name}@example.com")[
        "CreateAccountStatus"
    ]
    for _ in range(MAX_STATUS_READS):
        if status.get("State") != "IN_PROGRESS":
            break
        status = client.describe_create_account_status(CreateAccountRequestId=status["Id"])[
            "CreateAccountStatus"
        ]
    if status.get("State") != "SUCCEEDED" or "AccountId" not in status:
        raise RuntimeError(f"CreateAccount {name!r} did not succeed: {status}")
    account_id = status["AccountId"]
    if parent_id is not None and parent_id != root_id:
        client.move_account(
            AccountId=account_id, SourceParentId=root_id, DestinationParentId=parent_id
        )
    return account_id


def build_organization(
    client: OrganizationsClient,
    accounts: int = 120,
    top_level_ous: tuple[str, ...] = TOP_LEVEL_OUS,
    children_per_ou: int = 2,
    name_prefix: str = "mail",
) -> OrgWorld:
    """Create the organization, its OUs and ``accounts`` member accounts (see module doc)."""
    organization = client.create_organization(FeatureSet="ALL")["Organization"]
    root_id = client.list_roots()["Roots"][0]["Id"]
    management_id = organization["MasterAccountId"]
    management = client.describe_account(AccountId=management_id)["Account"]

    child_ous: dict[str, tuple[str, ...]] = {}
    ou_names: dict[str, str] = {}

    def create_ou(parent_id: str, name: str) -> str:
        ou_id = client.create_organizational_unit(ParentId=parent_id, Name=name)[
            "OrganizationalUnit"
        ]["Id"]
        child_ous[parent_id] = (*child_ous.get(parent_id, ()), ou_id)
        ou_names[ou_id] = name
        return ou_id

    parents = [root_id]
    top_ids = []
    for top_name in top_level_ous:
        top_id = create_ou(root_id, top_name)
        top_ids.append(top_id)
        parents.append(top_id)
        for n in range(1, children_per_ou + 1):
            parents.append(create_ou(top_id, f"{top_name}-{n}"))

    created = []
    for i in range(accounts):
        name = f"{name_prefix}-{i:03d}"
        parent_id = parents[i % len(parents)]
        created.append(
            OrgAccount(create_account(client, name, root_id, parent_id), name, parent_id)
        )

    return OrgWorld(
        organization_id=organization["Id"],
        root_id=root_id,
        management_account_id=management_id,
        management_account_name=management["Name"],
        top_level_ous=tuple(top_ids),
        child_ous=child_ous,
        ou_names=ou_names,
        accounts=tuple(created),
    )


def org_entry(**extra: str) -> str:
    """One entry of a config's ``organizations:`` list, ``extra`` keys added or replaced."""
    lines = {
        "name": "main",
        "member_role_name": "OrganizationAccountAccessRole",
        "regions": f"[{', '.join(ORG_REGIONS)}]",
        "ses_requests_per_second": "1000",
        **extra,
    }
    first, *rest = lines.items()
    return f"  - {first[0]}: {first[1]}\n" + "".join(f"    {k}: {v}\n" for k, v in rest)
