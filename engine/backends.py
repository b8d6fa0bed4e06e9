"""Connect the real backends named by the settings: Redis (index, keys) and S3 (objects)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import msgspec
import redis

from engine.access.keys import KeyStore
from engine.index.mirror import MirroredIndex, ReindexReport, SystemBackup, reindex
from engine.index.redis_index import RedisIndex
from engine.recordings.model import Recording
from engine.redisio import redis_from_url
from engine.settings import Settings
from engine.storage.s3 import S3Storage
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
        )

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
                "aliases": alias,
            },
            requeue=requeue,
        )

    def close(self) -> None:
        self.redis.close()
