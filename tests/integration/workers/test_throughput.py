"""Workers at scale: a shared queue, multi-recording batching, routing by model, the benchmark."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

import models
from benchmarks.wer import wer
from earshot.processes import Proc, start_worker
from engine.settings import Settings
from engine.transcription import audio
from engine.transcription.batching import BatchingTranscriber
from engine.transcription.whisper import TranscribeOptions, WhisperTranscriber
from tests.conftest import ROOT, Stack, log_events, wait_all
from tests.supervision import logged

pytestmark = pytest.mark.integration


def test_two_worker_processes_share_a_queue_and_transcribe_each_recording_once(
    stack: Stack, isolated: tuple[Settings, dict[str, str], Path, list[Proc]], audio_dir: Path
) -> None:
    _, env, logs, procs = isolated
    procs.append(start_worker(env, processes=2, log_path=logs / "workers.log"))
    deadline = time.monotonic() + 60
    while len(log_events(logs / "workers.log", "worker ready")) < 2:  # both consume before any upload
        assert time.monotonic() < deadline, "the two worker processes did not start"
        time.sleep(0.1)
    key = stack.tenant("pair")
    clips = ["espeak_1.wav", "espeak_2.wav", "espeak_3.wav", "jfk.flac", "stereo_diarization.wav", "espeak_1.wav"]
    with httpx.Client(base_url=env["EARSHOT_URL"], auth=(key.api_key, key.api_secret), timeout=60) as client:
        ids = []
        for name in clips:
            data = (audio_dir / name).read_bytes()
            ids.append(client.post("/v1/recordings", files={"file": (name, data)}).json()["id"])
        done = wait_all(client, ids)
    assert [d["status"] for d in done] == ["transcribed"] * 6
    every = lambda found: {str(e["recording_id"]) for e in found} >= set(ids)  # noqa: E731
    runs = logged(logs / "workers.log", "transcribed", every)
    per_recording = Counter(str(e["recording_id"]) for e in runs)
    assert per_recording == dict.fromkeys(ids, 1), per_recording
    assert len({e["pid"] for e in runs}) == 2, "both worker processes should have taken jobs"


def test_a_model_is_routed_to_the_queue_of_the_pool_that_runs_it(
    stack: Stack, isolated: tuple[Settings, dict[str, str], Path, list[Proc]], audio_dir: Path
) -> None:
    _, env, logs, procs = isolated
    # A second pool: the same weights named by path, on a queue of its own (as a GPU node would be).
    other_model = models.resolve("tiny.en")
    gpu_env = {**env, "EARSHOT_MODEL": other_model, "EARSHOT_QUEUES": "gpu-test"}
    procs.append(start_worker(gpu_env, log_path=logs / "gpu.log"))
    key = stack.tenant("routing")
    with httpx.Client(base_url=env["EARSHOT_URL"], auth=(key.api_key, key.api_secret), timeout=60) as client:
        deadline = time.monotonic() + 60
        while True:
            listed = {m["name"]: m for m in client.get("/v1/models").json()["models"]}
            if other_model in listed:
                break
            assert time.monotonic() < deadline, f"the gpu-test pool never announced itself: {listed}"
            time.sleep(0.5)
        assert listed[other_model]["queue"] == "gpu-test"
        assert listed[other_model]["pools"][0]["device"] == "cpu" and listed["tiny.en"]["default"] is True
        data = (audio_dir / "espeak_3.wav").read_bytes()
        rid = client.post("/v1/recordings", files={"file": ("a.wav", data)}, data={"model": other_model}).json()["id"]
        (done,) = wait_all(client, [rid])
        assert done["status"] == "transcribed"
        assert client.get(f"/v1/recordings/{rid}/transcription").json()["model"] == other_model
        rejected = client.post("/v1/recordings", files={"file": ("a.wav", data)}, data={"model": "large-v9"})
        assert rejected.status_code == 400 and "GET /v1/models" in rejected.json()["error"]["message"]
    assert [e["recording_id"] for e in logged(logs / "gpu.log", "transcribed", bool)] == [rid]


@pytest.fixture(scope="module")
def whisper() -> WhisperTranscriber:
    return WhisperTranscriber(models.resolve("tiny.en"), name="tiny.en", cpu_threads=2)


def test_multi_recording_batching_gives_each_recording_its_own_transcript(
    whisper: WhisperTranscriber, audio_dir: Path
) -> None:
    names = ["jfk.flac", "espeak_1.wav", "espeak_2.wav"]
    clips = [audio.decode(audio_dir / n) for n in names]
    options = TranscribeOptions(language="en", beam_size=5)
    together = whisper.transcribe_clips(clips, options)
    for name, clip, result in zip(names, clips, together, strict=True):
        reference = (audio_dir / name.replace(Path(name).suffix, ".txt")).read_text()
        assert wer(reference, result.text) <= 0.25, (name, result.text)
        assert result.words and result.words[0].start < 1.0  # times are the clip's own, not the batch's
        assert result.words[-1].end <= len(clip) / 16000 + 0.5
        alone = whisper.transcribe_clips([clip], options)[0]
        assert alone.text == result.text  # a batch-mate changes nothing


def test_the_batcher_gathers_concurrent_requests_into_one_batch(whisper: WhisperTranscriber, audio_dir: Path) -> None:
    batcher = BatchingTranscriber(whisper, batch_size=8, wait_s=2.0)
    clips = [audio.decode(audio_dir / n) for n in ("espeak_1.wav", "espeak_2.wav", "espeak_3.wav")]
    results: dict[int, str] = {}
    start = threading.Barrier(3)

    def submit(i: int) -> None:
        start.wait()
        results[i] = batcher.transcribe(clips[i], TranscribeOptions(beam_size=5)).text

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert sorted(results) == [0, 1, 2]
    assert batcher.batches == [3]
    for i, name in enumerate(("espeak_1", "espeak_2", "espeak_3")):
        assert wer((audio_dir / f"{name}.txt").read_text(), results[i]) <= 0.25, results[i]
    # A long recording is decoded on its own, with the sequential decoder.
    long = audio.decode(audio_dir / "silero_speech.wav")
    assert len(batcher.transcribe(long, TranscribeOptions(beam_size=1)).text.split()) > 50
    assert batcher.batches == [3]


def test_the_benchmark_runs_in_tiny_mode() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--tiny"], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    table = [line for line in result.stdout.splitlines() if line.startswith("| ")]
    rows = {line.split("|")[1].strip() for line in table[1:]}
    assert {"1", "2", "3", "3b", "4a", "4b", "4c", "5", "6", "7"} <= rows, result.stdout
    assert "p99" in result.stdout and "peak" in result.stdout
