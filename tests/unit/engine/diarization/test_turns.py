"""engine.diarization.turns: raw backend turns are tidied (merged, dropped, renumbered), and a
speaker count is read into clustering bounds or refused."""

from __future__ import annotations

import pytest

from engine.diarization import SpeakerCount, SpeakerTurn, clean_turns
from engine.diarization.turns import count_bounds
from engine.errors import InvalidParameter


def test_speakers_are_numbered_from_one_in_order_of_first_appearance() -> None:
    raw = [(5.0, 6.0, 7), (0.0, 1.0, 3), (2.0, 3.0, 0), (4.0, 4.5, 3)]
    assert clean_turns(raw) == [
        SpeakerTurn(0.0, 1.0, 1),
        SpeakerTurn(2.0, 3.0, 2),
        SpeakerTurn(4.0, 4.5, 1),
        SpeakerTurn(5.0, 6.0, 3),
    ]


def test_one_speakers_turns_with_a_short_pause_between_are_merged() -> None:
    assert clean_turns([(0.0, 1.0, 0), (1.2, 2.0, 0)]) == [SpeakerTurn(0.0, 2.0, 1)]
    # a pause of 0.3 s or more is kept
    assert clean_turns([(0.0, 1.0, 0), (1.35, 2.0, 0)]) == [SpeakerTurn(0.0, 1.0, 1), SpeakerTurn(1.35, 2.0, 1)]


def test_no_merge_across_another_speakers_turn_in_the_pause() -> None:
    raw = [(0.0, 1.0, 0), (1.02, 1.22, 1), (1.25, 2.0, 0)]
    assert clean_turns(raw) == [SpeakerTurn(0.0, 1.0, 1), SpeakerTurn(1.02, 1.22, 2), SpeakerTurn(1.25, 2.0, 1)]


def test_a_blip_of_another_speaker_does_not_stop_a_merge_and_is_dropped() -> None:
    raw = [(0.0, 1.0, 0), (1.05, 1.1, 1), (1.2, 2.0, 0)]
    assert clean_turns(raw) == [SpeakerTurn(0.0, 2.0, 1)]


def test_turns_shorter_than_a_tenth_of_a_second_are_dropped_and_do_not_take_a_number() -> None:
    raw = [(0.0, 0.05, 9), (1.0, 2.0, 4), (3.0, 3.09, 5), (4.0, 5.0, 6)]
    assert clean_turns(raw) == [SpeakerTurn(1.0, 2.0, 1), SpeakerTurn(4.0, 5.0, 2)]


def test_overlapping_turns_of_two_speakers_stay_and_come_sorted_by_start() -> None:
    raw = [(2.0, 4.0, 1), (0.0, 3.0, 0)]
    assert clean_turns(raw) == [SpeakerTurn(0.0, 3.0, 1), SpeakerTurn(2.0, 4.0, 2)]


def test_empty_and_inverted_spans_give_nothing() -> None:
    assert clean_turns([]) == []
    assert clean_turns([(2.0, 1.0, 0), (1.0, 1.0, 0)]) == []


def test_turn_times_are_rounded_to_the_millisecond() -> None:
    assert clean_turns([(0.12345, 1.98765, 0)]) == [SpeakerTurn(0.123, 1.988, 1)]


@pytest.mark.parametrize(
    ("count", "found", "bounds"),
    [
        (SpeakerCount(), 10, (1, 10)),
        (SpeakerCount(expected=2), 10, (2, 2)),
        (SpeakerCount(minimum=2, maximum=4), 10, (2, 4)),
        (SpeakerCount(minimum=3), 10, (3, 10)),
        (SpeakerCount(maximum=1), 10, (1, 1)),
        (SpeakerCount(expected=5), 3, (3, 3)),  # never more groups than voice samples
        (SpeakerCount(), 0, (1, 1)),
        (SpeakerCount(expected=2, minimum=1, maximum=3), 10, (2, 2)),
    ],
)
def test_a_count_becomes_clustering_bounds(count: SpeakerCount, found: int, bounds: tuple[int, int]) -> None:
    assert count_bounds(count, found) == bounds


@pytest.mark.parametrize(
    "count",
    [
        SpeakerCount(expected=0),
        SpeakerCount(minimum=-1),
        SpeakerCount(maximum=0),
        SpeakerCount(minimum=4, maximum=2),
        SpeakerCount(expected=5, maximum=3),
        SpeakerCount(expected=1, minimum=2),
    ],
)
def test_a_count_that_contradicts_itself_is_an_invalid_parameter(count: SpeakerCount) -> None:
    with pytest.raises(InvalidParameter):
        count_bounds(count, 10)
