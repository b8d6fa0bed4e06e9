"""Signed webhooks with at-least-once delivery (Standard Webhooks).

- Endpoints belong to a tenant; their `whsec_` secret (32 random bytes) is shown only at creation.
- An event is created once per recording outcome with a deterministic id, so a job that runs twice
  publishes the same event (same `webhook-id`) rather than a second one; receivers dedupe on it.
- Each delivery is one actor message (endpoint id, event id, attempt). An attempt is recorded
  whatever happens; failures are retried on the configured schedule with the same `webhook-id`;
  `410 Gone` disables the endpoint; redirects are not followed; private targets are refused unless
  the operator allows them.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import re
import secrets
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime

import httpx
import msgspec
import redis

from engine.clock import from_ms, to_ms, utc_now
from engine.errors import InvalidParameter, ServiceUnavailable, WebhookNotFound
from engine.metrics import JobMetrics
from engine.mirror import SystemBackup
from engine.netguard import Network, TargetRefused, is_public, permitted, pin
from engine.recordings import Recording, Status
from engine.redis_index import redis_errors, text_of
from engine.transcripts import Transcription
from engine.views import RecordingOut, recording_out

__all__ = [
    "EVENT_TYPES",
    "Attempt",
    "Deliverer",
    "Endpoint",
    "EventPublisher",
    "WebhookStore",
    "sign",
    "validate_endpoint",
]

EVENT_TYPES: tuple[str, ...] = ("recording.transcribed", "recording.failed")
SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret
TIMEOUT_S = 10.0
MAX_ENDPOINTS = 50
KEEP_ATTEMPTS = 500
EVENT_TTL_S = 8 * 86400  # longer than any retry schedule (dramatiq delays are capped at 7 days)
_NS = uuid.UUID("1d7c54b0-4c8e-4d36-8f0b-3a6f7c2e9b15")


class Endpoint(msgspec.Struct, kw_only=True):
    id: str
    tenant_id: str
    url: str
    events: list[str]
    description: str | None = None
    secret: str
    created_at: datetime
    disabled: bool = False
    disabled_reason: str | None = None


class Attempt(msgspec.Struct, kw_only=True):
    event_id: str
    event_type: str
    attempt: int
    timestamp: datetime
    success: bool
    status_code: int | None = None
    error: str | None = None
    duration_ms: int
    next_retry_at: datetime | None = None


class TranscriptionSummary(msgspec.Struct, kw_only=True):
    id: str
    text: str
    language: str | None
    confidence: float
    uri: str


class EventData(msgspec.Struct, kw_only=True):
    recording: RecordingOut
    transcription: TranscriptionSummary | None


class Event(msgspec.Struct, kw_only=True):
    type: str
    timestamp: datetime
    data: EventData


_enc = msgspec.json.Encoder()
_dec_endpoint = msgspec.json.Decoder(Endpoint)
_dec_attempt = msgspec.json.Decoder(Attempt)


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256>` over `{id}.{timestamp}.{body}` with the decoded secret."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def validate_endpoint(
    payload: object, *, allow_private: bool, allowed: tuple[Network, ...] = ()
) -> tuple[str, list[str], str | None]:
    if not isinstance(payload, dict):
        raise InvalidParameter("the body must be a JSON object")
    url = payload.get("url")
    if not isinstance(url, str) or len(url) > 2048 or not re.match(r"https?://[^/\s]+", url):
        raise InvalidParameter("url must be an http or https URL of at most 2048 characters")
    host = url.split("://", 1)[1].split("/", 1)[0].rsplit("@", 1)[-1]
    literal = host[1:-1] if host.startswith("[") else host.rsplit(":", 1)[0]
    if _is_ip(literal) and not permitted(literal, allow_private=allow_private, allowed=allowed):
        raise InvalidParameter("url points to a private or loopback address, which is not allowed")
    events = payload.get("events", list(EVENT_TYPES))
    if not isinstance(events, list) or not events or not all(isinstance(e, str) and e in EVENT_TYPES for e in events):
        raise InvalidParameter(f"events must be a non-empty list of {', '.join(EVENT_TYPES)}")
    description = payload.get("description")
    if description is not None and (not isinstance(description, str) or len(description) > 256):
        raise InvalidParameter("description must be a string of at most 256 characters")
    return url, sorted(set(events), key=EVENT_TYPES.index), description


def _is_ip(text: str) -> bool:
    try:
        is_public(text)
    except ValueError:
        return False
    return True


class WebhookStore:
    """Endpoints, events and the delivery log, in Redis."""

    def __init__(self, client: redis.Redis, prefix: str = "earshot", backup: SystemBackup | None = None) -> None:
        self._r = client
        self._p = prefix
        self._backup = backup

    def _ep(self, endpoint_id: str) -> str:
        return f"{self._p}:wh:{endpoint_id}"

    def _tenant(self, tenant_id: str) -> str:
        return f"{self._p}:t:{tenant_id}:webhooks"

    def create(self, tenant_id: str, url: str, events: list[str], description: str | None) -> Endpoint:
        endpoint = Endpoint(
            id=str(uuid.uuid4()),
            tenant_id=tenant_id,
            url=url,
            events=events,
            description=description,
            secret=SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode(),
            created_at=utc_now(),
        )
        with redis_errors():
            if self._r.zcard(self._tenant(tenant_id)) >= MAX_ENDPOINTS:
                raise InvalidParameter(f"a tenant may have at most {MAX_ENDPOINTS} webhook endpoints")
        if self._backup is not None:
            self._backup.save("webhooks", endpoint.id, endpoint)
        self._store(endpoint)
        return endpoint

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

    def delete(self, tenant_id: str, endpoint_id: str) -> None:
        endpoint = self.get_for(tenant_id, endpoint_id)
        if self._backup is not None:
            self._backup.remove("webhooks", endpoint.id)
        with redis_errors():
            pipe = self._r.pipeline(transaction=True)
            pipe.delete(self._ep(endpoint.id), f"{self._ep(endpoint.id)}:attempts")
            pipe.zrem(self._tenant(tenant_id), endpoint.id)
            pipe.execute()

    def disable(self, endpoint: Endpoint, reason: str) -> None:
        updated = msgspec.structs.replace(endpoint, disabled=True, disabled_reason=reason)
        if self._backup is not None:
            self._backup.save("webhooks", endpoint.id, updated)
        with redis_errors():
            self._r.set(self._ep(endpoint.id), _enc.encode(updated), xx=True)

    def record(self, endpoint_id: str, attempt: Attempt) -> None:
        key = f"{self._ep(endpoint_id)}:attempts"
        with redis_errors():
            if not self._r.exists(self._ep(endpoint_id)):
                return
            pipe = self._r.pipeline(transaction=True)
            pipe.lpush(key, _enc.encode(attempt))
            pipe.ltrim(key, 0, KEEP_ATTEMPTS - 1)
            pipe.execute()

    def attempts(self, endpoint_id: str, limit: int = 100) -> list[Attempt]:
        with redis_errors():
            raws = self._r.lrange(f"{self._ep(endpoint_id)}:attempts", 0, limit - 1)
        return [_dec_attempt.decode(r) for r in raws]

    # Events: the signed body is fixed once, so that every attempt sends the same bytes.
    def put_event(self, event_id: str, body: bytes) -> bytes:
        key = f"{self._p}:evt:{event_id}"
        with redis_errors():
            self._r.set(key, body, nx=True, ex=EVENT_TTL_S)
            stored = self._r.get(key)
        return stored if isinstance(stored, bytes) else body

    def get_event(self, event_id: str) -> bytes | None:
        with redis_errors():
            raw = self._r.get(f"{self._p}:evt:{event_id}")
        return raw if isinstance(raw, bytes) else None

    def mark_published(self, event_id: str) -> bool:
        """True the first time only."""
        with redis_errors():
            return bool(self._r.set(f"{self._p}:evt:{event_id}:published", b"1", nx=True, ex=EVENT_TTL_S))

    def is_published(self, event_id: str) -> bool:
        with redis_errors():
            return bool(self._r.exists(f"{self._p}:evt:{event_id}:published"))


EnqueueDelivery = Callable[[str, str, int, int], None]
"""(endpoint_id, event_id, attempt, delay_ms) -> None"""


def event_id_for(recording: Recording) -> str:
    return "evt_" + uuid.uuid5(_NS, f"{recording.id}:{recording.status.value}").hex


class EventPublisher:
    def __init__(self, store: WebhookStore, enqueue: EnqueueDelivery) -> None:
        self._store = store
        self._enqueue = enqueue

    def publish(self, recording: Recording, transcription: Transcription | None) -> str | None:
        """Queue one delivery per subscribed endpoint. Safe to call again for the same outcome:
        nothing is queued twice once the event is marked published; a crash in between queues
        deliveries again under the same event id, which receivers dedupe."""
        if recording.status == Status.PROCESSING:
            return None
        event_type = "recording.transcribed" if recording.status == Status.TRANSCRIBED else "recording.failed"
        event_id = event_id_for(recording)
        if self._store.is_published(event_id):
            return event_id
        targets = [e for e in self._store.for_tenant(recording.tenant_id) if event_type in e.events and not e.disabled]
        if targets:
            summary = None
            if transcription is not None:
                summary = TranscriptionSummary(
                    id=transcription.id,
                    text=transcription.text,
                    language=transcription.language,
                    confidence=transcription.confidence,
                    uri=f"/v1/recordings/{recording.id}/transcription",
                )
            event = Event(
                type=event_type,
                timestamp=utc_now(),
                data=EventData(recording=recording_out(recording), transcription=summary),
            )
            self._store.put_event(event_id, _enc.encode(event))
            for endpoint in targets:
                self._enqueue(endpoint.id, event_id, 1, 0)
        self._store.mark_published(event_id)
        return event_id


class Deliverer:
    def __init__(
        self,
        store: WebhookStore,
        *,
        schedule: Sequence[int],
        allow_private: bool,
        enqueue: EnqueueDelivery,
        allowed: tuple[Network, ...] = (),
        timeout_s: float = TIMEOUT_S,
        metrics: JobMetrics | None = None,
    ) -> None:
        self._metrics = metrics
        self._store = store
        self._schedule = list(schedule)
        self._allow_private = allow_private
        self._allowed = allowed
        self._enqueue = enqueue
        self._timeout = timeout_s

    def deliver(self, endpoint_id: str, event_id: str, attempt: int) -> Attempt | None:
        endpoint = self._store.get(endpoint_id)
        body = self._store.get_event(event_id)
        if endpoint is None or endpoint.disabled or body is None:
            return None  # deleted, disabled or expired: nothing to do
        event_type = msgspec.json.decode(body, type=_TypeOnly).type
        started = time.perf_counter()
        status_code, error = self._post(endpoint, event_id, body)
        success = status_code is not None and 200 <= status_code < 300
        retry_in = None
        if status_code == 410:
            self._store.disable(endpoint, "the endpoint answered 410 Gone")
        elif not success and error is not None and error.startswith("refused"):
            pass  # a forbidden target does not become allowed by waiting
        elif not success and attempt <= len(self._schedule):
            retry_in = self._schedule[attempt - 1]
        record = Attempt(
            event_id=event_id,
            event_type=event_type,
            attempt=attempt,
            timestamp=utc_now(),
            success=success,
            status_code=status_code,
            error=error,
            duration_ms=int((time.perf_counter() - started) * 1000),
            next_retry_at=None if retry_in is None else from_ms(to_ms(utc_now()) + retry_in * 1000),
        )
        self._store.record(endpoint.id, record)
        if self._metrics is not None:
            outcome = "success" if success else "disabled" if status_code == 410 else "retry" if retry_in else "failed"
            with contextlib.suppress(ServiceUnavailable):
                self._metrics.webhook(outcome)
        if retry_in is not None:
            self._enqueue(endpoint.id, event_id, attempt + 1, retry_in * 1000)
        return record

    def _post(self, endpoint: Endpoint, event_id: str, body: bytes) -> tuple[int | None, str | None]:
        msg_id = "msg_" + event_id.removeprefix("evt_")
        timestamp = int(time.time())
        headers = {
            "content-type": "application/json",
            "user-agent": "Earshot-Webhooks/1",
            "webhook-id": msg_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(endpoint.secret, msg_id, timestamp, body),
        }
        try:
            target = pin(endpoint.url, allow_private=self._allow_private, allowed=self._allowed)
        except TargetRefused as exc:
            return None, f"refused: {exc}"
        headers["host"] = target.host_header
        try:
            with httpx.Client(timeout=self._timeout, follow_redirects=False, trust_env=False) as client:
                response = client.post(
                    target.url, content=body, headers=headers, extensions={"sni_hostname": target.server_name}
                )
                return response.status_code, None
        except httpx.TimeoutException:
            return None, f"timeout after {self._timeout:g} s"
        except httpx.HTTPError as exc:
            return None, f"connection failed: {type(exc).__name__}"


class _TypeOnly(msgspec.Struct):
    type: str
