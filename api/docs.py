"""OpenAPI: the error body and which error codes each route can answer."""

from __future__ import annotations

import msgspec
from litestar.openapi.datastructures import ResponseSpec

from api.errors import STATUS_BY_CODE

__all__ = ["ErrorBody", "OpenAIErrorBody", "errors", "openai_errors"]


class ErrorDetail(msgspec.Struct, kw_only=True):
    code: str
    message: str
    status: int


class ErrorBody(msgspec.Struct, kw_only=True):
    error: ErrorDetail


class OpenAIErrorDetail(msgspec.Struct, kw_only=True):
    message: str
    type: str
    param: str | None
    code: str | None


class OpenAIErrorBody(msgspec.Struct, kw_only=True):
    """OpenAI's error shape, used by the OpenAI-compatible routes only."""

    error: OpenAIErrorDetail


def errors(*codes: str) -> dict[int, ResponseSpec]:
    """`responses=` for a route: every listed code under its status, plus the ones every route has."""
    return _responses(codes, ErrorBody, lower=False)


def openai_errors(*codes: str) -> dict[int, ResponseSpec]:
    """`responses=` for an OpenAI-compatible route: the same codes, lowercased, in OpenAI's shape."""
    return _responses(codes, OpenAIErrorBody, lower=True)


def _responses(codes: tuple[str, ...], body: type[msgspec.Struct], *, lower: bool) -> dict[int, ResponseSpec]:
    by_status: dict[int, list[str]] = {}
    for code in (*codes, "UNAUTHORIZED", "RATE_LIMITED", "SERVICE_UNAVAILABLE", "INTERNAL_ERROR"):
        by_status.setdefault(STATUS_BY_CODE[code], []).append(code.lower() if lower else code)
    return {
        status: ResponseSpec(data_container=body, description="Error codes: " + ", ".join(sorted(set(names))))
        for status, names in sorted(by_status.items())
    }
