"""Helpers of the supervision tests: JSON log events, uploads, waiting, and watching /health."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx


def events(path: Path, message: str) -> list[dict[str, Any]]:
    """The JSON log lines of `path` whose msg is `message` (other lines are skipped)."""
    if not path.exists():
        return []
    out = []
    for line in path.read_text(errors="replace").splitlines():
        if not line.startswith("{"):
            continue
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict) and event.get("msg") == message:
            out.append(event)
    return out


def logged(
    path: Path, message: str, enough: Callable[[list[dict[str, Any]]], bool], timeout: float = 10
) -> list[dict[str, Any]]:
    """`events(path, message)` once `enough` of them are there (or after `timeout`). A worker logs
    "transcribed" after it stores the status, so right after the API says transcribed the line may
    not be written yet."""
    deadline = time.monotonic() + timeout
    while not enough(found := events(path, message)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return found


def ready_pids(path: Path) -> list[int]:
    """Worker processes that said `worker ready`, in order."""
    return [int(e["pid"]) for e in events(path, "worker ready")]


def wait_for(what: str, check: Callable[[], Any], timeout: float = 60, every: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(every)


def wait_ready(path: Path, count: int, timeout: float = 60) -> list[int]:
    """The first `count` worker processes ready (pids), once there are that many."""
    return list(
        wait_for(f"{count} ready worker processes", lambda: (p := ready_pids(path))[count - 1 :] and p, timeout)
    )


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"


def kill9(pid: int) -> float:
    """SIGKILL, what the OOM killer sends; returns when it was sent (monotonic)."""
    os.kill(pid, signal.SIGKILL)
    return time.monotonic()


def wait_progress(client: httpx.Client, rid: str, timeout: float = 60) -> None:
    """Until the job is inside the model: a first window done, the file not."""
    wait_for(
        f"progress of {rid}", lambda: (client.get(f"/v1/recordings/{rid}").json().get("progress") or 0) > 0, timeout
    )


class HealthWatch:
    """Polls GET /health every 50 ms on a thread; `failures` lists every answer other than 200."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._stop = threading.Event()
        self.polls = 0
        self.failures: list[str] = []
        self._thread = threading.Thread(target=self._poll, name="health-watch", daemon=True)

    def __enter__(self) -> HealthWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _poll(self) -> None:
        with httpx.Client(timeout=2) as client:
            while not self._stop.wait(0.05):
                try:
                    status = client.get(f"{self._url}/health").status_code
                except httpx.HTTPError as exc:
                    self.failures.append(type(exc).__name__)
                else:
                    if status != 200:
                        self.failures.append(str(status))
                self.polls += 1
