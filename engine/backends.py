"""Connect the real backends named by the settings: Redis (index, keys) and S3 (objects)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import msgspec
import redis

from engine.access.keys import KeyStore
from engine.index.mirror import MirroredIndex, ReindexReport, SystemBackup, reindex
from engine.index.redis_index import RedisIndex
from engine.recordings.model import Recording
from engine.redisio import PROBE_TIMEOUT_S, redis_from_url, redis_probe
from engine.settings import Settings
from engine.storage.s3 import S3Storage
from engine.vocabularies.store import VocabularyStore
from engine.webhooks.store import WebhookStore

__all__ = ["Backends"]


@dataclass
class Backends:
    redis: redis.Redis
    index: MirroredIndex
    redis_index: RedisIndex
    storage: S3Storage
    keys: KeyStore
    webhooks: WebhookStore
    vocabularies: VocabularyStore
    probes: dict[str, Callable[[], None]] = field(default_factory=dict)
    """Readiness checks by dependency name, each answered (or failed) within about a second; empty:
    the index's and the storage's own `ping`."""

    @classmethod
    def connect(cls, settings: Settings) -> Backends:
        client = redis_from_url(settings.redis_url)
        storage = S3Storage.from_settings(settings)
        backup = SystemBackup(storage)
        redis_index = RedisIndex(client)
        return cls(
            redis=client,
            index=MirroredIndex(redis_index, storage),
            redis_index=redis_index,
            storage=storage,
            keys=KeyStore(client, backup=backup),
            webhooks=WebhookStore(client, backup=backup),
            vocabularies=VocabularyStore(client, backup=backup),
            probes={
                "redis": RedisIndex(redis_probe(settings.redis_url)).ping,
                "storage": S3Storage.from_settings(settings, probe_timeout_s=PROBE_TIMEOUT_S).ping,
            },
        )

    def readiness_checks(self) -> dict[str, Callable[[], None]]:
        return self.probes or {"redis": self.index.ping, "storage": self.storage.ping}

    def reindex(self, requeue: Callable[[Recording], None]) -> ReindexReport:
        """Rebuild Redis from object storage (see engine.mirror)."""

        def alias(key: str, raw: bytes) -> None:
            tenant_id, _, name = key.partition(":")
            self.index.set_alias(tenant_id, name, msgspec.json.decode(raw, type=str))

        return reindex(
            self.storage,
            self.index,
            restore={
                "tenants": self.keys.restore_tenant,
                "keys": self.keys.restore_key,
                "webhooks": self.webhooks.restore,
                "vocabularies": self.vocabularies.restore,
                "aliases": alias,
            },
            requeue=requeue,
        )

    def close(self) -> None:
        self.redis.close()
