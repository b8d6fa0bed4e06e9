"""No single copy: what Redis holds is also kept as small objects in storage, and can be rebuilt.

- `MirroredIndex` writes each recording's metadata as `{tenant}/{id}.json` beside its audio on
  every change (before the index on create, after it on update; first on delete, so that a
  failed delete leaves a recording that can still be deleted, not one that comes back).
- `SystemBackup` keeps tenants, API keys (hashes only), webhook endpoints and telephony session
  names under `_system/` (a session name's copy is written before its Redis key).
- `reindex` rebuilds the Redis index and those records from storage, and requeues the jobs of
  recordings that were still processing (jobs are safe to run twice).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from dataclasses import dataclass

import msgspec

from engine.index.protocol import Index, PageQuery
from engine.recordings.model import Recording, Status, metadata_key
from engine.storage.protocol import Storage

__all__ = ["MirroredIndex", "ReindexReport", "SystemBackup", "reindex"]

SYSTEM = "_system"
_RECORDING_OBJECT = re.compile(r"[^/]+/[0-9a-fA-F-]{36}\.recording\.json")
_encode = msgspec.json.Encoder().encode
_decode_recording = msgspec.json.Decoder(Recording).decode


class SystemBackup:
    """JSON copies of small records under `_system/{kind}/{id}.json`."""

    def __init__(self, storage: Storage) -> None:
        self._s = storage

    def save(self, kind: str, key: str, value: object) -> None:
        self._s.put_bytes(f"{SYSTEM}/{kind}/{key}.json", _encode(value), "application/json")

    def remove(self, kind: str, key: str) -> None:
        self._s.delete(f"{SYSTEM}/{kind}/{key}.json")

    def load(self, kind: str) -> list[tuple[str, bytes]]:
        prefix = f"{SYSTEM}/{kind}/"
        out = []
        for name in self._s.list_keys(prefix):
            raw = self._s.get_bytes(name)
            if raw is not None:
                out.append((name[len(prefix) : -len(".json")], raw))
        return out


class MirroredIndex:
    def __init__(self, index: Index, storage: Storage) -> None:
        self._index = index
        self._s = storage
        self._backup = SystemBackup(storage)

    def _save(self, recording: Recording) -> None:
        self._s.put_bytes(metadata_key(recording.tenant_id, recording.id), _encode(recording), "application/json")

    def add(self, recording: Recording) -> bool:
        self._save(recording)
        try:
            added = self._index.add(recording)
        except BaseException:
            with contextlib.suppress(Exception):
                self._s.delete(metadata_key(recording.tenant_id, recording.id))
            raise
        if not added:  # it existed: its own copy stands
            current = self._index.get(recording.id)
            if current is not None:
                self._save(current)
        return added

    def get(self, recording_id: str) -> Recording | None:
        return self._index.get(recording_id)

    def update(
        self, recording: Recording, *, expect: Status | None = Status.PROCESSING, was: Recording | None = None
    ) -> bool:
        if not self._index.update(recording, expect=expect, was=was):
            return False
        self._save(recording)
        if self._index.get(recording.id) is None:
            # Deleted between our update and our save: the copy we just wrote must not outlive it.
            self._s.delete(metadata_key(recording.tenant_id, recording.id))
        return True

    def delete(self, recording_id: str) -> Recording | None:
        current = self._index.get(recording_id)
        if current is None:
            return None
        # Storage first: if it is down, nothing changes and the DELETE can simply be retried.
        self._s.delete(metadata_key(current.tenant_id, current.id))
        return self._index.delete(recording_id)

    def was_deleted(self, recording_id: str) -> bool:
        return self._index.was_deleted(recording_id)

    def page(self, query: PageQuery) -> tuple[list[Recording], int]:
        return self._index.page(query)

    def set_alias(self, tenant_id: str, alias: str, recording_id: str) -> str:
        """The copy first, then Redis: if storage fails, Redis is left without the alias (the caller
        gets the error and retries), never with an alias that `reindex` would not bring back. A
        copy without its Redis alias is harmless: restored, it names a recording that the next
        callback for that session creates under that id."""
        existing = self._index.get_alias(tenant_id, alias)
        if existing is not None:
            return existing
        backup_key = f"{tenant_id}:{alias}"
        self._backup.save("aliases", backup_key, recording_id)
        winner = self._index.set_alias(tenant_id, alias, recording_id)
        if winner != recording_id:
            # A simultaneous callback named the session first (and saved its copy first): our copy
            # may have overwritten it, so write the winner's again.
            self._backup.save("aliases", backup_key, winner)
        return winner

    def get_alias(self, tenant_id: str, alias: str) -> str | None:
        return self._index.get_alias(tenant_id, alias)

    def remember_orphans(self, prefix: str) -> None:
        self._index.remember_orphans(prefix)

    def orphans(self, limit: int = 100) -> list[str]:
        return self._index.orphans(limit)

    def forget_orphans(self, prefix: str) -> None:
        self._index.forget_orphans(prefix)

    def ping(self) -> None:
        self._index.ping()


@dataclass
class ReindexReport:
    recordings: int = 0
    requeued: int = 0
    restored: dict[str, int] | None = None


def reindex(
    storage: Storage,
    index: Index,
    *,
    restore: dict[str, Callable[[str, bytes], None]],
    requeue: Callable[[Recording], None],
) -> ReindexReport:
    """Rebuild the index from every `{tenant}/{id}.json` in storage and each `_system/{kind}` with
    its `restore[kind]` function; recordings still processing get their job queued again."""
    report = ReindexReport(restored={})
    backup = SystemBackup(storage)
    for kind, restore_one in restore.items():
        items = backup.load(kind)
        for key, raw in items:
            restore_one(key, raw)
        assert report.restored is not None
        report.restored[kind] = len(items)
    batch: list[Recording] = []
    for name in storage.list_keys(""):
        if not _RECORDING_OBJECT.fullmatch(name):
            continue
        stored = storage.get_bytes(name)
        if stored is None:
            continue
        recording = _decode_recording(stored)
        index.add(recording)
        report.recordings += 1
        if recording.status == Status.PROCESSING:
            batch.append(recording)
    for recording in batch:
        requeue(recording)
        report.requeued += 1
    return report
