"""engine.diarization.clustering on synthetic voices: groups of embeddings around a few directions,
as CAM++ gives for a few speakers; the count is found, or taken from the caller's bounds."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from engine.diarization import clustering
from engine.diarization.clustering import cluster_speakers, merge_groups

DIM = 192


def voices(sizes: list[int], spread: float = 0.6, seed: int = 1, centers: np.ndarray[Any, Any] | None = None) -> Any:
    """Rows for speakers of `sizes` pieces each, in order (speaker 0's pieces first, …)."""
    rng = np.random.default_rng(seed)
    if centers is None:
        centers = rng.standard_normal((len(sizes), DIM))
    unit = centers / np.linalg.norm(centers, axis=1, keepdims=True)
    rows = [unit[i] + spread * rng.standard_normal((size, DIM)) / np.sqrt(DIM) for i, size in enumerate(sizes)]
    return np.concatenate(rows)


def truth(sizes: list[int]) -> Any:
    return np.repeat(np.arange(len(sizes)), sizes)


@pytest.mark.parametrize("sizes", [[30], [20, 25], [15, 10, 20], [12, 12, 12, 12]])
def test_the_number_of_speakers_is_found_without_being_told(sizes: list[int]) -> None:
    labels = cluster_speakers(voices(sizes), (1, 100))
    assert labels.tolist() == truth(sizes).tolist()


def test_labels_are_numbered_in_order_of_first_piece() -> None:
    sizes = [10, 10]
    rows = voices(sizes)[::-1]  # speaker 1's pieces come first now
    assert cluster_speakers(rows, (1, 100)).tolist() == truth(sizes).tolist()


def test_an_expected_count_is_met_both_ways() -> None:
    two = voices([20, 20])
    assert len(set(cluster_speakers(two, (3, 3)).tolist())) == 3
    assert cluster_speakers(two, (1, 1)).tolist() == [0] * 40


def test_a_maximum_caps_and_a_minimum_raises_the_count() -> None:
    four = voices([10, 10, 10, 10])
    capped = cluster_speakers(four, (1, 2))
    assert len(set(capped.tolist())) == 2
    # merging to two never splits a speaker
    for speaker in range(4):
        assert len(set(capped[truth([10] * 4) == speaker].tolist())) == 1
    assert len(set(cluster_speakers(voices([40]), (2, 5)).tolist())) == 2


def test_two_very_alike_voices_are_one_speaker_unless_the_caller_says_two() -> None:
    rng = np.random.default_rng(7)
    base = rng.standard_normal(DIM)
    near = base + 0.3 * np.linalg.norm(base) * rng.standard_normal(DIM) / np.sqrt(DIM)  # cosine about 0.95
    rows = voices([15, 15], spread=0.1, centers=np.stack([base, near]))
    assert len(set(cluster_speakers(rows, (1, 10)).tolist())) == 1
    assert cluster_speakers(rows, (2, 2)).tolist() == truth([15, 15]).tolist()


def test_a_stray_piece_or_two_joins_the_nearest_speaker() -> None:
    rows = voices([20, 20, 2])
    labels = cluster_speakers(rows, (1, 10))
    assert labels[:40].tolist() == truth([20, 20]).tolist()
    assert set(labels[40:].tolist()) <= {0, 1}
    # ... unless the caller's minimum needs it as a speaker of its own
    assert len(set(cluster_speakers(rows, (3, 10)).tolist())) == 3


def test_no_rows_and_one_row() -> None:
    assert cluster_speakers(np.zeros((0, DIM)), (1, 5)).tolist() == []
    assert cluster_speakers(voices([1]), (1, 5)).tolist() == [0]


def test_many_pieces_are_clustered_on_a_subsample_and_all_get_a_speaker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clustering, "MAX_CLUSTERED", 40)
    sizes = [60, 50]
    assert cluster_speakers(voices(sizes), (1, 10)).tolist() == truth(sizes).tolist()


def test_the_same_input_gives_the_same_labels() -> None:
    rows = voices([9, 14, 11], spread=0.9)
    first = cluster_speakers(rows, (1, 10))
    assert np.array_equal(first, cluster_speakers(rows.copy(), (1, 10)))


def test_centroid_merging_stops_at_the_similarity_and_honours_the_bounds() -> None:
    unit = np.eye(4)  # four orthogonal directions: similarity 0 between any two
    assert len(set(merge_groups(unit, 1, 4, 0.5).tolist())) == 4
    assert len(set(merge_groups(unit, 1, 2, 0.5).tolist())) == 2
    same = np.ones((3, 4)) / 2.0
    assert len(set(merge_groups(same, 1, 3, 0.5).tolist())) == 1
    assert len(set(merge_groups(same, 3, 3, 0.5).tolist())) == 3


def test_spectral_clustering_finds_no_more_groups_than_groups_of_the_smallest_size() -> None:
    rng = np.random.default_rng(0)
    pairs = np.repeat(rng.normal(size=(6, 16)), 2, axis=0) + 0.05 * rng.normal(size=(12, 16))
    unit = pairs / np.linalg.norm(pairs, axis=1, keepdims=True)  # six tight pairs of pieces
    assert len(np.unique(clustering.spectral_labels(unit, (1, 12), min_cluster_size=1))) > 3
    assert len(np.unique(clustering.spectral_labels(unit, (1, 12), min_cluster_size=4))) <= 3


def test_a_piece_said_again_elsewhere_is_a_copy_of_the_first_but_not_of_a_piece_it_overlaps() -> None:
    rng = np.random.default_rng(3)
    words = rng.standard_normal((3, DIM))
    unit = words / np.linalg.norm(words, axis=1, keepdims=True)
    rows = np.concatenate([unit, unit + 0.01 * rng.standard_normal((3, DIM)) / np.sqrt(DIM)])
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    spans = np.array([[0.0, 1.5], [0.6, 2.1], [3.0, 4.5], [30.0, 31.5], [30.6, 32.1], [33.0, 34.5]])
    assert clustering.copies(rows, spans).tolist() == [0, 1, 2, 0, 1, 2]
    # the same three, all overlapping each other in time: none copies another
    assert clustering.copies(rows[:1].repeat(3, axis=0), np.array([[0.0, 1.5], [0.6, 2.1], [1.2, 2.7]])).tolist() == [
        0,
        1,
        2,
    ]
    # unlike pieces are never copies
    assert clustering.copies(unit, spans[[0, 2, 5]]).tolist() == [0, 1, 2]


def joined_to_itself(times: int, seed: int = 5) -> tuple[Any, Any]:
    """Two voices, 14 pieces each, 1.5 s long every 0.6 s (so each overlaps the next two and shares
    their words: a piece is its voice plus the words of the three 0.6 s steps it covers), the whole
    said `times` times, 30 s apart. Rows and their (start, end) spans."""
    rng = np.random.default_rng(seed)
    voice = rng.standard_normal((2, DIM))
    voice /= np.linalg.norm(voice, axis=1, keepdims=True)
    words = rng.standard_normal((30, DIM)) / np.sqrt(DIM)
    said = np.stack([voice[i // 14] + 0.4 * (words[i] + words[i + 1] + words[i + 2]) for i in range(28)])
    starts = np.concatenate([np.arange(14) * 0.6, 12 + np.arange(14) * 0.6])
    rows = np.concatenate([said] * times) + 0.02 * rng.standard_normal((28 * times, DIM)) / np.sqrt(DIM)
    begin = np.concatenate([starts + 30 * copy for copy in range(times)])
    return rows, np.stack([begin, begin + 1.5], axis=1)


@pytest.mark.parametrize("times", [1, 2, 4])
def test_a_recording_joined_to_itself_keeps_the_speakers_of_one_copy(times: int) -> None:
    # Said again, a piece is nearer its copy than any other piece of its voice; without the copies
    # set aside, the pieces grouped by what was said (x2: 5 groups, x4: 5; once: 2).
    rows, spans = joined_to_itself(times)
    assert cluster_speakers(rows, (1, 15), spans=spans).tolist() == np.tile(np.repeat([0, 1], 14), times).tolist()
