"""Earshot's one error tree.

    EarshotError                     code
    ├── Unauthorized                 UNAUTHORIZED
    ├── InvalidParameter             INVALID_PARAMETER
    │   └── InvalidCustomTags        INVALID_CUSTOM_TAGS
    ├── EmptyFile                    EMPTY_FILE
    ├── PayloadTooLarge              PAYLOAD_TOO_LARGE
    ├── UnsupportedMediaType         UNSUPPORTED_MEDIA_TYPE
    ├── NotFound
    │   ├── RecordingNotFound        RECORDING_NOT_FOUND
    │   ├── TranscriptionNotReady    TRANSCRIPTION_NOT_READY
    │   ├── TranscriptionFailed      TRANSCRIPTION_FAILED
    │   ├── WebhookNotFound          WEBHOOK_NOT_FOUND
    │   ├── ApiKeyNotFound           API_KEY_NOT_FOUND
    │   ├── VocabularyNotFound       VOCABULARY_NOT_FOUND
    │   └── ModelNotFound            MODEL_NOT_FOUND
    ├── ApiKeyInUse                  API_KEY_IN_USE        (a key may not delete itself)
    ├── NothingToRetry               NOTHING_TO_RETRY      (409: no failed stage to run again)
    ├── TranscriptionTimeout         TRANSCRIPTION_TIMEOUT (a synchronous wait ran out)
    ├── RateLimited                  RATE_LIMITED          (with retry_after seconds)
    ├── ServiceUnavailable           SERVICE_UNAVAILABLE   (transient: Redis or S3 unreachable)
    │   ├── RecordingBusy                                  (another run holds the recording)
    │   └── NoWorker                                       (a synchronous route: no worker takes its model)
    └── JobFailure                   ends a recording `failed` with its code
        ├── InvalidAudio             INVALID_AUDIO
        ├── AudioTooLong             AUDIO_TOO_LONG
        ├── SourceFetchFailed        SOURCE_FETCH_FAILED
        ├── TranscriptionError       TRANSCRIPTION_ERROR
        ├── DiarizationUnavailable   DIARIZATION_UNAVAILABLE (the diarization extra is not installed here)
        └── DiarizationFailed        DIARIZATION_FAILED    (the transcript completes without speakers)

The engine raises these; `api.errors` maps them to HTTP statuses in one table, and the worker turns
`JobFailure` into a failed recording while letting `ServiceUnavailable` be retried.
"""

from __future__ import annotations

__all__ = [
    "ApiKeyInUse",
    "ApiKeyNotFound",
    "AudioTooLong",
    "DiarizationFailed",
    "DiarizationUnavailable",
    "EarshotError",
    "EmptyFile",
    "InvalidAudio",
    "InvalidCustomTags",
    "InvalidParameter",
    "JobFailure",
    "NotFound",
    "NothingToRetry",
    "PayloadTooLarge",
    "RateLimited",
    "RecordingBusy",
    "RecordingNotFound",
    "ServiceUnavailable",
    "SourceFetchFailed",
    "TranscriptionError",
    "TranscriptionFailed",
    "TranscriptionNotReady",
    "TranscriptionTimeout",
    "Unauthorized",
    "UnsupportedMediaType",
    "VocabularyNotFound",
    "WebhookNotFound",
]


class EarshotError(Exception):
    code = "INTERNAL_ERROR"
    default_message = "internal error"

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)


class Unauthorized(EarshotError):
    code = "UNAUTHORIZED"
    default_message = "missing or invalid credentials"


class InvalidParameter(EarshotError):
    code = "INVALID_PARAMETER"
    default_message = "invalid parameter"


class InvalidCustomTags(InvalidParameter):
    code = "INVALID_CUSTOM_TAGS"
    default_message = "invalid custom_tags"


class EmptyFile(EarshotError):
    code = "EMPTY_FILE"
    default_message = "the uploaded file is empty"


class PayloadTooLarge(EarshotError):
    code = "PAYLOAD_TOO_LARGE"
    default_message = "the upload is larger than allowed"


class UnsupportedMediaType(EarshotError):
    code = "UNSUPPORTED_MEDIA_TYPE"
    default_message = "send multipart/form-data with a 'file' part"


class NotFound(EarshotError):
    code = "NOT_FOUND"
    default_message = "not found"


class RecordingNotFound(NotFound):
    code = "RECORDING_NOT_FOUND"
    default_message = "recording not found"


class TranscriptionNotReady(NotFound):
    code = "TRANSCRIPTION_NOT_READY"
    default_message = "the transcription is still processing"


class TranscriptionFailed(NotFound):
    code = "TRANSCRIPTION_FAILED"
    default_message = "the transcription failed"


class WebhookNotFound(NotFound):
    code = "WEBHOOK_NOT_FOUND"
    default_message = "webhook not found"


class ApiKeyNotFound(NotFound):
    code = "API_KEY_NOT_FOUND"
    default_message = "api key not found"


class VocabularyNotFound(NotFound):
    code = "VOCABULARY_NOT_FOUND"
    default_message = "vocabulary not found"


class ModelNotFound(NotFound):
    code = "MODEL_NOT_FOUND"
    default_message = "model not found"


class ApiKeyInUse(EarshotError):
    code = "API_KEY_IN_USE"
    default_message = "the api key that authenticates this request cannot delete itself; use another key"


class NothingToRetry(EarshotError):
    """`POST /v1/recordings/{id}/retry` on a recording with no failed stage: still processing, or
    transcribed with nothing failed."""

    code = "NOTHING_TO_RETRY"
    default_message = "the recording has no failed stage to run again"


class TranscriptionTimeout(EarshotError):
    """A synchronous route (the OpenAI-compatible ones) waited longer than allowed; the recording
    goes on being transcribed and can be fetched later."""

    code = "TRANSCRIPTION_TIMEOUT"
    default_message = "the transcription did not finish in time"


class RateLimited(EarshotError):
    code = "RATE_LIMITED"
    default_message = "too many requests"

    def __init__(self, message: str | None = None, *, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ServiceUnavailable(EarshotError):
    code = "SERVICE_UNAVAILABLE"
    default_message = "a dependency is unavailable, try again shortly"


class RecordingBusy(ServiceUnavailable):
    """Another run of the job holds this recording; retry later (it is then usually done)."""

    default_message = "the recording is being transcribed by another worker"


class NoWorker(ServiceUnavailable):
    """A synchronous route (the OpenAI-compatible ones) would wait for a job that no live worker takes:
    answered after a short grace for one to start, keeping nothing, instead of after the whole wait."""

    default_message = "no transcription worker is running for this model"


class JobFailure(EarshotError):
    """A permanent failure of one recording's job: retrying cannot help."""

    code = "TRANSCRIPTION_ERROR"


class InvalidAudio(JobFailure):
    code = "INVALID_AUDIO"
    default_message = "the file is not audio that ffmpeg can decode"


class AudioTooLong(JobFailure):
    code = "AUDIO_TOO_LONG"
    default_message = "the audio is longer than allowed"


class SourceFetchFailed(JobFailure):
    code = "SOURCE_FETCH_FAILED"
    default_message = "the audio could not be fetched from source_url"


class TranscriptionError(JobFailure):
    code = "TRANSCRIPTION_ERROR"
    default_message = "the model failed to transcribe the audio"


class DiarizationUnavailable(JobFailure):
    """This installation lacks the speaker-diarization extra (torch and the bundled models)."""

    code = "DIARIZATION_UNAVAILABLE"
    default_message = (
        "speaker diarization is not installed here: pip install 'earshot[diarization]' (or scripts/setup --diarization)"
    )


class DiarizationFailed(JobFailure):
    """The diarization stage failed for good: stated in the transcription document, whose words
    and text stand without speakers."""

    code = "DIARIZATION_FAILED"
    default_message = "speaker diarization failed"
