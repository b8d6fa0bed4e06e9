"""earshot_client: the Python client for an Earshot transcription server.

    from earshot_client import Client, TranscriptionNotReady

    with Client(api_key="ek_...", api_secret="es_...", base_url="http://127.0.0.1:8000") as client:
        rec = client.recordings.create("speech.wav", custom_tags={"jobId": "j1"}, language="en")
        rec = client.recordings.wait(rec.id, timeout=300)
        if rec.status == "transcribed":
            t = client.recordings(rec.id).transcription.get()
            print(t.text, t.words[0].start)
            print(client.recordings(rec.id).transcription.get(format="srt"))
        for r in client.recordings.list(limit=50, status="transcribed"):  # walks every page
            print(r.id, r.custom_tags)
        client.recordings(rec.id).delete()

`Client()` with no arguments reads `EARSHOT_API_KEY`, `EARSHOT_API_SECRET` and `EARSHOT_URL`.
Responses are `Resource` objects (attribute access, `.to_dict()`); failures raise the typed
errors of `earshot_client.errors`, all subclasses of `EarshotError` with `.code` and `.status`.
"""

from earshot_client._client import Client, RecordingContext, Recordings
from earshot_client._resources import Recording, RecordingPage, Resource, Transcription
from earshot_client._version import __version__
from earshot_client.errors import (
    ConnectionFailed,
    EarshotError,
    EmptyFile,
    InvalidCustomTags,
    InvalidParameter,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    RecordingNotFound,
    ServerError,
    ServiceUnavailable,
    TranscriptionFailed,
    TranscriptionNotReady,
    Unauthorized,
    UnsupportedMediaType,
    WaitTimeout,
    WebhookNotFound,
)
from earshot_client.webhooks import WebhookVerificationError, verify_webhook

__all__ = [
    "Client",
    "ConnectionFailed",
    "EarshotError",
    "EmptyFile",
    "InvalidCustomTags",
    "InvalidParameter",
    "NotFound",
    "PayloadTooLarge",
    "RateLimited",
    "Recording",
    "RecordingContext",
    "RecordingNotFound",
    "RecordingPage",
    "Recordings",
    "Resource",
    "ServerError",
    "ServiceUnavailable",
    "Transcription",
    "TranscriptionFailed",
    "TranscriptionNotReady",
    "Unauthorized",
    "UnsupportedMediaType",
    "WaitTimeout",
    "WebhookNotFound",
    "WebhookVerificationError",
    "__version__",
    "verify_webhook",
]
