"""RedisIndex: one JSON value per recording plus a sorted set per tenant and per (tenant, status).

Scores are created_at in epoch milliseconds. A page is two ZCOUNTs and one ZREVRANGE by rank, so
its cost is O(log n + page size) whatever the tenant's size: no scan, no offset walk.
"""

from __future__ import annotations

import msgspec
import redis

from engine.index.protocol import DELETED_REMEMBERED_S, PageQuery, score_of
from engine.keyspace import KEYS, KeySpace
from engine.recordings.model import Recording, Status
from engine.redisio import redis_errors, text_of

__all__ = ["RedisIndex"]

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(Recording).decode


class RedisIndex:
    def __init__(self, client: redis.Redis, keys: KeySpace = KEYS) -> None:
        self._r = client
        self._k = keys

    def _rec(self, recording_id: str) -> str:
        return self._k.recording(recording_id)

    def _all(self, tenant_id: str) -> str:
        return self._k.tenant_recordings(tenant_id)

    def _by_status(self, tenant_id: str, status: Status) -> str:
        return self._k.tenant_status(tenant_id, status.value)

    @property
    def _processing(self) -> str:
        """Every tenant's processing recordings, scored by last change: for the stale-job sweep."""
        return self._k.processing

    def _track(self, pipe: redis.client.Pipeline, recording: Recording) -> None:
        if recording.status == Status.PROCESSING:
            stamp = recording.updated_at or recording.created_at
            pipe.zadd(self._processing, {recording.id: int(stamp.timestamp() * 1000) if stamp else 0})
        else:
            pipe.zrem(self._processing, recording.id)

    def stale_processing(self, changed_before_ms: int, limit: int = 100) -> list[str]:
        with redis_errors():
            ids = self._r.zrangebyscore(self._processing, "-inf", changed_before_ms, start=0, num=limit)
        return [text_of(i) for i in ids]

    def touch_processing(self, recording_id: str, at_ms: int) -> None:
        with redis_errors():
            self._r.zadd(self._processing, {recording_id: at_ms}, xx=True)

    def forget_processing(self, recording_id: str) -> None:
        with redis_errors():
            self._r.zrem(self._processing, recording_id)

    def add(self, recording: Recording) -> bool:
        score = score_of(recording)
        with redis_errors():
            if not self._r.set(self._rec(recording.id), _encode(recording), nx=True):
                return False
            pipe = self._r.pipeline(transaction=True)
            pipe.zadd(self._all(recording.tenant_id), {recording.id: score})
            pipe.zadd(self._by_status(recording.tenant_id, recording.status), {recording.id: score})
            self._track(pipe, recording)
            pipe.execute()
        return True

    def add_many(self, recordings: list[Recording]) -> None:
        """Bulk load (benchmarks, reindexing): one pipeline round trip for the lot."""
        with redis_errors():
            pipe = self._r.pipeline(transaction=False)
            for recording in recordings:
                score = score_of(recording)
                pipe.set(self._rec(recording.id), _encode(recording))
                pipe.zadd(self._all(recording.tenant_id), {recording.id: score})
                pipe.zadd(self._by_status(recording.tenant_id, recording.status), {recording.id: score})
                self._track(pipe, recording)
            pipe.execute()

    def get(self, recording_id: str) -> Recording | None:
        with redis_errors():
            raw = self._r.get(self._rec(recording_id))
        return None if raw is None else _decode(raw)

    def update(
        self, recording: Recording, *, expect: Status | None = Status.PROCESSING, was: Recording | None = None
    ) -> bool:
        key = self._rec(recording.id)
        with redis_errors(), self._r.pipeline(transaction=True) as pipe:
            while True:
                try:
                    pipe.watch(key)  # type: ignore[no-untyped-call]
                    raw = pipe.get(key)
                    if raw is None:
                        return False
                    current = _decode(raw)
                    if (expect is not None and current.status != expect) or (was is not None and current != was):
                        return False
                    pipe.multi()
                    pipe.set(key, _encode(recording))
                    self._track(pipe, recording)
                    if current.status != recording.status:
                        score = score_of(recording)
                        pipe.zrem(self._by_status(recording.tenant_id, current.status), recording.id)
                        pipe.zadd(self._by_status(recording.tenant_id, recording.status), {recording.id: score})
                    pipe.execute()
                    return True
                except redis.WatchError:
                    continue

    def delete(self, recording_id: str) -> Recording | None:
        key = self._rec(recording_id)
        with redis_errors(), self._r.pipeline(transaction=True) as pipe:
            while True:
                try:
                    pipe.watch(key)  # type: ignore[no-untyped-call]
                    raw = pipe.get(key)
                    if raw is None:
                        return None
                    current = _decode(raw)
                    pipe.multi()
                    pipe.delete(key)
                    pipe.set(self._k.deleted(recording_id), "1", ex=DELETED_REMEMBERED_S)
                    pipe.zrem(self._processing, recording_id)
                    pipe.zrem(self._all(current.tenant_id), recording_id)
                    for status in Status:
                        pipe.zrem(self._by_status(current.tenant_id, status), recording_id)
                    pipe.execute()
                    return current
                except redis.WatchError:
                    continue

    def was_deleted(self, recording_id: str) -> bool:
        with redis_errors():
            return bool(self._r.exists(self._k.deleted(recording_id)))

    def page(self, query: PageQuery) -> tuple[list[Recording], int]:
        key = self._all(query.tenant_id) if query.status is None else self._by_status(query.tenant_id, query.status)
        low = "-inf" if query.from_ms is None else str(query.from_ms)
        high = "+inf" if query.to_ms is None else str(query.to_ms)
        with redis_errors():
            pipe = self._r.pipeline(transaction=False)
            pipe.zcount(key, low, high)
            pipe.zcount(key, f"({high}" if query.to_ms is not None else "(+inf", "+inf")
            if query.after is not None:
                pipe.zrevrank(key, query.after)
            total, newer, *cursor = pipe.execute()
            start = newer + query.offset
            if cursor and cursor[0] is not None:
                start = max(int(cursor[0]) + 1, newer)
            stop = min(start + query.limit, newer + total) - 1
            if stop < start:
                return [], total
            ids = self._r.zrevrange(key, start, stop)
            raws = self._r.mget([self._rec(text_of(i)) for i in ids]) if ids else []
        return [_decode(raw) for raw in raws if raw is not None], total

    def set_alias(self, tenant_id: str, alias: str, recording_id: str) -> str:
        key = self._k.alias(tenant_id, alias)
        with redis_errors():
            if self._r.set(key, recording_id, nx=True):
                return recording_id
            return text_of(self._r.get(key))

    def get_alias(self, tenant_id: str, alias: str) -> str | None:
        with redis_errors():
            raw = self._r.get(self._k.alias(tenant_id, alias))
        return None if raw is None else text_of(raw)

    def remember_orphans(self, prefix: str) -> None:
        with redis_errors():
            self._r.sadd(self._k.orphans, prefix)

    def orphans(self, limit: int = 100) -> list[str]:
        with redis_errors():
            return [text_of(p) for p in self._r.srandmember(self._k.orphans, limit) or []]

    def forget_orphans(self, prefix: str) -> None:
        with redis_errors():
            self._r.srem(self._k.orphans, prefix)

    def ping(self) -> None:
        with redis_errors():
            self._r.ping()
