"""/v1/recordings routes."""

from __future__ import annotations

from litestar import Controller, Request, Response, delete, get, post
from litestar.datastructures import State

from api.listing import parse_list_params
from api.views import RecordingList, RecordingOut, TranscriptionOut, recording_out, transcription_out
from engine.errors import InvalidParameter, PayloadTooLarge
from engine.service import RecordingService, UploadContext
from engine.settings import Settings

__all__ = ["RecordingsController"]

# Multipart framing around the file: boundaries, part headers and the small text fields.
_MULTIPART_OVERHEAD = 256 * 1024

AnyRequest = Request[object, object, State]


class RecordingsController(Controller):
    path = "/v1/recordings"
    tags = ["recordings"]

    @post("/", status_code=201, request_max_body_size=None)
    async def upload(
        self, request: AnyRequest, tenant_id: str, service: RecordingService, settings: Settings
    ) -> Response[RecordingOut]:
        """Upload audio as multipart/form-data (`file` plus optional fields); queues transcription."""
        declared = request.headers.get("content-length")
        if declared is not None:
            if not declared.isdigit():
                raise InvalidParameter("malformed Content-Length")
            if int(declared) > settings.max_upload_bytes + _MULTIPART_OVERHEAD:
                raise PayloadTooLarge(
                    f"the upload is larger than the limit of {settings.max_upload_bytes} bytes"
                )
        ctx = UploadContext(
            tenant_id=tenant_id,
            client_ip=request.client.host if request.client else None,
            user_agent=request.headers.get("user-agent"),
            upload_source="api",
        )
        recording = await service.upload(ctx, request.stream(), request.headers.get("content-type"))
        body = recording_out(recording)
        return Response(body, status_code=201, headers={"Location": body.uri})

    @get("/", sync_to_thread=True)
    def list_recordings(
        self, request: AnyRequest, tenant_id: str, service: RecordingService
    ) -> RecordingList:
        """Newest first; filters `status`, `date_from`, `date_to`; pages with `page` and `limit`."""
        params = parse_list_params(dict(request.query_params.items()), tenant_id)
        items, total = service.list(params.query)
        last_page = max((total - 1) // params.limit, 0)
        return RecordingList(
            recordings=[recording_out(r) for r in items],
            uri=params.uri(params.page),
            first_page_uri=params.uri(0),
            next_page_uri=params.uri(params.page + 1) if params.page < last_page else None,
            previous_page_uri=params.uri(params.page - 1) if params.page > 0 else None,
            page=params.page,
            page_size=len(items),
            total=total,
        )

    @get("/{recording_id:str}", sync_to_thread=True)
    def get_recording(self, recording_id: str, tenant_id: str, service: RecordingService) -> RecordingOut:
        return recording_out(service.get(tenant_id, recording_id))

    @delete("/{recording_id:str}", status_code=204, sync_to_thread=True)
    def delete_recording(self, recording_id: str, tenant_id: str, service: RecordingService) -> None:
        """Removes the audio, the transcription and every index entry."""
        service.delete(tenant_id, recording_id)

    @get("/{recording_id:str}/transcription", sync_to_thread=True)
    def get_transcription(
        self, recording_id: str, tenant_id: str, service: RecordingService
    ) -> TranscriptionOut:
        return transcription_out(service.transcription(tenant_id, recording_id))
