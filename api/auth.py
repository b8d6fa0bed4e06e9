"""Credentials: Basic `api_key:api_secret` on every /v1 route; Bearer upload tokens for uploads."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from litestar import Request

from engine.access.keys import KeyStore
from engine.access.ratelimit import RateLimiter
from engine.access.tokens import TokenSigner
from engine.errors import Unauthorized

__all__ = ["Principal", "authenticate", "authenticate_upload", "basic_credentials"]

_HINT = "send Authorization: Basic base64(api_key:api_secret)"


@dataclass(frozen=True, slots=True)
class Principal:
    tenant_id: str
    user_id: str | None = None
    source: str = "api"


def basic_credentials(header: str | None) -> tuple[str, str]:
    if not header:
        raise Unauthorized(_HINT)
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        raise Unauthorized(_HINT)
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except ValueError:  # binascii.Error, UnicodeDecodeError, and non-ASCII input
        raise Unauthorized("malformed Basic credentials") from None
    key, sep, secret = decoded.partition(":")
    if not sep or not key or not secret:
        raise Unauthorized("malformed Basic credentials")
    return key, secret


def authenticate(request: Request[Any, Any, Any], keys: KeyStore, limiter: RateLimiter) -> str:
    """The tenant id of the request's Basic credentials (401 otherwise), within the key's rate."""
    key, secret = basic_credentials(request.headers.get("authorization"))
    tenant_id = keys.authenticate(key, secret)
    if tenant_id is None:
        raise Unauthorized("invalid API key or secret")
    limiter.hit(key)
    return tenant_id


def authenticate_upload(
    request: Request[Any, Any, Any], keys: KeyStore, tokens: TokenSigner, limiter: RateLimiter
) -> Principal:
    """Basic credentials, or `Authorization: Bearer <upload token>` (sets the recording's user_id)."""
    header = request.headers.get("authorization") or ""
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        claims = tokens.verify(value.strip())
        if claims.api_key and not keys.exists(claims.api_key):
            raise Unauthorized("the API key that issued this upload token has been revoked")
        limiter.hit(f"token:{claims.tenant_id}:{claims.identity}")
        return Principal(tenant_id=claims.tenant_id, user_id=claims.identity, source="token")
    return Principal(tenant_id=authenticate(request, keys, limiter))
