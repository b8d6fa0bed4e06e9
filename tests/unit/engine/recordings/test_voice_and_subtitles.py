"""Telephony callback parsing, voice status mapping, and subtitle rendering."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from engine.errors import InvalidParameter
from engine.recordings.model import Features, Recording, Status
from engine.recordings.subtitles import render
from engine.recordings.telephony import parse_callback, voice_status
from engine.recordings.transcripts import Segment, Transcription


def test_a_provider_callback_is_read_from_its_usual_field_names() -> None:
    event = parse_callback({"sessionId": "ATVId_1", "isActive": "1"})
    assert (event.session_id, event.active, event.recording_url) == ("ATVId_1", True, None)
    ended = parse_callback({"session_id": "s", "isActive": "0", "recordingUrl": "https://x.example/r.mp3"})
    assert (ended.active, ended.recording_url) == (False, "https://x.example/r.mp3")
    assert parse_callback({"recordingId": 42, "is_active": True}).session_id == "42"


@pytest.mark.parametrize(
    "payload",
    [{}, {"sessionId": ""}, {"sessionId": "x" * 200}, {"sessionId": "s", "recordingUrl": "ftp://x/y"}],
)
def test_a_callback_without_a_usable_session_or_url_is_rejected(payload: dict[str, object]) -> None:
    with pytest.raises(InvalidParameter):
        parse_callback(payload)


def rec(status: Status, source: str | None = None, size: int | None = None) -> Recording:
    return Recording(
        id="r", tenant_id="t", s3_key="t/r.bin", s3_bucket="b", status=status,
        features=Features(source_url=source), file_size_bytes=size,
    )  # fmt: skip


def test_voice_status_maps_the_recording_lifecycle() -> None:
    assert voice_status(rec(Status.PROCESSING)) == "recording"
    assert voice_status(rec(Status.PROCESSING, source="https://x/y")) == "processing"
    assert voice_status(rec(Status.PROCESSING, size=10)) == "processing"
    assert voice_status(rec(Status.TRANSCRIBED)) == "completed"
    assert voice_status(rec(Status.FAILED)) == "failed"


def transcript() -> Transcription:
    now = datetime(2025, 1, 1, tzinfo=UTC)
    return Transcription(
        id="x", recording_id="r", tenant_id="t", text="Hello there. General Kenobi.", confidence=0.9,
        language="english", language_code="en", language_probability=1.0, model="m", device="cpu",
        compute_type="int8", processing_duration_ms=1, duration_seconds=3725.5,
        segments=[
            Segment(id=0, start=0.0, end=1.5, text="Hello there.", avg_logprob=-0.1, no_speech_prob=0.0),
            Segment(id=1, start=3723.25, end=3725.5, text="General Kenobi.", avg_logprob=-0.1, no_speech_prob=0.0),
        ],
        created_at=now, updated_at=now,
    )  # fmt: skip


def test_srt_numbers_cues_and_uses_commas_before_milliseconds() -> None:
    assert render(transcript(), "srt") == (
        "1\n00:00:00,000 --> 00:00:01,500\nHello there.\n\n2\n01:02:03,250 --> 01:02:05,500\nGeneral Kenobi.\n"
    )


def test_vtt_has_its_header_and_dots_before_milliseconds() -> None:
    assert render(transcript(), "vtt") == (
        "WEBVTT\n\n00:00:00.000 --> 00:00:01.500\nHello there.\n\n01:02:03.250 --> 01:02:05.500\nGeneral Kenobi.\n"
    )


def test_text_is_the_transcript_text() -> None:
    assert render(transcript(), "text") == "Hello there. General Kenobi.\n"
