"""One delivery attempt: pin the target past the SSRF guard, sign, POST, record, schedule a retry."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence

import httpx
import msgspec

from engine.clock import from_ms, to_ms, utc_now
from engine.errors import ServiceUnavailable
from engine.ops.metrics import JobMetrics
from engine.outbound.guard import Network, TargetRefused, TargetUnresolved, pin
from engine.webhooks.models import TIMEOUT_S, Attempt, Endpoint, EventType, seed_event_name
from engine.webhooks.publisher import EnqueueDelivery
from engine.webhooks.signing import sign, sign_vocafuse
from engine.webhooks.store import WebhookStore

__all__ = ["Deliverer", "seed_body"]


def seed_body(body: bytes, event_type: str) -> bytes:
    """The event as the seed's receivers read it: the same JSON with a top-level `event` key first
    (the seed's name, `recording.completed`). The same stored event gives the same bytes every time."""
    payload = msgspec.json.decode(body)
    return msgspec.json.encode({"event": seed_event_name(event_type), **payload})


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
        recording_gone: Callable[[str], bool] | None = None,
    ) -> None:
        self._recording_gone = recording_gone
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
        event = msgspec.json.decode(body, type=EventType)
        event_type = event.type
        started = time.perf_counter()
        status_code: int | None
        error: str | None
        deleted = self._deleted(event)
        if deleted:  # a deleted recording's transcript must not leave any more
            status_code, error = None, "not sent: the recording was deleted"
        else:
            status_code, error = self._post(endpoint, event_id, event_type, body)
        success = status_code is not None and 200 <= status_code < 300
        retry_in = None
        if status_code == 410:
            self._store.disable(endpoint, "the endpoint answered 410 Gone")
        elif deleted or (error is not None and error.startswith("refused")):
            pass  # a deleted recording does not come back, nor a forbidden target become allowed
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

    def _deleted(self, event: EventType) -> bool:
        recording_id = event.data.recording.id if event.data and event.data.recording else None
        return bool(recording_id and self._recording_gone is not None and self._recording_gone(recording_id))

    def _post(self, endpoint: Endpoint, event_id: str, event_type: str, body: bytes) -> tuple[int | None, str | None]:
        msg_id = "msg_" + event_id.removeprefix("evt_")
        timestamp = int(time.time())
        if endpoint.signature_scheme == "vocafuse":
            body = seed_body(body, event_type)
        headers = {
            "content-type": "application/json",
            "user-agent": "Earshot-Webhooks/1",
            "webhook-id": msg_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(endpoint.secret, msg_id, timestamp, body),
        }
        if endpoint.signature_scheme == "vocafuse":
            headers["x-vocafuse-signature"] = sign_vocafuse(endpoint.secret, body)
            headers["x-vocafuse-timestamp"] = str(timestamp)
            headers["x-vocafuse-event"] = seed_event_name(event_type)
        try:
            target = pin(endpoint.url, allow_private=self._allow_private, allowed=self._allowed)
        except TargetUnresolved as exc:
            return None, f"dns: {exc}"  # retried: a resolver outage, or a name not live yet
        except TargetRefused as exc:
            return None, f"refused: {exc}"
        headers["host"] = target.host_header
        if target.authorization:  # https://user:secret@host/… : the receiver's Basic credentials
            headers["authorization"] = target.authorization
        try:
            with (
                httpx.Client(timeout=self._timeout, follow_redirects=False, trust_env=False) as client,
                client.stream(
                    "POST", target.url, content=body, headers=headers, extensions={"sni_hostname": target.server_name}
                ) as response,
            ):
                # The status is the answer; the body is never read (a receiver could send gigabytes,
                # or drip it a byte at a time), and the connection is closed with it unread.
                return response.status_code, None
        except httpx.TimeoutException:
            return None, f"timeout after {self._timeout:g} s"
        except httpx.HTTPError as exc:
            return None, f"connection failed: {type(exc).__name__}"
