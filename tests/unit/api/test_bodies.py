"""api.bodies and api.limits: bodies read with a deadline, forms decoded strictly, upload slots."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from api.bodies import BodyTimeout, form_fields, json_object, timed
from api.limits import ApiLimits, UploadSlots
from engine.errors import InvalidParameter, RateLimited, ServiceUnavailable, UnsupportedMediaType
from engine.settings import Settings


async def _stalls_after(chunks: list[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk
    await asyncio.sleep(3600)
    yield b"never"


def test_a_body_that_stalls_raises_body_timeout_after_what_arrived() -> None:
    async def read() -> list[bytes]:
        got = []
        async for chunk in timed(_stalls_after([b"a", b"b"]), 0.05):
            got.append(chunk)
        return got

    with pytest.raises(BodyTimeout) as caught:
        asyncio.run(read())
    assert caught.value.status_code == 408


def test_a_body_that_keeps_coming_is_read_whole() -> None:
    async def body() -> AsyncIterator[bytes]:
        for part in (b"x", b"y", b"z"):
            await asyncio.sleep(0.01)
            yield part

    async def read() -> bytes:
        return b"".join([c async for c in timed(body(), 1.0)])

    assert asyncio.run(read()) == b"xyz"


@pytest.mark.parametrize("raw", [b"[" * 1000 + b"]" * 1000, b'{"a": "\xff"}', b"[]", b"nul"])
def test_json_object_turns_every_malformed_body_into_invalid_parameter(raw: bytes) -> None:
    with pytest.raises(InvalidParameter):
        json_object(raw)


URLENCODED = "application/x-www-form-urlencoded"


def test_urlencoded_forms_must_be_utf8_escapes_included() -> None:
    assert form_fields(b"sessionId=ATV_1&isActive=1&sessionId=ignored", URLENCODED) == {
        "sessionId": "ATV_1",
        "isActive": "1",
    }
    assert form_fields(b"a=%C3%A9", URLENCODED) == {"a": "é"}
    for raw in (b"a=%ff", b"a=\xff", b"a=%c3%28"):
        with pytest.raises(InvalidParameter, match="UTF-8"):
            form_fields(raw, URLENCODED)
    with pytest.raises(InvalidParameter, match="fields"):
        form_fields(b"&".join(b"a%d=1" % i for i in range(100)), URLENCODED)


def test_multipart_forms_are_read_and_checked_alike() -> None:
    body = b'--B\r\nContent-Disposition: form-data; name="sessionId"\r\n\r\nATV_1\r\n--B--\r\n'
    assert form_fields(body, "multipart/form-data; boundary=B") == {"sessionId": "ATV_1"}
    bad = b'--B\r\nContent-Disposition: form-data; name="sessionId"\r\n\r\n\xff\r\n--B--\r\n'
    with pytest.raises(InvalidParameter, match="UTF-8"):
        form_fields(bad, "multipart/form-data; boundary=B")
    with pytest.raises(InvalidParameter, match="malformed"):
        form_fields(b"--B\r\nno colon\r\n\r\nx\r\n--B--\r\n", "multipart/form-data; boundary=B")
    with pytest.raises(UnsupportedMediaType):
        form_fields(b"x", "text/plain")


def test_upload_slots_bound_each_key_then_the_node_and_free_on_exit() -> None:
    slots = UploadSlots(per_node=3, per_key=2)
    with slots.hold("a"), slots.hold("a"):
        with pytest.raises(RateLimited) as limited, slots.hold("a"):
            pass
        assert limited.value.retry_after > 0
        with slots.hold("b"), pytest.raises(ServiceUnavailable), slots.hold("c"):
            pass
    assert slots.in_use == 0
    with pytest.raises(ValueError), slots.hold("a"):
        raise ValueError("the upload failed")
    assert slots.in_use == 0


def test_the_limits_come_from_the_settings() -> None:
    assert ApiLimits.from_settings(Settings(auth_failures_per_minute=0)).auth_failures_per_minute == 0
    limits = ApiLimits.from_settings(Settings(body_read_timeout_s=7, max_concurrent_uploads_per_key=3))
    assert (limits.body_read_timeout_s, limits.max_uploads_per_key, limits.auth_failures_per_minute) == (7, 3, 20)
