"""A vocabulary at work on a transcript: hotwords for decoding, replacements on what was decoded.

Pure functions, run by the worker on every window. `apply_replacements` (on words) and
`apply_to_text` (on a segment's text) share one matcher over whitespace-separated words, so a
segment's text and its words say the same thing after them:

- a `heard` matches whole words only (heard `cat` never touches `category`), ignoring case and the
  punctuation Whisper attaches to words; a `heard` of several words matches that many consecutive
  words, which become one (start of the first, end of the last, the lowest probability);
- where several `heard` match at one word, the longest wins; replaced text is not matched again;
- the written form replaces the word's text as given (its capitalisation), keeping the leading
  space, the opening punctuation of the first word and the closing punctuation of the last;
- an empty written form removes the words; their opening punctuation moves to the word after, and
  a sentence end among their closing punctuation to the word before, so `we are done, um.` becomes
  `we are done.` and `"um, hello"` becomes `"hello"`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, cast

import msgspec

from engine.vocabularies.model import Replacement, Vocabulary
from engine.vocabularies.words import SENTENCE_END, heard_keys, key_of, parts

__all__ = ["HOTWORDS_MAX_CHARS", "TimedWord", "apply_replacements", "apply_to_text", "hotwords"]

HOTWORDS_MAX_CHARS = 200
"""faster-whisper puts hotwords in every window's prompt, beside the previous text, within the
model's 448-token context: about 50-70 tokens of terms leaves room for both."""
_SCORES = ("probability", "confidence")
_PIECES = re.compile(r"\s*\S+")
_PAUSES = ",，;；:：、 "  # noqa: RUF001 - full-width on purpose


class TimedWord(Protocol):
    """A word as the decoder (`DecodedWord`, with `probability`) or the transcript (`Word`, with
    `confidence`) has it: a msgspec Struct."""

    @property
    def word(self) -> str: ...

    @property
    def start(self) -> float: ...

    @property
    def end(self) -> float: ...


W = TypeVar("W", bound=TimedWord)


def hotwords(vocabulary: Vocabulary, max_chars: int = HOTWORDS_MAX_CHARS) -> str | None:
    """The phrases, then the written forms of the replacements (the terms to favour), each once,
    joined by `, ` for faster-whisper's `hotwords`; whole terms from the first, up to `max_chars`.
    None when there is nothing to favour."""
    terms: dict[str, str] = {}
    for term in (t.strip() for t in [*vocabulary.phrases, *(r.written for r in vocabulary.replacements)]):
        if term:
            terms.setdefault(term.casefold(), term)
    kept: list[str] = []
    length = 0
    for term in terms.values():
        length += len(term) + (2 if kept else 0)
        if length > max_chars:
            break
        kept.append(term)
    return ", ".join(kept) or None


def apply_replacements(words: Sequence[W], replacements: Sequence[Replacement]) -> list[W]:
    """`words` with the replacements made (see the module docstring); words no replacement touched
    are the same objects, changed ones copies (msgspec Structs)."""
    if not replacements or not words:
        return list(words)
    out: list[W] = []
    for piece in _plan([w.word for w in words], _rules(tuple(replacements))):
        span = words[piece.first : piece.last]
        if len(span) == 1 and span[0].word == piece.text:
            out.append(span[0])
        else:
            out.append(_merged(span, piece.text))
    return out


def apply_to_text(text: str, replacements: Sequence[Replacement]) -> str:
    """`text` (a segment's) with the replacements made as `apply_replacements` makes them on its words."""
    if not replacements:
        return text
    pieces = _PIECES.findall(text)
    if not pieces:
        return text
    planned = _plan(pieces, _rules(tuple(replacements)))
    if not planned:
        return ""
    first = parts(planned[0].text)
    # The text's own leading space stays where it was, whichever word now comes first.
    opening = parts(pieces[0]).space + planned[0].text[len(first.space) :]
    return opening + "".join(p.text for p in planned[1:]) + text[len("".join(pieces)) :]


@dataclass(frozen=True)
class _Rules:
    written: dict[tuple[str, ...], str]
    longest: int


@dataclass
class _Piece:
    """Output text made of the input words `first` to `last` (exclusive)."""

    first: int
    last: int
    text: str


@functools.lru_cache(maxsize=64)
def _rules(replacements: tuple[Replacement, ...]) -> _Rules:
    written: dict[tuple[str, ...], str] = {}
    for r in replacements:
        keys = heard_keys(r.heard)
        if keys:
            written.setdefault(keys, r.written.strip())
    return _Rules(written, max((len(k) for k in written), default=0))


def _plan(texts: Sequence[str], rules: _Rules) -> list[_Piece]:
    keys = [key_of(parts(t).core) for t in texts]
    out: list[_Piece] = []
    opening = ""  # of removed words, for the next word kept
    i = 0
    while i < len(texts):
        match = _match(keys, i, rules)
        length, written = match or (1, None)
        first, last = parts(texts[i]), parts(texts[i + length - 1])
        if written is None:
            out.append(_Piece(i, i + 1, _opened(texts[i], opening)))
        elif written:
            out.append(_Piece(i, i + length, first.space + opening + first.lead + written + last.trail))
        else:
            if out and SENTENCE_END & set(last.trail):
                out[-1].text = _ending(out[-1].text, last.trail)
            opening += first.lead
            i += length
            continue
        opening = ""
        i += length
    return out


def _opened(text: str, opening: str) -> str:
    """`text` (a word) after the opening punctuation of the removed words before it."""
    if not opening:
        return text
    word = parts(text)
    return word.space + opening + text[len(word.space) :]


def _ending(text: str, trail: str) -> str:
    """`text` (the word before removed ones) ending the sentence that they ended, unless it does."""
    word = parts(text)
    if SENTENCE_END & set(word.trail):
        return text
    return word.space + word.lead + word.core + word.trail.rstrip(_PAUSES) + trail.strip()


def _match(keys: list[str], i: int, rules: _Rules) -> tuple[int, str] | None:
    """The longest heard that matches at word `i`: its length in words and its written form."""
    for length in range(min(rules.longest, len(keys) - i), 0, -1):
        written = rules.written.get(tuple(keys[i : i + length]))
        if written is not None:
            return length, written
    return None


def _merged(span: Sequence[W], text: str) -> W:
    fields = getattr(type(span[0]), "__struct_fields__", None)
    if fields is None:
        raise TypeError("apply_replacements works on msgspec Structs")
    changes: dict[str, Any] = {"word": text, "end": span[-1].end}
    for score in (f for f in _SCORES if f in fields):
        changes[score] = min(getattr(w, score) for w in span)
    return cast(W, msgspec.structs.replace(cast(Any, span[0]), **changes))
