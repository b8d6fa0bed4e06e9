"""Verify Earshot's webhooks on the receiving side (Standard Webhooks signatures).

    from earshot_client import verify_webhook, WebhookVerificationError

    def handler(request):
        try:
            event = verify_webhook(WEBHOOK_SECRET, request.headers, request.body)
        except WebhookVerificationError:
            return 400
        if already_seen(request.headers["webhook-id"]):  # retries reuse the id: dedupe on it
            return 200
        ...

Pass the raw body bytes exactly as received: parsing and re-serializing JSON changes them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

__all__ = ["WebhookVerificationError", "verify_webhook"]


class WebhookVerificationError(Exception):
    """The webhook is not authentic, or too old or too new to accept."""


def _header(headers: Mapping[str, str], name: str) -> str:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    raise WebhookVerificationError(f"missing header {name}")


def _key(secret: str) -> bytes:
    """The HMAC key the server signs with for `secret` (the same rule as the server's)."""
    if secret.startswith("whsec_"):
        try:
            encoded = secret.removeprefix("whsec_")
            key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
        except (binascii.Error, ValueError):
            key = b""
        if key:
            return key
    return secret.encode()


def verify_webhook(secret: str, headers: Mapping[str, str], body: bytes | str, tolerance: int = 300) -> dict[str, Any]:
    """Check the `webhook-signature` of a delivery and return the parsed event.

    `secret` is the endpoint's secret: a `whsec_...` one (generated, or chosen in that form) keys the
    signature with its base64-decoded bytes, any other chosen secret with its UTF-8 bytes, as the
    server signs; `tolerance` bounds the difference in seconds
    between `webhook-timestamp` and now (replay protection)."""
    raw = body.encode() if isinstance(body, str) else bytes(body)
    msg_id = _header(headers, "webhook-id")
    stamp = _header(headers, "webhook-timestamp")
    signatures = _header(headers, "webhook-signature")
    try:
        timestamp = int(stamp)
    except ValueError:
        raise WebhookVerificationError("invalid webhook-timestamp") from None
    if abs(time.time() - timestamp) > tolerance:
        raise WebhookVerificationError("webhook-timestamp is outside the tolerance")
    expected = hmac.new(_key(secret), f"{msg_id}.{timestamp}.".encode() + raw, hashlib.sha256).digest()
    for candidate in signatures.split():
        version, _, value = candidate.partition(",")
        if version != "v1":
            continue
        try:
            given = base64.b64decode(value, validate=True)
        except binascii.Error:
            continue
        if hmac.compare_digest(given, expected):
            try:
                event: dict[str, Any] = json.loads(raw)
            except ValueError:
                raise WebhookVerificationError("the body is not JSON") from None
            return event
    raise WebhookVerificationError("no matching signature")
