"""The snapshot cache between the poller and ``/metrics``.

Each (target, collector) has one frozen ``PollStatus``. A poll replaces it whole, so a
scrape sees either the old or the new result, never half of each; ``/metrics`` reads
only this and never waits on AWS.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from prometheus_client.metrics_core import Metric

# (account key, region, collector): stable across polls and config reloads.
StatusKey = tuple[str, str, str]


@dataclass(frozen=True)
class PollStatus:
    account_id: str
    region: str
    collector: str
    max_staleness: float
    attempts: int = 0
    success: bool | None = None  # None until the first poll has finished
    last_success: float | None = None
    duration: float | None = None
    last_error: str | None = None
    families: tuple[Metric, ...] = ()

    def is_fresh(self, now: float) -> bool:
        """Whether the last good families may still be exposed (SPEC 2.5)."""
        return self.last_success is not None and now - self.last_success <= self.max_staleness


class SnapshotStore:
    def __init__(self) -> None:
        self._entries: dict[StatusKey, PollStatus] = {}
        self._lock = threading.Lock()

    def register(self, key: StatusKey, account_id: str, max_staleness: float) -> None:
        with self._lock:
            old = self._entries.get(key)
            if old is None:
                self._entries[key] = PollStatus(account_id, key[1], key[2], max_staleness)
            else:
                self._entries[key] = replace(old, max_staleness=max_staleness)

    def remove(self, key: StatusKey) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def record_success(
        self,
        key: StatusKey,
        account_id: str,
        families: Sequence[Metric],
        duration: float,
        now: float,
    ) -> None:
        self._record(
            key,
            account_id,
            duration,
            success=True,
            last_success=now,
            last_error=None,
            families=tuple(families),
        )

    def record_failure(
        self, key: StatusKey, account_id: str, error: str, duration: float, now: float
    ) -> None:
        self._record(key, account_id, duration, failed_at=now, success=False, last_error=error)

    def _record(
        self,
        key: StatusKey,
        account_id: str,
        duration: float,
        failed_at: float | None = None,
        **changes: Any,
    ) -> None:
        with self._lock:
            old = self._entries.get(key)
            if old is None:
                return  # removed by a reload while this poll ran: its result has no home
            if failed_at is not None and not old.is_fresh(failed_at):
                changes["families"] = ()  # the last good values have gone stale
            self._entries[key] = replace(
                old,
                account_id=account_id,
                attempts=old.attempts + 1,
                duration=duration,
                **changes,
            )

    def statuses(self) -> list[PollStatus]:
        with self._lock:
            return list(self._entries.values())

    def all_attempted(self) -> bool:
        with self._lock:
            return all(status.attempts > 0 for status in self._entries.values())
