"""Bad input, one test each: a clear answer, nothing lost or half-written, no dead worker.
And a cross-tenant probe of every route."""

from __future__ import annotations

import base64
import contextlib
import io
import os
import re
import socket
import subprocess
import uuid
import wave
from pathlib import Path
from typing import Any

import httpx
import pytest

from engine.access.keys import IssuedKey
from tests.conftest import Stack
from tests.faults import REPORT, watched_client

pytestmark = pytest.mark.integration


def wav_bytes(samples: bytes, rate: int = 16000) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples)
    return out.getvalue()


def ffmpeg(tmp_path: Path, name: str, *args: str) -> bytes:
    target = tmp_path / name
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", *args, str(target)], check=True, timeout=60)
    return target.read_bytes()


def outcome(stack: Stack, api: httpx.Client, name: str, data: bytes, what: str) -> dict[str, Any]:
    REPORT.bad_inputs.append(what)
    response = api.post("/v1/recordings", files={"file": (name, data)})
    assert response.status_code == 201, response.text
    done = stack.wait_done(api, response.json()["id"])
    assert stack.worker.alive
    return done


def assert_nothing_stored(stack: Stack, tenant: IssuedKey, api: httpx.Client) -> None:
    assert api.get("/v1/recordings").json()["total"] == 0
    assert list(stack.backends.storage.list_keys(f"{tenant.tenant_id}/")) == []


def test_truncated_audio_is_transcribed_as_far_as_it_goes_or_fails_invalid_audio(
    stack: Stack, api: httpx.Client, audio_dir: Path
) -> None:
    data = (audio_dir / "jfk.flac").read_bytes()
    done = outcome(stack, api, "cut.flac", data[: len(data) // 2], "truncated FLAC")
    if done["status"] == "failed":
        assert done["error"]["code"] == "INVALID_AUDIO"
    else:
        assert done["status"] == "transcribed"
        transcript = api.get(f"/v1/recordings/{done['id']}/transcription").json()
        assert 3 < transcript["duration_seconds"] < 9  # half the file decodes to about half the speech
        assert "americans" in transcript["text"].lower()
        assert "for your country" not in transcript["text"].lower()


def test_zero_length_audio_fails_invalid_audio(stack: Stack, api: httpx.Client) -> None:
    done = outcome(stack, api, "empty.wav", wav_bytes(b""), "WAV with no samples")
    assert done["status"] == "failed" and done["error"]["code"] == "INVALID_AUDIO"


def test_silence_is_transcribed_without_words_or_error(stack: Stack, api: httpx.Client) -> None:
    done = outcome(stack, api, "silence.wav", wav_bytes(b"\0\0" * 16000 * 5), "5 s of silence")
    assert done["status"] == "transcribed" and done["duration_seconds"] == pytest.approx(5.0, abs=0.1)
    transcript = api.get(f"/v1/recordings/{done['id']}/transcription").json()
    assert len(transcript["text"].split()) <= 3  # nothing, or the odd hallucinated word
    assert 0.0 <= transcript["confidence"] <= 1.0


def test_a_video_file_is_transcribed_from_its_audio_track(
    stack: Stack, api: httpx.Client, audio_dir: Path, tmp_path: Path
) -> None:
    data = ffmpeg(
        tmp_path, "clip.mp4", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=10:duration=5",
        "-i", str(audio_dir / "espeak_1.wav"), "-shortest", "-c:v", "mpeg4", "-c:a", "aac",
    )  # fmt: skip
    done = outcome(stack, api, "clip.mp4", data, "MP4 video with an audio track")
    assert done["status"] == "transcribed" and done["audio_codec"] == "aac"
    assert "river" in api.get(f"/v1/recordings/{done['id']}/transcription").json()["text"].lower()


def test_a_video_without_audio_fails_invalid_audio(stack: Stack, api: httpx.Client, tmp_path: Path) -> None:
    data = ffmpeg(tmp_path, "mute.mp4", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=10:duration=2", "-c:v", "mpeg4")
    done = outcome(stack, api, "mute.mp4", data, "video without audio")
    assert done["status"] == "failed" and done["error"] == {
        "code": "INVALID_AUDIO",
        "message": "the file has no audio stream",
    }


def test_a_filename_with_dot_dot_and_nul_is_only_a_label(
    stack: Stack, api: httpx.Client, tenant: IssuedKey, audio_dir: Path
) -> None:
    REPORT.bad_inputs.append("filename with ../ and NUL")
    data = (audio_dir / "espeak_1.wav").read_bytes()
    boundary = "nulBOUNDARY"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="../../etc/pa\0sswd.wav"\r\n\r\n'
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    response = api.post(
        "/v1/recordings", content=body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
    )
    assert response.status_code == 201, response.text
    rec = response.json()
    assert rec["original_filename"] == "passwd.wav"
    assert rec["s3_key"] == f"{tenant.tenant_id}/{rec['id']}.wav"
    assert stack.wait_done(api, rec["id"])["status"] == "transcribed"


def test_custom_tags_that_are_not_utf8_are_400(api: httpx.Client, tenant: IssuedKey, stack: Stack) -> None:
    REPORT.bad_inputs.append("non-UTF-8 custom_tags")
    boundary = "tagBOUNDARY"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="custom_tags"\r\n\r\n'.encode()
        + b'{"note": "\xff\xfe"}'
        + f'\r\n--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\nRIFF'.encode()
        + f"\r\n--{boundary}--\r\n".encode()
    )
    response = api.post(
        "/v1/recordings", content=body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
    )
    assert response.status_code == 400 and response.json()["error"]["code"] == "INVALID_PARAMETER"
    assert "custom_tags" in response.json()["error"]["message"]
    assert_nothing_stored(stack, tenant, api)


def reset_peak_rss(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # VmHWM := current RSS


def peak_rss_mib(pid: int) -> float:
    match = re.search(r"VmHWM:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
    assert match
    return int(match.group(1)) / 1024


def test_an_upload_over_the_limit_is_413_and_api_memory_stays_flat(
    stack: Stack, api: httpx.Client, tenant: IssuedKey
) -> None:
    REPORT.bad_inputs.append("64 MiB upload over a 4 MiB limit, streamed")
    pid = stack.api.popen.pid
    reset_peak_rss(pid)
    before = peak_rss_mib(pid)
    credentials = base64.b64encode(f"{tenant.api_key}:{tenant.api_secret}".encode()).decode()
    head = (
        "POST /v1/recordings HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Basic {credentials}\r\n"
        "Content-Type: multipart/form-data; boundary=bigBOUNDARY\r\nTransfer-Encoding: chunked\r\n\r\n"
    ).encode()
    part = b'--bigBOUNDARY\r\nContent-Disposition: form-data; name="file"; filename="big.wav"\r\n\r\n'
    chunk = os.urandom(1024 * 1024)
    port = int(stack.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head + b"%x\r\n%s\r\n" % (len(part), part))
        try:  # no Content-Length: the limit must hold while streaming; the server may stop reading
            for _ in range(64):
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = b""
        with contextlib.suppress(OSError):
            while b"PAYLOAD_TOO_LARGE" not in answer and (data := sock.recv(65536)):
                answer += data
    assert answer.startswith(b"HTTP/1.1 413") and b"PAYLOAD_TOO_LARGE" in answer, answer[:200]
    grown = peak_rss_mib(pid) - before
    # One S3 part at most (8 MiB) may have been buffered: far from the 64 MiB that was sent.
    assert grown < 16, f"API peak RSS grew {grown:.0f} MiB"
    assert_nothing_stored(stack, tenant, api)


def test_every_route_hides_another_tenants_data(stack: Stack, audio_dir: Path) -> None:
    owner, intruder = stack.tenant("probe-owner"), stack.tenant("probe-intruder")
    session = f"ATVId_{uuid.uuid4().hex[:8]}"
    with stack.client(owner) as client:
        rid = client.post(
            "/v1/recordings", files={"file": ("a.wav", (audio_dir / "espeak_1.wav").read_bytes())}
        ).json()["id"]
        stack.wait_done(client, rid)
        hook = client.post("/v1/webhooks", json={"url": "https://hooks.example.com/owner"}).json()
        client.post("/api/v1/voice/callback", data={"sessionId": session, "isActive": "1"})
    probes = [
        ("GET", f"/v1/recordings/{rid}", "RECORDING_NOT_FOUND"),
        ("DELETE", f"/v1/recordings/{rid}", "RECORDING_NOT_FOUND"),
        ("GET", f"/v1/recordings/{rid}/transcription", "RECORDING_NOT_FOUND"),
        ("GET", f"/v1/recordings/{rid}/transcription?format=srt", "RECORDING_NOT_FOUND"),
        ("GET", f"/v1/recordings/{rid}/audio", "RECORDING_NOT_FOUND"),
        ("GET", f"/v1/webhooks/{hook['id']}", "WEBHOOK_NOT_FOUND"),
        ("DELETE", f"/v1/webhooks/{hook['id']}", "WEBHOOK_NOT_FOUND"),
        ("GET", f"/v1/webhooks/{hook['id']}/deliveries", "WEBHOOK_NOT_FOUND"),
    ]
    with watched_client(stack.url, (intruder.api_key, intruder.api_secret)) as client:
        for method, path, code in probes:
            response = client.request(method, path)
            assert response.status_code == 404 and response.json()["error"]["code"] == code, (method, path)
        for path in (f"/api/v1/voice/recordings/{session}", f"/api/v1/voice/recordings/{rid}"):
            assert client.get(path).json() == {"detail": "Recording not found"}
        assert client.get("/v1/recordings").json()["total"] == 0
        assert client.get("/v1/webhooks").json() == {"webhooks": []}
        # A callback naming the owner's session creates the intruder's own recording, not a view.
        mine = client.post("/api/v1/voice/callback", data={"sessionId": session, "isActive": "1"}).json()
        assert mine["recording_id"] != rid
    with stack.client(owner) as client:  # and the owner's data is untouched
        assert client.get(f"/v1/recordings/{rid}").json()["status"] == "transcribed"
        assert client.get(f"/v1/webhooks/{hook['id']}").status_code == 200


def test_secrets_never_reach_the_logs(stack: Stack) -> None:
    issued = stack.tenant("secret-logs")
    with stack.client(issued) as client:
        hook = client.post("/v1/webhooks", json={"url": "https://hooks.example.com/s"}).json()
        token = client.post("/v1/tokens", json={"identity": "u1"}).json()["token"]
        client.get("/v1/recordings")
    logs = "".join(p.log_path.read_text() for p in (stack.api, stack.worker) if p.log_path)
    for secret in (issued.api_secret, hook["secret"], token):
        assert secret not in logs
