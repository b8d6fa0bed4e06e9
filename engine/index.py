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
    after: str | None = None
    """Keyset cursor: start right after this recording (newest-first order) instead of at `offset`,
    so that recordings added while a client walks the pages cause no duplicates. Ignored when the
    recording is not in the list (deleted meanwhile): `offset` applies then."""


class Index(Protocol):
    def add(self, recording: Recording) -> bool:
        """Store a new recording and list it; False (changing nothing) if its id exists."""

    def get(self, recording_id: str) -> Recording | None: ...

    def update(self, recording: Recording, *, expect: Status | None = Status.PROCESSING) -> bool:
        """Replace a stored recording, only if it still exists and (when `expect` is set) still has
        that status. Returns False, writing nothing, otherwise: that is how a job learns that the
        recording was deleted or already finished by another run."""

    def delete(self, recording_id: str) -> Recording | None:
        """Remove the recording and every list entry; returns what was removed."""

    def page(self, query: PageQuery) -> tuple[list[Recording], int]:
        """Newest first; returns (recordings of this page, total matching the filters)."""

    def set_alias(self, tenant_id: str, alias: str, recording_id: str) -> str:
        """Name a recording by an outside id (a telephony session) once; returns the recording
        id the alias points to, which is an earlier one if the alias was already taken."""

    def get_alias(self, tenant_id: str, alias: str) -> str | None: ...

    def remember_orphans(self, prefix: str) -> None:
        """Objects under `prefix` belong to a deleted recording but could not be removed yet."""

    def orphans(self, limit: int = 100) -> list[str]: ...

    def forget_orphans(self, prefix: str) -> None: ...

    def ping(self) -> None: ...


def score_of(recording: Recording) -> int:
    assert recording.created_at is not None
    return to_ms(recording.created_at)


class MemoryIndex:
    """In-memory Index for unit tests."""

    def __init__(self) -> None:
        self._items: dict[str, Recording] = {}
        self._aliases: dict[tuple[str, str], str] = {}
        self._orphans: set[str] = set()
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
