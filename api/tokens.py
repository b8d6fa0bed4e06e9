"""POST /v1/tokens: short-lived upload tokens for browsers and devices."""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Request, post

from api.auth import basic_credentials
from api.bodies import json_object
from api.docs import errors
from engine.access.tokens import IssuedToken, TokenSigner, validate_identity
from engine.errors import InvalidParameter
from engine.settings import Settings

__all__ = ["create_token"]

DEFAULT_TTL = 600


@post(
    "/v1/tokens",
    status_code=201,
    tags=["tokens"],
    responses=errors("INVALID_PARAMETER"),
)
async def create_token(
    request: Request[Any, Any, Any], tenant_id: str, tokens: TokenSigner, settings: Settings
) -> IssuedToken:
    """`{"identity": "user-42", "ttl_seconds": 600}` → a token that may upload as that identity."""
    payload = json_object(await request.body(), empty_ok=True)
    identity = validate_identity(payload.get("identity"))
    ttl = payload.get("ttl_seconds", DEFAULT_TTL)
    if not isinstance(ttl, int) or isinstance(ttl, bool) or not 1 <= ttl <= settings.token_max_ttl_s:
        raise InvalidParameter(f"ttl_seconds must be an integer from 1 to {settings.token_max_ttl_s}")
    api_key, _ = basic_credentials(request.headers.get("authorization"))  # checked by `tenant_id` already
    return await asyncio.to_thread(tokens.issue, tenant_id, identity, ttl, api_key)
