"""Turn a finished recording into one event and queue a delivery per subscribed endpoint, once."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import msgspec

from engine.clock import utc_now
from engine.recordings.model import Recording, Status
from engine.recordings.transcripts import Transcription
from engine.recordings.views import recording_out
from engine.webhooks.models import EVENT_NS, Event, EventData, TranscriptionSummary, canonical_event
from engine.webhooks.store import WebhookStore

__all__ = ["EnqueueDelivery", "EventPublisher", "event_id_for"]

_enc = msgspec.json.Encoder()


EnqueueDelivery = Callable[[str, str, int, int], None]
"""(endpoint_id, event_id, attempt, delay_ms) -> None"""


def event_id_for(recording: Recording) -> str:
    """One event per outcome of a run: stable across redelivery, new after a user's retry."""
    run = f":{recording.retries}" if recording.retries else ""
    return "evt_" + uuid.uuid5(EVENT_NS, f"{recording.id}:{recording.status.value}{run}").hex


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
        targets = [
            e
            for e in self._store.for_tenant(recording.tenant_id)
            if event_type in {canonical_event(name) for name in e.events} and not e.disabled
        ]
        if targets:
            summary = None
            if transcription is not None:
                summary = TranscriptionSummary(
                    id=transcription.id,
                    text=transcription.text,
                    language=transcription.language,
                    confidence=transcription.confidence,
                    uri=f"/v1/recordings/{recording.id}/transcription",
                    speakers=len(transcription.speakers) if transcription.speakers else None,
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
