"""OpenAI-compatible speech to text: `POST /v1/audio/transcriptions` and `/v1/audio/translations`.

An adapter at the edge: the multipart body OpenAI's SDKs send (`file`, `model`, `language`,
`prompt`, `temperature`, `response_format`, `timestamp_granularities[]`) becomes an ordinary upload
(listed, deletable, webhooks fire; `upload_source: "openai"`), and the route waits for its job, up
to `SYNC_WAIT_S`, to answer in the asked format. Credentials are those of every route (OpenAI
clients send `Authorization: Bearer api_key:api_secret`); errors are in OpenAI's shape.

`whisper-1` means the deployment's default model. An English-only model (`*.en`) cannot translate,
nor transcribe another language: 400, naming the model; a multilingual model translates.
`gpt-4o-transcribe-diarize` is the default model with `diarize=true` (while a diarization worker
is alive): `response_format=diarized_json` answers speaker turns labelled `A`, `B`, ... as OpenAI's.
`temperature` is checked (0-1) but not used: the workers decode with their own fallback schedule.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from litestar import Controller, Request, Response, post

from api.auth import credentials
from api.bodies import timed
from api.catalog import OPENAI_DIARIZE_MODEL, OPENAI_MODEL_ALIASES
from api.docs import openai_errors
from api.errors import REGISTERED, openai_exception_handlers
from api.limits import ApiLimits, UploadSlots
from api.uploads import check_declared_length, receive_multipart
from engine.errors import (
    AudioTooLong,
    EarshotError,
    InvalidAudio,
    InvalidParameter,
    NoWorker,
    ServiceUnavailable,
    TranscriptionError,
    TranscriptionTimeout,
)
from engine.jobs.routing import ModelCatalog
from engine.recordings.languages import LANGUAGES, english_only
from engine.recordings.model import Recording, Status, new_id
from engine.recordings.service import MAX_PROMPT_CHARS, RecordingService, UploadContext
from engine.recordings.subtitles import FORMATS, render
from engine.recordings.transcripts import Transcription
from engine.settings import Settings

__all__ = ["SYNC_WAIT_S", "AudioForm", "OpenAIAudioController", "english_only", "wait_for"]

SYNC_WAIT_S = 300.0
"""How long a request waits for its transcription; then 504 TRANSCRIPTION_TIMEOUT (the recording
goes on and can be fetched by id). Below the OpenAI SDK's default 600 s request timeout."""
NO_WORKER_GRACE_S = 20.0
"""With no live worker for the model, how long a request waits for one to start before it is answered
503 (nothing kept) instead of waiting SYNC_WAIT_S for a 504: workers announce every few seconds."""
RESPONSE_FORMATS = ("json", "text", "srt", "vtt", "verbose_json", "diarized_json")
GRANULARITIES = ("word", "segment")
_FAILURES: dict[str, type[EarshotError]] = {"INVALID_AUDIO": InvalidAudio, "AUDIO_TOO_LONG": AudioTooLong}


class OpenAIParameterError(InvalidParameter):
    """400 INVALID_PARAMETER that also names OpenAI's `param`."""

    def __init__(self, message: str, param: str) -> None:
        super().__init__(message)
        self.param = param


@dataclass
class AudioForm:
    """The form fields of one request, each checked as it arrives (before the audio is stored)."""

    task: str
    default_model: str
    models: Collection[str]
    can_diarize: bool = False
    model: str | None = None
    diarize: bool = False
    language: str | None = None
    prompt: str | None = None
    temperature: float = 0.0
    response_format: str = "json"
    granularities: set[str] = field(default_factory=set)

    def check(self, name: str, value: str) -> None:
        if name == "model":
            self.model = self._model(value)
        elif name == "language" and value:
            self._language(value)
        elif name == "prompt":
            # Whisper reads only a prompt's last ~224 tokens; OpenAI keeps the end of a longer one too.
            self.prompt = value[-MAX_PROMPT_CHARS:] or None
        elif name == "temperature":
            self.temperature = _temperature(value)
        elif name == "response_format":
            if value not in RESPONSE_FORMATS:
                raise OpenAIParameterError(f"response_format must be one of {', '.join(RESPONSE_FORMATS)}", name)
            self.response_format = value
        elif name in ("timestamp_granularities[]", "timestamp_granularities"):
            if value not in GRANULARITIES:
                raise OpenAIParameterError("timestamp_granularities must be word and/or segment", name)
            self.granularities.add(value)
        elif name == "stream" and value.lower() == "true":
            raise OpenAIParameterError("streaming is not supported; leave stream unset", "stream")
        elif name in ("known_speaker_names[]", "known_speaker_references[]"):
            raise OpenAIParameterError(
                "known speakers are not supported: speakers are told apart by voice and labelled A, B, ...",
                name.removesuffix("[]"),
            )

    def _language(self, value: str) -> None:
        if value != "auto" and value not in LANGUAGES:
            raise OpenAIParameterError(f"language {value[:20]!r} is not an ISO 639-1 code", "language")
        self.language = None if value == "auto" else value
        if self.model:
            self._compatible(self.model)

    def _model(self, value: str) -> str:
        if value == OPENAI_DIARIZE_MODEL:
            if not self.can_diarize:
                raise OpenAIParameterError(
                    f"model {value!r} needs a diarization worker and none is running (install the extra "
                    "with `scripts/setup --diarization`; `earshot up` then starts one)",
                    "model",
                )
            if self.task == "translate":
                raise OpenAIParameterError(f"model {value!r} transcribes; it does not translate", "model")
            self.diarize = True
            value = self.default_model
        model = self.default_model if value in OPENAI_MODEL_ALIASES else value
        if model not in self.models:
            raise OpenAIParameterError(
                f"model {value[:64]!r} is not available; see GET /v1/models ({OPENAI_MODEL_ALIASES[0]} "
                f"means the default model, {self.default_model})",
                "model",
            )
        self._compatible(model)
        return model

    def fields(self) -> dict[str, str]:
        """The upload fields of the ordinary recording this request becomes."""
        model = self.model or self.default_model
        self._compatible(model)
        if self.response_format == "diarized_json" and not self.diarize:
            raise OpenAIParameterError(
                f"response_format diarized_json needs model {OPENAI_DIARIZE_MODEL} (speakers)", "response_format"
            )
        fields = {"model": model, "language": self.language or "auto", "word_timestamps": "true", "task": self.task}
        if self.prompt:
            fields["initial_prompt"] = self.prompt
        if self.diarize:
            fields["diarize"] = "true"
        return fields

    def _compatible(self, model: str) -> None:
        """400 when the model cannot do what is asked (checked again once every field is in)."""
        if self.task == "translate" and english_only(model):
            raise OpenAIParameterError(
                f"model {model!r} is English-only and cannot translate ({OPENAI_MODEL_ALIASES[0]} means "
                f"{self.default_model}, the default); choose a multilingual model from GET /v1/models",
                "model",
            )
        if english_only(model) and self.language not in (None, "en"):
            raise OpenAIParameterError(
                f"model {model!r} is English-only; language {self.language!r} needs a multilingual model", "language"
            )


def _temperature(value: str) -> float:
    try:
        temperature = float(value)
    except ValueError:
        temperature = -1.0
    if not 0.0 <= temperature <= 1.0:
        raise OpenAIParameterError("temperature must be a number from 0 to 1", "temperature")
    return temperature


async def worker_appears(has_worker_for: Callable[[str], bool], model: str, grace_s: float) -> bool:
    """Whether a live worker takes `model`'s queue now, or starts to within `grace_s` (a stack that has
    just started: its workers announce themselves once their model is loaded)."""
    deadline = time.monotonic() + grace_s
    while not await asyncio.to_thread(has_worker_for, model):
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(0.5)
    return True


def wait_limit(headers: Mapping[str, str]) -> float:
    """How long after the body's last byte to answer at the latest: SYNC_WAIT_S, or less when the
    client would give up sooner. OpenAI's SDKs send their read timeout as `x-stainless-read-timeout`
    and retry a request that timed out, uploading the audio again; a 504 (with `x-should-retry:
    false`) just before their deadline stops that and says where the recording goes on."""
    try:
        client_s = float(headers.get("x-stainless-read-timeout", ""))
    except ValueError:
        return SYNC_WAIT_S
    if not math.isfinite(client_s) or client_s <= 0:
        return SYNC_WAIT_S
    return max(0.5, min(SYNC_WAIT_S, client_s - min(5.0, max(1.0, client_s / 10))))


async def wait_for(service: RecordingService, tenant_id: str, recording_id: str, timeout_s: float) -> Recording:
    """The recording once its job has finished (transcribed or failed), polling the index.

    A Redis outage while it waits is waited out, up to the same deadline: the audio is queued
    already, and an error here would only make the client upload it again."""
    deadline = time.monotonic() + timeout_s
    delay = 0.05
    while True:
        try:
            recording = await asyncio.to_thread(service.get, tenant_id, recording_id)
        except ServiceUnavailable:
            if time.monotonic() >= deadline:
                raise
            await asyncio.sleep(0.5)
            continue
        if recording.status != Status.PROCESSING:
            return recording
        if time.monotonic() >= deadline:
            raise TranscriptionTimeout(
                f"the transcription did not finish within {timeout_s:g} s; it goes on as recording "
                f"{recording_id}: GET /v1/recordings/{recording_id}/transcription"
            )
        await asyncio.sleep(delay)
        delay = min(delay * 1.5, 0.5)


def _failure(recording: Recording) -> EarshotError:
    code = recording.error.code if recording.error else "TRANSCRIPTION_ERROR"
    message = recording.error.message if recording.error else "the transcription failed"
    return _FAILURES.get(code, TranscriptionError)(f"{message} (recording {recording.id})")


def _segments(t: Transcription, temperature: float) -> list[dict[str, Any]]:
    return [
        {
            "id": s.id,
            "seek": int(s.start * 100),
            "start": s.start,
            "end": s.end,
            "text": s.text,
            "tokens": [],
            "temperature": temperature,
            "avg_logprob": s.avg_logprob,
            "compression_ratio": getattr(s, "compression_ratio", None) or 0.0,
            "no_speech_prob": s.no_speech_prob,
        }
        for s in t.segments
    ]


def speaker_letter(label: str | None) -> str:
    """`Speaker 1` → `A`, `Speaker 2` → `B`, ... `Speaker 27` → `AA` (OpenAI's labels)."""
    number = int(label.rsplit(" ", 1)[-1]) if label and label.rsplit(" ", 1)[-1].isdigit() else 1
    letters = ""
    while number > 0:
        number, rest = divmod(number - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def _diarized(t: Transcription, usage: dict[str, Any]) -> dict[str, Any]:
    if t.diarization is not None and t.diarization.status == "failed":
        reason = t.diarization.error.message if t.diarization.error else "speaker diarization failed"
        raise TranscriptionError(
            f"{reason}; the transcript without speakers is GET /v1/recordings/{t.recording_id}/transcription"
        )
    segments = [
        {
            "type": "transcript.text.segment",
            "id": f"seg_{n}",
            "start": u.start,
            "end": u.end,
            "text": u.text,
            "speaker": speaker_letter(u.speaker),
        }
        for n, u in enumerate(t.utterances or [])
    ]
    return {
        "task": "transcribe",
        "duration": t.duration_seconds or 0.0,
        "text": t.text,
        "segments": segments,
        "usage": usage,
    }


def answer(t: Transcription, form: AudioForm) -> Response[Any]:
    """The transcript in OpenAI's `response_format`."""
    if form.response_format in FORMATS:
        return Response(render(t, form.response_format), media_type=FORMATS[form.response_format])
    usage = {"type": "duration", "seconds": t.duration_seconds or 0.0}
    if form.response_format == "diarized_json":
        return Response(_diarized(t, usage))
    if form.response_format == "json":
        return Response({"text": t.text, "usage": usage})
    body: dict[str, Any] = {
        "task": form.task,
        "language": t.language or t.language_code or "",
        "duration": t.duration_seconds or 0.0,
        "text": t.text,
    }
    if not form.granularities or "segment" in form.granularities:
        body["segments"] = _segments(t, form.temperature)
    if "word" in form.granularities:
        body["words"] = [{"word": w.word.strip(), "start": w.start, "end": w.end} for w in t.words]
    body["usage"] = usage
    return Response(body)


async def _run(
    task: str,
    request: Request[Any, Any, Any],
    tenant_id: str,
    service: RecordingService,
    settings: Settings,
    catalog: ModelCatalog,
    guard: tuple[ApiLimits, UploadSlots],
) -> Response[Any]:
    limits, uploads = guard
    check_declared_length(request.headers.get("content-length"), settings.max_upload_bytes)
    form = AudioForm(
        task=task,
        default_model=settings.model,
        models=await asyncio.to_thread(catalog.names),
        can_diarize=await asyncio.to_thread(catalog.can_diarize),
    )
    ctx = UploadContext(
        tenant_id=tenant_id,
        client_ip=request.client.host if request.client else None,
        user_agent=request.headers.get("user-agent"),
        upload_source="openai",
    )
    recording_id = new_id()
    api_key, _ = credentials(request)  # checked by `tenant_id` already
    with uploads.hold(api_key):
        received = await receive_multipart(
            timed(request.stream(), limits.body_read_timeout_s),
            request.headers.get("content-type"),
            storage=service.storage,
            key_for=lambda ext: service.upload_key(ctx, recording_id, ext),
            limit=service.max_upload_bytes,
            check_field=form.check,
        )
    body_ended = time.monotonic()  # the client's read timeout runs from here
    try:
        received.fields = form.fields()
        model = received.fields["model"]
        if not await worker_appears(catalog.has_worker_for, model, NO_WORKER_GRACE_S):
            raise NoWorker(
                f"no transcription worker is running for model {model!r}; start one (earshot worker), or "
                "upload with POST /v1/recordings, which queues the audio until a worker takes it"
            )
    except EarshotError:
        await asyncio.to_thread(service.storage.delete, received.key)
        raise
    await asyncio.to_thread(service.register_upload, ctx, recording_id, received)
    # From here on the audio is a recording of its own: whatever goes wrong, a client that sent
    # it again would make a second one (`api.errors` answers with `x-should-retry: false`).
    request.state[REGISTERED] = recording_id
    left = wait_limit(request.headers) - (time.monotonic() - body_ended)
    recording = await wait_for(service, tenant_id, recording_id, max(left, 0.1))
    if recording.status == Status.FAILED:
        raise _failure(recording)
    return answer(await asyncio.to_thread(service.transcription, tenant_id, recording_id), form)


_ERRORS = openai_errors(
    "INVALID_PARAMETER",
    "EMPTY_FILE",
    "PAYLOAD_TOO_LARGE",
    "UNSUPPORTED_MEDIA_TYPE",
    "TRANSCRIPTION_TIMEOUT",
    "REQUEST_TIMEOUT",
)


class OpenAIAudioController(Controller):
    path = "/v1/audio"
    tags = ["openai"]
    exception_handlers = openai_exception_handlers  # type: ignore[assignment]

    @post("/transcriptions", status_code=200, request_max_body_size=None, responses=_ERRORS)
    async def transcriptions(
        self,
        request: Request[Any, Any, Any],
        tenant_id: str,
        service: RecordingService,
        settings: Settings,
        catalog: ModelCatalog,
        limits: ApiLimits,
        uploads: UploadSlots,
    ) -> Response[Any]:
        """OpenAI's `audio.transcriptions.create`: multipart `file` and `model` (`whisper-1` or a
        name from GET /v1/models; `gpt-4o-transcribe-diarize` for speakers), optional `language`,
        `prompt`, `temperature`, `response_format` (json, text, srt, vtt, verbose_json,
        diarized_json) and `timestamp_granularities[]` (word, segment).

        Answered when the transcription is done (504 TRANSCRIPTION_TIMEOUT after 300 s); the
        recording is an ordinary one. Errors in OpenAI's shape."""
        return await _run("transcribe", request, tenant_id, service, settings, catalog, (limits, uploads))

    @post("/translations", status_code=200, request_max_body_size=None, responses=_ERRORS)
    async def translations(
        self,
        request: Request[Any, Any, Any],
        tenant_id: str,
        service: RecordingService,
        settings: Settings,
        catalog: ModelCatalog,
        limits: ApiLimits,
        uploads: UploadSlots,
    ) -> Response[Any]:
        """OpenAI's `audio.translations.create`: the same form, speech in any language to English
        text. English-only models (tiny.en) cannot translate: 400 naming the model."""
        return await _run("translate", request, tenant_id, service, settings, catalog, (limits, uploads))
