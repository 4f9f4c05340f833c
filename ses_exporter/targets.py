"""Accounts and targets at run time: sessions, clients, resolved account ids, collectors."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

from .aws import AccountSession, ClientHook, RequestCounter, TargetClients, caller_account_id
from .aws import make_session as _make_session
from .collectors import REGISTRY, Collector, CollectorContext
from .config import AccountConfig, Config


class Account:
    """One configured account: its session and its account id, resolved once via STS."""

    def __init__(self, key: str, config: AccountConfig, session: AccountSession):
        self.key = key
        self.config = config
        self.session = session
        self._account_id: str | None = None
        self._lock = threading.Lock()

    @property
    def label(self) -> str:
        """The account_id label: the real id once resolved, else the config's name for it."""
        return self._account_id or self.key

    def account_id(self, clients: TargetClients) -> str:
        """STS GetCallerIdentity, once; a failure raises and is retried at the next poll."""
        with self._lock:
            if self._account_id is None:
                self._account_id = caller_account_id(clients.sts)
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

    def labels(self) -> dict[str, str]:
        return {
            "account_id": self.account.label,
            "region": self.region,
            **self.account.config.labels,
        }


def build_targets(
    config: Config,
    counter: RequestCounter,
    client_hooks: Iterable[ClientHook] = (),
    previous: Iterable[Target] = (),
) -> list[Target]:
    """Every target of ``config``, creating sessions, clients and collectors up front.

    On a reload, targets whose account settings (other than the region list) and region
    are unchanged are taken from ``previous`` as they are, with their clients, resolved
    account id and collector state (counters keep counting); only their collector set
    and settings are updated.
    No AWS call is made here.
    """
    hooks = tuple(client_hooks)
    old = list(previous)
    names = enabled_collectors(config)
    keys = _unique_keys(config, old)
    targets = []
    for index, account_config in enumerate(config.accounts):
        account = next(
            (t.account for t in old if same_account(t.account.config, account_config)), None
        )
        if account is None:
            account = Account(keys[index], account_config, _session(account_config, counter, hooks))
        account.config = account_config
        for region in account_config.regions:
            target = next((t for t in old if t.account is account and t.region == region), None)
            if target is None:
                clients = account.session.target_clients(
                    region, account_config.ses_requests_per_second
                )
                target = Target(account, region, clients)
            _configure(target, config, names)
            targets.append(target)
    return targets


def same_account(a: AccountConfig, b: AccountConfig) -> bool:
    """Whether two account configs differ at most in their regions (SecretStr compares
    by value in model_dump's python mode)."""
    return a.model_dump(exclude={"regions"}) == b.model_dump(exclude={"regions"})


def _session(
    account: AccountConfig, counter: RequestCounter, hooks: tuple[ClientHook, ...]
) -> AccountSession:
    return _make_session(
        profile=account.profile,
        role_arn=account.role_arn,
        external_id=account.external_id.get_secret_value() if account.external_id else None,
        endpoint_url=account.endpoint_url,
        region=account.regions[0],
        counter=counter,
        client_hooks=hooks,
    )


def _unique_keys(config: Config, old: list[Target]) -> list[str]:
    """Per account: the key of the same account before a reload, else a new unique one."""
    keys: list[str] = []
    taken = {t.account.key for t in old}
    for index, account in enumerate(config.accounts):
        same = next((t.account.key for t in old if same_account(t.account.config, account)), None)
        if same is not None:
            keys.append(same)
            continue
        key, n = account.display_name(index), 2
        while key in taken or key in keys:
            key, n = f"{account.display_name(index)}#{n}", n + 1
        keys.append(key)
    return keys


def _configure(target: Target, config: Config, names: Iterable[str]) -> None:
    """Gives the target one collector per enabled name, keeping existing instances."""
    context = CollectorContext(
        target.clients,
        target.account.config,
        target.region,
        config.collectors,
        config.reputation_thresholds,
        target.count_cloudwatch_metrics,
    )
    collectors = {}
    for name in names:
        collector = target.collectors.get(name)
        if collector is None:
            collector = REGISTRY[name](context)
        collector.context = context
        collectors[name] = collector
    target.collectors = collectors


def enabled_collectors(config: Config) -> list[str]:
    return [name for name in REGISTRY if config.collectors.get(name).enabled]
