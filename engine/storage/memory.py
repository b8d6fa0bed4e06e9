"""MemoryStorage: the in-memory `Storage` for unit tests."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

from engine.storage.protocol import Readable

__all__ = ["MemoryStorage"]


class MemoryStorage:
    def __init__(self, bucket: str = "memory") -> None:
        self.bucket = bucket
        self.objects: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def ensure_bucket(self) -> None:
        return None

    def put_stream(self, key: str, stream: Readable, content_type: str) -> int:
        chunks = []
        while chunk := stream.read(65536):
            chunks.append(chunk)
        data = b"".join(chunks)
        with self._lock:
            self.objects[key] = data
        return len(data)

    def put_bytes(self, key: str, data: bytes, content_type: str) -> None:
        with self._lock:
            self.objects[key] = bytes(data)

    def get_bytes(self, key: str) -> bytes | None:
        return self.objects.get(key)

    def download(self, key: str, path: Path) -> bool:
        data = self.objects.get(key)
        if data is None:
            return False
        path.write_bytes(data)
        return True

    def delete(self, key: str) -> None:
        with self._lock:
            self.objects.pop(key, None)

    def ping(self) -> None:
        return None

    def presign_get(self, key: str, ttl_seconds: int) -> str:
        return f"memory://{self.bucket}/{key}?ttl={ttl_seconds}"

    def list_keys(self, prefix: str) -> Iterator[str]:
        yield from sorted(k for k in list(self.objects) if k.startswith(prefix))
