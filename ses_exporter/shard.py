"""Splitting targets between replicas: rendezvous (highest-random-weight) hashing.

Every replica reads the same configuration and discovers the same accounts, so each can
compute, for every target, which of the ``count`` replicas owns it, without talking to
the others. The owner of a placement key is the replica index with the highest weight
``blake2b(index, key)``: going from N to N+1 replicas moves only the targets whose new
highest weight is the new replica's, about 1/(N+1) of them, and the others stay put.

What a target is placed by (``targets.Target.placement``) is chosen so that every
replica computes the same key at every moment, whatever it has polled:
``account_id/region`` where the id is known from the configuration alone (a discovered
member, or an account whose ``role_arn`` names it), else ``name/region`` with the name
the configuration gives the account. An id that STS resolves later never moves a target.

The replica's own index comes from ``--shard.index``, else (in a StatefulSet) from
``SES_EXPORTER_POD_INDEX`` (the chart sets it from the pod label
``apps.kubernetes.io/pod-index``), else from the ``-N`` suffix of the hostname.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol, TypeVar

POD_INDEX_ENV = "SES_EXPORTER_POD_INDEX"
_ORDINAL = re.compile(r"-(\d+)$")


class Placed(Protocol):
    @property
    def placement(self) -> str: ...


PlacedT = TypeVar("PlacedT", bound=Placed)


class ShardError(ValueError):
    """A shard setting that cannot work; the command line exits with status 2."""


def weight(key: str, index: int) -> int:
    """The rendezvous weight of ``key`` for replica ``index``: stable across processes,
    machines and Python versions (not ``hash()``, which is salted per process)."""
    digest = hashlib.blake2b(f"{index}\x00{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def owner(key: str, count: int) -> int:
    """The index in ``range(count)`` that owns ``key``."""
    return max(range(count), key=lambda index: weight(key, index))


@dataclass(frozen=True)
class Shard:
    """This replica: ``index`` of ``count``. ``Shard()`` (one of one) owns everything."""

    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ShardError(f"--shard.count={self.count}: must be at least 1")
        if not 0 <= self.index < self.count:
            raise ShardError(
                f"--shard.index={self.index} is out of range for --shard.count={self.count} "
                f"(valid: 0 to {self.count - 1})"
            )

    def owns(self, key: str) -> bool:
        return self.count == 1 or owner(key, self.count) == self.index

    def select(self, targets: Iterable[PlacedT]) -> list[PlacedT]:
        """The targets this replica polls, in their order: those whose ``placement`` it
        owns. The daemon schedules these, and ``backfill --shard.*`` writes these."""
        return [target for target in targets if self.owns(target.placement)]


def resolve_shard(
    count: int | None, index: int | None, environ: Mapping[str, str], hostname: str
) -> Shard:
    """The ``Shard`` the flags describe; the index defaults to the StatefulSet ordinal
    when ``count`` > 1. Raises ``ShardError`` with a message that says how to fix it."""
    count = 1 if count is None else count
    if index is not None or count <= 1:
        return Shard(0 if index is None else index, count)
    raw = environ.get(POD_INDEX_ENV, "").strip()
    if raw:
        if not raw.isdigit():
            raise ShardError(f"{POD_INDEX_ENV}={raw!r} is not a replica index (0, 1, 2, ...)")
        return Shard(int(raw), count)
    match = _ORDINAL.search(hostname)
    if match is None:
        raise ShardError(
            f"--shard.count={count} needs this replica's index: pass --shard.index=I "
            f"(0 to {count - 1}), set {POD_INDEX_ENV}, or run in a StatefulSet "
            f"(hostname ending in -N; {hostname!r} does not)"
        )
    return Shard(int(match.group(1)), count)
