"""Short-lived upload tokens for browsers and devices: HMAC-signed, expiring, tenant-bound.

The signing key is 32 random bytes kept in Redis (created once, shared by every API node), so
tokens issued by one node verify on another and nothing secret lives in configuration.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from datetime import datetime

import msgspec
import redis

from engine.clock import from_ms, to_ms, utc_now
from engine.errors import InvalidParameter, Unauthorized
from engine.keyspace import KEYS, KeySpace
from engine.redisio import redis_errors

__all__ = ["UPLOAD_SCOPE", "IssuedToken", "TokenClaims", "TokenSigner", "validate_identity", "validate_scopes"]

PREFIX = "et_"
UPLOAD_SCOPE = "voice-api.upload_recording"
"""The seed's name for the one thing an upload token may do; the only scope a token can carry."""
_IDENTITY = re.compile(r"[^\x00-\x1f\x7f-\x9f]{1,128}")


class TokenClaims(msgspec.Struct, kw_only=True, array_like=True):
    tenant_id: str
    identity: str
    expires_ms: int
    nonce: str
    api_key: str = ""
    """The key that issued the token: revoking the key revokes its tokens."""


class IssuedToken(msgspec.Struct, kw_only=True):
    token: str
    expires_at: datetime
    identity: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def validate_identity(identity: object, name: str = "identity") -> str:
    if not isinstance(identity, str) or not _IDENTITY.fullmatch(identity):
        raise InvalidParameter(f"{name} must be a string of 1-128 characters without control characters")
    return identity


def validate_scopes(scopes: object) -> list[str]:
    """The seed's `scopes`: a non-empty list of known scopes (today only the upload scope)."""
    if scopes is None:
        return [UPLOAD_SCOPE]
    if not isinstance(scopes, list) or not scopes or not all(isinstance(s, str) for s in scopes):
        raise InvalidParameter(f"scopes must be a non-empty list of strings, e.g. [{UPLOAD_SCOPE!r}]")
    unknown = sorted({s for s in scopes if s != UPLOAD_SCOPE})
    if unknown:
        raise InvalidParameter(f"scopes: unknown scope {unknown[0][:64]!r}; the only scope is {UPLOAD_SCOPE!r}")
    return [UPLOAD_SCOPE]


class TokenSigner:
    def __init__(self, client: redis.Redis, keys: KeySpace = KEYS) -> None:
        self._r = client
        self._key_name = keys.token_signing_key
        self._key: bytes | None = None

    def _signing_key(self) -> bytes:
        if self._key is None:
            with redis_errors():
                self._r.set(self._key_name, secrets.token_bytes(32), nx=True)
                raw = self._r.get(self._key_name)
            assert isinstance(raw, bytes)
            self._key = raw
        return self._key

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._signing_key(), payload.encode(), hashlib.sha256).digest())

    def issue(self, tenant_id: str, identity: str, ttl_seconds: int, api_key: str = "") -> IssuedToken:
        expires = from_ms(to_ms(utc_now()) + ttl_seconds * 1000)
        claims = TokenClaims(
            tenant_id=tenant_id,
            identity=identity,
            expires_ms=to_ms(expires),
            nonce=secrets.token_hex(8),
            api_key=api_key,
        )
        payload = _b64(msgspec.msgpack.encode(claims))
        return IssuedToken(token=f"{PREFIX}{payload}.{self._sign(payload)}", expires_at=expires, identity=identity)

    def verify(self, token: str) -> TokenClaims:
        if not token.startswith(PREFIX) or len(token) > 1024:
            raise Unauthorized("invalid upload token")
        payload, _, signature = token[len(PREFIX) :].partition(".")
        expected = self._sign(payload).encode()
        if not hmac.compare_digest(expected, signature.encode("utf-8", "replace")):
            raise Unauthorized("invalid upload token")
        try:
            claims = msgspec.msgpack.decode(_unb64(payload), type=TokenClaims)
        except (msgspec.DecodeError, ValueError):
            raise Unauthorized("invalid upload token") from None
        if claims.expires_ms < to_ms(utc_now()):
            raise Unauthorized("the upload token has expired")
        return claims
