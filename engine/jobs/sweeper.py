"""The last safety net: recordings left `processing` with no job to finish them get one again.

A job can be lost in ways no broker fully prevents: Redis failing between the index write and
the enqueue, or a retry message that could not be written during an outage. Every worker process
sweeps now and then: a recording still processing whose last change is older than `stale_s`, that
waits for nothing (a telephony call still recording) and that no live run holds, is queued again.
Jobs are safe to run twice, so a sweep that races a slow queue costs a no-op run, nothing more.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from engine.clock import to_ms, utc_now
from engine.index.protocol import Index
from engine.index.redis_index import RedisIndex
from engine.jobs.locks import RecordingLocks
from engine.recordings.model import Recording, Status, recording_id_of
from engine.storage.protocol import Storage
from engine.storage.purge import purge

__all__ = ["finish_deletes", "sweep"]

log = logging.getLogger("earshot.sweeper")


def finish_deletes(index: Index, storage: Storage) -> None:
    """Remove the objects of recordings whose DELETE could not (storage down) or did not (its
    process died) remove them. A prefix whose recording is still indexed is left alone: that DELETE
    died before its index write, so the recording is not deleted, and its audio stays."""
    for prefix in index.orphans():
        if index.get(recording_id_of(prefix)) is None:
            purge(storage, index, prefix)


def sweep(
    index: RedisIndex,
    locks: RecordingLocks,
    enqueue: Callable[[Recording], None],
    *,
    stale_s: float,
    storage: Storage | None = None,
) -> list[str]:
    """Requeue stale recordings (returns their ids); remove objects a DELETE could not."""
    if storage is not None:
        finish_deletes(index, storage)
    now = to_ms(utc_now())
    requeued = []
    for recording_id in index.stale_processing(now - int(stale_s * 1000)):
        recording = index.get(recording_id)
        if recording is None or recording.status != Status.PROCESSING:
            index.forget_processing(recording_id)
            continue
        awaiting_call = recording.file_size_bytes is None and (
            recording.features is None or recording.features.source_url is None
        )
        if not awaiting_call and not locks.held(recording_id):
            enqueue(recording)
            requeued.append(recording_id)
            log.warning("requeued a stale recording", extra={"recording_id": recording_id})
        index.touch_processing(recording_id, now)  # look again only after another stale_s
    return requeued
