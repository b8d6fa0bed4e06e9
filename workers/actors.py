"""The actors. They take ids, never payloads, and are safe to run twice (see engine.pipeline)."""

from __future__ import annotations

import logging
from collections.abc import Callable

import dramatiq
from dramatiq.middleware.time_limit import TimeLimitExceeded

from engine.errors import ServiceUnavailable, TranscriptionError
from engine.jobs import DELIVER_ACTOR, TRANSCRIBE_ACTOR, WEBHOOK_QUEUE
from engine.pipeline import TranscriptionJob
from engine.settings import Settings
from engine.webhooks import Deliverer

__all__ = ["declare_actors"]

log = logging.getLogger("earshot.worker")


def _retry_transient(max_retries: int) -> Callable[[int, BaseException], bool]:
    def retry_when(retries: int, exc: BaseException) -> bool:
        # Only an outage is worth retrying; a bug or a bad file would fail the same way again.
        return isinstance(exc, ServiceUnavailable) and retries < max_retries

    return retry_when


def declare_actors(broker: dramatiq.Broker, settings: Settings, job: TranscriptionJob, deliverer: Deliverer) -> None:
    def transcribe(recording_id: str) -> None:
        try:
            job.run(recording_id)
        except ServiceUnavailable:
            log.warning("dependency unavailable; the job will be retried", extra={"recording_id": recording_id})
            raise
        except TimeLimitExceeded:
            log.error("job exceeded its time limit", extra={"recording_id": recording_id})
            job.fail(recording_id, TranscriptionError("the transcription exceeded the job time limit"))
        except Exception:
            # Never let one recording kill the worker or sit in `processing` forever.
            log.exception("unexpected error", extra={"recording_id": recording_id})
            job.fail(recording_id, TranscriptionError("internal error while transcribing"))

    def deliver_webhook(endpoint_id: str, event_id: str, attempt: int) -> None:
        # Our own schedule retries failed deliveries (a new message per attempt); Dramatiq's
        # retries only cover Redis being unreachable while recording the attempt.
        record = deliverer.deliver(endpoint_id, event_id, attempt)
        if record is not None:
            log.info(
                "webhook attempt",
                extra={
                    "endpoint_id": endpoint_id,
                    "event_id": event_id,
                    "attempt": attempt,
                    "status_code": record.status_code,
                    "error": record.error,
                    "success": record.success,
                },
            )

    retry = _retry_transient(settings.job_max_retries)
    dramatiq.actor(
        broker=broker,
        actor_name=TRANSCRIBE_ACTOR,
        queue_name=settings.transcription_queues[0],
        time_limit=settings.job_time_limit_s * 1000,
        max_retries=settings.job_max_retries,
        min_backoff=2_000,
        max_backoff=300_000,
        retry_when=retry,
    )(transcribe)
    dramatiq.actor(
        broker=broker,
        actor_name=DELIVER_ACTOR,
        queue_name=WEBHOOK_QUEUE,
        time_limit=60_000,
        max_retries=settings.job_max_retries,
        min_backoff=2_000,
        max_backoff=300_000,
        retry_when=retry,
    )(deliver_webhook)
