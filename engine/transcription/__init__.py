"""Turning audio into words: ffprobe/ffmpeg (`audio`), the faster-whisper adapter (`whisper`) and
cross-recording batching (`batching`).
"""

from engine.transcription.audio import SAMPLE_RATE, AudioInfo, decode, probe
from engine.transcription.batching import BatchingTranscriber
from engine.transcription.whisper import (
    MAX_CLIP_SECONDS,
    TranscribeOptions,
    Transcriber,
    TranscriptResult,
    WhisperTranscriber,
    segment_confidence,
)

__all__ = [
    "MAX_CLIP_SECONDS",
    "SAMPLE_RATE",
    "AudioInfo",
    "BatchingTranscriber",
    "TranscribeOptions",
    "Transcriber",
    "TranscriptResult",
    "WhisperTranscriber",
    "decode",
    "probe",
    "segment_confidence",
]
