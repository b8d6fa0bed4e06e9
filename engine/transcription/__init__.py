"""Turning audio into words: ffprobe/ffmpeg (`audio`), the faster-whisper adapter (`whisper`) and
cross-recording batching (`batching`), cutting recordings into windows (`windows`) and decoding
windows in batches (`decoder`).
"""

from engine.transcription.audio import SAMPLE_RATE, AudioInfo, decode, probe
from engine.transcription.batching import BatchingTranscriber
from engine.transcription.decoder import (
    DecodedSegment,
    DecodedWord,
    WindowDecoder,
    WindowItem,
    WindowOptions,
    WindowResult,
    to_transcript,
)
from engine.transcription.whisper import (
    MAX_CLIP_SECONDS,
    TranscribeOptions,
    Transcriber,
    TranscriptResult,
    WhisperTranscriber,
    segment_confidence,
)
from engine.transcription.windows import Window, cut_windows, stream_windows

__all__ = [
    "MAX_CLIP_SECONDS",
    "SAMPLE_RATE",
    "AudioInfo",
    "BatchingTranscriber",
    "DecodedSegment",
    "DecodedWord",
    "TranscribeOptions",
    "Transcriber",
    "TranscriptResult",
    "WhisperTranscriber",
    "Window",
    "WindowDecoder",
    "WindowItem",
    "WindowOptions",
    "WindowResult",
    "cut_windows",
    "decode",
    "probe",
    "segment_confidence",
    "stream_windows",
    "to_transcript",
]
