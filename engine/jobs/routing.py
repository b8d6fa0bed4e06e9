"""Worker pools: which queue serves which model, announced by the workers themselves.

Each worker process announces (queue, model, device, compute type) in Redis every few seconds
with a short expiry, so the API knows which models can run right now and where to send a job for
each: `earshot worker --queues gpu` with `EARSHOT_MODEL=large-v3` on a GPU node makes `large-v3`
a valid upload `model`, routed to the `gpu` queue.
"""

from __future__ import annotations

import socket
import time
from datetime import datetime

import msgspec
import redis

from engine.clock import utc_now
from engine.keyspace import KEYS, KeySpace
from engine.recordings.model import Recording
from engine.redisio import redis_errors

__all__ = ["DIARIZATION", "ModelCatalog", "PoolInfo", "PoolRegistry"]

TTL_S = 30
DIARIZATION = "diarization"
"""The `model` a diarization worker announces (its stage, not a Whisper model)."""


class PoolInfo(msgspec.Struct, kw_only=True):
    queue: str
    model: str
    device: str
    compute_type: str
    worker: str
    seen_at: datetime


class PoolRegistry:
    def __init__(self, client: redis.Redis, keys: KeySpace = KEYS) -> None:
        self._r = client
        self._key = keys.pools
        self._expiry = keys.pools_expiry

    def announce(self, queue: str, model: str, device: str, compute_type: str, worker_id: str) -> None:
        info = PoolInfo(
            queue=queue,
            model=model,
            device=device,
            compute_type=compute_type,
            worker=f"{socket.gethostname()}:{worker_id}",
            seen_at=utc_now(),
        )
        member = f"{queue}|{info.worker}"
        with redis_errors():
            pipe = self._r.pipeline(transaction=True)
            pipe.hset(self._key, member, msgspec.json.encode(info))
            pipe.hset(self._expiry, member, int(utc_now().timestamp()) + TTL_S)
            pipe.execute()

    def withdraw(self, queue: str, worker_id: str) -> None:
        member = f"{queue}|{socket.gethostname()}:{worker_id}"
        with redis_errors():
            self._r.hdel(self._key, member)
            self._r.hdel(self._expiry, member)

    def live(self) -> list[PoolInfo]:
        """Announcements younger than the TTL (expired ones are removed as they are found)."""
        now = int(utc_now().timestamp())
        with redis_errors():
            expiry = self._r.hgetall(self._expiry)
            stale = [m for m, t in expiry.items() if int(t) < now]
            if stale:
                self._r.hdel(self._key, *stale)
                self._r.hdel(self._expiry, *stale)
            raws = self._r.hgetall(self._key)
        return sorted(
            (msgspec.json.decode(v, type=PoolInfo) for k, v in raws.items() if k not in stale),
            key=lambda p: (p.model, p.queue, p.worker),
        )


class ModelCatalog:
    """What the API accepts as `model` and where each goes: the default model on the default
    queue, plus whatever live worker pools announce. Cached for a moment: it is read per upload."""

    def __init__(self, default_model: str, default_queue: str, registry: PoolRegistry | None) -> None:
        self._default_model = default_model
        self._default_queue = default_queue
        self._registry = registry
        self._cache: tuple[float, list[PoolInfo]] = (0.0, [])

    def pools(self) -> list[PoolInfo]:
        if self._registry is None:
            return []
        at, pools = self._cache
        if time.monotonic() - at > 2.0:
            pools = self._registry.live()
            self._cache = (time.monotonic(), pools)
        return pools

    def names(self) -> set[str]:
        """Whisper models an upload may name."""
        return {self._default_model} | {p.model for p in self.pools() if p.model != DIARIZATION}

    def can_diarize(self) -> bool:
        """A diarization worker is alive (announced within the TTL)."""
        return any(p.model == DIARIZATION for p in self.pools())

    def has_worker_for(self, model: str) -> bool:
        """A live transcription worker takes the queue that `model`'s jobs go to (True when there is
        no registry to ask)."""
        if self._registry is None:
            return True
        queue = self.queue_for(model)
        return any(p.queue == queue and p.model != DIARIZATION for p in self.pools())

    def queue_for_recording(self, recording: Recording) -> str:
        return self.queue_for(recording.features.model if recording.features else self._default_model)

    def queue_for(self, model: str) -> str:
        if model == self._default_model:
            return self._default_queue
        for pool in self.pools():
            if pool.model == model:
                return pool.queue
        return self._default_queue
