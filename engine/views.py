"""Public representations: the stored Structs plus the URIs the spec adds (API bodies, webhook payloads)."""

from __future__ import annotations

import msgspec

from engine.recordings import Recording
from engine.transcripts import Transcription

__all__ = ["RecordingList", "RecordingOut", "TranscriptionOut", "recording_out", "transcription_out"]


class SubresourceUris(msgspec.Struct, kw_only=True):
    transcription: str


class RecordingOut(Recording, kw_only=True):
    uri: str
    subresource_uris: SubresourceUris


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
        **msgspec.structs.asdict(recording),
        uri=uri,
        subresource_uris=SubresourceUris(transcription=f"{uri}/transcription"),
    )


def transcription_out(transcription: Transcription) -> TranscriptionOut:
    return TranscriptionOut(
        **msgspec.structs.asdict(transcription),
        uri=f"/v1/recordings/{transcription.recording_id}/transcription",
    )
