"""Accounts and targets at run time: sessions, clients, resolved account ids, collectors."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
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
    config: Config, counter: RequestCounter, client_hooks: Iterable[ClientHook] = ()
) -> list[Target]:
    """Creates every session, client and collector up front (no AWS call is made here)."""
    hooks = tuple(client_hooks)
    targets = []
    for index, account_config in enumerate(config.accounts):
        session = _make_session(
            profile=account_config.profile,
            role_arn=account_config.role_arn,
            external_id=(
                account_config.external_id.get_secret_value()
                if account_config.external_id
                else None
            ),
            endpoint_url=account_config.endpoint_url,
            region=account_config.regions[0],
            counter=counter,
            client_hooks=hooks,
        )
        account = Account(account_config.display_name(index), account_config, session)
        for region in account_config.regions:
            clients = session.target_clients(region, account_config.ses_requests_per_second)
            target = Target(account, region, clients)
            context = CollectorContext(
                clients,
                account_config,
                region,
                config.collectors,
                config.reputation_thresholds,
                target.count_cloudwatch_metrics,
            )
            target.collectors = _collectors(context, enabled_collectors(config))
            targets.append(target)
    return targets


def enabled_collectors(config: Config) -> list[str]:
    return [name for name in REGISTRY if config.collectors.get(name).enabled]


def _collectors(context: CollectorContext, names: Iterable[str]) -> dict[str, Collector]:
    return {name: REGISTRY[name](context) for name in names}


def static_label_names(targets: Iterable[Target]) -> Mapping[str, None]:
    names: dict[str, None] = {}
    for target in targets:
        names.update(dict.fromkeys(target.account.config.labels))
    return names
