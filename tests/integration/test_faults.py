"""Faults on a stack of its own: killed workers, Redis and S3 outages, a flushed index.

Every number the suite finds goes into tests.faults.REPORT, printed at the end of the run."""

from __future__ import annotations

import base64
import json
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from benchmarks.data import make_long_files
from earshot.processes import Proc, free_port, start_api, start_redis, start_s3, start_worker
from engine.access.keys import IssuedKey
from engine.backends import Backends
from engine.settings import Settings
from tests.conftest import child_env
from tests.faults import REPORT, upload, wait_status, watched_client

pytestmark = pytest.mark.integration


class FaultStack:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.redis_port, self.s3_port, self.api_port = free_port(), free_port(), free_port()
        self.redis = start_redis(base / "redis", self.redis_port, appendonly=True, log_path=base / "redis.log")
        self.s3 = self._s3()
        self.settings = Settings(
            redis_url=f"redis://127.0.0.1:{self.redis_port}/0",
            s3_endpoint=f"127.0.0.1:{self.s3_port}",
            s3_access_key="faults",
            s3_secret_key="faults-secret-key",
            s3_bucket="faults",
            max_upload_bytes=32 * 1024 * 1024,
            batch_size=1,
            cpu_threads=1,
            beam_size=1,
            rate_limit_per_minute=0,
            job_heartbeat_timeout_s=2,
            queue_maintenance_chance=1_000_000,
            job_stale_s=4,
            data_dir=str(base),
        )
        self.env = child_env(self.settings)
        self.api = start_api(self.env, self.api_port, log_path=base / "api.log")
        self.url = f"http://127.0.0.1:{self.api_port}"
        self.workers: dict[str, Proc] = {}
        self.backends = Backends.connect(self.settings)

    def _s3(self) -> Proc:
        return start_s3(
            self.base / "s3", self.s3_port, access_key="faults", secret_key="faults-secret-key",
            log_path=self.base / "s3.log",
        )  # fmt: skip

    def add_worker(self, name: str, **settings: str) -> Proc:
        log = self.base / f"{name}.log"
        proc = start_worker({**self.env, **{f"EARSHOT_{k.upper()}": v for k, v in settings.items()}}, log_path=log)
        deadline = time.monotonic() + 60
        while '"msg":"worker ready"' not in (log.read_text() if log.exists() else ""):
            assert proc.alive and time.monotonic() < deadline, f"worker {name} did not start:\n{proc.log_tail()}"
            time.sleep(0.1)
        self.workers[name] = proc
        return proc

    def ensure_worker(self) -> None:
        """Tests may run alone (-k): make sure some worker is alive."""
        if not any(p.alive for p in self.workers.values()):
            self.add_worker(f"w{len(self.workers)}")

    def events(self, name: str, message: str) -> list[dict[str, Any]]:
        path = self.base / f"{name}.log"
        return [e for e in map(_json, path.read_text().splitlines()) if e and e.get("msg") == message]

    def runs_of(self, recording_id: str, message: str = "transcribing") -> dict[str, int]:
        return {
            name: sum(1 for e in self.events(name, message) if e.get("recording_id") == recording_id)
            for name in self.workers
        }

    def runs_once_logged(self, recording_id: str, message: str, expected: dict[str, int]) -> dict[str, int]:
        """`runs_of` once the workers' logs have caught up: a worker makes the recording's new status
        visible before it logs the line, so a test that saw the status may read the log too early.
        Returns the counts when they equal `expected`, or the last ones after 10 s."""
        deadline = time.monotonic() + 10
        while (runs := self.runs_of(recording_id, message)) != expected and time.monotonic() < deadline:
            time.sleep(0.1)
        return runs

    def restart_redis(self) -> None:
        self.redis = start_redis(
            self.base / "redis", self.redis_port, appendonly=True, log_path=self.base / "redis.log"
        )

    def restart_s3(self) -> None:
        self.s3 = self._s3()

    def stop(self) -> None:
        for proc in self.workers.values():
            proc.stop()
        self.api.stop()
        self.backends.close()
        self.s3.stop()
        self.redis.stop()


def _json(line: str) -> dict[str, Any] | None:
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


@pytest.fixture(scope="module")
def faults(tmp_path_factory: pytest.TempPathFactory, audio_dir: Path) -> Iterator[FaultStack]:
    stack = FaultStack(tmp_path_factory.mktemp("faults"))
    yield stack
    stack.stop()


@pytest.fixture(scope="module")
def long_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_long_files(tmp_path_factory.mktemp("long"), 1, 3.0)[0]


@pytest.fixture(scope="module")
def key(faults: FaultStack) -> IssuedKey:
    return faults.backends.keys.create("faults")


def client_for(faults: FaultStack, key: IssuedKey) -> httpx.Client:
    return watched_client(faults.url, (key.api_key, key.api_secret), timeout=30)


def test_a_worker_killed_mid_transcription_leaves_its_job_to_another(
    faults: FaultStack, key: IssuedKey, long_file: Path
) -> None:
    faults.add_worker("a")
    with client_for(faults, key) as client:
        rid = upload(client, long_file).json()["id"]
        deadline = time.monotonic() + 60
        # Inside the model: the first window is done (progress), the file is not.
        while not (client.get(f"/v1/recordings/{rid}").json().get("progress") or 0) > 0:
            assert time.monotonic() < deadline, "worker a never reported progress"
            time.sleep(0.05)
        faults.workers["a"].signal(signal.SIGKILL)
        killed_at = time.monotonic()
        REPORT.faults_injected.append("SIGKILL worker mid-job")
        faults.add_worker("b")
        assert wait_status(client, [rid]) == {rid: "transcribed"}
        REPORT.recovery_seconds["a worker SIGKILL"] = time.monotonic() - killed_at
    assert faults.runs_once_logged(rid, "transcribed", {"a": 0, "b": 1}) == {"a": 0, "b": 1}
    transcripts = list(faults.backends.storage.list_keys(f"{key.tenant_id}/{rid}.transcript"))
    assert len(transcripts) == 1  # the killed run left nothing that counts, and nothing twice


def test_a_worker_killed_mid_batch_loses_no_recording(faults: FaultStack, key: IssuedKey, audio_dir: Path) -> None:
    for proc in faults.workers.values():
        proc.stop()
    faults.add_worker("batcher", batch_size="3")
    clips = [audio_dir / n for n in ("silero_speech.wav", "jfk.flac", "stereo_diarization.wav")]
    with client_for(faults, key) as client:
        ids = [upload(client, clip).json()["id"] for clip in clips]
        deadline = time.monotonic() + 60
        while not all(faults.runs_of(rid).get("batcher") for rid in ids):  # all three in flight
            assert time.monotonic() < deadline, "the batching worker never took all three"
            time.sleep(0.05)
        faults.workers["batcher"].signal(signal.SIGKILL)
        REPORT.faults_injected.append("SIGKILL worker mid-batch")
        faults.add_worker("after-batch")
        statuses = wait_status(client, ids)
    REPORT.recordings_lost += sum(1 for s in statuses.values() if s != "transcribed")
    assert set(statuses.values()) == {"transcribed"}
    for rid in ids:
        expected = {**dict.fromkeys(faults.workers, 0), "after-batch": 1}
        assert faults.runs_once_logged(rid, "transcribed", expected) == expected
        assert len(list(faults.backends.storage.list_keys(f"{key.tenant_id}/{rid}.transcript"))) == 1


def test_long_jobs_are_not_taken_again_while_their_worker_lives(
    faults: FaultStack, key: IssuedKey, long_file: Path
) -> None:
    # Each job outlasts the 2 s heartbeat timeout many times over, and worker b's prefetch fills
    # up: before the heartbeat thread, worker c would have run them a second time (Dramatiq #692).
    faults.add_worker("c")
    with client_for(faults, key) as client:
        ids = [upload(client, long_file).json()["id"] for _ in range(3)]
        assert set(wait_status(client, ids).values()) == {"transcribed"}
    for rid in ids:
        runs = faults.runs_of(rid)
        assert sum(runs.values()) == 1, f"{rid} ran {runs}"


def test_redis_stopped_and_restarted_during_traffic_loses_no_recording(
    faults: FaultStack, key: IssuedKey, audio_dir: Path
) -> None:
    faults.ensure_worker()
    clips = [audio_dir / n for n in ("espeak_1.wav", "espeak_2.wav", "espeak_3.wav", "stereo_diarization.wav")] * 2
    accepted: list[str] = []
    refused = 0
    with client_for(faults, key) as client:
        before = client.get("/v1/recordings").json()["total"]

        # The outage is driven by what the uploads see, not by the clock: Redis stops once two
        # uploads are in, and comes back after three uploads were refused with 503.
        for number, clip in enumerate(clips):
            if number == 2:
                faults.redis.stop()
                REPORT.faults_injected.append("redis stopped during uploads")
            for _ in range(60):
                started = time.monotonic()
                response = upload(client, clip)
                if response.status_code == 201:
                    accepted.append(response.json()["id"])
                    break
                assert response.status_code == 503, response.text
                assert time.monotonic() - started < 10  # an answer, not a hang
                refused += 1
                if refused == 3:
                    faults.restart_redis()
        assert refused >= 3
        assert len(accepted) == len(clips)
        statuses = wait_status(client, accepted)
        listed = client.get("/v1/recordings", params={"limit": 100}).json()
    missing = [rid for rid in accepted if rid not in {r["id"] for r in listed["recordings"]}]
    REPORT.recordings_lost += len(missing) + sum(1 for s in statuses.values() if s != "transcribed")
    assert missing == [] and set(statuses.values()) == {"transcribed"}
    assert listed["total"] == before + len(clips)
    assert refused >= 1, "the outage did not overlap the uploads"


def test_s3_outage_answers_503_quickly_and_queued_jobs_finish_after_it(
    faults: FaultStack, key: IssuedKey, audio_dir: Path
) -> None:
    faults.ensure_worker()
    with client_for(faults, key) as client:
        for proc in faults.workers.values():
            proc.signal(signal.SIGSTOP)
        try:
            queued = [upload(client, audio_dir / "espeak_2.wav").json()["id"] for _ in range(3)]
            faults.s3.stop()
            REPORT.faults_injected.append("S3 server stopped with jobs queued")
            started = time.monotonic()
            response = upload(client, audio_dir / "espeak_1.wav")
            took = time.monotonic() - started
            assert response.status_code == 503 and response.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
            assert took < 5, f"503 took {took:.1f} s"
            assert response.headers["retry-after"]
        finally:
            for proc in faults.workers.values():
                proc.signal(signal.SIGCONT)
        # The workers meet the outage: their jobs must wait and retry in place, not fail.
        deadline = time.monotonic() + 60
        while not any(
            e.get("recording_id") in queued
            for name in faults.workers
            for e in faults.events(name, "dependency unavailable; retrying")
        ):
            assert time.monotonic() < deadline, "no worker met the outage"
            time.sleep(0.2)
        assert {client.get(f"/v1/recordings/{r}").json()["status"] for r in queued} == {"processing"}
        faults.restart_s3()
        restarted = time.monotonic()
        assert set(wait_status(client, queued).values()) == {"transcribed"}
        REPORT.recovery_seconds["S3 restart (queued jobs done)"] = time.monotonic() - restarted


def test_a_flushed_redis_is_rebuilt_from_object_storage(faults: FaultStack, key: IssuedKey, audio_dir: Path) -> None:
    faults.ensure_worker()
    with client_for(faults, key) as client:
        rids = [upload(client, audio_dir / n).json()["id"] for n in ("espeak_3.wav", "jfk.flac")]
        bad = client.post("/v1/recordings", files={"file": ("x.wav", b"not audio" * 50)}).json()["id"]
        wait_status(client, [*rids, bad])
        hook = client.post("/v1/webhooks", json={"url": "https://hooks.example.com/x"}).json()
        session = "ATVId_reindex"
        client.post("/api/v1/voice/callback", data={"sessionId": session, "isActive": "1"})

        def snapshot() -> dict[str, Any]:
            listing = client.get("/v1/recordings", params={"limit": 100}).json()
            return {
                "list": listing,
                "each": {r["id"]: client.get(r["uri"]).json() for r in listing["recordings"]},
                "texts": {
                    r["id"]: client.get(f"{r['uri']}/transcription").json()
                    for r in listing["recordings"]
                    if r["status"] == "transcribed"
                },
                "webhooks": client.get("/v1/webhooks").json(),
                "voice": client.get(f"/api/v1/voice/recordings/{session}").json()["status"],
            }

        before = snapshot()
        redis.Redis(port=faults.redis_port).flushall()
        REPORT.faults_injected.append("redis FLUSHALL")
        assert client.get("/v1/recordings").status_code == 401  # the key itself was gone
        result = subprocess.run(
            [sys.executable, "-m", "earshot", "reindex"], env=faults.env, capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0, result.stderr
        assert "reindexed" in result.stdout
        after = snapshot()
    assert after == before
    assert hook["id"] in {h["id"] for h in after["webhooks"]["webhooks"]}
    REPORT.recordings_lost += len(set(before["each"]) - set(after["each"]))


def test_rate_limits_answer_429_with_retry_after(stack: Any, tmp_path: Path) -> None:
    import msgspec

    settings = msgspec.structs.replace(stack.settings, rate_limit_per_minute=100)
    port = free_port()
    api = start_api(child_env(settings), port, log_path=tmp_path / "api.log")
    try:
        hot, calm = stack.tenant("rate-hot"), stack.tenant("rate-calm")
        statuses: dict[int, int] = {}
        retry_after = set()
        with watched_client(f"http://127.0.0.1:{port}", (hot.api_key, hot.api_secret)) as client:
            for _ in range(1100):
                response = client.get("/v1/recordings", params={"limit": 1})
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                if response.status_code == 429:
                    retry_after.add(int(response.headers["retry-after"]))
                    assert response.json()["error"]["code"] == "RATE_LIMITED"
        REPORT.bad_inputs.append("1,100 requests against a 100/minute key")
        assert statuses.get(429, 0) >= 1000 - 100 and statuses.get(200, 0) <= 200
        assert set(statuses) <= {200, 429}
        assert retry_after and all(1 <= r <= 60 for r in retry_after)
        with watched_client(f"http://127.0.0.1:{port}", (calm.api_key, calm.api_secret)) as other:
            assert other.get("/v1/recordings").status_code == 200  # limits are per key
    finally:
        api.stop()


def test_the_openapi_document_survives_a_schemathesis_run(stack: Any, tmp_path: Path) -> None:
    key = stack.tenant("fuzz")
    token = base64.b64encode(f"{key.api_key}:{key.api_secret}".encode()).decode()
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "st"), "run", f"{stack.url}/schema/openapi.json",
            "--header", f"Authorization: Basic {token}",
            "--checks", "not_a_server_error,response_schema_conformance,status_code_conformance",
            "--max-examples", "8", "--seed", "1", "--no-color",
        ],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,  # its cache stays out of the repo
    )  # fmt: skip
    REPORT.bad_inputs.append("schemathesis run (8 examples per operation)")
    assert result.returncode == 0, result.stdout[-4000:]
    assert "generated" in result.stdout


def test_a_recording_left_processing_without_a_job_is_swept_back_into_the_queue(
    faults: FaultStack, key: IssuedKey, audio_dir: Path
) -> None:
    # As if Redis had failed between the index write and the enqueue: indexed, stored, no job.
    from engine.clock import utc_now
    from engine.recordings.model import Features, Recording, audio_key

    faults.ensure_worker()
    rid = str(uuid.uuid4())
    data = (audio_dir / "espeak_3.wav").read_bytes()
    recording = Recording(
        id=rid, tenant_id=key.tenant_id, s3_key=audio_key(key.tenant_id, rid, "wav"), s3_bucket="faults",
        file_size_bytes=len(data), audio_format="wav", features=Features(), created_at=utc_now(), updated_at=utc_now(),
    )  # fmt: skip
    faults.backends.storage.put_bytes(recording.s3_key, data, "audio/wav")
    faults.backends.index.add(recording)
    REPORT.faults_injected.append("job lost between index and queue")
    with client_for(faults, key) as client:
        assert wait_status(client, [rid], timeout=60) == {rid: "transcribed"}


def test_a_call_whose_end_never_comes_fails_after_call_max_s_and_a_live_call_keeps_recording(
    faults: FaultStack, key: IssuedKey
) -> None:
    # Two calls began: one 7 h ago (past EARSHOT_CALL_MAX_S, 6 h) whose end-of-call callback was lost,
    # one just now. The first ends failed with a reason and an event; the second is left to its call.
    from datetime import timedelta

    import msgspec

    from engine.clock import utc_now

    faults.ensure_worker()
    with client_for(faults, key) as client:
        hook = client.post("/v1/webhooks", json={"url": "https://hooks.example.com/calls"}).json()["id"]
        for session in ("ATVId_lost_end", "ATVId_live"):
            assert client.post("/api/v1/voice/callback", data={"sessionId": session, "isActive": "1"}).is_success
        lost = faults.backends.index.get_alias(key.tenant_id, "ATVId_lost_end")
        assert lost is not None
        began = utc_now() - timedelta(hours=7)
        old = faults.backends.index.get(lost)
        assert old is not None
        assert faults.backends.index.update(msgspec.structs.replace(old, created_at=began, updated_at=began))
        REPORT.faults_injected.append("end-of-call callback never sent")
        assert wait_status(client, [lost], timeout=60) == {lost: "failed"}
        failed = client.get(f"/v1/recordings/{lost}").json()
        assert failed["error"]["code"] == "SOURCE_FETCH_FAILED"
        assert "6 h" in failed["error"]["message"] and "end-of-call" in failed["error"]["message"]
        assert client.get("/api/v1/voice/recordings/ATVId_lost_end").json()["status"] == "failed"
        assert client.get("/api/v1/voice/recordings/ATVId_live").json()["status"] == "recording"
        # ... and subscribers are told (the endpoint does not resolve: the attempt is recorded, failed)
        deadline, types = time.monotonic() + 30, set()
        while "recording.failed" not in types and time.monotonic() < deadline:
            time.sleep(0.5)
            types = {d["event_type"] for d in client.get(f"/v1/webhooks/{hook}/deliveries").json()["deliveries"]}
        client.delete(f"/v1/webhooks/{hook}")
    assert types == {"recording.failed"}


def test_a_delete_during_an_s3_outage_changes_nothing_and_works_once_s3_is_back(
    faults: FaultStack, key: IssuedKey, audio_dir: Path
) -> None:
    faults.ensure_worker()
    with client_for(faults, key) as client:
        rid = upload(client, audio_dir / "espeak_1.wav").json()["id"]
        wait_status(client, [rid])
        prefix = f"{key.tenant_id}/{rid}."
        assert len(list(faults.backends.storage.list_keys(prefix))) == 3  # audio, metadata, transcript
        faults.s3.stop()
        REPORT.faults_injected.append("S3 stopped before a DELETE")
        try:
            # Storage first (the metadata copy): while it is down the DELETE changes nothing.
            assert client.delete(f"/v1/recordings/{rid}").status_code == 503
            assert client.get(f"/v1/recordings/{rid}").status_code == 200
        finally:
            faults.restart_s3()
        assert client.delete(f"/v1/recordings/{rid}").status_code == 204
    assert list(faults.backends.storage.list_keys(prefix)) == []


def test_a_json_named_upload_is_not_confused_with_its_metadata(
    faults: FaultStack, key: IssuedKey, audio_dir: Path
) -> None:
    faults.ensure_worker()
    with client_for(faults, key) as client:
        data = (audio_dir / "espeak_2.wav").read_bytes()
        rid = client.post("/v1/recordings", files={"file": ("voice-note.json", data)}).json()["id"]
        assert wait_status(client, [rid]) == {rid: "transcribed"}
        assert client.get(f"/v1/recordings/{rid}").json()["s3_key"].endswith(f"{rid}.json")


def test_the_openai_route_with_no_worker_answers_503_after_a_short_grace_keeping_nothing_then_works_once_one_starts(
    faults: FaultStack, key: IssuedKey, audio_dir: Path
) -> None:
    # The OpenAI SDK waits for its answer; with no worker it would have waited out the whole 300 s
    # and left a recording queued behind the 504.
    import openai

    from engine.jobs.routing import DIARIZATION, PoolRegistry

    for proc in faults.workers.values():
        proc.stop()
    registry, deadline = PoolRegistry(faults.backends.redis), time.monotonic() + 45
    while any(p.model != DIARIZATION for p in registry.live()):  # a SIGKILLed worker's entry expires
        assert time.monotonic() < deadline
        time.sleep(0.5)
    time.sleep(2.5)  # the API reads the pools at most every 2 s
    REPORT.faults_injected.append("no worker behind the OpenAI route")
    listing, jfk = {"limit": 100}, (audio_dir / "jfk.flac").read_bytes()
    with (
        client_for(faults, key) as client,
        openai.OpenAI(api_key=key.bearer, base_url=f"{faults.url}/v1", max_retries=0, timeout=60) as oai,
    ):
        before = client.get("/v1/recordings", params=listing).json()["recordings"]
        with pytest.raises(openai.InternalServerError) as caught:
            oai.audio.transcriptions.create(model="whisper-1", file=("jfk.flac", jfk))
        assert caught.value.status_code == 503
        error = caught.value.response.json()["error"]
        assert error["code"] == "service_unavailable" and "no transcription worker" in error["message"]
        assert "x-should-retry" not in caught.value.response.headers  # nothing was stored: safe to send again
        assert client.get("/v1/recordings", params=listing).json()["recordings"] == before
        faults.ensure_worker()
        time.sleep(2.5)
        text = oai.audio.transcriptions.create(model="whisper-1", file=("jfk.flac", jfk)).text
    assert "country" in text.lower()


def test_an_openai_client_with_a_short_timeout_gets_a_504_in_time_and_its_audio_is_transcribed_once(
    faults: FaultStack, key: IssuedKey, long_file: Path
) -> None:
    # The SDK retries a request that timed out, uploading the audio again (another transcription);
    # the route answers 504 with x-should-retry: false before the client's read timeout instead.
    import openai

    faults.ensure_worker()
    time.sleep(2.5)  # the API reads the pools at most every 2 s
    listing = {"limit": 100}
    with (
        client_for(faults, key) as client,
        openai.OpenAI(api_key=key.bearer, base_url=f"{faults.url}/v1", max_retries=2, timeout=8) as oai,
    ):
        before = {r["id"] for r in client.get("/v1/recordings", params=listing).json()["recordings"]}
        with pytest.raises(openai.InternalServerError) as caught:
            oai.audio.transcriptions.create(model="whisper-1", file=("long.wav", long_file.read_bytes()))
        assert caught.value.status_code == 504 and caught.value.response.headers["x-should-retry"] == "false"
        new = {r["id"] for r in client.get("/v1/recordings", params=listing).json()["recordings"]} - before
        assert len(new) == 1 and new.pop() in caught.value.response.json()["error"]["message"]
