"""Public representations: the stored Structs plus the URIs the spec adds (API bodies, webhook payloads)."""

from __future__ import annotations

from datetime import datetime

import msgspec

from engine.recordings.model import Features, Recording, RecordingError, Status
from engine.recordings.transcripts import Transcription

__all__ = ["RecordingList", "RecordingOut", "TranscriptionOut", "recording_out", "transcription_out"]


class SubresourceUris(msgspec.Struct, kw_only=True):
    transcription: str


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
    features: Features | None
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


_PUBLIC = [f for f in RecordingOut.__struct_fields__ if f not in ("uri", "subresource_uris")]


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
        uri=uri,
        subresource_uris=SubresourceUris(transcription=f"{uri}/transcription"),
    )


def transcription_out(transcription: Transcription, *, raw_timing: bool = False) -> TranscriptionOut:
    """The document as clients see it: `words` with refined times, or with `raw_timing` the
    model's own (where the document kept them); `raw_words` itself is not repeated."""
    fields = msgspec.structs.asdict(transcription)
    raw = fields.pop("raw_words", None)
    if raw_timing and raw is not None:
        fields["words"] = raw
    return TranscriptionOut(**fields, uri=f"/v1/recordings/{transcription.recording_id}/transcription")
