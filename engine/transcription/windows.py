"""Cutting a recording into model windows: where each window of at most 30 s begins and ends.

This module owns the cutting rule, and nothing else (pure numpy, no model):

- every sample of the recording lies in exactly one window: no gaps, no overlap, nothing dropped;
- no window is longer than `max_seconds`; a recording no longer than that is one window;
- a longer recording is cut, window after window, inside the last `search_seconds` before each
  limit, in the middle of the longest run of quiet frames (short-time RMS energy within
  `quiet_db` of the quietest frame there): between words, in the longest pause, where there is one.

`cut_windows` cuts samples already in memory; `stream_windows` cuts a stream of sample blocks and
hands each window over as soon as it is final, holding at most about `max_seconds` plus one block,
so that memory stays flat however long the recording is. Both place the same cuts.

With the defaults (20 ms frames; limits in whole 10 ms steps) every cut falls on a 10 ms boundary,
the time grid of Whisper's features and timestamps.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["DEFAULT_SAMPLE_RATE", "Window", "cut_windows", "stream_windows"]

DEFAULT_SAMPLE_RATE = 16000
_FLOOR = 1e-10
"""Energy floor (-100 dB): digital silence is very quiet, not minus infinity."""


@dataclass(frozen=True, slots=True)
class Window:
    """Samples [start, end) of a recording: indices into the whole recording."""

    start: int
    end: int
    sample_rate: int = DEFAULT_SAMPLE_RATE

    @property
    def num_samples(self) -> int:
        return self.end - self.start

    @property
    def start_seconds(self) -> float:
        return self.start / self.sample_rate

    @property
    def end_seconds(self) -> float:
        return self.end / self.sample_rate

    @property
    def duration_seconds(self) -> float:
        return self.num_samples / self.sample_rate

    def take(self, samples: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        """This window's part of the whole recording's `samples` (a view)."""
        return samples[self.start : self.end]


@dataclass(frozen=True, slots=True)
class _Limits:
    max_len: int
    search_len: int
    frame_len: int
    quiet_db: float
    sample_rate: int


def _limits(
    sample_rate: int, max_seconds: float, search_seconds: float, frame_seconds: float, quiet_db: float
) -> _Limits:
    if sample_rate <= 0 or max_seconds <= 0:
        raise ValueError("sample_rate and max_seconds must be positive")
    max_len = round(max_seconds * sample_rate)
    if max_len < 2:
        raise ValueError("max_seconds is shorter than two samples")
    # The search never reaches the window's first sample: every window has at least one sample.
    search_len = min(max(round(search_seconds * sample_rate), 0), max_len - 1)
    frame_len = max(round(frame_seconds * sample_rate), 1)
    return _Limits(max_len, search_len, frame_len, quiet_db, sample_rate)


def _next_cut(head: np.ndarray[Any, Any], lim: _Limits) -> int:
    """Where to end the window that starts at head[0]; `head` is its first `max_len` samples.

    The cut is in the middle of the longest run of quiet frames in the last `search_len` samples
    (the latest such run on a tie). With no whole frame to look at, the cut is at the limit."""
    count = lim.search_len // lim.frame_len
    if count == 0:
        return lim.max_len
    # Frames end exactly at the limit, so a cut can land right on it.
    first = lim.max_len - count * lim.frame_len
    frames = np.asarray(head[first : lim.max_len], dtype=np.float64).reshape(count, lim.frame_len)
    energy_db = 10.0 * np.log10(np.mean(frames * frames, axis=1) + _FLOOR)
    quiet = energy_db <= energy_db.min() + lim.quiet_db
    edges = np.flatnonzero(np.diff(np.concatenate(([0], quiet.astype(np.int8), [0]))))
    starts, ends = edges[::2], edges[1::2]
    lengths = ends - starts
    best = int(np.flatnonzero(lengths == lengths.max())[-1])
    middle = first + int(starts[best]) * lim.frame_len + (int(lengths[best]) * lim.frame_len) // 2
    return middle


def cut_windows(
    samples: np.ndarray[Any, Any],
    *,
    sample_rate: int = DEFAULT_SAMPLE_RATE,
    max_seconds: float = 30.0,
    search_seconds: float = 5.0,
    frame_seconds: float = 0.02,
    quiet_db: float = 6.0,
) -> list[Window]:
    """The windows of a recording in memory, in order; no samples, no windows."""
    lim = _limits(sample_rate, max_seconds, search_seconds, frame_seconds, quiet_db)
    total = len(samples)
    windows: list[Window] = []
    start = 0
    while total - start > lim.max_len:
        cut = _next_cut(samples[start : start + lim.max_len], lim)
        windows.append(Window(start, start + cut, sample_rate))
        start += cut
    if total > start:
        windows.append(Window(start, total, sample_rate))
    return windows


def stream_windows(
    blocks: Iterable[np.ndarray[Any, Any]],
    *,
    sample_rate: int = DEFAULT_SAMPLE_RATE,
    max_seconds: float = 30.0,
    search_seconds: float = 5.0,
    frame_seconds: float = 0.02,
    quiet_db: float = 6.0,
) -> Iterator[tuple[Window, np.ndarray[Any, np.dtype[np.float32]]]]:
    """Windows of a stream of sample blocks, with their float32 samples, each as soon as it is final.

    The same cuts as `cut_windows` on the concatenated blocks. A window is final once more than
    `max_seconds` are held after its start (or the stream has ended), so at most about
    `max_seconds` plus one block is held at a time."""
    lim = _limits(sample_rate, max_seconds, search_seconds, frame_seconds, quiet_db)
    pending: list[np.ndarray[Any, np.dtype[np.float32]]] = []
    held = 0
    start = 0
    for block in blocks:
        part = np.asarray(block, dtype=np.float32).reshape(-1)
        if part.size == 0:
            continue
        pending.append(part)
        held += part.size
        if held <= lim.max_len:
            continue
        buffer = np.concatenate(pending)
        while len(buffer) > lim.max_len:
            cut = _next_cut(buffer[: lim.max_len], lim)
            yield Window(start, start + cut, sample_rate), buffer[:cut]
            start += cut
            buffer = buffer[cut:]
        # A copy: the rest must not keep the whole concatenation (and the windows given out) alive.
        pending, held = [buffer.copy()], len(buffer)
    if held:
        yield Window(start, start + held, sample_rate), np.concatenate(pending)
