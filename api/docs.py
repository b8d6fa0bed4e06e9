"""OpenAPI: the error body and which error codes each route can answer."""

from __future__ import annotations

import msgspec
from litestar.openapi.datastructures import ResponseSpec

from api.errors import STATUS_BY_CODE

__all__ = ["ErrorBody", "errors"]


class ErrorDetail(msgspec.Struct, kw_only=True):
    code: str
    message: str
    status: int


class ErrorBody(msgspec.Struct, kw_only=True):
    error: ErrorDetail


def errors(*codes: str) -> dict[int, ResponseSpec]:
    """`responses=` for a route: every listed code under its status, plus the ones every route has."""
    by_status: dict[int, list[str]] = {}
    for code in (*codes, "UNAUTHORIZED", "RATE_LIMITED", "SERVICE_UNAVAILABLE", "INTERNAL_ERROR"):
        by_status.setdefault(STATUS_BY_CODE[code], []).append(code)
    return {
        status: ResponseSpec(data_container=ErrorBody, description="Error codes: " + ", ".join(sorted(set(names))))
        for status, names in sorted(by_status.items())
    }
