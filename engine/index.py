"""The recording index: metadata by id, and per-tenant lists ordered by creation time.

`MemoryIndex` is the fake for unit tests; `engine.redis_index.RedisIndex` is the real one. Both pass
the same test cases (tests/unit/test_index.py runs them against each).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Protocol

from engine.clock import to_ms
from engine.recordings import Recording, Status

__all__ = ["Index", "MemoryIndex", "PageQuery", "score_of"]


@dataclass(frozen=True, slots=True)
class PageQuery:
    tenant_id: str
    offset: int = 0
    limit: int = 50
    status: Status | None = None
    from_ms: int | None = None
    """Inclusive lower bound on created_at, epoch milliseconds."""
    to_ms: int | None = None
    """Inclusive upper bound on created_at, epoch milliseconds."""


class Index(Protocol):
    def add(self, recording: Recording) -> None:
        """Store a new recording and list it."""

    def get(self, recording_id: str) -> Recording | None: ...

    def update(self, recording: Recording, *, expect: Status | None = Status.PROCESSING) -> bool:
        """Replace a stored recording, only if it still exists and (when `expect` is set) still has
        that status. Returns False, writing nothing, otherwise: that is how a job learns that the
        recording was deleted or already finished by another run."""

    def delete(self, recording_id: str) -> Recording | None:
        """Remove the recording and every list entry; returns what was removed."""

    def page(self, query: PageQuery) -> tuple[list[Recording], int]:
        """Newest first; returns (recordings of this page, total matching the filters)."""

    def ping(self) -> None: ...


def score_of(recording: Recording) -> int:
    assert recording.created_at is not None
    return to_ms(recording.created_at)


class MemoryIndex:
    """In-memory Index for unit tests."""

    def __init__(self) -> None:
        self._items: dict[str, Recording] = {}
        self._lock = threading.Lock()

    def add(self, recording: Recording) -> None:
        with self._lock:
            self._items[recording.id] = recording

    def get(self, recording_id: str) -> Recording | None:
        return self._items.get(recording_id)

    def update(self, recording: Recording, *, expect: Status | None = Status.PROCESSING) -> bool:
        with self._lock:
            current = self._items.get(recording.id)
            if current is None or (expect is not None and current.status != expect):
                return False
            self._items[recording.id] = recording
            return True

    def delete(self, recording_id: str) -> Recording | None:
        with self._lock:
            return self._items.pop(recording_id, None)

    def page(self, query: PageQuery) -> tuple[list[Recording], int]:
        matching = [
            r
            for r in self._items.values()
            if r.tenant_id == query.tenant_id
            and (query.status is None or r.status == query.status)
            and (query.from_ms is None or score_of(r) >= query.from_ms)
            and (query.to_ms is None or score_of(r) <= query.to_ms)
        ]
        # Redis orders equal scores by member; reverse order of (score, id) matches ZREVRANGE.
        matching.sort(key=lambda r: (score_of(r), r.id), reverse=True)
        return matching[query.offset : query.offset + query.limit], len(matching)

    def ping(self) -> None:
        return None
