"""Who said what: speaker labels from diarization turns, speaker (or channel) turns, per-speaker stats.

Diarization gives turns (start, end, speaker) on the audio; the transcript gives words. Each word
takes the speaker whose turns overlap it most (the nearest turn where none overlaps: a word in a
gap between turns still belongs to someone); each segment the speaker of most of its words' time
(of most of its span, without words), so that a segment never names a speaker no word has.
Utterances are runs of consecutive words with one label, whether the label is a speaker
(diarization) or a channel (`channels=split`), ending at a pause over `PAUSE_S`; a speaker's talk
time is the sum of their utterances.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

import msgspec

from engine.recordings.transcripts import Segment, SpeakerStats, Utterance, Word, join_words, segment_confidence

__all__ = [
    "PAUSE_S",
    "Turn",
    "label_segments_by_words",
    "label_speakers",
    "number_by_appearance",
    "speaker_stats",
    "utterances",
]


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
    """Words or segments, each with `speaker` set from the turns (unchanged when there are none).

    An item with no duration (the model gives some words none) has no audio of its own to tell its
    speaker by: it takes the speaker of the item before it in time (the one after it, if it is
    first), so that a word timed exactly at a change of speaker does not break a turn in two."""
    index = _Index.of(turns)
    labels = [index.speaker_at(item.start, item.end) for item in items]
    order = sorted(range(len(items)), key=lambda i: (items[i].start, items[i].end))
    timed = [i for i in order if items[i].end > items[i].start]
    if timed and len(timed) < len(items):
        starts = [items[i].start for i in timed]
        for i in order:
            if items[i].end <= items[i].start:
                at = bisect.bisect_right(starts, items[i].start) - 1
                labels[i] = labels[timed[max(at, 0)]]
    return [msgspec.structs.replace(item, speaker=label) for item, label in zip(items, labels, strict=True)]


def label_segments_by_words(segments: Sequence[Segment], words: Sequence[Word]) -> list[Segment]:
    """Each segment with the speaker of most of its words' time (words belong to the segment their
    middle falls in); a segment without words keeps its label."""
    ordered = sorted(words, key=lambda w: (w.start + w.end) / 2)
    middles = [(w.start + w.end) / 2 for w in ordered]
    out = []
    for segment in segments:
        lo = bisect.bisect_left(middles, segment.start)
        hi = bisect.bisect_right(middles, segment.end)
        time: dict[str, float] = {}
        for word in ordered[lo:hi]:
            if word.speaker is not None and word.channel == segment.channel:
                time[word.speaker] = time.get(word.speaker, 0.0) + max(word.end - word.start, 0.01)
        if time:
            segment = msgspec.structs.replace(segment, speaker=max(time, key=lambda s: (time[s], s)))
        out.append(segment)
    return out


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


PAUSE_S = 1.0
"""A turn ends at a pause longer than this (or where someone else spoke in between): talk time is
time spent talking, not the silence between two things one person said minutes apart."""


def _channel_runs(items: list[Word | Segment]) -> list[list[Word | Segment]]:
    """Channels talk over each other: each channel's words form turns of their own, which may
    overlap another channel's. A turn goes on through the other party's crosstalk and ends at a
    pause over `PAUSE_S`, or where another channel said something wholly inside the pause
    (A, then B, then A again is three turns)."""
    starts = [i.start for i in items]
    runs: list[list[Word | Segment]] = []
    for channel in sorted({i.channel for i in items}, key=lambda c: -1 if c is None else c):
        own = [i for i in items if i.channel == channel]
        for prev, item in zip([None, *own], own, strict=False):
            if prev is None or item.start - prev.end > PAUSE_S or _spoken_between(items, starts, prev, item):
                runs.append([item])
            else:
                runs[-1].append(item)
    return sorted(runs, key=lambda r: (r[0].start, r[0].channel or 0))


def _spoken_between(
    items: list[Word | Segment], starts: list[float], prev: Word | Segment, item: Word | Segment
) -> bool:
    for other in items[bisect.bisect_left(starts, prev.end) : bisect.bisect_left(starts, item.start)]:
        if other.channel != item.channel and other.end <= item.start:
            return True
    return False


def utterances(words: Sequence[Word], segments: Sequence[Segment]) -> list[Utterance]:
    """Turns (of segments, without word timestamps): runs of consecutive words with one speaker and
    no pause over `PAUSE_S`; with channels, each channel's own turns (see `_channel_runs`). In order
    of start."""
    items: list[Word | Segment] = sorted(words if words else segments, key=lambda i: (i.start, i.end))
    runs: list[list[Word | Segment]] = []
    if any(i.channel is not None for i in items):
        runs = _channel_runs(items)
    else:
        for item in items:
            if runs and _who(runs[-1][-1]) == _who(item) and item.start - runs[-1][-1].end <= PAUSE_S:
                runs[-1].append(item)
            else:
                runs.append([item])
    out = []
    for run in runs:
        speaker, channel = _who(run[0])
        if isinstance(run[0], Word):
            text = join_words(w.word for w in run if isinstance(w, Word))
            confidence = sum(w.confidence for w in run if isinstance(w, Word)) / len(run)
            count = len(run)
        else:
            text = join_words(s.text for s in run if isinstance(s, Segment))
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
