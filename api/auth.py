"""Credentials on every /v1 route: an API key and secret sent as Basic `api_key:api_secret`, as
`Bearer api_key:api_secret` (OpenAI-style clients), or as the seed SDK's `X-VocaFuse-API-Key` /
`X-VocaFuse-API-Secret` headers; Bearer upload tokens (`et_…`) for uploading files and reading back
their own recordings."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from litestar import Request

from engine.access.keys import KeyStore
from engine.access.ratelimit import AuthThrottle, RateLimiter
from engine.access.tokens import PREFIX as _TOKEN_PREFIX
from engine.access.tokens import TokenSigner
from engine.errors import Unauthorized

__all__ = ["Principal", "authenticate", "authenticate_upload", "basic_credentials", "client_address", "credentials"]

_HINT = (
    "send Authorization: Basic base64(api_key:api_secret), Authorization: Bearer api_key:api_secret, "
    "or the headers X-VocaFuse-API-Key and X-VocaFuse-API-Secret"
)


@dataclass(frozen=True, slots=True)
class Principal:
    tenant_id: str
    user_id: str | None = None
    source: str = "api"
    subject: str = ""
    """Whose allowance a request uses: the API key, or `token:{tenant}:{identity}`."""


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


def _bearer_pair(value: str) -> tuple[str, str]:
    """`Bearer api_key:api_secret`, the one-string credential OpenAI-style clients send."""
    if value.startswith(_TOKEN_PREFIX):
        raise Unauthorized(
            "an upload token may only upload a file (POST /v1/recordings) and read back its own "
            "recordings; this route needs an API key"
        )
    key, sep, secret = value.partition(":")
    if not sep or not key or not secret:
        raise Unauthorized("malformed Bearer credentials: send api_key:api_secret")
    return key, secret


def credentials(request: Request[Any, Any, Any]) -> tuple[str, str]:
    """The request's `(api_key, api_secret)`, whichever of the accepted forms carried them."""
    header = request.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return _bearer_pair(value.strip())
        return basic_credentials(header)
    key = request.headers.get("x-vocafuse-api-key")
    secret = request.headers.get("x-vocafuse-api-secret")
    if key and secret:
        return key, secret
    raise Unauthorized(_HINT)


def client_address(request: Request[Any, Any, Any]) -> str:
    """The peer's address (the API does not trust forwarding headers: `proxy_headers` is off)."""
    return request.client.host if request.client else "unknown"


@contextmanager
def _throttled(request: Request[Any, Any, Any], throttle: AuthThrottle | None) -> Iterator[None]:
    """Refuse an address that failed too often this minute; count this attempt if it fails."""
    if throttle is None:
        yield
        return
    address = client_address(request)
    throttle.check(address)
    try:
        yield
    except Unauthorized:
        throttle.failed(address)
        raise


def _api_key(request: Request[Any, Any, Any], keys: KeyStore, limiter: RateLimiter) -> tuple[str, str]:
    key, secret = credentials(request)
    tenant_id = keys.authenticate(key, secret)
    if tenant_id is None:
        raise Unauthorized("invalid API key or secret")
    limiter.hit(key)
    return tenant_id, key


def authenticate(
    request: Request[Any, Any, Any], keys: KeyStore, limiter: RateLimiter, throttle: AuthThrottle | None = None
) -> str:
    """The tenant id of the request's API key and secret (401 otherwise), within the key's rate
    and the address's allowance of failed attempts."""
    with _throttled(request, throttle):
        return _api_key(request, keys, limiter)[0]


def authenticate_upload(
    request: Request[Any, Any, Any],
    keys: KeyStore,
    tokens: TokenSigner,
    limiter: RateLimiter,
    throttle: AuthThrottle | None = None,
) -> Principal:
    """An API key, or `Authorization: Bearer <upload token>` (sets the recording's user_id)."""
    with _throttled(request, throttle):
        header = request.headers.get("authorization") or ""
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value.strip().startswith(_TOKEN_PREFIX):
            claims = tokens.verify(value.strip())
            if claims.api_key and not keys.exists(claims.api_key):
                raise Unauthorized("the API key that issued this upload token has been revoked")
            subject = f"token:{claims.tenant_id}:{claims.identity}"
            limiter.hit(subject)
            return Principal(tenant_id=claims.tenant_id, user_id=claims.identity, source="token", subject=subject)
        tenant_id, key = _api_key(request, keys, limiter)
        return Principal(tenant_id=tenant_id, subject=key)
