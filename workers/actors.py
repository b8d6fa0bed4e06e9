"""The actors. They take ids, never payloads, and are safe to run twice (see engine.pipeline)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Protocol

import dramatiq
from dramatiq.middleware.time_limit import TimeLimitExceeded

from engine.errors import DiarizationFailed, JobFailure, ServiceUnavailable, TranscriptionError
from engine.jobs.diarization import DiarizationJob
from engine.jobs.pipeline import TranscriptionJob
from engine.jobs.queue import DELIVER_ACTOR, DIARIZATION_QUEUE, DIARIZE_ACTOR, TRANSCRIBE_ACTOR, WEBHOOK_QUEUE
from engine.settings import Settings
from engine.webhooks.delivery import Deliverer
from engine.webhooks.models import Attempt

__all__ = ["declare_actors"]

log = logging.getLogger("earshot.worker")


def _retry_transient(max_retries: int) -> Callable[[int, BaseException], bool]:
    def retry_when(retries: int, exc: BaseException) -> bool:
        # Only an outage is worth retrying; a bug or a bad file would fail the same way again.
        return isinstance(exc, ServiceUnavailable) and retries < max_retries

    return retry_when


def outlast_outages(fn: Callable[[], object], *, attempts: int, what: dict[str, object]) -> None:
    """Run `fn`, waiting out a Redis or S3 outage with backoff (2 s doubling to 60 s) in place.

    Retrying by re-enqueueing (Dramatiq's way) needs Redis, which may be the thing that is down:
    the retry message would be lost while the original stays unacknowledged under a live worker,
    and the recording would sit in `processing` for good. Waiting here keeps the message with us;
    if this process dies meanwhile, its heartbeat lapses and another worker gets the job."""
    for attempt in range(attempts + 1):
        try:
            fn()
            return
        except ServiceUnavailable:
            # Also RecordingBusy: another run holds the recording's lease. Usually that run died
            # (which is why this copy was redelivered) and the lease lapses within a minute;
            # if it lives, it finishes and the next try here finds nothing left to do.
            if attempt == attempts:
                raise
            delay = min(2.0 * 2**attempt, 60.0)
            log.warning("dependency unavailable; retrying", extra={**what, "in_s": delay, "attempt": attempt + 1})
            time.sleep(delay)


class _Stage(Protocol):
    """A recording's job stage: run it, or end it for good with a failure."""

    def run(self, recording_id: str) -> object: ...

    def fail(self, recording_id: str, exc: JobFailure) -> object: ...


def stage_handler(
    job: _Stage, settings: Settings, failure: type[JobFailure], *, stage: str, doing: str
) -> Callable[[str], None]:
    """The actor body of a recording stage: outages waited out in place (then the message goes back
    to the queue), anything else ends the stage with `failure` (the transcription stage fails the
    recording; the diarization stage keeps the transcript and states the failure)."""

    def handle(recording_id: str) -> None:
        try:
            outlast_outages(
                lambda: job.run(recording_id), attempts=settings.job_max_retries, what={"recording_id": recording_id}
            )
        except ServiceUnavailable:
            log.error("dependency unavailable for too long; the job goes back to the queue", extra={"stage": stage})
            raise
        except TimeLimitExceeded:
            log.error("job exceeded its time limit", extra={"recording_id": recording_id, "stage": stage})
            job.fail(recording_id, failure(f"the {stage} exceeded the job time limit"))
        except Exception:
            # Never let one recording kill the worker or sit in `processing` forever.
            log.exception("unexpected error", extra={"recording_id": recording_id, "stage": stage})
            job.fail(recording_id, failure(f"internal error while {doing}"))

    return handle


def deliver_handler(deliverer: Deliverer, settings: Settings) -> Callable[[str, str, int], None]:
    def deliver_webhook(endpoint_id: str, event_id: str, attempt: int) -> None:
        # Our own schedule retries failed deliveries (a new message per attempt); Dramatiq's
        # retries only cover Redis being unreachable while recording the attempt.
        records: list[Attempt | None] = []
        outlast_outages(
            lambda: records.append(deliverer.deliver(endpoint_id, event_id, attempt)),
            attempts=settings.job_max_retries,
            what={"endpoint_id": endpoint_id, "event_id": event_id},
        )
        record = records[-1] if records else None
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

    return deliver_webhook


def declare_actors(
    broker: dramatiq.Broker,
    settings: Settings,
    job: TranscriptionJob,
    deliverer: Deliverer,
    diarization: DiarizationJob | None = None,
) -> None:
    """Declare the actors. The transcribe actor serves every transcription queue this process
    consumes: Dramatiq binds an actor to one queue, and the others are declared beside it, so a
    message for `transcribe` on any of them finds the actor by name."""
    retry = _retry_transient(settings.job_max_retries)
    first, *others = settings.transcription_queues
    dramatiq.actor(
        broker=broker,
        actor_name=TRANSCRIBE_ACTOR,
        queue_name=first,
        time_limit=settings.job_time_limit_s * 1000,
        max_retries=settings.job_max_retries,
        min_backoff=2_000,
        max_backoff=300_000,
        retry_when=retry,
    )(stage_handler(job, settings, TranscriptionError, stage="transcription", doing="transcribing"))
    for queue in others:
        broker.declare_queue(queue)
    dramatiq.actor(
        broker=broker,
        actor_name=DELIVER_ACTOR,
        queue_name=WEBHOOK_QUEUE,
        # One attempt is 10 s at most; the rest is room to wait out an outage in place.
        time_limit=45 * 60_000,
        max_retries=settings.job_max_retries,
        min_backoff=2_000,
        max_backoff=300_000,
        retry_when=retry,
    )(deliver_handler(deliverer, settings))
    if diarization is not None:
        dramatiq.actor(
            broker=broker,
            actor_name=DIARIZE_ACTOR,
            queue_name=DIARIZATION_QUEUE,
            time_limit=settings.job_time_limit_s * 1000,
            max_retries=settings.job_max_retries,
            min_backoff=2_000,
            max_backoff=300_000,
            retry_when=retry,
        )(stage_handler(diarization, settings, DiarizationFailed, stage="diarization", doing="diarizing"))
