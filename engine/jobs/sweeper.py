"""The last safety net: recordings left `processing` with no job to finish them get one again.

A job can be lost in ways no broker fully prevents: Redis failing between the index write and
the enqueue, or a retry message that could not be written during an outage. Every worker process
sweeps now and then: a recording still processing whose last change is older than `stale_s`, that
waits for nothing (a telephony call still recording) and that no live run holds, is queued again.
Jobs are safe to run twice, so a sweep that races a slow queue costs a no-op run, nothing more.

A telephony call is waited for until `call_max_s` after it began: a provider whose end-of-call
callback never comes (lost, or sent to an old address) would otherwise leave it `recording` for ever.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Protocol

from engine.clock import to_ms, utc_now
from engine.errors import JobFailure, SourceFetchFailed
from engine.index.protocol import Index
from engine.index.redis_index import RedisIndex
from engine.jobs.locks import RecordingLocks
from engine.recordings.model import Recording, Status, recording_id_of, without_audio
from engine.storage.protocol import Storage
from engine.storage.purge import purge

__all__ = ["Fail", "finish_deletes", "sweep"]

log = logging.getLogger("earshot.sweeper")


class Fail(Protocol):
    """`Outcomes.fail`: ends a recording failed, only while `only_if` holds for what is stored."""

    def __call__(
        self, recording: Recording, exc: JobFailure, *, only_if: Callable[[Recording], bool] | None = None
    ) -> Recording | None: ...


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
    call_max_s: float | None = None,
    fail: Fail | None = None,
) -> list[str]:
    """Requeue stale recordings (returns their ids); remove objects a DELETE could not; with `fail`,
    end calls still waiting for their recording `call_max_s` after they began."""
    if storage is not None:
        finish_deletes(index, storage)
    now = to_ms(utc_now())
    requeued = []
    for recording_id in index.stale_processing(now - int(stale_s * 1000)):
        recording = index.get(recording_id)
        if recording is None or recording.status != Status.PROCESSING:
            index.forget_processing(recording_id)
            continue
        if without_audio(recording):  # a call still going on, or one whose end never came
            if fail is not None and call_max_s is not None and _call_too_long(recording, call_max_s):
                # Only while it still waits: an end callback may bring the URL at this very moment.
                if fail(recording, SourceFetchFailed(_call_message(call_max_s)), only_if=without_audio):
                    log.warning("failed a call whose end never came", extra={"recording_id": recording_id})
                continue
        elif not locks.held(recording_id):
            enqueue(recording)
            requeued.append(recording_id)
            log.warning("requeued a stale recording", extra={"recording_id": recording_id})
        index.touch_processing(recording_id, now)  # look again only after another stale_s
    return requeued


def _call_too_long(recording: Recording, call_max_s: float) -> bool:
    began = recording.created_at or recording.updated_at
    return began is not None and utc_now() - began > timedelta(seconds=call_max_s)


def _call_message(call_max_s: float) -> str:
    limit = f"{call_max_s / 3600:g} h" if call_max_s >= 3600 else f"{call_max_s:g} s"
    return f"no end-of-call callback with a recordingUrl arrived within {limit} of the call starting"
