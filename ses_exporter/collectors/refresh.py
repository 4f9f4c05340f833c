"""Details of listed things read one call each, a budget of calls per poll.

SES lists configuration sets and identities cheaply (one call per page), but their
details take one call each, and SES allows about one request per second per account and
region: 1,000 identities take about 1,000 s to read. A collector with such details lists
everything at each poll, then refreshes only a budget of them (``refresh_budget``: a share
of the SES pace over one interval, minus the list pages, at least one; the rest is left
to the other collectors). Never tried first, then those tried longest ago; what is
known keeps being served. A name that is no longer listed is forgotten at that poll.
(The shares of the collectors that use this add up to less than the whole pace:
configuration_sets 0.5, identities 0.4; the account, send_statistics, dedicated_ips and
suppression collectors need well under the 0.1 left at their default intervals.)

Errors of a single call never fail the poll (``RefreshQueue.refresh``):

* NotFoundException: deleted between list and get; dropped.
* Throttling, 5xx after botocore's retries, timeouts and connection errors: trouble of
  the whole target, so this poll's refresh stops (more calls would only be throttled
  more or wait for more timeouts); the names not tried go first at the next poll.
* Any other error (e.g. AccessDenied by a per-resource IAM policy): the refresh goes on.

A name that failed keeps its last details. Every attempt, failed or not, sends the name to
the back of the queue, so a name that always fails never blocks the others. One warning
per poll sums the errors up.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Generic, TypeVar

from ..aws import BotoCoreError, ClientError, describe_error, error_code

PACE_SHARE = 0.5  # of the target's SES pace; the rest is left to the other collectors
THROTTLING_CODES = frozenset(
    {"Throttling", "ThrottlingException", "TooManyRequestsException", "RequestThrottled"}
)
NOT_FOUND = "NotFoundException"

Details = TypeVar("Details")


def refresh_budget(
    interval: float, requests_per_second: float, list_pages: int, share: float = PACE_SHARE
) -> int:
    """Detail calls for one poll: ``share`` of the pace over one interval, less the list
    pages, at least 1."""
    return max(1, math.floor(share * interval * requests_per_second) - list_pages)


def stops_refresh(exc: Exception) -> bool:
    """True for trouble of the whole target rather than of one name."""
    if not isinstance(exc, ClientError):
        return True  # timeouts, connection errors: every further call would wait as long
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    return error_code(exc) in THROTTLING_CODES or status >= 500


class RefreshQueue(Generic[Details]):
    """The known details of listed names and the order in which to refresh them.

    ``operation`` names the detail call in the warning (e.g. GetEmailIdentity); ``fetch``
    makes it for one name and raises botocore's errors.
    """

    def __init__(self, operation: str, fetch: Callable[[str], Details], log: logging.Logger):
        self.operation = operation
        self.fetch = fetch
        self.log = log
        self.known: dict[str, Details] = {}  # name -> its last details
        self._tried: dict[str, int] = {}  # name -> sequence number of its last attempt
        self._sequence = itertools.count()

    def pending(self, names: Iterable[str]) -> int:
        """How many of ``names`` have no details yet."""
        return sum(name not in self.known for name in names)

    def keep_only(self, names: set[str]) -> None:
        """Forgets what is known of the names not in ``names`` (no longer listed)."""
        for store in (self.known, self._tried):
            for gone in set(store) - names:
                del store[gone]

    def due(self, names: Iterable[str]) -> list[str]:
        """Never tried first (in the given order), then the ones tried longest ago."""
        names = list(names)
        new = [n for n in names if n not in self._tried]
        known = sorted((n for n in names if n in self._tried), key=self._tried.__getitem__)
        return new + known

    def refresh(self, due: list[str], context: Mapping[str, object]) -> set[str]:
        """``fetch`` for each of ``due``; returns the names found deleted. ``context``
        goes on the warning (account, region)."""
        deleted: set[str] = set()
        errors: list[str] = []
        for position, name in enumerate(due):
            # Counted as tried before the call, so that a name that always fails (whatever
            # the error) goes to the back of the queue and never blocks the others.
            self._tried[name] = next(self._sequence)
            try:
                self.known[name] = self.fetch(name)
            except (ClientError, BotoCoreError) as exc:
                if error_code(exc) == NOT_FOUND:
                    deleted.add(name)
                    self.known.pop(name, None)
                    self._tried.pop(name, None)
                    continue
                errors.append(f"{name}: {describe_error(exc)}")
                if stops_refresh(exc):
                    self._warn(errors, context, left_for_next_poll=len(due) - position - 1)
                    return deleted
        if errors:
            self._warn(errors, context, left_for_next_poll=0)
        return deleted

    def _warn(
        self, errors: list[str], context: Mapping[str, object], left_for_next_poll: int
    ) -> None:
        """One warning per poll; the names that failed keep their last details."""
        self.log.warning(
            f"{self.operation} failed; keeping the last values of the ones concerned",
            extra={
                **context,
                "failed": len(errors),
                "left_for_next_poll": left_for_next_poll,
                "error": errors[0],
            },
        )
