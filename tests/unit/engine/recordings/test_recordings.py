"""engine.recordings.validate_custom_tags (the seed's limits) and the two confidence measures."""

from __future__ import annotations

import json
import math

import pytest

from engine.errors import InvalidCustomTags
from engine.recordings.model import validate_custom_tags
from engine.recordings.transcripts import Segment, Word, weighted_confidence
from engine.transcription.whisper import segment_confidence


def tags(mapping: dict[str, object]) -> str:
    return json.dumps(mapping, separators=(",", ":"), ensure_ascii=False)


def serialized_size(mapping: dict[str, str]) -> int:
    return len(tags(mapping).encode())


def rejected(raw: str | bytes) -> str:
    """The message of the InvalidCustomTags that `raw` must raise."""
    with pytest.raises(InvalidCustomTags) as caught:
        validate_custom_tags(raw)
    return caught.value.message


def largest_valid_tags() -> dict[str, str]:
    """Ten keys of the longest allowed name, with values padded to exactly 1024 serialized bytes."""
    keys = [f"{i}".rjust(32, "k") for i in range(10)]
    mapping = dict.fromkeys(keys, "")
    room = 1024 - serialized_size(mapping)
    for i, key in enumerate(keys):
        mapping[key] = "v" * (room // 10 + (1 if i < room % 10 else 0))
    assert serialized_size(mapping) == 1024
    return mapping


# --- custom_tags ----------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", [None, "", b""])
def test_no_custom_tags_is_none(raw: str | bytes | None) -> None:
    assert validate_custom_tags(raw) is None


def test_valid_tags_come_back_as_a_dict() -> None:
    assert validate_custom_tags('{"team": "sales", "call-id": "c_42"}') == {
        "team": "sales",
        "call-id": "c_42",
    }


def test_tags_given_as_bytes_are_accepted() -> None:
    assert validate_custom_tags(b'{"team": "sales"}') == {"team": "sales"}


def test_the_largest_valid_set_ten_keys_in_exactly_1024_bytes_is_accepted() -> None:
    mapping = largest_valid_tags()

    assert validate_custom_tags(tags(mapping)) == mapping


@pytest.mark.parametrize("raw", ["[]", '["a"]', '"text"', "42", "null", "true", "{not json", "{'a': 'b'}"])
def test_anything_but_a_json_object_is_rejected(raw: str) -> None:
    rejected(raw)


def test_an_empty_object_is_accepted() -> None:
    assert validate_custom_tags("{}") == {}


def test_eleven_keys_are_rejected() -> None:
    message = rejected(tags({f"k{i}": "v" for i in range(11)}))

    assert "11" in message
    assert "10" in message


def test_a_key_of_33_characters_is_rejected_naming_it() -> None:
    key = "k" * 33

    assert key in rejected(tags({"ok": "v", key: "v"}))


def test_a_key_of_32_characters_is_accepted() -> None:
    assert validate_custom_tags(tags({"k" * 32: "v"})) == {"k" * 32: "v"}


def test_an_empty_key_is_rejected() -> None:
    rejected(tags({"": "v"}))


@pytest.mark.parametrize("key", ["has space", "dot.ted", "slash/ed", "émoji", "colon:", "semi;", "new\nline"])
def test_a_key_with_a_character_outside_the_allowed_set_is_rejected_naming_it(key: str) -> None:
    message = rejected(tags({key: "v"}))

    assert repr(key)[1:-1] in message


def test_a_non_string_value_is_rejected_naming_its_key() -> None:
    for value in (1, 1.5, True, None, ["a"], {"a": "b"}):
        assert "amount" in rejected(tags({"team": "sales", "amount": value}))


def test_a_value_of_128_characters_is_accepted() -> None:
    assert validate_custom_tags(tags({"note": "x" * 128})) == {"note": "x" * 128}


def test_a_value_of_129_characters_is_rejected_naming_its_key() -> None:
    assert "note" in rejected(tags({"team": "sales", "note": "x" * 129}))


def test_the_value_limit_counts_characters_not_bytes() -> None:
    assert validate_custom_tags(tags({"note": "é" * 128})) == {"note": "é" * 128}


@pytest.mark.parametrize("char", ["\x00", "\n", "\t", "\r", "\x1b", "\x7f", "\x85", "\x9b"])
def test_a_value_with_a_control_character_is_rejected_naming_its_key(char: str) -> None:
    assert "note" in rejected(tags({"team": "sales", "note": f"a{char}b"}))


def test_a_value_with_ordinary_unicode_is_accepted() -> None:
    assert validate_custom_tags(tags({"city": "Zürich 東京 🎙"})) == {"city": "Zürich 東京 🎙"}


def test_one_byte_over_1024_serialized_is_rejected_naming_the_key_that_crosses_it() -> None:
    mapping = largest_valid_tags()
    last = list(mapping)[-1]
    mapping[last] += "v"

    assert last in rejected(tags(mapping))


def test_the_size_limit_names_the_key_that_crosses_it_not_just_the_last_key() -> None:
    # Seven entries of 32-char keys and 128-char values pass 1024 bytes at the seventh; the small
    # keys after it are not what broke the limit.
    big = {f"{i}".rjust(32, "k"): "v" * 128 for i in range(7)}
    mapping = {**big, "a": "", "b": ""}
    crossing = list(big)[-1]
    assert serialized_size(dict(list(big.items())[:6])) <= 1024 < serialized_size(big)

    assert crossing in rejected(tags(mapping))


def test_the_size_limit_counts_utf8_bytes() -> None:
    # Within every per-key limit, but multi-byte characters take the whole over 1024 bytes.
    mapping = {f"k{i}": "é" * 100 for i in range(5)}
    assert serialized_size(mapping) > 1024

    rejected(tags(mapping))


# --- confidence -----------------------------------------------------------------------------------


def word(start: float, end: float, confidence: float) -> Word:
    return Word(word="w", start=start, end=end, confidence=confidence)


def segment(start: float, end: float, avg_logprob: float) -> Segment:
    return Segment(id=0, start=start, end=end, text="t", avg_logprob=avg_logprob, no_speech_prob=0.0)


def test_no_words_is_confidence_zero() -> None:
    assert weighted_confidence([]) == 0.0


def test_one_word_has_its_own_confidence() -> None:
    assert weighted_confidence([word(0.0, 0.4, 0.8)]) == pytest.approx(0.8)


def test_word_confidence_is_weighted_by_word_duration() -> None:
    # 3 s at 0.9 and 1 s at 0.5: (2.7 + 0.5) / 4 = 0.8, where a plain mean would be 0.7.
    words = [word(0.0, 3.0, 0.9), word(3.0, 4.0, 0.5)]

    assert weighted_confidence(words) == pytest.approx(0.8)


def test_zero_length_words_still_count_and_do_not_divide_by_zero() -> None:
    assert weighted_confidence([word(1.0, 1.0, 0.6), word(2.0, 2.0, 0.8)]) == pytest.approx(0.7)


def test_overall_confidence_stays_between_zero_and_one() -> None:
    words = [word(i * 0.3, i * 0.3 + 0.25, (i % 11) / 10) for i in range(50)]

    assert 0.0 <= weighted_confidence(words) <= 1.0


def test_no_segments_is_confidence_zero() -> None:
    assert segment_confidence([]) == 0.0


def test_one_segment_has_the_probability_of_its_average_log_probability() -> None:
    assert segment_confidence([segment(0.0, 2.0, math.log(0.75))]) == pytest.approx(0.75)


def test_segment_confidence_is_weighted_by_segment_duration() -> None:
    # 9 s at p=0.9 and 1 s at p=0.5: (8.1 + 0.5) / 10 = 0.86.
    segments = [segment(0.0, 9.0, math.log(0.9)), segment(9.0, 10.0, math.log(0.5))]

    assert segment_confidence(segments) == pytest.approx(0.86)


def test_segment_confidence_stays_between_zero_and_one() -> None:
    segments = [segment(0.0, 1.0, 0.0), segment(1.0, 2.0, -50.0)]

    assert 0.0 <= segment_confidence(segments) <= 1.0
