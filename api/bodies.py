"""Request bodies the routes read themselves (so that their errors follow the spec).

Every body is read with a deadline per chunk (`timed`): a client that stops sending mid-body gets
408 and its request is dropped, instead of holding the request (and, for an upload, a storage
thread) forever. Nothing here quotes the client's bytes or a Python exception back to it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qsl

from litestar import Request
from litestar.exceptions import HTTPException
from multipart import MultipartError, MultipartSegment, PushMultipartParser, parse_options_header

from engine.errors import InvalidParameter, PayloadTooLarge, UnsupportedMediaType
from engine.untrusted import MalformedJson, decode_json

__all__ = ["MAX_JSON_BYTES", "BodyTimeout", "form_fields", "json_body", "json_object", "read_body", "timed"]

MAX_JSON_BYTES = 64 * 1024
MAX_FORM_FIELDS = 64


class BodyTimeout(HTTPException):
    """408: the client stopped sending its body."""

    status_code = 408


async def timed(body: AsyncIterator[bytes], timeout_s: float) -> AsyncIterator[bytes]:
    """`body`'s chunks, each of which must arrive within `timeout_s` seconds (else BodyTimeout)."""
    chunks = aiter(body)
    while True:
        try:
            chunk = await asyncio.wait_for(anext(chunks), timeout_s)
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise BodyTimeout(detail=f"no part of the request body arrived for {timeout_s:g} s") from None
        yield chunk


async def read_body(request: Request[Any, Any, Any], *, timeout_s: float, limit: int = MAX_JSON_BYTES) -> bytes:
    """The whole (small) body: at most `limit` bytes (413 beyond), each chunk within `timeout_s`."""
    body = bytearray()
    async for chunk in timed(request.stream(), timeout_s):
        body += chunk
        if len(body) > limit:
            raise PayloadTooLarge(f"this request's body is limited to {limit} bytes")
    return bytes(body)


async def json_body(request: Request[Any, Any, Any], *, timeout_s: float, empty_ok: bool = False) -> dict[str, object]:
    return json_object(await read_body(request, timeout_s=timeout_s), empty_ok=empty_ok)


def json_object(raw: bytes, *, empty_ok: bool = False) -> dict[str, object]:
    """The body as a JSON object; anything else (malformed, nested too deep, not UTF-8, not an
    object) is 400 INVALID_PARAMETER."""
    if not raw and empty_ok:
        return {}
    try:
        payload = decode_json(raw)
    except MalformedJson as exc:
        raise InvalidParameter(f"the body is not valid JSON ({exc})") from None
    if not isinstance(payload, dict):
        raise InvalidParameter("the body must be a JSON object")
    return payload


def form_fields(raw: bytes, content_type: str | None) -> dict[str, str]:
    """The text fields of an urlencoded or multipart form (the first value of each name); every
    value must be valid UTF-8, percent-escapes included."""
    mime, options = parse_options_header(content_type or "")
    if mime == "application/x-www-form-urlencoded":
        try:
            pairs = parse_qsl(
                raw.decode("utf-8"), keep_blank_values=True, encoding="utf-8", errors="strict",
                max_num_fields=MAX_FORM_FIELDS,
            )  # fmt: skip
        except UnicodeError:
            raise InvalidParameter("the form is not valid UTF-8") from None
        except ValueError:
            raise InvalidParameter(f"the form has more than {MAX_FORM_FIELDS} fields") from None
    elif mime == "multipart/form-data" and options.get("boundary"):
        pairs = _multipart_pairs(raw, str(options["boundary"]))
    else:
        raise UnsupportedMediaType("send application/json, application/x-www-form-urlencoded or multipart/form-data")
    fields: dict[str, str] = {}
    for name, value in pairs:
        fields.setdefault(name, value)
    return fields


def _multipart_pairs(raw: bytes, boundary: str) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    name, value = "", bytearray()
    try:
        parser = PushMultipartParser(boundary, max_segment_count=MAX_FORM_FIELDS, strict=False)
        for event in [*parser.parse(raw), *parser.parse(b"")]:
            if isinstance(event, MultipartSegment):
                name, value = event.name or "", bytearray()
            elif event is None:
                pairs.append((name, value.decode("utf-8")))
            else:
                value += event
        parser.close()
    except MultipartError:
        raise InvalidParameter("malformed multipart form") from None
    except UnicodeError:
        raise InvalidParameter("the form is not valid UTF-8") from None
    return pairs
