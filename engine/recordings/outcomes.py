"""How a recording ends `failed`: the one path every caller takes (the transcription job, the
worker's last-resort handler, a telephony call that ended without audio).

The write is a compare-and-set on the recording as read (still `processing`, nothing changed since),
so only the first of several racing ends wins, and a change made meanwhile is never lost to an older
copy; only the winner tells the world (a `recording.failed` event, a metric), exactly once.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Protocol

import msgspec

from engine.clock import utc_now
from engine.errors import JobFailure, ServiceUnavailable
from engine.index.protocol import Index
from engine.ops.metrics import JobMetrics
from engine.recordings.model import Features, Recording, RecordingError, Status
from engine.recordings.transcripts import Transcription

__all__ = ["Outcomes", "Publisher"]

log = logging.getLogger("earshot.recordings")


class Publisher(Protocol):
    """What tells subscribers about an outcome (`engine.webhooks.EventPublisher`)."""

    def publish(self, recording: Recording, transcription: Transcription | None) -> str | None: ...


class Outcomes:
    def __init__(self, index: Index, *, events: Publisher | None = None, metrics: JobMetrics | None = None) -> None:
        self._index = index
        self._events = events
        self._metrics = metrics

    def fail(
        self, recording: Recording, exc: JobFailure, *, only_if: Callable[[Recording], bool] | None = None
    ) -> Recording | None:
        """End `recording` failed with `exc`'s code. None, changing nothing, if it is gone or was
        already finished (by another run, or by a user's DELETE), or if the stored recording no
        longer satisfies `only_if` (a call's recording URL came meanwhile). What is failed is the
        stored recording as it is at that moment: a change made meanwhile (a callback's URL) is
        never overwritten with an older copy."""
        while True:
            current = self._index.get(recording.id)
            if current is None or current.status != Status.PROCESSING:
                return None
            if only_if is not None and not only_if(current):
                return None
            now = utc_now()
            failed = msgspec.structs.replace(
                current,
                status=Status.FAILED,
                error=RecordingError(code=exc.code, message=exc.message),
                updated_at=now,
                processed_at=now,
            )
            if self._index.update(failed, was=current):
                break
        log.info("failed", extra={"recording_id": failed.id, "tenant_id": failed.tenant_id, "code": exc.code})
        self.publish(failed)
        self.count("failed", (failed.features or Features()).model, exc.code)
        return failed

    def publish(self, recording: Recording, transcription: Transcription | None = None) -> None:
        if self._events is not None:
            self._events.publish(recording, transcription)

    def count(
        self, outcome: str, model: str, code: str = "", audio_s: float | None = None, processing_s: float | None = None
    ) -> None:
        if self._metrics is not None:
            with contextlib.suppress(ServiceUnavailable):  # numbers must never fail a job
                self._metrics.job(outcome, model, code, audio_s, processing_s)
