"""Per-channel transcription: one transcript per channel, merged into one ordered by time.

Call recordings often hold one party per channel; transcribed apart, each word belongs to its
channel for certain, with no diarization model and no error at overlaps.
"""

from __future__ import annotations

import msgspec

from engine.recordings.transcripts import Segment, Word
from engine.transcription.whisper import TranscriptResult

__all__ = ["merge_channels"]


def merge_channels(results: list[TranscriptResult]) -> TranscriptResult:
    """`results[i]` is channel i's transcript (0-based): every word and segment labelled with it
    (`channel`, and `speaker` "Channel i", the label subtitles and utterances show), all in order of
    start time (ties: the lower channel first), segments renumbered."""
    words: list[Word] = []
    raw: list[Word] = []
    segments: list[Segment] = []
    for channel, result in enumerate(results):
        label = f"Channel {channel}"
        words += [msgspec.structs.replace(w, channel=channel, speaker=label) for w in result.words]
        raw += [msgspec.structs.replace(w, channel=channel, speaker=label) for w in result.raw_words]
        segments += [msgspec.structs.replace(s, channel=channel, speaker=label) for s in result.segments]
    words.sort(key=lambda w: (w.start, w.channel, w.end))
    raw.sort(key=lambda w: (w.start, w.channel, w.end))
    segments.sort(key=lambda s: (s.start, s.channel, s.end))
    segments = [msgspec.structs.replace(s, id=i) for i, s in enumerate(segments)]
    heard = [r for r in results if r.language]
    return TranscriptResult(
        text=" ".join(s.text for s in segments if s.text).strip(),
        language=heard[0].language if heard else None,
        language_probability=heard[0].language_probability if heard else None,
        duration=max((r.duration for r in results), default=0.0),
        words=words,
        segments=segments,
        raw_words=raw,
    )
