"""RecordingService with in-memory index, storage and queue."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import msgspec
import pytest

from api.uploads import receive_upload
from engine.errors import (
    InvalidParameter,
    RecordingNotFound,
    ServiceUnavailable,
    TranscriptionFailed,
    TranscriptionNotReady,
)
from engine.index.memory import MemoryIndex
from engine.index.protocol import PageQuery
from engine.jobs.queue import MemoryQueue
from engine.jobs.routing import ModelCatalog
from engine.recordings.model import Recording, RecordingError, Status
from engine.recordings.service import RecordingService, UploadContext
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
