"""Talking to Redis: a client that fails fast, outages as `ServiceUnavailable`, and text decoding.

Which keys exist is `engine.keyspace`'s business; this module is only the connection.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from engine.errors import ServiceUnavailable

__all__ = ["PROBE_TIMEOUT_S", "redis_errors", "redis_from_url", "redis_probe", "text_of"]

PROBE_TIMEOUT_S = 1.0


def redis_from_url(url: str) -> redis.Redis:
    """A client that fails fast: an outage must be an error within seconds, never a hang."""
    return redis.Redis.from_url(
        url,
        socket_connect_timeout=3,
        socket_timeout=10,
        health_check_interval=15,
        retry_on_timeout=False,
    )


def redis_probe(url: str, timeout_s: float = PROBE_TIMEOUT_S) -> redis.Redis:
    """A client for readiness checks: one try, answered within `timeout_s`, so that a Redis that
    accepts connections but never answers (stopped, swapping) is reported as down, quickly."""
    return redis.Redis.from_url(
        url,
        socket_connect_timeout=timeout_s,
        socket_timeout=timeout_s,
        health_check_interval=0,
        retry_on_timeout=False,
        retry=Retry(NoBackoff(), 0),
        max_connections=4,
    )


@contextmanager
def redis_errors() -> Iterator[None]:
    try:
        yield
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        raise ServiceUnavailable("redis is unavailable") from exc
    except (
        redis.exceptions.BusyLoadingError,  # restarting
        redis.exceptions.ReadOnlyError,  # a replica during failover
        redis.exceptions.OutOfMemoryError,
        redis.exceptions.TryAgainError,
        redis.exceptions.MasterDownError,
    ) as exc:
        raise ServiceUnavailable("redis cannot serve the request right now") from exc


def text_of(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
