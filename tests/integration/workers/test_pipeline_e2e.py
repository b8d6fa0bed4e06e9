"""Upload → object storage → queue → worker → transcript, through real processes and services."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.wer import wer
from tests.conftest import Stack

pytestmark = pytest.mark.integration


def test_jfk_upload_is_transcribed_with_word_timings_and_probe_fields(stack: Stack, audio_dir: Path) -> None:
    key = stack.tenant("e2e")
    audio = (audio_dir / "jfk.flac").read_bytes()
    with stack.client(key) as client:
        created = client.post(
            "/v1/recordings",
            files={"file": ("jfk.flac", audio, "audio/flac")},
            data={"custom_tags": '{"jobId": "job_123"}'},
        )
        assert created.status_code == 201, created.text
        recording = created.json()
        assert created.headers["location"] == f"/v1/recordings/{recording['id']}"
        assert recording["status"] == "processing"
        assert recording["file_size_bytes"] == len(audio)
        assert recording["s3_key"] == f"{recording['tenant_id']}/{recording['id']}.flac"

        done = stack.wait_done(client, recording["id"])
        assert done["status"] == "transcribed", done
        assert done["duration_seconds"] == pytest.approx(11.0, abs=0.3)
        assert done["sample_rate"] == 44100
        assert done["channels"] == 2
        assert done["audio_codec"] == "flac"
        assert done["audio_format"] == "flac"
        assert done["custom_tags"] == {"jobId": "job_123"}
        assert done["processed_at"] is not None

        response = client.get(f"/v1/recordings/{recording['id']}/transcription")
        assert response.status_code == 200, response.text
        transcript = response.json()

    reference = (audio_dir / "jfk.txt").read_text()
    assert wer(reference, transcript["text"]) <= 0.15, transcript["text"]
    words = transcript["words"]
    assert len(words) >= 18
    starts = [w["start"] for w in words]
    assert starts == sorted(starts)
    assert all(0.0 <= w["confidence"] <= 1.0 and w["end"] >= w["start"] for w in words)
    assert 0.0 < transcript["confidence"] <= 1.0
    assert transcript["language"] == "english" and transcript["language_code"] == "en"
    assert transcript["model"] == "tiny.en" and transcript["provider"] == "faster-whisper"
    assert transcript["segments"] and transcript["segments"][0]["start"] == pytest.approx(0.0, abs=1.0)

    stored = stack.backends.storage.get_bytes(recording["s3_key"])
    assert stored == audio
