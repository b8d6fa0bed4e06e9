"""Who said what: speaker labels from diarization turns, speaker (or channel) turns, per-speaker stats.

Diarization gives turns (start, end, speaker) on the audio; the transcript gives words. Each word
takes the speaker whose turns overlap it most (the nearest turn where none overlaps: a word in a
gap between turns still belongs to someone), each segment likewise over its span. Utterances are
runs of consecutive words with one label, whether the label is a speaker (diarization) or a channel
(`channels=split`).
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

import msgspec

from engine.recordings.transcripts import Segment, SpeakerStats, Utterance, Word, segment_confidence

__all__ = ["Turn", "label_speakers", "number_by_appearance", "speaker_stats", "utterances"]


class Turn(Protocol):
    @property
    def start(self) -> float: ...

    @property
    def end(self) -> float: ...

    @property
    def speaker(self) -> int: ...


@dataclass(frozen=True, slots=True)
class _Index:
    """Turns sorted by start, with the longest turn's length to bound a search window, and for each
    position the turn that reaches furthest among those up to it (the nearest turn before a gap)."""

    starts: list[float]
    turns: list[Turn]
    longest: float
    reach: list[Turn]

    @classmethod
    def of(cls, turns: Sequence[Turn]) -> _Index:
        ordered = sorted(turns, key=lambda t: (t.start, t.end))
        reach: list[Turn] = []
        for turn in ordered:
            reach.append(turn if not reach or turn.end > reach[-1].end else reach[-1])
        longest = max((t.end - t.start for t in ordered), default=0.0)
        return cls([t.start for t in ordered], ordered, longest, reach)

    def speaker_at(self, start: float, end: float) -> str | None:
        if not self.turns:
            return None
        lo = bisect.bisect_left(self.starts, start - self.longest)
        hi = bisect.bisect_right(self.starts, end)
        overlap: dict[int, float] = {}
        for turn in self.turns[lo:hi]:
            shared = min(end, turn.end) - max(start, turn.start)
            if shared > 0:
                overlap[turn.speaker] = overlap.get(turn.speaker, 0.0) + shared
        if overlap:
            return _label(max(overlap, key=lambda s: (overlap[s], -s)))
        # In a gap: the nearest turn, the one that ends last before it or the first after it.
        middle = (start + end) / 2
        near = ([self.reach[hi - 1]] if hi > 0 else []) + self.turns[hi : hi + 1]
        return _label(min(near, key=lambda t: max(t.start - middle, middle - t.end, 0.0)).speaker)


def _label(speaker: int) -> str:
    return f"Speaker {speaker}"


T = TypeVar("T", Word, Segment)


def label_speakers(items: Sequence[T], turns: Sequence[Turn]) -> list[T]:
    """Words or segments, each with `speaker` set from the turns (unchanged when there are none)."""
    index = _Index.of(turns)
    return [msgspec.structs.replace(item, speaker=index.speaker_at(item.start, item.end)) for item in items]


def number_by_appearance(
    words: Sequence[Word], segments: Sequence[Segment], raw_words: Sequence[Word] | None = None
) -> tuple[list[Word], list[Segment], list[Word] | None]:
    """Speakers renumbered 1, 2, … in order of their first word (of their first segment, without
    words): a speaker the diarizer heard who got no word leaves no gap in the numbering."""
    order: dict[str, str] = {}
    heard = [w.speaker for w in sorted(words, key=lambda w: w.start)]
    heard += [s.speaker for s in sorted(segments, key=lambda s: s.start)]
    heard += [w.speaker for w in raw_words or []]
    for speaker in heard:
        if speaker is not None and speaker not in order:
            order[speaker] = _label(len(order) + 1)

    def relabel(item: T) -> T:
        return item if item.speaker is None else msgspec.structs.replace(item, speaker=order[item.speaker])

    return (
        [relabel(w) for w in words],
        [relabel(s) for s in segments],
        None if raw_words is None else [relabel(w) for w in raw_words],
    )


def _who(item: Word | Segment) -> tuple[str | None, int | None]:
    return item.speaker, item.channel


def utterances(words: Sequence[Word], segments: Sequence[Segment]) -> list[Utterance]:
    """Runs of consecutive words with one speaker/channel (of segments, without word timestamps)."""
    items: Sequence[Word | Segment] = words if words else segments
    runs: list[list[Word | Segment]] = []
    for item in sorted(items, key=lambda i: (i.start, i.end)):
        if runs and _who(runs[-1][-1]) == _who(item):
            runs[-1].append(item)
        else:
            runs.append([item])
    out = []
    for run in runs:
        speaker, channel = _who(run[0])
        if isinstance(run[0], Word):
            text = " ".join(w.word for w in run if isinstance(w, Word))
            confidence = sum(w.confidence for w in run if isinstance(w, Word)) / len(run)
            count = len(run)
        else:
            text = " ".join(s.text for s in run if isinstance(s, Segment))
            confidence = segment_confidence([s for s in run if isinstance(s, Segment)])
            count = len(text.split())
        out.append(
            Utterance(
                speaker=speaker,
                channel=channel,
                start=run[0].start,
                end=max(i.end for i in run),
                text=text.strip(),
                confidence=round(confidence, 4),
                words=count,
            )
        )
    return out


def speaker_stats(turns: Sequence[Utterance]) -> list[SpeakerStats]:
    """Talk time, words and utterances per speaker/channel, in order of first appearance."""
    stats: dict[tuple[str | None, int | None], list[float]] = {}
    for u in turns:
        entry = stats.setdefault((u.speaker, u.channel), [0.0, 0, 0])
        entry[0] += u.end - u.start
        entry[1] += u.words
        entry[2] += 1
    return [
        SpeakerStats(speaker=s, channel=c, talk_seconds=round(t, 3), words=int(w), utterances=int(n))
        for (s, c), (t, w, n) in stats.items()
    ]
