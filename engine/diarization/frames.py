"""The numpy half of diarization around the segmentation network: sliding chunks, the powerset
output turned into per-speaker activity, speech cut into single-speaker pieces for the embeddings,
and the clustered pieces (with the chunks' local speakers) put back on one timeline of frames.

No model here: `backend` runs the networks and hands their outputs to these functions."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations, permutations
from typing import Any

import numpy as np

__all__ = [
    "FrameGrid",
    "activity_to_spans",
    "assign_local_speakers",
    "chunk_starts",
    "powerset_mapping",
    "powerset_to_multilabel",
    "select",
    "speaker_counts",
    "stitch",
    "subsegments",
    "vote",
]

Floats = np.ndarray[Any, np.dtype[np.float32]]


@dataclass(frozen=True, slots=True)
class FrameGrid:
    """Where the segmentation model's output frames lie: frame i of a chunk starting at t covers
    [t + start + i·step, t + start + i·step + duration] seconds."""

    step: float
    duration: float
    start: float = 0.0

    def middle(self, index: np.ndarray[Any, Any] | int) -> Any:
        return self.start + np.asarray(index) * self.step + self.duration / 2

    def first_frame(self, offset: float) -> int:
        """Where frame 0 of a chunk starting at `offset` seconds lies on the whole signal's frames."""
        return round(offset / self.step)

    def index_at(self, seconds: np.ndarray[Any, Any] | float) -> Any:
        """The frame whose middle is nearest `seconds` (chunk time)."""
        return np.rint((np.asarray(seconds) - self.start - self.duration / 2) / self.step).astype(np.int64)


def chunk_starts(num_samples: int, window: int, step: int) -> list[int]:
    """Start samples of `window`-long chunks every `step` samples covering the whole signal; the last
    chunk ends where the signal ends (one chunk, to be padded, if the signal is shorter than a window)."""
    if num_samples <= window:
        return [0]
    starts = list(range(0, num_samples - window + 1, step))
    if num_samples - (starts[-1] + window) > window // 100:  # a tail longer than 1 % of a window is left
        starts.append(num_samples - window)
    return starts


def powerset_mapping(num_speakers: int, max_per_frame: int) -> np.ndarray[Any, np.dtype[np.float32]]:
    """(classes, speakers) 0/1 matrix: class 0 is silence, then each single speaker, then each pair…
    in pyannote's order."""
    classes = [(), *(c for size in range(1, max_per_frame + 1) for c in combinations(range(num_speakers), size))]
    mapping = np.zeros((len(classes), num_speakers), dtype=np.float32)
    for row, speakers in enumerate(classes):
        mapping[row, list(speakers)] = 1.0
    return mapping


def powerset_to_multilabel(log_probs: np.ndarray[Any, Any], mapping: np.ndarray[Any, Any]) -> Floats:
    """(chunks, frames, classes) log-probabilities → (chunks, frames, speakers) 0/1 activity of the
    most likely class."""
    best = np.argmax(log_probs, axis=-1)
    return np.asarray(mapping[best], dtype=np.float32)


def stitch(
    activity: np.ndarray[Any, Any],
    chunk_offsets: list[float],
    assignment: np.ndarray[Any, Any],
    num_clusters: int,
    grid: FrameGrid,
    total: int,
) -> Floats:
    """(frames, clusters) over the whole signal: how active each cluster is, by the chunks' local speakers.

    `activity` is (chunks, frames, local speakers); `assignment[c, k]` the cluster of chunk c's local
    speaker k (-1: none). Chunks overlap: each frame's scores are averaged over the chunks that see it."""
    num_chunks, frames_per_chunk, _ = activity.shape
    scores = np.zeros((total, max(num_clusters, 1)), dtype=np.float32)
    seen = np.zeros(total, dtype=np.float32)
    for chunk in range(num_chunks):
        first = grid.first_frame(chunk_offsets[chunk])
        last = min(first + frames_per_chunk, total)
        if last <= first:
            continue
        local = activity[chunk, : last - first]
        for speaker, cluster in enumerate(assignment[chunk]):
            if cluster >= 0:
                scores[first:last, cluster] = np.maximum(scores[first:last, cluster], 0) + local[:, speaker]
        seen[first:last] += 1.0
    return np.minimum(scores / np.maximum(seen, 1.0)[:, None], 1.0)


def assign_local_speakers(
    activity: np.ndarray[Any, Any], chunk_offsets: list[float], scores: np.ndarray[Any, Any], grid: FrameGrid
) -> np.ndarray[Any, np.dtype[np.int64]]:
    """(chunks, local speakers) → cluster, -1 for a silent local speaker: the cluster with the most
    `scores` (frames, clusters) over the frames where that local speaker talks, two local speakers of
    one chunk never getting the same cluster while there are clusters enough."""
    num_chunks, frames_per_chunk, num_local = activity.shape
    total, num_clusters = scores.shape
    assignment = np.full((num_chunks, num_local), -1, dtype=np.int64)
    for chunk in range(num_chunks):
        first = grid.first_frame(chunk_offsets[chunk])
        last = min(first + frames_per_chunk, total)
        if last <= first:
            continue
        local = activity[chunk, : last - first]
        affinity = local.T @ scores[first:last]  # (local speakers, clusters)
        talking = [k for k in range(num_local) if local[:, k].any()]
        assignment[chunk] = _best_matching(affinity, talking, num_clusters, num_local)
    return assignment


def _best_matching(affinity: np.ndarray[Any, Any], talking: list[int], num_clusters: int, num_local: int) -> list[int]:
    best: list[int] = [-1] * num_local
    best_total = -np.inf
    distinct = min(len(talking), num_clusters)
    for chosen in permutations(range(num_clusters), distinct):
        total = float(sum(affinity[k, c] for k, c in zip(talking, chosen, strict=False)))
        if total > best_total:
            best_total = total
            best = [-1] * num_local
            for k, c in zip(talking, chosen, strict=False):
                best[k] = c
    for k in talking[distinct:]:  # more local speakers than clusters: the rest go where they fit best
        best[k] = int(np.argmax(affinity[k]))
    return best


def activity_to_spans(active: np.ndarray[Any, Any], grid: FrameGrid) -> list[tuple[float, float, int]]:
    """(frames, clusters) 0/1 → (start, end, cluster) spans, each run of active frames from the middle
    of its first frame less half a step to the middle of its last plus half a step."""
    spans: list[tuple[float, float, int]] = []
    half = grid.step / 2
    for cluster in range(active.shape[1]):
        padded = np.concatenate([[0], (active[:, cluster] > 0).astype(np.int8), [0]])
        edges = np.diff(padded)
        for first, end in zip(np.nonzero(edges == 1)[0], np.nonzero(edges == -1)[0], strict=True):
            start = max(float(grid.middle(int(first))) - half, 0.0)
            stop = float(grid.middle(int(end) - 1)) + half
            spans.append((start, stop, cluster))
    return spans


def speaker_counts(activity: np.ndarray[Any, Any], chunk_offsets: list[float], grid: FrameGrid, total: int) -> Floats:
    """How many speakers talk in each frame of the whole signal: the chunks' counts (local speakers
    active) averaged over the chunks that see that frame."""
    counts = np.zeros(total, dtype=np.float32)
    seen = np.zeros(total, dtype=np.float32)
    frames_per_chunk = activity.shape[1]
    for chunk, offset in enumerate(chunk_offsets):
        first = grid.first_frame(offset)
        last = min(first + frames_per_chunk, total)
        if last > first:
            counts[first:last] += activity[chunk, : last - first].sum(axis=1)
            seen[first:last] += 1.0
    return np.asarray(counts / np.maximum(seen, 1.0), dtype=np.float32)


def subsegments(
    regions: list[tuple[float, float]], length: float, hop: float, shortest: float = 0.5
) -> list[tuple[float, float]]:
    """Pieces of `length` s every `hop` s inside each speech region, the last one ending with the
    region; a region shorter than `length` is one piece, and one shorter than `shortest` none (too
    little to tell a voice by)."""
    pieces: list[tuple[float, float]] = []
    for start, end in regions:
        if end - start < shortest:
            continue
        here: list[tuple[float, float]] = []
        at = start
        while at + length <= end + 1e-9:
            here.append((at, at + length))
            at += hop
        if not here or here[-1][1] < end - 0.05:  # what is left after the last full piece (not a sliver)
            here.append((max(start, end - length), end))
        pieces.extend(here)
    return pieces


def vote(
    pieces: list[tuple[float, float]], labels: np.ndarray[Any, Any], num_clusters: int, grid: FrameGrid, total: int
) -> Floats:
    """(frames, clusters): for each frame, the share of the pieces covering it that went to each cluster,
    each piece weighted by a Hamming window over its frames (as pyannote weights overlapping chunks):
    a piece's embedding speaks for its middle more than for its ends, which may hold another voice
    where the segmentation missed a change of speaker, so the vote changes near the real change."""
    scores = np.zeros((total, max(num_clusters, 1)), dtype=np.float32)
    for (start, end), label in zip(pieces, labels, strict=True):
        first, last = int(grid.index_at(start)), int(grid.index_at(end))
        low, high = max(first, 0), min(last, total - 1)
        if high >= low:
            weight = np.hamming(last - first + 3)[1:-1]  # no zero weight at the piece's ends
            scores[low : high + 1, int(label)] += weight[low - first : high - first + 1]
    return np.asarray(scores / np.maximum(scores.sum(axis=1, keepdims=True), 1e-12), dtype=np.float32)


def select(scores: np.ndarray[Any, Any], counts: np.ndarray[Any, Any]) -> Floats:
    """(frames, clusters) 0/1: in each frame the `round(counts)` clusters with the highest (non-zero) scores."""
    speaking = np.minimum(np.rint(counts), scores.shape[1]).astype(np.int64)
    order = np.argsort(-scores, axis=1, kind="stable")
    active = np.zeros(scores.shape, dtype=np.float32)
    for rank in range(int(speaking.max(initial=0))):
        rows = np.nonzero(speaking > rank)[0]
        cols = order[rows, rank]
        active[rows, cols] = (scores[rows, cols] > 0).astype(np.float32)
    return active


def single_speaker_runs(
    activity: np.ndarray[Any, Any],
    chunk_offsets: list[float],
    grid: FrameGrid,
    total: int,
    counts: np.ndarray[Any, Any] | None = None,
) -> list[tuple[float, float]]:
    """Stretches where one speaker talks alone and the segmentation sees no change of speaker: the
    places to take voice samples from without mixing two voices.

    Each frame is read from the chunk whose middle is nearest it (a chunk's edges have the least
    context). Local speaker labels differ from chunk to chunk, so where the nearest chunk changes, the
    stretch goes on if each of the two chunks hears its one voice in both frames either side: a
    change of chunk is no change of speaker. (Cutting there instead made each chunk's step a boundary
    between voice samples, and the speaker changes the segmentation missed landed on those arbitrary
    boundaries.) With `counts` (`speaker_counts`), only frames that also count one speaker over all
    the chunks, as the output will, are kept."""
    _, frames_per_chunk, _ = activity.shape
    firsts = np.array([grid.first_frame(offset) for offset in chunk_offsets], dtype=np.int64)
    frame = np.arange(total)
    owner = np.zeros(total, dtype=np.int64)  # the chunk whose middle is nearest each frame
    nearest = np.full(total, np.inf)
    for chunk, first in enumerate(firsts.tolist()):
        last = min(first + frames_per_chunk, total)
        if last > first:
            distance = np.abs(np.arange(first, last) - (first + frames_per_chunk / 2))
            better = distance < nearest[first:last]
            nearest[first:last] = np.where(better, distance, nearest[first:last])
            owner[first:last] = np.where(better, chunk, owner[first:last])
    talking = activity.sum(axis=2)
    voice = np.where(talking == 1, np.argmax(activity, axis=2), -1)  # (chunks, frames): the one voice, -1 none

    def heard(chunks: np.ndarray[Any, Any], frames: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        at = frames - firsts[chunks]
        inside = (at >= 0) & (at < frames_per_chunk)
        return np.where(inside, voice[chunks, np.clip(at, 0, frames_per_chunk - 1)], -1)

    alone = heard(owner, frame) >= 0
    if counts is not None:
        alone &= np.rint(counts[:total]) == 1
    # the voice goes on from frame t-1 to t when the chunks nearest t-1 and t each hear one, the same, in both
    previous, here = frame[1:] - 1, frame[1:]
    goes_on = np.ones(total, dtype=np.bool_)
    for nearest_chunk in (owner[previous], owner[here]):
        before, after = heard(nearest_chunk, previous), heard(nearest_chunk, here)
        goes_on[1:] &= (before >= 0) & (before == after)
    starts = alone & ~(goes_on & np.concatenate([[False], alone[:-1]]))
    ends = alone & np.concatenate([starts[1:] | ~alone[1:], [True]])  # the next frame starts a run or is not one
    half = grid.step / 2
    runs = [
        (max(float(grid.middle(int(first))) - half, 0.0), float(grid.middle(int(last))) + half)
        for first, last in zip(np.nonzero(starts)[0], np.nonzero(ends)[0], strict=True)
    ]
    return runs
