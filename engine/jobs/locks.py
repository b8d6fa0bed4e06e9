"""Short leases on a recording, renewed while its job runs, so two runs do not do the work twice.

Correctness does not depend on the lock (each run writes its own transcript object and only the
run that wins the index's compare-and-set publishes it); the lock saves the duplicate work when a
job is redelivered while its first run is alive. A killed run's lease expires after `ttl_s`.
"""

from __future__ import annotations

import contextlib
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import redis

from engine.errors import RecordingBusy
from engine.keyspace import KEYS, KeySpace
from engine.redisio import redis_errors

__all__ = ["RecordingLocks"]

_OWNED = "if redis.call('get', KEYS[1]) == ARGV[1] then return "
_RELEASE = _OWNED + "redis.call('del', KEYS[1]) else return 0 end"
_RENEW = _OWNED + "redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end"


class RecordingLocks:
    def __init__(self, client: redis.Redis, *, ttl_s: float, keys: KeySpace = KEYS) -> None:
        self._r = client
        self._ttl_ms = int(ttl_s * 1000)
        self._k = keys
        self._release = client.register_script(_RELEASE)
        self._renew = client.register_script(_RENEW)

    def held(self, recording_id: str) -> bool:
        with redis_errors():
            return bool(self._r.exists(self._k.lock(recording_id)))

    @contextmanager
    def hold(self, recording_id: str) -> Iterator[None]:
        key = self._k.lock(recording_id)
        token = secrets.token_hex(8)
        with redis_errors():
            if not self._r.set(key, token, nx=True, px=self._ttl_ms):
                raise RecordingBusy()
        stop = threading.Event()

        def renew() -> None:
            while not stop.wait(self._ttl_ms / 3000):
                try:
                    self._renew(keys=[key], args=[token, self._ttl_ms])
                except (redis.ConnectionError, redis.TimeoutError):
                    continue

        renewer = threading.Thread(target=renew, name="earshot-lease", daemon=True)
        renewer.start()
        try:
            yield
        finally:
            stop.set()
            renewer.join(1)
            with contextlib.suppress(redis.ConnectionError, redis.TimeoutError):  # it expires by itself
                self._release(keys=[key], args=[token])
