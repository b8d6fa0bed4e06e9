"""The one place where errors become HTTP: the spec's body, one status per code, no stack traces."""

from __future__ import annotations

import logging
from typing import Any

from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException

from engine import errors

__all__ = [
    "STATUS",
    "STATUS_BY_CODE",
    "error_response",
    "exception_handlers",
    "openai_error_response",
    "openai_exception_handlers",
    "retry_headers",
    "status_of",
]

log = logging.getLogger("earshot.api")

STATUS: dict[type[errors.EarshotError], int] = {
    errors.Unauthorized: 401,
    errors.InvalidParameter: 400,
    errors.EmptyFile: 400,
    errors.PayloadTooLarge: 413,
    errors.UnsupportedMediaType: 415,
    errors.NotFound: 404,
    errors.ServiceUnavailable: 503,
    errors.RateLimited: 429,
    errors.ApiKeyInUse: 409,
    errors.NothingToRetry: 409,
    errors.TranscriptionTimeout: 504,
}

STATUS_BY_CODE: dict[str, int] = {
    "UNAUTHORIZED": 401,
    "INVALID_PARAMETER": 400,
    "INVALID_CUSTOM_TAGS": 400,
    "EMPTY_FILE": 400,
    "REQUEST_TIMEOUT": 408,
    "PAYLOAD_TOO_LARGE": 413,
    "UNSUPPORTED_MEDIA_TYPE": 415,
    "RECORDING_NOT_FOUND": 404,
    "TRANSCRIPTION_NOT_READY": 404,
    "TRANSCRIPTION_FAILED": 404,
    "WEBHOOK_NOT_FOUND": 404,
    "API_KEY_NOT_FOUND": 404,
    "VOCABULARY_NOT_FOUND": 404,
    "MODEL_NOT_FOUND": 404,
    "API_KEY_IN_USE": 409,
    "NOTHING_TO_RETRY": 409,
    "TRANSCRIPTION_TIMEOUT": 504,
    "RATE_LIMITED": 429,
    "SERVICE_UNAVAILABLE": 503,
    "INTERNAL_ERROR": 500,
}
"""Every code the API answers with, for the OpenAPI document (kept equal to STATUS by a test).
REQUEST_TIMEOUT is the transport's (api.bodies.BodyTimeout: a request body that stalled)."""

_HTTP_CODES = {
    400: "INVALID_PARAMETER",
    401: "UNAUTHORIZED",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    408: "REQUEST_TIMEOUT",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    429: "RATE_LIMITED",
    503: "SERVICE_UNAVAILABLE",
}


def error_response(
    code: str, message: str, status: int, headers: dict[str, str] | None = None
) -> Response[dict[str, object]]:
    if status == 401:
        headers = {"WWW-Authenticate": 'Basic realm="earshot"', **(headers or {})}
    return Response(
        {"error": {"code": code, "message": message, "status": status}},
        status_code=status,
        media_type=MediaType.JSON,
        headers=headers,
    )


def status_of(exc: errors.EarshotError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def retry_headers(exc: errors.EarshotError) -> dict[str, str] | None:
    if isinstance(exc, errors.RateLimited):
        return {"Retry-After": str(exc.retry_after)}
    if isinstance(exc, errors.ServiceUnavailable):
        return {"Retry-After": "5"}
    return None


def _sent_bearer(request: Request[Any, Any, Any]) -> bool:
    return (request.headers.get("authorization") or "").partition(" ")[0].lower() == "bearer"


def _earshot(request: Request[Any, Any, Any], exc: errors.EarshotError) -> Response[dict[str, object]]:
    status = status_of(exc)
    if status >= 500:
        log.warning("request failed: %s %s: %s", request.method, request.url.path, exc.code)
    headers = retry_headers(exc)
    if status == 401 and _sent_bearer(request):
        # A refused Bearer credential gets a Bearer challenge (RFC 6750): browsers answer a Basic
        # challenge with their own login dialog, even on a script's request, never this one.
        headers = {**(headers or {}), "WWW-Authenticate": 'Bearer realm="earshot", error="invalid_token"'}
    return error_response(exc.code, exc.message, status, headers)


def _http(request: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, object]]:
    status = exc.status_code
    code = _HTTP_CODES.get(status, "INTERNAL_ERROR" if status >= 500 else "BAD_REQUEST")
    message = exc.detail if status < 500 else "internal error"
    if status == 404:
        message = "no such route"
    return error_response(code, str(message), status)


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, object]]:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response("INTERNAL_ERROR", "internal error", 500)


exception_handlers = {
    errors.EarshotError: _earshot,
    HTTPException: _http,
    Exception: _unexpected,
}


# -- OpenAI's error shape, on the OpenAI-compatible routes only ----------------------------------
# The same errors and statuses as above, in the body OpenAI's SDKs parse:
# {"error": {"message", "type", "param", "code"}}, `code` being Earshot's code in lowercase.

_FILE_ERRORS = (
    errors.EmptyFile,
    errors.PayloadTooLarge,
    errors.UnsupportedMediaType,
    errors.InvalidAudio,
    errors.AudioTooLong,
)


def _openai_type(status: int) -> str:
    if status == 429:
        return "requests"
    return "server_error" if status >= 500 else "invalid_request_error"


def openai_error_response(
    code: str, message: str, status: int, *, param: str | None = None, headers: dict[str, str] | None = None
) -> Response[dict[str, object]]:
    headers = dict(headers or {})
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="earshot"'
        code = "INVALID_API_KEY"
    if status in (500, 504):
        # OpenAI's SDKs retry 5xx answers; this one would only queue the same audio again.
        headers["x-should-retry"] = "false"
    body = {"message": message, "type": _openai_type(status), "param": param, "code": code.lower()}
    return Response({"error": body}, status_code=status, media_type=MediaType.JSON, headers=headers or None)


REGISTERED = "earshot_registered_recording"
"""`request.state` key an OpenAI route sets once the upload is a recording of its own."""


def _registered(request: Request[Any, Any, Any]) -> bool:
    return REGISTERED in request.state


def _openai_earshot(request: Request[Any, Any, Any], exc: errors.EarshotError) -> Response[dict[str, object]]:
    # A synchronous route reports the recording's own failure: bad audio is the caller's error.
    status = 400 if isinstance(exc, (errors.InvalidAudio, errors.AudioTooLong)) else status_of(exc)
    if status >= 500:
        log.warning("request failed: %s %s: %s", request.method, request.url.path, exc.code)
    param = getattr(exc, "param", None) or ("file" if isinstance(exc, _FILE_ERRORS) else None)
    headers = retry_headers(exc)
    if _registered(request):
        # The audio is queued already: sending it again would transcribe it twice.
        headers = {**(headers or {}), "x-should-retry": "false"}
    return openai_error_response(exc.code, exc.message, status, param=param, headers=headers)


def _openai_http(request: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, object]]:
    error = _http(request, exc).content["error"]
    assert isinstance(error, dict)
    return openai_error_response(str(error["code"]), str(error["message"]), exc.status_code)


def _openai_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, object]]:
    _unexpected(request, exc)
    return openai_error_response("INTERNAL_ERROR", "internal error", 500)


openai_exception_handlers = {
    errors.EarshotError: _openai_earshot,
    HTTPException: _openai_http,
    Exception: _openai_unexpected,
}
