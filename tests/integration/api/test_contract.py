"""The spec (../shared/spec/API.md) route by route, through real HTTP against the running stack:
every field name and type, every status and error code a client written from the spec relies on."""

from __future__ import annotations

import contextlib
import json
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from engine.access.keys import IssuedKey
from tests.conftest import Stack

pytestmark = pytest.mark.integration

STR, INT, NUM, BOOL, NULL = str, int, (int, float), bool, type(None)
TIMESTAMP = "timestamp"

RECORDING_FIELDS: dict[str, Any] = {
    "id": STR, "tenant_id": STR, "user_id": (STR, NULL), "original_filename": (STR, NULL),
    "s3_key": STR, "s3_bucket": STR, "duration_seconds": (*NUM, NULL), "file_size_bytes": (INT, NULL),
    "audio_format": (STR, NULL), "sample_rate": (INT, NULL), "channels": (INT, NULL),
    "bit_rate": (INT, NULL), "audio_codec": (STR, NULL), "status": STR, "features": (dict, NULL),
    "client_ip": (STR, NULL), "user_agent": (STR, NULL), "upload_source": (STR, NULL),
    "custom_tags": (dict, NULL), "error": (dict, NULL), "created_at": TIMESTAMP,
    "updated_at": TIMESTAMP, "processed_at": (TIMESTAMP, NULL), "uri": STR, "subresource_uris": dict,
    "progress": (*NUM, NULL),
}  # fmt: skip
TRANSCRIPTION_FIELDS: dict[str, Any] = {
    "id": STR, "recording_id": STR, "tenant_id": STR, "text": STR, "confidence": NUM,
    "language": (STR, NULL), "language_code": (STR, NULL), "language_probability": (*NUM, NULL),
    "provider": STR, "model": STR, "device": STR, "compute_type": STR, "processing_duration_ms": INT,
    "duration_seconds": (*NUM, NULL), "words": list, "segments": list, "created_at": TIMESTAMP,
    "updated_at": TIMESTAMP, "uri": STR,
    "languages": (list, NULL),  # an extension: speech time per language (README)
    "utterances": (list, NULL), "speakers": (list, NULL), "diarization": (dict, NULL),  # speakers (README)
}  # fmt: skip
WORD_FIELDS = {"word": STR, "start": NUM, "end": NUM, "confidence": NUM}
SEGMENT_FIELDS = {
    "id": INT, "start": NUM, "end": NUM, "text": STR, "avg_logprob": NUM, "no_speech_prob": NUM,
    "compression_ratio": NUM,  # an extension: the segment's quality signals (README)
    "language": (STR, NULL), "speaker": (STR, NULL), "channel": (INT, NULL),  # extensions (README)
}  # fmt: skip
LIST_FIELDS: dict[str, Any] = {
    "recordings": list, "uri": STR, "first_page_uri": STR, "next_page_uri": (STR, NULL),
    "previous_page_uri": (STR, NULL), "page": INT, "page_size": INT, "total": INT,
}  # fmt: skip
VOICE_FIELDS: dict[str, Any] = {
    "recording_id": STR, "status": STR, "duration": (*NUM, NULL), "recording_url": (STR, NULL),
    "created_at": (TIMESTAMP, NULL), "processed_at": (TIMESTAMP, NULL),
}  # fmt: skip


def assert_shape(body: dict[str, Any], fields: dict[str, Any], *, exact: bool = True) -> None:
    missing = set(fields) - set(body)
    assert not missing, f"missing fields {missing}"
    if exact:
        assert set(body) - set(fields) <= {"transcription_uri"}, f"unexpected fields {set(body) - set(fields)}"
    for name, kind in fields.items():
        value = body[name]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if TIMESTAMP in kinds and isinstance(value, str):
            assert value.endswith("Z"), f"{name}={value!r} is not UTC with Z"
            datetime.fromisoformat(value)
            continue
        types = tuple(k for k in kinds if isinstance(k, type))
        assert isinstance(value, types), f"{name}={value!r} is not {kinds}"
        if bool not in types:
            assert not isinstance(value, bool), f"{name} is a boolean"


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"]["message"].strip()
    assert response.json() == {
        "error": {"code": code, "message": response.json()["error"]["message"], "status": status}
    }


def upload(client: httpx.Client, path: Path, **data: str) -> httpx.Response:
    return client.post("/v1/recordings", files={"file": (path.name, path.read_bytes(), "audio/wav")}, data=data)


def bearer_upload(stack: Stack, token: str, path: Path) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"}
    return httpx.post(f"{stack.url}/v1/recordings", headers=headers, files={"file": (path.name, path.read_bytes())})


# -- POST /v1/recordings -------------------------------------------------------------------------


def test_upload_answers_201_with_location_and_a_full_processing_recording(
    stack: Stack, api: httpx.Client, tenant: IssuedKey, audio_dir: Path
) -> None:
    response = upload(api, audio_dir / "espeak_1.wav", custom_tags='{"actionType": "CreateReport"}', language="en")
    assert response.status_code == 201
    body = response.json()
    assert_shape(body, RECORDING_FIELDS)
    assert response.headers["location"] == body["uri"] == f"/v1/recordings/{body['id']}"
    assert body["subresource_uris"] == {"transcription": f"{body['uri']}/transcription"}
    assert body["status"] == "processing" and body["error"] is None
    assert body["tenant_id"] == tenant.tenant_id and body["user_id"] is None
    assert body["s3_key"] == f"{tenant.tenant_id}/{body['id']}.wav"
    assert body["s3_bucket"] == stack.settings.s3_bucket
    assert body["file_size_bytes"] == (audio_dir / "espeak_1.wav").stat().st_size
    assert body["features"] == {
        "language": "en", "model": "tiny.en", "task": "transcribe", "word_timestamps": True, "initial_prompt": None,
        "source_url": None, "channels": "mix", "diarize": False, "speakers_expected": None, "min_speakers": None,
        "max_speakers": None, "vocabulary_id": None,
    }  # fmt: skip
    assert body["custom_tags"] == {"actionType": "CreateReport"}
    assert body["upload_source"] == "api" and body["client_ip"] == "127.0.0.1"
    assert body["user_agent"].startswith("python-httpx")
    uuid.UUID(body["id"])


def test_a_recording_gets_its_probe_fields_once_transcribed(stack: Stack, api: httpx.Client, audio_dir: Path) -> None:
    created = upload(api, audio_dir / "stereo_diarization.wav").json()
    done = stack.wait_done(api, created["id"])
    assert_shape(done, RECORDING_FIELDS)
    assert done["status"] == "transcribed"
    assert (done["sample_rate"], done["channels"], done["audio_codec"]) == (16000, 2, "pcm_s16le")
    assert done["duration_seconds"] == pytest.approx(5.0, abs=0.1)
    assert done["bit_rate"] == 512000 and done["audio_format"] == "wav"
    assert done["processed_at"] is not None and done["updated_at"] >= done["created_at"]


LIMIT_BREACHES = {
    "eleven-keys": ({f"k{i}": "v" for i in range(11)}, "11 keys"),
    "empty-key": ({"": "v"}, "''"),
    "key-33-chars": ({"k" * 33: "v"}, "k" * 33),
    "key-bad-char": ({"job.id": "v"}, "job.id"),
    "value-129-chars": ({"note": "v" * 129}, "note"),
    "value-control-char": ({"note": "line\nbreak"}, "note"),
    "value-not-string": ({"count": 3}, "count"),
    "over-1024-bytes": ({f"key{i}": "v" * 120 for i in range(9)}, "key7"),
}


@pytest.mark.parametrize("breach", LIMIT_BREACHES, ids=list(LIMIT_BREACHES))
def test_each_custom_tags_limit_is_400_invalid_custom_tags_naming_the_key(
    api: httpx.Client, audio_dir: Path, breach: str
) -> None:
    tags, named = LIMIT_BREACHES[breach]
    response = upload(api, audio_dir / "espeak_1.wav", custom_tags=json.dumps(tags))
    assert_error(response, 400, "INVALID_CUSTOM_TAGS")
    assert named in response.json()["error"]["message"]
    assert api.get("/v1/recordings").json()["total"] == 0


def test_the_largest_valid_custom_tags_set_is_accepted_and_echoed(api: httpx.Client, audio_dir: Path) -> None:
    tags = {f"{i:02d}".ljust(32, "k"): "v" * 64 for i in range(10)}
    assert len(json.dumps(tags, separators=(",", ":")).encode()) == 1021
    response = upload(api, audio_dir / "espeak_1.wav", custom_tags=json.dumps(tags))
    assert response.status_code == 201, response.text
    assert response.json()["custom_tags"] == tags
    assert api.get(response.json()["uri"]).json()["custom_tags"] == tags


# -- GET /v1/recordings --------------------------------------------------------------------------


def test_list_has_the_spec_fields_newest_first_with_filters_kept_in_every_uri(
    stack: Stack, api: httpx.Client, audio_dir: Path
) -> None:
    ids = [upload(api, audio_dir / f"espeak_{n}.wav").json()["id"] for n in (1, 2, 3)]
    for rid in ids:
        stack.wait_done(api, rid)
    body = api.get("/v1/recordings", params={"limit": 2, "status": "transcribed", "date_from": "2020-01-01"}).json()
    assert_shape(body, LIST_FIELDS)
    for item in body["recordings"]:
        assert_shape(item, RECORDING_FIELDS)
    assert [r["id"] for r in body["recordings"]] == ids[::-1][:2]
    assert (body["page"], body["page_size"], body["total"]) == (0, 2, 3)
    assert body["previous_page_uri"] is None
    for uri in (body["uri"], body["first_page_uri"], body["next_page_uri"]):
        assert "status=transcribed" in uri and "date_from=2020-01-01" in uri and "limit=2" in uri
    last = api.get(body["next_page_uri"]).json()
    assert [r["id"] for r in last["recordings"]] == [ids[0]]
    assert last["next_page_uri"] is None and last["page"] == 1 and last["previous_page_uri"] is not None
    by_page = api.get("/v1/recordings", params={"limit": 2, "page": 1}).json()
    assert [r["id"] for r in by_page["recordings"]] == [ids[0]] and by_page["next_page_uri"] is None


def test_walking_the_pages_while_recordings_are_added_sees_each_once(
    stack: Stack, api: httpx.Client, audio_dir: Path
) -> None:
    wav = audio_dir / "espeak_1.wav"
    with stack.worker_paused():  # keep the queue from competing with the walk for the CPU
        before = [upload(api, wav).json()["id"] for _ in range(7)]
        seen: list[str] = []
        uri: str | None = "/v1/recordings?limit=2"
        while uri:
            page = api.get(uri).json()
            seen += [r["id"] for r in page["recordings"]]
            upload(api, wav)  # someone uploads while we walk
            uri = page["next_page_uri"]
    assert seen == before[::-1]
    assert len(set(seen)) == len(seen)


def test_date_filters_are_inclusive_at_their_boundaries(api: httpx.Client, audio_dir: Path) -> None:
    rec = upload(api, audio_dir / "espeak_1.wav").json()
    created = datetime.fromisoformat(rec["created_at"])
    today = created.date().isoformat()
    ms = timedelta(milliseconds=1)

    def ids(**params: str) -> list[str]:
        return [r["id"] for r in api.get("/v1/recordings", params=params).json()["recordings"]]

    stamp = created.isoformat().replace("+00:00", "Z")
    assert ids(date_from=stamp, date_to=stamp) == [rec["id"]]
    assert ids(date_to=(created - ms).isoformat()) == []
    assert ids(date_from=(created + ms).isoformat()) == []
    assert ids(date_from=today, date_to=today) == [rec["id"]]  # a date-only date_to is the whole day
    assert ids(date_to=(created.date() - timedelta(days=1)).isoformat()) == []
    assert ids(date_from=(created.date() + timedelta(days=1)).isoformat()) == []
    naive = created.replace(tzinfo=None).isoformat()  # no offset means UTC
    assert ids(date_from=naive, date_to=naive) == [rec["id"]]


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("page", "-1"), ("page", "x"), ("page", "1.5"), ("limit", "0"), ("limit", "101"), ("limit", "ten"),
        ("status", "done"), ("status", "PROCESSING"), ("date_from", "yesterday"), ("date_to", "2025-13-01"),
        ("date_from", "2025-10-01T25:00:00"), ("after", "../etc"),
    ],
)  # fmt: skip
def test_each_bad_list_parameter_is_400_invalid_parameter_naming_it(api: httpx.Client, param: str, value: str) -> None:
    response = api.get("/v1/recordings", params={param: value})
    assert_error(response, 400, "INVALID_PARAMETER")
    assert param in response.json()["error"]["message"]


def test_date_from_after_date_to_is_400(api: httpx.Client) -> None:
    assert_error(
        api.get("/v1/recordings", params={"date_from": "2025-10-02", "date_to": "2025-10-01"}),
        400,
        "INVALID_PARAMETER",
    )


# -- GET /v1/recordings/{id}/transcription -------------------------------------------------------


def test_transcription_has_every_spec_field_and_its_formats(stack: Stack, api: httpx.Client, audio_dir: Path) -> None:
    rec = upload(api, audio_dir / "espeak_2.wav").json()
    stack.wait_done(api, rec["id"])
    response = api.get(f"/v1/recordings/{rec['id']}/transcription")
    assert response.status_code == 200
    body = response.json()
    assert_shape(body, TRANSCRIPTION_FIELDS)
    assert body["recording_id"] == rec["id"] and body["uri"] == f"/v1/recordings/{rec['id']}/transcription"
    assert body["provider"] == "faster-whisper" and body["language"] == "english" and body["language_code"] == "en"
    assert 0 < body["confidence"] <= 1 and body["words"] and body["segments"]
    for word in body["words"]:
        assert_shape(word, WORD_FIELDS)
    for segment in body["segments"]:
        assert_shape(segment, SEGMENT_FIELDS)

    srt = api.get(f"/v1/recordings/{rec['id']}/transcription", params={"format": "srt"})
    assert srt.headers["content-type"].startswith("application/x-subrip")
    assert srt.text.startswith("1\n00:00:0") and " --> " in srt.text
    vtt = api.get(f"/v1/recordings/{rec['id']}/transcription", params={"format": "vtt"})
    assert vtt.headers["content-type"].startswith("text/vtt") and vtt.text.startswith("WEBVTT\n\n00:00:0")
    text = api.get(f"/v1/recordings/{rec['id']}/transcription", params={"format": "text"})
    assert text.headers["content-type"].startswith("text/plain") and text.text.strip() == body["text"]
    bad = api.get(f"/v1/recordings/{rec['id']}/transcription", params={"format": "docx"})
    assert_error(bad, 400, "INVALID_PARAMETER")


def test_transcription_is_404_not_ready_while_processing_and_failed_when_failed(
    stack: Stack, api: httpx.Client, audio_dir: Path
) -> None:
    with stack.worker_paused():
        rec = upload(api, audio_dir / "espeak_1.wav").json()
        assert_error(api.get(f"/v1/recordings/{rec['id']}/transcription"), 404, "TRANSCRIPTION_NOT_READY")
    bad = api.post("/v1/recordings", files={"file": ("x.mp3", b"not audio at all" * 64, "audio/mpeg")}).json()
    failed = stack.wait_done(api, bad["id"])
    assert failed["error"] == {"code": "INVALID_AUDIO", "message": failed["error"]["message"]}
    assert_error(api.get(f"/v1/recordings/{bad['id']}/transcription"), 404, "TRANSCRIPTION_FAILED")


# -- GET /v1/recordings/{id}/audio ----------------------------------------------------------------


def test_audio_redirects_307_to_a_presigned_url_that_serves_the_upload(api: httpx.Client, audio_dir: Path) -> None:
    data = (audio_dir / "espeak_3.wav").read_bytes()
    rec = upload(api, audio_dir / "espeak_3.wav").json()
    response = api.get(f"/v1/recordings/{rec['id']}/audio")
    assert response.status_code == 307
    location = response.headers["location"]
    assert "X-Amz-Signature=" in location and "X-Amz-Expires=900" in location
    assert httpx.get(location).content == data  # no credentials needed
    assert_error(api.get(f"/v1/recordings/{uuid.uuid4()}/audio"), 404, "RECORDING_NOT_FOUND")


# -- POST /v1/tokens and Bearer uploads -----------------------------------------------------------


def test_an_upload_token_lets_a_device_upload_as_an_identity(
    stack: Stack, api: httpx.Client, tenant: IssuedKey, audio_dir: Path
) -> None:
    issued = api.post("/v1/tokens", json={"identity": "user-42", "ttl_seconds": 600})
    assert issued.status_code == 201, issued.text
    body = issued.json()
    assert set(body) >= {"token", "expires_at"}
    expires = datetime.fromisoformat(body["expires_at"])
    assert timedelta(seconds=590) < expires - datetime.now(UTC) <= timedelta(seconds=601)
    bearer = {"Authorization": f"Bearer {body['token']}"}
    wav = (audio_dir / "espeak_1.wav").read_bytes()
    response = httpx.post(f"{stack.url}/v1/recordings", headers=bearer, files={"file": ("a.wav", wav, "audio/wav")})
    assert response.status_code == 201, response.text
    rec = response.json()
    assert (rec["user_id"], rec["tenant_id"], rec["upload_source"]) == ("user-42", tenant.tenant_id, "token")
    # A token uploads; it does not read.
    assert_error(httpx.get(f"{stack.url}/v1/recordings", headers=bearer), 401, "UNAUTHORIZED")
    tampered = {"Authorization": f"Bearer {body['token'][:-2]}xx"}
    assert_error(
        httpx.post(f"{stack.url}/v1/recordings", headers=tampered, files={"file": ("a.wav", wav)}),
        401,
        "UNAUTHORIZED",
    )


def test_an_expired_token_is_401(stack: Stack, api: httpx.Client, audio_dir: Path) -> None:
    issued = api.post("/v1/tokens", json={"identity": "u", "ttl_seconds": 1}).json()
    token, expires_at = issued["token"], datetime.fromisoformat(issued["expires_at"].replace("Z", "+00:00"))
    while datetime.now(UTC) <= expires_at:  # wait for the moment the token itself names
        time.sleep(0.05)
    response = bearer_upload(stack, token, audio_dir / "espeak_1.wav")
    assert_error(response, 401, "UNAUTHORIZED")
    assert "expired" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    "body",
    [{}, {"identity": ""}, {"identity": "x" * 129}, {"identity": "a\nb"}, {"identity": 5},
     {"identity": "u", "ttl_seconds": 0}, {"identity": "u", "ttl_seconds": 10**7},
     {"identity": "u", "ttl_seconds": "60"}],
)  # fmt: skip
def test_bad_token_requests_are_400(api: httpx.Client, body: dict[str, Any]) -> None:
    assert_error(api.post("/v1/tokens", json=body), 400, "INVALID_PARAMETER")


def test_tokens_need_basic_credentials(stack: Stack) -> None:
    assert_error(httpx.post(f"{stack.url}/v1/tokens", json={"identity": "u"}), 401, "UNAUTHORIZED")


# -- source_url ingest ---------------------------------------------------------------------------


class _AudioHandler(BaseHTTPRequestHandler):
    audio_dir: Path

    def do_GET(self) -> None:
        if self.path.startswith("/redirect/"):
            self.send_response(302)
            self.send_header("Location", "/files/" + self.path.removeprefix("/redirect/"))
            self.end_headers()
            return
        path = self.audio_dir / self.path.removeprefix("/files/")
        if not self.path.startswith("/files/") or not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", "audio/wav")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        return None


@contextlib.contextmanager
def _serving(directory: Path) -> Iterator[str]:
    handler = type("Handler", (_AudioHandler,), {"audio_dir": directory})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def audio_server(audio_dir: Path) -> Iterator[str]:
    with _serving(audio_dir) as url:
        yield url


def test_a_source_url_is_fetched_and_transcribed(stack: Stack, api: httpx.Client, audio_server: str) -> None:
    response = api.post(
        "/v1/recordings",
        json={"source_url": f"{audio_server}/redirect/espeak_3.wav", "custom_tags": {"a": "b"}},
    )
    assert response.status_code == 201, response.text
    rec = response.json()
    assert_shape(rec, RECORDING_FIELDS)
    assert rec["upload_source"] == "url" and rec["file_size_bytes"] is None and rec["custom_tags"] == {"a": "b"}
    assert rec["features"]["source_url"].endswith("/redirect/espeak_3.wav")
    done = stack.wait_done(api, rec["id"])
    assert done["status"] == "transcribed", done
    assert done["file_size_bytes"] > 0 and done["sample_rate"] == 16000
    assert "report" in api.get(f"/v1/recordings/{rec['id']}/transcription").json()["text"].lower()


def test_a_source_that_answers_404_ends_failed_source_fetch_failed(
    stack: Stack, api: httpx.Client, audio_server: str
) -> None:
    rec = api.post("/v1/recordings", json={"source_url": f"{audio_server}/files/missing.wav"}).json()
    failed = stack.wait_done(api, rec["id"])
    assert failed["status"] == "failed" and failed["error"]["code"] == "SOURCE_FETCH_FAILED"
    assert "404" in failed["error"]["message"]


def test_a_failed_recording_is_transcribed_again_on_retry(
    stack: Stack, api: httpx.Client, audio_dir: Path, tmp_path: Path
) -> None:
    with _serving(tmp_path) as server:
        rec = api.post("/v1/recordings", json={"source_url": f"{server}/files/late.wav"}).json()
        assert stack.wait_done(api, rec["id"])["error"]["code"] == "SOURCE_FETCH_FAILED"
        shutil.copy(audio_dir / "espeak_3.wav", tmp_path / "late.wav")  # the file is published late
        response = api.post(f"/v1/recordings/{rec['id']}/retry")
        assert response.status_code == 202, response.text
        retried = response.json()
        assert_shape(retried, RECORDING_FIELDS)
        assert (retried["status"], retried["error"], retried["processed_at"]) == ("processing", None, None)
        assert_error(api.post(f"/v1/recordings/{rec['id']}/retry"), 409, "NOTHING_TO_RETRY")  # still processing
        done = stack.wait_done(api, rec["id"])
    assert done["status"] == "transcribed" and done["error"] is None, done
    assert "report" in api.get(f"/v1/recordings/{rec['id']}/transcription").json()["text"].lower()
    listed = api.get("/v1/recordings", params={"status": "failed"}).json()
    assert rec["id"] not in [r["id"] for r in listed["recordings"]]
    assert_error(api.post(f"/v1/recordings/{rec['id']}/retry"), 409, "NOTHING_TO_RETRY")  # nothing failed
    assert_error(api.post(f"/v1/recordings/{uuid.uuid4()}/retry"), 404, "RECORDING_NOT_FOUND")


@pytest.mark.parametrize(
    "body",
    [{"source_url": "ftp://example.com/a.wav"}, {"source_url": "file:///etc/passwd"}, {"source_url": "http://"},
     {"source_url": 42}, {"source_url": "https://example.com/a.wav", "word_timestamps": "perhaps"},
     {"source_url": "https://example.com/a.wav", "custom_tags": {"bad key": "x"}}],
)  # fmt: skip
def test_bad_source_url_requests_are_rejected(api: httpx.Client, body: dict[str, Any]) -> None:
    response = api.post("/v1/recordings", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] in ("INVALID_PARAMETER", "INVALID_CUSTOM_TAGS")
    assert api.get("/v1/recordings").json()["total"] == 0


def test_malformed_json_is_400(api: httpx.Client) -> None:
    response = api.post("/v1/recordings", content=b"{nope", headers={"Content-Type": "application/json"})
    assert_error(response, 400, "INVALID_PARAMETER")


# -- voice-recording routes (002 seed) -------------------------------------------------------------


def test_a_voice_call_goes_recording_processing_completed(stack: Stack, api: httpx.Client, audio_server: str) -> None:
    session = f"ATVId_{uuid.uuid4().hex[:10]}"
    started = api.post("/api/v1/voice/callback", data={"sessionId": session, "isActive": "1"})
    assert started.status_code == 200, started.text
    assert started.json()["status"] == "recording"
    status = api.get(f"/api/v1/voice/recordings/{session}").json()
    assert_shape(status, VOICE_FIELDS)
    assert (status["recording_id"], status["status"], status["duration"], status["recording_url"]) == (
        session, "recording", None, None,
    )  # fmt: skip
    assert status["created_at"].endswith("Z") and status["processed_at"] is None
    # Its /v1 twin exists and is processing.
    rid = started.json()["recording_id"]
    assert api.get(f"/v1/recordings/{rid}").json()["status"] == "processing"

    ended = api.post(
        "/api/v1/voice/callback",
        json={"sessionId": session, "isActive": "0", "recordingUrl": f"{audio_server}/files/jfk.flac",
              "durationInSeconds": "11"},
    )  # fmt: skip
    assert ended.status_code == 200 and ended.json()["status"] == "processing"
    stack.wait_done(api, rid)
    done = api.get(f"/api/v1/voice/recordings/{session}").json()
    assert done["status"] == "completed" and done["duration"] == pytest.approx(11.0, abs=0.3)
    assert done["recording_url"].startswith("http") and done["processed_at"].endswith("Z")
    by_id = api.get(f"/api/v1/voice/recordings/{rid}").json()
    assert by_id["status"] == "completed" and by_id["recording_id"] == rid
    # A retried callback changes nothing.
    again = api.post("/api/v1/voice/callback", data={"sessionId": session, "isActive": "0"})
    assert again.json() == {"recording_id": rid, "session_id": session, "status": "completed"}


def test_a_call_that_ends_without_a_recording_is_failed_until_its_recording_url_comes_after_all(
    stack: Stack, api: httpx.Client, audio_server: str
) -> None:
    session = f"ATVId_{uuid.uuid4().hex[:10]}"
    api.post("/api/v1/voice/callback", data={"sessionId": session, "isActive": "1"})
    ended = api.post("/api/v1/voice/callback", data={"sessionId": session, "isActive": "0"})
    assert ended.json()["status"] == "failed"
    assert api.get(f"/api/v1/voice/recordings/{session}").json()["status"] == "failed"
    rid = ended.json()["recording_id"]
    # Nothing to transcribe: a retry is refused rather than queued to fail again.
    retry = api.post(f"/v1/recordings/{rid}/retry")
    assert_error(retry, 409, "NOTHING_TO_RETRY")
    assert "recording URL" in retry.json()["error"]["message"]
    # Some providers report the recording apart from the end of the call: it is fetched after all.
    late = api.post(
        "/api/v1/voice/callback",
        data={"sessionId": session, "isActive": "0", "recordingUrl": f"{audio_server}/files/jfk.flac"},
    )
    assert late.status_code == 200 and late.json()["status"] == "processing"
    stack.wait_done(api, rid)
    done = api.get(f"/v1/recordings/{rid}").json()
    assert done["status"] == "transcribed" and done["error"] is None
    assert "country" in api.get(f"/v1/recordings/{rid}/transcription").json()["text"].lower()


def test_a_call_deleted_while_active_is_not_brought_back_by_its_end_callback(
    stack: Stack, api: httpx.Client, audio_server: str
) -> None:
    session = f"ATVId_{uuid.uuid4().hex[:10]}"
    rid = api.post("/api/v1/voice/callback", data={"sessionId": session, "isActive": "1"}).json()["recording_id"]
    assert api.delete(f"/v1/recordings/{rid}").status_code == 204
    # The provider's end-of-call callback (and its retries) still come, with the recording URL.
    for _ in range(2):
        late = api.post(
            "/api/v1/voice/callback",
            data={"sessionId": session, "isActive": "0", "recordingUrl": f"{audio_server}/files/jfk.flac"},
        )
        assert late.status_code == 404 and late.json() == {"detail": "Recording not found"}
    assert api.get(f"/v1/recordings/{rid}").status_code == 404
    assert api.get(f"/api/v1/voice/recordings/{session}").status_code == 404
    listed = api.get("/v1/recordings", params={"limit": 100}).json()
    assert rid not in {r["id"] for r in listed["recordings"]}


def test_voice_routes_answer_in_their_own_error_format(stack: Stack, api: httpx.Client) -> None:
    missing = api.get(f"/api/v1/voice/recordings/conf_{uuid.uuid4().hex}")
    assert missing.status_code == 404 and missing.json() == {"detail": "Recording not found"}
    other = stack.tenant("voice-other")
    session = f"ATVId_{uuid.uuid4().hex[:10]}"
    api.post("/api/v1/voice/callback", data={"sessionId": session, "isActive": "1"})
    with stack.client(other) as client:
        assert client.get(f"/api/v1/voice/recordings/{session}").status_code == 404
    bad = api.post("/api/v1/voice/callback", data={"isActive": "1"})
    assert bad.status_code == 400 and "sessionId" in bad.json()["detail"]
    unauthenticated = httpx.get(f"{stack.url}/api/v1/voice/recordings/{session}")
    assert unauthenticated.status_code == 401 and "detail" in unauthenticated.json()


# -- GET /v1/models, /schema, service routes ------------------------------------------------------


def test_models_lists_the_default_model(api: httpx.Client) -> None:
    body = api.get("/v1/models").json()
    assert body["models"][0]["name"] == "tiny.en" and body["models"][0]["default"] is True


def test_the_openapi_document_lists_every_route_with_its_error_responses(stack: Stack) -> None:
    schema = httpx.get(f"{stack.url}/schema/openapi.json").json()
    paths = schema["paths"]
    expected = {
        ("/v1/recordings", "post"): {"201", "400", "401", "413", "415", "503"},
        ("/v1/recordings", "get"): {"200", "400", "401"},
        ("/v1/recordings/{recording_id}", "get"): {"200", "401", "404"},
        ("/v1/recordings/{recording_id}", "delete"): {"204", "401", "404"},
        ("/v1/recordings/{recording_id}/transcription", "get"): {"200", "401", "404"},
        ("/v1/recordings/{recording_id}/audio", "get"): {"307", "401", "404"},
        ("/v1/tokens", "post"): {"201", "400", "401"},
        ("/v1/models", "get"): {"200", "401"},
        ("/api/v1/voice/recordings/{recording_id}", "get"): {"200"},
        ("/api/v1/voice/callback", "post"): {"200"},
        ("/health", "get"): {"200"},
        ("/ready", "get"): {"200"},
    }
    for (path, method), statuses in expected.items():
        assert path in paths and method in paths[path], f"{method.upper()} {path} is not documented"
        documented = set(paths[path][method]["responses"])
        assert statuses <= documented, f"{method.upper()} {path}: {statuses - documented} not documented"
    not_found = paths["/v1/recordings/{recording_id}/transcription"]["get"]["responses"]["404"]["description"]
    assert "TRANSCRIPTION_NOT_READY" in not_found and "TRANSCRIPTION_FAILED" in not_found


def test_a_cursor_walk_ends_with_a_null_next_page_on_a_full_last_page(
    stack: Stack, api: httpx.Client, audio_dir: Path
) -> None:
    with stack.worker_paused():
        ids = [upload(api, audio_dir / "espeak_1.wav").json()["id"] for _ in range(4)]
    first = api.get("/v1/recordings", params={"limit": 2}).json()
    second = api.get(first["next_page_uri"]).json()
    assert [r["id"] for r in first["recordings"] + second["recordings"]] == ids[::-1]
    assert second["next_page_uri"] is None and second["page_size"] == 2


def test_non_ascii_credentials_are_401_not_500(stack: Stack) -> None:
    for header in ("Basic ÿÿÿÿ", "Bearer et_ÿÿÿ.ÿÿÿ"):
        response = httpx.get(f"{stack.url}/v1/recordings", headers={"Authorization": header.encode("latin-1")})
        assert_error(response, 401, "UNAUTHORIZED")
        response = httpx.post(
            f"{stack.url}/v1/recordings",
            headers={"Authorization": header.encode("latin-1")},
            files={"file": ("a", b"x")},
        )
        assert_error(response, 401, "UNAUTHORIZED")


def test_revoking_a_key_revokes_the_upload_tokens_it_issued(stack: Stack, audio_dir: Path) -> None:
    key = stack.tenant("revoke-tokens")
    with stack.client(key) as client:
        token = client.post("/v1/tokens", json={"identity": "device-1"}).json()["token"]
    stack.backends.keys.revoke(key.api_key)
    response = bearer_upload(stack, token, audio_dir / "espeak_1.wav")
    assert_error(response, 401, "UNAUTHORIZED")
    assert "revoked" in response.json()["error"]["message"]
