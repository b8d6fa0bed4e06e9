"""The speech mask on synthetic signals, and the word-boundary snapping rules on synthetic masks."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest

from engine.transcription.decoder import DecodedSegment, DecodedWord, WindowResult
from engine.transcription.refine import SpeechMask, refine_times, refine_words, speech_mask

SR = 16000
rng = np.random.default_rng(3)


def _noise(seconds: float, rms: float) -> np.ndarray[Any, Any]:
    return (rng.standard_normal(int(seconds * SR)) * rms).astype(np.float32)


def _tone(seconds: float, hz: float = 440.0, peak: float = 0.3) -> np.ndarray[Any, Any]:
    t = np.arange(int(seconds * SR)) / SR
    return (peak * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def _pink(seconds: float) -> np.ndarray[Any, Any]:
    n = int(seconds * SR)
    spectrum = np.fft.rfft(rng.standard_normal(n)) / np.sqrt(np.maximum(np.arange(n // 2 + 1), 1))
    x = np.fft.irfft(spectrum, n)
    return np.asarray(0.3 * x / np.max(np.abs(x)), dtype=np.float32)


def _voice(seconds: float, level: float = 0.2, *, syllable: bool = True) -> np.ndarray[Any, Any]:
    """A speech-like burst: a gliding harmonic buzz (120→180 Hz, 20 harmonics), under a syllable
    envelope (or held level)."""
    t = np.arange(int(seconds * SR)) / SR
    phase = 2 * np.pi * np.cumsum(120 + 60 * t / seconds) / SR
    buzz = sum(np.sin(k * phase) / k for k in range(1, 21))
    envelope = np.sin(np.pi * t / seconds) ** 0.5 * (0.6 + 0.4 * np.sin(2 * np.pi * 4 * t)) if syllable else 1.0
    return np.asarray(level * buzz * envelope / np.max(np.abs(buzz)), dtype=np.float32)


def _join(*parts: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    return np.concatenate(parts).astype(np.float32)


@pytest.mark.parametrize(
    "signal",
    [
        np.zeros(20 * SR, np.float32),
        _noise(20, 10 ** (-60 / 20)),
        _noise(10, 0.1),
        _pink(20),
        _tone(10),
        _tone(5, 1000, 0.9),
        _join(*[_join(_tone(0.5), np.zeros(SR // 2, np.float32)) for _ in range(5)]),  # beeps
    ],
    ids=["digital-silence", "dither-60dB", "white", "pink", "tone-440", "tone-1k", "beeps"],
)
def test_steady_signals_hold_no_speech(signal: np.ndarray[Any, Any]) -> None:
    mask = speech_mask(signal)
    assert not mask.speech.any() and mask.fraction == 0.0 and mask.runs() == []
    assert len(mask.speech) == -(-len(signal) // 160)


def _runs_near(runs: list[tuple[float, float]], expected: list[tuple[float, float]], tolerance: float) -> bool:
    return len(runs) == len(expected) and all(
        abs(a - x) <= tolerance and abs(b - y) <= tolerance for (a, b), (x, y) in zip(runs, expected, strict=True)
    )


@pytest.mark.parametrize("level", [0.3, 0.003], ids=["loud", "quiet-50dB"])
def test_bursts_in_noise_are_found_where_they_are_loud_or_quiet(level: float) -> None:
    floor = _noise(4.1, level * 10 ** (-35 / 20))
    bursts = floor.copy()
    for start, seconds in [(0.5, 0.4), (1.2, 0.25), (2.0, 0.8)]:
        a = int(start * SR)
        bursts[a : a + int(seconds * SR)] += _voice(seconds, level)
    mask = speech_mask(bursts, offset=10.0)
    assert _runs_near(mask.runs(), [(10.5, 10.9), (11.2, 11.45), (12.0, 12.8)], 0.06), mask.runs()
    assert mask.has_speech(10.6, 10.61) and not mask.has_speech(11.0, 11.1)
    assert mask.index(9.0) == 0 and mask.index(99.0) == len(mask.speech)


def test_a_steady_tone_between_words_is_not_speech() -> None:
    signal = _join(np.zeros(SR // 2, np.float32), _voice(0.5), _tone(1.5, 440, 0.2), _voice(0.5), _noise(0.5, 1e-4))
    runs = speech_mask(signal).runs()
    assert _runs_near(runs, [(0.5, 1.0), (2.5, 3.0)], 0.06), runs


def test_hysteresis_keeps_a_quiet_tail_joined_to_its_word() -> None:
    tail = _voice(0.3, 0.2 * 10 ** (-40 / 20), syllable=False)  # under the seed level, over the floor
    word = _voice(0.4, syllable=False)
    signal = _join(_noise(0.5, 1e-4), word, tail, _noise(0.5, 1e-4), tail, _noise(0.5, 1e-4))
    runs = speech_mask(signal).runs()
    assert _runs_near(runs[:1], [(0.5, 1.2)], 0.06), runs
    assert len(runs) == 1, "the same quiet sound on its own, with no loud seed, is not speech"


def _mask(speech: list[tuple[float, float]], seconds: float = 10.0) -> SpeechMask:
    flags = np.zeros(round(seconds / 0.01), dtype=bool)
    for a, b in speech:
        flags[round(a / 0.01) : round(b / 0.01)] = True
    return SpeechMask(flags, 0.0)


def _close(got: list[tuple[float, float]], expected: list[tuple[float, float]]) -> bool:
    return all(abs(a - x) < 1e-6 and abs(b - y) < 1e-6 for (a, b), (x, y) in zip(got, expected, strict=True))


def test_an_end_that_runs_into_a_pause_goes_back_and_the_next_start_comes_forward() -> None:
    mask = _mask([(1.0, 1.5), (1.8, 2.2)])
    got = refine_times([(1.0, 1.74), (1.74, 2.2)], mask, 0.0, 10.0)
    assert _close(got, [(1.0, 1.5), (1.8, 2.2)]), got


def test_a_late_start_and_an_early_end_move_out_to_the_pauses() -> None:
    mask = _mask([(1.0, 1.5), (1.8, 2.2)])
    got = refine_times([(1.1, 1.4), (1.4, 2.1)], mask, 0.0, 10.0)
    assert _close(got, [(1.0, 1.5), (1.8, 2.2)]), got


def test_a_boundary_inside_continuous_speech_stays_where_the_model_put_it() -> None:
    mask = _mask([(1.0, 3.0)])
    raw = [(1.0, 1.62), (1.62, 2.3), (2.3, 3.0)]
    assert _close(refine_times(raw, mask, 0.0, 10.0), raw)


def test_no_edge_moves_more_than_max_shift_and_words_never_cross() -> None:
    mask = _mask([(1.0, 1.5), (4.0, 4.5)])
    got = refine_times([(1.0, 3.9), (3.9, 4.5)], mask, 0.0, 10.0, max_shift=0.5)
    assert _close(got, [(1.0, 3.4), (4.0, 4.5)]), got
    raw = [(0.9, 1.3), (1.3, 1.31), (1.31, 1.7), (2.5, 2.6)]
    got = refine_times(raw, _mask([(1.0, 1.2), (1.25, 1.6)]), 0.0, 10.0)
    assert all(b[0] >= a[1] for a, b in itertools.pairwise(got))
    assert all(abs(x - y) <= 0.5 + 1e-9 for r, g in zip(raw, got, strict=True) for x, y in zip(r, g, strict=True))


def test_a_word_is_never_made_shorter_than_40_ms() -> None:
    mask = _mask([(1.0, 1.02), (1.2, 1.6)])
    got = refine_times([(0.9, 1.15), (1.15, 1.6)], mask, 0.0, 10.0)
    assert got[0][1] - got[0][0] >= 0.04 - 1e-9, got


def test_a_word_without_speech_keeps_its_times() -> None:
    mask = _mask([(1.0, 1.5)])
    raw = [(1.0, 1.5), (3.0, 3.4)]
    assert _close(refine_times(raw, mask, 0.0, 10.0), raw)


def test_times_stay_within_the_window() -> None:
    mask = SpeechMask(np.ones(200, dtype=bool), 20.0)
    got = refine_times([(20.3, 20.9), (20.9, 21.9)], mask, 20.0, 22.0)
    assert all(20.0 <= a <= b <= 22.0 for a, b in got), got


def _result(words: list[tuple[str, float, float]], offset: float = 0.0) -> WindowResult:
    decoded = [DecodedWord(word=w, start=a, end=b, probability=0.9) for w, a, b in words]
    segment = DecodedSegment(
        start=decoded[0].start, end=decoded[-1].end, text="".join(w.word for w in decoded), tokens=[1, 2], words=decoded
    )
    return WindowResult(
        offset=offset,
        duration=10.0,
        language="en",
        language_probability=1.0,
        temperature=0.0,
        avg_logprob=-0.3,
        compression_ratio=1.2,
        no_speech_prob=0.01,
        skipped=False,
        last_speech=offset,
        segments=[segment],
    )


def test_refine_words_moves_only_times_and_leaves_its_input_as_it_was() -> None:
    signal = _join(_noise(1.0, 1e-4), _voice(0.5), _noise(0.3, 1e-4), _voice(0.4), _noise(8.0, 1e-4))
    result = _result([(" Hello", 40.9, 41.75), (" there.", 41.75, 42.4)], offset=40.0)
    before = [(w.start, w.end) for w in result.segments[0].words]
    refined = refine_words(result, signal)
    words = refined.segments[0].words
    assert [(w.start, w.end) for w in result.segments[0].words] == before, "the raw result is untouched"
    assert abs(words[0].end - 41.5) <= 0.03 and abs(words[1].start - 41.8) <= 0.03, words
    assert refined.text == result.text and refined.segments[0].tokens == [1, 2]
    assert [w.probability for w in words] == [0.9, 0.9]
    assert (refined.segments[0].start, refined.segments[0].end) == (words[0].start, words[-1].end)


def test_refine_words_without_words_returns_the_result() -> None:
    result = _result([(" Hi", 1.0, 1.5)])
    empty = WindowResult(**{**{f: getattr(result, f) for f in result.__struct_fields__}, "segments": []})
    assert refine_words(empty, np.zeros(SR, np.float32)) is empty
