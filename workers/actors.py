"""The actors. They take ids, never payloads, and are safe to run twice (see engine.pipeline)."""

from __future__ import annotations

import logging

import dramatiq
from dramatiq.middleware.time_limit import TimeLimitExceeded

from engine.errors import ServiceUnavailable, TranscriptionError
from engine.jobs import TRANSCRIBE_ACTOR
from engine.pipeline import TranscriptionJob
from engine.settings import Settings

__all__ = ["declare_actors"]

log = logging.getLogger("earshot.worker")


def _retry_transient(max_retries: int) -> object:
    def retry_when(retries: int, exc: BaseException) -> bool:
        # Only an outage is worth retrying; a bug or a bad file would fail the same way again.
        return isinstance(exc, ServiceUnavailable) and retries < max_retries

    return retry_when


def declare_actors(broker: dramatiq.Broker, settings: Settings, job: TranscriptionJob) -> None:
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

    dramatiq.actor(
        broker=broker,
        actor_name=TRANSCRIBE_ACTOR,
        queue_name=settings.queue_list[0],
        time_limit=settings.job_time_limit_s * 1000,
        max_retries=settings.job_max_retries,
        min_backoff=2_000,
        max_backoff=300_000,
        retry_when=_retry_transient(settings.job_max_retries),
    )(transcribe)
