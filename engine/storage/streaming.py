"""Streaming uploads: bytes from async code go to object storage part by part, never whole in memory.

`StreamingPut` hands chunks through a small bounded queue to a thread that runs
`Storage.put_stream`. Memory use is one multipart part plus the queue, whatever the upload's size.
Nothing touches storage until the first byte arrives, so an empty file stores nothing; an abort at
any point (too large, malformed, client gone) aborts the object so no half-written audio is left
behind. Parsing the HTTP body is the API's business (`api.uploads`).
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import re
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from engine.errors import PayloadTooLarge
from engine.storage.protocol import Storage

__all__ = ["ReceivedUpload", "StreamingPut", "extension_for", "safe_filename"]

_QUEUE_CHUNKS = 32

_EXT_BY_TYPE = {
    "audio/webm": "webm",
    "video/webm": "webm",
    "audio/ogg": "ogg",
    "audio/opus": "opus",
    "audio/mpeg": "mp3",
    "audio/mp3": "mp3",
    "audio/wav": "wav",
    "audio/x-wav": "wav",
    "audio/wave": "wav",
    "audio/flac": "flac",
    "audio/x-flac": "flac",
    "audio/mp4": "m4a",
    "audio/x-m4a": "m4a",
    "audio/aac": "aac",
}
_EXT = re.compile(r"[a-z0-9]{1,10}")
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def safe_filename(raw: str | None) -> str | None:
    """The client's filename as a label only: no directories, no control characters, bounded.
    It is never used as a path; objects are named by recording id."""
    if not raw:
        return None
    name = _UNSAFE.sub("", raw).replace("\\", "/").rsplit("/", 1)[-1].strip()
    if name in ("", ".", ".."):
        return None
    return name[:255]


def extension_for(filename: str | None, content_type: str | None) -> str | None:
    if filename:
        ext = PurePosixPath(filename).suffix.lower().lstrip(".")
        if _EXT.fullmatch(ext):
            return ext
    if content_type:
        return _EXT_BY_TYPE.get(content_type.lower())
    return None


class _Abort:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


class _QueueReader:
    """The blocking `read` side of the pipe, used by the storage thread."""

    def __init__(self, q: queue.Queue[bytes | _Abort | None]) -> None:
        self._q = q
        self._buf = b""
        self._eof = False

    def read(self, size: int = -1, /) -> bytes:
        """Block for the first chunk, then take whatever else is queued, up to `size`: callers
        loop on short reads, and fewer, larger reads mean less copying."""
        parts = [self._buf] if self._buf else []
        have = len(self._buf)
        block = not parts
        while not self._eof and (size < 0 or have < size):
            try:
                item = self._q.get(block=block)
            except queue.Empty:
                break
            block = False
            if item is None:
                self._eof = True
            elif isinstance(item, _Abort):
                raise item.exc
            else:
                parts.append(item)
                have += len(item)
        data = b"".join(parts)
        if size < 0:
            out, self._buf = data, b""
        else:
            out, self._buf = data[:size], data[size:]
        return out


class UploadAborted(Exception):
    """Raised inside the storage thread so that the client aborts the multipart upload."""


class StreamingPut:
    """Feeds bytes from async code into `storage.put_stream` running in a worker thread."""

    def __init__(self, storage: Storage, key: str, content_type: str, limit: int) -> None:
        self.key = key
        self.size = 0
        self._storage = storage
        self._content_type = content_type
        self._limit = limit
        self._q: queue.Queue[bytes | _Abort | None] = queue.Queue(maxsize=_QUEUE_CHUNKS)
        self._future: Future[int] | None = None

    @property
    def started(self) -> bool:
        return self._future is not None

    async def write(self, chunk: bytes) -> None:
        if not chunk:
            return
        self.size += len(chunk)
        if self.size > self._limit:
            await self.abort()
            raise PayloadTooLarge(f"the file is larger than the limit of {self._limit} bytes")
        if self._future is None:
            reader = _QueueReader(self._q)
            self._future = _run_in_thread(self._storage.put_stream, self.key, reader, self._content_type)
        await self._put(chunk)

    async def finish(self) -> int:
        """Wait until the object is stored; returns its size."""
        if self._future is None:
            return 0
        await self._put(None)
        return await asyncio.wrap_future(self._future)

    async def abort(self) -> None:
        """Stop the upload; the storage client aborts its multipart upload, so nothing remains."""
        future, self._future = self._future, None
        if future is None:
            return
        # Errors here are secondary: the error that made us abort is the one the caller reports.
        with contextlib.suppress(Exception):
            await self._put(_Abort(UploadAborted("upload aborted")), future)
            await asyncio.wrap_future(future)

    async def _put(self, item: bytes | _Abort | None, future: Future[int] | None = None) -> None:
        future = future or self._future
        assert future is not None
        while True:
            if future.done():
                # The storage thread stopped early (storage down): surface its error, if any.
                future.result()
                return
            try:
                self._q.put_nowait(item)
                return
            except queue.Full:
                await asyncio.sleep(0.002)


def _run_in_thread(fn: Callable[..., int], *args: Any) -> Future[int]:
    future: Future[int] = Future()

    def runner() -> None:
        try:
            future.set_result(fn(*args))
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting coroutine
            future.set_exception(exc)

    threading.Thread(target=runner, name="earshot-upload", daemon=True).start()
    return future


@dataclass
class ReceivedUpload:
    key: str
    size: int
    filename: str | None
    extension: str | None
    content_type: str | None
    fields: dict[str, str] = field(default_factory=dict)
