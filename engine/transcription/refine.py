"""Word boundaries refined from the audio itself: starts and ends moved onto speech, out of pauses.

Whisper's word timings come from cross-attention, on a 20 ms grid, and a word's end tends to run
on over the pause after it (with tiny.en, ~170 ms late on average). Here, in the spirit of
stable-ts but with no second model, each decoded window's own samples give a frame-level speech
mask (`speech_mask`: 10 ms steps of 20 ms frames, energy relative to the window's own speech
level and noise floor, with hysteresis; steady tones are not speech), and `refine_words` moves
each word's edges onto the nearest pause in it:

- an end goes to the start of the nearest pause (back over the pause it ran into, or forward to
  where its speech stops), a start to the end of the nearest pause; where the speech runs on
  with no pause (words joined in fluent speech), the model's boundary is kept;
- a word never crosses its neighbours, never moves by more than `max_shift` (0.5 s), never keeps
  less than a speech frame, and is never made shorter than `min_duration` (40 ms; a word the model
  made shorter keeps its own times); a word with no speech at all keeps its times (that is
  `guard`'s business);
- only times move: texts, tokens, probabilities and the window's signals are untouched, so the
  transcript's text (and its WER) is exactly the same. A segment that has words is re-spanned to
  its first and last word, as faster-whisper spans it.

Pure functions on numpy and the decoder's structs: safe to call on a job thread.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import msgspec
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from engine.transcription.decoder import DecodedSegment, DecodedWord, WindowResult

__all__ = ["SpeechMask", "refine_times", "refine_words", "speech_mask"]

SAMPLE_RATE = 16000
HOP_SECONDS = 0.01
FRAME_SECONDS = 0.02
TONE_FRAME_SECONDS = 0.064
"""Longer frames for the tone test: they resolve a voice's harmonics (15.6 Hz bins)."""
BAND_HZ = (80.0, 7000.0)
FLOOR_DB = -120.0
ABSOLUTE_DB = -80.0
"""Nothing quieter than -80 dBFS (a frame's band power) is speech, however quiet the window."""
SEED_MARGIN_DB, SEED_RANGE_DB = 10.0, 35.0
"""A run of speech must reach 10 dB above the window's floor and within 35 dB of its speech level..."""
KEEP_MARGIN_DB, KEEP_RANGE_DB = 5.0, 45.0
"""...and extends while it stays 5 dB above the floor and within 45 dB of the speech level."""
FLOOR_PERCENTILE, LEVEL_PERCENTILE = 5.0, 95.0
MIN_RUN_SECONDS = 0.03
TONAL_SHARE = 0.9
"""A frame whose band power is ≥ 90 % within ±3 bins of one frequency..."""
TONE_SECONDS = 0.3
"""...in a run of such frames at a steady frequency this long, is a tone, not a voice."""


@dataclass(frozen=True, eq=False)
class SpeechMask:
    """Which 10 ms steps of a window hold speech; step i is [offset + i·hop, offset + (i+1)·hop)."""

    speech: np.ndarray[Any, np.dtype[np.bool_]]
    offset: float = 0.0
    hop: float = HOP_SECONDS

    @property
    def end(self) -> float:
        return self.offset + len(self.speech) * self.hop

    @property
    def fraction(self) -> float:
        """Share of the window's steps that hold speech."""
        return float(np.mean(self.speech)) if len(self.speech) else 0.0

    def index(self, t: float) -> int:
        """The step at absolute time `t`, clipped to [0, len]."""
        return int(min(max(round((t - self.offset) / self.hop), 0), len(self.speech)))

    def time(self, index: int) -> float:
        return self.offset + index * self.hop

    def has_speech(self, start: float, end: float) -> bool:
        """Any speech step in [start, end] (an empty span looks at the step it falls in)."""
        a, b = self.index(start), self.index(end)
        return bool(np.any(self.speech[a : max(b, a + 1)]))

    def seconds(self, start: float, end: float) -> float:
        """How much speech lies in [start, end]."""
        a, b = self.index(start), self.index(end)
        return float(np.count_nonzero(self.speech[a:b])) * self.hop

    def runs(self) -> list[tuple[float, float]]:
        """The speech runs, as absolute (start, end) times."""
        starts, ends = _runs(self.speech)
        return [(self.time(int(a)), self.time(int(b))) for a, b in zip(starts, ends, strict=True)]


def speech_mask(samples: np.ndarray[Any, Any], sample_rate: int = SAMPLE_RATE, *, offset: float = 0.0) -> SpeechMask:
    """The speech mask of a window's samples (mono float in [-1, 1]) starting at `offset` s.

    Relative to the window itself: its floor (5th percentile of frame power) and speech level
    (95th), so quiet speech is found as well as loud; a steady signal (digital silence, dither,
    stationary noise, a held tone) never rises 10 dB over its own floor and so has no speech, and
    steady tones within speech are taken out by their spectrum."""
    x = np.asarray(samples, dtype=np.float64).reshape(-1)
    hop = round(HOP_SECONDS * sample_rate)
    count = -(-len(x) // hop)
    if count == 0:
        return SpeechMask(np.zeros(0, dtype=bool), offset)
    level, tonal = _frame_features(x, sample_rate, hop, count)
    floor, loud = np.percentile(level, FLOOR_PERCENTILE), np.percentile(level, LEVEL_PERCENTILE)
    seed = max(ABSOLUTE_DB, floor + SEED_MARGIN_DB, loud - SEED_RANGE_DB)
    keep = max(ABSOLUTE_DB, floor + KEEP_MARGIN_DB, loud - KEEP_RANGE_DB)
    tone = _steady_tone(tonal, round(TONE_SECONDS / HOP_SECONDS))
    speech = _hysteresis((level > keep) & ~tone, (level > seed) & ~tone)
    return SpeechMask(_drop_short(speech, round(MIN_RUN_SECONDS / HOP_SECONDS)), offset)


def _frames(x: np.ndarray[Any, Any], length: int, hop: int, count: int) -> np.ndarray[Any, Any]:
    """`count` frames of `length` samples, frame i centred on the middle of step i."""
    left = length // 2 - hop // 2
    padded = np.pad(x, (left, length + count * hop))
    return sliding_window_view(padded, length)[::hop][:count]


def _band_power(x: np.ndarray[Any, Any], sample_rate: int, length: int, hop: int, count: int) -> np.ndarray[Any, Any]:
    """Per frame: the power spectrum (Hann window) within `BAND_HZ`, scaled so bins sum to mean square."""
    window = np.hanning(length)
    n_fft = 1 << (length - 1).bit_length()
    spectrum = np.abs(np.fft.rfft(_frames(x, length, hop, count) * window, n_fft)) ** 2
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    band = (freqs >= BAND_HZ[0]) & (freqs <= BAND_HZ[1])
    return spectrum[:, band] * (2.0 / (n_fft * float(np.sum(window**2))))


def _frame_features(
    x: np.ndarray[Any, Any], sample_rate: int, hop: int, count: int
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Per step: band power in dBFS (20 ms frames), and (peak bin, share of power within ±3 bins of it)
    from 64 ms frames, as a (count, 2) array."""
    power = _band_power(x, sample_rate, round(FRAME_SECONDS * sample_rate), hop, count).sum(axis=1)
    level = np.maximum(10.0 * np.log10(np.maximum(power, 1e-30)), FLOOR_DB)
    fine = _band_power(x, sample_rate, round(TONE_FRAME_SECONDS * sample_rate), hop, count)
    peak = np.argmax(fine, axis=1)
    cumulative = np.concatenate([np.zeros((count, 1)), np.cumsum(fine, axis=1)], axis=1)
    lo, hi = np.maximum(peak - 3, 0), np.minimum(peak + 4, fine.shape[1])
    near = np.take_along_axis(cumulative, hi[:, None], 1) - np.take_along_axis(cumulative, lo[:, None], 1)
    share = near[:, 0] / np.maximum(cumulative[:, -1], 1e-30)
    return level, np.stack([peak, share], axis=1)


def _runs(flags: np.ndarray[Any, Any]) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Start and end (exclusive) indices of the runs of True."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], flags.astype(np.int8), [0]])))
    return edges[::2], edges[1::2]


def _hysteresis(keep: np.ndarray[Any, Any], seed: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """The runs of `keep` that hold at least one `seed`."""
    starts, ends = _runs(keep)
    seeds = np.concatenate([[0], np.cumsum(seed & keep)])
    out = np.zeros(len(keep), dtype=bool)
    for a, b in zip(starts, ends, strict=True):
        if seeds[b] > seeds[a]:
            out[a:b] = True
    return out


def _drop_short(flags: np.ndarray[Any, Any], min_len: int) -> np.ndarray[Any, Any]:
    out = flags.copy()
    for a, b in zip(*_runs(flags), strict=True):
        if b - a < min_len:
            out[a:b] = False
    return out


def _steady_tone(tonal: np.ndarray[Any, Any], min_len: int) -> np.ndarray[Any, Any]:
    """Steps in runs of ≥ `min_len` tonal frames whose peak stays within a bin of the last."""
    peak, share = tonal[:, 0], tonal[:, 1]
    steady = np.concatenate([[False], np.abs(np.diff(peak)) <= 1])
    tonal_now = share >= TONAL_SHARE
    # A run continues while each frame is tonal and near its predecessor's peak.
    run_id = np.cumsum(~(tonal_now & steady))
    out = np.zeros(len(peak), dtype=bool)
    for a, b in zip(*_runs(tonal_now), strict=True):
        ids, counts = np.unique(run_id[a:b], return_counts=True)
        for run, n in zip(ids, counts, strict=True):
            if n >= min_len:
                out[a:b] |= run_id[a:b] == run
    return out


def refine_words(
    result: WindowResult,
    samples: np.ndarray[Any, Any],
    sample_rate: int = SAMPLE_RATE,
    *,
    mask: SpeechMask | None = None,
    max_shift: float = 0.5,
    min_duration: float = 0.04,
) -> WindowResult:
    """`result` with its words' start and end moved onto speech (a new struct; `result` is untouched).

    `samples` are the window's samples as decoded (`WindowItem.samples`), starting at
    `result.offset`; `mask` may be given instead, to share one with `guard.guard_window`."""
    if mask is None:
        mask = speech_mask(samples, sample_rate, offset=result.offset)
    words = [w for s in result.segments for w in s.words]
    if not words:
        return result
    lo, hi = result.offset, result.offset + result.duration
    times = iter(refine_times([(w.start, w.end) for w in words], mask, lo, hi, max_shift, min_duration))
    segments = [
        _respan(
            s, [msgspec.structs.replace(w, **dict(zip(("start", "end"), next(times), strict=True))) for w in s.words]
        )
        for s in result.segments
    ]
    return msgspec.structs.replace(result, segments=segments)


def _respan(segment: DecodedSegment, words: list[DecodedWord]) -> DecodedSegment:
    if not words:
        return segment
    return msgspec.structs.replace(segment, start=words[0].start, end=words[-1].end, words=words)


@dataclass(frozen=True)
class _Grid:
    """A window's speech mask in steps, with its pauses (a pause before and after the window)."""

    speech: np.ndarray[Any, np.dtype[np.bool_]]
    gaps: list[tuple[int, int]]
    before: np.ndarray[Any, Any]
    """before[i]: speech steps in [0, i)."""
    max_shift: int
    hop: float

    @classmethod
    def of(cls, mask: SpeechMask, max_shift: float) -> _Grid:
        padded = np.concatenate([[False], mask.speech, [False]])
        starts, ends = _runs(~padded)
        gaps = [(int(a) - 1, int(b) - 1) for a, b in zip(starts, ends, strict=True)]
        before = np.concatenate([[0], np.cumsum(mask.speech)])
        return cls(mask.speech, gaps, before, round(max_shift / mask.hop), mask.hop)

    def speech_in(self, a: int, b: int) -> bool:
        n = len(self.speech)
        a, b = min(max(a, 0), n), min(max(b, 0), n)
        return b > a and bool(self.before[b] > self.before[a])


KEEP_COST = 0.25
"""What keeping a boundary inside speech costs, in seconds of moving it to a pause."""
PAUSE_REWARD, PAUSE_CAP = 1.0, 0.3
"""A pause's length (up to 0.3 s) is taken off the cost of moving a boundary to it:
a long pause is a word boundary, a dip of a few milliseconds may be a stop inside a word."""


@dataclass(frozen=True)
class _Cut:
    """A boundary between two words: where the one before ends, where the one after starts (steps)."""

    end: int
    start: int
    cost: float
    keep: bool = False


def _cuts(grid: _Grid, end_at: int | None, start_at: int | None) -> list[_Cut]:
    """The places a boundary may go: where it is (raw), or any pause within reach, its edges moved
    at most `max_shift` each. `end_at`/`start_at` are None before the first and after the last word."""
    at = [x for x in (end_at, start_at) if x is not None]
    lo, hi, reach, n = min(at), max(at), grid.max_shift, len(grid.speech)
    cuts = [_Cut(end_at if end_at is not None else lo, start_at if start_at is not None else hi, KEEP_COST, True)]
    for a, b in grid.gaps:
        distance = 0 if b >= lo and a <= hi else min(abs(a - hi), abs(b - lo))
        if distance > reach:
            continue
        end = a if end_at is None else min(max(a, end_at - reach), end_at + reach)
        start = b if start_at is None else min(max(b, start_at - reach), start_at + reach)
        length = PAUSE_CAP / grid.hop if a < 0 or b > n else b - a
        if end <= start:
            cost = (distance - PAUSE_REWARD * min(length, PAUSE_CAP / grid.hop)) * grid.hop
            cuts.append(_Cut(min(max(end, 0), n), min(max(start, 0), n), cost))
    return cuts


def _fits(grid: _Grid, word: tuple[int, int], before: _Cut, after: _Cut, min_steps: int) -> bool:
    """A word from `before.start` to `after.end`: kept as it was, or long enough and with speech."""
    if before.keep and after.keep:
        return True
    shortest = min(min_steps, word[1] - word[0])
    return after.end - before.start >= max(shortest, 1) and grid.speech_in(before.start, after.end)


def _best_path(grid: _Grid, words: list[tuple[int, int]], cuts: list[list[_Cut]], min_steps: int) -> list[_Cut]:
    """The cheapest choice of one cut per boundary under which every word fits (Viterbi)."""
    cost = [c.cost for c in cuts[0]]
    back: list[list[int]] = []
    for i, word in enumerate(words):
        step_cost, step_back = [], []
        for after in cuts[i + 1]:
            options = [
                (cost[k] + after.cost, k)
                for k, before in enumerate(cuts[i])
                if cost[k] < math.inf and _fits(grid, word, before, after, min_steps)
            ]
            best = min(options, default=(math.inf, 0))
            step_cost.append(best[0])
            step_back.append(best[1])
        cost, back = step_cost, [*back, step_back]
    k = min(range(len(cost)), key=cost.__getitem__)
    path = [cuts[-1][k]]
    for i in range(len(words) - 1, -1, -1):
        k = back[i][k]
        path.append(cuts[i][k])
    return path[::-1]


def refine_times(
    raw: list[tuple[float, float]],
    mask: SpeechMask,
    lo: float,
    hi: float,
    max_shift: float = 0.5,
    min_duration: float = 0.04,
) -> list[tuple[float, float]]:
    """Refined (start, end) of consecutive words with `raw` times, kept within [lo, hi] (the window).

    Every boundary (between two words, before the first, after the last) either stays where the
    model put it or moves to a pause within `max_shift`; the choice for the whole window is the
    cheapest (distance moved, less a reward for a longer pause, against a fixed cost for staying
    inside speech) under which every moved word still holds speech and keeps `min_duration` (or its
    raw length, if shorter). A word may keep its raw times (one with no speech always can)."""
    if not raw:
        return []
    grid = _Grid.of(mask, max_shift)
    steps = [(mask.index(s), mask.index(e)) for s, e in raw]
    ends: list[int | None] = [None, *(e for _, e in steps)]
    starts: list[int | None] = [*(s for s, _ in steps), None]
    cuts = [_cuts(grid, e, s) for e, s in zip(ends, starts, strict=True)]
    path = _best_path(grid, steps, cuts, round(min_duration / mask.hop))
    out = []
    for (s, e), before, after in zip(raw, path, path[1:], strict=False):
        start = s if before.keep else min(max(mask.time(before.start), lo), hi)
        end = e if after.keep else min(max(mask.time(after.end), lo), hi)
        out.append((start, end) if end >= start else (s, e))
    return out
