"""The hallucination guard's rules on structs: words in non-speech, loops, punctuation, repetitive text."""

from __future__ import annotations

import numpy as np
import pytest

from engine.transcription.decoder import DecodedSegment, DecodedWord, WindowResult
from engine.transcription.guard import collapse_repetitions, compression_ratio, guard_window, repeated_runs
from engine.transcription.refine import SpeechMask

SILENT = np.zeros(0, np.float32)  # samples are not read when a mask is given


def _mask(speech: list[tuple[float, float]], seconds: float = 30.0, offset: float = 0.0) -> SpeechMask:
    flags = np.zeros(round(seconds / 0.01), dtype=bool)
    for a, b in speech:
        flags[round((a - offset) / 0.01) : round((b - offset) / 0.01)] = True
    return SpeechMask(flags, offset)


def _segment(words: list[tuple[str, float, float]], *, timed: bool = True) -> DecodedSegment:
    decoded = [DecodedWord(word=w, start=a, end=b, probability=0.8) for w, a, b in words]
    text = "".join(w for w, _, _ in words)
    return DecodedSegment(
        start=words[0][1], end=words[-1][2], text=text, tokens=[7] * len(words), words=decoded if timed else []
    )


def _result(*segments: DecodedSegment, offset: float = 0.0) -> WindowResult:
    return WindowResult(
        offset=offset,
        duration=30.0,
        language="en",
        language_probability=1.0,
        temperature=0.0,
        avg_logprob=-0.4,
        compression_ratio=1.3,
        no_speech_prob=0.2,
        skipped=False,
        last_speech=offset,
        segments=list(segments),
    )


def _words(text: str, start: float = 1.0, step: float = 0.3) -> list[tuple[str, float, float]]:
    return [(" " + w, start + k * step, start + (k + 1) * step) for k, w in enumerate(text.split())]


def test_compression_ratio_is_faster_whispers() -> None:
    from faster_whisper.transcribe import get_compression_ratio

    for text in ["And so, my fellow Americans", "the " * 40, "x"]:
        assert compression_ratio(text) == pytest.approx(get_compression_ratio(text))
    assert compression_ratio("") == 0.0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("the the the the the cat", "the cat"),
        ("no no no", "no no no"),  # a single word needs four
        ("very very very good", "very very very good"),
        ("I'm sorry I'm sorry I'm sorry I'm sorry okay", "I'm sorry okay"),
        ("thank you thank you", "thank you thank you"),  # a phrase needs three
        ("we go on and on and on and on", "we go on and on"),
        ("a b c a b c a b c a b c d", "a b c d"),
        ("", ""),
    ],
)
def test_repeated_runs_keep_one_occurrence_of_a_loop(text: str, expected: str) -> None:
    keys = text.lower().split()
    drop = {k for a, b in repeated_runs(keys) for k in range(a, b)}
    assert " ".join(w for k, w in enumerate(text.split()) if k not in drop) == expected


def test_a_window_with_no_speech_loses_every_segment_and_keeps_its_signals() -> None:
    result = _result(_segment([(" You", 13.0, 14.4)]))
    guarded = guard_window(result, SILENT, mask=_mask([]))
    assert guarded.segments == [] and guarded.text == "" and guarded.skipped
    assert (guarded.no_speech_prob, guarded.avg_logprob, guarded.compression_ratio) == (0.2, -0.4, 1.3)
    assert result.segments, "the input is untouched"


def test_segments_far_from_speech_and_unsure_words_away_from_it_are_dropped() -> None:
    speech = _segment(_words("ask not what your country can do", 1.0))
    trailing = _segment([(" Thank", 20.0, 20.4), (" you.", 20.4, 20.9)])
    mixed = _segment([(" for", 3.1, 3.3), (" you.", 3.3, 3.6), (" Bye.", 12.0, 12.5)])
    mixed.words[2].probability = 0.2
    result = _result(speech, mixed, trailing)
    guarded = guard_window(result, SILENT, mask=_mask([(1.0, 3.5)]))
    assert [s.text for s in guarded.segments] == [speech.text, " for you."]
    assert guarded.segments[0] is speech, "an untouched segment is the same object, tokens and all"
    rebuilt = guarded.segments[1]
    assert (rebuilt.start, rebuilt.end, rebuilt.tokens) == (3.1, 3.6, [])


def test_a_sure_word_away_from_speech_in_a_segment_with_speech_is_kept() -> None:
    # multilingual.mp3: tiny.en put "software." (p 0.98) 0.8 s after its speech, at 29.86-29.86.
    segment = _segment([(" of", 28.26, 28.52), (" the", 28.52, 29.86), (" software.", 29.86, 29.86)])
    segment.words[2].probability = 0.98
    result = _result(segment)
    assert guard_window(result, SILENT, mask=_mask([(27.92, 29.08), (31.03, 31.53)])) is result


def test_a_word_near_speech_is_kept_though_its_own_span_is_silent() -> None:
    # tiny.en sometimes puts a real word 0.3-0.4 s off, in the pause next to it.
    result = _result(_segment([(" The", 9.34, 9.34), (" train", 9.34, 10.3)]))
    assert guard_window(result, SILENT, mask=_mask([(8.67, 8.95), (9.76, 10.17)])) is result


def test_segments_without_words_are_judged_by_their_span() -> None:
    kept = _segment(_words("hello there", 1.0), timed=False)
    gone = _segment(_words("thank you", 25.0), timed=False)
    guarded = guard_window(_result(kept, gone), SILENT, mask=_mask([(1.0, 1.6)]))
    assert [s.text for s in guarded.segments] == [kept.text]


def test_punctuation_only_and_repetitive_segments_go() -> None:
    dots = _segment([(" .", 1.0, 1.2), (" .", 1.2, 1.4), (" .", 1.4, 1.6), (" .", 1.6, 1.8)])
    loop_text = " " + " ".join(["la di da"] * 30)
    looped = DecodedSegment(start=2.0, end=9.0, text=loop_text, tokens=[1], words=[])
    fine = _segment(_words("and so my fellow americans", 10.0))
    guarded = guard_window(_result(dots, looped, fine), SILENT, mask=_mask([(0.5, 12.0)]))
    assert [s.text for s in guarded.segments] == [" la di da", fine.text]


def test_a_loop_of_words_inside_a_window_is_collapsed() -> None:
    result = _result(_segment(_words("the the the the the the the cat sat", 1.0, 0.2)))
    guarded = guard_window(result, SILENT, mask=_mask([(0.5, 5.0)]))
    assert guarded.text == "the cat sat"
    assert [w.word for w in guarded.segments[0].words] == [" the", " cat", " sat"]


def test_collapse_repetitions_works_across_windows() -> None:
    first = _result(_segment(_words("so we said thank you so much thank you so much", 20.0, 0.5)))
    second = _result(_segment(_words("thank you so much and goodbye", 31.0, 0.4)), offset=30.0)
    untouched = _result(_segment(_words("nothing to see", 61.0)), offset=60.0)
    out = collapse_repetitions([first, second, untouched])
    assert [r.text for r in out] == ["so we said thank you so much", "and goodbye", "nothing to see"]
    assert out[2] is untouched
    assert collapse_repetitions([untouched]) == [untouched]


def test_collapse_repetitions_without_words_collapses_whole_segments() -> None:
    same = [_segment(_words("Thank you.", 20.0 + k), timed=False) for k in range(4)]
    out = collapse_repetitions([_result(*same[:2]), _result(*same[2:], _segment(_words("Bye.", 29.0), timed=False))])
    assert [s.text for r in out for s in r.segments] == [" Thank you.", " Bye."]


def test_collapse_keeps_refined_and_raw_results_aligned() -> None:
    raw = [_result(_segment(_words("go go go go go now", 1.0)))]
    refined = [_result(_segment(_words("go go go go go now", 1.05)))]
    a, b = collapse_repetitions(raw), collapse_repetitions(refined)
    assert [w.word for s in a[0].segments for w in s.words] == [w.word for s in b[0].segments for w in s.words]
