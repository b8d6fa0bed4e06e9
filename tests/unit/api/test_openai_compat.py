"""api.openai_compat and the OpenAI error shape: form checks, the bounded wait, the formats."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from litestar import Request, get
from litestar.testing import create_test_client

from api.errors import REGISTERED, openai_exception_handlers
from api.openai_compat import (
    SYNC_WAIT_S,
    AudioForm,
    OpenAIParameterError,
    answer,
    english_only,
    speaker_letter,
    wait_for,
    wait_limit,
    worker_appears,
)
from engine import errors
from engine.recordings.model import Recording, RecordingError, Status
from engine.recordings.transcripts import Diarization, Segment, Transcription, Utterance, Word

NOW = datetime(2025, 10, 6, tzinfo=UTC)


def form(task: str = "transcribe", **fields: str) -> AudioForm:
    f = AudioForm(task=task, default_model="tiny.en", models={"tiny.en", "small"})
    for name, value in fields.items():
        f.check(name, value)
    return f


def test_whisper_1_means_the_default_model_and_the_fields_make_an_ordinary_upload() -> None:
    f = form(model="whisper-1", language="en", prompt="Kennedy")
    assert f.fields() == {
        "model": "tiny.en",
        "language": "en",
        "word_timestamps": "true",
        "initial_prompt": "Kennedy",
        "task": "transcribe",
    }
    assert form(model="small", language="de").fields()["model"] == "small"
    assert form().fields()["language"] == "auto"


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"model": "whisper-2"}, "model"),
        ({"language": "klingon"}, "language"),
        ({"model": "tiny.en", "language": "de"}, "language"),
        ({"temperature": "hot"}, "temperature"),
        ({"temperature": "-0.1"}, "temperature"),
        ({"response_format": "xml"}, "response_format"),
        ({"timestamp_granularities[]": "char"}, "timestamp_granularities[]"),
        ({"stream": "true"}, "stream"),
    ],
)
def test_a_bad_field_is_refused_as_it_arrives_naming_the_parameter(fields: dict[str, str], param: str) -> None:
    with pytest.raises(OpenAIParameterError) as refused:
        form(**fields)
    assert refused.value.param == param and refused.value.code == "INVALID_PARAMETER"


def test_a_long_prompt_keeps_its_end_as_whisper_reads_only_the_last_tokens() -> None:
    f = form(prompt="old context " * 300 + "Earshot, Litestar, Dramatiq.")
    assert f.prompt is not None and len(f.prompt) == 2000
    assert f.prompt.endswith("Earshot, Litestar, Dramatiq.") and f.fields()["initial_prompt"] == f.prompt


def test_with_no_live_worker_the_request_waits_a_short_grace_for_one_to_start() -> None:
    polls: list[str] = []

    def starts_on_third_poll(model: str) -> bool:
        polls.append(model)
        return len(polls) >= 3

    assert asyncio.run(worker_appears(starts_on_third_poll, "tiny.en", 5.0)) and polls == ["tiny.en"] * 3
    assert asyncio.run(worker_appears(lambda _: True, "tiny.en", 0.0))
    assert not asyncio.run(worker_appears(lambda _: False, "tiny.en", 0.6))


@pytest.mark.parametrize(
    ("header", "limit"),
    [(None, SYNC_WAIT_S), ("600", SYNC_WAIT_S), ("120.0", 115.0), ("20", 18.0), ("4", 3.0), ("0.5", 0.5),
     ("soon", SYNC_WAIT_S), ("nan", SYNC_WAIT_S), ("-3", SYNC_WAIT_S)],
)  # fmt: skip
def test_the_wait_ends_before_the_clients_own_read_timeout(header: str | None, limit: float) -> None:
    assert wait_limit({} if header is None else {"x-stainless-read-timeout": header}) == pytest.approx(limit)


def test_an_english_only_model_cannot_translate_and_the_error_names_it() -> None:
    with pytest.raises(OpenAIParameterError) as refused:
        form("translate", model="whisper-1")
    assert "'tiny.en' is English-only" in refused.value.message and refused.value.param == "model"
    # Without a model field, the default is checked once every field is in.
    with pytest.raises(OpenAIParameterError):
        form("translate").fields()


def test_model_names_ending_in_dot_en_are_english_only() -> None:
    assert (
        english_only("tiny.en") and english_only("/models/base.en/") and english_only("Systran/faster-whisper-small.en")
    )
    assert not english_only("small") and not english_only("large-v3")


def transcription() -> Transcription:
    return Transcription(
        id="t1",
        recording_id="r1",
        tenant_id="x",
        text="And so my fellow Americans",
        confidence=0.9,
        language="english",
        language_code="en",
        language_probability=1.0,
        model="tiny.en",
        device="cpu",
        compute_type="int8",
        processing_duration_ms=5,
        duration_seconds=2.5,
        words=[
            Word(word=" And", start=0.0, end=0.4, confidence=0.9),
            Word(word=" so", start=0.4, end=0.8, confidence=0.8),
        ],
        segments=[
            Segment(id=0, start=0.0, end=2.5, text="And so my fellow Americans", avg_logprob=-0.2, no_speech_prob=0.01)
        ],
        created_at=NOW,
        updated_at=NOW,
    )


def test_json_is_text_and_usage() -> None:
    response = answer(transcription(), form())
    assert response.content == {"text": "And so my fellow Americans", "usage": {"type": "duration", "seconds": 2.5}}


def test_verbose_json_has_words_only_when_asked_and_segments_in_openais_fields() -> None:
    words = answer(transcription(), form(response_format="verbose_json", **{"timestamp_granularities[]": "word"}))
    assert words.content["words"] == [
        {"word": "And", "start": 0.0, "end": 0.4},
        {"word": "so", "start": 0.4, "end": 0.8},
    ]
    assert "segments" not in words.content and words.content["language"] == "english"
    plain = answer(transcription(), form(response_format="verbose_json", temperature="0.2"))
    assert "words" not in plain.content and plain.content["task"] == "transcribe"
    segment = plain.content["segments"][0]
    assert set(segment) == {
        "id",
        "seek",
        "start",
        "end",
        "text",
        "tokens",
        "temperature",
        "avg_logprob",
        "compression_ratio",
        "no_speech_prob",
    }
    assert segment["temperature"] == 0.2


@pytest.mark.parametrize(
    ("fmt", "start"), [("text", "And so"), ("srt", "1\n00:00:00,000 --> 00:00:02,500"), ("vtt", "WEBVTT")]
)
def test_text_and_subtitles_are_plain_strings(fmt: str, start: str) -> None:
    response = answer(transcription(), form(response_format=fmt))
    assert isinstance(response.content, str) and response.content.startswith(start)


class SlowService:
    """`get` answers `processing` a number of times, then the final recording."""

    def __init__(self, polls: int, final: Recording) -> None:
        self.polls = polls
        self.final = final

    def get(self, tenant_id: str, recording_id: str) -> Recording:
        self.polls -= 1
        if self.polls > 0:
            return Recording(id=recording_id, tenant_id=tenant_id, s3_key="k", s3_bucket="b")
        return self.final


def test_the_wait_returns_the_finished_recording() -> None:
    failed = Recording(
        id="r1",
        tenant_id="t",
        s3_key="k",
        s3_bucket="b",
        status=Status.FAILED,
        error=RecordingError(code="INVALID_AUDIO", message="not audio"),
    )
    service: Any = SlowService(3, failed)
    assert asyncio.run(wait_for(service, "t", "r1", 5)) is failed


def test_the_wait_is_bounded_and_says_where_the_recording_goes_on() -> None:
    service: Any = SlowService(10**9, Recording(id="r1", tenant_id="t", s3_key="k", s3_bucket="b"))
    with pytest.raises(errors.TranscriptionTimeout) as timed_out:
        asyncio.run(wait_for(service, "t", "r1", 0.2))
    assert "/v1/recordings/r1/transcription" in timed_out.value.message


class FlakyService:
    """Redis unreachable for the first polls, then the finished recording."""

    def __init__(self, outages: int, final: Recording) -> None:
        self.outages, self.final = outages, final

    def get(self, tenant_id: str, recording_id: str) -> Recording:
        if self.outages > 0:
            self.outages -= 1
            raise errors.ServiceUnavailable("redis unreachable")
        return self.final


def test_the_wait_rides_out_a_redis_outage_since_the_audio_is_queued_already() -> None:
    done = Recording(id="r1", tenant_id="t", s3_key="k", s3_bucket="b", status=Status.TRANSCRIBED)
    assert asyncio.run(wait_for(FlakyService(2, done), "t", "r1", 5)) is done  # type: ignore[arg-type]
    # An outage longer than the wait is reported (and not retried: see below).
    with pytest.raises(errors.ServiceUnavailable):
        asyncio.run(wait_for(FlakyService(10**9, done), "t", "r1", 0.2))  # type: ignore[arg-type]


def test_an_error_after_the_upload_became_a_recording_tells_the_sdk_not_to_send_it_again() -> None:
    @get("/before", sync_to_thread=False)
    def before() -> None:
        raise errors.ServiceUnavailable("upload slots full")

    @get("/after", sync_to_thread=False)
    def after(request: Request[Any, Any, Any]) -> None:
        request.state[REGISTERED] = "r1"
        raise errors.ServiceUnavailable("redis unreachable")

    with create_test_client([before, after], exception_handlers=openai_exception_handlers) as client:  # type: ignore[arg-type]
        retryable, queued = client.get("/before"), client.get("/after")

    assert retryable.status_code == queued.status_code == 503
    assert "x-should-retry" not in retryable.headers  # nothing stored yet: the SDK may retry
    assert queued.headers["x-should-retry"] == "false"


@pytest.mark.parametrize(
    ("exc", "status", "code", "param", "kind"),
    [
        (errors.Unauthorized(), 401, "invalid_api_key", None, "invalid_request_error"),
        (
            OpenAIParameterError("model 'x' is not available", "model"),
            400,
            "invalid_parameter",
            "model",
            "invalid_request_error",
        ),
        (errors.EmptyFile(), 400, "empty_file", "file", "invalid_request_error"),
        (errors.InvalidAudio("not audio"), 400, "invalid_audio", "file", "invalid_request_error"),
        (errors.TranscriptionError(), 500, "transcription_error", None, "server_error"),
        (errors.TranscriptionTimeout(), 504, "transcription_timeout", None, "server_error"),
        (errors.RateLimited(retry_after=7), 429, "rate_limited", None, "requests"),
        (RuntimeError("internals"), 500, "internal_error", None, "server_error"),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, Exception) else str(v),
)
def test_errors_on_the_openai_routes_are_in_openais_shape(
    exc: Exception, status: int, code: str, param: str | None, kind: str
) -> None:
    @get("/boom", sync_to_thread=False)
    def boom() -> None:
        raise exc

    with create_test_client([boom], exception_handlers=openai_exception_handlers) as client:  # type: ignore[arg-type]
        response = client.get("/boom")

    assert response.status_code == status
    error = response.json()["error"]
    assert (error["code"], error["param"], error["type"]) == (code, param, kind)
    assert error["message"] and "internals" not in error["message"]
    assert (response.headers.get("x-should-retry") == "false") == (status in (500, 504))
    if status == 401:
        assert response.headers["www-authenticate"].startswith("Bearer")
    if status == 429:
        assert response.headers["retry-after"] == "7"


def test_the_diarize_model_asks_for_speakers_only_where_a_diarization_worker_lives() -> None:
    diarizing = AudioForm(task="transcribe", default_model="tiny.en", models={"tiny.en"}, can_diarize=True)
    diarizing.check("model", "gpt-4o-transcribe-diarize")
    diarizing.check("response_format", "diarized_json")
    assert diarizing.fields()["diarize"] == "true" and diarizing.fields()["model"] == "tiny.en"
    with pytest.raises(OpenAIParameterError, match="diarization worker") as none:
        form(model="gpt-4o-transcribe-diarize")  # can_diarize is False
    assert none.value.param == "model"
    with pytest.raises(OpenAIParameterError, match="needs model gpt-4o-transcribe-diarize") as plain:
        form(model="whisper-1", response_format="diarized_json").fields()
    assert plain.value.param == "response_format"
    with pytest.raises(OpenAIParameterError) as known:
        diarizing.check("known_speaker_names[]", "agent")
    assert known.value.param == "known_speaker_names"
    translating = AudioForm(task="translate", default_model="small", models={"small"}, can_diarize=True)
    with pytest.raises(OpenAIParameterError, match="does not translate"):
        translating.check("model", "gpt-4o-transcribe-diarize")


def test_diarized_json_is_openais_speaker_segments_lettered_a_b() -> None:
    t = transcription()
    t.utterances = [
        Utterance(speaker="Speaker 1", start=0.0, end=0.8, text="And so", confidence=0.85, words=2),
        Utterance(speaker="Speaker 2", start=1.0, end=2.5, text="my fellow Americans", confidence=0.9, words=3),
    ]
    t.diarization = Diarization(status="completed", speakers=2)
    f = AudioForm(task="transcribe", default_model="tiny.en", models={"tiny.en"}, can_diarize=True)
    f.check("model", "gpt-4o-transcribe-diarize")
    f.check("response_format", "diarized_json")
    assert answer(t, f).content == {
        "task": "transcribe",
        "duration": 2.5,
        "text": "And so my fellow Americans",
        "segments": [
            {"type": "transcript.text.segment", "id": "seg_0", "start": 0.0, "end": 0.8,
             "text": "And so", "speaker": "A"},
            {"type": "transcript.text.segment", "id": "seg_1", "start": 1.0, "end": 2.5,
             "text": "my fellow Americans", "speaker": "B"},
        ],
        "usage": {"type": "duration", "seconds": 2.5},
    }  # fmt: skip
    assert [speaker_letter(f"Speaker {n}") for n in (1, 2, 26, 27, 28)] == ["A", "B", "Z", "AA", "AB"]
    t.diarization = Diarization(status="failed", error=RecordingError(code="DIARIZATION_FAILED", message="it broke"))
    with pytest.raises(errors.TranscriptionError, match="it broke; the transcript without speakers"):
        answer(t, f)
