"""Cutting recordings into windows: coverage, length limit, cuts in pauses, streaming = batch."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from engine.transcription.windows import Window, cut_windows, stream_windows

SR = 16000
MAX = 30 * SR


def _noise(n: int, seed: int = 0, scale: float = 0.1) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(n) * scale).astype(np.float32)


def _speechlike(n: int, seed: int = 0) -> np.ndarray:
    """Noise whose loudness wanders (syllables, quiet moments), without any long pause."""
    rng = np.random.default_rng(seed)
    envelope = np.repeat(rng.uniform(0.05, 1.0, n // 1600 + 1), 1600)[:n]
    return (rng.standard_normal(n) * envelope * 0.1).astype(np.float32)


def _check_cover(windows: list[Window], total: int, max_len: int = MAX) -> None:
    assert sum(w.num_samples for w in windows) == total
    position = 0
    for w in windows:
        assert w.start == position, "a gap or an overlap"
        assert 0 < w.num_samples <= max_len
        position = w.end
    assert position == total


LENGTHS = [0, 1, 2, 159, 160, SR, MAX - 1, MAX, MAX + 1, MAX + 160, 2 * MAX, 2 * MAX + 1, 61 * SR + 7, 125 * SR + 3]


@pytest.mark.parametrize("total", LENGTHS)
def test_every_sample_in_exactly_one_window(total: int) -> None:
    samples = _speechlike(total, seed=total)
    windows = cut_windows(samples)
    _check_cover(windows, total)
    if 0 < total <= MAX:
        assert windows == [Window(0, total)]
    if total == 0:
        assert windows == []


def test_cover_on_many_random_lengths_and_settings() -> None:
    rng = np.random.default_rng(7)
    base = np.concatenate([np.zeros(3 * SR, np.float32), _speechlike(600 * SR, seed=1)])
    for _ in range(60):
        total = int(rng.integers(0, len(base)))
        max_seconds = float(rng.choice([30.0, 10.0, 2.5]))
        search = float(rng.uniform(0.0, max_seconds * 1.5))
        windows = cut_windows(base[:total], max_seconds=max_seconds, search_seconds=search)
        _check_cover(windows, total, round(max_seconds * SR))


def test_silent_and_constant_audio_are_cut_within_limits() -> None:
    for samples in (np.zeros(95 * SR, np.float32), np.full(95 * SR, 0.5, np.float32)):
        windows = cut_windows(samples)
        _check_cover(windows, len(samples))
        assert all(w.num_samples >= 25 * SR for w in windows[:-1]), "cuts only inside the search region"


def test_cut_lands_in_the_middle_of_the_silence_gap() -> None:
    # 27.0 s .. 27.8 s is silent; the search region is 25 s .. 30 s.
    samples = _speechlike(70 * SR, seed=3)
    samples[27 * SR : int(27.8 * SR)] = 0.0
    windows = cut_windows(samples)
    assert 27.0 < windows[0].end_seconds < 27.8
    assert windows[0].end_seconds == pytest.approx(27.4, abs=0.02)


def test_the_longest_pause_wins_over_a_short_quieter_one() -> None:
    samples = _speechlike(40 * SR, seed=4)
    samples[int(25.5 * SR) : int(25.56 * SR)] = _noise(int(0.06 * SR), scale=1e-3)  # a 60 ms stop, -60 dB
    samples[int(28.0 * SR) : int(28.6 * SR)] = _noise(int(0.6 * SR), scale=1.5e-3)  # a 600 ms pause, -56.5 dB
    windows = cut_windows(samples)
    assert 28.0 < windows[0].end_seconds < 28.6


def test_cuts_fall_on_the_10ms_grid() -> None:
    windows = cut_windows(_speechlike(200 * SR, seed=5))
    assert len(windows) >= 7
    assert all(w.start % 160 == 0 for w in windows)


def test_a_pause_outside_the_search_region_is_not_used() -> None:
    samples = _speechlike(40 * SR, seed=6)
    samples[10 * SR : 12 * SR] = 0.0
    windows = cut_windows(samples)
    assert windows[0].end_seconds >= 25.0


def test_window_seconds() -> None:
    w = Window(16000, 40000)
    assert (w.start_seconds, w.end_seconds, w.duration_seconds, w.num_samples) == (1.0, 2.5, 1.5, 24000)
    assert w.take(np.arange(50000)).tolist() == list(range(16000, 40000))


def _blocks(samples: np.ndarray, sizes: list[int]) -> Iterator[np.ndarray]:
    position, i = 0, 0
    while position < len(samples):
        size = sizes[i % len(sizes)]
        yield samples[position : position + size]
        position += size
        i += 1


@pytest.mark.parametrize("total", [0, 1, MAX, MAX + 1, 61 * SR + 7, 200 * SR + 11])
@pytest.mark.parametrize("sizes", [[4096], [SR], [7 * SR + 3, 1, 0, 333], [MAX + 5], [10**8]])
def test_streaming_gives_the_same_windows_and_samples_as_batch(total: int, sizes: list[int]) -> None:
    samples = _speechlike(total, seed=total % 97)
    samples[int(total * 0.3) : int(total * 0.3) + SR // 2] = 0.0
    expected = cut_windows(samples)
    got = list(stream_windows(_blocks(samples, sizes)))
    assert [w for w, _ in got] == expected
    for w, part in got:
        assert part.dtype == np.float32
        np.testing.assert_array_equal(part, w.take(samples))


def test_streaming_hands_windows_over_early_and_holds_little() -> None:
    samples = _speechlike(300 * SR, seed=9)
    block = SR
    consumed = 0

    def blocks() -> Iterator[np.ndarray]:
        nonlocal consumed
        for start in range(0, len(samples), block):
            consumed = start + block
            yield samples[start : start + block]

    for window, part in stream_windows(blocks()):
        assert len(part) == window.num_samples
        # Final as soon as more than max_seconds after its start have been read, not later.
        assert consumed - window.start <= MAX + block
