"""Request bodies the routes read themselves (so that their errors follow the spec)."""

from __future__ import annotations

import msgspec

from engine.errors import InvalidParameter

__all__ = ["json_object"]


def json_object(raw: bytes, *, empty_ok: bool = False) -> dict[str, object]:
    """The body as a JSON object; anything else is 400 INVALID_PARAMETER."""
    if not raw and empty_ok:
        return {}
    try:
        payload = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        raise InvalidParameter("the body is not valid JSON") from None
    if not isinstance(payload, dict):
        raise InvalidParameter("the body must be a JSON object")
    return payload
