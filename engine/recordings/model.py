"""The Recording: what was uploaded, what the worker learnt about it, and where it stands."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from enum import StrEnum

import msgspec

from engine.errors import InvalidCustomTags
from engine.untrusted import MalformedJson, decode_json
from engine.vocabularies.model import Replacement

__all__ = [
    "DIARIZATION_STAGE",
    "Features",
    "Recording",
    "RecordingError",
    "Status",
    "audio_key",
    "transcript_key",
    "validate_custom_tags",
    "without_audio",
]


class Status(StrEnum):
    PROCESSING = "processing"
    TRANSCRIBED = "transcribed"
    FAILED = "failed"


class RecordingError(msgspec.Struct, kw_only=True):
    code: str
    message: str


class Features(msgspec.Struct, kw_only=True):
    """What the caller asked for; the worker transcribes with exactly these."""

    language: str = "auto"
    model: str = "tiny.en"
    task: str = "transcribe"
    """`translate`: English text whatever the language spoken (a multilingual model)."""
    word_timestamps: bool = True
    initial_prompt: str | None = None
    source_url: str | None = None
    """Where the engine fetches the audio from (ingest by URL and telephony callbacks)."""
    channels: str = "mix"
    """`split`: each channel transcribed on its own, every word labelled with its channel."""
    diarize: bool = False
    """Label every word with a speaker (a diarization stage after transcription)."""
    speakers_expected: int | None = None
    min_speakers: int | None = None
    max_speakers: int | None = None
    vocabulary_id: str | None = None
    """The vocabulary this recording was uploaded with; what it held then is copied below."""
    hotwords: str | None = None
    replacements: list[Replacement] | None = None


class Recording(msgspec.Struct, kw_only=True):
    """Field order is the spec's, so responses read like its examples."""

    id: str
    tenant_id: str
    user_id: str | None = None
    original_filename: str | None = None
    s3_key: str
    s3_bucket: str
    duration_seconds: float | None = None
    file_size_bytes: int | None = None
    audio_format: str | None = None
    sample_rate: int | None = None
    channels: int | None = None
    bit_rate: int | None = None
    audio_codec: str | None = None
    status: Status = Status.PROCESSING
    features: Features | None = None
    client_ip: str | None = None
    user_agent: str | None = None
    upload_source: str | None = None
    custom_tags: dict[str, str] | None = None
    error: RecordingError | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    processed_at: datetime | None = None
    progress: float | None = None
    """0-1 while a long recording is being transcribed; 1 once transcribed."""
    stage: str | None = None
    """While processing: `diarization` once the transcript is stored and speakers are being found."""
    transcript_key: str | None = None
    """Internal: the object holding the transcript, written by the run that finished the job."""
    retries: int = 0
    """Internal: how many times a user asked to run a failed stage again (`POST .../retry`); each
    outcome after a retry is a new webhook event."""


DIARIZATION_STAGE = "diarization"


def without_audio(recording: Recording) -> bool:
    """No audio stored and no URL to fetch it from: a telephony call whose recording URL has not come."""
    return recording.file_size_bytes is None and (recording.features is None or recording.features.source_url is None)


def new_id() -> str:
    return str(uuid.uuid4())


def audio_key(tenant_id: str, recording_id: str, ext: str) -> str:
    return f"{tenant_id}/{recording_id}.{ext}"


def transcript_key(tenant_id: str, recording_id: str, run: str) -> str:
    """Each run of a job writes its own object; the index names the one that counts, so that two
    runs racing (a redelivered job, a paused worker) can never leave two different transcripts."""
    return f"{tenant_id}/{recording_id}.transcript.{run}.json"


def metadata_key(tenant_id: str, recording_id: str) -> str:
    """The recording's metadata beside its audio: Redis is not its only copy (earshot reindex).
    Its suffix cannot be an audio key's (`{id}.{ext}` has one dot), whatever the upload's name."""
    return f"{tenant_id}/{recording_id}.recording.json"


def object_prefix(tenant_id: str, recording_id: str) -> str:
    """Every object of a recording starts with this: audio, metadata, transcripts of every run."""
    return f"{tenant_id}/{recording_id}."


def recording_id_of(prefix: str) -> str:
    """The recording an `object_prefix` belongs to."""
    return prefix.rsplit("/", 1)[-1].removesuffix(".")


_TAG_KEY = re.compile(r"[A-Za-z0-9_-]{1,32}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
MAX_TAGS = 10
MAX_TAG_VALUE = 128
MAX_TAGS_BYTES = 1024


def validate_custom_tags(raw: str | bytes | None) -> dict[str, str] | None:
    """Parse and check custom_tags against the seed's limits; every breach names the key."""
    if raw is None or raw in ("", b""):
        return None
    try:
        tags = decode_json(raw)
    except MalformedJson as exc:
        raise InvalidCustomTags(f"custom_tags must be a JSON object of string values ({exc})") from None
    if not isinstance(tags, dict):
        raise InvalidCustomTags("custom_tags must be a JSON object of string values")
    if len(tags) > MAX_TAGS:
        raise InvalidCustomTags(f"custom_tags has {len(tags)} keys; at most {MAX_TAGS} are allowed")
    for key, value in tags.items():
        _check_tag(key, value)
    size = len(msgspec.json.encode(tags))
    if size > MAX_TAGS_BYTES:
        # Name the first key at which the serialized object passes the limit.
        crossing, partial = next(reversed(tags)), {}
        for key, value in tags.items():
            partial[key] = value
            if len(msgspec.json.encode(partial)) > MAX_TAGS_BYTES:
                crossing = key
                break
        raise InvalidCustomTags(
            f"custom_tags serializes to {size} bytes (limit {MAX_TAGS_BYTES}); the key {crossing!r} crosses it"
        )
    return tags


def _check_tag(key: str, value: object) -> None:
    if not _TAG_KEY.fullmatch(key):
        raise InvalidCustomTags(f"custom_tags key {key[:40]!r} must be 1-32 characters of A-Z a-z 0-9 _ -")
    if not isinstance(value, str):
        raise InvalidCustomTags(f"custom_tags value of {key!r} must be a string")
    if len(value) > MAX_TAG_VALUE:
        raise InvalidCustomTags(f"custom_tags value of {key!r} is longer than {MAX_TAG_VALUE} characters")
    if _CONTROL.search(value):
        raise InvalidCustomTags(f"custom_tags value of {key!r} contains control characters")
