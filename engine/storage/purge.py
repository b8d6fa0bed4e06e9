"""Remove every object of a deleted recording, remembering what could not be removed yet."""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.errors import ServiceUnavailable
from engine.storage.protocol import Storage

if TYPE_CHECKING:
    from engine.index.protocol import Index

__all__ = ["purge"]


def purge(storage: Storage, index: Index, prefix: str) -> bool:
    """Remove every object under `prefix` (audio, metadata, each run's transcript). If storage is
    down, the index remembers the prefix and the sweeper finishes later: the recording is already
    gone from the API, so the DELETE has succeeded for the user either way."""
    try:
        for key in list(storage.list_keys(prefix)):
            storage.delete(key)
    except ServiceUnavailable:
        index.remember_orphans(prefix)
        return False
    index.forget_orphans(prefix)
    return True
