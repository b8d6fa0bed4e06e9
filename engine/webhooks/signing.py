"""Webhook signatures.

Standard Webhooks (every endpoint): `webhook-signature: v1,<base64 HMAC-SHA256>` over
`{id}.{timestamp}.{body}`. The key is the base64-decoded part of a `whsec_<base64>` secret; a
caller-chosen secret not of that form is used as its raw UTF-8 bytes.

The seed's scheme (endpoints with `signature_scheme: "vocafuse"`, in addition):
`X-VocaFuse-Signature: sha256=<hex HMAC-SHA256 of the body>`, keyed with the secret's UTF-8 bytes
as the seed's `RequestValidator(secret).validate(body, signature)` expects.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

from engine.webhooks.models import SECRET_PREFIX

__all__ = ["sign", "sign_vocafuse", "signing_key"]


def signing_key(secret: str) -> bytes:
    """The HMAC key of the Standard Webhooks signature for `secret`."""
    if secret.startswith(SECRET_PREFIX):
        try:
            encoded = secret.removeprefix(SECRET_PREFIX)
            # Padding is optional, as Standard Webhooks' own libraries read it.
            key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
        except (binascii.Error, ValueError):
            key = b""
        if key:
            return key
    return secret.encode()


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256>` over `{id}.{timestamp}.{body}`."""
    mac = hmac.new(signing_key(secret), f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def sign_vocafuse(secret: str, body: bytes) -> str:
    """`sha256=<hex HMAC-SHA256 of the body>` with the secret's UTF-8 bytes, the seed's scheme."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
