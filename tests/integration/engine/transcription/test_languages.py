"""Languages with a multilingual model (Whisper base, assembled offline: tests/models.py): each
window detects its own language, every segment says which, and the recording sums them up."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import msgspec
import pytest

from earshot.processes import start_worker
from tests.conftest import Stack, child_env, require
from tests.models import assemble_base, base_wheels

GERMAN = {"software", "genehmigung", "dokumentationsdateien", "recht", "verwenden", "bedingungen"}


@pytest.fixture(scope="module")
def base_model(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`base` added with `earshot models add` and served by a worker of its own queue."""
    require("the Whisper base test model (scripts/setup --test)", bool(base_wheels()))
    source = assemble_base(tmp_path_factory.mktemp("whisper-base") / "base")
    settings = msgspec.structs.replace(stack.settings, model="base", queues=f"base{time.monotonic_ns()}")
    env = child_env(settings)
    added = subprocess.run(
        [sys.executable, "-m", "earshot", "models", "add", str(source), "--name", "base"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert added.returncode == 0 or "already exists" in added.stderr, added.stderr
    worker = start_worker(env, log_path=tmp_path_factory.mktemp("logs") / "base-worker.log")
    try:
        with stack.client(stack.tenant("languages")) as client:
            deadline = time.monotonic() + 90
            while not any(m["name"] == "base" and m["pools"] for m in client.get("/v1/models").json()["models"]):
                assert worker.alive, worker.log_tail()
                assert time.monotonic() < deadline, f"no worker announced base:\n{worker.log_tail()}"
                time.sleep(0.3)
        yield "base"
    finally:
        worker.stop()


def _transcribe(stack: Stack, api: httpx.Client, path: Path, **fields: str) -> dict[str, object]:
    with path.open("rb") as fh:
        created = api.post("/v1/recordings", files={"file": (path.name, fh)}, data=fields)
    assert created.status_code == 201, created.text
    done = stack.wait_done(api, created.json()["id"], timeout=240)
    assert done["status"] == "transcribed", done
    body: dict[str, object] = api.get(f"/v1/recordings/{done['id']}/transcription").json()
    return body


def test_a_recording_that_switches_language_gets_a_language_per_segment(
    stack: Stack, api: httpx.Client, audio_dir: Path, base_model: str
) -> None:
    doc = _transcribe(stack, api, audio_dir / "multilingual.mp3", model=base_model, language="auto")
    segments = doc["segments"]
    assert isinstance(segments, list)
    languages = [s["language"] for s in segments]
    # English first (the MIT licence read in English, 0-29 s), then German (the same text, 30-60 s).
    assert languages[0] == "en" and languages[-1] == "de", languages
    switch = languages.index("de")
    assert set(languages[:switch]) == {"en"} and set(languages[switch:]) == {"de"}, languages
    english = " ".join(s["text"] for s in segments[:switch]).lower()
    german = " ".join(s["text"] for s in segments[switch:]).lower()
    assert "permission" in english and "software" in english
    assert len(GERMAN & set(german.replace(",", " ").replace(".", " ").split())) >= 4, german
    assert not GERMAN - {"software"} & set(english.split())
    # German speech is transcribed, not skipped: segments cover the second half of the file.
    assert segments[switch]["start"] < 35 and segments[-1]["end"] > 50
    summary = {entry["language_code"]: entry for entry in doc["languages"]}
    assert set(summary) == {"en", "de"} and summary["de"]["language"] == "german"
    assert summary["en"]["segments"] == switch and summary["de"]["segments"] == len(segments) - switch
    assert 15 < summary["de"]["seconds"] < 31 and 20 < summary["en"]["seconds"] < 31
    assert doc["language_code"] == max(summary, key=lambda code: summary[code]["seconds"])


def test_translate_gives_english_for_german_speech(
    stack: Stack, api: httpx.Client, audio_dir: Path, base_model: str, tmp_path: Path
) -> None:
    german = tmp_path / "german.wav"
    source = audio_dir / "multilingual.mp3"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-ss", "30", "-i", str(source), str(german)], check=True)
    doc = _transcribe(stack, api, german, model=base_model, task="translate")
    words = set(str(doc["text"]).lower().replace(",", " ").replace(".", " ").split())
    assert "software" in words and {"the", "and"} <= words, doc["text"]
    assert not (GERMAN - {"software"}) & words, doc["text"]
