"""The same cases against the in-memory fakes and the real Redis / S3 server."""

from __future__ import annotations

import io
import os
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta

import msgspec
import pytest

from engine.clock import from_ms, to_ms, utc_now
from engine.errors import ServiceUnavailable
from engine.index.memory import MemoryIndex
from engine.index.protocol import Index, PageQuery
from engine.index.redis_index import RedisIndex
from engine.keyspace import KeySpace
from engine.recordings.model import Recording, Status
from engine.redisio import redis_from_url
from engine.settings import Settings
from engine.storage.memory import MemoryStorage
from engine.storage.protocol import Storage
from engine.storage.s3 import S3Storage


@pytest.fixture(params=["memory", "redis"])
def index(request: pytest.FixtureRequest) -> Iterator[Index]:
    if request.param == "memory":
        yield MemoryIndex()
        return
    url = request.getfixturevalue("redis_url")
    client = redis_from_url(url)
    yield RedisIndex(client, keys=KeySpace(f"test-{uuid.uuid4().hex[:8]}"))
    client.close()


@pytest.fixture(params=["memory", "s3"])
def storage(request: pytest.FixtureRequest) -> Storage:
    if request.param == "memory":
        return MemoryStorage()
    settings: Settings = request.getfixturevalue("settings")
    s3 = S3Storage.from_settings(msgspec.structs.replace(settings, s3_bucket="earshot-storage-test"))
    s3.ensure_bucket()
    return s3


def make(tenant: str, minutes_ago: float = 0, status: Status = Status.PROCESSING) -> Recording:
    created = utc_now() - timedelta(minutes=minutes_ago)
    rid = str(uuid.uuid4())
    return Recording(
        id=rid, tenant_id=tenant, s3_key=f"{tenant}/{rid}.wav", s3_bucket="b", status=status,
        created_at=created, updated_at=created,
    )  # fmt: skip


def test_a_recording_reads_back_equal(index: Index) -> None:
    rec = make("t1")
    index.add(rec)
    assert index.get(rec.id) == rec
    assert index.get(str(uuid.uuid4())) is None


def test_pages_are_newest_first_with_totals_and_no_overlap(index: Index) -> None:
    recs = [make("t1", minutes_ago=i) for i in range(7)]
    for r in reversed(recs):
        index.add(r)
    index.add(make("t2"))
    seen = []
    for page in range(3):
        items, total = index.page(PageQuery(tenant_id="t1", offset=page * 3, limit=3))
        assert total == 7
        seen += [r.id for r in items]
    assert seen == [r.id for r in recs]
    items, total = index.page(PageQuery(tenant_id="t1", offset=30, limit=3))
    assert (items, total) == ([], 7)


def test_status_and_date_filters_combine(index: Index) -> None:
    old = make("t1", minutes_ago=120)
    mid = make("t1", minutes_ago=60)
    new = make("t1", minutes_ago=1)
    for r in (old, mid, new):
        index.add(r)
    done = msgspec.structs.replace(mid, status=Status.TRANSCRIBED)
    assert index.update(done)
    assert index.page(PageQuery(tenant_id="t1", status=Status.TRANSCRIBED)) == ([done], 1)
    processing, total = index.page(PageQuery(tenant_id="t1", status=Status.PROCESSING))
    assert [r.id for r in processing] == [new.id, old.id] and total == 2
    assert mid.created_at is not None
    window = PageQuery(tenant_id="t1", from_ms=to_ms(mid.created_at), to_ms=to_ms(mid.created_at))
    assert index.page(window) == ([done], 1)
    newer = PageQuery(tenant_id="t1", from_ms=to_ms(mid.created_at) + 1)
    assert [r.id for r in index.page(newer)[0]] == [new.id]
    assert from_ms(to_ms(mid.created_at)) == mid.created_at


def test_update_only_applies_while_the_expected_status_holds(index: Index) -> None:
    rec = make("t1")
    index.add(rec)
    failed = msgspec.structs.replace(rec, status=Status.FAILED)
    assert index.update(failed)
    assert not index.update(msgspec.structs.replace(rec, status=Status.TRANSCRIBED))
    assert index.get(rec.id) == failed
    assert index.update(msgspec.structs.replace(failed, user_id="u"), expect=None)


def test_update_with_was_applies_only_while_nothing_changed_since_the_read(index: Index) -> None:
    rec = make("t1")
    index.add(rec)
    read = index.get(rec.id)
    assert read is not None
    changed = msgspec.structs.replace(read, progress=0.5)  # another writer, after our read
    assert index.update(changed)
    assert not index.update(msgspec.structs.replace(read, status=Status.FAILED), was=read)
    assert index.get(rec.id) == changed
    assert index.update(msgspec.structs.replace(changed, status=Status.FAILED), was=changed)
    stored = index.get(rec.id)
    assert stored is not None and stored.status == Status.FAILED and stored.progress == 0.5


def test_delete_removes_every_entry_and_update_then_writes_nothing(index: Index) -> None:
    rec = make("t1")
    index.add(rec)
    assert not index.was_deleted(rec.id)
    assert index.delete(rec.id) == rec
    assert index.was_deleted(rec.id) and not index.was_deleted(make("t1").id)
    assert index.delete(rec.id) is None
    assert index.get(rec.id) is None
    assert index.page(PageQuery(tenant_id="t1")) == ([], 0)
    assert index.page(PageQuery(tenant_id="t1", status=Status.PROCESSING)) == ([], 0)
    assert not index.update(msgspec.structs.replace(rec, status=Status.TRANSCRIBED))
    assert index.get(rec.id) is None


def test_a_stream_larger_than_a_part_is_stored_byte_for_byte(storage: Storage, tmp_path: object) -> None:
    data = os.urandom(9 * 1024 * 1024 + 123)  # more than one 8 MiB multipart part
    key = f"t/{uuid.uuid4()}.bin"
    assert storage.put_stream(key, io.BytesIO(data), "application/octet-stream") == len(data)
    assert storage.get_bytes(key) == data
    storage.delete(key)
    assert storage.get_bytes(key) is None
    storage.delete(key)  # deleting twice is fine


def test_a_stream_that_fails_midway_stores_nothing(storage: Storage) -> None:
    class Failing:
        def __init__(self) -> None:
            self.sent = 0

        def read(self, size: int = -1) -> bytes:
            if self.sent > 9 * 1024 * 1024:
                raise ConnectionResetError("client went away")
            self.sent += 1024 * 1024
            return b"x" * 1024 * 1024

    key = f"t/{uuid.uuid4()}.bin"
    with pytest.raises((ConnectionResetError, ServiceUnavailable)):
        storage.put_stream(key, Failing(), "application/octet-stream")
    assert storage.get_bytes(key) is None


def test_download_writes_the_object_or_reports_it_missing(storage: Storage, tmp_path: object) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "out"
    key = f"t/{uuid.uuid4()}.json"
    storage.put_bytes(key, b'{"a": 1}', "application/json")
    assert storage.download(key, path) and path.read_bytes() == b'{"a": 1}'
    assert not storage.download(f"t/{uuid.uuid4()}", path)
    storage.delete(key)


def test_an_unreachable_redis_is_service_unavailable_quickly() -> None:
    from earshot.processes import free_port

    index = RedisIndex(redis_from_url(f"redis://127.0.0.1:{free_port()}/0"))
    started = time.monotonic()
    with pytest.raises(ServiceUnavailable):
        index.get("x")
    assert time.monotonic() - started < 5


def test_an_unreachable_s3_server_is_service_unavailable(settings: Settings) -> None:
    from earshot.processes import free_port

    storage = S3Storage.from_settings(msgspec.structs.replace(settings, s3_endpoint=f"127.0.0.1:{free_port()}"))
    with pytest.raises(ServiceUnavailable):
        storage.get_bytes("x")


def test_a_cursor_walk_sees_each_recording_once_while_new_ones_arrive(index: Index) -> None:
    recs = [make("t1", minutes_ago=10 + i) for i in range(9)]
    for r in recs:
        index.add(r)
    seen: list[str] = []
    after = None
    for _ in range(10):
        items, _ = index.page(PageQuery(tenant_id="t1", limit=2, after=after))
        if not items:
            break
        seen += [r.id for r in items]
        after = items[-1].id
        index.add(make("t1"))  # a new upload lands at the top while the client walks
    assert seen == [r.id for r in recs]


def test_a_cursor_respects_the_date_window(index: Index) -> None:
    recs = [make("t1", minutes_ago=i) for i in range(6)]
    for r in recs:
        index.add(r)
    assert recs[1].created_at is not None and recs[4].created_at is not None
    window = dict(tenant_id="t1", from_ms=to_ms(recs[4].created_at), to_ms=to_ms(recs[1].created_at))
    first, total = index.page(PageQuery(**window, limit=2))  # type: ignore[arg-type]
    assert [r.id for r in first] == [recs[1].id, recs[2].id] and total == 4
    rest, _ = index.page(PageQuery(**window, limit=5, after=first[-1].id))  # type: ignore[arg-type]
    assert [r.id for r in rest] == [recs[3].id, recs[4].id]
    # A cursor newer than the window starts at the window's top; an unknown one falls back to offset.
    top, _ = index.page(PageQuery(**window, limit=1, after=recs[0].id))  # type: ignore[arg-type]
    assert [r.id for r in top] == [recs[1].id]
    fallback, _ = index.page(PageQuery(**window, limit=1, offset=1, after="gone"))  # type: ignore[arg-type]
    assert [r.id for r in fallback] == [recs[2].id]


def test_a_missing_bucket_is_unavailable_storage_until_readiness_makes_it(settings: Settings) -> None:
    bucket = f"earshot-missing-{uuid.uuid4().hex[:8]}"
    s3 = S3Storage.from_settings(msgspec.structs.replace(settings, s3_bucket=bucket))
    # An API that started before its S3 server: writes and reads answer 503, never 500 or "gone".
    with pytest.raises(ServiceUnavailable):
        s3.put_bytes("t/a.json", b"{}", "application/json")
    with pytest.raises(ServiceUnavailable):
        s3.get_bytes("t/a.json")
    s3.ping()  # /ready's check makes the bucket
    s3.put_bytes("t/a.json", b"{}", "application/json")
    assert s3.get_bytes("t/a.json") == b"{}"
    s3.delete("t/a.json")
