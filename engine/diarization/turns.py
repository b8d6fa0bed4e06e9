"""What diarization gives back (speaker turns), what a caller may say about the number of speakers,
and the clean-up every backend's raw turns go through. Pure Python: no model, no extra needed."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from engine.errors import InvalidParameter

__all__ = [
    "MERGE_GAP_S",
    "MIN_TURN_S",
    "Diarizer",
    "SpeakerCount",
    "SpeakerTurn",
    "clean_turns",
    "count_bounds",
]

MERGE_GAP_S = 0.3
"""Two turns of one speaker with less silence than this between them become one turn."""

MIN_TURN_S = 0.1
"""Turns shorter than this (after merging) are dropped: too short to be a speaker's words."""


@dataclass(frozen=True, slots=True)
class SpeakerTurn:
    start: float  # seconds
    end: float
    speaker: int  # 1-based, numbered in order of first appearance


@dataclass(frozen=True, slots=True)
class SpeakerCount:
    expected: int | None = None  # exact number when the caller knows it
    minimum: int | None = None
    maximum: int | None = None


class Diarizer(Protocol):
    def diarize(self, samples: np.ndarray[Any, np.dtype[np.float32]], count: SpeakerCount) -> list[SpeakerTurn]:
        """samples: float32 mono 16 kHz in [-1, 1]. Turns come sorted by start; they overlap only
        where the backend models overlapped speech."""
        ...


def count_bounds(count: SpeakerCount, found_at_most: int) -> tuple[int, int]:
    """The smallest and largest number of speakers clustering may settle on.

    `expected` fixes both; otherwise `minimum` (default 1) and `maximum` (default: no bound) apply.
    Neither can exceed `found_at_most`, the number of distinct voice samples there are to group
    (at least 1). A count that contradicts itself is an InvalidParameter."""
    for name in ("expected", "minimum", "maximum"):
        value = getattr(count, name)
        if value is not None and value < 1:
            raise InvalidParameter(f"speaker count {name} must be at least 1, got {value}")
    if count.expected is not None:
        if (count.minimum is not None and count.minimum > count.expected) or (
            count.maximum is not None and count.maximum < count.expected
        ):
            raise InvalidParameter(
                f"expected {count.expected} speakers is outside minimum {count.minimum} / maximum {count.maximum}"
            )
        low = high = count.expected
    else:
        low = count.minimum if count.minimum is not None else 1
        if count.maximum is not None and low > count.maximum:
            raise InvalidParameter(f"minimum {low} speakers is more than maximum {count.maximum}")
        high = count.maximum if count.maximum is not None else max(found_at_most, 1)
    ceiling = max(found_at_most, 1)
    return min(low, ceiling), min(high, ceiling)


def clean_turns(
    raw: Iterable[tuple[float, float, int]], merge_gap: float = MERGE_GAP_S, min_duration: float = MIN_TURN_S
) -> list[SpeakerTurn]:
    """(start, end, label) from a backend → tidy turns: one speaker's turns separated by less than
    `merge_gap` s of silence are merged (not across another speaker's turn of at least `min_duration`
    in the gap), turns shorter than `min_duration` are then dropped, and speakers renumbered 1, 2, …
    in order of first appearance. Sorted by start (then speaker)."""
    spans = sorted((float(s), float(e), int(k)) for s, e, k in raw if e > s)
    solid = [(s, e, k) for s, e, k in spans if e - s >= min_duration]
    by_label: dict[int, list[list[float]]] = {}
    for start, end, label in spans:
        merged = by_label.setdefault(label, [])
        if (
            merged
            and start - merged[-1][1] < merge_gap
            and not _other_speaker_between(solid, label, merged[-1][1], start)
        ):
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    kept = sorted(
        (span[0], span[1], label)
        for label, merged in by_label.items()
        for span in merged
        if span[1] - span[0] >= min_duration
    )
    numbers: dict[int, int] = {}
    for _, _, label in kept:
        numbers.setdefault(label, len(numbers) + 1)
    return sorted(
        (SpeakerTurn(round(start, 3), round(end, 3), numbers[label]) for start, end, label in kept),
        key=lambda turn: (turn.start, turn.speaker),
    )


def _other_speaker_between(spans: list[tuple[float, float, int]], label: int, gap_start: float, gap_end: float) -> bool:
    return any(k != label and s < gap_end and e > gap_start for s, e, k in spans)
