"""Every Redis key the application writes, named in one place.

Application data lives under ``earshot:``; Dramatiq's queues live under their own namespace,
``earshot-queue:`` (`BROKER_NAMESPACE`). The two prefixes differ before the first ``:``, so no
queue name (``processing``, ``pools``, ``rec``...) can ever address application data, and no
application key can be mistaken for a queue.

| key | type | owner |
|---|---|---|
| ``earshot:rec:{id}`` | string (JSON Recording) | index |
| ``earshot:t:{tenant}:recs`` | zset id → created ms | index |
| ``earshot:t:{tenant}:st:{status}`` | zset id → created ms | index |
| ``earshot:t:{tenant}:alias:{alias}`` | string → recording id | index (telephony session ids) |
| ``earshot:processing`` | zset id → last change ms | index (stale-job sweep) |
| ``earshot:orphans`` | set of object prefixes | index (objects left by deletes) |
| ``earshot:deleted:{id}`` | string, expires | index (deleted ids: a late callback cannot bring one back) |
| ``earshot:tenant:{id}``, ``earshot:tenant-name:{name}`` | string | access.keys |
| ``earshot:key:{api_key}``, ``earshot:t:{tenant}:keys`` | string, set | access.keys |
| ``earshot:token-signing-key`` | string (32 bytes) | access.tokens |
| ``earshot:rate:{subject}:{minute}`` | counter, expires | access.ratelimit |
| ``earshot:authfail:{address}:{minute}`` | counter, expires | access.ratelimit (failed authentications) |
| ``earshot:wh:{id}``, ``earshot:wh:{id}:attempts``, ``earshot:t:{tenant}:webhooks`` | string, list, zset | webhooks |
| ``earshot:evt:{id}``, ``earshot:evt:{id}:published`` | string, expires | webhooks |
| ``earshot:voc:{id}``, ``earshot:t:{tenant}:vocs`` | string (JSON Vocabulary), zset id → created ms | vocabularies |
| ``earshot:lock:{recording_id}`` | string lease, expires | jobs.locks |
| ``earshot:runs:{recording_id}:{stage}`` | counter of runs begun and not ended, expires | jobs.locks |
| ``earshot:pools``, ``earshot:pools:expiry`` | hashes | jobs.routing |
| ``earshot:metrics:{jobs,audio_seconds,webhooks,restarts}``, ``…:{histogram}:{model}`` | hashes | ops.metrics |
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["APP_PREFIX", "BROKER_NAMESPACE", "KEYS", "KeySpace"]

APP_PREFIX = "earshot"
BROKER_NAMESPACE = "earshot-queue"
"""Dramatiq's RedisBroker namespace: its keys are ``earshot-queue:{queue}``, ``…:{queue}.msgs``,
``…:__heartbeats__`` and so on, never under ``earshot:``."""


@dataclass(frozen=True, slots=True)
class KeySpace:
    prefix: str = APP_PREFIX

    def __post_init__(self) -> None:
        if self.prefix == BROKER_NAMESPACE or ":" in self.prefix:
            raise ValueError("the application prefix must be one segment and differ from the broker's namespace")

    # The recording index
    def recording(self, recording_id: str) -> str:
        return f"{self.prefix}:rec:{recording_id}"

    def tenant_recordings(self, tenant_id: str) -> str:
        return f"{self.prefix}:t:{tenant_id}:recs"

    def tenant_status(self, tenant_id: str, status: str) -> str:
        return f"{self.prefix}:t:{tenant_id}:st:{status}"

    def alias(self, tenant_id: str, alias: str) -> str:
        return f"{self.prefix}:t:{tenant_id}:alias:{alias}"

    def deleted(self, recording_id: str) -> str:
        return f"{self.prefix}:deleted:{recording_id}"

    @property
    def processing(self) -> str:
        return f"{self.prefix}:processing"

    @property
    def orphans(self) -> str:
        return f"{self.prefix}:orphans"

    # Tenants, API keys, tokens, rate limits
    def tenant(self, tenant_id: str) -> str:
        return f"{self.prefix}:tenant:{tenant_id}"

    def tenant_name(self, name: str) -> str:
        return f"{self.prefix}:tenant-name:{name}"

    def api_key(self, api_key: str) -> str:
        return f"{self.prefix}:key:{api_key}"

    @property
    def api_key_pattern(self) -> str:
        return f"{self.prefix}:key:*"

    def tenant_keys(self, tenant_id: str) -> str:
        return f"{self.prefix}:t:{tenant_id}:keys"

    @property
    def token_signing_key(self) -> str:
        return f"{self.prefix}:token-signing-key"

    def rate(self, subject: str, window: int) -> str:
        return f"{self.prefix}:rate:{subject}:{window}"

    def auth_failures(self, address: str, window: int) -> str:
        return f"{self.prefix}:authfail:{address}:{window}"

    # Webhooks
    def webhook(self, endpoint_id: str) -> str:
        return f"{self.prefix}:wh:{endpoint_id}"

    def webhook_attempts(self, endpoint_id: str) -> str:
        return f"{self.prefix}:wh:{endpoint_id}:attempts"

    def tenant_webhooks(self, tenant_id: str) -> str:
        return f"{self.prefix}:t:{tenant_id}:webhooks"

    def event(self, event_id: str) -> str:
        return f"{self.prefix}:evt:{event_id}"

    def event_published(self, event_id: str) -> str:
        return f"{self.prefix}:evt:{event_id}:published"

    # Vocabularies
    def vocabulary(self, vocabulary_id: str) -> str:
        return f"{self.prefix}:voc:{vocabulary_id}"

    def tenant_vocabularies(self, tenant_id: str) -> str:
        return f"{self.prefix}:t:{tenant_id}:vocs"

    # Jobs
    def lock(self, recording_id: str) -> str:
        return f"{self.prefix}:lock:{recording_id}"

    def runs(self, recording_id: str, stage: str) -> str:
        return f"{self.prefix}:runs:{recording_id}:{stage}"

    @property
    def pools(self) -> str:
        return f"{self.prefix}:pools"

    @property
    def pools_expiry(self) -> str:
        return f"{self.prefix}:pools:expiry"

    # Metrics
    @property
    def job_counts(self) -> str:
        return f"{self.prefix}:metrics:jobs"

    @property
    def audio_seconds(self) -> str:
        return f"{self.prefix}:metrics:audio_seconds"

    @property
    def webhook_counts(self) -> str:
        return f"{self.prefix}:metrics:webhooks"

    @property
    def restart_counts(self) -> str:
        return f"{self.prefix}:metrics:restarts"

    def histogram(self, name: str, model: str) -> str:
        return f"{self.prefix}:metrics:{name}:{model}"

    def histogram_pattern(self, name: str) -> str:
        return f"{self.prefix}:metrics:{name}:*"


KEYS = KeySpace()
