"""The crash-loop backoff, and how `earshot up` decides when to restart a dead process."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest

from earshot import stack as stack_module
from earshot.processes import Proc, StartError
from earshot.stack import LocalStack
from engine.settings import Settings
from workers.runner import Backoff, exit_reason


def test_backoff_doubles_to_a_minute_and_resets_after_a_minute_up() -> None:
    backoff = Backoff()
    assert [backoff.next_delay(0.5) for _ in range(9)] == [1, 2, 4, 8, 16, 32, 60, 60, 60]
    assert backoff.next_delay(59.9) == 60
    assert backoff.next_delay(60.0) == 1  # it stayed up a minute: the crash loop is over
    assert backoff.next_delay(3) == 2


def test_exit_reasons_name_the_signal() -> None:
    assert exit_reason(-signal.SIGKILL) == "killed by SIGKILL"
    assert exit_reason(1) == "exit code 1"
    assert exit_reason(-200) == "killed by signal 200"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


def sleeper() -> Proc:
    return Proc("sleeper", subprocess.Popen(["sleep", "60"], start_new_session=True))


def refused() -> Proc:
    raise StartError("port taken\nlog tail")


def test_the_stack_restarts_a_dead_process_after_its_backoff(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()
    monkeypatch.setattr(stack_module, "time", clock)
    said: list[str] = []
    stack = LocalStack(Settings(data_dir=str(tmp_path)), env={}, say=said.append)
    starts = [sleeper, refused, sleeper]
    stack._run("sleeper", lambda: starts.pop(0)())
    try:
        first = stack.procs[0]
        stack.tend()
        assert said == []  # alive: nothing to do
        first.popen.kill()
        first.popen.wait()
        stack.tend()
        assert said == ["sleeper stopped unexpectedly (killed by SIGKILL); restarting it in 1 s"]
        clock.now += 0.5
        stack.tend()
        assert len(said) == 1  # still waiting
        clock.now += 0.5
        stack.tend()  # the start fails: the next try waits longer
        assert said[-1] == "sleeper did not come back (port taken); trying again in 2 s"
        clock.now += 2
        stack.tend()
        assert said[-1].startswith("sleeper restarted (pid ")
        assert stack.procs[0].alive and stack.procs[0] is not first
        assert stack.restarts == {"sleeper": 1}
    finally:
        stack.stop()
    assert stack.procs == []
