"""Segment languages in the window where a recording's language changes: each segment's language is
detected from its own audio, but a segment of a second or so is too short to tell by."""

from __future__ import annotations

from engine.transcription.decoder import _steady_languages


def test_a_short_segment_between_two_of_one_language_takes_theirs() -> None:
    # multilingual.mp3, 25-60 s: "Verfahren." (0.57 s) between German segments was detected as English
    detected = ["en", "de", "de", "en", "de", "de"]
    seconds = [3.7, 5.3, 4.4, 0.57, 7.6, 5.8]
    assert _steady_languages(detected, seconds) == ["en", "de", "de", "de", "de", "de"]


def test_long_segments_and_segments_at_the_switch_keep_what_was_detected() -> None:
    # a long English sentence between German ones is English; a short one where the language
    # changes has no one language around it; at the window's edges there is one neighbour only
    assert _steady_languages(["de", "en", "de"], [4.0, 2.5, 4.0]) == ["de", "en", "de"]
    assert _steady_languages(["en", "de", "de"], [4.0, 0.8, 4.0]) == ["en", "de", "de"]
    assert _steady_languages(["en", "de", "de"], [0.8, 4.0, 4.0]) == ["en", "de", "de"]
    assert _steady_languages(["de", "de", "en"], [4.0, 4.0, 0.8]) == ["de", "de", "en"]
    assert _steady_languages([], []) == []
