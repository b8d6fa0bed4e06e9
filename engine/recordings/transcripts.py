"""The Transcription document: text, words with timings and confidence, segments."""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime

import msgspec

from engine.recordings.model import RecordingError

__all__ = [
    "Diarization",
    "LanguageShare",
    "Segment",
    "SpeakerStats",
    "StoredTranscription",
    "Transcription",
    "Utterance",
    "Word",
    "join_words",
    "language_summary",
    "segment_confidence",
    "weighted_confidence",
]


class Word(msgspec.Struct, kw_only=True, omit_defaults=True):
    word: str
    start: float
    end: float
    confidence: float
    speaker: str | None = None
    """`Speaker 1`, `Speaker 2`… from diarization (`diarize=true`); absent otherwise."""
    channel: int | None = None
    """0-based audio channel, from per-channel transcription (`channels=split`); absent otherwise."""


class Segment(msgspec.Struct, kw_only=True):
    id: int
    start: float
    end: float
    text: str
    avg_logprob: float
    no_speech_prob: float
    compression_ratio: float = 0.0
    """gzip ratio of the text (faster-whisper's measure): above 2.4 reads as a repetition loop."""
    language: str | None = None
    """ISO 639-1 code of the language this segment was decoded in (detected per window)."""
    speaker: str | None = None
    """The speaker of most of its span (`diarize=true`)."""
    channel: int | None = None
    """Its 0-based audio channel (`channels=split`)."""


class LanguageShare(msgspec.Struct, kw_only=True):
    """How much of a recording's speech was in one language."""

    language_code: str
    language: str
    seconds: float
    segments: int


class Utterance(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A speaker turn: consecutive words of one speaker (or one channel)."""

    speaker: str | None
    channel: int | None = None
    start: float
    end: float
    text: str
    confidence: float
    words: int


class SpeakerStats(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One speaker's (or channel's) share of the recording."""

    speaker: str | None
    channel: int | None = None
    talk_seconds: float
    """The length of its utterances, summed."""
    words: int
    utterances: int


class Diarization(msgspec.Struct, kw_only=True):
    """The diarization stage of a recording uploaded with `diarize=true`."""

    status: str
    """`completed`, or `failed` (the transcript is complete without speakers; `error` says why)."""
    speakers: int | None = None
    """How many speakers were found."""
    error: RecordingError | None = None


class Transcription(msgspec.Struct, kw_only=True):
    id: str
    recording_id: str
    tenant_id: str
    text: str
    confidence: float
    language: str | None
    language_code: str | None
    language_probability: float | None
    languages: list[LanguageShare] | None = None
    """Every language heard, most speech first (the top one is `language_code`)."""
    provider: str = "faster-whisper"
    model: str
    device: str
    compute_type: str
    processing_duration_ms: int
    duration_seconds: float | None
    words: list[Word] = msgspec.field(default_factory=list)
    segments: list[Segment] = msgspec.field(default_factory=list)
    utterances: list[Utterance] | None = None
    """Speaker turns (`diarize=true`) or channel turns (`channels=split`), in time order."""
    speakers: list[SpeakerStats] | None = None
    """Talk time and word count per speaker (or per channel)."""
    diarization: Diarization | None = None
    created_at: datetime
    updated_at: datetime


class StoredTranscription(Transcription, kw_only=True):
    """The document as stored: also the model's own word times (`?word_timing=raw`), where
    `words` carry times refined from the audio."""

    raw_words: list[Word] | None = None


def language_summary(segments: list[Segment], names: dict[str, str]) -> list[LanguageShare]:
    """Speech time and segment count per language, most speech first; `names` maps codes to names."""
    seconds: dict[str, float] = {}
    counts: dict[str, int] = {}
    for s in segments:
        if s.language and s.text:
            seconds[s.language] = seconds.get(s.language, 0.0) + max(s.end - s.start, 0.0)
            counts[s.language] = counts.get(s.language, 0) + 1
    ranked = sorted(seconds, key=lambda code: (-seconds[code], code))
    return [
        LanguageShare(language_code=c, language=names.get(c, c), seconds=round(seconds[c], 3), segments=counts[c])
        for c in ranked
    ]


def weighted_confidence(words: list[Word]) -> float:
    """The spec's overall confidence: word confidences weighted by word duration.

    Zero-length words (the model sometimes emits them) still count, with a 10 ms floor, so that a
    transcript of only such words is not divided by zero. No words at all is confidence 0.
    """
    total = 0.0
    weight = 0.0
    for w in words:
        d = max(w.end - w.start, 0.01)
        total += w.confidence * d
        weight += d
    return round(total / weight, 4) if weight else 0.0


def segment_confidence(segments: list[Segment]) -> float:
    """Confidence when words were not asked for: exp(avg_logprob) weighted by segment length."""
    total = weight = 0.0
    for s in segments:
        d = max(s.end - s.start, 0.01)
        total += math.exp(s.avg_logprob) * d
        weight += d
    return round(total / weight, 4) if weight else 0.0


_UNSPACED = (
    (0x0E00, 0x0EFF),  # Thai, Lao
    (0x0F00, 0x0FFF),  # Tibetan
    (0x1000, 0x109F),  # Myanmar
    (0x1780, 0x17FF),  # Khmer
    (0x2E80, 0x2FDF),  # CJK radicals
    (0x3000, 0x30FF),  # CJK punctuation, Hiragana, Katakana
    (0x3100, 0x31FF),  # Bopomofo, Katakana extensions
    (0x3400, 0x4DBF),  # CJK extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0xFF00, 0xFFEF),  # full-width forms, half-width Katakana
    (0x20000, 0x3134F),  # CJK extensions B-G
)


def _unspaced(char: str) -> bool:
    """A character of a script written without spaces between words."""
    code = ord(char)
    return any(low <= code <= high for low, high in _UNSPACED)


def join_words(words: Iterable[str]) -> str:
    """Words (as stored: no leading space) as running text: a space between two words, except where
    both sides are in a script written without spaces (Chinese, Japanese, Thai, ...: the model's words
    there are characters or parts of one word, and "你 好" is not how anyone writes "你好")."""
    text = ""
    for word in words:
        word = word.strip()
        if not word:
            continue
        if text and not (_unspaced(text[-1]) and _unspaced(word[0])):
            text += " "
        text += word
    return text
