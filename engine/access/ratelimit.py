"""Request limits in Redis, shared by every API node: a counter per subject and minute.

- `RateLimiter`: requests per API key (or upload token identity);
- `AuthThrottle`: failed authentications per client address. Past the limit every request from
  that address is refused (429) until the minute ends, valid credentials included, so that
  guessing cannot go on and be told when it guessed right.
"""

from __future__ import annotations

import time

import redis

from engine.errors import RateLimited
from engine.keyspace import KEYS, KeySpace
from engine.redisio import redis_errors

__all__ = ["AuthThrottle", "RateLimiter"]

WINDOW_S = 60


def _window(now: float) -> tuple[int, int]:
    """(this minute's number, seconds until the next one)."""
    window = int(now // WINDOW_S)
    return window, max(1, int((window + 1) * WINDOW_S - now + 0.999))


class RateLimiter:
    def __init__(self, client: redis.Redis, per_minute: int, keys: KeySpace = KEYS) -> None:
        self._r = client
        self._limit = per_minute
        self._k = keys

    def hit(self, subject: str) -> None:
        """Count one request for `subject` (an API key or token identity); 429 past the limit."""
        if self._limit <= 0:
            return
        window, retry_after = _window(time.time())
        if _count(self._r, self._k.rate(subject, window)) > self._limit:
            raise RateLimited(f"more than {self._limit} requests a minute for this key", retry_after=retry_after)


class AuthThrottle:
    def __init__(self, client: redis.Redis, per_minute: int, keys: KeySpace = KEYS) -> None:
        self._r = client
        self._limit = per_minute
        self._k = keys

    @property
    def enabled(self) -> bool:
        return self._limit > 0

    def check(self, address: str) -> None:
        """429 while `address` has failed to authenticate `per_minute` times this minute."""
        if not self.enabled:
            return
        window, retry_after = _window(time.time())
        with redis_errors():
            count = self._r.get(self._k.auth_failures(address, window))
        if count is not None and int(count) >= self._limit:
            raise RateLimited(
                f"more than {self._limit} failed authentications a minute from this address", retry_after=retry_after
            )

    def failed(self, address: str) -> None:
        if not self.enabled:
            return
        window, _ = _window(time.time())
        _count(self._r, self._k.auth_failures(address, window))


def _count(client: redis.Redis, key: str) -> int:
    """One more in a per-minute counter that expires by itself; returns the new count."""
    with redis_errors():
        pipe = client.pipeline(transaction=False)
        pipe.incr(key)
        pipe.expire(key, WINDOW_S * 2)
        count, _ = pipe.execute()
    return int(count)
