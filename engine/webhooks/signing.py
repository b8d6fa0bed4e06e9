"""Standard Webhooks signatures: `webhook-signature: v1,<base64 HMAC-SHA256>`."""

from __future__ import annotations

import base64
import hashlib
import hmac

from engine.webhooks.models import SECRET_PREFIX

__all__ = ["sign"]


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256>` over `{id}.{timestamp}.{body}` with the decoded secret."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()
