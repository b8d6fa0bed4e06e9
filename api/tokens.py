"""Short-lived upload tokens for browsers and devices: Earshot's `POST /v1/tokens`, and the seed
SDK's `POST /v1/token` (its `AccessToken(identity=...)()`), which mint the same token."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import msgspec
from litestar import Request, post

from api.auth import credentials
from api.bodies import json_body
from api.docs import errors
from api.limits import ApiLimits
from engine.access.tokens import IssuedToken, TokenSigner, validate_identity, validate_scopes
from engine.errors import InvalidParameter
from engine.settings import Settings

__all__ = ["create_seed_token", "create_token"]

DEFAULT_TTL = 600


class SeedTokenData(msgspec.Struct, kw_only=True):
    jwt_token: str
    expires_at: datetime


class SeedToken(msgspec.Struct, kw_only=True):
    """`IssuedToken`'s fields, plus the seed's `data.jwt_token` and what the token may do."""

    token: str
    expires_at: datetime
    identity: str
    expires_in: int
    scopes: list[str]
    data: SeedTokenData


def _ttl(value: object, name: str, settings: Settings) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= settings.token_max_ttl_s:
        raise InvalidParameter(f"{name} must be an integer from 1 to {settings.token_max_ttl_s}")
    return value


@post("/v1/tokens", status_code=201, tags=["tokens"], responses=errors("INVALID_PARAMETER"))
async def create_token(
    request: Request[Any, Any, Any], tenant_id: str, tokens: TokenSigner, settings: Settings, limits: ApiLimits
) -> IssuedToken:
    """`{"identity": "user-42", "ttl_seconds": 600}` → a token that may upload as that identity."""
    payload = await json_body(request, timeout_s=limits.body_read_timeout_s, empty_ok=True)
    identity = validate_identity(payload.get("identity"))
    ttl = _ttl(payload.get("ttl_seconds", DEFAULT_TTL), "ttl_seconds", settings)
    api_key, _ = credentials(request)  # checked by `tenant_id` already
    return await asyncio.to_thread(tokens.issue, tenant_id, identity, ttl, api_key)


@post("/v1/token", status_code=201, tags=["tokens"], responses=errors("INVALID_PARAMETER"))
async def create_seed_token(
    request: Request[Any, Any, Any], tenant_id: str, tokens: TokenSigner, settings: Settings, limits: ApiLimits
) -> SeedToken:
    """The seed SDK's form: `{"user_id", "expires_in", "scopes": ["voice-api.upload_recording"]}`.

    The same upload token as `POST /v1/tokens` (identity = `user_id`, lifetime = `expires_in`);
    `voice-api.upload_recording` is the only scope, and an unknown one is 400."""
    payload = await json_body(request, timeout_s=limits.body_read_timeout_s, empty_ok=True)
    identity = validate_identity(payload.get("user_id"), "user_id")
    ttl = _ttl(payload.get("expires_in", DEFAULT_TTL), "expires_in", settings)
    scopes = validate_scopes(payload.get("scopes"))
    api_key, _ = credentials(request)
    issued = await asyncio.to_thread(tokens.issue, tenant_id, identity, ttl, api_key)
    return SeedToken(
        token=issued.token,
        expires_at=issued.expires_at,
        identity=issued.identity,
        expires_in=ttl,
        scopes=scopes,
        data=SeedTokenData(jwt_token=issued.token, expires_at=issued.expires_at),
    )
