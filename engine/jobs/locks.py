"""Short leases on a recording, renewed while its job runs, so two runs do not do the work twice.

Correctness does not depend on the lock (each run writes its own transcript object and only the
run that wins the index's compare-and-set publishes it); the lock saves the duplicate work when a
job is redelivered while its first run is alive. A killed run's lease expires after `ttl_s`.

Each hold also counts the runs of that recording's stage that began and never ended: a process
killed mid-run (the kernel's OOM killer, a crash in native code, SIGKILL) leaves its count behind.
Dramatiq redelivers such a job for ever (only exceptions count as attempts), so the job uses the
count to stop after `MAX_DEATHS` and fail the recording, instead of killing worker after worker.
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

__all__ = ["MAX_DEATHS", "RecordingLocks", "died_message"]

MAX_DEATHS = 3
"""Runs of one recording's stage that may die mid-run before the stage is given up."""
_RUNS_TTL_S = 7 * 24 * 3600


def died_message(deaths: int) -> str:
    return (
        f"the worker process running this recording died {deaths} times mid-run (out of memory, or a "
        "crash in a native library), so it is not tried again; POST .../retry tries once more"
    )


_OWNED = "if redis.call('get', KEYS[1]) == ARGV[1] then return "
_RELEASE = _OWNED + "redis.call('del', KEYS[1]) else return 0 end"
_RENEW = _OWNED + "redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end"
_ENDED = "if tonumber(redis.call('get', KEYS[1]) or '0') > 0 then return redis.call('decr', KEYS[1]) end return 0"


class RecordingLocks:
    def __init__(self, client: redis.Redis, *, ttl_s: float, keys: KeySpace = KEYS) -> None:
        self._r = client
        self._ttl_ms = int(ttl_s * 1000)
        self._k = keys
        self._release = client.register_script(_RELEASE)
        self._renew = client.register_script(_RENEW)
        self._ended = client.register_script(_ENDED)

    def held(self, recording_id: str) -> bool:
        with redis_errors():
            return bool(self._r.exists(self._k.lock(recording_id)))

    @contextmanager
    def hold(self, recording_id: str, stage: str = "transcription") -> Iterator[int]:
        """Hold the recording's lease while the block runs (RecordingBusy if another run holds it).

        Yields how many earlier runs of this stage began and never ended: processes that died
        mid-run. A run that ends in any way, an exception included, is not counted."""
        key = self._k.lock(recording_id)
        runs = self._k.runs(recording_id, stage)
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
        begun = False
        try:
            with redis_errors():
                pipe = self._r.pipeline()
                pipe.incr(runs)
                pipe.expire(runs, _RUNS_TTL_S)
                count, _ = pipe.execute()
            begun = True
            renewer.start()
            yield int(count) - 1
        finally:
            stop.set()
            if renewer.is_alive():
                renewer.join(1)
            with contextlib.suppress(redis.ConnectionError, redis.TimeoutError):  # it expires by itself
                if begun:
                    self._ended(keys=[runs])
                self._release(keys=[key], args=[token])

    def forget_deaths(self, recording_id: str, stage: str = "transcription") -> None:
        """Start the count again (the stage was given up; a user's retry gets a fresh start)."""
        with redis_errors():
            self._r.delete(self._k.runs(recording_id, stage))
