"""CORS for pages of other origins (EARSHOT_CORS_ORIGINS): a page at https://app.example.com that
imports /sdk/recorder.js uploads and reads back with an upload token in a `Bearer` header.

Litestar's CORS middleware answers preflights and marks answers, errors included (it wraps the
exception handlers), for the allowed origins. No credentials mode: the API authenticates by header,
never by cookie, so `Access-Control-Allow-Credentials` is never sent. The middleware also stamps
its allow/expose lists on answers to any origin; `strip_for_other_origins` takes them off again, so
that an origin not allowed sees no CORS header at all."""

from __future__ import annotations

from typing import Literal

from litestar.config.cors import CORSConfig
from litestar.datastructures import Headers, MutableScopeHeaders
from litestar.types import BeforeMessageSendHookHandler, Message, Method, Scope

from engine.settings import Settings

__all__ = ["cors"]

_METHODS: list[Literal["*"] | Method] = ["GET", "POST", "PUT", "PATCH", "DELETE"]
_HEADERS = ["Authorization", "Content-Type"]
_EXPOSED = ["Location", "Retry-After"]
_STAMPED = ("access-control-allow-headers", "access-control-allow-methods", "access-control-expose-headers")


def cors(settings: Settings) -> tuple[CORSConfig | None, list[BeforeMessageSendHookHandler]]:
    """The app's CORS config and its before-send hook; (None, []) when no origin is allowed."""
    origins = settings.cors_origin_list
    if not origins:
        return None, []
    # The origins are exact (validated by Settings), so Litestar's '*'-as-wildcard never applies
    # inside one; a lone "*" is any origin.
    config = CORSConfig(
        allow_origins=list(origins),
        allow_methods=list(_METHODS),
        allow_headers=list(_HEADERS),
        allow_credentials=False,
        expose_headers=list(_EXPOSED),
        max_age=600,
    )

    async def strip_for_other_origins(message: Message, scope: Scope) -> None:
        if message["type"] != "http.response.start":
            return
        origin = Headers.from_scope(scope).get("origin")
        if origin is None or config.is_origin_allowed(origin):
            return
        message.setdefault("headers", [])
        headers = MutableScopeHeaders.from_message(message)
        for name in _STAMPED:
            del headers[name]
        headers.extend_header_value("Vary", "Origin")  # the answer depends on the Origin: caches must keep them apart

    return config, [strip_for_other_origins]
