"""/v1/recordings routes."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from litestar import Controller, Request, Response, delete, get, post
from litestar.response import Redirect

from api.auth import Principal
from api.bodies import json_body, timed
from api.docs import errors
from api.limits import ApiLimits, UploadSlots
from api.listing import parse_list_params
from api.uploads import check_declared_length, receive_upload
from engine.errors import InvalidParameter, RecordingNotFound, Unauthorized
from engine.recordings.model import Recording
from engine.recordings.service import RecordingService, UploadContext
from engine.recordings.subtitles import FORMATS, render
from engine.recordings.views import RecordingList, RecordingOut, recording_out, transcription_out
from engine.settings import Settings

__all__ = ["RecordingsController"]

AnyRequest = Request[Any, Any, Any]


def _readable(service: RecordingService, principal: Principal, recording_id: str) -> Recording:
    """An API key reads its tenant's recordings. An upload token reads back only what its identity
    uploaded (a browser shows its user the transcript); anything else answers like an unknown id."""
    recording = service.get(principal.tenant_id, recording_id)
    if principal.source == "token" and recording.user_id != principal.user_id:
        raise RecordingNotFound(f"recording {recording_id[:64]!r} not found")
    return recording


class RecordingsController(Controller):
    path = "/v1/recordings"
    tags = ["recordings"]

    @post(
        "/",
        status_code=201,
        request_max_body_size=None,
        responses=errors(
            "INVALID_PARAMETER",
            "INVALID_CUSTOM_TAGS",
            "EMPTY_FILE",
            "PAYLOAD_TOO_LARGE",
            "UNSUPPORTED_MEDIA_TYPE",
            "REQUEST_TIMEOUT",
        ),
    )
    async def upload(
        self,
        request: AnyRequest,
        principal: Principal,
        service: RecordingService,
        settings: Settings,
        limits: ApiLimits,
        uploads: UploadSlots,
    ) -> Response[RecordingOut]:
        """Upload audio as multipart/form-data (`file` + optional fields), or JSON with `source_url`.

        Optional fields: `custom_tags` (JSON object), `language` (`auto` or ISO 639-1), `model`,
        `task` (`transcribe`/`translate`), `word_timestamps`, `initial_prompt`, `vocabulary_id`,
        `channels` (`mix`/`split`), `diarize` with `speakers_expected` or `min_speakers`/`max_speakers`.

        Basic credentials or a Bearer upload token. Answers 201 with the queued Recording. A body
        that stalls is abandoned (408); too many uploads at once is 429 per key, 503 per node."""
        check_declared_length(request.headers.get("content-length"), settings.max_upload_bytes)
        ctx = UploadContext(
            tenant_id=principal.tenant_id,
            user_id=principal.user_id,
            client_ip=request.client.host if request.client else None,
            user_agent=request.headers.get("user-agent"),
            upload_source=principal.source,
        )
        content_type = request.headers.get("content-type") or ""
        if content_type.split(";")[0].strip().lower() == "application/json":
            if principal.source == "token":
                # A browser or device sends its own audio; having the engine fetch a URL (any
                # public host, up to the size limit) is for API keys.
                raise Unauthorized("an upload token may only upload a file; a source_url needs an API key")
            payload = await json_body(request, timeout_s=limits.body_read_timeout_s)
            if principal.source == "api":
                ctx = dataclasses.replace(ctx, upload_source="url")
            recording = await asyncio.to_thread(service.create_from_url, ctx, payload)
        else:
            with uploads.hold(principal.subject or principal.tenant_id):
                stream = timed(request.stream(), limits.body_read_timeout_s)
                recording = await receive_upload(service, ctx, stream, content_type)
        body = recording_out(recording)
        return Response(body, status_code=201, headers={"Location": body.uri})

    @get("/", sync_to_thread=True, responses=errors("INVALID_PARAMETER"))
    def list_recordings(self, request: AnyRequest, tenant_id: str, service: RecordingService) -> RecordingList:
        """Newest first. Filters `status`, `date_from`, `date_to`; pages with `page` and `limit`.

        `next_page_uri` carries an `after` cursor so that a walk through the pages sees each
        recording once even while new ones are uploaded."""
        params = parse_list_params(dict(request.query_params.items()), tenant_id)
        # One more than asked: whether a next page exists, also when walking by cursor.
        items, total = service.list(dataclasses.replace(params.query, limit=params.limit + 1))
        more = len(items) > params.limit
        items = items[: params.limit]
        return RecordingList(
            recordings=[recording_out(r) for r in items],
            uri=params.uri(params.page, params.after),
            first_page_uri=params.uri(0),
            next_page_uri=params.uri(params.page + 1, items[-1].id) if more and items else None,
            previous_page_uri=params.uri(params.page - 1) if params.page > 0 else None,
            page=params.page,
            page_size=len(items),
            total=total,
        )

    @get("/{recording_id:str}", sync_to_thread=True, responses=errors("RECORDING_NOT_FOUND"))
    def get_recording(self, recording_id: str, principal: Principal, service: RecordingService) -> RecordingOut:
        """With an API key, any of the tenant's recordings; with an upload token, its identity's own."""
        return recording_out(_readable(service, principal, recording_id))

    @delete("/{recording_id:str}", status_code=204, sync_to_thread=True, responses=errors("RECORDING_NOT_FOUND"))
    def delete_recording(self, recording_id: str, tenant_id: str, service: RecordingService) -> None:
        """Removes the audio, the transcription and every index entry; a running job brings none back."""
        service.delete(tenant_id, recording_id)

    @post(
        "/{recording_id:str}/retry",
        status_code=202,
        sync_to_thread=True,
        responses=errors("RECORDING_NOT_FOUND", "NOTHING_TO_RETRY", "INVALID_PARAMETER"),
    )
    def retry_recording(self, recording_id: str, tenant_id: str, service: RecordingService) -> RecordingOut:
        """Run a failed stage again: a `failed` recording is transcribed again; a transcribed one
        whose diarization failed has only its speakers found again (its words are kept). 202 with
        the recording, back to `processing`; 409 `NOTHING_TO_RETRY` when no stage failed."""
        return recording_out(service.retry(tenant_id, recording_id))

    @get(
        "/{recording_id:str}/transcription",
        sync_to_thread=True,
        responses=errors("RECORDING_NOT_FOUND", "TRANSCRIPTION_NOT_READY", "TRANSCRIPTION_FAILED", "INVALID_PARAMETER"),
    )
    def get_transcription(
        self,
        recording_id: str,
        principal: Principal,
        service: RecordingService,
        format: str = "json",
        word_timing: str = "refined",
    ) -> Response[Any]:
        """The transcript as JSON, or `?format=srt|vtt|text` as subtitles or plain text. Word times
        are refined from the audio; `?word_timing=raw` gives the model's own. An upload token reads
        its identity's own recordings only."""
        if format != "json" and format not in FORMATS:
            raise InvalidParameter("format must be json, srt, vtt or text")
        if word_timing not in ("refined", "raw"):
            raise InvalidParameter("word_timing must be refined or raw")
        transcription = service.transcription(_readable(service, principal, recording_id).tenant_id, recording_id)
        if format == "json":
            return Response(transcription_out(transcription, raw_timing=word_timing == "raw"))
        return Response(render(transcription, format), media_type=FORMATS[format])

    @get("/{recording_id:str}/audio", status_code=307, sync_to_thread=True, responses=errors("RECORDING_NOT_FOUND"))
    def get_audio(self, recording_id: str, tenant_id: str, service: RecordingService) -> Redirect:
        """307 to a short-lived presigned URL of the audio object."""
        return Redirect(service.presigned_audio_url(tenant_id, recording_id), status_code=307)
