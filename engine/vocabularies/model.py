"""What a vocabulary is, its limits, and what a valid one is."""

from __future__ import annotations

import re
from datetime import datetime

import msgspec

from engine.errors import InvalidParameter
from engine.vocabularies.words import heard_keys

__all__ = [
    "MAX_NAME",
    "MAX_PHRASES",
    "MAX_REPLACEMENTS",
    "MAX_TEXT",
    "MAX_VOCABULARIES",
    "Replacement",
    "Vocabulary",
    "VocabularyFields",
    "parse_fields",
]

MAX_NAME = 100
MAX_PHRASES = 100
MAX_REPLACEMENTS = 200
MAX_TEXT = 100
"""The most characters in a phrase, a `heard` or a `written`."""
MAX_VOCABULARIES = 100
"""Per tenant."""

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class Replacement(msgspec.Struct, frozen=True, kw_only=True):
    heard: str
    """One or more words as the model writes them; matched whole, ignoring case and punctuation."""
    written: str = ""
    """What to write instead, capitalised as given; empty removes the words."""


class VocabularyFields(msgspec.Struct, frozen=True, kw_only=True):
    """What a caller sets on a vocabulary (the rest is the store's)."""

    name: str
    phrases: tuple[str, ...] = ()
    replacements: tuple[Replacement, ...] = ()


class Vocabulary(msgspec.Struct, kw_only=True):
    id: str
    tenant_id: str
    name: str
    phrases: list[str] = msgspec.field(default_factory=list)
    """Terms to favour while decoding (faster-whisper's `hotwords`)."""
    replacements: list[Replacement] = msgspec.field(default_factory=list)
    """Applied to every window's words and segments; where several match at one word, the longest."""
    created_at: datetime
    updated_at: datetime

    @property
    def fields(self) -> VocabularyFields:
        return VocabularyFields(name=self.name, phrases=tuple(self.phrases), replacements=tuple(self.replacements))


def parse_fields(payload: object, *, base: VocabularyFields | None = None) -> VocabularyFields:
    """A vocabulary's fields from a request body: `name` required and the rest empty by default
    (create, full replace), or, given `base`, only the fields present replace `base`'s (partial
    update). `replacements` is a list of `{"heard", "written"}` or an object `{heard: written}`.
    Text is stripped of surrounding whitespace; every breach is InvalidParameter naming the field."""
    if not isinstance(payload, dict):
        raise InvalidParameter("the body must be a JSON object")
    if base is None and "name" not in payload:
        raise InvalidParameter("name is required")
    current = base or VocabularyFields(name="")
    return VocabularyFields(
        name=_text(payload["name"], "name", 1, MAX_NAME) if "name" in payload else current.name,
        phrases=_phrases(payload["phrases"]) if "phrases" in payload else current.phrases,
        replacements=_replacements(payload["replacements"]) if "replacements" in payload else current.replacements,
    )


def _text(value: object, field: str, low: int, high: int) -> str:
    if not isinstance(value, str):
        raise InvalidParameter(f"{field} must be a string of {low}-{high} characters")
    if _CONTROL.search(value):
        raise InvalidParameter(f"{field} must not contain control characters")
    text = value.strip()
    if not low <= len(text) <= high:
        raise InvalidParameter(f"{field} must be {low}-{high} characters (without surrounding spaces)")
    return text


def _phrases(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise InvalidParameter("phrases must be a list of strings")
    if len(value) > MAX_PHRASES:
        raise InvalidParameter(f"phrases may hold at most {MAX_PHRASES} phrases")
    phrases: list[str] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(value):
        phrase = _text(item, f"phrases[{i}]", 1, MAX_TEXT)
        first = seen.setdefault(phrase.casefold(), i)
        if first != i:
            raise InvalidParameter(f"phrases[{i}] repeats phrases[{first}] (ignoring case)")
        phrases.append(phrase)
    return tuple(phrases)


def _pairs(value: object) -> list[tuple[object, object]]:
    """`[{"heard", "written"}, ...]` or `{heard: written, ...}` as (heard, written) pairs."""
    if isinstance(value, dict):
        return list(value.items())
    if not isinstance(value, list):
        raise InvalidParameter('replacements must be a list of {"heard", "written"} or an object {heard: written}')
    pairs: list[tuple[object, object]] = []
    for i, item in enumerate(value):
        if not isinstance(item, dict) or "heard" not in item:
            raise InvalidParameter(f'replacements[{i}] must be an object {{"heard", "written"}}')
        pairs.append((item["heard"], item.get("written", "")))
    return pairs


def _replacements(value: object) -> tuple[Replacement, ...]:
    if value is None:
        return ()
    pairs = _pairs(value)
    if len(pairs) > MAX_REPLACEMENTS:
        raise InvalidParameter(f"replacements may hold at most {MAX_REPLACEMENTS} replacements")
    replacements: list[Replacement] = []
    seen: dict[tuple[str, ...], int] = {}
    for i, (heard_value, written_value) in enumerate(pairs):
        heard = _text(heard_value, f"replacements[{i}].heard", 1, MAX_TEXT)
        written = _text("" if written_value is None else written_value, f"replacements[{i}].written", 0, MAX_TEXT)
        keys = heard_keys(heard)
        if not keys:
            raise InvalidParameter(f"replacements[{i}].heard must contain a word, not only punctuation")
        first = seen.setdefault(keys, i)
        if first != i:
            raise InvalidParameter(
                f"replacements[{i}].heard repeats replacements[{first}].heard (ignoring case and punctuation)"
            )
        replacements.append(Replacement(heard=heard, written=written))
    return tuple(replacements)
