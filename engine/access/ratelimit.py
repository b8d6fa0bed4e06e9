"""Per-key request limits in Redis: a counter per key and minute, shared by every API node."""

from __future__ import annotations

import time

import redis

from engine.errors import RateLimited
from engine.keyspace import KEYS, KeySpace
from engine.redisio import redis_errors

__all__ = ["RateLimiter"]

WINDOW_S = 60


class RateLimiter:
    def __init__(self, client: redis.Redis, per_minute: int, keys: KeySpace = KEYS) -> None:
        self._r = client
        self._limit = per_minute
        self._k = keys

    def hit(self, subject: str) -> None:
        """Count one request for `subject` (an API key or token identity); 429 past the limit."""
        if self._limit <= 0:
            return
        now = time.time()
        window = int(now // WINDOW_S)
        key = self._k.rate(subject, window)
        with redis_errors():
            pipe = self._r.pipeline(transaction=False)
            pipe.incr(key)
            pipe.expire(key, WINDOW_S * 2)
            count, _ = pipe.execute()
        if int(count) > self._limit:
            retry_after = max(1, int((window + 1) * WINDOW_S - now + 0.999))
            raise RateLimited(f"more than {self._limit} requests a minute for this key", retry_after=retry_after)
