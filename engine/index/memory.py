"""MemoryIndex: the in-memory `Index` for unit tests (same arithmetic as the Redis one)."""

from __future__ import annotations

import threading

from engine.index.protocol import PageQuery, score_of
from engine.recordings.model import Recording, Status

__all__ = ["MemoryIndex"]


class MemoryIndex:
    """In-memory Index for unit tests."""

    def __init__(self) -> None:
        self._items: dict[str, Recording] = {}
        self._aliases: dict[tuple[str, str], str] = {}
        self._orphans: set[str] = set()
        self._deleted: set[str] = set()
        self._lock = threading.Lock()

    def set_alias(self, tenant_id: str, alias: str, recording_id: str) -> str:
        with self._lock:
            return self._aliases.setdefault((tenant_id, alias), recording_id)

    def get_alias(self, tenant_id: str, alias: str) -> str | None:
        return self._aliases.get((tenant_id, alias))

    def remember_orphans(self, prefix: str) -> None:
        self._orphans.add(prefix)

    def orphans(self, limit: int = 100) -> list[str]:
        return sorted(self._orphans)[:limit]

    def forget_orphans(self, prefix: str) -> None:
        self._orphans.discard(prefix)

    def add(self, recording: Recording) -> bool:
        with self._lock:
            if recording.id in self._items:
                return False
            self._items[recording.id] = recording
            return True

    def get(self, recording_id: str) -> Recording | None:
        return self._items.get(recording_id)

    def update(
        self, recording: Recording, *, expect: Status | None = Status.PROCESSING, was: Recording | None = None
    ) -> bool:
        with self._lock:
            current = self._items.get(recording.id)
            if current is None or (expect is not None and current.status != expect):
                return False
            if was is not None and current != was:
                return False
            self._items[recording.id] = recording
            return True

    def delete(self, recording_id: str) -> Recording | None:
        with self._lock:
            removed = self._items.pop(recording_id, None)
            if removed is not None:
                self._deleted.add(recording_id)
            return removed

    def was_deleted(self, recording_id: str) -> bool:
        return recording_id in self._deleted

    def page(self, query: PageQuery) -> tuple[list[Recording], int]:
        # The same arithmetic as RedisIndex: ranks in the tenant's (status) list, newest first;
        # Redis orders equal scores by member, so sort on (score, id) descending.
        ordered = sorted(
            (
                r
                for r in self._items.values()
                if r.tenant_id == query.tenant_id and (query.status is None or r.status == query.status)
            ),
            key=lambda r: (score_of(r), r.id),
            reverse=True,
        )
        newer = sum(1 for r in ordered if query.to_ms is not None and score_of(r) > query.to_ms)
        total = sum(
            1
            for r in ordered
            if (query.from_ms is None or score_of(r) >= query.from_ms)
            and (query.to_ms is None or score_of(r) <= query.to_ms)
        )
        start = newer + query.offset
        ids = [r.id for r in ordered]
        if query.after is not None and query.after in ids:
            start = max(ids.index(query.after) + 1, newer)
        stop = min(start + query.limit, newer + total)
        return ordered[start:stop], total

    def ping(self) -> None:
        return None
