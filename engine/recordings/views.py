"""Public representations: the stored Structs plus the URIs the spec adds (API bodies, webhook payloads)."""

from __future__ import annotations

from datetime import datetime

import msgspec

from engine.recordings.model import Features, Recording, RecordingError, Status
from engine.recordings.transcripts import Transcription

__all__ = ["RecordingList", "RecordingOut", "TranscriptionOut", "recording_out", "transcription_out"]


class SubresourceUris(msgspec.Struct, kw_only=True):
    transcription: str


class FeaturesOut(msgspec.Struct, kw_only=True):
    """What the caller asked for, as they asked it (the vocabulary by id: its copy stays inside)."""

    language: str
    model: str
    task: str
    word_timestamps: bool
    initial_prompt: str | None
    source_url: str | None
    channels: str
    diarize: bool
    speakers_expected: int | None
    min_speakers: int | None
    max_speakers: int | None
    vocabulary_id: str | None


class RecordingOut(msgspec.Struct, kw_only=True):
    """The spec's Recording object, in its order. The stored Recording has internal fields too
    (where its transcript document is); they stop here."""

    id: str
    tenant_id: str
    user_id: str | None
    original_filename: str | None
    s3_key: str
    s3_bucket: str
    duration_seconds: float | None
    file_size_bytes: int | None
    audio_format: str | None
    sample_rate: int | None
    channels: int | None
    bit_rate: int | None
    audio_codec: str | None
    status: Status
    features: FeaturesOut | None
    client_ip: str | None
    user_agent: str | None
    upload_source: str | None
    custom_tags: dict[str, str] | None
    error: RecordingError | None
    created_at: datetime | None
    updated_at: datetime | None
    processed_at: datetime | None
    progress: float | None
    uri: str
    subresource_uris: SubresourceUris


_PUBLIC = [f for f in RecordingOut.__struct_fields__ if f not in ("uri", "subresource_uris", "features")]
_PUBLIC_FEATURES = FeaturesOut.__struct_fields__


class TranscriptionOut(Transcription, kw_only=True):
    uri: str


class RecordingList(msgspec.Struct, kw_only=True):
    recordings: list[RecordingOut]
    uri: str
    first_page_uri: str
    next_page_uri: str | None
    previous_page_uri: str | None
    page: int
    page_size: int
    total: int


def recording_out(recording: Recording) -> RecordingOut:
    uri = f"/v1/recordings/{recording.id}"
    return RecordingOut(
        **{name: getattr(recording, name) for name in _PUBLIC},
        features=_features_out(recording.features),
        uri=uri,
        subresource_uris=SubresourceUris(transcription=f"{uri}/transcription"),
    )


def _features_out(features: Features | None) -> FeaturesOut | None:
    return None if features is None else FeaturesOut(**{f: getattr(features, f) for f in _PUBLIC_FEATURES})


def transcription_out(transcription: Transcription, *, raw_timing: bool = False) -> TranscriptionOut:
    """The document as clients see it: `words` with refined times, or with `raw_timing` the
    model's own (where the document kept them); `raw_words` itself is not repeated."""
    fields = msgspec.structs.asdict(transcription)
    raw = fields.pop("raw_words", None)
    if raw_timing and raw is not None:
        fields["words"] = raw
    return TranscriptionOut(**fields, uri=f"/v1/recordings/{transcription.recording_id}/transcription")
