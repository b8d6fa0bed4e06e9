"""Connect the real backends named by the settings: Redis (index, keys) and S3 (objects)."""

from __future__ import annotations

from dataclasses import dataclass

import redis

from engine.keys import KeyStore
from engine.redis_index import RedisIndex, redis_from_url
from engine.s3 import S3Storage
from engine.settings import Settings
from engine.webhooks import WebhookStore

__all__ = ["Backends"]


@dataclass
class Backends:
    redis: redis.Redis
    index: RedisIndex
    storage: S3Storage
    keys: KeyStore
    webhooks: WebhookStore

    @classmethod
    def connect(cls, settings: Settings) -> Backends:
        client = redis_from_url(settings.redis_url)
        return cls(
            redis=client,
            index=RedisIndex(client),
            storage=S3Storage.from_settings(settings),
            keys=KeyStore(client),
            webhooks=WebhookStore(client),
        )

    def close(self) -> None:
        self.redis.close()
