"""The voice-recording routes of the `002` seed, with that API's own error shape `{"detail": ...}`."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Any

import msgspec
from litestar import Controller, MediaType, Request, Response, get, post
from litestar.exceptions import HTTPException
from litestar.openapi.datastructures import ResponseSpec

from api.bodies import form_fields, json_object, read_body
from api.errors import retry_headers, status_of
from api.limits import ApiLimits
from engine.errors import EarshotError, NotFound
from engine.recordings.model import Recording
from engine.recordings.service import RecordingService, UploadContext
from engine.recordings.telephony import VoiceService, parse_callback, voice_status

__all__ = ["VoiceController"]

log = logging.getLogger("earshot.api")
_MAX_BODY = 64 * 1024


class Detail(msgspec.Struct, kw_only=True):
    detail: str


_RESPONSES = {
    status: ResponseSpec(data_container=Detail, description=text)
    for status, text in (
        (400, "A malformed callback"),
        (401, "Missing or invalid credentials"),
        (404, '{"detail": "Recording not found"}'),
        (408, "The callback body stopped arriving"),
        (413, "The callback body is too large"),
        (415, "Neither JSON nor a form"),
        (429, "Too many requests or failed authentications"),
        (500, "Failed to query recording status"),
        (503, "A dependency is unavailable"),
    )
}


class VoiceRecording(msgspec.Struct, kw_only=True):
    recording_id: str
    status: str
    duration: float | None
    recording_url: str | None
    created_at: datetime | None
    processed_at: datetime | None
    transcription_uri: str


def _detail(status: int, detail: str, headers: dict[str, str] | None = None) -> Response[dict[str, str]]:
    return Response({"detail": detail}, status_code=status, media_type=MediaType.JSON, headers=headers)


def _voice_error(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, str]]:
    if isinstance(exc, NotFound):
        return _detail(404, "Recording not found")
    if isinstance(exc, EarshotError):
        status = status_of(exc)
        if status == 401:
            return _detail(401, "Not authenticated")
        if status == 503:
            return _detail(503, "Service unavailable", retry_headers(exc))
        if status < 500:
            return _detail(status, exc.message, retry_headers(exc))
    if isinstance(exc, HTTPException) and exc.status_code < 500:
        return _detail(exc.status_code, str(exc.detail))
    log.exception("voice route failed", exc_info=exc)
    return _detail(500, "Failed to query recording status")


def _view(recording: Recording, asked_id: str, service: RecordingService) -> VoiceRecording:
    url = None
    if recording.file_size_bytes is not None:
        url = service.presigned_audio_url(recording.tenant_id, recording.id)
    return VoiceRecording(
        recording_id=asked_id,
        status=voice_status(recording),
        duration=recording.duration_seconds,
        recording_url=url,
        created_at=recording.created_at,
        processed_at=recording.processed_at,
        transcription_uri=f"/v1/recordings/{recording.id}/transcription",
    )


class VoiceController(Controller):
    path = "/api/v1/voice"
    tags = ["voice"]
    exception_handlers = {EarshotError: _voice_error, HTTPException: _voice_error, Exception: _voice_error}

    @get("/recordings/{recording_id:str}", sync_to_thread=True, responses=_RESPONSES)
    def get_voice_recording(
        self, recording_id: str, tenant_id: str, voice: VoiceService, service: RecordingService
    ) -> VoiceRecording:
        """Status (`recording`, `processing`, `completed`, `failed`), duration and audio URL of a
        recording, by its id or by the telephony session id it was created with."""
        if len(recording_id) > 128:
            raise NotFound()
        return _view(voice.find(tenant_id, recording_id), recording_id, service)

    @post("/callback", status_code=200, request_max_body_size=_MAX_BODY, responses=_RESPONSES)
    async def callback(
        self, request: Request[Any, Any, Any], tenant_id: str, voice: VoiceService, limits: ApiLimits
    ) -> dict[str, str]:
        """A telephony provider's recording callback (JSON, urlencoded or multipart form):
        `sessionId`, `isActive`, and once the call ends `recordingUrl` (and `durationInSeconds`).

        `sessionId` is 1-128 letters, digits or `_ . : @ -`, not only dots (400 otherwise)."""
        content_type = request.headers.get("content-type")
        raw = await read_body(request, timeout_s=limits.body_read_timeout_s, limit=_MAX_BODY)
        payload: dict[str, object]
        if (content_type or "").split(";")[0].strip().lower() == "application/json":
            payload = json_object(raw)
        else:
            payload = dict(form_fields(raw, content_type))
        event = parse_callback(payload)
        ctx = UploadContext(
            tenant_id=tenant_id,
            client_ip=request.client.host if request.client else None,
            user_agent=request.headers.get("user-agent"),
            upload_source="voice",
        )
        recording = await asyncio.to_thread(voice.callback, ctx, event)
        return {
            "recording_id": recording.id,
            "session_id": event.session_id,
            "status": voice_status(recording),
        }
