"""Upload options that change what the transcript says: per-channel transcription, vocabularies,
and the checks on diarization's options (the diarization stage itself: tests/integration/workers)."""

from __future__ import annotations

import base64
import contextlib
import socket
import subprocess
from pathlib import Path

import httpx
import pytest

from engine.access.keys import IssuedKey
from tests.conftest import Stack
from tests.faults import upload


def _upload(api: httpx.Client, path: Path, **fields: str) -> httpx.Response:
    with path.open("rb") as fh:
        return api.post("/v1/recordings", files={"file": (path.name, fh)}, data=fields)


def _transcript(stack: Stack, api: httpx.Client, path: Path, **fields: str) -> dict[str, object]:
    created = _upload(api, path, **fields)
    assert created.status_code == 201, created.text
    done = stack.wait_done(api, created.json()["id"])
    assert done["status"] == "transcribed", done
    body: dict[str, object] = api.get(f"/v1/recordings/{done['id']}/transcription").json()
    return body


def test_split_channels_give_each_party_its_own_words_in_time_order(
    stack: Stack, api: httpx.Client, audio_dir: Path
) -> None:
    # Left: "He began a confused complaint against the wizard, who had vanished behind the curtain
    # on the left." Right: "The horizon seems extremely distant." Mixed, the right one is lost.
    doc = _transcript(stack, api, audio_dir / "stereo_diarization.wav", channels="split")
    words = doc["words"]
    assert isinstance(words, list)
    by_channel = {c: {w["word"].strip(".,").lower() for w in words if w["channel"] == c} for c in (0, 1)}
    assert {"wizard", "curtain", "vanished"} <= by_channel[0] and not {"horizon", "distant"} & by_channel[0]
    assert {"horizon", "distant"} <= by_channel[1] and not {"wizard", "curtain"} & by_channel[1]
    assert [w["start"] for w in words] == sorted(w["start"] for w in words)
    segments = doc["segments"]
    assert isinstance(segments, list) and {s["channel"] for s in segments} == {0, 1}
    assert [s["start"] for s in segments] == sorted(s["start"] for s in segments)
    assert [s["id"] for s in segments] == list(range(len(segments)))
    assert "horizon" in str(doc["text"]).lower() and "wizard" in str(doc["text"]).lower()
    # Channel turns and talk time per channel; subtitles say whose each cue is.
    turns = doc["utterances"]
    assert isinstance(turns, list) and {u["channel"] for u in turns} == {0, 1}
    assert [u["start"] for u in turns] == sorted(u["start"] for u in turns)
    stats = {s["channel"]: s for s in doc["speakers"]}  # type: ignore[union-attr]
    assert set(stats) == {0, 1} and stats[0]["words"] > stats[1]["words"] > 3
    vtt = api.get(f"/v1/recordings/{doc['recording_id']}/transcription", params={"format": "vtt"}).text
    assert "<v Channel 0>" in vtt and "<v Channel 1>" in vtt

    mixed = _transcript(stack, api, audio_dir / "stereo_diarization.wav")
    assert all("channel" not in w for w in mixed["words"])  # type: ignore[union-attr]


@pytest.fixture
def jfk_44s(audio_dir: Path, tmp_path: Path) -> Path:
    """44 s: jfk.flac, 22 s of other speech, jfk.flac again, so the same words fall in two windows
    (the second past 30 s). Not jfk four times over: a window of one sentence repeated reads as a
    repetition loop, which the hallucination guard rightly collapses."""
    out = tmp_path / "jfk-44s.wav"
    mono = "aresample=16000,aformat=channel_layouts=mono"
    subprocess.run(
        [
            *("ffmpeg", "-nostdin", "-v", "error", "-i", str(audio_dir / "jfk.flac"), "-t", "22"),
            *("-i", str(audio_dir / "silero_speech.wav"), "-i", str(audio_dir / "jfk.flac"), "-filter_complex"),
            *(f"[0:a]{mono}[a];[1:a]{mono}[b];[2:a]{mono}[c];[a][b][c]concat=n=3:v=0:a=1", str(out)),
        ],
        check=True,
    )
    return out


def test_a_vocabularys_replacements_apply_to_every_window_of_a_long_file(
    stack: Stack, api: httpx.Client, jfk_44s: Path
) -> None:
    vocabulary = api.post(
        "/v1/vocabularies",
        json={
            "name": "inaugural",
            "phrases": ["Kennedy"],
            "replacements": [
                {"heard": "country", "written": "Homeland"},
                {"heard": "fellow Americans", "written": "Citizens"},
            ],
        },
    )
    assert vocabulary.status_code == 201, vocabulary.text
    plain = _transcript(stack, api, jfk_44s)
    assert str(plain["text"]).lower().count("country") == 4  # twice in each jfk

    doc = _transcript(stack, api, jfk_44s, vocabulary_id=vocabulary.json()["id"])
    text = str(doc["text"])
    assert "country" not in text.lower() and text.count("Homeland") == str(plain["text"]).lower().count("country")
    assert "americans" not in text.lower() and text.count("Citizens") == 2
    words = doc["words"]
    assert isinstance(words, list)
    homeland = [w for w in words if w["word"].strip(",.?") == "Homeland"]
    assert len(homeland) == text.count("Homeland") and max(w["start"] for w in homeland) > 30
    assert not [w for w in words if "country" in w["word"].lower()]
    # "fellow Americans" became one word, timed from the first to the last.
    assert all(w["end"] > w["start"] for w in words if w["word"].startswith("Citizens"))
    recording = api.get(f"/v1/recordings/{doc['recording_id']}").json()
    assert recording["features"]["vocabulary_id"] == vocabulary.json()["id"]
    assert "replacements" not in recording["features"]


def test_another_tenants_vocabulary_cannot_be_used(stack: Stack, api: httpx.Client, audio_dir: Path) -> None:
    theirs = stack.tenant("vocabulary-owner")
    with stack.client(theirs) as other:
        created = other.post("/v1/vocabularies", json={"name": "private", "phrases": ["Earshot"]})
        assert created.status_code == 201
    before = api.get("/v1/recordings").json()["total"]
    refused = _upload(api, audio_dir / "jfk.flac", vocabulary_id=created.json()["id"])
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "INVALID_PARAMETER"
    assert "does not exist" in refused.json()["error"]["message"]
    assert api.get("/v1/recordings").json()["total"] == before  # nothing stored


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"channels": "left"}, "channels must be mix"),
        ({"speakers_expected": "2"}, "need diarize=true"),
        ({"diarize": "yes"}, "diarize must be true or false"),
        ({"diarize": "true", "speakers_expected": "0"}, "from 1 to 20"),
        ({"diarize": "true", "min_speakers": "3", "max_speakers": "2"}, "min_speakers is more than max_speakers"),
        ({"diarize": "true", "channels": "split"}, "do not go together"),
    ],
)
def test_bad_speaker_and_channel_options_are_refused_and_nothing_is_stored(
    api: httpx.Client, audio_dir: Path, fields: dict[str, str], message: str
) -> None:
    response = _upload(api, audio_dir / "jfk.flac", **fields)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "INVALID_PARAMETER" and message in error["message"]
    assert api.get("/v1/recordings").json()["total"] == 0
    assert upload(api, audio_dir / "espeak_1.wav").status_code == 201  # the key still works


@pytest.mark.parametrize(
    "fields",
    [{"diarize": "true"}, {"diarize": "true", "min_speakers": "4", "max_speakers": "2"}],
    ids=["no-diarization-worker", "min-over-max"],
)
def test_speaker_options_that_cannot_be_met_are_refused_before_the_audio_is_sent(
    stack: Stack, api: httpx.Client, tenant: IssuedKey, fields: dict[str, str]
) -> None:
    """The fields come first and the audio never ends: the 400 must not wait for the whole file
    (a 1 GiB upload would otherwise be sent in full to be refused)."""
    credentials = base64.b64encode(f"{tenant.api_key}:{tenant.api_secret}".encode())
    parts = b"".join(
        b'--B\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n' % (name.encode(), value.encode())
        for name, value in fields.items()
    )
    parts += b'--B\r\nContent-Disposition: form-data; name="file"; filename="long.wav"\r\n\r\n' + b"\0" * 65536
    head = (
        "POST /v1/recordings HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Basic {credentials.decode()}\r\n"
        "Content-Type: multipart/form-data; boundary=B\r\nTransfer-Encoding: chunked\r\n\r\n"
    ).encode()
    port = int(stack.url.rsplit(":", 1)[1])
    answer = b""
    with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
        sock.sendall(head + b"%x\r\n%s\r\n" % (len(parts), parts))  # ... and the rest of the audio never comes
        with contextlib.suppress(OSError):
            while b"INVALID_PARAMETER" not in answer and (data := sock.recv(65536)):
                answer += data
    assert answer.startswith(b"HTTP/1.1 400") and b"INVALID_PARAMETER" in answer, answer[:300]
    assert api.get("/v1/recordings").json()["total"] == 0
