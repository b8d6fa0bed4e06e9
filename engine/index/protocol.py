"""The recording index: metadata by id, and per-tenant lists ordered by creation time.

`engine.index.memory.MemoryIndex` is the fake for unit tests; `engine.index.redis_index.RedisIndex`
is the real one. Both pass the same test cases.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from engine.clock import to_ms
from engine.recordings.model import Recording, Status

__all__ = ["DELETED_REMEMBERED_S", "Index", "PageQuery", "score_of"]

DELETED_REMEMBERED_S = 30 * 24 * 3600
"""How long a deleted recording's id is remembered: far longer than any call (`EARSHOT_CALL_MAX_S`)
and any provider's retries of its callbacks."""


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

    def update(
        self, recording: Recording, *, expect: Status | None = Status.PROCESSING, was: Recording | None = None
    ) -> bool:
        """Replace a stored recording, only if it still exists and (when `expect` is set) still has
        that status, and (when `was` is given) is still exactly `was`: nothing changed it since it
        was read. Returns False, writing nothing, otherwise: that is how a job learns that the
        recording was deleted or already finished by another run."""

    def delete(self, recording_id: str) -> Recording | None:
        """Remove the recording and every list entry; returns what was removed. The id is remembered
        as deleted for `DELETED_REMEMBERED_S` (`was_deleted`)."""

    def was_deleted(self, recording_id: str) -> bool:
        """Whether a recording with this id was deleted (in the last `DELETED_REMEMBERED_S`): a
        telephony callback names its call by a session alias that outlives the recording, and must
        not create it again under that id."""

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
