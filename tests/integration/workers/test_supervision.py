"""A worker node restarts a dead worker process while its other processes keep taking jobs.

`earshot worker --processes N` is a parent that supervises N `python -m workers` children; a child
killed with SIGKILL (what the OOM killer sends) comes back after a crash-loop backoff, and its job
goes to another process after the heartbeat timeout (3 s in the tests) and runs to the end once."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from benchmarks.data import make_long_files
from earshot.processes import Proc, free_port, start_api, start_worker
from engine.access.keys import IssuedKey
from engine.settings import Settings
from tests.conftest import Stack, child_env
from tests.faults import REPORT, upload, wait_status, watched_client
from tests.supervision import alive, events, kill9, logged, wait_progress, wait_ready

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def long_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_long_files(tmp_path_factory.mktemp("long"), 1, 1.5)[0]


@pytest.fixture
def node_env(stack: Stack, tmp_path: Path) -> Iterator[tuple[dict[str, str], list[Proc]]]:
    """An API on a queue of its own (so only this test's worker node takes its jobs)."""
    queue = f"sup{time.monotonic_ns()}"
    settings: Settings = msgspec.structs.replace(stack.settings, queues=queue, batch_size=1)
    env = child_env(settings)
    port = free_port()
    procs = [start_api(env, port, log_path=tmp_path / "api.log")]
    env["EARSHOT_URL"] = f"http://127.0.0.1:{port}"
    yield env, procs
    for proc in reversed(procs):
        proc.stop()


@pytest.fixture
def key(stack: Stack) -> IssuedKey:
    return stack.tenant(f"sup-{time.monotonic_ns()}")


def transcribed_by(log: Path, rid: str) -> list[int]:
    runs = logged(log, "transcribed", lambda found: any(e.get("recording_id") == rid for e in found))
    return [int(e["pid"]) for e in runs if e.get("recording_id") == rid]


def test_a_killed_worker_process_is_replaced_and_its_job_runs_once(
    node_env: tuple[dict[str, str], list[Proc]],
    key: IssuedKey,
    stack: Stack,
    long_file: Path,
    audio_dir: Path,
    tmp_path: Path,
) -> None:
    env, procs = node_env
    log = tmp_path / "node.log"
    node = start_worker(env, processes=2, log_path=log)
    procs.append(node)
    first = wait_ready(log, 2)
    assert sorted(first) == node.children()  # the parent supervises, the children work

    with watched_client(env["EARSHOT_URL"], (key.api_key, key.api_secret)) as client:
        rid = upload(client, long_file).json()["id"]
        wait_progress(client, rid)
        [victim] = [int(e["pid"]) for e in events(log, "transcribing") if e.get("recording_id") == rid]
        [survivor] = [pid for pid in first if pid != victim]
        killed_at = kill9(victim)
        REPORT.faults_injected.append("SIGKILL one worker process of a node mid-job")

        # The other process keeps taking jobs meanwhile.
        short = upload(client, audio_dir / "espeak_1.wav").json()["id"]
        assert wait_status(client, [short]) == {short: "transcribed"}
        assert transcribed_by(log, short) == [survivor]

        replacement = wait_ready(log, 3)[2]
        REPORT.recovery_seconds["a worker process SIGKILL (replacement ready)"] = time.monotonic() - killed_at
        REPORT.restarts.append("worker process")
        assert wait_status(client, [rid]) == {rid: "transcribed"}
        REPORT.recovery_seconds["a worker process SIGKILL (its job done)"] = time.monotonic() - killed_at

    assert replacement not in first and alive(survivor) and node.alive
    assert sorted([survivor, replacement]) == node.children()
    [died] = events(log, "worker process died; restarting it")
    assert died["child_pid"] == victim and died["exit"] == "killed by SIGKILL" and died["restart_in_s"] == 1.0
    assert len(transcribed_by(log, rid)) == 1 and victim not in transcribed_by(log, rid)
    assert len(list(stack.backends.storage.list_keys(f"{key.tenant_id}/{rid}.transcript"))) == 1


def test_a_lone_worker_process_is_supervised_too(
    node_env: tuple[dict[str, str], list[Proc]], key: IssuedKey, audio_dir: Path, tmp_path: Path
) -> None:
    env, procs = node_env
    log = tmp_path / "node.log"
    node = start_worker(env, processes=1, log_path=log)
    procs.append(node)
    [child] = wait_ready(log, 1)
    assert node.children() == [child]
    killed_at = kill9(child)
    REPORT.faults_injected.append("SIGKILL the only worker process of a node")
    replacement = wait_ready(log, 2)[1]
    REPORT.recovery_seconds["a lone worker process SIGKILL"] = time.monotonic() - killed_at
    REPORT.restarts.append("lone worker process")
    with watched_client(env["EARSHOT_URL"], (key.api_key, key.api_secret)) as client:
        rid = upload(client, audio_dir / "espeak_1.wav").json()["id"]
        assert wait_status(client, [rid]) == {rid: "transcribed"}
    assert transcribed_by(log, rid) == [replacement] and node.children() == [replacement]

    # Only a signal to the node stops it, and it stops its process with it.
    assert node.stop() == 0
    assert not alive(replacement)
