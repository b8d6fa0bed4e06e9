"""How many model calls the scheduler spends on speech the model passes over (a fake model)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np

from engine.transcription.decoder import DecodedSegment, DecodedWord, WindowItem, WindowResult
from engine.transcription.scheduler import WindowScheduler
from engine.transcription.whisper import TranscribeOptions

SR = 16000


def _babble(seconds: float) -> np.ndarray[Any, Any]:
    """Speech-like sound all through: a harmonic buzz under a 4 Hz syllable envelope."""
    t = np.arange(int(seconds * SR)) / SR
    phase = 2 * np.pi * np.cumsum(120 + 10 * np.sin(2 * np.pi * 0.5 * t)) / SR
    buzz = sum(np.sin(k * phase) / k for k in range(1, 21))
    envelope = 0.2 + 0.8 * np.abs(np.sin(2 * np.pi * 2 * t))
    return np.asarray(0.2 * buzz * envelope / np.max(np.abs(buzz)), dtype=np.float32)


def _result(item: WindowItem, heard: tuple[float, float] | None) -> WindowResult:
    end = item.offset + len(item.samples) / SR
    segments = []
    if heard is not None:
        word = DecodedWord(word=" Hello", start=heard[0], end=heard[1], probability=0.9)
        segments = [DecodedSegment(start=heard[0], end=heard[1], text=" Hello", tokens=[1], words=[word])]
    return WindowResult(
        offset=item.offset, duration=end - item.offset, language="en", language_probability=1.0, temperature=0.0,
        avg_logprob=-0.3, compression_ratio=1.0, no_speech_prob=0.1, skipped=False, last_speech=item.offset,
        segments=segments, consumed=end,
    )  # fmt: skip


def test_a_window_decoded_twice_is_not_given_a_third_and_fourth_call_for_what_the_model_cannot_hear() -> None:
    # Crosstalk the model cannot make out: conditioned on the prompt it hears nothing in 20 s of
    # sound; without it, one word at the start. Before, the scheduler went on to decode the rest
    # of the window again, twice (with and without the text), for nothing.
    inner = SimpleNamespace(name="fake", device="cpu", compute_type="int8")
    scheduler = WindowScheduler(inner, autostart=False)  # type: ignore[arg-type]
    calls: list[WindowItem] = []

    def decode_one(item: WindowItem) -> WindowResult:
        calls.append(item)
        conditioned = bool(item.prompt or item.previous_tokens)
        return _result(item, None if conditioned else (item.offset + 1.0, item.offset + 2.0))

    scheduler._decode_one = decode_one  # type: ignore[method-assign]
    result = scheduler.transcribe(_babble(20.0), TranscribeOptions(initial_prompt="A meeting."))
    assert [bool(c.prompt) for c in calls] == [True, False]
    assert [w.word for w in result.words] == ["Hello"]
