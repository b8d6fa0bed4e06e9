"""Turning audio into words: ffprobe/ffmpeg (`audio`), the faster-whisper adapter (`whisper`) and
cross-recording batching (`batching`), cutting recordings into windows (`windows`), decoding
windows in batches (`decoder`), word boundaries refined from the audio (`refine`) and the
hallucination guard (`guard`).
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
from engine.transcription.guard import collapse_repetitions, compression_ratio, guard_window
from engine.transcription.refine import SpeechMask, refine_words, speech_mask
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
    "SpeechMask",
    "TranscribeOptions",
    "Transcriber",
    "TranscriptResult",
    "WhisperTranscriber",
    "Window",
    "WindowDecoder",
    "WindowItem",
    "WindowOptions",
    "WindowResult",
    "collapse_repetitions",
    "compression_ratio",
    "cut_windows",
    "decode",
    "guard_window",
    "probe",
    "refine_words",
    "segment_confidence",
    "speech_mask",
    "stream_windows",
    "to_transcript",
]
