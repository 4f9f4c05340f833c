"""One ``organizations[]`` entry at run time: its management-account client, its last
discovery and how that went (``ses_exporter_organization_*``).

A failed discovery keeps the accounts of the last good one: a throttled or denied
ListAccounts must not make a whole organization's targets disappear. For the same reason
an entry a reload changed starts from what its previous version found (``inherit``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, cast

from .aws import ClientFactory, describe_error, error_outcome
from .config import OrganizationConfig
from .logsetup import redact
from .organizations import discover_accounts
from .targets import Discovered

if TYPE_CHECKING:
    from mypy_boto3_organizations import OrganizationsClient

log = logging.getLogger("ses_exporter.discovery")


@dataclass(frozen=True)
class DiscoveryStatus:
    organization: str
    attempts: int = 0
    success: bool | None = None
    last_success: float | None = None
    duration: float | None = None
    accounts: int | None = None  # accounts kept by the last good discovery
    last_error: str | None = None


class OrganizationDiscovery:
    def __init__(
        self,
        index: int,
        config: OrganizationConfig,
        factory: ClientFactory,
        clock: Callable[[], float] = time.time,
    ):
        self.index = index
        self.config = config
        self.name = config.display_name(index)
        self.clock = clock
        self.result: Discovered | None = None
        self._status = DiscoveryStatus(self.name)
        self._session = factory.account_session(
            profile=config.profile,
            role_arn=config.role_arn,
            external_id=config.external_id.get_secret_value() if config.external_id else None,
            endpoint_url=config.endpoint_url,
            region=config.regions[0],
        )
        self._client: OrganizationsClient | None = None
        self._lock = threading.Lock()

    @property
    def job_id(self) -> str:
        return f"organizations[{self.index}]"

    def status(self) -> DiscoveryStatus:
        with self._lock:
            return self._status

    def inherit(self, previous: OrganizationDiscovery) -> None:
        """Starts from the accounts and status of the entry's previous version (a reload
        changed the entry), the accounts filtered by this version's ``accounts`` patterns,
        until this version's own first discovery (run at once) answers. Without it a
        reload that changed a filter or label of the entry would drop every account it
        had found and rebuild it a moment later: counters restarted from 0, series gone
        in between, and all of them gone while ListAccounts fails."""
        with previous._lock:
            result, status = previous.result, previous._status
        if result is not None:
            accept = self.config.accounts.matches
            members = tuple(m for m in result.members if accept(m.account_id, m.name))
            self.result = Discovered(self.name, self.index, members)
            status = replace(status, accounts=len(members))
        with self._lock:
            self._status = replace(status, organization=self.name)

    def refresh(self) -> bool:
        """ListAccounts (or the OU walk) now; True if it succeeded. Never raises."""
        started = self.clock()
        attempts = self.status().attempts + 1
        try:
            members = discover_accounts(
                self._organizations(),
                self.config.organizational_units,
                self.config.accounts.matches,
            )
        except Exception as exc:  # isolation: a failed discovery keeps the last good one
            error = redact(describe_error(exc))
            with self._lock:
                self._status = replace(
                    self._status,
                    attempts=attempts,
                    success=False,
                    duration=self.clock() - started,
                    last_error=error,
                )
            log.warning(
                "organizations discovery failed; keeping the accounts found before",
                extra={"organization": self.name, "outcome": error_outcome(exc), "error": error},
            )
            return False
        now = self.clock()
        with self._lock:
            self.result = Discovered(self.name, self.index, tuple(members))
            self._status = replace(
                self._status,
                attempts=attempts,
                success=True,
                last_success=now,
                duration=now - started,
                accounts=len(members),
                last_error=None,
            )
        log.info(
            "organizations discovery done",
            extra={"organization": self.name, "accounts": len(members)},
        )
        return True

    def _organizations(self) -> OrganizationsClient:
        # Organizations has one endpoint per partition; botocore's rules pick it from
        # any region of the partition.
        if self._client is None:
            client = self._session.client("organizations", self.config.regions[0])
            self._client = cast("OrganizationsClient", client)
        return self._client
