"""Recordings and transcripts: the stored model (`model`, `transcripts`), what clients see (`views`,
`subtitles`), the use cases free of HTTP (`service`), how a recording ends (`outcomes`), telephony
callbacks (`telephony`) and language codes (`languages`).

The use cases (`service`, `telephony`) sit above the index, storage and queue; import them from their
modules.
"""

from engine.recordings.languages import LANGUAGES, language_name
from engine.recordings.model import (
    Features,
    Recording,
    RecordingError,
    Status,
    audio_key,
    transcript_key,
    validate_custom_tags,
)
from engine.recordings.subtitles import FORMATS, render
from engine.recordings.transcripts import Segment, Transcription, Word, weighted_confidence
from engine.recordings.views import RecordingList, RecordingOut, TranscriptionOut, recording_out, transcription_out

__all__ = [
    "FORMATS",
    "LANGUAGES",
    "Features",
    "Recording",
    "RecordingError",
    "RecordingList",
    "RecordingOut",
    "Segment",
    "Status",
    "Transcription",
    "TranscriptionOut",
    "Word",
    "audio_key",
    "language_name",
    "recording_out",
    "render",
    "transcript_key",
    "transcription_out",
    "validate_custom_tags",
    "weighted_confidence",
]
