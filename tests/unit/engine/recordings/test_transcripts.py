"""The per-recording language summary."""

from __future__ import annotations

from engine.recordings.languages import LANGUAGES
from engine.recordings.transcripts import Segment, language_summary


def _segment(start: float, end: float, language: str | None, text: str = "words") -> Segment:
    return Segment(id=0, start=start, end=end, text=text, avg_logprob=-0.2, no_speech_prob=0.1, language=language)


def test_languages_are_ranked_by_speech_time_with_names_and_counts() -> None:
    segments = [_segment(0, 4, "en"), _segment(4, 6, "en"), _segment(6, 20, "de"), _segment(20, 21, "xx")]
    summary = language_summary(segments, LANGUAGES)
    assert [(s.language_code, s.language, s.seconds, s.segments) for s in summary] == [
        ("de", "german", 14.0, 1),
        ("en", "english", 6.0, 2),
        ("xx", "xx", 1.0, 1),
    ]


def test_segments_without_language_or_text_count_for_nothing() -> None:
    assert language_summary([_segment(0, 3, None), _segment(3, 5, "en", text="")], LANGUAGES) == []
