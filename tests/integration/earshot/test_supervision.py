"""`earshot up` keeps the node up: a dead worker process, Redis, S3 server or API comes back, the API
answers throughout, and only a signal from the operator stops the stack. Its data is private
(0700/0600), its Redis wants a password, and no secret reaches a log.

One stack for the module (python -m earshot up, as a newcomer runs it), its output in a file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import IO

import httpx
import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from benchmarks.data import make_long_files
from earshot.processes import children_of, free_port
from earshot.stack import read_env_file
from tests.faults import REPORT, upload, wait_status, watched_client
from tests.supervision import (
    HealthWatch,
    alive,
    events,
    kill9,
    logged,
    wait_for,
    wait_progress,
    wait_ready,
)

pytestmark = pytest.mark.integration


@dataclass
class Up:
    proc: subprocess.Popen[bytes]
    out: Path
    _out: IO[bytes]
    data: Path
    url: str
    env: dict[str, str]

    @property
    def auth(self) -> tuple[str, str]:
        return self.env["EARSHOT_API_KEY"], self.env["EARSHOT_API_SECRET"]

    def child(self, *needles: str) -> int:
        """The stack's direct child whose command line holds every needle."""
        for pid in children_of(self.proc.pid):
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            if all(n in cmdline for n in needles):
                return pid
        raise AssertionError(f"no child of earshot up runs {needles}")

    def said(self, text: str) -> bool:
        return text in self.out.read_text(errors="replace")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(60)
        self._out.close()
        return code


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory, audio_dir: Path) -> Iterator[Up]:
    base = tmp_path_factory.mktemp("up")
    data, port = base / "data", free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("EARSHOT_")}
    env.update(
        EARSHOT_BEAM_SIZE="1",
        EARSHOT_BATCH_SIZE="1",
        EARSHOT_JOB_HEARTBEAT_TIMEOUT_S="3",  # a killed worker's job goes to another in seconds
        EARSHOT_QUEUE_MAINTENANCE_CHANCE="1000000",
        EARSHOT_RATE_LIMIT_PER_MINUTE="0",
    )
    out = base / "up.out"  # what an operator gets with `earshot up > file`: a log
    fh = out.open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "earshot", "up", "--data-dir", str(data), "--port", str(port), "--processes", "2"],
        env=env,
        stdout=fh,
        stderr=subprocess.STDOUT,
    )
    stack = Up(proc, out, fh, data, f"http://127.0.0.1:{port}", {})
    try:
        wait_for("the banner", lambda: stack.said("Ctrl-C stops everything") or proc.poll() is not None, 90, 0.2)
        assert proc.poll() is None, out.read_text()
        wait_ready(out, 2)
        stack.env = read_env_file(data / "stack.env")
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="module")
def long_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_long_files(tmp_path_factory.mktemp("long"), 1, 1.5)[0]


def test_the_data_is_private_and_redis_wants_its_password(up: Up) -> None:
    assert up.data.stat().st_mode & 0o777 == 0o700
    for path in up.data.rglob("*"):
        if path.is_symlink():
            continue
        mode = path.stat().st_mode & 0o777
        assert mode & 0o077 == 0, f"{path} is {oct(mode)}: others may read it"
    for name in ("stack.env", "redis/password", "s3/credentials.json", "logs/redis.log", "logs/s3.log"):
        assert (up.data / name).stat().st_mode & 0o777 == 0o600, name

    url = up.env["EARSHOT_REDIS_URL"]
    password = (up.data / "redis" / "password").read_text().strip()
    assert url.startswith(f"redis://:{password}@127.0.0.1:") and len(password) >= 32
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    once = Retry(NoBackoff(), 0)  # refused is refused: no retries
    with redis.Redis(port=port, socket_timeout=2, retry=once) as anonymous, pytest.raises(redis.AuthenticationError):
        anonymous.get("earshot:token-signing-key")
    wrong = redis.Redis(port=port, password="wrong-password", socket_timeout=2, retry=once)
    with wrong, pytest.raises(redis.AuthenticationError):
        wrong.ping()
    with redis.Redis.from_url(url, socket_timeout=2) as ours:
        assert ours.ping()
    assert password not in Path(f"/proc/{up.child('redis-server')}/cmdline").read_bytes().decode(errors="replace")


def test_a_killed_worker_process_is_replaced_while_the_api_answers(up: Up, long_file: Path) -> None:
    node = up.child("earshot", "worker")
    first = children_of(node)
    assert len(first) == 2
    with watched_client(up.url, up.auth) as client, HealthWatch(up.url) as health:
        rid = upload(client, long_file).json()["id"]
        wait_progress(client, rid)
        [victim] = [int(e["pid"]) for e in events(up.out, "transcribing") if e.get("recording_id") == rid]
        killed_at = kill9(victim)
        REPORT.faults_injected.append("SIGKILL a worker process mid-job under earshot up")
        replacement = wait_for("a replacement", lambda: [p for p in children_of(node) if p not in first], 30)
        assert len(replacement) == 1
        assert wait_status(client, [rid]) == {rid: "transcribed"}
        REPORT.recovery_seconds["a worker process SIGKILL under earshot up (its job done)"] = (
            time.monotonic() - killed_at
        )
        REPORT.restarts.append("worker process (earshot up)")
    assert health.polls > 20 and health.failures == []
    mine = lambda found: [e for e in found if e.get("recording_id") == rid]  # noqa: E731
    runs = mine(logged(up.out, "transcribed", mine))
    assert len(runs) == 1 and runs[0]["pid"] != victim
    assert alive(node) and up.proc.poll() is None


def test_a_killed_redis_comes_back_and_no_acknowledged_upload_is_lost(up: Up, audio_dir: Path) -> None:
    clips = [audio_dir / n for n in ("espeak_1.wav", "espeak_2.wav", "espeak_3.wav")]
    url = up.env["EARSHOT_REDIS_URL"]
    with watched_client(up.url, up.auth) as client, HealthWatch(up.url) as health:
        before = client.get("/v1/recordings").json()["total"]
        accepted = [upload(client, clip).json()["id"] for clip in clips]  # 201: acknowledged
        old = up.child("redis-server")
        killed_at = kill9(old)
        REPORT.faults_injected.append("SIGKILL redis-server under earshot up")
        refused = 0
        while len(accepted) < 2 * len(clips):
            response = upload(client, clips[len(accepted) % len(clips)])
            if response.status_code == 503:  # during the outage: an answer, not a hang or a 500
                refused += 1
                time.sleep(0.1)
                continue
            assert response.status_code == 201, response.text
            accepted.append(response.json()["id"])
            assert time.monotonic() - killed_at < 30, "redis did not come back"
        with redis.Redis.from_url(url, socket_timeout=2) as r:
            assert int(r.info("server")["process_id"]) != old
        REPORT.recovery_seconds["redis-server SIGKILL under earshot up (uploads accepted again)"] = (
            time.monotonic() - killed_at
        )
        REPORT.restarts.append("redis-server (earshot up)")
        statuses = wait_status(client, accepted)
        listed = {r["id"] for r in client.get("/v1/recordings", params={"limit": 100}).json()["recordings"]}
        total = client.get("/v1/recordings").json()["total"]
    lost = [rid for rid in accepted if rid not in listed or statuses[rid] != "transcribed"]
    REPORT.recordings_lost += len(lost)
    assert lost == [] and total == before + len(accepted)
    assert health.failures == []  # the API process itself never stopped answering
    assert up.said("redis-server stopped unexpectedly (killed by SIGKILL); restarting it in 1 s")
    print(f"uploads refused with 503 during the redis outage: {refused}")


def test_a_killed_api_or_s3_server_comes_back(up: Up, audio_dir: Path) -> None:
    for name, needles in (("s3-server", ("juicefs", "gateway")), ("api", ("earshot", "api"))):
        old = up.child(*needles)
        killed_at = kill9(old)
        REPORT.faults_injected.append(f"SIGKILL {name} under earshot up")
        wait_for(f"{name} back", partial(_replaced, up, needles, old), 60, 0.1)
        wait_for("/ready", lambda: _ready(up), 60, 0.1)
        REPORT.recovery_seconds[f"{name} SIGKILL under earshot up"] = time.monotonic() - killed_at
        REPORT.restarts.append(f"{name} (earshot up)")
        assert up.said(f"{name} stopped unexpectedly (killed by SIGKILL)")
    with watched_client(up.url, up.auth) as client:
        rid = upload(client, audio_dir / "espeak_2.wav").json()["id"]
        assert wait_status(client, [rid]) == {rid: "transcribed"}
        assert client.get(f"/v1/recordings/{rid}/audio", follow_redirects=True).status_code == 200


def _ready(up: Up) -> bool:
    try:
        return httpx.get(f"{up.url}/ready", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def _replaced(up: Up, needles: tuple[str, ...], old: int) -> bool:
    try:
        return up.child(*needles) != old
    except AssertionError:
        return False


def test_only_a_signal_stops_the_stack_and_no_secret_is_in_a_log(up: Up) -> None:
    assert up.proc.poll() is None  # every fault above left it running
    secrets = {
        "redis password": (up.data / "redis" / "password").read_text().strip(),
        "S3 secret key": json.loads((up.data / "s3" / "credentials.json").read_text())["secret_key"],
        "dev API secret": up.env["EARSHOT_API_SECRET"],
    }
    assert up.stop() == 0
    logs = [up.out, *(up.data / "logs").iterdir(), *(up.data / "s3").glob("*.log")]
    assert len(logs) >= 3
    for path in logs:
        text = path.read_text(errors="replace")
        for what, secret in secrets.items():
            assert secret not in text, f"the {what} is in {path}"
    assert up.said(f"dev API secret in {up.data / 'stack.env'}")
