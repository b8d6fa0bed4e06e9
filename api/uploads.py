"""The HTTP side of an upload: a multipart body parsed as it streams in, its `file` part handed
to `engine.storage.streaming.StreamingPut`, its text fields checked before any audio is stored."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

from multipart import MultipartError, MultipartSegment, PushMultipartParser, parse_options_header

from engine.errors import EmptyFile, InvalidParameter, PayloadTooLarge, UnsupportedMediaType
from engine.recordings.model import Recording, new_id
from engine.recordings.service import RecordingService, UploadContext
from engine.storage.protocol import Storage
from engine.storage.streaming import ReceivedUpload, StreamingPut, extension_for, safe_filename

__all__ = ["MAX_FIELD_BYTES", "check_declared_length", "receive_multipart", "receive_upload"]

MAX_FIELD_BYTES = 16 * 1024
# Multipart framing around the file: boundaries, part headers and the small text fields.
MULTIPART_OVERHEAD = 256 * 1024


def check_declared_length(declared: str | None, max_upload_bytes: int) -> None:
    """Refuse a body whose Content-Length already says it is too large, before reading any of it."""
    if declared is None:
        return
    if not declared.isdigit():
        raise InvalidParameter("malformed Content-Length")
    if int(declared) > max_upload_bytes + MULTIPART_OVERHEAD:
        raise PayloadTooLarge(f"the upload is larger than the limit of {max_upload_bytes} bytes")


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
        check_field=(checks := await asyncio.to_thread(service.field_checker)),  # run on the event loop
        before_file=checks.before_audio,
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
    before_file: Callable[[], None] | None = None,
) -> ReceivedUpload:
    """Parse a multipart body, streaming its `file` part into storage under `key_for(extension)`.

    Other parts are small text fields, checked by `check_field(name, value)` as soon as each one
    ends, and together by `before_file()` as the file part begins (so bad fields sent before the
    file stop the upload before anything is stored). The
    caller owns the stored object once this returns; on any error nothing is left stored.
    """
    receiver = _Receiver(storage, key_for, limit, check_field, before_file)
    boundary = multipart_boundary(content_type)
    try:
        parser = PushMultipartParser(boundary, max_segment_count=64, strict=False)
        async for chunk in body:
            if chunk:
                for event in parser.parse(chunk):
                    await receiver.on(event)
        parser.close()
        return await receiver.finish()
    except MultipartError as exc:
        await receiver.abort()
        raise InvalidParameter(f"malformed multipart body: {_reason(exc)}") from None
    except BaseException:
        await receiver.abort()
        raise


class _Receiver:
    """The state of one multipart body: the part being read, the file's upload, the text fields."""

    def __init__(
        self,
        storage: Storage,
        key_for: Callable[[str | None], str],
        limit: int,
        check: Callable[[str, str], None],
        before_file: Callable[[], None] | None = None,
    ) -> None:
        self._storage = storage
        self._before_file = before_file
        self._key_for = key_for
        self._limit = limit
        self._check = check
        self._segment: MultipartSegment | None = None
        self._buf = bytearray()
        self._upload: StreamingPut | None = None
        self._result: ReceivedUpload | None = None
        self._fields: dict[str, str] = {}

    async def on(self, event: MultipartSegment | bytearray | None) -> None:
        if isinstance(event, MultipartSegment):
            self._start(event)
        elif event is None:
            self._end()
        elif self._segment is not None and self._segment.name == "file":
            assert self._upload is not None
            await self._upload.write(bytes(event))
        else:
            self._buf += event
            if len(self._buf) > MAX_FIELD_BYTES:
                name = self._segment.name if self._segment else ""
                raise InvalidParameter(f"form field {name[:64]!r} is longer than {MAX_FIELD_BYTES} bytes")

    def _start(self, segment: MultipartSegment) -> None:
        self._segment = segment
        self._buf.clear()
        if segment.name != "file":
            return
        if self._upload is not None:
            raise InvalidParameter("send exactly one 'file' part")
        if self._before_file is not None:
            self._before_file()  # what the fields before it rule out: refused before any audio
        ext = extension_for(segment.filename, segment.content_type)
        content_type = segment.content_type or "application/octet-stream"
        self._upload = StreamingPut(self._storage, self._key_for(ext), content_type, self._limit)
        self._result = ReceivedUpload(
            key=self._upload.key,
            size=0,
            filename=safe_filename(segment.filename),
            extension=ext,
            content_type=segment.content_type,
        )

    def _end(self) -> None:
        assert self._segment is not None
        if self._segment.name != "file":
            name = self._segment.name or ""
            try:
                value = bytes(self._buf).decode("utf-8")
            except UnicodeDecodeError:
                raise InvalidParameter(f"form field {name[:64]!r} is not valid UTF-8") from None
            self._check(name, value)
            self._fields[name] = value
        self._segment = None

    async def finish(self) -> ReceivedUpload:
        if self._result is None or self._upload is None:
            raise InvalidParameter("the 'file' part is missing")
        if not self._upload.started:
            raise EmptyFile()
        self._result.size = await self._upload.finish()
        self._result.fields = self._fields
        return self._result

    async def abort(self) -> None:
        if self._upload is not None:
            await self._upload.abort()


def _reason(exc: MultipartError) -> str:
    """The parser's own words, when they are a plain sentence: never a Python repr, which could
    quote the offending bytes (`b'...'`) or a header value the client sent."""
    text = str(exc.args[0]) if exc.args else ""
    plain = text.isprintable() and len(text) < 200 and not any(c in text for c in "'\"\\<>[]{}")
    return text if plain and text else "unreadable"
