"""Typed errors: every failed request raises an `EarshotError` subclass chosen by the error code.

    EarshotError(code, message, status)
    ├── Unauthorized                 401  UNAUTHORIZED
    ├── InvalidParameter             400  INVALID_PARAMETER
    │   └── InvalidCustomTags        400  INVALID_CUSTOM_TAGS
    ├── EmptyFile                    400  EMPTY_FILE
    ├── PayloadTooLarge              413  PAYLOAD_TOO_LARGE
    ├── UnsupportedMediaType         415  UNSUPPORTED_MEDIA_TYPE
    ├── NotFound                     404
    │   ├── RecordingNotFound             RECORDING_NOT_FOUND
    │   ├── TranscriptionNotReady         TRANSCRIPTION_NOT_READY
    │   ├── TranscriptionFailed           TRANSCRIPTION_FAILED
    │   └── WebhookNotFound               WEBHOOK_NOT_FOUND
    ├── RateLimited                  429  RATE_LIMITED (`.retry_after` seconds, or None)
    ├── ServiceUnavailable           503  SERVICE_UNAVAILABLE
    ├── ServerError                  5xx  INTERNAL_ERROR and any other server failure
    ├── ConnectionFailed             no response: refused, reset, DNS, timeout  CONNECTION_FAILED
    └── WaitTimeout                  `recordings.wait` gave up  WAIT_TIMEOUT

An unknown code maps to the class for its HTTP status, so a newer server never breaks the client.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

__all__ = [
    "ConnectionFailed",
    "EarshotError",
    "EmptyFile",
    "InvalidCustomTags",
    "InvalidParameter",
    "NotFound",
    "PayloadTooLarge",
    "RateLimited",
    "RecordingNotFound",
    "ServerError",
    "ServiceUnavailable",
    "TranscriptionFailed",
    "TranscriptionNotReady",
    "Unauthorized",
    "UnsupportedMediaType",
    "WaitTimeout",
    "WebhookNotFound",
    "error_from_response",
]


class EarshotError(Exception):
    """A request failed. `code` is the API's error code, `status` the HTTP status (None: no response)."""

    def __init__(self, code: str, message: str, status: int | None = None) -> None:
        super().__init__(code, message, status)
        self.code = code
        self.message = message
        self.status = status

    def __str__(self) -> str:
        prefix = f"{self.status} " if self.status is not None else ""
        return f"{prefix}{self.code}: {self.message}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r}, status={self.status!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        # Subclasses take other constructor arguments; pickle the attributes, not the call.
        return (_restore, (type(self), dict(self.__dict__)))


def _restore(cls: type[EarshotError], state: dict[str, Any]) -> EarshotError:
    error = cls.__new__(cls)
    Exception.__init__(error, state.get("code"), state.get("message"), state.get("status"))
    error.__dict__.update(state)
    return error


class Unauthorized(EarshotError):
    """401: missing or wrong credentials."""


class InvalidParameter(EarshotError):
    """400: a parameter is malformed or out of range; the message names it."""


class InvalidCustomTags(InvalidParameter):
    """400: `custom_tags` breaks a limit; the message names the key."""


class EmptyFile(EarshotError):
    """400: the uploaded file has no bytes."""


class PayloadTooLarge(EarshotError):
    """413: the upload is over the server's limit."""


class UnsupportedMediaType(EarshotError):
    """415: the request body is not a type the server takes."""


class NotFound(EarshotError):
    """404: the resource (or route) does not exist for this tenant."""


class RecordingNotFound(NotFound):
    """404: no such recording (unknown, deleted, or another tenant's)."""


class TranscriptionNotReady(NotFound):
    """404: the recording is still processing."""


class TranscriptionFailed(NotFound):
    """404: the recording failed; `recordings.get(id).error` says why."""


class WebhookNotFound(NotFound):
    """404: no such webhook."""


class RateLimited(EarshotError):
    """429: too many requests; wait `retry_after` seconds (None when the server did not say)."""

    def __init__(self, code: str, message: str, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(code, message, status)
        self.retry_after = retry_after


class ServiceUnavailable(EarshotError):
    """503: a dependency of the server (Redis, object storage) is down; retrying later may work."""


class ServerError(EarshotError):
    """5xx: the server failed (or answered something the client cannot read)."""


class ConnectionFailed(EarshotError):
    """No HTTP response: the connection was refused, reset, or timed out."""

    def __init__(self, message: str) -> None:
        super().__init__("CONNECTION_FAILED", message, None)


class WaitTimeout(EarshotError):
    """`recordings.wait` ran out of time; `recording` is the last state seen."""

    def __init__(self, message: str, recording: Any = None) -> None:
        super().__init__("WAIT_TIMEOUT", message, None)
        self.recording = recording


_BY_CODE: dict[str, type[EarshotError]] = {
    "UNAUTHORIZED": Unauthorized,
    "INVALID_PARAMETER": InvalidParameter,
    "INVALID_CUSTOM_TAGS": InvalidCustomTags,
    "EMPTY_FILE": EmptyFile,
    "PAYLOAD_TOO_LARGE": PayloadTooLarge,
    "UNSUPPORTED_MEDIA_TYPE": UnsupportedMediaType,
    "NOT_FOUND": NotFound,
    "RECORDING_NOT_FOUND": RecordingNotFound,
    "TRANSCRIPTION_NOT_READY": TranscriptionNotReady,
    "TRANSCRIPTION_FAILED": TranscriptionFailed,
    "WEBHOOK_NOT_FOUND": WebhookNotFound,
    "RATE_LIMITED": RateLimited,
    "SERVICE_UNAVAILABLE": ServiceUnavailable,
    "INTERNAL_ERROR": ServerError,
}

_BY_STATUS: dict[int, type[EarshotError]] = {
    400: InvalidParameter,
    401: Unauthorized,
    404: NotFound,
    413: PayloadTooLarge,
    415: UnsupportedMediaType,
    429: RateLimited,
    503: ServiceUnavailable,
}

# The code to report when the body carries none (a proxy's HTML page, an empty body).
_DEFAULT_CODE: dict[type[EarshotError], str] = {cls: code for code, cls in _BY_CODE.items()}


def _class_for(code: str | None, status: int) -> type[EarshotError]:
    if code is not None and code in _BY_CODE:
        return _BY_CODE[code]
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    return ServerError if status >= 500 else EarshotError


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


def _error_body(response: httpx.Response) -> tuple[str | None, str | None]:
    """The `code` and `message` of `{"error": {...}}`, or Nones when the body is something else."""
    try:
        body: Any = json.loads(response.content)
    except ValueError:
        return None, None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        code, message = error.get("code"), error.get("message")
        return (code if isinstance(code, str) else None), (message if isinstance(message, str) else None)
    detail = body.get("detail") if isinstance(body, dict) else None
    return None, (detail if isinstance(detail, str) else None)


def error_from_response(response: httpx.Response) -> EarshotError:
    """The typed error for a 4xx/5xx response; never raises, whatever the body holds."""
    status = response.status_code
    code, message = _error_body(response)
    cls = _class_for(code, status)
    if code is None:
        canonical = status in _BY_STATUS or status == 500
        code = _DEFAULT_CODE[cls] if canonical and cls in _DEFAULT_CODE else f"HTTP_{status}"
    if not message:
        text = response.text.strip()
        message = text[:200] if text else (response.reason_phrase or f"HTTP {status}")
    if cls is RateLimited:
        return RateLimited(code, message, status, _retry_after(response.headers.get("retry-after")))
    return cls(code, message, status)
