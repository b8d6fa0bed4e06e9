"""engine.vocabularies.store against a real Redis and S3 server: tenant scope, pages, the cap, copies."""

from __future__ import annotations

import threading
import time
import uuid

import msgspec
import pytest

from engine.backends import Backends
from engine.errors import InvalidParameter, VocabularyNotFound
from engine.index.mirror import SystemBackup
from engine.keyspace import KeySpace
from engine.vocabularies.model import Replacement, Vocabulary, VocabularyFields
from engine.vocabularies.store import BACKUP_KIND, VocabularyStore

pytestmark = pytest.mark.integration

FIELDS = VocabularyFields(
    name="Product terms",
    phrases=("Earshot", "Litestar"),
    replacements=(Replacement(heard="cooper netties", written="Kubernetes"), Replacement(heard="um")),
)


@pytest.fixture
def keys() -> KeySpace:
    """Keys of their own, so that nothing another test stored shows up."""
    return KeySpace(f"vt{uuid.uuid4().hex[:10]}")


@pytest.fixture
def store(backends: Backends, keys: KeySpace) -> VocabularyStore:
    return VocabularyStore(backends.redis, SystemBackup(backends.storage), keys)


def copy_of(backends: Backends, vocabulary_id: str) -> bytes | None:
    return backends.storage.get_bytes(f"_system/{BACKUP_KIND}/{vocabulary_id}.json")


def test_a_created_vocabulary_is_read_back_by_its_tenant(store: VocabularyStore) -> None:
    created = store.create("tenant-a", FIELDS)

    read = store.get("tenant-a", created.id)

    assert read == created
    assert read.fields == FIELDS
    assert read.created_at == read.updated_at
    assert str(uuid.UUID(read.id)) == read.id


@pytest.mark.parametrize("vocabulary_id", ["", "nope", str(uuid.uuid4()), "x" * 500, "../../etc", "*"])
def test_an_unknown_or_malformed_id_is_not_found(store: VocabularyStore, vocabulary_id: str) -> None:
    with pytest.raises(VocabularyNotFound):
        store.get("tenant-a", vocabulary_id)


def test_another_tenants_vocabulary_is_not_found_for_any_operation(store: VocabularyStore) -> None:
    theirs = store.create("tenant-a", FIELDS)

    with pytest.raises(VocabularyNotFound):
        store.get("tenant-b", theirs.id)
    with pytest.raises(VocabularyNotFound):
        store.update("tenant-b", theirs.id, VocabularyFields(name="hijacked"))
    with pytest.raises(VocabularyNotFound):
        store.delete("tenant-b", theirs.id)

    assert store.get("tenant-a", theirs.id) == theirs
    assert store.page("tenant-b") == ([], 0)


def test_pages_are_newest_first_with_the_tenants_total(store: VocabularyStore) -> None:
    made = []
    for i in range(5):
        made.append(store.create("tenant-a", VocabularyFields(name=f"v{i}")))
        time.sleep(0.002)  # distinct creation milliseconds
    store.create("tenant-b", FIELDS)

    first, total = store.page("tenant-a", offset=0, limit=2)
    rest, _ = store.page("tenant-a", offset=2, limit=10)

    assert total == 5
    assert [v.name for v in first] == ["v4", "v3"]
    assert [v.name for v in rest] == ["v2", "v1", "v0"]
    assert store.page("tenant-a", offset=5, limit=10) == ([], 5)


def test_an_update_replaces_the_fields_and_keeps_the_creation_time(store: VocabularyStore) -> None:
    created = store.create("tenant-a", FIELDS)
    time.sleep(0.002)

    updated = store.update("tenant-a", created.id, VocabularyFields(name="renamed", phrases=("Redis",)))

    assert store.get("tenant-a", created.id) == updated
    assert (updated.name, updated.phrases, updated.replacements) == ("renamed", ["Redis"], [])
    assert updated.created_at == created.created_at and updated.updated_at > created.updated_at


def test_a_deleted_vocabulary_is_gone_and_deleting_again_is_not_found(
    store: VocabularyStore, backends: Backends
) -> None:
    created = store.create("tenant-a", FIELDS)

    store.delete("tenant-a", created.id)

    with pytest.raises(VocabularyNotFound):
        store.get("tenant-a", created.id)
    with pytest.raises(VocabularyNotFound):
        store.delete("tenant-a", created.id)
    assert store.page("tenant-a") == ([], 0)
    assert copy_of(backends, created.id) is None


def test_a_tenant_may_not_pass_the_cap_and_may_create_again_after_a_delete(backends: Backends, keys: KeySpace) -> None:
    store = VocabularyStore(backends.redis, SystemBackup(backends.storage), keys, max_per_tenant=3)
    made = [store.create("tenant-a", FIELDS) for _ in range(3)]

    with pytest.raises(InvalidParameter, match="at most 3 vocabularies"):
        store.create("tenant-a", FIELDS)
    store.create("tenant-b", FIELDS)  # the cap is per tenant
    store.delete("tenant-a", made[0].id)
    store.create("tenant-a", FIELDS)

    assert store.page("tenant-a")[1] == 3


def test_simultaneous_creations_do_not_pass_the_cap_together(backends: Backends, keys: KeySpace) -> None:
    store = VocabularyStore(backends.redis, SystemBackup(backends.storage), keys, max_per_tenant=3)
    tenant = f"tenant-{uuid.uuid4().hex[:8]}"
    outcomes: list[str] = []
    start = threading.Barrier(12)

    def create() -> None:
        start.wait()
        try:
            store.create(tenant, FIELDS)
            outcomes.append("created")
        except InvalidParameter:
            outcomes.append("refused")

    threads = [threading.Thread(target=create) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sorted(outcomes) == ["created"] * 3 + ["refused"] * 9
    kept, total = store.page(tenant)
    assert total == 3
    # Every refused creation took its copy in object storage back with it.
    copies = [msgspec.json.decode(raw, type=Vocabulary) for _, raw in SystemBackup(backends.storage).load(BACKUP_KIND)]
    assert sorted(v.id for v in copies if v.tenant_id == tenant) == sorted(v.id for v in kept)


def test_every_change_is_copied_to_object_storage_and_restored_from_it(backends: Backends, keys: KeySpace) -> None:
    store = VocabularyStore(backends.redis, SystemBackup(backends.storage), keys)
    created = store.create("tenant-a", FIELDS)
    updated = store.update("tenant-a", created.id, VocabularyFields(name="renamed"))
    raw = copy_of(backends, created.id)
    assert raw is not None

    # Redis loses everything (a fresh key prefix stands for an empty Redis); the copy brings it back.
    restored_store = VocabularyStore(backends.redis, SystemBackup(backends.storage), KeySpace(f"vr{keys.prefix}"))
    restored_store.restore(created.id, raw)

    assert restored_store.get("tenant-a", created.id) == updated
    assert restored_store.page("tenant-a") == ([updated], 1)
    store.delete("tenant-a", created.id)


def test_backends_reindex_restores_vocabularies(backends: Backends) -> None:
    created = backends.vocabularies.create(f"tenant-{uuid.uuid4().hex[:8]}", FIELDS)
    backends.redis.delete(KeySpace().vocabulary(created.id), KeySpace().tenant_vocabularies(created.tenant_id))

    report = backends.reindex(requeue=lambda recording: None)

    assert report.restored is not None and report.restored["vocabularies"] >= 1
    assert backends.vocabularies.get(created.tenant_id, created.id) == created
    backends.vocabularies.delete(created.tenant_id, created.id)
