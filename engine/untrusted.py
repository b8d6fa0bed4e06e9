"""Decoding bytes that come from outside (request bodies, form fields) without surprises.

msgspec's JSON decoder raises `DecodeError` for malformed JSON, but `RecursionError` for nesting
deeper than its limit (about 1000) and `UnicodeDecodeError` for invalid UTF-8 inside a string:
`decode_json` turns all three into one `ValueError` whose message never quotes the input.
"""

from __future__ import annotations

import msgspec

__all__ = ["MalformedJson", "decode_json"]


class MalformedJson(ValueError):
    """Not valid JSON: malformed, nested too deep, or not valid UTF-8."""


def decode_json(raw: bytes | str) -> object:
    try:
        return msgspec.json.decode(raw)
    except msgspec.DecodeError:
        raise MalformedJson("not valid JSON") from None
    except RecursionError:
        raise MalformedJson("nested too deeply") from None
    except UnicodeError:
        raise MalformedJson("not valid UTF-8") from None
