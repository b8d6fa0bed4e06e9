"""api.errors: every engine error has the spec's HTTP status, and every error body the spec's shape."""

from __future__ import annotations

import inspect

import pytest
from litestar import get
from litestar.testing import create_test_client

from api.errors import error_response, exception_handlers, status_of
from engine import errors

SPEC_STATUS: dict[type[errors.EarshotError], int] = {
    errors.Unauthorized: 401,
    errors.InvalidParameter: 400,
    errors.InvalidCustomTags: 400,
    errors.EmptyFile: 400,
    errors.PayloadTooLarge: 413,
    errors.UnsupportedMediaType: 415,
    errors.NotFound: 404,
    errors.RecordingNotFound: 404,
    errors.TranscriptionNotReady: 404,
    errors.TranscriptionFailed: 404,
    errors.WebhookNotFound: 404,
    errors.ApiKeyNotFound: 404,
    errors.VocabularyNotFound: 404,
    errors.ModelNotFound: 404,
    errors.ApiKeyInUse: 409,
    errors.TranscriptionTimeout: 504,
    errors.ServiceUnavailable: 503,
    errors.RecordingBusy: 503,
    errors.NoWorker: 503,
    errors.RateLimited: 429,
    # Job failures end a recording `failed`; they are not answers to a request.
    errors.JobFailure: 500,
    errors.InvalidAudio: 500,
    errors.AudioTooLong: 500,
    errors.SourceFetchFailed: 500,
    errors.TranscriptionError: 500,
    errors.DiarizationUnavailable: 500,
    errors.DiarizationFailed: 500,
    errors.NothingToRetry: 409,
    errors.EarshotError: 500,
}

SPEC_CODES = {
    "UNAUTHORIZED",
    "INVALID_PARAMETER",
    "INVALID_CUSTOM_TAGS",
    "EMPTY_FILE",
    "PAYLOAD_TOO_LARGE",
    "UNSUPPORTED_MEDIA_TYPE",
    "RECORDING_NOT_FOUND",
    "TRANSCRIPTION_NOT_READY",
    "TRANSCRIPTION_FAILED",
    "WEBHOOK_NOT_FOUND",
    "SERVICE_UNAVAILABLE",
    # The seed SDK's self-service keys (issue 13) and the OpenAI routes' bounded synchronous wait.
    "API_KEY_NOT_FOUND",
    "API_KEY_IN_USE",
    "TRANSCRIPTION_TIMEOUT",
    # The contract's vocabularies (issue 14), tenant-scoped like recordings and webhooks.
    "VOCABULARY_NOT_FOUND",
    # OpenAI's client.models.retrieve() of a name the deployment does not take.
    "MODEL_NOT_FOUND",
    # A retry of a recording with no failed stage (issue 15: a retry re-runs only the failed stage).
    "NOTHING_TO_RETRY",
    # The spec does not list a code for 429; the reliability issue asks for per-key rate limits.
    "RATE_LIMITED",
}


def error_classes() -> list[type[errors.EarshotError]]:
    return [
        cls
        for _, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, errors.EarshotError) and cls.__module__ == errors.__name__
    ]


def test_every_error_class_in_the_engine_has_an_expected_status_here() -> None:
    assert set(error_classes()) == set(SPEC_STATUS)


@pytest.mark.parametrize(
    ("cls", "status"), sorted(SPEC_STATUS.items(), key=lambda item: item[0].__name__), ids=lambda x: str(x)
)
def test_each_error_maps_to_the_spec_status(cls: type[errors.EarshotError], status: int) -> None:
    assert status_of(cls()) == status


def test_every_error_code_a_request_can_get_is_one_the_spec_lists() -> None:
    request_errors = [cls for cls, status in SPEC_STATUS.items() if status != 500]

    # NotFound itself is only a parent: routes raise one of its named subclasses.
    assert {cls.code for cls in request_errors} - {"NOT_FOUND"} == SPEC_CODES


def test_a_subclass_defined_elsewhere_inherits_its_parents_status() -> None:
    class TokenExpired(errors.Unauthorized):
        code = "UNAUTHORIZED"

    assert status_of(TokenExpired("token expired")) == 401


def test_the_error_body_has_code_message_and_status() -> None:
    response = error_response("RECORDING_NOT_FOUND", "recording not found", 404)

    assert response.status_code == 404
    assert response.content == {
        "error": {"code": "RECORDING_NOT_FOUND", "message": "recording not found", "status": 404}
    }


def test_a_401_tells_the_client_to_use_basic_auth() -> None:
    response = error_response("UNAUTHORIZED", "missing or invalid credentials", 401)

    assert response.headers.get("WWW-Authenticate", "").startswith("Basic")


def test_other_errors_carry_no_authentication_challenge() -> None:
    assert "WWW-Authenticate" not in (error_response("INVALID_PARAMETER", "limit", 400).headers or {})


@pytest.mark.parametrize(
    "exc",
    [
        errors.RecordingNotFound(),
        errors.InvalidParameter("limit must be from 1 to 100"),
        errors.ServiceUnavailable(),
        errors.Unauthorized(),
    ],
    ids=lambda exc: type(exc).__name__,
)
def test_a_route_raising_an_engine_error_answers_with_the_spec_body(exc: errors.EarshotError) -> None:
    @get("/boom", sync_to_thread=False)
    def boom() -> None:
        raise exc

    with create_test_client([boom], exception_handlers=exception_handlers) as client:
        response = client.get("/boom")

    status = SPEC_STATUS[type(exc)]
    assert response.status_code == status
    assert response.json() == {"error": {"code": exc.code, "message": exc.message, "status": status}}


def test_an_unexpected_exception_is_a_500_without_a_stack_trace() -> None:
    @get("/boom", sync_to_thread=False)
    def boom() -> None:
        raise RuntimeError("secret internals at /srv/earshot/engine.py line 42")

    with create_test_client([boom], exception_handlers=exception_handlers) as client:
        response = client.get("/boom")

    assert response.status_code == 500
    assert response.json() == {"error": {"code": "INTERNAL_ERROR", "message": "internal error", "status": 500}}
    assert "secret internals" not in response.text


def test_a_job_failure_reaching_a_route_is_a_500_not_a_client_error() -> None:
    @get("/boom", sync_to_thread=False)
    def boom() -> None:
        raise errors.InvalidAudio()

    with create_test_client([boom], exception_handlers=exception_handlers) as client:
        response = client.get("/boom")

    assert response.status_code == 500
    assert response.json()["error"]["status"] == 500
