"""RecordingLocks on a real Redis: the lease, and the count of runs that died mid-run, with a real
process killed by SIGKILL while it holds the lease (the OOM killer's way)."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import pytest

from engine.errors import RecordingBusy
from engine.jobs.locks import RecordingLocks
from engine.keyspace import KeySpace
from engine.redisio import redis_from_url

pytestmark = pytest.mark.integration

TTL_S = 0.5

_DIE_HOLDING = f"""
import os, signal, sys
from engine.jobs.locks import RecordingLocks
from engine.keyspace import KeySpace
from engine.redisio import redis_from_url
url, prefix, rid, stage = sys.argv[1:]
locks = RecordingLocks(redis_from_url(url), ttl_s={TTL_S}, keys=KeySpace(prefix))
held = locks.hold(rid, stage)  # kept: a collected generator would run its `finally`
held.__enter__()
os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.fixture
def space(redis_url: str) -> Iterator[tuple[RecordingLocks, str, str]]:
    client = redis_from_url(redis_url)
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    yield RecordingLocks(client, ttl_s=TTL_S, keys=KeySpace(prefix)), prefix, redis_url
    client.close()


def die_holding(url: str, prefix: str, rid: str, stage: str = "transcription") -> None:
    died = subprocess.run([sys.executable, "-c", _DIE_HOLDING, url, prefix, rid, stage], timeout=60)
    assert died.returncode == -9
    time.sleep(TTL_S + 0.2)  # its lease runs out, as a dead worker's does


def test_runs_that_end_in_any_way_leave_no_count_and_only_one_run_holds_the_lease(
    space: tuple[RecordingLocks, str, str],
) -> None:
    locks, _, _ = space
    with locks.hold("r1") as deaths:
        assert deaths == 0
        with pytest.raises(RecordingBusy), locks.hold("r1"):
            pass
    with pytest.raises(RuntimeError), locks.hold("r1"):
        raise RuntimeError("a job that failed, was handed back or ran out of time")
    with locks.hold("r1") as deaths:
        assert deaths == 0


def test_each_process_killed_holding_the_lease_is_counted_per_stage_until_forgotten(
    space: tuple[RecordingLocks, str, str],
) -> None:
    locks, prefix, url = space
    die_holding(url, prefix, "r2")
    die_holding(url, prefix, "r2")
    with locks.hold("r2") as deaths:
        assert deaths == 2
    with locks.hold("r2", "diarization") as deaths:
        assert deaths == 0  # another stage's deaths are its own
    with locks.hold("r2") as deaths:
        assert deaths == 2  # a run that ended is not one more
    locks.forget_deaths("r2")
    with locks.hold("r2") as deaths:
        assert deaths == 0
