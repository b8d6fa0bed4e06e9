"""Basic auth per tenant: `Authorization: Basic base64(api_key:api_secret)`."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from litestar import Request

from engine.errors import Unauthorized
from engine.keys import KeyStore

__all__ = ["authenticate"]


def basic_credentials(header: str | None) -> tuple[str, str]:
    if not header:
        raise Unauthorized("send Authorization: Basic base64(api_key:api_secret)")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        raise Unauthorized("send Authorization: Basic base64(api_key:api_secret)")
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise Unauthorized("malformed Basic credentials") from None
    key, sep, secret = decoded.partition(":")
    if not sep or not key or not secret:
        raise Unauthorized("malformed Basic credentials")
    return key, secret


def authenticate(request: Request[Any, Any, Any], keys: KeyStore) -> str:
    """The tenant id of the request's credentials; 401 otherwise."""
    key, secret = basic_credentials(request.headers.get("authorization"))
    tenant_id = keys.authenticate(key, secret)
    if tenant_id is None:
        raise Unauthorized("invalid API key or secret")
    return tenant_id
