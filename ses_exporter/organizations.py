"""AWS Organizations discovery: the member accounts to poll, and the role to assume in each.

Sources, called from the management account or a delegated administrator:

* organizations ListAccounts, when no ``organizational_units`` are configured: every
  account of the organization in one listing.
* organizations ListAccountsForParent and ListChildren (ChildType ORGANIZATIONAL_UNIT),
  when they are: ListAccountsForParent lists only the accounts *directly* in an OU, so the
  walk asks ListChildren for the child OUs and lists their accounts too, all the way down.
  ListChildren with ChildType ACCOUNT would give bare ids, and a DescribeAccount per
  account for the name and state; ListAccountsForParent gives them in the same pages.

All three are read with botocore's paginators at 20 items a page, the most the API allows.
The AWS documentation warns that these List calls "can occasionally return an empty set of
results even when more results are available": botocore's ``PageIterator`` keeps going
until NextToken is absent, whatever the page held, so empty pages are followed.

Only ACTIVE accounts are kept: ``State`` is read, and ``Status`` (deprecated, retired by
AWS on 2026-09-09) only when an answer has no ``State``. An entry without Id, Name or a
well-formed account ARN is skipped with a warning instead of failing the discovery.
The management account is listed like any other and kept: it can send SES mail too
(``accounts.exclude`` drops it by id when its role does not exist). AWS errors propagate,
so that a discovery yields the whole organization or nothing, never part of it.

Sample::

    discover_accounts(client, accept=lambda account_id, name: name != "sandbox")
    [MemberAccount(account_id='111111111111', name='management',
                   arn='arn:aws:organizations::111111111111:account/o-exampleorg/111111111111'),
     MemberAccount(account_id='222222222222', name='mail-prod',
                   arn='arn:aws:organizations::111111111111:account/o-exampleorg/222222222222')]

    _[1].role_arn("ses-exporter")
    'arn:aws:iam::222222222222:role/ses-exporter'
"""

from __future__ import annotations

import logging
import re
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_organizations import OrganizationsClient
    from mypy_boto3_organizations.type_defs import PaginatorConfigTypeDef

log = logging.getLogger("ses_exporter.organizations")

# MaxResults is 1-20 for ListAccounts, ListAccountsForParent and ListChildren in
# botocore's organizations 2016-11-28 model (botocore checks only the minimum, so a
# larger one would reach AWS and be refused there).
PAGE_SIZE = 20
# botocore/paginate.py (1.44.8), PageIterator.__iter__: the loop ends only when NextToken
# is absent or empty, whatever the page held, so an empty page with a token is followed;
# the same token twice in a row raises PaginationError (a BotoCoreError) instead of looping.
PAGINATION: PaginatorConfigTypeDef = {"PageSize": PAGE_SIZE}
ACTIVE = "ACTIVE"

# arn:{partition}:organizations::{management account}:account/o-{org id}/{account id}
# (botocore's AccountArn pattern spells the partition "aws" only; China and GovCloud
# answers carry aws-cn and aws-us-gov, so any partition is accepted here).
_ACCOUNT_ARN = re.compile(
    r"arn:(?P<partition>aws(?:-[a-z]+)*):organizations::\d{12}"
    r":account/o-[a-z0-9]{10,32}/(?P<account_id>\d{12})"
)


@dataclass(frozen=True)
class MemberAccount:
    """One ACTIVE account of an organization, as Organizations lists it.

    Raises ValueError when ``arn`` is not an Organizations account ARN for ``account_id``.
    """

    account_id: str  # 12 digits
    name: str
    arn: str  # arn:aws:organizations::111111111111:account/o-exampleorg/222222222222

    def __post_init__(self) -> None:
        match = _ACCOUNT_ARN.fullmatch(self.arn)
        if match is None:
            raise ValueError(f"not an Organizations account ARN: {self.arn!r}")
        if match["account_id"] != self.account_id:
            raise ValueError(f"ARN {self.arn!r} is not the ARN of account {self.account_id!r}")

    @property
    def partition(self) -> str:
        """ "aws", "aws-cn", "aws-us-gov", ...: IAM ARNs must be built in the same one."""
        return self.arn.split(":", 2)[1]

    def role_arn(self, role_name: str) -> str:
        """The ARN of the IAM role ``role_name`` in this account.

        ``role_name`` may carry the role's path: "team/ses-exporter" gives
        ``arn:aws:iam::222222222222:role/team/ses-exporter``.
        """
        name = role_name.strip("/")
        if not name:
            raise ValueError("the role name is empty")
        return f"arn:{self.partition}:iam::{self.account_id}:role/{name}"


def discover_accounts(
    client: OrganizationsClient,
    organizational_units: Sequence[str] = (),
    accept: Callable[[str, str], bool] | None = None,
) -> list[MemberAccount]:
    """ACTIVE member accounts, sorted by id; with OUs: only those under them, recursively.

    Without ``organizational_units`` this is organizations ListAccounts, which includes the
    management account. With them it is ListAccountsForParent for each OU and for every OU
    below it, found with ListChildren; a root id (``r-...``) works as well. An account listed
    twice (an OU and one of its child OUs both configured) is kept once.

    ``accept(account_id, name)`` decides which accounts are kept (the configured
    include/exclude patterns). botocore errors, e.g. ParentNotFoundException for an unknown
    OU id or AccessDeniedException outside the management account, propagate.
    """
    if organizational_units:
        entries = _accounts_under(client, organizational_units)
    else:
        entries = _accounts_of_organization(client)
    found: dict[str, MemberAccount] = {}
    for entry in entries:
        account = _active_account(entry)
        if account is None or account.account_id in found:
            continue
        if accept is None or accept(account.account_id, account.name):
            found[account.account_id] = account
    return [found[account_id] for account_id in sorted(found)]


def _accounts_of_organization(client: OrganizationsClient) -> Iterator[Mapping[str, Any]]:
    for page in client.get_paginator("list_accounts").paginate(PaginationConfig=PAGINATION):
        yield from page.get("Accounts", [])


def _accounts_under(
    client: OrganizationsClient, parent_ids: Iterable[str]
) -> Iterator[Mapping[str, Any]]:
    """Accounts directly in each parent, then in its child OUs, breadth first."""
    accounts = client.get_paginator("list_accounts_for_parent")
    children = client.get_paginator("list_children")
    pending = deque(parent_ids)
    visited: set[str] = set()
    while pending:
        parent_id = pending.popleft()
        if parent_id in visited:
            continue
        visited.add(parent_id)
        for page in accounts.paginate(ParentId=parent_id, PaginationConfig=PAGINATION):
            yield from page.get("Accounts", [])
        for child_page in children.paginate(
            ParentId=parent_id, ChildType="ORGANIZATIONAL_UNIT", PaginationConfig=PAGINATION
        ):
            pending.extend(child["Id"] for child in child_page.get("Children", []) if "Id" in child)


def _active_account(entry: Mapping[str, Any]) -> MemberAccount | None:
    """The account of one Accounts entry; None if it is not ACTIVE or is malformed."""
    account_id, name, arn = entry.get("Id"), entry.get("Name"), entry.get("Arn")
    # Answers from before State existed carry only Status; where both are present, State
    # wins: it is the finer one (five values to Status's three) and Status is deprecated.
    state = entry.get("State") or entry.get("Status")
    if state is None:
        log.warning("organizations: account entry %r without State or Status skipped", account_id)
        return None
    if state != ACTIVE:
        log.debug("organizations: account %r skipped: %s", account_id, state)
        return None
    if not isinstance(account_id, str) or not isinstance(name, str) or not name:
        log.warning("organizations: account entry %r without Id or Name skipped", account_id)
        return None
    try:
        return MemberAccount(account_id=account_id, name=name, arn=str(arn))
    except ValueError as e:
        log.warning("organizations: account entry %r skipped: %s", account_id, e)
        return None
