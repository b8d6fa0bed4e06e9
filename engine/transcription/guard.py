"""The hallucination guard: no text where nobody speaks, no repetition loops.

Whisper writes something for almost any window: "You" for 20 s of digital silence or 3 s of pink
noise, ". . . ." or "Oh" for a held tone, "Thank you." in a long pause after speech, and
sometimes loops ("the the the ...", a phrase over and over). After a window is decoded,
`guard_window` takes out, using the window's own speech mask (`refine.speech_mask`, relative to
the window's floor and speech level, steady tones excluded):

1. everything, when the window has no speech at all (silence, dither, stationary noise, a tone);
2. each segment none of whose words has speech within `margin` (0.5 s) of its span (a segment
   without words: none within `margin` of its own span), and, in a segment with speech, each word
   with none within `margin` that the model was unsure of (probability < 0.5). tiny.en puts real
   words 0.3-0.8 s off at times, with probability 0.98, in the pause next to their speech: timing
   alone does not make a word a hallucination;
3. segments with no letter or digit ("...", "♪");
4. repetition loops: an n-gram of words (n ≤ 8) said 3 times or more in a row (a single word: 4
   times) is kept once;
5. a segment whose own text still compresses more than `max_compression` (2.4, faster-whisper's
   threshold for a window's text) after that.

`collapse_repetitions` does 4. across a recording's windows (a loop can run over a cut).

Only text that is not speech is taken out: the words of speech are kept as decoded (their times,
probabilities and the window's signals untouched), so on speech the text is the same. A segment
that loses words gets its text rebuilt from the words it keeps, is re-spanned to them, and loses
its tokens (so that a hallucination never conditions the next window's decoding).
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import msgspec
import numpy as np

from engine.transcription.decoder import DecodedSegment, DecodedWord, WindowResult
from engine.transcription.refine import SAMPLE_RATE, SpeechMask, speech_mask

__all__ = ["collapse_repetitions", "compression_ratio", "guard_window", "repeated_runs"]

MARGIN_SECONDS = 0.5
UNSURE = 0.5
"""Within a segment that has speech, a word away from it goes only if the model was unsure of it."""
MAX_COMPRESSION = 2.4
MAX_NGRAM = 8
MIN_REPEATS = 3
MIN_REPEATS_SINGLE = 4
"""A single word needs 4 in a row ("no, no, no" and "very very very" are speech)."""

T = TypeVar("T")


def compression_ratio(text: str) -> float:
    """faster-whisper's measure of repetitiveness: UTF-8 length over zlib-compressed length."""
    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data)) if data else 0.0


def _key(word: str) -> str:
    return re.sub(r"[^\w']+", "", word.lower())


def repeated_runs(keys: Sequence[str], min_single: int = MIN_REPEATS_SINGLE) -> list[tuple[int, int]]:
    """[start, end) index ranges to remove from `keys` so that each loop is kept once.

    A loop is an n-gram (n ≤ 8, non-empty keys) that follows itself at least `MIN_REPEATS` times
    in a row (`min_single` times for a single key); the shortest such n-gram is taken first."""
    removed: list[tuple[int, int]] = []
    i = 0
    while i < len(keys):
        for n in range(1, MAX_NGRAM + 1):
            unit = list(keys[i : i + n])
            if len(unit) < n or not all(unit):
                break
            count = 1
            while list(keys[i + count * n : i + (count + 1) * n]) == unit:
                count += 1
            if count >= (min_single if n == 1 else MIN_REPEATS):
                removed.append((i + n, i + count * n))
                i += count * n - 1
                break
        i += 1
    return removed


def _without(items: list[T], keys: Callable[[T], str]) -> list[T]:
    drop: set[int] = set()
    for a, b in repeated_runs([keys(item) for item in items]):
        drop.update(range(a, b))
    return [item for k, item in enumerate(items) if k not in drop]


def _with_words(segment: DecodedSegment, words: list[DecodedWord]) -> DecodedSegment | None:
    """`segment` keeping only `words` (None if none is left); itself if nothing changed."""
    if len(words) == len(segment.words):
        return segment
    if not words:
        return None
    text = "".join(w.word for w in words)
    return msgspec.structs.replace(segment, start=words[0].start, end=words[-1].end, text=text, tokens=[], words=words)


def _collapse_text(segment: DecodedSegment) -> DecodedSegment:
    """A segment without words, its loops collapsed over its whitespace-separated words."""
    parts = segment.text.split()
    kept = _without(parts, _key)
    if len(kept) == len(parts):
        return segment
    return msgspec.structs.replace(segment, text=" " + " ".join(kept), tokens=[])


def _guard_segment(
    segment: DecodedSegment, mask: SpeechMask, margin: float, max_compression: float
) -> DecodedSegment | None:
    """One segment through rules 2-5, or None when nothing of it is left."""
    if segment.words:
        near = [mask.has_speech(w.start - margin, w.end + margin) for w in segment.words]
        if not any(near):
            return None
        heard = [w for w, ok in zip(segment.words, near, strict=True) if ok or w.probability >= UNSURE]
        guarded = _with_words(segment, _without(heard, lambda w: _key(w.word)))
    elif mask.has_speech(segment.start - margin, segment.end + margin):
        guarded = _collapse_text(segment)
    else:
        guarded = None
    if guarded is None or not any(c.isalnum() for c in guarded.text):
        return None
    return None if compression_ratio(guarded.text.strip()) > max_compression else guarded


def guard_window(
    result: WindowResult,
    samples: np.ndarray[Any, Any],
    sample_rate: int = SAMPLE_RATE,
    *,
    mask: SpeechMask | None = None,
    margin: float = MARGIN_SECONDS,
    max_compression: float = MAX_COMPRESSION,
) -> WindowResult:
    """`result` without what is not speech (a new struct when anything goes; `result` is untouched).

    `samples` are the window's samples as decoded (`WindowItem.samples`), starting at
    `result.offset`; `mask` may be given instead, to share one with `refine.refine_words`. The
    window's signals (avg_logprob, compression_ratio, no_speech_prob, temperature) are kept; a
    window left with no segments is marked `skipped`."""
    if not result.segments:
        return result
    if mask is None:
        mask = speech_mask(samples, sample_rate, offset=result.offset)
    if not mask.speech.any():
        return msgspec.structs.replace(result, segments=[], skipped=True)
    segments = [g for s in result.segments if (g := _guard_segment(s, mask, margin, max_compression)) is not None]
    if len(segments) == len(result.segments) and all(a is b for a, b in zip(segments, result.segments, strict=True)):
        return result
    return msgspec.structs.replace(result, segments=segments, skipped=result.skipped or not segments)


def collapse_repetitions(results: list[WindowResult]) -> list[WindowResult]:
    """A recording's windows (in order) with loops collapsed across them: words where segments
    have words, else whole segment texts (the same segment text 3 times in a row is kept once).
    Results with nothing to collapse are returned as they are."""
    entries = [
        (r, s, w)
        for r, result in enumerate(results)
        for s, seg in enumerate(result.segments)
        for w in range(len(seg.words) or 1)
    ]
    keys = [_entry_key(results, *e) for e in entries]
    by_words = any(seg.words for result in results for seg in result.segments)
    drop: set[tuple[int, int, int]] = set()
    for a, b in repeated_runs(keys, MIN_REPEATS_SINGLE if by_words else MIN_REPEATS):
        drop.update(entries[a:b])
    if not drop:
        return results
    return [_drop_entries(r, result, drop) for r, result in enumerate(results)]


def _entry_key(results: list[WindowResult], r: int, s: int, w: int) -> str:
    segment = results[r].segments[s]
    return _key(segment.words[w].word) if segment.words else " ".join(_key(p) for p in segment.text.split())


def _drop_entries(r: int, result: WindowResult, drop: set[tuple[int, int, int]]) -> WindowResult:
    segments: list[DecodedSegment] = []
    for s, segment in enumerate(result.segments):
        if not segment.words:
            if (r, s, 0) not in drop:
                segments.append(segment)
            continue
        kept = _with_words(segment, [word for w, word in enumerate(segment.words) if (r, s, w) not in drop])
        if kept is not None:
            segments.append(kept)
    if len(segments) == len(result.segments) and all(a is b for a, b in zip(segments, result.segments, strict=True)):
        return result
    return msgspec.structs.replace(result, segments=segments, skipped=result.skipped or not segments)
