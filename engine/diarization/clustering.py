"""Grouping voice samples (speaker embeddings of short pieces of speech) into speakers.

Agglomerative clustering with centroid linkage on cosine similarity: every piece starts as its own
group, and the two groups whose mean embeddings are the most alike merge, while that similarity is at
least `MERGE_SIMILARITY` (or while the caller's count asks for fewer groups). Means of many pieces are
far steadier than single pieces, so the stopping rule is a property of the voice and not of the
number of pieces: with CAM++, the means of two halves of one speaker's pieces measured 0.90-0.97 on
the shared recordings, the means of two different speakers 0.45-0.88 (0.63-0.73 for the two-speaker
recordings). Groups with fewer than `MIN_CLUSTER_SIZE` pieces then join the nearest larger group: a
speaker needs a few seconds of speech to be told apart.

Recordings built by joining copies of one recording (the usual way to make a long test file) hold the
same words said again: a piece and its copy elsewhere are nearer each other than any two pieces of
different words of one voice, so they would split the voice by content. Copies (pieces that do not
overlap in time and are at least `COPY_SIMILARITY` alike) are clustered once and share the label.

Pure numpy, so it runs (and is tested) without the diarization extra."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "COPY_SIMILARITY",
    "MAX_CLUSTERED",
    "MERGE_SIMILARITY",
    "MIN_CLUSTER_SIZE",
    "cluster_speakers",
    "copies",
    "merge_groups",
]

MERGE_SIMILARITY = 0.8
"""Groups whose mean embeddings have at least this cosine similarity are one speaker."""

MIN_CLUSTER_SIZE = 4
"""Groups of fewer pieces join the nearest larger group (unless the caller's minimum count needs them)."""

PRUNE_KEEP = 0.15
"""In the spectral graph each piece keeps its links to this share of the others (at least MIN_NEIGHBOURS).
With 1.2 % (3D-Speaker's value for short recordings) a long recording's pieces linked mostly to the
pieces of the same words said elsewhere and the graph fell apart by content: sample.wav repeated
for 30 minutes gave 1 speaker (48 % DER), 5 minutes 1 (48 %); with 10 %, 2 (5.1 %) and 3 (8.9 %);
with 15 % and copies set aside, 3 (8.1 %) and 3 (8.9 %), and four people in 90 s 9.3 % for 10.6 %.
Above 15 % a speaker with few pieces links to the others' (four people: 3 speakers at 20 %).
The 30 s recordings' labels are the same at 5-30 % (benchmarks/README.md)."""
MIN_NEIGHBOURS = 6
MIN_TO_CLUSTER = 6
"""Fewer pieces than this are one group before merging."""
MAX_SPEAKERS = 15
"""The most groups spectral clustering may find when the caller sets no maximum."""

COPY_SIMILARITY = 0.85
"""Two pieces that do not overlap in time and are at least this alike are the same sound said twice
(a recording joined to itself): clustered once. Measured, for each piece, its best match among the
pieces not overlapping it: 0.57-0.82 (10th-90th percentile) in the shared 30 s recordings, 0.96-0.99
between exact copies, 0.82-0.96 between copies re-cut, re-scaled and noised. Two pieces this alike
are one voice in any case, so a real recording loses nothing by it (the 30 s files' labels are the
same with and without)."""

MAX_CLUSTERED = 1500
"""Beyond this many pieces an even subsample is clustered and the rest join the nearest speaker
(clustering is quadratic in memory and time); 1500 pieces are 15 minutes of speech."""

Floats = np.ndarray[Any, np.dtype[np.float64]]
Labels = np.ndarray[Any, np.dtype[np.int64]]


def _unit(vectors: np.ndarray[Any, Any]) -> Floats:
    data = np.asarray(vectors, dtype=np.float64)
    return np.asarray(data / np.maximum(np.linalg.norm(data, axis=-1, keepdims=True), 1e-12), dtype=np.float64)


def cluster_speakers(
    embeddings: np.ndarray[Any, Any],
    bounds: tuple[int, int],
    similarity: float = MERGE_SIMILARITY,
    min_cluster_size: int = MIN_CLUSTER_SIZE,
    spans: np.ndarray[Any, Any] | None = None,
) -> Labels:
    """A speaker label 0..k-1 per embedding (row), numbered in order of first row, with
    `bounds[0] <= k <= bounds[1]` whenever there are at least `bounds[0]` rows.

    `spans`: each row's (start, end) in seconds; with them, copies (`copies`) are clustered once."""
    n = len(embeddings)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    low, high = max(bounds[0], 1), max(bounds[1], 1)
    unit = _unit(embeddings)
    sample = np.unique(np.linspace(0, n - 1, min(n, MAX_CLUSTERED)).round().astype(np.int64))
    original = np.arange(len(sample)) if spans is None else copies(unit[sample], np.asarray(spans)[sample])
    kept = np.flatnonzero(original == np.arange(len(sample)))
    points = unit[sample][kept]
    if len(points) >= MIN_TO_CLUSTER:
        labels = spectral_labels(points, (low, high), min_cluster_size)
    else:
        labels = np.zeros(len(points), np.int64)
    labels = _absorb_small(points, labels, low, min_cluster_size)
    labels = _merge_labels(points, labels, low, high, similarity)
    labels = labels[np.searchsorted(kept, original)]
    if len(sample) < n:
        labels = _nearest_centroid(unit, unit[sample], labels)
    return _renumber(labels)


def copies(unit: np.ndarray[Any, Any], spans: np.ndarray[Any, Any], similarity: float = COPY_SIMILARITY) -> Labels:
    """For each row, the row it copies: the earlier row it is most alike among those not overlapping
    it in time and not copies themselves, where that likeness is at least `similarity`; itself if none."""
    n = len(unit)
    likeness = np.asarray(unit @ unit.T, dtype=np.float64)
    starts, ends = spans[:, 0], spans[:, 1]
    likeness[(starts[:, None] < ends[None, :]) & (starts[None, :] < ends[:, None])] = -np.inf
    original = np.arange(n)
    kept = np.zeros(n, dtype=np.bool_)
    for row in range(n):
        candidates = np.where(kept[:row], likeness[row, :row], -np.inf)
        if row and float(candidates.max()) >= similarity:
            original[row] = int(np.argmax(candidates))
        else:
            kept[row] = True
    return original.astype(np.int64)


def merge_groups(unit: np.ndarray[Any, Any], low: int, high: int, similarity: float) -> Labels:
    """Centroid-linkage agglomeration of unit vectors: merge the most similar pair of groups (cosine of
    their mean vectors) while more than `high` groups remain, or while that similarity is at least
    `similarity` and more than `low` remain."""
    n = len(unit)
    sums = np.array(unit, dtype=np.float64)
    alive = np.ones(n, dtype=np.bool_)
    owner = np.arange(n)
    affinity = _unit(sums) @ _unit(sums).T
    np.fill_diagonal(affinity, -np.inf)
    groups = n
    while groups > 1:
        i, j = np.unravel_index(int(np.argmax(affinity)), affinity.shape)
        best = float(affinity[i, j])
        if groups <= high and (best < similarity or groups <= low):
            break
        keep, gone = (int(i), int(j)) if i < j else (int(j), int(i))
        sums[keep] += sums[gone]
        alive[gone] = False
        owner[owner == gone] = keep
        row = _unit(sums[keep]) @ _unit(sums).T
        row[~alive] = -np.inf
        row[keep] = -np.inf
        affinity[keep, :] = row
        affinity[:, keep] = row
        affinity[gone, :] = -np.inf
        affinity[:, gone] = -np.inf
        groups -= 1
    return owner.astype(np.int64)


def spectral_labels(
    unit: np.ndarray[Any, Any], bounds: tuple[int, int], min_cluster_size: int = MIN_CLUSTER_SIZE
) -> Labels:
    """Spectral clustering into k groups, k at the largest eigengap of the unnormalised Laplacian of
    the similarity graph pruned to each piece's nearest neighbours; k at least `bounds[0]`, and at most
    one group per `min_cluster_size` pieces (smaller groups are absorbed afterwards anyway)."""
    n = len(unit)
    affinity = np.asarray(unit @ unit.T, dtype=np.float64)
    keep = max(int(n * PRUNE_KEEP), MIN_NEIGHBOURS)
    if keep < n:
        weakest = np.argsort(affinity, axis=1)[:, : n - keep]
        np.put_along_axis(affinity, weakest, 0.0, axis=1)
    affinity = 0.5 * (affinity + affinity.T)
    np.fill_diagonal(affinity, 0.0)
    laplacian = np.diag(np.abs(affinity).sum(axis=1)) - affinity
    eigenvalues, eigenvectors = np.linalg.eigh(laplacian)
    # The count is read off the whole spectrum, not only inside a caller's maximum: with more voices
    # than the maximum, the gap inside it is noise (near-zero eigenvalues all). Clustering at the
    # count the spectrum shows and merging down afterwards (`merge_groups`) never splits a voice.
    # But no more groups than there can be groups of `min_cluster_size` pieces: in a short recording
    # the pieces' nearest neighbours are mostly the pieces overlapping them in time, and the higher
    # eigenvalues of such a graph show wide gaps between chains of a few neighbouring pieces (dev00:
    # 42 pieces, the widest gap at 13 groups, the real one at 2).
    high = min(n - 1, max(min(MAX_SPEAKERS, n // max(min_cluster_size, 1)), bounds[0]))
    low = min(bounds[0], high)
    k = low if low == high else int(np.argmax(np.diff(eigenvalues[low - 1 : high + 1]))) + low
    return kmeans(eigenvectors[:, :k], k)


def kmeans(points: np.ndarray[Any, Any], k: int, iterations: int = 100, seed: int = 0, restarts: int = 10) -> Labels:
    """Lloyd's k-means from `restarts` k-means++ seedings (seeds `seed`, `seed` + 1, …), keeping the
    one with the least within-group sum of squares (the same input gives the same labels). One
    seeding alone can spend a group on one outlying piece and leave two voices in another:
    sample, dev00 and dev01 joined, 4 speakers, came out as 3 groups, two people in one."""
    data = np.asarray(points, dtype=np.float64)
    if k >= len(data):
        return np.arange(len(data), dtype=np.int64)
    best, least = np.zeros(len(data), dtype=np.int64), np.inf
    for attempt in range(max(restarts, 1)):
        labels, cost = _lloyd(data, k, iterations, seed + attempt)
        if cost < least - 1e-12:
            best, least = labels, cost
    return best


def _lloyd(data: Floats, k: int, iterations: int, seed: int) -> tuple[Labels, float]:
    n = len(data)
    rng = np.random.default_rng(seed)
    center = np.empty((k, data.shape[1]))
    center[0] = data[int(rng.integers(n))]
    for index in range(1, k):
        nearest = np.min(((data[:, None, :] - center[None, :index]) ** 2).sum(axis=2), axis=1)
        total = float(nearest.sum())
        center[index] = data[int(rng.choice(n, p=nearest / total)) if total > 0 else int(rng.integers(n))]
    labels = np.full(n, -1, dtype=np.int64)
    for _ in range(iterations):
        updated = np.argmin(((data[:, None, :] - center[None]) ** 2).sum(axis=2), axis=1).astype(np.int64)
        if np.array_equal(updated, labels):
            break
        labels = updated
        for cluster in range(k):
            if np.any(labels == cluster):
                center[cluster] = data[labels == cluster].mean(axis=0)
    cost = float(sum(((data[labels == c] - data[labels == c].mean(axis=0)) ** 2).sum() for c in np.unique(labels)))
    return labels, cost


def _merge_labels(unit: np.ndarray[Any, Any], labels: Labels, low: int, high: int, similarity: float) -> Labels:
    present = np.unique(labels)
    sums = np.stack([unit[labels == c].sum(axis=0) for c in present])
    merged = merge_groups(sums, low, high, similarity)
    return np.asarray(present[merged][np.searchsorted(present, labels)], dtype=np.int64)


def _absorb_small(unit: np.ndarray[Any, Any], labels: Labels, low: int, min_size: int) -> Labels:
    present, sizes = np.unique(labels, return_counts=True)
    large = present[sizes >= min_size]
    if len(large) == len(present) or len(large) < low or len(large) == 0:
        return labels
    centroids = _unit(np.stack([unit[labels == c].sum(axis=0) for c in large]))
    small = ~np.isin(labels, large)
    updated = labels.copy()
    updated[small] = large[np.argmax(unit[small] @ centroids.T, axis=1)]
    return updated


def _nearest_centroid(unit: np.ndarray[Any, Any], sampled: np.ndarray[Any, Any], labels: Labels) -> Labels:
    present = np.unique(labels)
    centroids = _unit(np.stack([sampled[labels == c].sum(axis=0) for c in present]))
    return np.asarray(present[np.argmax(unit @ centroids.T, axis=1)], dtype=np.int64)


def _renumber(labels: np.ndarray[Any, Any]) -> Labels:
    """Labels 0, 1, … in order of first appearance."""
    numbers: dict[int, int] = {}
    return np.asarray([numbers.setdefault(int(label), len(numbers)) for label in labels], dtype=np.int64)
