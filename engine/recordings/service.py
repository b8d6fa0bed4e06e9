"""What the API does with recordings, free of HTTP: upload, get, list, delete, transcription."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import msgspec

from engine.clock import utc_now
from engine.errors import (
    EarshotError,
    InvalidCustomTags,
    InvalidParameter,
    NothingToRetry,
    RecordingNotFound,
    ServiceUnavailable,
    TranscriptionFailed,
    TranscriptionNotReady,
    VocabularyNotFound,
)
from engine.index.protocol import Index, PageQuery
from engine.jobs.queue import JobQueue
from engine.jobs.routing import ModelCatalog
from engine.outbound.fetch import check_source_url
from engine.outbound.guard import TargetRefused, judge_url
from engine.recordings.languages import LANGUAGES, english_only
from engine.recordings.model import (
    DIARIZATION_STAGE,
    Features,
    Recording,
    Status,
    audio_key,
    new_id,
    object_prefix,
    validate_custom_tags,
    without_audio,
)
from engine.recordings.transcripts import StoredTranscription, Transcription
from engine.settings import Settings
from engine.storage.protocol import Storage
from engine.storage.purge import purge
from engine.storage.streaming import ReceivedUpload, extension_for, safe_filename
from engine.vocabularies.apply import hotwords
from engine.vocabularies.store import VocabularyStore

__all__ = ["FieldChecks", "RecordingService", "UploadContext", "check_form_field", "json_fields"]

MAX_PROMPT_CHARS = 2000
OPTIONAL_FIELDS = (
    "custom_tags",
    "language",
    "model",
    "word_timestamps",
    "initial_prompt",
    "task",
    "channels",
    "diarize",
    "speakers_expected",
    "min_speakers",
    "max_speakers",
    "vocabulary_id",
)
BOOLEAN_FIELDS = ("word_timestamps", "diarize")
SPEAKER_FIELDS = ("speakers_expected", "min_speakers", "max_speakers")
MAX_SPEAKERS = 20
_decode_transcription = msgspec.json.Decoder(StoredTranscription).decode


@dataclass(frozen=True, slots=True)
class UploadContext:
    tenant_id: str
    user_id: str | None = None
    client_ip: str | None = None
    user_agent: str | None = None
    upload_source: str = "api"


CHOICES = {
    "task": ("transcribe", "translate"),
    "channels": ("mix", "split"),
}
CHOICE_HELP = {
    "task": "task must be transcribe or translate",
    "channels": "channels must be mix (one transcript of all channels) or split (one per channel)",
}


def check_form_field(name: str, value: str, models: Collection[str]) -> None:
    """Check one optional upload field as soon as it arrives (before any audio is stored)."""
    if name == "custom_tags":
        validate_custom_tags(value)
    elif name == "language":
        if value != "auto" and value not in LANGUAGES:
            raise InvalidParameter(f"language {value[:20]!r} is not 'auto' or a supported ISO 639-1 code")
    elif name == "model":
        if value not in models:
            raise InvalidParameter(f"model {value[:64]!r} is not available; see GET /v1/models")
    elif name in CHOICES:
        if value not in CHOICES[name]:
            raise InvalidParameter(CHOICE_HELP[name])
    else:
        _check_scalar(name, value)


class FieldChecks:
    """One form's fields, checked as each arrives (`check_form_field`, then the speaker fields
    against those before them) and, by `before_audio`, once the audio part begins: whatever the
    fields sent so far already rule out is refused then, not after the whole file has been stored.
    Fields sent after the file are checked with the rest when the upload is registered."""

    def __init__(self, models: Collection[str], can_diarize: bool) -> None:
        self._models = models
        self._can_diarize = can_diarize
        self._seen: dict[str, str] = {}

    def __call__(self, name: str, value: str) -> None:
        check_form_field(name, value, self._models if name == "model" else ())
        self._seen[name] = value
        if name == "diarize" or name == "channels" or name in SPEAKER_FIELDS:
            _speaker_conflicts(self._seen)

    def before_audio(self) -> None:
        if _true(self._seen.get("diarize", "false")) and not self._can_diarize:
            raise InvalidParameter(NO_DIARIZATION_WORKER)


NO_DIARIZATION_WORKER = (
    "diarize=true needs a diarization worker and no diarization worker is running "
    "(install the extra with `scripts/setup --diarization`; `earshot up` then starts one)"
)


def _speaker_conflicts(fields: Mapping[str, str]) -> None:
    """The speaker fields that contradict each other, among those given (each already checked alone)."""
    if _true(fields.get("diarize", "false")) and fields.get("channels") == "split":
        raise InvalidParameter(
            "diarize=true and channels=split do not go together: split labels words by channel already"
        )
    low, high = fields.get("min_speakers"), fields.get("max_speakers")
    if low is not None and high is not None and int(low) > int(high):
        raise InvalidParameter("min_speakers is more than max_speakers")
    if "speakers_expected" in fields and (low is not None or high is not None):
        raise InvalidParameter("give speakers_expected or min_speakers/max_speakers, not both")


def _check_scalar(name: str, value: str) -> None:
    if name in BOOLEAN_FIELDS:
        if value.lower() not in ("true", "false", "1", "0"):
            raise InvalidParameter(f"{name} must be true or false")
    elif name in SPEAKER_FIELDS:
        if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= MAX_SPEAKERS:
            raise InvalidParameter(f"{name} must be a whole number from 1 to {MAX_SPEAKERS}")
    elif name == "vocabulary_id":
        if not 0 < len(value) <= 64:
            raise InvalidParameter("vocabulary_id must be a vocabulary's id (GET /v1/vocabularies)")
    elif name == "initial_prompt" and len(value) > MAX_PROMPT_CHARS:
        raise InvalidParameter(f"initial_prompt is longer than {MAX_PROMPT_CHARS} characters")


def json_fields(payload: Mapping[str, object], check: Callable[[str, str], None]) -> dict[str, str]:
    """The optional fields of a JSON request as the strings a form would carry, checked alike."""
    fields: dict[str, str] = {}
    for name in OPTIONAL_FIELDS:
        value = payload.get(name)
        if value is None:
            continue
        if name == "custom_tags" and isinstance(value, dict):
            text = msgspec.json.encode(value).decode()
        elif name == "custom_tags" and not isinstance(value, str):
            raise InvalidCustomTags("custom_tags must be a JSON object of string values")
        elif name in BOOLEAN_FIELDS and isinstance(value, bool):
            text = "true" if value else "false"
        elif name in SPEAKER_FIELDS and isinstance(value, int) and not isinstance(value, bool):
            text = str(value)
        elif isinstance(value, str):
            text = value
        else:
            raise InvalidParameter(f"{name} has the wrong type")
        check(name, text)
        fields[name] = text
    return fields


class RecordingService:
    def __init__(
        self,
        *,
        settings: Settings,
        index: Index,
        storage: Storage,
        jobs: JobQueue,
        models: ModelCatalog,
        vocabularies: VocabularyStore | None = None,
    ) -> None:
        self._vocabularies = vocabularies
        self._settings = settings
        self._index = index
        self._storage = storage
        self._jobs = jobs
        self._models = models

    @property
    def storage(self) -> Storage:
        return self._storage

    @property
    def max_upload_bytes(self) -> int:
        return self._settings.max_upload_bytes

    def upload_key(self, ctx: UploadContext, recording_id: str, extension: str | None) -> str:
        return audio_key(ctx.tenant_id, recording_id, extension or "bin")

    def register_upload(self, ctx: UploadContext, recording_id: str, received: ReceivedUpload) -> Recording:
        """An upload's audio is stored: index it and queue its job (or undo everything)."""
        try:
            recording = self.new_recording(
                ctx,
                recording_id,
                key=received.key,
                fields=received.fields,
                filename=received.filename,
                extension=received.extension,
                size=received.size,
            )
        except EarshotError:
            self._storage.delete(received.key)  # fields that only fail together: nothing stays stored
            raise
        self.commit(recording)
        return recording

    def create_from_url(self, ctx: UploadContext, payload: Mapping[str, object]) -> Recording:
        """`{"source_url": ..., same optional fields}`: the worker fetches the audio itself."""
        url = check_source_url(payload.get("source_url"))
        try:  # the fetch judges the address again (DNS may change); this refuses it while the client waits
            judge_url(url, allow_private=self._settings.allow_private_urls, allowed=self._settings.private_allowlist)
        except TargetRefused:
            raise InvalidParameter("source_url points to a private or loopback address, which is not allowed") from None
        fields = json_fields(payload, self.field_checker())
        path = urlsplit(url).path
        extension = extension_for(path, None)
        recording_id = new_id()
        recording = self.new_recording(
            ctx,
            recording_id,
            key=audio_key(ctx.tenant_id, recording_id, extension or "bin"),
            fields=fields,
            filename=safe_filename(unquote(path)),
            extension=extension,
            size=None,
            source_url=url,
        )
        self.commit(recording)
        return recording

    def field_checker(self) -> FieldChecks:
        """The checks of one form's optional fields (`FieldChecks`), with the model names and the
        live pools read now (a Redis read: call it off the event loop); the checks themselves
        touch nothing, so a streamed form's fields are checked on the event loop."""
        return FieldChecks(self._models.names(), self._models.can_diarize())

    def new_recording(
        self,
        ctx: UploadContext,
        recording_id: str,
        *,
        key: str,
        fields: Mapping[str, str],
        filename: str | None,
        extension: str | None,
        size: int | None,
        source_url: str | None = None,
    ) -> Recording:
        now = utc_now()
        model = fields.get("model", self._settings.model)
        language = fields.get("language", "auto")
        task = fields.get("task", "transcribe")
        if english_only(model) and language not in ("auto", "en"):
            raise InvalidParameter(
                f"model {model[:64]!r} is English-only and cannot transcribe language {language!r}; "
                "choose a multilingual model (GET /v1/models) or leave language out"
            )
        if english_only(model) and task == "translate":
            raise InvalidParameter(
                f"model {model[:64]!r} is English-only and cannot translate; "
                "choose a multilingual model (GET /v1/models)"
            )
        return Recording(
            id=recording_id,
            tenant_id=ctx.tenant_id,
            user_id=ctx.user_id,
            original_filename=filename,
            s3_key=key,
            s3_bucket=self._storage.bucket,
            file_size_bytes=size,
            audio_format=extension,
            status=Status.PROCESSING,
            features=Features(
                language=language,
                model=model,
                task=task,
                word_timestamps=_true(fields.get("word_timestamps", "true")),
                initial_prompt=fields.get("initial_prompt") or None,
                source_url=source_url,
                channels=fields.get("channels", "mix"),
                **self._speakers(fields),
                **self._vocabulary(ctx.tenant_id, fields.get("vocabulary_id")),
            ),
            client_ip=ctx.client_ip,
            user_agent=(ctx.user_agent or "")[:512] or None,
            upload_source=ctx.upload_source,
            custom_tags=validate_custom_tags(fields.get("custom_tags")),
            created_at=now,
            updated_at=now,
        )

    def _speakers(self, fields: Mapping[str, str]) -> dict[str, Any]:
        """`diarize` and its speaker counts, checked together (each was checked alone on arrival)."""
        diarize = _true(fields.get("diarize", "false"))
        counts = {name: int(fields[name]) for name in SPEAKER_FIELDS if name in fields}
        if counts and not diarize:
            raise InvalidParameter(f"{', '.join(counts)} need diarize=true")
        if not diarize:
            return {}
        _speaker_conflicts(fields)
        self._need_diarization()
        return {"diarize": True, **counts}

    def _vocabulary(self, tenant_id: str, vocabulary_id: str | None) -> dict[str, Any]:
        """What the vocabulary holds now, copied into the recording: a later edit or delete does not
        change a transcript in flight. Another tenant's id is as unknown as a made-up one."""
        if vocabulary_id is None:
            return {}
        if self._vocabularies is None:
            raise InvalidParameter("vocabularies are not available here")
        try:
            vocabulary = self._vocabularies.get(tenant_id, vocabulary_id)
        except VocabularyNotFound:
            raise InvalidParameter(f"vocabulary {vocabulary_id[:64]!r} does not exist") from None
        return {
            "vocabulary_id": vocabulary.id,
            "hotwords": hotwords(vocabulary),
            "replacements": list(vocabulary.replacements) or None,
        }

    def presigned_audio_url(self, tenant_id: str, recording_id: str) -> str:
        recording = self.get(tenant_id, recording_id)
        if recording.file_size_bytes is None:
            raise RecordingNotFound("the recording has no audio yet")
        return self._storage.presign_get(recording.s3_key, self._settings.presign_ttl_s)

    def commit(self, recording: Recording) -> None:
        """Index then enqueue; on failure undo what was done so no half-written state remains."""
        try:
            self._index.add(recording)
        except EarshotError:
            self._storage.delete(recording.s3_key)
            raise
        try:
            self.enqueue(recording)
        except Exception:  # whatever the queue raised, no recording stays indexed without its job
            self._undo(recording)
            raise

    def enqueue(self, recording: Recording) -> None:
        self._jobs.enqueue_transcription(recording.id, self.queue_for(recording))

    def _undo(self, recording: Recording) -> None:
        try:
            self._index.delete(recording.id)
            self._storage.delete(recording.s3_key)
        except ServiceUnavailable:
            pass

    def queue_for(self, recording: Recording) -> str:
        return self._models.queue_for_recording(recording)

    def get(self, tenant_id: str, recording_id: str) -> Recording:
        recording = self._index.get(recording_id) if _looks_like_id(recording_id) else None
        if recording is None or recording.tenant_id != tenant_id:
            raise RecordingNotFound(f"recording {recording_id[:64]!r} not found")
        return recording

    def list(self, query: PageQuery) -> tuple[list[Recording], int]:
        return self._index.page(query)

    def delete(self, tenant_id: str, recording_id: str) -> None:
        recording = self.get(tenant_id, recording_id)
        prefix = object_prefix(recording.tenant_id, recording.id)
        # Its objects are owed a purge from here on: were this process to die before the purge
        # is done, the sweeper finishes it (it leaves alone a prefix whose recording is still indexed).
        self._index.remember_orphans(prefix)
        # Index first: a job that finishes after this sees the recording gone and writes nothing.
        removed = self._index.delete(recording.id)
        if removed is None:
            raise RecordingNotFound(f"recording {recording_id[:64]!r} not found")
        purge(self._storage, self._index, prefix)

    def retry(self, tenant_id: str, recording_id: str) -> Recording:
        """Run a recording's failed stage again: a `failed` recording is transcribed again from its
        stored audio (or its source URL); a transcribed one whose diarization failed has only that
        stage run again, on the stored transcript. Either way it is `processing` until done, and its
        outcome is a new webhook event. Anything else has nothing to retry (409)."""
        recording = self.get(tenant_id, recording_id)
        stage: str | None
        progress: float | None
        enqueue: Callable[[Recording], None]
        if recording.status == Status.FAILED and recording.stage == DIARIZATION_STAGE and recording.transcript_key:
            # Failed after its transcript was stored (handing over to diarization): only that stage.
            stage, progress, enqueue, diarize = DIARIZATION_STAGE, 0.99, self._enqueue_diarization, True
        elif recording.status == Status.FAILED and without_audio(recording):
            raise NothingToRetry(
                f"recording {recording_id[:64]!r} has no audio to transcribe: its call ended without a "
                "recording URL (a callback that brings one transcribes it)"
            )
        elif recording.status == Status.FAILED:
            stage, progress, enqueue = None, None, self.enqueue
            diarize = recording.features is not None and recording.features.diarize
        elif recording.status == Status.TRANSCRIBED and self._diarization_failed(recording):
            stage, progress, enqueue, diarize = DIARIZATION_STAGE, 0.99, self._enqueue_diarization, True
        else:
            state = "still processing" if recording.status == Status.PROCESSING else "transcribed with no failed stage"
            raise NothingToRetry(f"recording {recording_id[:64]!r} is {state}; there is nothing to retry")
        if diarize:
            self._need_diarization()
        again = msgspec.structs.replace(
            recording,
            status=Status.PROCESSING,
            error=None,
            stage=stage,
            progress=progress,
            processed_at=None,
            updated_at=utc_now(),
            retries=recording.retries + 1,
        )
        self._claim(recording, again, lambda: enqueue(again))
        return again

    def _claim(self, current: Recording, again: Recording, enqueue: Callable[[], None]) -> None:
        """Move the recording back to processing (only if nobody changed it meanwhile), then queue
        its job; if the queue cannot take it, the recording is put back as it was."""
        if not self._index.update(again, expect=current.status):
            raise NothingToRetry(f"recording {current.id} changed meanwhile; read it again")
        try:
            enqueue()
        except EarshotError:
            self._index.update(current, expect=Status.PROCESSING)
            raise

    def _enqueue_diarization(self, recording: Recording) -> None:
        self._jobs.enqueue_diarization(recording.id)

    def _diarization_failed(self, recording: Recording) -> bool:
        if recording.features is None or not recording.features.diarize or recording.transcript_key is None:
            return False
        raw = self._storage.get_bytes(recording.transcript_key)
        if raw is None:
            return False
        diarization = _decode_transcription(raw).diarization
        return diarization is not None and diarization.status == "failed"

    def _need_diarization(self) -> None:
        if not self._models.can_diarize():
            raise InvalidParameter(NO_DIARIZATION_WORKER)

    def transcription(self, tenant_id: str, recording_id: str) -> Transcription:
        recording = self.get(tenant_id, recording_id)
        if recording.status == Status.PROCESSING:
            # No "recording" in this message: the seed SDK picks its 404 exception by the words in it.
            raise TranscriptionNotReady(f"the transcription of {recording_id} is not ready yet: still processing")
        if recording.status == Status.FAILED:
            code = recording.error.code if recording.error else "TRANSCRIPTION_ERROR"
            raise TranscriptionFailed(f"the transcription failed ({code})")
        raw = self._storage.get_bytes(recording.transcript_key) if recording.transcript_key else None
        if raw is None:
            # Deleted between the two reads.
            raise RecordingNotFound(f"recording {recording_id[:64]!r} not found")
        return _decode_transcription(raw)


def _looks_like_id(value: str) -> bool:
    return 0 < len(value) <= 64 and all(c.isalnum() or c in "-_" for c in value)


def _true(value: str) -> bool:
    return value.lower() in ("true", "1")
