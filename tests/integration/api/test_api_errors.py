"""Bad input and foreign ids through the real API: clear errors, nothing lost, workers alive."""

from __future__ import annotations

import base64
import os
import socket
import time
import uuid
from pathlib import Path

import httpx
import pytest

from benchmarks.wer import wer
from earshot.processes import Proc
from tests.conftest import TEST_MAX_UPLOAD, Stack

pytestmark = pytest.mark.integration


def upload(client: httpx.Client, name: str, data: bytes, content_type: str = "audio/wav") -> httpx.Response:
    return client.post("/v1/recordings", files={"file": (name, data, content_type)})


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert error["status"] == status
    assert error["message"]
    assert "Traceback" not in response.text


def test_a_non_audio_upload_fails_invalid_audio_and_the_same_worker_transcribes_the_next(
    stack: Stack, audio_dir: Path
) -> None:
    key = stack.tenant("bad-audio")
    worker_pid = stack.worker.popen.pid
    with stack.client(key) as client:
        bad = upload(client, "notes.wav", b"this is a text file, not audio\n" * 50)
        assert bad.status_code == 201, bad.text
        good = upload(client, "espeak_1.wav", (audio_dir / "espeak_1.wav").read_bytes())
        assert good.status_code == 201, good.text

        failed = stack.wait_done(client, bad.json()["id"])
        assert failed["status"] == "failed"
        assert failed["error"]["code"] == "INVALID_AUDIO"
        assert_error(client.get(f"/v1/recordings/{failed['id']}/transcription"), 404, "TRANSCRIPTION_FAILED")

        done = stack.wait_done(client, good.json()["id"])
        assert done["status"] == "transcribed"
        text = client.get(f"/v1/recordings/{done['id']}/transcription").json()["text"]
        assert wer((audio_dir / "espeak_1.txt").read_text(), text) <= 0.25, text
    assert stack.worker.alive and stack.worker.popen.pid == worker_pid


def test_an_empty_upload_is_400_empty_file_and_stores_nothing(stack: Stack) -> None:
    key = stack.tenant("empty")
    with stack.client(key) as client:
        assert_error(upload(client, "empty.wav", b""), 400, "EMPTY_FILE")
        assert client.get("/v1/recordings").json()["total"] == 0
    assert not list(stack.backends.storage._c.list_objects(stack.settings.s3_bucket, prefix=key.tenant_id))


def test_unknown_and_foreign_ids_are_both_404_recording_not_found(stack: Stack, audio_dir: Path) -> None:
    owner, other = stack.tenant("owner"), stack.tenant("intruder")
    with stack.client(owner) as client:
        recording = upload(client, "espeak_2.wav", (audio_dir / "espeak_2.wav").read_bytes()).json()
    with stack.client(other) as client:
        for rid in (recording["id"], str(uuid.uuid4()), "not-a-uuid"):
            assert_error(client.get(f"/v1/recordings/{rid}"), 404, "RECORDING_NOT_FOUND")
            assert_error(client.get(f"/v1/recordings/{rid}/transcription"), 404, "RECORDING_NOT_FOUND")
            assert_error(client.delete(f"/v1/recordings/{rid}"), 404, "RECORDING_NOT_FOUND")
        assert client.get("/v1/recordings").json()["total"] == 0
    with stack.client(owner) as client:  # the intruder's DELETE removed nothing
        assert client.get(f"/v1/recordings/{recording['id']}").status_code == 200


@pytest.mark.parametrize(
    "auth",
    [None, ("ek_unknown", "es_whatever"), "wrong-secret"],
    ids=["no-credentials", "unknown-key", "wrong-secret"],
)
def test_requests_without_valid_credentials_are_401_unauthorized(stack: Stack, auth: object) -> None:
    key = stack.tenant("auth")
    if auth == "wrong-secret":
        auth = (key.api_key, key.api_secret + "x")
    with httpx.Client(base_url=stack.url, auth=auth, timeout=10) as client:  # type: ignore[arg-type]
        assert_error(client.get("/v1/recordings"), 401, "UNAUTHORIZED")
        assert_error(upload(client, "a.wav", b"RIFF"), 401, "UNAUTHORIZED")
        assert_error(client.get(f"/v1/recordings/{uuid.uuid4()}"), 401, "UNAUTHORIZED")


def test_a_malformed_authorization_header_is_401(stack: Stack) -> None:
    for header in ("Basic !!!notbase64", "Basic " + "YWJj", "Bearer", "Digest abc"):
        response = httpx.get(f"{stack.url}/v1/recordings", headers={"Authorization": header})
        assert_error(response, 401, "UNAUTHORIZED")


def test_delete_removes_audio_transcript_and_listing_and_a_second_delete_is_404(stack: Stack, audio_dir: Path) -> None:
    key = stack.tenant("deleter")
    with stack.client(key) as client:
        recording = upload(client, "espeak_3.wav", (audio_dir / "espeak_3.wav").read_bytes()).json()
        stack.wait_done(client, recording["id"])
        assert client.get(f"/v1/recordings/{recording['id']}/transcription").status_code == 200

        response = client.delete(f"/v1/recordings/{recording['id']}")
        assert response.status_code == 204 and response.content == b""
        assert_error(client.get(f"/v1/recordings/{recording['id']}"), 404, "RECORDING_NOT_FOUND")
        assert_error(client.get(f"/v1/recordings/{recording['id']}/transcription"), 404, "RECORDING_NOT_FOUND")
        assert client.get("/v1/recordings").json()["total"] == 0
        assert_error(client.delete(f"/v1/recordings/{recording['id']}"), 404, "RECORDING_NOT_FOUND")
    objects = list(stack.backends.storage._c.list_objects(stack.settings.s3_bucket, prefix=key.tenant_id + "/"))
    assert objects == []


def test_a_recording_deleted_while_queued_is_not_brought_back_by_its_job(stack: Stack, audio_dir: Path) -> None:
    key = stack.tenant("delete-race")
    with stack.client(key) as client:
        with stack.worker_paused():  # the job is surely still queued when the DELETE lands
            first = upload(client, "jfk.flac", (audio_dir / "jfk.flac").read_bytes(), "audio/flac").json()
            assert client.delete(f"/v1/recordings/{first['id']}").status_code == 204
        second = upload(client, "espeak_1.wav", (audio_dir / "espeak_1.wav").read_bytes()).json()
        stack.wait_done(client, second["id"])
        wait_for_log(stack.worker, "skip", first["id"])  # the first job ran, and found nothing to do
        assert_error(client.get(f"/v1/recordings/{first['id']}"), 404, "RECORDING_NOT_FOUND")
        listing = client.get("/v1/recordings").json()
        assert [r["id"] for r in listing["recordings"]] == [second["id"]]
    assert stack.backends.index.get(first["id"]) is None
    names = {
        o.object_name
        for o in stack.backends.storage._c.list_objects(stack.settings.s3_bucket, prefix=key.tenant_id + "/")
    }
    assert not any(first["id"] in n for n in names)


def wait_for_log(proc: Proc, message: str, recording_id: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    needle = [f'"msg":"{message}"', f'"recording_id":"{recording_id}"']
    while not any(all(n in line for n in needle) for line in (proc.log_tail(400) or "").splitlines()):
        assert time.monotonic() < deadline, f"no {message!r} log line for {recording_id}"
        time.sleep(0.1)


def test_an_upload_over_the_limit_is_413_and_leaves_nothing(stack: Stack) -> None:
    key = stack.tenant("too-big")
    body = os.urandom(TEST_MAX_UPLOAD + 1024)
    with stack.client(key) as client:
        assert_error(upload(client, "big.wav", body), 413, "PAYLOAD_TOO_LARGE")

        def chunks() -> object:
            # No Content-Length: the limit must hold while streaming.
            boundary = b"xyzBOUNDARY"
            yield (b"--" + boundary + b'\r\nContent-Disposition: form-data; name="file"; filename="big.wav"\r\n\r\n')
            for i in range(0, len(body), 65536):
                yield body[i : i + 65536]
            yield b"\r\n--" + boundary + b"--\r\n"

        response = client.post(
            "/v1/recordings",
            content=chunks(),  # type: ignore[arg-type]
            headers={"Content-Type": "multipart/form-data; boundary=xyzBOUNDARY"},
        )
        assert_error(response, 413, "PAYLOAD_TOO_LARGE")
        assert client.get("/v1/recordings").json()["total"] == 0
    assert not list(stack.backends.storage._c.list_objects(stack.settings.s3_bucket, prefix=key.tenant_id + "/"))


def test_a_huge_declared_content_length_is_refused_before_reading(stack: Stack) -> None:
    key = stack.tenant("huge-declared")
    credentials = base64.b64encode(f"{key.api_key}:{key.api_secret}".encode()).decode()
    port = int(stack.url.rsplit(":", 1)[1])
    request = (
        "POST /v1/recordings HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Basic {credentials}\r\n"
        "Content-Type: multipart/form-data; boundary=b\r\n"
        f"Content-Length: {10**12}\r\n\r\n--b\r\n"
    )
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request.encode())
        received = b""
        while b"PAYLOAD_TOO_LARGE" not in received:
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
    head = received.decode("latin-1")
    status_line, _, rest = head.partition("\r\n")
    assert " 413 " in status_line, head
    assert '"PAYLOAD_TOO_LARGE"' in rest


@pytest.mark.parametrize(
    ("content_type", "body", "status", "code"),
    [
        ("application/octet-stream", b"RIFF....", 415, "UNSUPPORTED_MEDIA_TYPE"),
        ("multipart/form-data", b"--x\r\n", 400, "INVALID_PARAMETER"),
        (
            "multipart/form-data; boundary=x",
            b'--x\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\nabc',
            400,
            "INVALID_PARAMETER",
        ),
        ("multipart/form-data; boundary=x", b"garbage without any boundary", 400, "INVALID_PARAMETER"),
        (
            "multipart/form-data; boundary=x",
            b'--x\r\nContent-Disposition: form-data; name="language"\r\n\r\nen\r\n--x--\r\n',
            400,
            "INVALID_PARAMETER",
        ),
    ],
    ids=["not-multipart", "no-boundary", "truncated", "garbage", "no-file-part"],
)
def test_malformed_uploads_get_a_clear_400_or_415(
    stack: Stack, content_type: str, body: bytes, status: int, code: str
) -> None:
    key = stack.tenant("malformed")
    with stack.client(key) as client:
        response = client.post("/v1/recordings", content=body, headers={"Content-Type": content_type})
        assert_error(response, status, code)
        assert client.get("/v1/recordings").json()["total"] == 0


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("custom_tags", "not json"),
        ("custom_tags", '{"bad key!": "x"}'),
        ("language", "klingon"),
        ("model", "large-v9"),
        ("word_timestamps", "maybe"),
    ],
)
def test_bad_form_fields_are_rejected_and_nothing_is_stored(stack: Stack, field: str, value: str) -> None:
    key = stack.tenant("bad-fields")
    with stack.client(key) as client:
        response = client.post(
            "/v1/recordings",
            files={"file": ("a.wav", b"RIFF" + b"\0" * 100, "audio/wav")},
            data={field: value},
        )
        expected = "INVALID_CUSTOM_TAGS" if field == "custom_tags" else "INVALID_PARAMETER"
        assert_error(response, 400, expected)
        assert field in response.json()["error"]["message"]
        assert client.get("/v1/recordings").json()["total"] == 0
    assert not list(stack.backends.storage._c.list_objects(stack.settings.s3_bucket, prefix=key.tenant_id + "/"))


def test_unknown_routes_and_methods_answer_in_the_error_format(stack: Stack) -> None:
    key = stack.tenant("routes")
    with stack.client(key) as client:
        assert_error(client.get("/v1/nothing-here"), 404, "NOT_FOUND")
        assert_error(client.put("/v1/recordings"), 405, "METHOD_NOT_ALLOWED")


def test_health_and_ready_answer(stack: Stack) -> None:
    assert httpx.get(f"{stack.url}/health").json() == {"status": "ok"}
    ready = httpx.get(f"{stack.url}/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"redis": "ok", "storage": "ok"}


def test_language_fr_on_an_english_only_model_is_400_naming_the_model_and_stores_nothing(
    stack: Stack, audio_dir: Path
) -> None:
    key = stack.tenant("english-only")
    with stack.client(key) as client:
        data = (audio_dir / "jfk.flac").read_bytes()
        refused = client.post("/v1/recordings", files={"file": ("a.flac", data)}, data={"language": "fr"})
        assert_error(refused, 400, "INVALID_PARAMETER")
        assert "'tiny.en' is English-only" in refused.json()["error"]["message"]
        assert client.get("/v1/recordings").json()["total"] == 0
        assert list(stack.backends.storage.list_keys(f"{key.tenant_id}/")) == []
        english = client.post("/v1/recordings", files={"file": ("a.flac", data)}, data={"language": "en"})
        assert english.status_code == 201, english.text
