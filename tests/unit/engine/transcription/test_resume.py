"""Where the model passed over speech in a window: the scheduler decodes it again."""

from __future__ import annotations

import numpy as np

from engine.transcription.decoder import DecodedSegment, WindowItem, WindowResult
from engine.transcription.refine import SpeechMask
from engine.transcription.scheduler import _resume_at, _starts_late

SR = 16000


def result(offset: float, ends: list[float], consumed: float, temperature: float = 0.0) -> WindowResult:
    segments = [DecodedSegment(start=e - 2, end=e, text=" words", tokens=[], words=[]) for e in ends]
    return WindowResult(
        offset=offset, duration=26.0, language="de", language_probability=0.9, temperature=temperature,
        avg_logprob=-0.3, compression_ratio=1.2, no_speech_prob=0.01, skipped=False, last_speech=offset,
        segments=segments, consumed=consumed,
    )  # fmt: skip


def mask(offset: float, speech_from: float, speech_to: float) -> SpeechMask:
    times = offset + np.arange(26 * 100) / 100 + 0.005  # the middle of each 10 ms step
    return SpeechMask((times >= speech_from) & (times < speech_to), offset)


ITEM = WindowItem(np.zeros(26 * SR, np.float32), offset=26.0, seek=True)


def test_speech_after_the_text_the_model_closed_early_is_decoded_again() -> None:
    # The model gave 26-29 s and stopped; the window runs to 52 s and there is speech to its end.
    assert _resume_at(ITEM, result(26.0, [29.0], consumed=52.0), mask(26.0, 26.0, 52.0)) == 29.0


def test_a_window_that_ends_in_silence_or_was_left_unfinished_goes_on_as_the_model_says() -> None:
    assert _resume_at(ITEM, result(26.0, [29.0], consumed=52.0), mask(26.0, 26.0, 29.2)) == 52.0  # silence after
    assert _resume_at(ITEM, result(26.0, [40.0], consumed=40.0), mask(26.0, 26.0, 52.0)) == 40.0  # seeks back itself
    assert _resume_at(ITEM, result(26.0, [49.0], consumed=52.0), mask(26.0, 26.0, 52.0)) == 52.0  # closed near the end
    assert _resume_at(ITEM, result(26.0, [], consumed=52.0), mask(26.0, 26.0, 52.0)) == 52.0  # nothing heard


def test_text_that_starts_late_after_previous_text_is_decoded_again_without_it() -> None:
    conditioned = WindowItem(np.zeros(26 * SR, np.float32), offset=26.0, seek=True, previous_tokens=(1, 2, 3))
    late = result(26.0, [40.0], consumed=52.0)  # its text starts at 38 s; speech from 26 s
    assert _starts_late(conditioned, late, mask(26.0, 26.0, 52.0))
    assert _starts_late(conditioned, result(26.0, [], consumed=52.0), mask(26.0, 26.0, 52.0))  # nothing at all
    assert not _starts_late(conditioned, late, mask(26.0, 37.8, 52.0))  # nothing to hear before it
    assert not _starts_late(conditioned, result(26.0, [30.0], consumed=52.0), mask(26.0, 26.0, 52.0))  # on time
    assert not _starts_late(ITEM, late, mask(26.0, 26.0, 52.0))  # no previous text to blame
    # The model could not make out the audio at all (the temperature ladder went past 0.5): the
    # previous text is not to blame either, and another ladder would cost seconds for nothing.
    assert _starts_late(conditioned, result(26.0, [], consumed=52.0, temperature=0.4), mask(26.0, 26.0, 52.0))
    assert not _starts_late(conditioned, result(26.0, [], consumed=52.0, temperature=0.6), mask(26.0, 26.0, 52.0))


def test_a_breath_or_a_word_tail_in_what_was_left_unheard_is_not_worth_another_call() -> None:
    # Half a second of sound after the text closed at 29 s (and 1.5 s, which is worth it).
    assert _resume_at(ITEM, result(26.0, [29.0], consumed=52.0), mask(26.0, 26.0, 30.0)) == 52.0
    assert _resume_at(ITEM, result(26.0, [29.0], consumed=52.0), mask(26.0, 26.0, 31.0)) == 29.0
    conditioned = WindowItem(np.zeros(26 * SR, np.float32), offset=26.0, seek=True, previous_tokens=(1, 2, 3))
    # The previous window's last word ends 0.4 s into this one, then silence until the text at 38 s.
    assert not _starts_late(conditioned, result(26.0, [40.0], consumed=52.0), mask(26.0, 26.0, 26.4))
    assert _starts_late(conditioned, result(26.0, [40.0], consumed=52.0), mask(26.0, 26.0, 27.5))
