"""Endpoints, events and the delivery log, in Redis (keys from `engine.keyspace`)."""

from __future__ import annotations

import base64
import contextlib
import secrets
import uuid

import msgspec
import redis

from engine.clock import utc_now
from engine.errors import InvalidParameter, WebhookNotFound
from engine.index.mirror import SystemBackup
from engine.keyspace import KEYS, KeySpace
from engine.redisio import redis_errors, text_of
from engine.webhooks.models import EVENT_TTL_S, KEEP_ATTEMPTS, MAX_ENDPOINTS, SECRET_PREFIX, Attempt, Endpoint

__all__ = ["WebhookStore"]

_enc = msgspec.json.Encoder()
_dec_endpoint = msgspec.json.Decoder(Endpoint)
_dec_attempt = msgspec.json.Decoder(Attempt)


class WebhookStore:
    """Endpoints, events and the delivery log, in Redis."""

    def __init__(self, client: redis.Redis, backup: SystemBackup | None = None, keys: KeySpace = KEYS) -> None:
        self._r = client
        self._k = keys
        self._backup = backup

    def _ep(self, endpoint_id: str) -> str:
        return self._k.webhook(endpoint_id)

    def _tenant(self, tenant_id: str) -> str:
        return self._k.tenant_webhooks(tenant_id)

    def create(
        self,
        tenant_id: str,
        url: str,
        events: list[str],
        description: str | None,
        *,
        secret: str | None = None,
        signature_scheme: str = "standard",
    ) -> Endpoint:
        """A new endpoint; `secret` None generates a `whsec_` one (the caller may choose its own)."""
        endpoint = Endpoint(
            id=str(uuid.uuid4()),
            tenant_id=tenant_id,
            url=url,
            events=events,
            description=description,
            secret=secret or SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode(),
            created_at=utc_now(),
            signature_scheme=signature_scheme,
        )
        with redis_errors():
            if self._r.zcard(self._tenant(tenant_id)) >= MAX_ENDPOINTS:
                raise InvalidParameter(f"a tenant may have at most {MAX_ENDPOINTS} webhook endpoints")
        if self._backup is not None:
            self._backup.save("webhooks", endpoint.id, endpoint)
        try:
            self._store(endpoint)
        except Exception:  # the client hears 503: the copy must not bring the endpoint back later
            self._drop_copy(endpoint.id)
            raise
        return endpoint

    def _drop_copy(self, endpoint_id: str) -> None:
        if self._backup is not None:
            with contextlib.suppress(Exception):  # best effort: the first error is the one to report
                self._backup.remove("webhooks", endpoint_id)

    def _store(self, endpoint: Endpoint) -> None:
        with redis_errors():
            pipe = self._r.pipeline(transaction=True)
            pipe.set(self._ep(endpoint.id), _enc.encode(endpoint))
            pipe.zadd(self._tenant(endpoint.tenant_id), {endpoint.id: endpoint.created_at.timestamp()})
            pipe.execute()

    def restore(self, endpoint_id: str, raw: bytes) -> None:
        self._store(_dec_endpoint.decode(raw))

    def get(self, endpoint_id: str) -> Endpoint | None:
        with redis_errors():
            raw = self._r.get(self._ep(endpoint_id))
        return None if raw is None else _dec_endpoint.decode(raw)

    def get_for(self, tenant_id: str, endpoint_id: str) -> Endpoint:
        endpoint = self.get(endpoint_id) if len(endpoint_id) <= 64 else None
        if endpoint is None or endpoint.tenant_id != tenant_id:
            raise WebhookNotFound(f"webhook {endpoint_id[:64]!r} not found")
        return endpoint

    def for_tenant(self, tenant_id: str) -> list[Endpoint]:
        with redis_errors():
            ids = self._r.zrange(self._tenant(tenant_id), 0, -1)
            raws = self._r.mget([self._ep(text_of(i)) for i in ids]) if ids else []
        return [_dec_endpoint.decode(r) for r in raws if r is not None]

    def update(self, tenant_id: str, endpoint_id: str, **changes: object) -> Endpoint:
        """Replace some of an endpoint's fields (url, events, description, secret, signature_scheme).

        An update also re-enables an endpoint that a `410 Gone` disabled: its owner has looked at it."""
        allowed = {"url", "events", "description", "secret", "signature_scheme"}
        if not set(changes) <= allowed:
            raise ValueError(f"cannot update {sorted(set(changes) - allowed)}")
        endpoint = self.get_for(tenant_id, endpoint_id)
        updated = msgspec.structs.replace(endpoint, **changes, disabled=False, disabled_reason=None)
        if self._backup is not None:
            self._backup.save("webhooks", endpoint.id, updated)
        with redis_errors():
            stored = self._r.set(self._ep(endpoint.id), _enc.encode(updated), xx=True)
        if not stored:  # deleted meanwhile: the copy just written must not bring it back
            self._drop_copy(endpoint.id)
            raise WebhookNotFound(f"webhook {endpoint_id[:64]!r} not found")
        return updated

    def delete(self, tenant_id: str, endpoint_id: str) -> None:
        endpoint = self.get_for(tenant_id, endpoint_id)
        if self._backup is not None:
            self._backup.remove("webhooks", endpoint.id)
        with redis_errors():
            pipe = self._r.pipeline(transaction=True)
            pipe.delete(self._ep(endpoint.id), self._k.webhook_attempts(endpoint.id))
            pipe.zrem(self._tenant(tenant_id), endpoint.id)
            pipe.execute()

    def disable(self, endpoint: Endpoint, reason: str) -> None:
        updated = msgspec.structs.replace(endpoint, disabled=True, disabled_reason=reason)
        if self._backup is not None:
            self._backup.save("webhooks", endpoint.id, updated)
        with redis_errors():
            stored = self._r.set(self._ep(endpoint.id), _enc.encode(updated), xx=True)
        if not stored:
            self._drop_copy(endpoint.id)

    def record(self, endpoint_id: str, attempt: Attempt) -> None:
        key = self._k.webhook_attempts(endpoint_id)
        with redis_errors():
            if not self._r.exists(self._ep(endpoint_id)):
                return
            pipe = self._r.pipeline(transaction=True)
            pipe.lpush(key, _enc.encode(attempt))
            pipe.ltrim(key, 0, KEEP_ATTEMPTS - 1)
            pipe.execute()

    def attempts(self, endpoint_id: str, limit: int = 100) -> list[Attempt]:
        with redis_errors():
            raws = self._r.lrange(self._k.webhook_attempts(endpoint_id), 0, limit - 1)
        return [_dec_attempt.decode(r) for r in raws]

    # Events: the signed body is fixed once, so that every attempt sends the same bytes.
    def put_event(self, event_id: str, body: bytes) -> bytes:
        key = self._k.event(event_id)
        with redis_errors():
            self._r.set(key, body, nx=True, ex=EVENT_TTL_S)
            stored = self._r.get(key)
        return stored if isinstance(stored, bytes) else body

    def get_event(self, event_id: str) -> bytes | None:
        with redis_errors():
            raw = self._r.get(self._k.event(event_id))
        return raw if isinstance(raw, bytes) else None

    def mark_published(self, event_id: str) -> bool:
        """True the first time only."""
        with redis_errors():
            return bool(self._r.set(self._k.event_published(event_id), b"1", nx=True, ex=EVENT_TTL_S))

    def is_published(self, event_id: str) -> bool:
        with redis_errors():
            return bool(self._r.exists(self._k.event_published(event_id)))
