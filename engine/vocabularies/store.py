"""Vocabularies in Redis (keys from `engine.keyspace`), with a copy of each in object storage."""

from __future__ import annotations

import contextlib
import re
import uuid

import msgspec
import redis

from engine.clock import to_ms, utc_now
from engine.errors import InvalidParameter, VocabularyNotFound
from engine.index.mirror import SystemBackup
from engine.keyspace import KEYS, KeySpace
from engine.redisio import redis_errors, text_of
from engine.vocabularies.model import MAX_VOCABULARIES, Vocabulary, VocabularyFields

__all__ = ["VocabularyStore"]

BACKUP_KIND = "vocabularies"
_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# Counted and added in one step, so that simultaneous creations cannot pass the cap together.
_ADD = """
if redis.call('zcard', KEYS[2]) >= tonumber(ARGV[1]) then return 0 end
redis.call('set', KEYS[1], ARGV[2])
redis.call('zadd', KEYS[2], ARGV[3], ARGV[4])
return 1
"""
_enc = msgspec.json.Encoder()
_dec = msgspec.json.Decoder(Vocabulary)


class VocabularyStore:
    """A tenant's vocabularies: each a JSON string, listed in a sorted set per tenant by creation.

    With a `SystemBackup`, each vocabulary is also kept under `_system/vocabularies/` (written
    before Redis, removed before Redis), so that `Backends.reindex` can bring them back."""

    def __init__(
        self,
        client: redis.Redis,
        backup: SystemBackup | None = None,
        keys: KeySpace = KEYS,
        *,
        max_per_tenant: int = MAX_VOCABULARIES,
    ) -> None:
        self._r = client
        self._k = keys
        self._backup = backup
        self._max = max_per_tenant
        self._add = client.register_script(_ADD)

    def create(self, tenant_id: str, fields: VocabularyFields) -> Vocabulary:
        """A new vocabulary; InvalidParameter when the tenant already has `max_per_tenant`."""
        now = utc_now()
        vocabulary = Vocabulary(
            id=str(uuid.uuid4()),
            tenant_id=tenant_id,
            name=fields.name,
            phrases=list(fields.phrases),
            replacements=list(fields.replacements),
            created_at=now,
            updated_at=now,
        )
        tenant_key = self._k.tenant_vocabularies(tenant_id)
        with redis_errors():
            full = self._r.zcard(tenant_key) >= self._max
        if full:
            raise self._full()
        self._save_copy(vocabulary)
        try:
            with redis_errors():
                keys = [self._k.vocabulary(vocabulary.id), tenant_key]
                added = self._add(keys=keys, args=[self._max, _enc.encode(vocabulary), to_ms(now), vocabulary.id])
        except BaseException:
            self._drop_copy(vocabulary.id, quietly=True)
            raise
        if not added:
            self._drop_copy(vocabulary.id, quietly=True)
            raise self._full()
        return vocabulary

    def get(self, tenant_id: str, vocabulary_id: str) -> Vocabulary:
        """The tenant's vocabulary; VocabularyNotFound for an unknown id or another tenant's."""
        vocabulary = None
        if _ID.fullmatch(vocabulary_id):
            with redis_errors():
                raw = self._r.get(self._k.vocabulary(vocabulary_id))
            vocabulary = None if raw is None else _dec.decode(raw)
        if vocabulary is None or vocabulary.tenant_id != tenant_id:
            raise VocabularyNotFound()
        return vocabulary

    def page(self, tenant_id: str, *, offset: int = 0, limit: int = 50) -> tuple[list[Vocabulary], int]:
        """Newest first: `limit` vocabularies from `offset`, and how many the tenant has."""
        tenant_key = self._k.tenant_vocabularies(tenant_id)
        with redis_errors():
            pipe = self._r.pipeline(transaction=True)
            pipe.zcard(tenant_key)
            pipe.zrevrange(tenant_key, offset, offset + limit - 1)
            total, ids = pipe.execute()
            raws = self._r.mget([self._k.vocabulary(text_of(i)) for i in ids]) if ids else []
        return [_dec.decode(r) for r in raws if r is not None], int(total)

    def update(self, tenant_id: str, vocabulary_id: str, fields: VocabularyFields) -> Vocabulary:
        """Replace the vocabulary's name, phrases and replacements."""
        current = self.get(tenant_id, vocabulary_id)
        updated = msgspec.structs.replace(
            current,
            name=fields.name,
            phrases=list(fields.phrases),
            replacements=list(fields.replacements),
            updated_at=utc_now(),
        )
        self._save_copy(updated)
        with redis_errors():
            stored = self._r.set(self._k.vocabulary(current.id), _enc.encode(updated), xx=True)
        if not stored:  # deleted meanwhile: the copy just written must not bring it back
            self._drop_copy(current.id)
            raise VocabularyNotFound()
        return updated

    def delete(self, tenant_id: str, vocabulary_id: str) -> None:
        vocabulary = self.get(tenant_id, vocabulary_id)
        # The copy first: if storage is down nothing changes, and the delete can be retried.
        self._drop_copy(vocabulary.id)
        with redis_errors():
            pipe = self._r.pipeline(transaction=True)
            pipe.delete(self._k.vocabulary(vocabulary.id))
            pipe.zrem(self._k.tenant_vocabularies(tenant_id), vocabulary.id)
            pipe.execute()

    def restore(self, vocabulary_id: str, raw: bytes) -> None:
        """Put back one vocabulary from its copy (`Backends.reindex`)."""
        vocabulary = _dec.decode(raw)
        with redis_errors():
            pipe = self._r.pipeline(transaction=True)
            pipe.set(self._k.vocabulary(vocabulary.id), raw)
            pipe.zadd(self._k.tenant_vocabularies(vocabulary.tenant_id), {vocabulary.id: to_ms(vocabulary.created_at)})
            pipe.execute()

    def _full(self) -> InvalidParameter:
        return InvalidParameter(f"a tenant may have at most {self._max} vocabularies; delete one first")

    def _save_copy(self, vocabulary: Vocabulary) -> None:
        if self._backup is not None:
            self._backup.save(BACKUP_KIND, vocabulary.id, vocabulary)

    def _drop_copy(self, vocabulary_id: str, *, quietly: bool = False) -> None:
        if self._backup is None:
            return
        if not quietly:
            self._backup.remove(BACKUP_KIND, vocabulary_id)
            return
        with contextlib.suppress(Exception):
            self._backup.remove(BACKUP_KIND, vocabulary_id)
