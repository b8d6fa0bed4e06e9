"""The job queue as the API sees it: only ids travel, by actor name, on Dramatiq's Redis broker.

The API enqueues by actor name without importing `workers`; `workers.actors` declares actors with
the same names. This module is that contract.
"""

from __future__ import annotations

from typing import Protocol

import dramatiq
from dramatiq.brokers.redis import RedisBroker

from engine.errors import ServiceUnavailable
from engine.keyspace import BROKER_NAMESPACE
from engine.redisio import redis_errors
from engine.settings import Settings

__all__ = [
    "DELIVER_ACTOR",
    "DIARIZATION_QUEUE",
    "DIARIZE_ACTOR",
    "TRANSCRIBE_ACTOR",
    "WEBHOOK_QUEUE",
    "DramatiqQueue",
    "JobQueue",
    "MemoryQueue",
    "make_broker",
]

TRANSCRIBE_ACTOR = "transcribe"
DELIVER_ACTOR = "deliver_webhook"
WEBHOOK_QUEUE = "webhooks"
DIARIZE_ACTOR = "diarize"
DIARIZATION_QUEUE = "diarization"
"""Consumed by workers with the diarization extra (`EARSHOT_QUEUES=diarization`)."""


def make_broker(settings: Settings, *, middleware: list[dramatiq.Middleware] | None = None) -> RedisBroker:
    """Unacknowledged jobs of a worker whose heartbeat is older than the timeout are requeued by
    whichever consumer next runs queue maintenance (a `queue_maintenance_chance` in a million of
    its commands): recovery after a crash takes about the timeout plus a few polls."""
    return RedisBroker(  # type: ignore[no-untyped-call]
        url=settings.redis_url,
        namespace=BROKER_NAMESPACE,
        middleware=middleware,
        heartbeat_timeout=settings.job_heartbeat_timeout_s * 1000,
        maintenance_chance=settings.queue_maintenance_chance,
        socket_connect_timeout=3,
        socket_timeout=10,
    )


class JobQueue(Protocol):
    def enqueue_transcription(self, recording_id: str, queue: str) -> None: ...

    def enqueue_delivery(self, endpoint_id: str, event_id: str, attempt: int, delay_ms: int) -> None: ...

    def enqueue_diarization(self, recording_id: str) -> None: ...


class DramatiqQueue:
    def __init__(self, broker: dramatiq.Broker) -> None:
        self._broker = broker

    def enqueue_transcription(self, recording_id: str, queue: str) -> None:
        self._send(queue, TRANSCRIBE_ACTOR, (recording_id,), None)

    def enqueue_delivery(self, endpoint_id: str, event_id: str, attempt: int, delay_ms: int) -> None:
        self._send(WEBHOOK_QUEUE, DELIVER_ACTOR, (endpoint_id, event_id, attempt), delay_ms or None)

    def enqueue_diarization(self, recording_id: str) -> None:
        self._send(DIARIZATION_QUEUE, DIARIZE_ACTOR, (recording_id,), None)

    def _send(self, queue: str, actor: str, args: tuple[object, ...], delay_ms: int | None) -> None:
        message: dramatiq.Message[None] = dramatiq.Message(
            queue_name=queue, actor_name=actor, args=args, kwargs={}, options={}
        )
        try:
            with redis_errors():  # down, or answering READONLY / OOM / BUSY: the queue cannot take it now
                self._broker.enqueue(message, delay=delay_ms)
        except ServiceUnavailable as exc:
            raise ServiceUnavailable("the job queue is unavailable") from exc


class MemoryQueue:
    def __init__(self) -> None:
        self.jobs: list[tuple[str, str]] = []
        self.deliveries: list[tuple[str, str, int, int]] = []
        self.diarizations: list[str] = []

    def enqueue_transcription(self, recording_id: str, queue: str) -> None:
        self.jobs.append((queue, recording_id))

    def enqueue_delivery(self, endpoint_id: str, event_id: str, attempt: int, delay_ms: int) -> None:
        self.deliveries.append((endpoint_id, event_id, attempt, delay_ms))

    def enqueue_diarization(self, recording_id: str) -> None:
        self.diarizations.append(recording_id)
