"""Signed webhooks, delivered at least once to a real HTTP receiver on loopback."""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from earshot_client import WebhookVerificationError as OurVerificationError
from earshot_client import verify_webhook
from engine.errors import InvalidParameter, WebhookNotFound
from engine.index.mirror import SystemBackup
from engine.keyspace import KeySpace
from engine.webhooks.delivery import Deliverer
from engine.webhooks.models import Endpoint, validate_endpoint
from engine.webhooks.signing import sign
from engine.webhooks.store import WebhookStore
from tests.conftest import Stack

pytestmark = pytest.mark.integration


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    url: str
    requests: list[Received] = field(default_factory=list)
    scripts: dict[str, list[int]] = field(default_factory=dict)
    release: threading.Event = field(default_factory=threading.Event)

    def on(self, path: str) -> list[Received]:
        return [r for r in self.requests if r.path == path]

    def wait_for(self, path: str, count: int, timeout: float = 60) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.on(path)) < count:
            assert time.monotonic() < deadline, f"{path}: {len(self.on(path))} of {count} requests arrived"
            time.sleep(0.05)
        return self.on(path)


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    state = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            state.requests.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
            if self.path.startswith("/hang"):
                state.release.wait(30)
            status = 200
            script = state.scripts.get(self.path)
            if script:
                status = script.pop(0)
            if self.path.startswith("/drip"):  # 200 at once, then an endless body, a byte a second
                self.send_response(200)
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                try:
                    for _ in range(60):
                        self.wfile.write(b"1\r\nx\r\n")
                        self.wfile.flush()
                        if state.release.wait(1):
                            break
                except OSError:
                    pass  # the sender hung up without reading: what it should do
                return
            if self.path.startswith("/redirect"):
                self.send_response(307)
                self.send_header("Location", "/redirected-here")
            else:
                self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield state
    state.release.set()
    server.shutdown()
    server.server_close()


def subscribe(api: httpx.Client, url: str, events: list[str] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"url": url, "description": "test"}
    if events is not None:
        body["events"] = events
    response = api.post("/v1/webhooks", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def upload(api: httpx.Client, path: Path, tags: dict[str, str] | None = None) -> dict[str, Any]:
    data = {"custom_tags": json.dumps(tags)} if tags else None
    response = api.post("/v1/recordings", files={"file": (path.name, path.read_bytes(), "audio/wav")}, data=data)
    assert response.status_code == 201, response.text
    return dict(response.json())


def deliveries(api: httpx.Client, hook: dict[str, Any], count: int, timeout: float = 30) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        items = api.get(f"/v1/webhooks/{hook['id']}/deliveries").json()["deliveries"]
        if len(items) >= count:
            return list(reversed(items))  # oldest first
        assert time.monotonic() < deadline, f"{len(items)} of {count} attempts recorded"
        time.sleep(0.1)


def test_webhook_endpoints_are_created_listed_fetched_and_deleted(stack: Stack, api: httpx.Client) -> None:
    hook = subscribe(api, "https://hooks.example.com/earshot", ["recording.failed"])
    assert hook["secret"].startswith("whsec_") and len(base64.b64decode(hook["secret"][6:])) >= 24
    assert hook["events"] == ["recording.failed"] and hook["description"] == "test"
    assert set(hook) >= {"id", "url", "events", "secret", "created_at"}
    default = subscribe(api, "https://hooks.example.com/all")
    assert default["events"] == ["recording.transcribed", "recording.failed"]

    listed = api.get("/v1/webhooks").json()["webhooks"]
    assert [h["id"] for h in listed] == [hook["id"], default["id"]]
    fetched = api.get(f"/v1/webhooks/{hook['id']}").json()
    assert "secret" not in fetched and all("secret" not in h for h in listed)  # shown only at creation
    assert fetched["url"] == "https://hooks.example.com/earshot"
    assert api.get(f"/v1/webhooks/{hook['id']}/deliveries").json() == {"deliveries": []}

    other = stack.tenant("hooks-intruder")
    with stack.client(other) as intruder:
        for method, path in (("GET", ""), ("DELETE", ""), ("GET", "/deliveries")):
            response = intruder.request(method, f"/v1/webhooks/{hook['id']}{path}")
            assert response.status_code == 404 and response.json()["error"]["code"] == "WEBHOOK_NOT_FOUND"
        assert intruder.get("/v1/webhooks").json() == {"webhooks": []}

    assert api.delete(f"/v1/webhooks/{hook['id']}").status_code == 204
    again = api.get(f"/v1/webhooks/{hook['id']}")
    assert again.status_code == 404 and again.json()["error"]["code"] == "WEBHOOK_NOT_FOUND"


@pytest.mark.parametrize(
    "body",
    [{}, {"url": "ftp://x.example/h"}, {"url": "not a url"}, {"url": "https://x.example", "events": []},
     {"url": "https://x.example", "events": ["recording.deleted"]}, {"url": "https://x.example", "events": "all"},
     {"url": "https://x.example", "description": "d" * 300}, {"url": "https://" + "x" * 2100 + ".example"}],
)  # fmt: skip
def test_bad_webhook_requests_are_400_invalid_parameter(api: httpx.Client, body: dict[str, Any]) -> None:
    response = api.post("/v1/webhooks", json=body)
    assert response.status_code == 400 and response.json()["error"]["code"] == "INVALID_PARAMETER"
    assert api.get("/v1/webhooks").json() == {"webhooks": []}


def test_a_transcription_is_delivered_signed_and_verifies_with_standard_webhooks(
    api: httpx.Client, receiver: Receiver, audio_dir: Path
) -> None:
    path = f"/ok-{uuid.uuid4().hex}"
    hook = subscribe(api, receiver.url + path)
    rec = upload(api, audio_dir / "espeak_2.wav", {"jobId": "job_9"})
    (request,) = receiver.wait_for(path, 1)
    headers, body = request.headers, request.body

    event = json.loads(body)
    assert event["type"] == "recording.transcribed" and event["timestamp"].endswith("Z")
    assert event["data"]["recording"]["id"] == rec["id"]
    assert event["data"]["recording"]["status"] == "transcribed"
    assert event["data"]["recording"]["custom_tags"] == {"jobId": "job_9"}
    summary = event["data"]["transcription"]
    assert set(summary) == {"id", "text", "language", "confidence", "uri"}
    assert "budget" in summary["text"].lower() and summary["uri"] == f"/v1/recordings/{rec['id']}/transcription"

    assert headers["webhook-id"].startswith("msg_") and headers["webhook-signature"].startswith("v1,")
    assert abs(int(headers["webhook-timestamp"]) - time.time()) < 60
    assert Webhook(hook["secret"]).verify(body, headers)["type"] == "recording.transcribed"
    assert verify_webhook(hook["secret"], headers, body)["type"] == "recording.transcribed"

    tampered = body[:-2] + bytes([body[-2] ^ 1]) + body[-1:]
    with pytest.raises(WebhookVerificationError):
        Webhook(hook["secret"]).verify(tampered, headers)
    with pytest.raises(OurVerificationError):
        verify_webhook(hook["secret"], headers, tampered)

    old = int(time.time()) - 301
    stale = {
        **headers,
        "webhook-timestamp": str(old),
        "webhook-signature": sign(hook["secret"], headers["webhook-id"], old, body),
    }
    with pytest.raises(WebhookVerificationError):
        Webhook(hook["secret"]).verify(body, stale)
    with pytest.raises(OurVerificationError):
        verify_webhook(hook["secret"], stale, body)

    (attempt,) = deliveries(api, hook, 1)
    assert attempt["success"] is True and attempt["status_code"] == 200 and attempt["attempt"] == 1
    assert attempt["event_type"] == "recording.transcribed" and attempt["error"] is None


def test_a_receiver_that_fails_twice_gets_three_attempts_with_one_webhook_id(
    api: httpx.Client, receiver: Receiver, audio_dir: Path
) -> None:
    path = f"/flaky-{uuid.uuid4().hex}"
    receiver.scripts[path] = [500, 500, 200]
    hook = subscribe(api, receiver.url + path)
    upload(api, audio_dir / "espeak_1.wav")
    requests = receiver.wait_for(path, 3)
    assert len({r.headers["webhook-id"] for r in requests}) == 1
    assert len({r.body for r in requests}) == 1
    for r in requests:  # each attempt is signed for its own timestamp
        Webhook(hook["secret"]).verify(r.body, r.headers)
    attempts = deliveries(api, hook, 3)
    assert [(a["attempt"], a["status_code"], a["success"]) for a in attempts] == [
        (1, 500, False), (2, 500, False), (3, 200, True),
    ]  # fmt: skip
    # Nothing is scheduled after the success (the schedule had room for a 4th attempt).
    assert attempts[0]["next_retry_at"] is not None and attempts[2]["next_retry_at"] is None


def test_a_receiver_that_answers_410_disables_the_endpoint(
    api: httpx.Client, receiver: Receiver, audio_dir: Path
) -> None:
    path, marker = f"/gone-{uuid.uuid4().hex}", f"/marker-{uuid.uuid4().hex}"
    receiver.scripts[path] = [410, 410, 410, 410]
    hook = subscribe(api, receiver.url + path)
    upload(api, audio_dir / "espeak_1.wav")
    receiver.wait_for(path, 1)
    (attempt,) = deliveries(api, hook, 1)
    assert attempt["status_code"] == 410 and attempt["next_retry_at"] is None
    state = api.get(f"/v1/webhooks/{hook['id']}").json()
    assert state["disabled"] is True and "410" in state["disabled_reason"]
    subscribe(api, receiver.url + marker)  # a healthy endpoint: proof the next event went out
    upload(api, audio_dir / "espeak_3.wav")
    receiver.wait_for(marker, 1)
    assert len(receiver.on(path)) == 1  # the disabled endpoint got nothing more


def test_a_hanging_receiver_is_cut_at_the_timeout_and_never_delays_transcription(
    stack: Stack, api: httpx.Client, receiver: Receiver, audio_dir: Path
) -> None:
    path = f"/hang-{uuid.uuid4().hex}"
    hook = subscribe(api, receiver.url + path, ["recording.transcribed"])
    upload(api, audio_dir / "espeak_1.wav")
    receiver.wait_for(path, 1)
    # While that delivery hangs (10 s until the timeout cuts it), the next recording is transcribed.
    second = upload(api, audio_dir / "espeak_2.wav")
    done = stack.wait_done(api, second["id"])
    assert done["status"] == "transcribed"
    first = deliveries(api, hook, 1)[0]
    assert first["success"] is False and first["status_code"] is None
    assert first["error"].startswith("timeout") and first["duration_ms"] >= 9900
    assert done["processed_at"] < first["timestamp"]  # transcribed before the hung attempt ended


def test_a_redirect_is_not_followed(api: httpx.Client, receiver: Receiver, audio_dir: Path) -> None:
    path = f"/redirect-{uuid.uuid4().hex}"
    hook = subscribe(api, receiver.url + path, ["recording.transcribed"])
    upload(api, audio_dir / "espeak_1.wav")
    attempt = deliveries(api, hook, 1)[0]
    assert attempt["status_code"] == 307 and attempt["success"] is False
    assert receiver.on("/redirected-here") == []


def test_a_failed_transcription_sends_recording_failed_with_its_error_code(
    api: httpx.Client, receiver: Receiver
) -> None:
    path = f"/failed-{uuid.uuid4().hex}"
    hook = subscribe(api, receiver.url + path, ["recording.failed"])
    response = api.post("/v1/recordings", files={"file": ("x.mp3", b"no audio here" * 100, "audio/mpeg")})
    (request,) = receiver.wait_for(path, 1)
    event = Webhook(hook["secret"]).verify(request.body, request.headers)
    assert event["type"] == "recording.failed"
    assert event["data"]["recording"]["id"] == response.json()["id"]
    assert event["data"]["recording"]["error"]["code"] == "INVALID_AUDIO"
    assert event["data"]["transcription"] is None


def test_private_targets_are_refused_by_default(stack: Stack, receiver: Receiver) -> None:
    for url in ("http://10.0.0.1/h", "http://127.0.0.1:9/h", "http://[::1]/h", "http://169.254.169.254/h"):
        with pytest.raises(InvalidParameter, match="private"):
            validate_endpoint({"url": url}, allow_private=False)
    # A host name that resolves to loopback passes creation; the delivery refuses it and does not retry.
    store = WebhookStore(stack.backends.redis, keys=KeySpace(f"refuse-{uuid.uuid4().hex[:6]}"))
    path = f"/private-{uuid.uuid4().hex}"
    endpoint = store.create("t", receiver.url.replace("127.0.0.1", "localhost") + path, ["recording.failed"], None)
    store.put_event("evt_1", b'{"type": "recording.failed"}')
    queued: list[object] = []
    deliverer = Deliverer(store, schedule=[1, 1], allow_private=False, enqueue=lambda *a: queued.append(a))
    attempt = deliverer.deliver(endpoint.id, "evt_1", 1)
    assert attempt is not None and attempt.error is not None and attempt.error.startswith("refused")
    assert queued == [] and receiver.on(path) == []


def test_a_call_that_ends_without_a_recording_url_fails_and_sends_recording_failed_once(
    api: httpx.Client, receiver: Receiver
) -> None:
    path = f"/voice-failed-{uuid.uuid4().hex}"
    hook = subscribe(api, receiver.url + path, ["recording.failed"])
    session = f"ATVId_{uuid.uuid4().hex[:10]}"
    api.post("/api/v1/voice/callback", data={"sessionId": session, "isActive": "1"})
    ended = api.post("/api/v1/voice/callback", data={"sessionId": session, "isActive": "0"})
    assert ended.json()["status"] == "failed"
    (request,) = receiver.wait_for(path, 1)
    event = Webhook(hook["secret"]).verify(request.body, request.headers)
    assert event["type"] == "recording.failed"
    assert event["data"]["recording"]["id"] == ended.json()["recording_id"]
    assert event["data"]["recording"]["error"]["code"] == "SOURCE_FETCH_FAILED"
    # The provider retries its callback: nothing new is sent. A later failure's event arriving
    # proves the queue drained past anything the retry could have queued.
    assert api.post("/api/v1/voice/callback", data={"sessionId": session, "isActive": "0"}).json()["status"] == "failed"
    marker = api.post("/v1/recordings", files={"file": ("x.mp3", b"no audio here" * 100, "audio/mpeg")}).json()
    received = receiver.wait_for(path, 2)
    ids = [json.loads(r.body)["data"]["recording"]["id"] for r in received]
    assert ids == [ended.json()["recording_id"], marker["id"]]


def test_an_update_that_loses_to_a_delete_leaves_no_copy_to_bring_the_endpoint_back(stack: Stack) -> None:
    keys = KeySpace(f"copy-{uuid.uuid4().hex[:6]}")
    store = WebhookStore(stack.backends.redis, SystemBackup(stack.backends.storage), keys=keys)
    endpoint = store.create("t", "https://example.com/hook", ["recording.transcribed"], None)
    copies = lambda: [k for k, _ in SystemBackup(stack.backends.storage).load("webhooks")]  # noqa: E731
    assert endpoint.id in copies()
    read = store.get_for

    def read_then_deleted(tenant_id: str, endpoint_id: str) -> Endpoint:
        found = read(tenant_id, endpoint_id)
        stack.backends.redis.delete(keys.webhook(endpoint_id))  # a DELETE finishes between read and write
        return found

    store.get_for = read_then_deleted  # type: ignore[method-assign]
    with pytest.raises(WebhookNotFound):
        store.update("t", endpoint.id, description="late")
    assert endpoint.id not in copies()  # `earshot reindex` would have restored it


def _deliverer(stack: Stack, **kwargs: Any) -> tuple[WebhookStore, Deliverer, list[object]]:
    store = WebhookStore(stack.backends.redis, keys=KeySpace(f"deliver-{uuid.uuid4().hex[:6]}"))
    queued: list[object] = []
    options: dict[str, Any] = {"schedule": [1, 1], "allow_private": True, "timeout_s": 3.0} | kwargs
    return store, Deliverer(store, enqueue=lambda *a: queued.append(a), **options), queued


EVENT = b'{"type": "recording.transcribed", "data": {"recording": {"id": "rec-1"}}}'


def test_a_receiver_that_answers_then_drips_an_endless_body_is_not_read(stack: Stack, receiver: Receiver) -> None:
    store, deliverer, queued = _deliverer(stack)
    endpoint = store.create("t", f"{receiver.url}/drip-{uuid.uuid4().hex}", ["recording.transcribed"], None)
    store.put_event("evt_drip", EVENT)
    attempt = deliverer.deliver(endpoint.id, "evt_drip", 1)
    # Its 200 is the answer: the body (60 s of it at one byte a second) is never waited for.
    assert attempt is not None and attempt.success and attempt.status_code == 200, attempt
    assert attempt.duration_ms < 30_000 and queued == []


def test_a_host_that_does_not_resolve_is_retried_not_given_up(stack: Stack) -> None:
    store, deliverer, queued = _deliverer(stack, allow_private=False)
    endpoint = store.create("t", "https://hooks.not-live-yet.invalid/h", ["recording.transcribed"], None)
    store.put_event("evt_dns", EVENT)
    attempt = deliverer.deliver(endpoint.id, "evt_dns", 1)
    assert attempt is not None and not attempt.success and attempt.error is not None
    assert "cannot resolve" in attempt.error and attempt.next_retry_at is not None
    assert queued == [(endpoint.id, "evt_dns", 2, 1000)]  # a resolver outage, or DNS not live yet


def test_credentials_in_the_url_are_sent_as_basic_auth_to_the_receiver(stack: Stack, receiver: Receiver) -> None:
    store, deliverer, _ = _deliverer(stack)
    path = f"/creds-{uuid.uuid4().hex}"
    url = receiver.url.replace("http://", "http://hook-user:p%40ss@") + path
    endpoint = store.create("t", url, ["recording.transcribed"], None)
    store.put_event("evt_creds", EVENT)
    attempt = deliverer.deliver(endpoint.id, "evt_creds", 1)
    assert attempt is not None and attempt.success, attempt
    (request,) = receiver.on(path)
    assert request.headers["authorization"] == "Basic " + base64.b64encode(b"hook-user:p@ss").decode()


def test_an_event_whose_recording_was_deleted_is_not_sent_nor_retried(stack: Stack, receiver: Receiver) -> None:
    gone = {"rec-1"}
    store, deliverer, queued = _deliverer(stack, recording_gone=lambda rid: rid in gone)
    path = f"/deleted-{uuid.uuid4().hex}"
    endpoint = store.create("t", receiver.url + path, ["recording.transcribed"], None)
    store.put_event("evt_gone", EVENT)
    attempt = deliverer.deliver(endpoint.id, "evt_gone", 2)  # a retry due after the user's DELETE
    assert attempt is not None and not attempt.success and attempt.error == "not sent: the recording was deleted"
    assert receiver.on(path) == [] and queued == []
    gone.clear()
    assert deliverer.deliver(endpoint.id, "evt_gone", 1) is not None and len(receiver.on(path)) == 1
