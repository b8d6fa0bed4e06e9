"""In-memory stand-ins for unit tests: a transcriber that needs no model."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine.recordings.transcripts import Segment, Word
from engine.transcription.whisper import TranscribeOptions, TranscriptResult


class FakeTranscriber:
    name = "fake"
    device = "cpu"
    compute_type = "int8"

    def __init__(self, text: str = "hello brave new world", on_call: Callable[[], None] | None = None) -> None:
        self.text = text
        self.calls: list[TranscribeOptions] = []
        self.on_call = on_call

    def transcribe(self, audio: Any, options: TranscribeOptions, on_progress: Any = None) -> TranscriptResult:
        self.calls.append(options)
        if self.on_call:
            self.on_call()
        if on_progress is not None:
            for fraction in (0.25, 0.5, 0.75):
                on_progress(fraction)
        words = [
            Word(word=w, start=i * 0.5, end=i * 0.5 + 0.4, confidence=0.9) for i, w in enumerate(self.text.split())
        ]
        end = words[-1].end if words else 0.0
        return TranscriptResult(
            text=self.text,
            language="en",
            language_probability=0.99,
            duration=len(audio) / 16000,
            words=words if options.word_timestamps else [],
            segments=[Segment(id=0, start=0.0, end=end, text=self.text, avg_logprob=-0.1, no_speech_prob=0.01)]
            if self.text
            else [],
        )
