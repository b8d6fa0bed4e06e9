"""The HTTP side of an upload: a multipart body parsed as it streams in, its `file` part handed
to `engine.storage.streaming.StreamingPut`, its text fields checked before any audio is stored."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

from multipart import MultipartError, MultipartSegment, PushMultipartParser, parse_options_header

from engine.errors import EmptyFile, InvalidParameter, UnsupportedMediaType
from engine.recordings.model import Recording, new_id
from engine.recordings.service import RecordingService, UploadContext
from engine.storage.protocol import Storage
from engine.storage.streaming import ReceivedUpload, StreamingPut, extension_for, safe_filename

__all__ = ["MAX_FIELD_BYTES", "receive_multipart", "receive_upload"]

MAX_FIELD_BYTES = 16 * 1024


async def receive_upload(
    service: RecordingService, ctx: UploadContext, body: AsyncIterator[bytes], content_type: str | None
) -> Recording:
    """A multipart upload, streamed into storage; returns the queued recording."""
    recording_id = new_id()
    received = await receive_multipart(
        body,
        content_type,
        storage=service.storage,
        key_for=lambda ext: service.upload_key(ctx, recording_id, ext),
        limit=service.max_upload_bytes,
        check_field=service.check_field,
    )
    return await asyncio.to_thread(service.register_upload, ctx, recording_id, received)


def multipart_boundary(content_type: str | None) -> str:
    mime, options = parse_options_header(content_type or "")
    if mime != "multipart/form-data":
        raise UnsupportedMediaType()
    boundary = options.get("boundary")
    if not boundary:
        raise InvalidParameter("multipart body without a boundary")
    return str(boundary)


async def receive_multipart(
    body: AsyncIterator[bytes],
    content_type: str | None,
    *,
    storage: Storage,
    key_for: Callable[[str | None], str],
    limit: int,
    check_field: Callable[[str, str], None],
) -> ReceivedUpload:
    """Parse a multipart body, streaming its `file` part into storage under `key_for(extension)`.

    Other parts are small text fields, checked by `check_field(name, value)` as soon as each one
    ends (so bad fields sent before the file stop the upload before anything is stored). The
    caller owns the stored object once this returns; on any error nothing is left stored.
    """
    boundary = multipart_boundary(content_type)
    upload: StreamingPut | None = None
    result: ReceivedUpload | None = None
    fields: dict[str, str] = {}
    try:
        parser = PushMultipartParser(boundary, max_segment_count=64, strict=False)
        segment: MultipartSegment | None = None
        buf = bytearray()
        async for chunk in body:
            if not chunk:
                continue
            for event in parser.parse(chunk):
                if isinstance(event, MultipartSegment):
                    segment = event
                    buf.clear()
                    if event.name == "file":
                        if result is not None or upload is not None:
                            raise InvalidParameter("send exactly one 'file' part")
                        ext = extension_for(event.filename, event.content_type)
                        upload = StreamingPut(
                            storage, key_for(ext), event.content_type or "application/octet-stream", limit
                        )
                        result = ReceivedUpload(
                            key=upload.key,
                            size=0,
                            filename=safe_filename(event.filename),
                            extension=ext,
                            content_type=event.content_type,
                        )
                elif event is None:
                    assert segment is not None
                    if segment.name != "file":
                        name = segment.name or ""
                        try:
                            value = bytes(buf).decode("utf-8")
                        except UnicodeDecodeError:
                            raise InvalidParameter(f"form field {name!r} is not valid UTF-8") from None
                        check_field(name, value)
                        fields[name] = value
                    segment = None
                elif segment is not None and segment.name == "file":
                    assert upload is not None
                    await upload.write(event)
                else:
                    buf += event
                    if len(buf) > MAX_FIELD_BYTES:
                        name = segment.name if segment else ""
                        raise InvalidParameter(f"form field {name!r} is longer than {MAX_FIELD_BYTES} bytes")
        parser.close()
        if result is None or upload is None:
            raise InvalidParameter("the 'file' part is missing")
        if not upload.started:
            raise EmptyFile()
        result.size = await upload.finish()
        result.fields = fields
        return result
    except MultipartError as exc:
        if upload is not None:
            await upload.abort()
        raise InvalidParameter(f"malformed multipart body: {exc}") from None
    except BaseException:
        if upload is not None:
            await upload.abort()
        raise
