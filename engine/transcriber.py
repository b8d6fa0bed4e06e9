"""The faster-whisper adapter: its segments and words become our Structs here, and only here."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Protocol

import msgspec
import numpy as np

from engine.transcripts import Segment, Word

__all__ = ["TranscribeOptions", "Transcriber", "TranscriptResult", "WhisperTranscriber", "segment_confidence"]


class TranscribeOptions(msgspec.Struct, kw_only=True, frozen=True):
    language: str | None = None
    word_timestamps: bool = True
    initial_prompt: str | None = None
    beam_size: int = 5
    vad_filter: bool = False


class TranscriptResult(msgspec.Struct, kw_only=True):
    text: str
    language: str | None
    language_probability: float | None
    duration: float
    words: list[Word]
    segments: list[Segment]


class Transcriber(Protocol):
    name: str
    device: str
    compute_type: str

    def transcribe(self, audio: np.ndarray[Any, Any], options: TranscribeOptions) -> TranscriptResult: ...


def segment_confidence(segments: list[Segment]) -> float:
    """Confidence when words were not asked for: exp(avg_logprob) weighted by segment length."""
    total = weight = 0.0
    for s in segments:
        d = max(s.end - s.start, 0.01)
        total += math.exp(s.avg_logprob) * d
        weight += d
    return round(total / weight, 4) if weight else 0.0


class WhisperTranscriber:
    def __init__(
        self,
        model_path: str | Path,
        *,
        name: str,
        device: str = "cpu",
        compute_type: str = "default",
        cpu_threads: int = 0,
    ) -> None:
        from faster_whisper import WhisperModel  # heavy import: only where a model is loaded

        if compute_type == "default":
            compute_type = "float16" if device == "cuda" else "int8"
        self.name = name
        self.device = device
        self.compute_type = compute_type
        self._model = WhisperModel(str(model_path), device=device, compute_type=compute_type, cpu_threads=cpu_threads)

    def transcribe(self, audio: np.ndarray[Any, Any], options: TranscribeOptions) -> TranscriptResult:
        segments_iter, info = self._model.transcribe(
            audio,
            language=options.language,
            word_timestamps=options.word_timestamps,
            initial_prompt=options.initial_prompt,
            beam_size=options.beam_size,
            vad_filter=options.vad_filter,
        )
        segments: list[Segment] = []
        words: list[Word] = []
        for seg in segments_iter:  # the generator does the work; consume it fully
            segments.append(
                Segment(
                    id=len(segments),
                    start=round(float(seg.start), 3),
                    end=round(float(seg.end), 3),
                    text=seg.text.strip(),
                    avg_logprob=round(float(seg.avg_logprob), 4),
                    no_speech_prob=round(float(seg.no_speech_prob), 4),
                )
            )
            for w in seg.words or ():
                words.append(
                    Word(
                        word=w.word.strip(),
                        start=round(float(w.start), 3),
                        end=round(float(w.end), 3),
                        confidence=round(float(w.probability), 4),
                    )
                )
        return TranscriptResult(
            text=" ".join(s.text for s in segments if s.text).strip(),
            language=info.language,
            language_probability=round(float(info.language_probability), 4) if info.language_probability else None,
            duration=float(info.duration),
            words=words,
            segments=segments,
        )
