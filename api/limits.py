"""What one API process allows a client: how long a request body may stall, how many uploads may
stream at once (per node and per API key), how many failed authentications an address may make.

An upload holds a storage thread and up to one multipart part (8 MiB) of memory while it streams,
so a client that opens uploads and stalls must run out of slots, not the node out of threads.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from engine.errors import RateLimited, ServiceUnavailable
from engine.settings import Settings

__all__ = ["ApiLimits", "UploadSlots"]


@dataclass(frozen=True, slots=True)
class ApiLimits:
    body_read_timeout_s: float = 30.0
    """A request body (upload or JSON) whose next chunk does not arrive in this time is abandoned:
    408, nothing stored."""
    max_uploads: int = 64
    """Uploads streaming at once in this API process; beyond: 503 with Retry-After."""
    max_uploads_per_key: int = 16
    """Uploads streaming at once per API key (or upload-token identity) in this process; beyond: 429."""
    auth_failures_per_minute: int = 20
    """Failed authentications per client address and minute before every request from it is 429
    for the rest of the minute; 0 turns the throttle off."""

    @classmethod
    def from_settings(cls, settings: Settings) -> ApiLimits:
        """`EARSHOT_BODY_READ_TIMEOUT_S`, `EARSHOT_MAX_CONCURRENT_UPLOADS(_PER_KEY)`,
        `EARSHOT_AUTH_FAILURES_PER_MINUTE`."""
        return cls(
            body_read_timeout_s=settings.body_read_timeout_s,
            max_uploads=settings.max_concurrent_uploads,
            max_uploads_per_key=settings.max_concurrent_uploads_per_key,
            auth_failures_per_minute=settings.auth_failures_per_minute,
        )


RETRY_AFTER_S = 5


class UploadSlots:
    """Counts the uploads streaming in this process, in total and per key (the event loop is the
    only user, so plain counters suffice)."""

    def __init__(self, per_node: int, per_key: int) -> None:
        self._per_node = per_node
        self._per_key = per_key
        self._total = 0
        self._by_key: dict[str, int] = {}

    @property
    def in_use(self) -> int:
        return self._total

    @contextmanager
    def hold(self, subject: str) -> Iterator[None]:
        if self._total >= self._per_node:
            raise ServiceUnavailable("too many uploads in progress on this node; retry shortly")
        held = self._by_key.get(subject, 0)
        if held >= self._per_key:
            raise RateLimited(
                f"more than {self._per_key} uploads in progress for this key; finish one first",
                retry_after=RETRY_AFTER_S,
            )
        self._total += 1
        self._by_key[subject] = held + 1
        try:
            yield
        finally:
            self._total -= 1
            left = self._by_key[subject] - 1
            if left:
                self._by_key[subject] = left
            else:
                del self._by_key[subject]
