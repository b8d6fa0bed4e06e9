"""The seed's own SDK (`vocafuse` 0.1.1), unmodified, against a running Earshot.

Everything it calls answers in the shapes it reads: its header pair authenticates, its 404s land
on its own exception classes, its `AccessToken` mints an upload token, its webhook calls and
api-key calls work, and a delivered webhook verifies with its own `RequestValidator`.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from standardwebhooks.webhooks import Webhook
from vocafuse import Client, RequestValidator
from vocafuse.exceptions import (
    APIKeyNotFoundError,
    AuthenticationError,
    ConflictError,
    RecordingNotFoundError,
    TranscriptionNotFoundError,
    ValidationError,
    WebhookNotFoundError,
)
from vocafuse.jwt import AccessToken

from engine.access.keys import IssuedKey
from tests.conftest import Stack

pytestmark = pytest.mark.integration

SECRET = "seed-receiver-secret-0123456789"


@dataclass
class Inbox:
    url: str = ""
    requests: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)

    def wait_for(self, path: str, timeout: float = 60) -> tuple[dict[str, str], bytes]:
        deadline = time.monotonic() + timeout
        while True:
            for got_path, headers, body in self.requests:
                if got_path == path:
                    return headers, body
            assert time.monotonic() < deadline, f"no delivery to {path}"
            time.sleep(0.05)


@pytest.fixture(scope="module")
def inbox() -> Iterator[Inbox]:
    """A webhook receiver on loopback that records every POST and answers 200."""
    state = Inbox()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            state.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield state
    server.shutdown()
    server.server_close()


def seed_client(stack: Stack, key: IssuedKey) -> Client:
    return Client(api_key=key.api_key, api_secret=key.api_secret, base_url=f"{stack.url}/v1")


def upload(api: httpx.Client, path: Path) -> str:
    response = api.post("/v1/recordings", files={"file": (path.name, path.read_bytes(), "audio/wav")})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def test_the_seed_sdk_lists_filters_and_pages_recordings(
    stack: Stack, api: httpx.Client, tenant: IssuedKey, audio_dir: Path
) -> None:
    ids = [upload(api, audio_dir / "espeak_1.wav") for _ in range(3)]
    for recording_id in ids:
        stack.wait_done(api, recording_id)
    client = seed_client(stack, tenant)

    first = client.recordings.list(page=0, limit=2, status="completed")
    assert [r["id"] for r in first["recordings"]] == ids[:0:-1]
    assert (first["page"], first["page_size"], first["total"]) == (0, 2, 3)
    assert first["next_page_uri"] and first["previous_page_uri"] is None
    second = client.recordings.list(page=1, limit=2, status="completed")
    assert [r["id"] for r in second["recordings"]] == ids[:1] and second["next_page_uri"] is None

    today = datetime.now(UTC).date()
    within = client.recordings.list(date_from=today.isoformat(), date_to=today.isoformat())
    assert within["total"] == 3
    before = client.recordings.list(date_to=(today - timedelta(days=1)).isoformat())
    assert before["total"] == 0 and before["recordings"] == []
    assert client.recordings.list(status="failed")["total"] == 0
    with pytest.raises(ValidationError):
        client.recordings.list(status="nonsense")


def test_the_seed_sdk_gets_a_recording_and_its_transcription_and_deletes_it(
    stack: Stack, api: httpx.Client, tenant: IssuedKey, audio_dir: Path
) -> None:
    recording_id = upload(api, audio_dir / "jfk.flac")
    stack.wait_done(api, recording_id)
    client = seed_client(stack, tenant)

    assert client.recordings.get(recording_id)["status"] == "transcribed"
    assert client.recordings(recording_id).get()["id"] == recording_id
    transcription = client.recordings(recording_id).transcription.get()
    assert transcription["recording_id"] == recording_id and "country" in transcription["text"].lower()

    assert client.recordings.delete(recording_id) == {}
    with pytest.raises(RecordingNotFoundError):
        client.recordings.get(recording_id)
    with pytest.raises(RecordingNotFoundError):
        client.recordings.delete(recording_id)
    with pytest.raises(RecordingNotFoundError):
        client.recordings(str(uuid.uuid4())).transcription.get()


def test_a_transcription_not_ready_is_the_seed_sdks_transcription_error(
    stack: Stack, api: httpx.Client, tenant: IssuedKey, audio_dir: Path
) -> None:
    client = seed_client(stack, tenant)
    with stack.worker_paused():
        recording_id = upload(api, audio_dir / "espeak_1.wav")
        with pytest.raises(TranscriptionNotFoundError) as not_ready:
            client.recordings(recording_id).transcription.get()
    assert (not_ready.value.status_code, not_ready.value.error_code) == (404, "TRANSCRIPTION_NOT_READY")
    stack.wait_done(api, recording_id)


def test_wrong_seed_credentials_are_the_seed_sdks_authentication_error(stack: Stack, tenant: IssuedKey) -> None:
    client = Client(api_key=tenant.api_key, api_secret="es_wrong", base_url=f"{stack.url}/v1")
    with pytest.raises(AuthenticationError):
        client.recordings.list()
    with pytest.raises(AuthenticationError):
        AccessToken(tenant.api_key, "es_wrong", identity="u", base_url=f"{stack.url}/v1")()


def test_the_seed_sdk_creates_lists_updates_and_deletes_webhooks(stack: Stack, tenant: IssuedKey) -> None:
    client = seed_client(stack, tenant)
    created = client.webhooks.create(url="https://hooks.example.com/a", events=["recording.completed"], secret=SECRET)
    assert created["events"] == ["recording.completed"] and created["secret"] == SECRET
    assert created["signature_scheme"] == "vocafuse"  # made by the seed's SDK: its receivers' scheme
    assert [h["id"] for h in client.webhooks.list()["webhooks"]] == [created["id"]]

    updated = client.webhooks.update(
        created["id"], url="https://hooks.example.com/b", events=["recording.completed", "recording.failed"]
    )
    assert updated["url"] == "https://hooks.example.com/b"
    assert updated["events"] == ["recording.completed", "recording.failed"] and "secret" not in updated
    client.webhooks.update(
        created["id"], url="https://hooks.example.com/b", events=["recording.failed"], secret="x" * 40
    )

    with pytest.raises(ValidationError):
        client.webhooks.create(url="https://hooks.example.com/c", events=["recording.completed"], secret="short")
    with pytest.raises(ValidationError):
        client.webhooks.update(created["id"], url="https://hooks.example.com/c", events=["recording.deleted"])

    assert client.webhooks.delete(created["id"]) == {}
    with pytest.raises(WebhookNotFoundError):
        client.webhooks.delete(created["id"])
    with pytest.raises(WebhookNotFoundError):
        client.webhooks.update(created["id"], url="https://hooks.example.com/d", events=["recording.failed"])


def test_another_tenants_webhook_and_keys_answer_like_unknown_ones(stack: Stack, tenant: IssuedKey) -> None:
    owner = seed_client(stack, tenant)
    hook = owner.webhooks.create(url="https://hooks.example.com/mine", events=["recording.failed"])
    intruder = seed_client(stack, stack.tenant(f"intruder-{uuid.uuid4().hex[:8]}"))

    with pytest.raises(WebhookNotFoundError) as foreign:
        intruder.webhooks.update(hook["id"], url="https://evil.example.com/", events=["recording.failed"])
    with pytest.raises(WebhookNotFoundError) as unknown:
        intruder.webhooks.update(str(uuid.uuid4()), url="https://evil.example.com/", events=["recording.failed"])
    assert foreign.value.error_code == unknown.value.error_code == "WEBHOOK_NOT_FOUND"
    with pytest.raises(APIKeyNotFoundError):
        intruder.api_keys.delete(tenant.api_key)
    with pytest.raises(APIKeyNotFoundError):
        intruder.api_keys.delete("ek_" + uuid.uuid4().hex)
    assert tenant.api_key not in {k["id"] for k in intruder.api_keys.list()["api_keys"]}
    assert owner.webhooks.list()["webhooks"][0]["url"] == "https://hooks.example.com/mine"
    assert owner.recordings.list()["total"] == 0  # the key still works


def test_an_access_token_uploads_a_file_whose_user_id_is_its_identity(
    stack: Stack, tenant: IssuedKey, audio_dir: Path
) -> None:
    minted = AccessToken(tenant.api_key, tenant.api_secret, identity="user-7", base_url=f"{stack.url}/v1")(
        expires_in=120
    )
    token = minted["data"]["jwt_token"]
    assert minted["token"] == token and minted["identity"] == "user-7"
    assert minted["scopes"] == ["voice-api.upload_recording"]
    lifetime = datetime.fromisoformat(minted["expires_at"]) - datetime.now(UTC)
    assert timedelta(seconds=100) < lifetime <= timedelta(seconds=121)

    bearer = {"Authorization": f"Bearer {token}"}
    wav = (audio_dir / "espeak_1.wav").read_bytes()
    uploaded = httpx.post(f"{stack.url}/v1/recordings", headers=bearer, files={"file": ("a.wav", wav)})
    assert uploaded.status_code == 201, uploaded.text
    assert (uploaded.json()["user_id"], uploaded.json()["tenant_id"]) == ("user-7", tenant.tenant_id)
    # An upload-only token does nothing else: not read, not mint, not the OpenAI routes.
    for method, path in (("GET", "/v1/recordings"), ("POST", "/v1/token"), ("GET", "/v1/account/api-keys")):
        assert httpx.request(method, f"{stack.url}{path}", headers=bearer).status_code == 401
    transcribe = httpx.post(
        f"{stack.url}/v1/audio/transcriptions",
        headers=bearer,
        files={"file": ("a.wav", wav)},
        data={"model": "whisper-1"},
    )
    assert transcribe.status_code == 401


def test_an_access_token_with_unknown_scopes_or_a_bad_lifetime_is_refused(stack: Stack, tenant: IssuedKey) -> None:
    token = AccessToken(tenant.api_key, tenant.api_secret, identity="user-8", base_url=f"{stack.url}/v1")
    for kwargs in ({"scopes": ["voice-api.delete_recording"]}, {"scopes": []}, {"expires_in": 0}):
        with pytest.raises(ValidationError):
            token(**kwargs)  # type: ignore[arg-type]


def test_a_tenant_rotates_its_own_api_keys(stack: Stack, tenant: IssuedKey) -> None:
    old = seed_client(stack, tenant)
    listed = old.api_keys.list()["api_keys"]
    assert [(k["id"], k["current"]) for k in listed] == [(tenant.api_key, True)]
    assert all("secret" not in json.dumps(k) for k in listed)
    assert old.account.get()["id"] == tenant.tenant_id

    created = old.api_keys.create(name="rotated")
    assert created["name"] == "rotated" and created["api_secret"].startswith("es_")
    new = Client(api_key=created["api_key"], api_secret=created["api_secret"], base_url=f"{stack.url}/v1")
    assert {k["id"] for k in new.api_keys.list()["api_keys"]} == {tenant.api_key, created["api_key"]}
    assert "api_secret" not in json.dumps(new.api_keys.list())

    with pytest.raises(ConflictError):
        new.api_keys.delete(created["api_key"])  # a key cannot delete itself
    assert new.api_keys.delete(tenant.api_key) == {}
    with pytest.raises(AuthenticationError):
        old.recordings.list()
    assert [k["id"] for k in new.api_keys.list()["api_keys"]] == [created["api_key"]]
    assert new.account.get()["api_keys"] == 1


def test_a_delivered_webhook_verifies_with_the_seed_sdks_own_validator(
    stack: Stack, api: httpx.Client, tenant: IssuedKey, inbox: Inbox, audio_dir: Path
) -> None:
    client = seed_client(stack, tenant)
    path = f"/seed-{uuid.uuid4().hex[:8]}"
    hook = client.webhooks.create(url=inbox.url + path, events=["recording.completed"], secret=SECRET)
    recording_id = upload(api, audio_dir / "espeak_2.wav")

    headers, body = inbox.wait_for(path)
    payload = body.decode()
    signature = headers["x-vocafuse-signature"]
    assert signature.startswith("sha256=") and headers["x-vocafuse-timestamp"].isdigit()
    assert RequestValidator(SECRET).validate(payload, signature)
    assert client.webhooks.verify(payload, signature, SECRET)
    assert not RequestValidator(SECRET).validate(payload.replace("recording", "rec0rding"), signature)
    assert not RequestValidator("another-secret-of-enough-length").validate(payload, signature)
    event = json.loads(payload)
    assert event["event"] == "recording.completed" and event["type"] == "recording.transcribed"
    assert event["data"]["recording"]["id"] == recording_id
    # The Standard Webhooks signature is there too, keyed with the secret's raw UTF-8 bytes.
    Webhook(base64.b64encode(SECRET.encode()).decode()).verify(body, headers)
    assert hook["id"] in {h["id"] for h in client.webhooks.list()["webhooks"]}


def test_an_endpoint_made_with_basic_auth_signs_the_standard_way_unless_asked(
    stack: Stack, api: httpx.Client, inbox: Inbox, audio_dir: Path
) -> None:
    path = f"/std-{uuid.uuid4().hex[:8]}"
    standard = api.post("/v1/webhooks", json={"url": inbox.url + path}).json()
    assert standard["signature_scheme"] == "standard" and standard["secret"].startswith("whsec_")
    asked = api.post(
        "/v1/webhooks", json={"url": inbox.url + path + "-v", "secret": SECRET, "signature_scheme": "vocafuse"}
    )
    assert asked.status_code == 201 and asked.json()["signature_scheme"] == "vocafuse"
    bad = api.post("/v1/webhooks", json={"url": inbox.url, "signature_scheme": "hmac"})
    assert bad.status_code == 400 and "signature_scheme" in bad.json()["error"]["message"]

    upload(api, audio_dir / "espeak_3.wav")
    headers, body = inbox.wait_for(path)
    assert "x-vocafuse-signature" not in headers and "event" not in json.loads(body)
    Webhook(standard["secret"]).verify(body, headers)
    headers, body = inbox.wait_for(path + "-v")
    assert RequestValidator(SECRET).validate(body.decode(), headers["x-vocafuse-signature"])


def test_seed_requests_with_a_json_content_type_and_no_body_are_not_refused(stack: Stack, tenant: IssuedKey) -> None:
    headers: dict[str, Any] = {
        "X-VocaFuse-API-Key": tenant.api_key,
        "X-VocaFuse-API-Secret": tenant.api_secret,
        "Content-Type": "application/json",
    }
    for method, path in (("GET", "/v1/recordings"), ("GET", "/v1/webhooks"), ("GET", "/v1/account")):
        assert httpx.request(method, f"{stack.url}{path}", headers=headers).status_code == 200
    missing = httpx.delete(f"{stack.url}/v1/recordings/{uuid.uuid4()}", headers=headers)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "RECORDING_NOT_FOUND"
