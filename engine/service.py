"""What the API does with recordings, free of HTTP: upload, get, list, delete, transcription."""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass

import msgspec

from engine.clock import utc_now
from engine.errors import (
    EarshotError,
    InvalidParameter,
    RecordingNotFound,
    ServiceUnavailable,
    TranscriptionFailed,
    TranscriptionNotReady,
)
from engine.index import Index, PageQuery
from engine.jobs import JobQueue
from engine.languages import LANGUAGES
from engine.recordings import (
    Features,
    Recording,
    Status,
    audio_key,
    new_id,
    transcript_key,
    validate_custom_tags,
)
from engine.settings import Settings
from engine.storage import Storage
from engine.transcripts import Transcription
from engine.uploads import receive_multipart

__all__ = ["RecordingService", "UploadContext"]

MAX_PROMPT_CHARS = 2000
_decode_transcription = msgspec.json.Decoder(Transcription).decode


@dataclass(frozen=True, slots=True)
class UploadContext:
    tenant_id: str
    user_id: str | None = None
    client_ip: str | None = None
    user_agent: str | None = None
    upload_source: str = "api"


def _check_field(models: Collection[str]) -> object:
    def check(name: str, value: str) -> None:
        if name == "custom_tags":
            validate_custom_tags(value)
        elif name == "language":
            if value != "auto" and value not in LANGUAGES:
                raise InvalidParameter(f"language {value[:20]!r} is not 'auto' or a supported ISO 639-1 code")
        elif name == "model":
            if value not in models:
                raise InvalidParameter(f"model {value[:64]!r} is not available; see GET /v1/models")
        elif name == "word_timestamps":
            if value.lower() not in ("true", "false", "1", "0"):
                raise InvalidParameter("word_timestamps must be true or false")
        elif name == "initial_prompt" and len(value) > MAX_PROMPT_CHARS:
            raise InvalidParameter(f"initial_prompt is longer than {MAX_PROMPT_CHARS} characters")

    return check


class RecordingService:
    def __init__(
        self, *, settings: Settings, index: Index, storage: Storage, jobs: JobQueue, models: Collection[str]
    ) -> None:
        self._settings = settings
        self._index = index
        self._storage = storage
        self._jobs = jobs
        self._models = models

    async def upload(
        self, ctx: UploadContext, body: AsyncIterator[bytes], content_type: str | None
    ) -> Recording:
        recording_id = new_id()
        received = await receive_multipart(
            body,
            content_type,
            storage=self._storage,
            key_for=lambda ext: audio_key(ctx.tenant_id, recording_id, ext or "bin"),
            limit=self._settings.max_upload_bytes,
            check_field=_check_field(self._models),  # type: ignore[arg-type]
        )
        fields = received.fields
        now = utc_now()
        recording = Recording(
            id=recording_id,
            tenant_id=ctx.tenant_id,
            user_id=ctx.user_id,
            original_filename=received.filename,
            s3_key=received.key,
            s3_bucket=self._storage.bucket,
            file_size_bytes=received.size,
            audio_format=received.extension,
            status=Status.PROCESSING,
            features=Features(
                language=fields.get("language", "auto"),
                model=fields.get("model", self._settings.model),
                word_timestamps=fields.get("word_timestamps", "true").lower() in ("true", "1"),
                initial_prompt=fields.get("initial_prompt") or None,
            ),
            client_ip=ctx.client_ip,
            user_agent=(ctx.user_agent or "")[:512] or None,
            upload_source=ctx.upload_source,
            custom_tags=validate_custom_tags(fields.get("custom_tags")),
            created_at=now,
            updated_at=now,
        )
        self._commit(recording)
        return recording

    def _commit(self, recording: Recording) -> None:
        """Index then enqueue; on failure undo what was done so no half-written state remains."""
        try:
            self._index.add(recording)
        except EarshotError:
            self._storage.delete(recording.s3_key)
            raise
        try:
            self._jobs.enqueue_transcription(recording.id, self.queue_for(recording))
        except EarshotError:
            self._undo(recording)
            raise

    def _undo(self, recording: Recording) -> None:
        try:
            self._index.delete(recording.id)
            self._storage.delete(recording.s3_key)
        except ServiceUnavailable:
            pass

    def queue_for(self, recording: Recording) -> str:
        return self._settings.queue_list[0]

    def get(self, tenant_id: str, recording_id: str) -> Recording:
        recording = self._index.get(recording_id) if _looks_like_id(recording_id) else None
        if recording is None or recording.tenant_id != tenant_id:
            raise RecordingNotFound(f"recording {recording_id[:64]!r} not found")
        return recording

    def list(self, query: PageQuery) -> tuple[list[Recording], int]:
        return self._index.page(query)

    def delete(self, tenant_id: str, recording_id: str) -> None:
        recording = self.get(tenant_id, recording_id)
        # Index first: a job that finishes after this sees the recording gone and writes nothing.
        if self._index.delete(recording.id) is None:
            raise RecordingNotFound(f"recording {recording_id[:64]!r} not found")
        self._storage.delete(recording.s3_key)
        self._storage.delete(transcript_key(recording.tenant_id, recording.id))

    def transcription(self, tenant_id: str, recording_id: str) -> Transcription:
        recording = self.get(tenant_id, recording_id)
        if recording.status == Status.PROCESSING:
            raise TranscriptionNotReady(f"recording {recording_id} is still processing")
        if recording.status == Status.FAILED:
            code = recording.error.code if recording.error else "TRANSCRIPTION_ERROR"
            raise TranscriptionFailed(f"the transcription failed ({code})")
        raw = self._storage.get_bytes(transcript_key(recording.tenant_id, recording.id))
        if raw is None:
            # Deleted between the two reads.
            raise RecordingNotFound(f"recording {recording_id[:64]!r} not found")
        return _decode_transcription(raw)


def _looks_like_id(value: str) -> bool:
    return 0 < len(value) <= 64 and all(c.isalnum() or c in "-_" for c in value)
