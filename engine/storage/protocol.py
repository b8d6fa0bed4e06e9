"""Object storage for audio and transcripts.

`engine.storage.memory.MemoryStorage` is the fake for unit tests; `engine.storage.s3.S3Storage` talks
to MinIO or any S3 server.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

__all__ = ["Readable", "Storage"]


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class Storage(Protocol):
    bucket: str

    def ensure_bucket(self) -> None: ...

    def put_stream(self, key: str, stream: Readable, content_type: str) -> int:
        """Store everything `stream.read` yields until b""; returns the byte count. Memory use
        is bounded by one multipart part, whatever the size. If `stream.read` raises, nothing is
        stored and the error propagates."""

    def put_bytes(self, key: str, data: bytes, content_type: str) -> None: ...

    def get_bytes(self, key: str) -> bytes | None: ...

    def download(self, key: str, path: Path) -> bool:
        """Write the object to `path`; False if it does not exist."""

    def delete(self, key: str) -> None:
        """Remove the object; a missing object is not an error."""

    def ping(self) -> None: ...

    def presign_get(self, key: str, ttl_seconds: int) -> str:
        """A URL that lets its holder GET the object for `ttl_seconds`, without credentials."""

    def list_keys(self, prefix: str) -> Iterator[str]:
        """Every object name under `prefix`, recursively."""
