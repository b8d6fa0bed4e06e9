"""Fetch a recording from a provider's URL into object storage, safely.

- http and https only; at most 5 redirects, each hop checked again;
- every hop goes through `engine.netguard` (public addresses only, unless allowed; pinned);
- the size limit is enforced while streaming; nothing is stored unless the whole body arrived.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urljoin

import httpx

from engine.errors import InvalidParameter, SourceFetchFailed
from engine.outbound.guard import Network, TargetRefused, check_url, pin
from engine.storage.protocol import Storage

__all__ = ["check_source_url", "fetch_to_storage"]

MAX_REDIRECTS = 5
TIMEOUT = httpx.Timeout(connect=10, read=60, write=30, pool=10)


def check_source_url(url: object) -> str:
    """Syntax only (the API's check, `guard.check_url`); addresses are checked when fetching."""
    try:
        return check_url(url)
    except ValueError as exc:
        raise InvalidParameter(f"source_url {exc}") from None


class _BodyReader:
    def __init__(self, chunks: Iterator[bytes], limit: int) -> None:
        self._chunks = chunks
        self._buf = b""
        self.total = 0
        self._limit = limit

    def read(self, size: int = -1, /) -> bytes:
        while size < 0 or len(self._buf) < size:
            chunk = next(self._chunks, b"")
            if not chunk:
                break
            self.total += len(chunk)
            if self.total > self._limit:
                raise SourceFetchFailed(f"the source is larger than the limit of {self._limit} bytes")
            self._buf += chunk
        out = self._buf if size < 0 else self._buf[:size]
        self._buf = b"" if size < 0 else self._buf[size:]
        return out


def fetch_to_storage(
    url: str,
    storage: Storage,
    key: str,
    *,
    max_bytes: int,
    allow_private: bool,
    allowed: tuple[Network, ...] = (),
) -> int:
    """Stream `url` into `storage` at `key`; returns the size. Every failure is SourceFetchFailed."""
    with httpx.Client(timeout=TIMEOUT, follow_redirects=False, trust_env=False) as client:
        for _ in range(MAX_REDIRECTS + 1):
            try:
                target = pin(url, allow_private=allow_private, allowed=allowed)
            except TargetRefused as exc:
                raise SourceFetchFailed(f"source_url refused: {exc}") from None
            try:
                headers = {"Host": target.host_header}
                if target.authorization:  # a provider's recording URL may carry its credentials
                    headers["Authorization"] = target.authorization
                with client.stream(
                    "GET", target.url, headers=headers, extensions={"sni_hostname": target.server_name},
                ) as response:  # fmt: skip
                    if response.is_redirect and "location" in response.headers:
                        url = urljoin(url, response.headers["location"])
                        continue
                    if not response.is_success:
                        raise SourceFetchFailed(f"the source answered HTTP {response.status_code}")
                    declared = response.headers.get("content-length", "")
                    if declared.isdigit() and int(declared) > max_bytes:
                        raise SourceFetchFailed(f"the source is larger than the limit of {max_bytes} bytes")
                    reader = _BodyReader(response.iter_bytes(), max_bytes)
                    content_type = response.headers.get("content-type", "application/octet-stream")
                    storage.put_stream(key, reader, content_type.split(";")[0])
                    if reader.total == 0:
                        storage.delete(key)
                        raise SourceFetchFailed("the source returned an empty body")
                    return reader.total
            except httpx.HTTPError as exc:
                raise SourceFetchFailed(f"fetching the source failed: {type(exc).__name__}") from None
        raise SourceFetchFailed(f"more than {MAX_REDIRECTS} redirects")
