"""A diarization that failed for good is run again on request, and only that stage runs.

The failure is an operator's mistake made real: the diarization node starts with an audio limit
(`EARSHOT_MAX_AUDIO_SECONDS=5`) below the recording's length, so its stage fails for good while the
transcription node, with the default limit, has already stored the words. The recording finishes
`transcribed` with `diarization.status = failed`. With no diarization worker alive a retry answers
400; once the node is restarted with the right setting, `POST .../retry` brings the recording back
to `processing`, the diarization node labels the stored transcript, and the words are not
transcribed again.

Its own module: the diarization queue is one per Redis, so no other diarization node may be up."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import msgspec
import pytest

from earshot.processes import Proc, free_port, start_api, start_worker
from engine.diarization import diarization_available
from engine.jobs.routing import DIARIZATION, PoolRegistry
from tests.conftest import Stack, child_env, require
from tests.faults import watched_client
from tests.supervision import events, wait_for, wait_ready


@dataclass
class Node:
    client: httpx.Client
    env: dict[str, str]
    logs: Path
    registry: PoolRegistry
    transcription_log: Path


@pytest.fixture
def node(stack: Stack, tmp_path: Path) -> Iterator[Node]:
    """An API on its own transcription queue and a worker for it; diarization nodes are the test's."""
    require("the diarization extra (scripts/setup --diarization)", diarization_available())
    settings = msgspec.structs.replace(stack.settings, queues=f"q{time.monotonic_ns()}", batch_size=1)
    env = child_env(settings)
    port = free_port()
    procs: list[Proc] = [start_api(env, port, log_path=tmp_path / "api.log")]
    try:
        procs.append(start_worker(env, log_path=tmp_path / "transcription.log"))
        key = stack.tenant("diarization-retry")
        with watched_client(f"http://127.0.0.1:{port}", (key.api_key, key.api_secret)) as client:
            yield Node(client, env, tmp_path, PoolRegistry(stack.backends.redis), tmp_path / "transcription.log")
    finally:
        for proc in reversed(procs):
            proc.stop()


def _start_diarization(node: Node, name: str, **overrides: str) -> Proc:
    log = node.logs / f"{name}.log"
    proc = start_worker({**node.env, "EARSHOT_QUEUES": "diarization", **overrides}, log_path=log)
    try:
        wait_ready(log, 1, timeout=120)
        wait_for("a diarization pool", lambda: any(p.model == DIARIZATION for p in node.registry.live()), timeout=30)
    except BaseException:
        proc.stop()
        raise
    return proc


def _post_when_seen(client: httpx.Client, path: str, expect: int, **kwargs: object) -> httpx.Response:
    """The API caches live pools for a moment: ask again until it has seen the change."""
    deadline = time.monotonic() + 15
    while True:
        response = client.post(path, **kwargs)  # type: ignore[arg-type]
        if response.status_code == expect or time.monotonic() > deadline:
            assert response.status_code == expect, response.text
            return response
        time.sleep(0.5)


def test_a_failed_diarization_is_retried_alone_and_completes(node: Node, stack: Stack, audio_dir: Path) -> None:
    client = node.client
    sample = audio_dir / "diarization" / "sample.wav"
    misconfigured = _start_diarization(node, "misconfigured", EARSHOT_MAX_AUDIO_SECONDS="5")
    try:
        with sample.open("rb") as fh:
            created = _post_when_seen(
                client, "/v1/recordings", 201, files={"file": (sample.name, fh.read())}, data={"diarize": "true"}
            ).json()
        rid = created["id"]
        done = stack.wait_done(client, rid, timeout=240)
        assert done["status"] == "transcribed", done
        first = client.get(f"/v1/recordings/{rid}/transcription").json()
        assert first["diarization"]["status"] == "failed"
        assert first["diarization"]["error"]["code"] == "AUDIO_TOO_LONG"
        assert len(first["words"]) > 20 and all(w.get("speaker") is None for w in first["words"])
    finally:
        misconfigured.stop()

    # No diarization worker now: a retry is refused with the reason, and nothing changes.
    wait_for("the pool withdrawn", lambda: not any(p.model == DIARIZATION for p in node.registry.live()), timeout=30)
    refused = _post_when_seen(client, f"/v1/recordings/{rid}/retry", 400)
    assert refused.json()["error"]["code"] == "INVALID_PARAMETER"
    assert "diarization worker" in refused.json()["error"]["message"]
    assert client.get(f"/v1/recordings/{rid}").json()["status"] == "transcribed"

    fixed = _start_diarization(node, "fixed")
    try:
        response = _post_when_seen(client, f"/v1/recordings/{rid}/retry", 202)
        assert response.json()["status"] == "processing"
        done = stack.wait_done(client, rid, timeout=240)
    finally:
        fixed.stop()
    assert done["status"] == "transcribed" and done["error"] is None, done
    doc = client.get(f"/v1/recordings/{rid}/transcription").json()
    assert doc["diarization"] == {"status": "completed", "speakers": 2, "error": None}
    assert {w["speaker"] for w in doc["words"]} == {"Speaker 1", "Speaker 2"}
    # The same words, labelled: the transcript was not made again.
    assert [w["word"] for w in doc["words"]] == [w["word"] for w in first["words"]]
    assert len([e for e in events(node.transcription_log, "transcribing") if e.get("recording_id") == rid]) == 1
    again = client.post(f"/v1/recordings/{rid}/retry")
    assert (again.status_code, again.json()["error"]["code"]) == (409, "NOTHING_TO_RETRY")
