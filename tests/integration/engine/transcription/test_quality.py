"""The hallucination guard and word-boundary refinement on the bundled tiny.en: no text for
silence, noise or a tone; speech keeps its text exactly; word times move onto speech."""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import models
from benchmarks.wer import wer
from engine.transcription.audio import decode
from engine.transcription.decoder import WindowDecoder, WindowItem, WindowResult
from engine.transcription.guard import collapse_repetitions, guard_window
from engine.transcription.refine import refine_words, speech_mask
from engine.transcription.whisper import WhisperTranscriber
from tests.conftest import require_binary

pytestmark = pytest.mark.integration

SR = 16000
SPEECH = ["jfk.flac", "espeak_1.wav", "espeak_2.wav", "espeak_3.wav"]
rng = np.random.default_rng(14)


def _pink(seconds: float) -> np.ndarray[Any, Any]:
    n = int(seconds * SR)
    spectrum = np.fft.rfft(rng.standard_normal(n)) / np.sqrt(np.maximum(np.arange(n // 2 + 1), 1))
    x = np.fft.irfft(spectrum, n)
    return np.asarray(0.3 * x / np.max(np.abs(x)), dtype=np.float32)


def _tone(seconds: float, hz: float, peak: float) -> np.ndarray[Any, Any]:
    return (peak * np.sin(2 * np.pi * hz * np.arange(int(seconds * SR)) / SR)).astype(np.float32)


NOISE = {
    "digital silence 20 s": np.zeros(20 * SR, np.float32),
    "-60 dBFS dither 20 s": (rng.standard_normal(20 * SR) * 10 ** (-60 / 20)).astype(np.float32),
    "pink noise 20 s": _pink(20),
    "pink noise 3 s": _pink(3),
    "440 Hz tone 10 s": _tone(10, 440, 0.3),
    "1 kHz tone 5 s": _tone(5, 1000, 0.5),
}


@pytest.fixture(scope="module")
def decoded(audio_dir: Path) -> dict[str, tuple[np.ndarray[Any, Any], WindowResult]]:
    """Every clip decoded once, in one batch (the expensive part of this module)."""
    model = WhisperTranscriber(models.resolve("tiny.en"), name="tiny.en", cpu_threads=2).model
    clips = {**NOISE, **{name: decode(audio_dir / name) for name in SPEECH}}
    results = WindowDecoder(model).decode([WindowItem(samples, 5.0) for samples in clips.values()])
    return {name: (samples, result) for (name, samples), result in zip(clips.items(), results, strict=True)}


def test_silence_noise_and_tones_give_no_text(decoded: dict[str, tuple[np.ndarray[Any, Any], WindowResult]]) -> None:
    raw = {name: decoded[name][1].text for name in NOISE}
    assert any(raw.values()), f"the model writes something for some of these: {raw}"
    for name in NOISE:
        samples, result = decoded[name]
        guarded = guard_window(result, samples)
        assert guarded.text == "" and guarded.segments == [], (name, raw[name])
        assert guarded.no_speech_prob == result.no_speech_prob, "the window keeps its signals"


def test_speech_keeps_its_text_exactly(decoded: dict[str, tuple[np.ndarray[Any, Any], WindowResult]]) -> None:
    for name in SPEECH:
        samples, result = decoded[name]
        mask = speech_mask(samples, offset=result.offset)
        guarded = guard_window(result, samples, mask=mask)
        refined = refine_words(guarded, samples, mask=mask)
        assert result.text and refined.text == guarded.text == result.text, name
        assert wer(result.text, refined.text) == 0.0
        [polished] = collapse_repetitions([refined])
        assert polished.text == result.text


def _check_refined(raw: list[Any], refined: list[Any], lo: float, hi: float) -> None:
    for a, b in itertools.pairwise(refined):
        assert a.end <= b.start + 1e-9, "refined words are in order and never overlap"
    for k, (r, w) in enumerate(zip(raw, refined, strict=True)):
        assert w.word == r.word and w.probability == r.probability
        assert lo <= w.start <= w.end <= hi
        assert abs(w.start - r.start) <= 0.5 + 1e-9 and abs(w.end - r.end) <= 0.5 + 1e-9
        before = raw[k - 1].start if k else lo
        after = raw[k + 1].end if k + 1 < len(raw) else hi
        assert before <= w.start and w.end <= after, "within its raw neighbours"


def test_refined_word_times_stay_within_their_raw_neighbours(
    decoded: dict[str, tuple[np.ndarray[Any, Any], WindowResult]],
) -> None:
    moved_ends = []
    for name in SPEECH:
        samples, result = decoded[name]
        refined = refine_words(result, samples)
        raw_words = [w for s in result.segments for w in s.words]
        words = [w for s in refined.segments for w in s.words]
        _check_refined(raw_words, words, result.offset, result.offset + result.duration)
        moved_ends += [w.end - r.end for r, w in zip(raw_words, words, strict=True)]
        mask = speech_mask(samples, offset=result.offset)
        on_speech = [mask.has_speech(w.start, w.end) for w in words]
        assert all(on_speech), name
    assert np.mean(moved_ends) < 0, "ends come back out of the pauses they ran into"


def test_the_timing_benchmark_beats_the_raw_model_on_two_clips() -> None:
    require_binary("espeak-ng")
    assert shutil.which("espeak-ng")
    from benchmarks import timing

    clips = timing.build_clips(2, seed=5)
    model = WhisperTranscriber(models.resolve("tiny.en"), name="tiny.en", cpu_threads=2).model
    raw = WindowDecoder(model).decode([WindowItem(c.samples) for c in clips])
    scores = timing.evaluate(clips, raw)
    (before, raw_wer), (after, refined_wer) = scores["raw"], scores["refined"]
    assert refined_wer == raw_wer and after.matched == before.matched >= 30
    assert after.starts_within >= max(before.starts_within, 0.8), (before, after)
    assert after.ends_within >= max(before.ends_within, 0.8), (before, after)
