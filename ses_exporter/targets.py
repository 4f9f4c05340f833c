"""Accounts and targets at run time: sessions, clients, resolved account ids, collectors.

Accounts come from two places: ``accounts[]`` in the config, and the members that each
``organizations[]`` entry discovered (``Discovered``). Both become the same ``Account``;
a discovered member is an ``AccountConfig`` built by ``OrganizationConfig.member`` whose
id is known from Organizations, so it needs no STS call. An account that is both listed
and discovered is polled once, as listed.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from pydantic import SecretStr

from .aws import AccountSession, ClientFactory, Pacer, TargetClients, caller_account_id
from .collectors import REGISTRY, Collector, TargetContext
from .config import AccountConfig, Config
from .organizations import MemberAccount

_ROLE_ACCOUNT = re.compile(r"arn:[^:]+:iam::(\d{12}):role/")


class Account:
    """One account to poll: its session and its account id, resolved once via STS
    unless Organizations told it."""

    def __init__(
        self,
        key: str,
        config: AccountConfig,
        factory: ClientFactory,
        account_id: str | None = None,
        organization: str | None = None,
    ):
        self.key = key
        self.config = config
        self.organization = organization
        # What shard.Shard places this account's targets by, set by build_targets (see
        # _entries): the same on every replica, and never changed by an id STS resolves.
        self.placement = key
        self._factory = factory
        self._session: AccountSession | None = None
        self._account_id = account_id
        self._lock = threading.Lock()

    @property
    def session(self) -> AccountSession:
        """Created on first use: building 1,500 targets must not hold up the start."""
        with self._lock:
            if self._session is None:
                config = self.config
                secret = config.external_id.get_secret_value() if config.external_id else None
                self._session = self._factory.account_session(
                    profile=config.profile,
                    role_arn=config.role_arn,
                    external_id=secret,
                    endpoint_url=config.endpoint_url,
                    region=config.regions[0],
                )
            return self._session

    @property
    def label(self) -> str:
        """The account_id label: the real id once resolved, else the config's name for it."""
        return self._account_id or self.key

    @property
    def known_id(self) -> str | None:
        """The 12-digit id if known: resolved, discovered, or read from the role ARN."""
        if self._account_id is not None:
            return self._account_id
        return _role_account(self.config)

    @property
    def display_name(self) -> str:
        """For ses_exporter_account_info: the configured or discovered name, else the key."""
        return self.config.name or self.key

    def account_id(self, clients: TargetClients) -> str:
        """STS GetCallerIdentity, once; a failure raises and is retried at the next poll."""
        if self._account_id is None:
            resolved = caller_account_id(clients.sts)
            with self._lock:
                self._account_id = resolved
        return self._account_id


@dataclass
class Target:
    """One (account, region) with its clients and one collector instance per enabled collector."""

    account: Account
    region: str
    clients: TargetClients
    collectors: dict[str, Collector] = field(default_factory=dict)
    cloudwatch_metrics_requested: int = 0  # only the target's cloudwatch poll adds to it

    def count_cloudwatch_metrics(self, count: int) -> None:
        self.cloudwatch_metrics_requested += count

    @property
    def placement(self) -> str:
        """The key that decides which replica polls this target: ``account_id/region``,
        or ``name/region`` for a listed account whose id only STS can tell."""
        return f"{self.account.placement}/{self.region}"

    def labels(self) -> dict[str, str]:
        return {
            "account_id": self.account.label,
            "region": self.region,
            **self.account.config.labels,
        }


@dataclass(frozen=True)
class Discovered:
    """The accounts one ``organizations[]`` entry found at its last successful discovery."""

    organization: str  # the entry's display name
    index: int  # its position in organizations[]
    members: tuple[MemberAccount, ...]


@dataclass(frozen=True)
class _Entry:
    key: str
    config: AccountConfig
    account_id: str | None = None
    organization: str | None = None
    placement: str = ""


def build_targets(
    config: Config,
    factory: ClientFactory,
    discovered: Iterable[Discovered] = (),
    previous: Iterable[Target] = (),
) -> list[Target]:
    """Every target of ``config`` and of the discovered accounts; no AWS call is made here
    (clients are created on their first use).

    On a reload or a new discovery, targets whose account settings (other than the region
    list and the configuration-set filter) and region are unchanged are taken from
    ``previous`` as they are, with their
    clients, resolved account id and collector state (counters keep counting); only their
    collector set and settings are updated.
    """
    old = list(previous)
    names = enabled_collectors(config)
    by_key = {t.account.key: t.account for t in old}
    # Indexed once: a reload or discovery at 1,500 targets stays linear.
    old_targets = {(id(t.account), t.region): t for t in old}
    targets = []
    for entry in _entries(config, discovered, old, by_key):
        account = by_key.get(entry.key)
        if account is None or not same_account(account.config, entry.config):
            account = Account(
                entry.key, entry.config, factory, entry.account_id, entry.organization
            )
        account.config = entry.config
        account.placement = entry.placement
        for region in entry.config.regions:
            target = old_targets.get((id(account), region))
            if target is None:
                rate = entry.config.ses_requests_per_second
                target = Target(account, region, _clients(account, region, rate))
            _configure(target, config, names)
            targets.append(target)
    return targets


def _clients(account: Account, region: str, requests_per_second: float) -> TargetClients:
    return TargetClients(lambda: account.session, region, Pacer(requests_per_second))


def _entries(
    config: Config,
    discovered: Iterable[Discovered],
    old: list[Target],
    old_accounts: Mapping[str, Account],
) -> list[_Entry]:
    # Placement (sharding) by the id where the config tells it, else by the key that a
    # process starting now would give the account: the same on every replica, whatever
    # reloads each has been through (the runtime key may keep an older name).
    entries = [
        _Entry(key, account, placement=_role_account(account) or fresh)
        for key, fresh, account in zip(
            _unique_keys(config, old), _unique_keys(config, []), config.accounts, strict=True
        )
    ]
    # Ids of listed accounts: resolved by STS before, or in their role ARN.
    seen: set[str] = set()
    for entry in entries:
        previous = old_accounts.get(entry.key)
        known = previous.known_id if previous is not None else _role_account(entry.config)
        if known is not None:
            seen.add(known)
    for found in sorted(discovered, key=lambda d: d.index):
        organization = config.organizations[found.index]
        for member in found.members:
            if member.account_id in seen:
                continue  # listed in accounts[] (that entry wins) or found by another entry
            seen.add(member.account_id)
            role_arn = member.role_arn(organization.member_role_name)
            account = organization.member(member.account_id, member.name, role_arn)
            entries.append(
                _Entry(
                    member.account_id,
                    account,
                    member.account_id,
                    found.organization,
                    member.account_id,
                )
            )
    return entries


def _role_account(config: AccountConfig) -> str | None:
    """The account id in the role ARN, if there is one."""
    match = _ROLE_ACCOUNT.match(config.role_arn or "")
    return match.group(1) if match else None


def same_account(a: AccountConfig, b: AccountConfig) -> bool:
    """Whether two account configs differ at most in their regions and their
    configuration-set filter."""
    return _identity(a) == _identity(b)


def _identity(account: AccountConfig) -> str:
    """The account's settings other than its regions and its configuration-set filter, as
    a string to compare and index by; the external id's value counts (it is kept in
    memory only, never shown).

    The filter reaches the collectors through ``configure``: a set excluded by a reload
    and included again must find the counters that counted it (a new target would start
    from a new baseline, losing what CloudWatch publishes late in between)."""

    def secret(value: object) -> str:
        if isinstance(value, SecretStr):
            return value.get_secret_value()
        raise TypeError(type(value).__name__)

    settings = account.model_dump(exclude={"regions", "configuration_sets"})
    return json.dumps(settings, sort_keys=True, default=secret)


def _unique_keys(config: Config, old: list[Target]) -> list[str]:
    """Per listed account: the key of the same account before a reload, else a new unique
    one. Discovered accounts are keyed by their id, which a name can never be (a name of
    twelve digits is told apart by the '#' suffix)."""
    keys: list[str] = []
    taken = {t.account.key for t in old}
    listed: dict[str, str] = {}  # identity of an old listed account's settings -> its key
    for t in old:
        if t.account.organization is None:
            listed.setdefault(_identity(t.account.config), t.account.key)
    for index, account in enumerate(config.accounts):
        same = listed.get(_identity(account))
        if same is not None and same not in keys:
            keys.append(same)
            continue
        key, n = account.display_name(index), 2
        while key in taken or key in keys or _ACCOUNT_ID.fullmatch(key):
            key, n = f"{account.display_name(index)}#{n}", n + 1
        keys.append(key)
    return keys


_ACCOUNT_ID = re.compile(r"\d{12}")


def _configure(target: Target, config: Config, names: Iterable[str]) -> None:
    """Gives the target one collector per enabled name: the existing instance (its state
    kept) with the settings of ``config``, else a new one."""
    target.collectors = {name: _collector(name, target, config) for name in names}


def _collector(name: str, target: Target, config: Config) -> Collector:
    """The target's collector ``name``, given its clients and its own settings only."""
    account = target.account.config
    context = TargetContext(
        target.clients,
        account.configuration_sets,
        account.ses_requests_per_second,
        config.reputation_thresholds,
        target.count_cloudwatch_metrics,
    )
    cls = REGISTRY[name]
    existing = target.collectors.get(name)
    return cls.build(
        context, config.collectors.get(name), existing if isinstance(existing, cls) else None
    )


def enabled_collectors(config: Config) -> list[str]:
    return [name for name in REGISTRY if config.collectors.get(name).enabled]


def account_names(targets: Sequence[Target]) -> Mapping[str, tuple[str, str]]:
    """{account_id: (name, organization)} for every account whose id is known."""
    names: dict[str, tuple[str, str]] = {}
    for target in targets:
        account = target.account
        if account.known_id is not None and account.label == account.known_id:
            names[account.known_id] = (account.display_name, account.organization or "")
    return names
