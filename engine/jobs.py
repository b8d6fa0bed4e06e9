"""The job queue as the API sees it: only ids travel, by actor name, on Dramatiq's Redis broker.

The API enqueues by actor name without importing `workers`; `workers.actors` declares actors with
the same names. This module is that contract.
"""

from __future__ import annotations

from typing import Protocol

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker

from engine.errors import ServiceUnavailable
from engine.settings import Settings

__all__ = ["TRANSCRIBE_ACTOR", "DramatiqQueue", "JobQueue", "MemoryQueue", "make_broker"]

TRANSCRIBE_ACTOR = "transcribe"
BROKER_NAMESPACE = "earshot"


def make_broker(settings: Settings, *, middleware: list[dramatiq.Middleware] | None = None) -> RedisBroker:
    return RedisBroker(  # type: ignore[no-untyped-call]
        url=settings.redis_url,
        namespace=BROKER_NAMESPACE,
        middleware=middleware,
        socket_connect_timeout=3,
        socket_timeout=10,
    )


class JobQueue(Protocol):
    def enqueue_transcription(self, recording_id: str, queue: str) -> None: ...


class DramatiqQueue:
    def __init__(self, broker: dramatiq.Broker) -> None:
        self._broker = broker

    def enqueue_transcription(self, recording_id: str, queue: str) -> None:
        message: dramatiq.Message[None] = dramatiq.Message(
            queue_name=queue, actor_name=TRANSCRIBE_ACTOR, args=(recording_id,), kwargs={}, options={}
        )
        try:
            self._broker.enqueue(message)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise ServiceUnavailable("the job queue is unavailable") from exc


class MemoryQueue:
    def __init__(self) -> None:
        self.jobs: list[tuple[str, str]] = []

    def enqueue_transcription(self, recording_id: str, queue: str) -> None:
        self.jobs.append((queue, recording_id))
