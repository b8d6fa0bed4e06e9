"""RecordingService with in-memory index, storage and queue."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import msgspec
import pytest

from api.uploads import receive_upload
from engine.clock import utc_now
from engine.errors import (
    InvalidParameter,
    NothingToRetry,
    RecordingNotFound,
    ServiceUnavailable,
    TranscriptionFailed,
    TranscriptionNotReady,
)
from engine.index.memory import MemoryIndex
from engine.index.protocol import PageQuery
from engine.jobs.queue import MemoryQueue
from engine.jobs.routing import ModelCatalog
from engine.recordings.model import DIARIZATION_STAGE, Features, Recording, RecordingError, Status, transcript_key
from engine.recordings.service import RecordingService, UploadContext
from engine.recordings.transcripts import Diarization, StoredTranscription
from engine.settings import Settings
from engine.storage.memory import MemoryStorage

BOUNDARY = "----earshot"


def multipart(data: bytes, filename: str = "a.wav", **fields: str) -> bytes:
    out = b""
    for name, value in fields.items():
        out += f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
    out += (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: audio/wav\r\n\r\n"
    ).encode()
    return out + data + f"\r\n--{BOUNDARY}--\r\n".encode()


async def chunks(body: bytes, size: int = 1000) -> AsyncIterator[bytes]:
    for i in range(0, len(body), size):
        yield body[i : i + size]


class BrokenQueue:
    def enqueue_transcription(self, recording_id: str, queue: str) -> None:
        raise ServiceUnavailable("the job queue is unavailable")


def service(queue: object | None = None) -> tuple[RecordingService, MemoryIndex, MemoryStorage, MemoryQueue]:
    index, storage, jobs = MemoryIndex(), MemoryStorage(), MemoryQueue()
    svc = RecordingService(
        settings=Settings(),
        index=index,
        storage=storage,
        jobs=queue or jobs,
        models=ModelCatalog("tiny.en", "transcribe", None),
    )
    return svc, index, storage, jobs


def upload(svc: RecordingService, body: bytes, tenant: str = "t1") -> Recording:
    ctx = UploadContext(tenant_id=tenant, client_ip="10.0.0.1", user_agent="pytest")
    return asyncio.run(receive_upload(svc, ctx, chunks(body), f"multipart/form-data; boundary={BOUNDARY}"))


def test_an_upload_is_stored_indexed_and_queued() -> None:
    svc, index, storage, jobs = service()
    rec = upload(svc, multipart(b"RIFFdata", custom_tags='{"jobId": "j1"}', language="en"))
    assert rec.status == Status.PROCESSING
    assert index.get(rec.id) == rec
    assert storage.objects[rec.s3_key] == b"RIFFdata"
    assert jobs.jobs == [("transcribe", rec.id)]
    assert rec.custom_tags == {"jobId": "j1"}
    assert rec.features is not None
    assert rec.features.language == "en" and rec.features.model == "tiny.en"
    assert (rec.client_ip, rec.user_agent, rec.upload_source) == ("10.0.0.1", "pytest", "api")


def test_when_the_queue_is_down_the_upload_is_undone_and_reported() -> None:
    svc, index, storage, _ = service(queue=BrokenQueue())
    with pytest.raises(ServiceUnavailable):
        upload(svc, multipart(b"RIFFdata"))
    assert storage.objects == {}
    assert index.page(PageQuery(tenant_id="t1")) == ([], 0)


def test_another_tenant_cannot_see_or_delete_a_recording() -> None:
    svc, index, _, _ = service()
    rec = upload(svc, multipart(b"RIFFdata"), tenant="owner")
    with pytest.raises(RecordingNotFound):
        svc.get("intruder", rec.id)
    with pytest.raises(RecordingNotFound):
        svc.delete("intruder", rec.id)
    assert index.get(rec.id) is not None


def test_the_transcription_is_not_ready_while_processing_and_failed_when_failed() -> None:
    svc, index, _, _ = service()
    rec = upload(svc, multipart(b"RIFFdata"))
    with pytest.raises(TranscriptionNotReady):
        svc.transcription("t1", rec.id)
    failed = msgspec.structs.replace(rec, status=Status.FAILED, error=RecordingError(code="INVALID_AUDIO", message="x"))
    index.update(failed)
    with pytest.raises(TranscriptionFailed, match="INVALID_AUDIO"):
        svc.transcription("t1", rec.id)


class Diarizing(ModelCatalog):
    def can_diarize(self) -> bool:
        return True


def _finished(
    svc: RecordingService, index: MemoryIndex, storage: MemoryStorage, rec: Recording, diarization: str | None
) -> Recording:
    """`rec` transcribed, its stored document's diarization `failed`/`completed` (or not asked)."""
    document = StoredTranscription(
        id="tr", recording_id=rec.id, tenant_id=rec.tenant_id, text="hi", confidence=0.9, language="english",
        language_code="en", language_probability=1.0, model="tiny.en", device="cpu", compute_type="int8",
        processing_duration_ms=1, duration_seconds=1.0, created_at=utc_now(), updated_at=utc_now(),
        diarization=None if diarization is None else Diarization(status=diarization),
    )  # fmt: skip
    key = transcript_key(rec.tenant_id, rec.id, run="r1")
    storage.put_bytes(key, msgspec.json.encode(document), "application/json")
    done = msgspec.structs.replace(rec, status=Status.TRANSCRIBED, transcript_key=key, progress=1.0)
    assert index.update(done, expect=None)
    return done


def test_a_failed_recording_is_queued_again_on_retry_and_its_next_outcome_is_a_new_event() -> None:
    from engine.webhooks.publisher import event_id_for

    svc, index, _, jobs = service()
    rec = upload(svc, multipart(b"RIFFdata"))
    failed = msgspec.structs.replace(
        rec, status=Status.FAILED, error=RecordingError(code="SOURCE_FETCH_FAILED", message="x")
    )
    assert index.update(failed)
    again = svc.retry("t1", rec.id)
    assert (again.status, again.error, again.stage, again.retries) == (Status.PROCESSING, None, None, 1)
    assert index.get(rec.id) == again
    assert jobs.jobs == [("transcribe", rec.id), ("transcribe", rec.id)]
    assert event_id_for(msgspec.structs.replace(again, status=Status.FAILED)) != event_id_for(failed)
    with pytest.raises(NothingToRetry, match="still processing"):
        svc.retry("t1", rec.id)
    with pytest.raises(RecordingNotFound):
        svc.retry("intruder", rec.id)


def test_a_retry_the_queue_cannot_take_leaves_the_recording_failed() -> None:
    svc, index, _, _ = service()
    rec = upload(svc, multipart(b"RIFFdata"))
    failed = msgspec.structs.replace(rec, status=Status.FAILED, error=RecordingError(code="INVALID_AUDIO", message="x"))
    assert index.update(failed)
    broken = RecordingService(
        settings=Settings(), index=index, storage=MemoryStorage(), jobs=BrokenQueue(),  # type: ignore[arg-type]
        models=ModelCatalog("tiny.en", "transcribe", None),
    )  # fmt: skip
    with pytest.raises(ServiceUnavailable):
        broken.retry("t1", rec.id)
    assert index.get(rec.id) == failed


def test_a_failed_diarization_is_retried_alone_on_the_stored_transcript() -> None:
    index, storage, jobs = MemoryIndex(), MemoryStorage(), MemoryQueue()
    svc = RecordingService(
        settings=Settings(), index=index, storage=storage, jobs=jobs, models=Diarizing("tiny.en", "transcribe", None)
    )
    rec = upload(svc, multipart(b"RIFFdata", diarize="true"))
    done = _finished(svc, index, storage, rec, "failed")
    again = svc.retry("t1", rec.id)
    assert (again.status, again.stage, again.transcript_key, again.retries) == (
        Status.PROCESSING, DIARIZATION_STAGE, done.transcript_key, 1,
    )  # fmt: skip
    assert jobs.diarizations == [rec.id] and jobs.jobs == [("transcribe", rec.id)]  # no second transcription


def test_a_recording_that_failed_after_its_transcript_was_stored_retries_only_diarization() -> None:
    index, storage, jobs = MemoryIndex(), MemoryStorage(), MemoryQueue()
    svc = RecordingService(
        settings=Settings(), index=index, storage=storage, jobs=jobs, models=Diarizing("tiny.en", "transcribe", None)
    )
    rec = upload(svc, multipart(b"RIFFdata", diarize="true"))
    done = _finished(svc, index, storage, rec, None)
    # The hand-over to diarization failed for good (the worker's last-resort handler).
    failed = msgspec.structs.replace(
        done, status=Status.FAILED, stage=DIARIZATION_STAGE, error=RecordingError(code="INTERNAL_ERROR", message="x")
    )
    assert index.update(failed, expect=Status.TRANSCRIBED)
    again = svc.retry("t1", rec.id)
    assert (again.status, again.stage, again.transcript_key) == (
        Status.PROCESSING,
        DIARIZATION_STAGE,
        done.transcript_key,
    )
    assert jobs.diarizations == [rec.id] and jobs.jobs == [("transcribe", rec.id)]  # not transcribed again


def test_a_retry_of_speakers_needs_a_diarization_worker_and_a_good_transcript_has_nothing_to_retry() -> None:
    svc, index, storage, jobs = service()
    rec = upload(svc, multipart(b"RIFFdata"))
    _finished(svc, index, storage, rec, "failed")  # diarize was not asked: nothing failed
    with pytest.raises(NothingToRetry, match="no failed stage"):
        svc.retry("t1", rec.id)
    asked = msgspec.structs.replace(index.get(rec.id), features=Features(model="tiny.en", diarize=True))
    assert index.update(asked, expect=Status.TRANSCRIBED)
    with pytest.raises(InvalidParameter, match="no diarization worker"):
        svc.retry("t1", rec.id)
    assert index.get(rec.id) == asked and jobs.diarizations == []
    _finished(svc, index, storage, asked, "completed")
    with pytest.raises(NothingToRetry):
        svc.retry("t1", rec.id)


def test_delete_removes_the_audio_and_the_entry() -> None:
    svc, index, storage, _ = service()
    rec = upload(svc, multipart(b"RIFFdata"))
    svc.delete("t1", rec.id)
    assert index.get(rec.id) is None
    assert storage.objects == {}
    with pytest.raises(RecordingNotFound):
        svc.delete("t1", rec.id)


def test_objects_a_delete_could_not_remove_are_remembered_and_purged_later() -> None:
    from engine.storage.purge import purge

    svc, index, storage, _ = service()
    rec = upload(svc, multipart(b"RIFFdata"))
    real_delete = storage.delete

    def down(key: str) -> None:
        raise ServiceUnavailable("object storage is unavailable")

    storage.delete = down  # type: ignore[method-assign]
    svc.delete("t1", rec.id)  # the recording is gone for the user...
    with pytest.raises(RecordingNotFound):
        svc.get("t1", rec.id)
    prefix = f"t1/{rec.id}."
    assert index.orphans() == [prefix] and rec.s3_key in storage.objects  # ...its bytes are not, yet
    storage.delete = real_delete  # type: ignore[method-assign]
    assert purge(storage, index, prefix)
    assert storage.objects == {} and index.orphans() == []


class Killed(BaseException):
    """Stands for SIGKILL: nothing after it runs."""


def test_a_delete_whose_process_dies_part_way_is_finished_by_the_sweeper_and_never_removes_a_live_recording() -> None:
    from engine.jobs.sweeper import finish_deletes

    svc, index, storage, _ = service()
    kept, gone = upload(svc, multipart(b"RIFFkept")), upload(svc, multipart(b"RIFFgone"))
    real_delete, real_list = index.delete, storage.list_keys

    def die(*args: object, **kwargs: object) -> object:
        raise Killed()

    index.delete = die  # type: ignore[method-assign]  # dies before its index write
    with pytest.raises(Killed):
        svc.delete("t1", kept.id)
    index.delete = real_delete  # type: ignore[method-assign]
    storage.list_keys = die  # type: ignore[method-assign]  # dies after it, before the purge
    with pytest.raises(Killed):
        svc.delete("t1", gone.id)
    storage.list_keys = real_list  # type: ignore[method-assign]
    assert gone.s3_key in storage.objects  # left behind by the dead process ...

    finish_deletes(index, storage)

    assert gone.s3_key not in storage.objects  # ... and removed by the sweeper
    assert svc.get("t1", kept.id).s3_key in storage.objects  # a DELETE that never happened removes nothing
    svc.delete("t1", kept.id)  # the user's retry deletes it, once and for all
    assert storage.objects == {} and index.orphans() == []


def test_an_english_only_model_asked_for_another_language_is_400_naming_it_and_stores_nothing() -> None:
    svc, index, storage, jobs = service()
    with pytest.raises(InvalidParameter, match=r"'tiny\.en' is English-only") as caught:
        upload(svc, multipart(b"RIFFdata", language="fr"))
    assert "language 'fr'" in caught.value.message
    assert storage.objects == {} and jobs.jobs == [] and index.page(PageQuery(tenant_id="t1"))[1] == 0
    assert upload(svc, multipart(b"RIFFdata", language="en")).features is not None  # English is fine


def test_translation_needs_a_multilingual_model_and_the_task_is_checked() -> None:
    svc, _, storage, _ = service()
    with pytest.raises(InvalidParameter, match="cannot translate"):
        upload(svc, multipart(b"RIFFdata", task="translate"))
    with pytest.raises(InvalidParameter, match="task must be"):
        upload(svc, multipart(b"RIFFdata", task="summarize"))
    assert storage.objects == {}
