"""The faster-whisper adapter: its segments and words become our Structs here, and only here.

Three ways to run the model:
- `transcribe`: faster-whisper's sequential `WhisperModel.transcribe` (temperature fallback,
  conditioning on previous text): the reference path, and the default for long audio;
- `transcribe` with `options.batched`: `BatchedInferencePipeline` (VAD chunks decoded in batches):
  faster on long audio, at an accuracy the benchmark reports;
- `transcribe_clips`: several short recordings (≤ 30 s each) decoded in one shared batch, each as
  one clip of the batched pipeline, so that a clip's text does not depend on its batch-mates.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import msgspec
import numpy as np

from engine.recordings.transcripts import Segment, Word, segment_confidence

__all__ = [
    "MAX_CLIP_SECONDS",
    "StreamingTranscriber",
    "TranscribeOptions",
    "Transcriber",
    "TranscriptResult",
    "WhisperTranscriber",
    "segment_confidence",
]

SAMPLE_RATE = 16000
MAX_CLIP_SECONDS = 30.0
"""Whisper's window: a clip up to this long is decoded in one pass, so it can share a batch."""

Progress = Callable[[float], None]


class TranscribeOptions(msgspec.Struct, kw_only=True, frozen=True):
    language: str | None = None
    task: str = "transcribe"
    """`translate`: English text whatever the language spoken (multilingual models only)."""
    word_timestamps: bool = True
    initial_prompt: str | None = None
    hotwords: str | None = None
    """Terms to favour (a vocabulary's phrases), put before the previous text of every window."""
    beam_size: int = 5
    vad_filter: bool = False
    batched: bool = False
    """Long audio through BatchedInferencePipeline (VAD chunking) instead of sequential decoding."""
    batch_size: int = 8


class TranscriptResult(msgspec.Struct, kw_only=True):
    text: str
    language: str | None
    language_probability: float | None
    duration: float
    words: list[Word]
    segments: list[Segment]
    raw_words: list[Word] = []
    """The model's own word times, where `words` carry times refined from the audio."""


class Transcriber(Protocol):
    name: str
    device: str
    compute_type: str

    def transcribe(
        self, audio: np.ndarray[Any, Any], options: TranscribeOptions, on_progress: Progress | None = None
    ) -> TranscriptResult: ...


@runtime_checkable
class StreamingTranscriber(Transcriber, Protocol):
    """A transcriber that takes audio as it is decoded, block by block (the window scheduler).
    `blocks` opens the stream of blocks; it may be called more than once (each call reads the
    recording from its start)."""

    def transcribe_stream(
        self,
        blocks: Callable[[], Iterable[np.ndarray[Any, Any]]],
        options: TranscribeOptions,
        on_progress: Progress | None = None,
        expected_seconds: float | None = None,
    ) -> TranscriptResult: ...


def _convert(
    raw_segments: Iterable[Any],
    *,
    offset: float = 0.0,
    on_progress: Progress | None = None,
    duration: float = 0.0,
    language: str | None = None,
) -> tuple[list[Segment], list[Word]]:
    segments: list[Segment] = []
    words: list[Word] = []
    for seg in raw_segments:  # a generator: this loop is where the model does its work
        segments.append(
            Segment(
                id=len(segments),
                start=round(float(seg.start) - offset, 3),
                end=round(float(seg.end) - offset, 3),
                text=seg.text.strip(),
                avg_logprob=round(float(seg.avg_logprob), 4),
                no_speech_prob=round(float(seg.no_speech_prob), 4),
                compression_ratio=round(float(getattr(seg, "compression_ratio", 0.0)), 4),
                language=language,
            )
        )
        for w in seg.words or ():
            words.append(
                Word(
                    word=w.word.strip(),
                    start=round(float(w.start) - offset, 3),
                    end=round(float(w.end) - offset, 3),
                    confidence=round(float(w.probability), 4),
                )
            )
        if on_progress is not None and duration > 0:
            on_progress(min(float(seg.end) / duration, 1.0))
    return segments, words


def _text(segments: list[Segment]) -> str:
    return " ".join(s.text for s in segments if s.text).strip()


class WhisperTranscriber:
    def __init__(
        self,
        model_path: str | Path,
        *,
        name: str,
        device: str = "cpu",
        compute_type: str = "default",
        cpu_threads: int = 0,
        num_workers: int = 1,
    ) -> None:
        from faster_whisper import BatchedInferencePipeline, WhisperModel  # heavy: only where a model loads

        if compute_type == "default":
            compute_type = "float16" if device == "cuda" else "int8"
        self.name = name
        self.device = device
        self.compute_type = compute_type
        # num_workers: model calls from that many threads run in parallel (CTranslate2 inter_threads).
        self._model = WhisperModel(
            str(model_path), device=device, compute_type=compute_type, cpu_threads=cpu_threads, num_workers=num_workers
        )
        self._batched = BatchedInferencePipeline(self._model)

    @property
    def model(self) -> Any:
        """The loaded `faster_whisper.WhisperModel` (for the window decoder)."""
        return self._model

    @property
    def multilingual(self) -> bool:
        return bool(self._model.model.is_multilingual)

    def detect_language(self, audio: np.ndarray[Any, Any]) -> tuple[str, float]:
        language, probability, _ = self._model.detect_language(audio)
        return str(language), float(probability)

    def transcribe(
        self, audio: np.ndarray[Any, Any], options: TranscribeOptions, on_progress: Progress | None = None
    ) -> TranscriptResult:
        common = dict(
            language=options.language,
            word_timestamps=options.word_timestamps,
            initial_prompt=options.initial_prompt,
            hotwords=options.hotwords,
            beam_size=options.beam_size,
            task=options.task,
        )
        if options.batched:
            raw, info = self._batched.transcribe(
                audio, vad_filter=True, batch_size=options.batch_size, without_timestamps=True, **common
            )
        else:
            raw, info = self._model.transcribe(audio, vad_filter=options.vad_filter, **common)
        duration = float(info.duration)
        segments, words = _convert(raw, on_progress=on_progress, duration=duration, language=info.language)
        return TranscriptResult(
            text=_text(segments),
            language=info.language,
            language_probability=round(float(info.language_probability), 4) if info.language_probability else None,
            duration=duration,
            words=words,
            segments=segments,
        )

    def transcribe_clips(self, clips: list[np.ndarray[Any, Any]], options: TranscribeOptions) -> list[TranscriptResult]:
        """Short recordings in one batch. All must share `options`, with a language set (or an
        English-only model). Each becomes one clip of the batched pipeline: decoded alone in its
        own 30 s window, exactly as a batch of one would decode it."""
        bounds: list[tuple[float, float]] = []
        position = 0
        for clip in clips:
            bounds.append((position / SAMPLE_RATE, (position + len(clip)) / SAMPLE_RATE))
            position += len(clip)
        raw, info = self._batched.transcribe(
            np.concatenate(clips),
            clip_timestamps=[{"start": a, "end": b} for a, b in bounds],
            batch_size=max(1, min(options.batch_size, len(clips))),
            language=options.language,
            word_timestamps=options.word_timestamps,
            initial_prompt=options.initial_prompt,
            hotwords=options.hotwords,
            beam_size=options.beam_size,
            without_timestamps=True,
        )
        per_clip: list[list[Any]] = [[] for _ in clips]
        for seg in raw:
            # Times are in the concatenation; 10 ms of slack for rounding at clip starts.
            index = max(i for i, (start, _) in enumerate(bounds) if seg.start >= start - 0.01)
            per_clip[index].append(seg)
        results = []
        for (start, end), raw_segments in zip(bounds, per_clip, strict=True):
            segments, words = _convert(raw_segments, offset=start, language=info.language)
            results.append(
                TranscriptResult(
                    text=_text(segments),
                    language=info.language,
                    language_probability=1.0 if options.language else None,
                    duration=round(end - start, 3),
                    words=words,
                    segments=segments,
                )
            )
        return results
