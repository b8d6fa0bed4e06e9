"""Operating Earshot: readiness under outages, Prometheus metrics, model verification, Docker files."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import models
from earshot.processes import Proc, free_port, start_api, start_redis, start_s3
from engine.settings import Settings
from tests.conftest import ROOT, Stack, child_env

pytestmark = pytest.mark.integration


class Deps:
    """A Redis and an S3 server of the test's own, on fixed ports, so they can be stopped and restarted."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.redis_port, self.s3_port = free_port(), free_port()
        self.redis: Proc = start_redis(base / "redis", self.redis_port, appendonly=True)
        self.s3: Proc = self._start_s3()

    def _start_s3(self) -> Proc:
        return start_s3(self.base / "s3", self.s3_port, access_key="ops", secret_key="ops-secret-key")

    def restart_redis(self) -> None:
        self.redis = start_redis(self.base / "redis", self.redis_port, appendonly=True)

    def restart_s3(self) -> None:
        self.s3 = self._start_s3()

    def settings(self) -> Settings:
        return Settings(
            redis_url=f"redis://127.0.0.1:{self.redis_port}/0",
            s3_endpoint=f"127.0.0.1:{self.s3_port}",
            s3_access_key="ops",
            s3_secret_key="ops-secret-key",
            s3_bucket="ops",
        )


@pytest.fixture
def outage_stack(tmp_path: Path) -> Iterator[tuple[Deps, str]]:
    deps = Deps(tmp_path)
    port = free_port()
    api = start_api(child_env(deps.settings()), port, log_path=tmp_path / "api.log")
    yield deps, f"http://127.0.0.1:{port}"
    api.stop()
    deps.s3.stop()
    deps.redis.stop()


def ready(url: str) -> tuple[int, dict[str, object], float]:
    started = time.monotonic()
    response = httpx.get(f"{url}/ready", timeout=30)
    return response.status_code, response.json(), time.monotonic() - started


def wait_ready(url: str, status: int, timeout: float = 30) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while True:
        code, body, _ = ready(url)
        if code == status:
            return body
        assert time.monotonic() < deadline, f"/ready stayed {code}: {body}"
        time.sleep(0.3)


def test_ready_names_redis_while_it_is_down_and_recovers(outage_stack: tuple[Deps, str]) -> None:
    deps, url = outage_stack
    assert ready(url)[:2] == (200, {"status": "ready", "checks": {"redis": "ok", "storage": "ok"}})
    deps.redis.stop()
    code, body, took = ready(url)
    assert code == 503 and body["failing"] == ["redis"] and body["checks"] == {"redis": "unavailable", "storage": "ok"}
    assert took < 10  # an answer, not a hang
    deps.restart_redis()
    assert wait_ready(url, 200)["checks"] == {"redis": "ok", "storage": "ok"}


def test_ready_names_object_storage_while_it_is_down_and_recovers(outage_stack: tuple[Deps, str]) -> None:
    deps, url = outage_stack
    assert ready(url)[0] == 200
    deps.s3.stop()
    code, body, took = ready(url)
    assert code == 503 and body["failing"] == ["storage"]
    assert took < 10
    deps.restart_s3()
    assert wait_ready(url, 200)["status"] == "ready"


def scrape(url: str) -> dict[str, float]:
    text = httpx.get(f"{url}/metrics").text
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return values


def test_metrics_show_the_job_its_audio_seconds_and_the_requests(stack: Stack, audio_dir: Path) -> None:
    response = httpx.get(f"{stack.url}/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    before = scrape(stack.url)
    key = stack.tenant("metrics")
    with stack.client(key) as client:
        rid = client.post("/v1/recordings", files={"file": ("jfk.flac", (audio_dir / "jfk.flac").read_bytes())}).json()[
            "id"
        ]
        stack.wait_done(client, rid)
    after = scrape(stack.url)

    def delta(name: str) -> float:
        return after.get(name, 0.0) - before.get(name, 0.0)

    assert delta('earshot_jobs_total{code="",model="tiny.en",outcome="transcribed"}') >= 1
    assert delta('earshot_audio_seconds_total{model="tiny.en"}') >= 10.9
    assert delta('earshot_processing_seconds_count{model="tiny.en"}') >= 1
    assert delta('earshot_real_time_factor_count{model="tiny.en"}') >= 1
    assert delta('earshot_http_requests_total{method="POST",route="/v1/recordings",status="201"}') == 1
    get_route = 'earshot_http_requests_total{method="GET",route="/v1/recordings/{recording_id}",status="200"}'
    assert delta(get_route) >= 1
    assert 'earshot_queue_depth{queue="transcribe"}' in after
    assert 'earshot_queue_depth{queue="webhooks"}' in after
    assert any(name.startswith("earshot_http_request_duration_seconds_bucket") for name in after)


def earshot(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "earshot", *args]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)


def test_models_verify_passes_for_the_bundled_model(tmp_path: Path) -> None:
    env = child_env(Settings(data_dir=str(tmp_path)))
    result = earshot("models", "verify", "tiny.en", env=env)
    assert result.returncode == 0, result.stderr
    assert "checksums match" in result.stdout and "transcribed 1 s" in result.stdout
    listed = earshot("models", "list", env=env).stdout
    assert "tiny.en" in listed and "bundled" in listed and "(default)" in listed


def test_models_add_then_verify_and_a_damaged_copy_fails_clearly(tmp_path: Path) -> None:
    env = child_env(Settings(data_dir=str(tmp_path)))
    added = earshot("models", "add", str(models.bundled_path()), "--name", "tiny-copy", env=env)
    assert added.returncode == 0, added.stderr
    assert "tiny-copy" in earshot("models", "list", env=env).stdout
    assert earshot("models", "verify", "tiny-copy", env=env).returncode == 0

    with (tmp_path / "models" / "tiny-copy" / "config.json").open("a") as fh:
        fh.write(" ")
    damaged = earshot("models", "verify", "tiny-copy", env=env)
    assert damaged.returncode == 1 and "checksum mismatch: config.json" in damaged.stderr
    assert "Traceback" not in damaged.stderr


def test_models_verify_fails_clearly_for_a_broken_directory(tmp_path: Path) -> None:
    env = child_env(Settings(data_dir=str(tmp_path)))
    broken = tmp_path / "broken"
    shutil.copytree(models.bundled_path(), broken)
    (broken / "config.json").unlink()
    result = earshot("models", "verify", str(broken), env=env)
    assert result.returncode == 1 and "missing config.json" in result.stderr
    truncated = tmp_path / "truncated"
    shutil.copytree(models.bundled_path(), truncated)
    (truncated / "model.bin").write_bytes((truncated / "model.bin").read_bytes()[:1000])
    result = earshot("models", "verify", str(truncated), env=env)
    assert result.returncode == 1 and "does not load or run" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_docker_files_validate_and_broken_ones_do_not(tmp_path: Path) -> None:
    ok = subprocess.run([str(ROOT / "scripts" / "validate-docker")], capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stdout + ok.stderr

    compose = (ROOT / "docker" / "compose.yaml").read_text()
    bad_compose = tmp_path / "compose.yaml"
    bad_compose.write_text(re.sub(r"^    healthcheck:", "    healthchek:", compose, count=1, flags=re.M))
    bin_dir = Path(sys.executable).parent
    schema = subprocess.run(
        [str(bin_dir / "check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(bad_compose)],
        capture_output=True,
        text=True,
        env={"EARSHOT_S3_SECRET_KEY": "x", "PATH": str(bin_dir)},
    )
    assert schema.returncode != 0 and "healthchek" in schema.stdout + schema.stderr

    bad_dockerfile = tmp_path / "Dockerfile"
    bad_dockerfile.write_text("FROM python:latest\nRUN cd /app && pip install earshot\n")
    lint = subprocess.run(
        [str(bin_dir / "hadolint"), "--config", str(ROOT / ".hadolint.yaml"), str(bad_dockerfile)],
        capture_output=True,
        text=True,
    )
    assert lint.returncode != 0 and "DL3007" in lint.stdout  # "latest" is not a pinned base image
