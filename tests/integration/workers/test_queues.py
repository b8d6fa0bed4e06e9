"""Queues: one worker consuming several transcription queues; queue names that look like data."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from earshot.processes import Proc, free_port, start_api, start_worker
from engine.keyspace import BROKER_NAMESPACE, KEYS
from engine.settings import Settings
from tests.conftest import Stack, log_events, wait_all
from tests.supervision import logged

pytestmark = pytest.mark.integration


def wait_ready(log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not (log.exists() and log_events(log, "worker ready")):
        assert time.monotonic() < deadline, f"the worker did not start:\n{log.read_text() if log.exists() else ''}"
        time.sleep(0.1)


def upload(url: str, stack: Stack, audio: Path) -> str:
    key = stack.tenant("queues")
    with httpx.Client(base_url=url, auth=(key.api_key, key.api_secret), timeout=60) as client:
        response = client.post("/v1/recordings", files={"file": (audio.name, audio.read_bytes())})
        assert response.status_code == 201, response.text
        rid: str = response.json()["id"]
        (done,) = wait_all(client, [rid])
        assert done["status"] == "transcribed", done
        return rid


def test_one_worker_takes_jobs_from_every_transcription_queue_it_names(
    stack: Stack, isolated: tuple[Settings, dict[str, str], Path, list[Proc]], audio_dir: Path
) -> None:
    settings, env, logs, procs = isolated
    first = settings.queues  # the isolated API's own queue, like `transcribe`
    gpu = f"{first}-gpu"
    # A second API whose default queue is the other one, as if its model were served on a GPU pool.
    gpu_port = free_port()
    procs.append(start_api({**env, "EARSHOT_QUEUES": gpu}, gpu_port, log_path=logs / "api-gpu.log"))
    procs.append(start_worker({**env, "EARSHOT_QUEUES": f"{first},{gpu}"}, log_path=logs / "worker.log"))
    wait_ready(logs / "worker.log")
    on_first = upload(env["EARSHOT_URL"], stack, audio_dir / "espeak_1.wav")
    on_gpu = upload(f"http://127.0.0.1:{gpu_port}", stack, audio_dir / "espeak_2.wav")
    runs = logged(logs / "worker.log", "transcribed", lambda found: len(found) >= 2)
    assert {str(e["recording_id"]) for e in runs} == {on_first, on_gpu}


def test_queues_named_like_application_keys_work_and_corrupt_nothing(
    stack: Stack, isolated: tuple[Settings, dict[str, str], Path, list[Proc]], audio_dir: Path
) -> None:
    _, env, logs, procs = isolated
    redis = stack.backends.redis
    port = free_port()
    named = {**env, "EARSHOT_QUEUES": "processing,pools"}
    procs.append(start_api(named, port, log_path=logs / "api-named.log"))
    procs.append(start_worker(named, log_path=logs / "worker-named.log"))
    wait_ready(logs / "worker-named.log")
    rid = upload(f"http://127.0.0.1:{port}", stack, audio_dir / "espeak_3.wav")
    assert logged(logs / "worker-named.log", "transcribed", bool)[0]["recording_id"] == rid
    # The application's sorted set and pool hash keep their types; the queues live elsewhere.
    assert redis.type(KEYS.processing) in (b"zset", b"none")
    assert redis.type(KEYS.pools) == b"hash"
    assert redis.exists(f"{BROKER_NAMESPACE}:__heartbeats__")
    assert redis.keys(f"{KEYS.processing}.*") == [] and redis.keys(f"{KEYS.pools}.*") == []
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        key = stack.tenant("queues-models")
        models = client.get("/v1/models", auth=(key.api_key, key.api_secret)).json()["models"]
        assert any(p["queue"] == "processing" for m in models for p in m["pools"]), models
