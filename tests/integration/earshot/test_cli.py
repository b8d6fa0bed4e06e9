"""The `earshot` command as a newcomer and an operator use it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from earshot.processes import free_port
from earshot.stack import read_env_file
from engine.settings import Settings
from tests.conftest import child_env

pytestmark = pytest.mark.integration


def earshot(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "earshot", *args], env=env, capture_output=True, text=True, timeout=60)


def test_keys_create_list_and_revoke(settings: Settings, backends: object) -> None:
    env = child_env(settings)
    created = earshot("keys", "create", "--tenant", "acme", "--json", env=env)
    assert created.returncode == 0, created.stderr
    issued = json.loads(created.stdout)
    assert issued["api_key"].startswith("ek_") and issued["api_secret"].startswith("es_")
    keys = backends.keys  # type: ignore[attr-defined]
    assert keys.authenticate(issued["api_key"], issued["api_secret"]) == issued["tenant_id"]

    again = json.loads(earshot("keys", "create", "--tenant", "acme", "--json", env=env).stdout)
    assert again["tenant_id"] == issued["tenant_id"]  # same tenant, a second key
    assert issued["bearer"] == f"{issued['api_key']}:{issued['api_secret']}"
    plain = earshot("keys", "create", "--tenant", "acme", env=env).stdout
    bearer = next(line.split()[1] for line in plain.splitlines() if line.startswith("bearer"))
    pair = bearer.split(":")
    assert keys.authenticate(pair[0], pair[1]) == issued["tenant_id"]

    listed = earshot("keys", "list", "--tenant", "acme", env=env)
    assert issued["api_key"] in listed.stdout and again["api_key"] in listed.stdout
    assert issued["api_secret"] not in listed.stdout

    assert earshot("keys", "revoke", issued["api_key"], env=env).returncode == 0
    assert keys.authenticate(issued["api_key"], issued["api_secret"]) is None
    assert keys.authenticate(again["api_key"], again["api_secret"]) == issued["tenant_id"]
    assert earshot("keys", "revoke", issued["api_key"], env=env).returncode == 1


def test_a_typo_in_a_setting_is_a_clear_error(settings: Settings) -> None:
    result = earshot("keys", "list", env={**child_env(settings), "EARSHOT_REDIS_ULR": "x"})
    assert result.returncode == 2
    assert "EARSHOT_REDIS_ULR" in result.stderr and "Traceback" not in result.stderr


def port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def start_up(data_dir: Path, port: int) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EARSHOT_")}
    env["EARSHOT_BEAM_SIZE"] = "1"
    return subprocess.Popen(
        [sys.executable, "-m", "earshot", "up", "--data-dir", str(data_dir), "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_for_banner(proc: subprocess.Popen[str], timeout: float = 90) -> str:
    assert proc.stdout is not None
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            break
        seen.append(line)
        if line.startswith("Ctrl-C stops everything"):
            return "".join(seen)
    proc.kill()
    pytest.fail("earshot up did not come up:\n" + "".join(seen))


def stop_up(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(60)
    assert proc.stdout is not None
    rest = proc.stdout.read()
    proc.stdout.close()
    assert code == 0, rest


def test_earshot_up_runs_the_whole_stack_and_ctrl_c_stops_it(tmp_path: Path, audio_dir: Path) -> None:
    data_dir, port = tmp_path / "stack", free_port()
    proc = start_up(data_dir, port)
    try:
        banner = wait_for_banner(proc)
        env = read_env_file(data_dir / "stack.env")
        assert env["EARSHOT_URL"] == f"http://127.0.0.1:{port}"
        assert env["EARSHOT_API_KEY"] in banner and "curl" in banner
        redis_port = int(env["EARSHOT_REDIS_URL"].rsplit(":", 1)[1].split("/")[0])
        s3_port = int(env["EARSHOT_S3_ENDPOINT"].rsplit(":", 1)[1])
        Settings.from_env(env)  # what we wrote is valid for every other earshot command

        auth = (env["EARSHOT_API_KEY"], env["EARSHOT_API_SECRET"])
        with httpx.Client(base_url=env["EARSHOT_URL"], auth=auth, timeout=30) as client:
            wav = (audio_dir / "espeak_2.wav").read_bytes()
            rid = client.post("/v1/recordings", files={"file": ("a.wav", wav, "audio/wav")}).json()["id"]
            deadline = time.monotonic() + 90
            while client.get(f"/v1/recordings/{rid}").json()["status"] == "processing":
                assert time.monotonic() < deadline, "not transcribed in time"
                time.sleep(0.3)
            text = client.get(f"/v1/recordings/{rid}/transcription").json()["text"].lower()
            assert "budget" in text
    finally:
        stop_up(proc)
    for p in (port, redis_port, s3_port):
        assert not port_open(p), f"port {p} still open after earshot up stopped"

    # A second start keeps the data (Redis AOF, S3 files) and the dev key.
    proc = start_up(data_dir, port)
    try:
        wait_for_banner(proc)
        again = read_env_file(data_dir / "stack.env")
        assert again["EARSHOT_API_KEY"] == env["EARSHOT_API_KEY"]
        with httpx.Client(base_url=again["EARSHOT_URL"], auth=auth, timeout=30) as client:
            assert client.get(f"/v1/recordings/{rid}").json()["status"] == "transcribed"
            assert client.get(f"/v1/recordings/{rid}/transcription").status_code == 200
    finally:
        stop_up(proc)
