"""engine.webhooks and engine.access: what the seed SDK's receivers, endpoints and tokens rely on."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest
from vocafuse import RequestValidator

from earshot_client import WebhookVerificationError, verify_webhook
from engine.access.tokens import UPLOAD_SCOPE, validate_scopes
from engine.errors import InvalidParameter
from engine.webhooks.delivery import seed_body
from engine.webhooks.models import canonical_event, seed_event_name, validate_endpoint, validate_scheme, validate_secret
from engine.webhooks.signing import sign, sign_vocafuse, signing_key

BODY = b'{"type":"recording.transcribed","timestamp":"2025-10-06T17:33:31Z","data":{}}'


def test_a_whsec_secret_signs_with_its_decoded_bytes_as_standard_webhooks_expects() -> None:
    key = b"k" * 32
    secret = "whsec_" + base64.b64encode(key).decode()
    assert signing_key(secret) == key
    headers = {"webhook-id": "msg_1", "webhook-timestamp": "1700000000"}
    headers["webhook-signature"] = sign(secret, "msg_1", 1700000000, BODY)
    expected = base64.b64encode(hmac.new(key, b"msg_1.1700000000." + BODY, hashlib.sha256).digest()).decode()
    assert headers["webhook-signature"] == "v1," + expected


@pytest.mark.parametrize("secret", ["my-own-secret-1234", "whsec_not*base64*at*all", "whsec_"])
def test_a_secret_not_of_the_whsec_base64_form_signs_with_its_raw_utf8_bytes(secret: str) -> None:
    assert signing_key(secret) == secret.encode()
    signature = sign(secret, "msg_2", 1700000001, BODY)
    expected = base64.b64encode(hmac.new(secret.encode(), b"msg_2.1700000001." + BODY, hashlib.sha256).digest())
    assert signature == "v1," + expected.decode()


def test_the_seed_scheme_verifies_with_the_seed_sdks_own_validator() -> None:
    secret = "seed-secret-0123456789"
    signature = sign_vocafuse(secret, BODY)
    assert signature.startswith("sha256=")
    assert RequestValidator(secret).validate(BODY.decode(), signature)
    assert not RequestValidator(secret).validate(BODY.decode() + " ", signature)


def test_the_seed_body_adds_the_seed_event_name_first_and_is_the_same_every_time() -> None:
    once = seed_body(BODY, "recording.transcribed")
    assert once == seed_body(BODY, "recording.transcribed")
    payload = json.loads(once)
    assert next(iter(payload)) == "event" and payload["event"] == "recording.completed"
    assert json.loads(seed_body(BODY, "recording.failed"))["event"] == "recording.failed"


def test_seed_event_names_are_aliases_kept_as_given() -> None:
    url, events, _ = validate_endpoint(
        {"url": "https://h.example.com/", "events": ["recording.failed", "recording.completed"]}, allow_private=False
    )
    assert events == ["recording.completed", "recording.failed"]
    assert canonical_event("recording.completed") == "recording.transcribed"
    assert seed_event_name("recording.transcribed") == "recording.completed"
    _, both, _ = validate_endpoint(
        {"url": url, "events": ["recording.completed", "recording.transcribed"]}, allow_private=False
    )
    assert both == ["recording.completed"]  # one subscription per event
    with pytest.raises(InvalidParameter):
        validate_endpoint({"url": url, "events": ["recording.deleted"]}, allow_private=False)


@pytest.mark.parametrize("secret", ["x" * 15, "x" * 129, "sixteen chars ok", "\u00e9" * 20, 12345678901234567])
def test_a_caller_chosen_secret_is_16_to_128_printable_ascii_characters(secret: object) -> None:
    with pytest.raises(InvalidParameter):
        validate_secret(secret)


def test_valid_secrets_and_schemes_pass() -> None:
    assert validate_secret("x" * 16) == "x" * 16 and validate_secret("y" * 128) == "y" * 128
    assert validate_secret(None) is None
    assert validate_scheme(None) == "standard" and validate_scheme(None, "vocafuse") == "vocafuse"
    with pytest.raises(InvalidParameter):
        validate_scheme("hmac")


def test_the_upload_scope_is_the_only_scope() -> None:
    assert validate_scopes(None) == [UPLOAD_SCOPE] == validate_scopes([UPLOAD_SCOPE, UPLOAD_SCOPE])
    for scopes in ([], ["voice-api.read"], [UPLOAD_SCOPE, "admin"], "voice-api.upload_recording", [1]):
        with pytest.raises(InvalidParameter):
            validate_scopes(scopes)


@pytest.mark.parametrize(
    "secret",
    ["whsec_" + base64.b64encode(b"k" * 32).decode(), "my-receiver-secret-123", "abcdefghijklmnop", "whsec_not*base64"],
)
def test_earshots_own_verifier_accepts_what_the_server_signs_with_any_secret(secret: str) -> None:
    stamp = int(time.time())
    headers = {"webhook-id": "msg_3", "webhook-timestamp": str(stamp)}
    headers["webhook-signature"] = sign(secret, "msg_3", stamp, BODY)
    assert verify_webhook(secret, headers, BODY)["type"] == "recording.transcribed"
    with pytest.raises(WebhookVerificationError):
        verify_webhook(secret + "x", headers, BODY)


def test_an_unpadded_whsec_secret_signs_as_the_standard_webhooks_library_reads_it() -> None:
    from standardwebhooks import Webhook

    secret = "whsec_e/GhJIAkTIAGH+m/CQlzqg"  # 16 bytes, base64 without its "=="
    stamp = int(time.time())
    headers = {"webhook-id": "msg_4", "webhook-timestamp": str(stamp)}
    headers["webhook-signature"] = sign(secret, "msg_4", stamp, BODY)
    assert Webhook(secret).verify(BODY, headers)["type"] == "recording.transcribed"
    assert verify_webhook(secret, headers, BODY)["type"] == "recording.transcribed"
