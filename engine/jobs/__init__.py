"""Running work: the queue contract shared by API and workers (`queue`), one transcription job
(`pipeline`), per-recording leases (`locks`), the sweep that requeues stuck recordings (`sweeper`),
and which queue serves which model (`routing`).
"""

from engine.jobs.locks import RecordingLocks
from engine.jobs.pipeline import TranscriptionJob, transcription_id_for
from engine.jobs.queue import (
    DELIVER_ACTOR,
    TRANSCRIBE_ACTOR,
    WEBHOOK_QUEUE,
    DramatiqQueue,
    JobQueue,
    MemoryQueue,
    make_broker,
)
from engine.jobs.routing import ModelCatalog, PoolInfo, PoolRegistry
from engine.jobs.sweeper import sweep

__all__ = [
    "DELIVER_ACTOR",
    "TRANSCRIBE_ACTOR",
    "WEBHOOK_QUEUE",
    "DramatiqQueue",
    "JobQueue",
    "MemoryQueue",
    "ModelCatalog",
    "PoolInfo",
    "PoolRegistry",
    "RecordingLocks",
    "TranscriptionJob",
    "make_broker",
    "sweep",
    "transcription_id_for",
]
