"""engine.untrusted: every malformed JSON is one ValueError, whatever msgspec raised."""

from __future__ import annotations

import pytest

from engine.errors import InvalidCustomTags
from engine.recordings.model import validate_custom_tags
from engine.untrusted import MalformedJson, decode_json

MALFORMED = [b"[" * 1000 + b"]" * 1000, b'{"a":' * 5000 + b"1" + b"}" * 5000, b'{"a": "\xff"}', b"\xff\xfe", b"{", b""]


@pytest.mark.parametrize(
    "raw", MALFORMED, ids=["deep array", "deep object", "bad utf-8 in string", "bom", "cut", "empty"]
)
def test_malformed_json_is_one_error_without_the_input(raw: bytes) -> None:
    with pytest.raises(MalformedJson) as caught:
        decode_json(raw)
    assert "\\x" not in str(caught.value)


def test_custom_tags_nested_too_deep_are_invalid_custom_tags() -> None:
    with pytest.raises(InvalidCustomTags, match="nested"):
        validate_custom_tags("[" * 1000 + "]" * 1000)
    assert decode_json(b'{"a": [1, {"b": null}]}') == {"a": [1, {"b": None}]}
