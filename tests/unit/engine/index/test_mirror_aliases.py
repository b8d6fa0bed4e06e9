"""engine.index.mirror: a telephony session name is never in Redis without its copy in storage."""

from __future__ import annotations

import msgspec
import pytest

from engine.errors import ServiceUnavailable
from engine.index.memory import MemoryIndex
from engine.index.mirror import MirroredIndex
from engine.storage.memory import MemoryStorage


class FailingStorage(MemoryStorage):
    def __init__(self) -> None:
        super().__init__()
        self.down = False

    def put_bytes(self, key: str, data: bytes, content_type: str) -> None:
        if self.down:
            raise ServiceUnavailable("object storage is unavailable")
        super().put_bytes(key, data, content_type)


def copy_of(storage: MemoryStorage, tenant: str, alias: str) -> str | None:
    raw = storage.get_bytes(f"_system/aliases/{tenant}:{alias}.json")
    return None if raw is None else msgspec.json.decode(raw, type=str)


def test_an_alias_is_backed_up_before_it_is_in_the_index() -> None:
    storage, index = FailingStorage(), MemoryIndex()
    mirrored = MirroredIndex(index, storage)
    storage.down = True
    with pytest.raises(ServiceUnavailable):
        mirrored.set_alias("t", "ATVId_1", "rec-1")
    assert index.get_alias("t", "ATVId_1") is None  # not in Redis only: nothing at all
    storage.down = False
    assert mirrored.set_alias("t", "ATVId_1", "rec-2") == "rec-2"
    assert index.get_alias("t", "ATVId_1") == "rec-2" and copy_of(storage, "t", "ATVId_1") == "rec-2"


def test_an_existing_alias_wins_and_its_copy_is_the_winner() -> None:
    storage, index = FailingStorage(), MemoryIndex()
    mirrored = MirroredIndex(index, storage)
    assert mirrored.set_alias("t", "s", "first") == "first"
    assert mirrored.set_alias("t", "s", "second") == "first"
    assert copy_of(storage, "t", "s") == "first"


def test_a_callback_that_loses_the_race_writes_the_winners_copy_back() -> None:
    storage = MemoryStorage()

    class RacingIndex(MemoryIndex):
        """Another callback names the session between our look-up and our write."""

        def set_alias(self, tenant_id: str, alias: str, recording_id: str) -> str:
            super().set_alias(tenant_id, alias, "winner")
            storage.put_bytes(f"_system/aliases/{tenant_id}:{alias}.json", b'"winner"', "application/json")
            return super().set_alias(tenant_id, alias, recording_id)

    mirrored = MirroredIndex(RacingIndex(), storage)
    assert mirrored.set_alias("t", "s", "loser") == "winner"
    assert copy_of(storage, "t", "s") == "winner"
