"""What every request passes before it is routed: basic auth and the rate limit.

Both come from the web configuration file (``basic_auth_users``, ``rate_limit``) and are
built afresh when it is reloaded.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import bcrypt


class BasicAuth:
    """Checks ``Authorization: Basic`` headers against bcrypt hashes.

    bcrypt is slow on purpose (~70 ms at cost 10), so results are cached, as exporter-toolkit
    does, under a keyed hash of user, stored hash and password: the cache holds no password.
    An unknown user is checked against a real user's hash, so timing does not tell whether a
    user name exists. One bcrypt runs at a time: a flood of bad passwords costs one CPU.
    """

    _CACHE_SIZE = 100

    def __init__(self, users: Mapping[str, bytes]) -> None:
        self._users = {user.encode(): hashed for user, hashed in users.items()}
        self._decoy = next(iter(self._users.values()), b"")
        self._key = secrets.token_bytes(32)
        self._cache: dict[bytes, bool] = {}
        self._lock = threading.Lock()
        self._bcrypt_lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return bool(self._users)

    def check(self, authorization: str | None) -> bool:
        credentials = _basic_credentials(authorization)
        if credentials is None or not self._users:
            return False
        user, password = credentials
        hashed = self._users.get(user)
        known = hashed is not None
        hashed = hashed if hashed is not None else self._decoy
        digest = hashlib.blake2b(key=self._key)
        for part in (user, hashed, password):
            digest.update(len(part).to_bytes(8, "big") + part)
        cache_key = digest.digest()
        with self._lock:
            cached = self._cache.get(cache_key)
        if cached is not None:
            return cached
        with self._bcrypt_lock:
            # Go's bcrypt, like htpasswd, reads the first 72 bytes; pyca's refuses longer ones.
            matches = bcrypt.checkpw(password[:72], hashed)
        result = known and matches
        with self._lock:
            if len(self._cache) >= self._CACHE_SIZE:
                self._cache.pop(next(iter(self._cache)))
            self._cache[cache_key] = result
        return result


def _basic_credentials(authorization: str | None) -> tuple[bytes, bytes] | None:
    """(user, password) from "Basic base64(user:password)", like Go's Request.BasicAuth."""
    if not authorization or authorization[:6].lower() != "basic ":
        return None
    try:
        decoded = base64.b64decode(authorization[6:].encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError):
        return None
    user, colon, password = decoded.partition(b":")
    return (user, password) if colon else None


@dataclass(frozen=True)
class RateLimit:
    interval: float  # seconds between two requests, once the burst is used up
    burst: int


class RateLimiter:
    """Token bucket: `burst` requests at once, then one per `interval` (like x/time/rate)."""

    def __init__(self, limit: RateLimit, clock: Callable[[], float] = time.monotonic) -> None:
        self._limit, self._clock = limit, clock
        self._tokens, self._last = float(limit.burst), clock()
        self._lock = threading.Lock()

    def allow(self) -> bool:
        with self._lock:
            now = self._clock()
            refill = (now - self._last) / self._limit.interval
            self._tokens = min(float(self._limit.burst), self._tokens + refill)
            self._last = now
            if self._tokens < 1:
                return False
            self._tokens -= 1
            return True
