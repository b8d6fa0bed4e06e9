"""The local stack of `earshot up`: Redis, the S3 server, the API and workers on one machine."""

from __future__ import annotations

import os
import secrets
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from earshot.processes import (
    Proc,
    StartError,
    free_port,
    port_is_free,
    start_api,
    start_redis,
    start_s3,
    start_worker,
    write_private,
)
from engine.backends import Backends
from engine.diarization import diarization_available
from engine.jobs.queue import DIARIZATION_QUEUE
from engine.settings import Settings
from engine.transcription.device import resolve_device
from workers.runner import Backoff, RestartCounter, exit_reason

__all__ = ["LocalStack", "read_env_file"]

STACK_ENV = "stack.env"
DEV_TENANT = "dev"


def read_env_file(path: Path) -> dict[str, str]:
    """Parse the `NAME=value` lines that `write_env_file` writes (shell-quoted values)."""
    out: dict[str, str] = {}
    if not path.exists():
        return out
    for line in path.read_text().splitlines():
        name, sep, value = line.partition("=")
        if sep and name.strip() and not name.startswith("#"):
            parts = shlex.split(value)
            out[name.strip()] = parts[0] if parts else ""
    return out


def write_env_file(path: Path, values: Mapping[str, str]) -> None:
    header = "# Written by `earshot up`. Join the running stack with:  set -a; . .earshot/stack.env; set +a\n"
    path.write_text(header + "".join(f"{k}={shlex.quote(v)}\n" for k, v in values.items()))
    path.chmod(0o600)


def _port(preferred: str | None, default: int) -> int:
    for candidate in (preferred, str(default)):
        if candidate and candidate.isdigit() and port_is_free(int(candidate)):
            return int(candidate)
    return free_port()


def make_private(root: Path) -> None:
    """The data dir holds secrets (Redis: the token-signing key, webhook secrets; S3: recordings):
    0700 for it and every folder in it, 0600 for every file, whatever an older version left."""
    root.chmod(0o700)
    for folder, dirs, files in os.walk(root):
        for name in dirs:
            path = Path(folder, name)
            if not path.is_symlink():
                path.chmod(0o700)
        for name in files:
            path = Path(folder, name)
            if not path.is_symlink():
                path.chmod(0o600)


def _say(message: str) -> None:
    print(f"earshot up: {message}", file=sys.stderr, flush=True)


@dataclass
class _Supervised:
    """One of the stack's processes, restarted the same way whenever it dies."""

    name: str
    start: Callable[[], Proc]
    proc: Proc
    started: float = field(default_factory=time.monotonic)
    restart_at: float | None = None
    restarts: int = 0
    backoff: Backoff = field(default_factory=Backoff)


class LocalStack:
    def __init__(self, settings: Settings, env: Mapping[str, str], say: Callable[[str], None] = _say) -> None:
        self.settings = settings
        self._env = dict(env)
        self._say = say
        self.data_dir = Path(settings.data_dir).resolve()
        self._units: list[_Supervised] = []
        self._restarts: RestartCounter | None = None
        self.api_key = ""
        self.api_secret = ""

    @property
    def procs(self) -> list[Proc]:
        return [unit.proc for unit in self._units]

    def _external(self, var: str, ours: Mapping[str, str]) -> bool:
        """Set by the operator (not just left over from sourcing our own stack.env)."""
        value = self._env.get(var)
        return bool(value) and value != ours.get(var)

    def _run(self, name: str, start: Callable[[], Proc]) -> None:
        self._units.append(_Supervised(name, start, start()))

    def start(self, *, console: bool = False) -> None:
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        make_private(self.data_dir)
        logs = self.data_dir / "logs"
        ours = read_env_file(self.data_dir / STACK_ENV)
        changes: dict[str, object] = {}
        try:
            if not self._external("EARSHOT_REDIS_URL", ours):
                changes["redis_url"] = self._start_redis(ours, logs)
            if not self._external("EARSHOT_S3_ENDPOINT", ours):
                changes.update(self._start_s3(ours, logs))
            if not port_is_free(self.settings.api_port):
                raise StartError(f"port {self.settings.api_port} is in use; choose another with --port")
            self.settings = msgspec.structs.replace(self.settings, **changes)
            self._prepare(ours)
            self._restarts = RestartCounter(self.settings.redis_url)
            child_env = {**self._env, **self.settings.to_env()}
            api_log, worker_log = (None, None) if console else (logs / "api.log", logs / "worker.log")
            # `auto` is settled before processes are counted: one process owns a GPU, one per core on CPU.
            device = resolve_device(self.settings.device)
            port = self.settings.api_port
            processes = msgspec.structs.replace(self.settings, device=device).effective_worker_processes
            self._run("api", lambda: start_api(child_env, port, log_path=api_log))
            self._run("worker", lambda: start_worker(child_env, processes=processes, log_path=worker_log))
            if diarization_available():
                # The extra is installed (scripts/setup --diarization): speakers for diarize=true.
                diarize_env = {**child_env, "EARSHOT_QUEUES": DIARIZATION_QUEUE}
                diarize_log = None if console else logs / "diarization.log"
                self._run("diarization", lambda: start_worker(diarize_env, processes=1, log_path=diarize_log))
        except BaseException:
            self.stop()
            raise

    def _start_redis(self, ours: Mapping[str, str], logs: Path) -> str:
        """redis-server on the port of the last run if free, with a password kept in the data dir."""
        port = _port(ours.get("EARSHOT_REDIS_URL", "").rsplit(":", 1)[-1].split("/")[0], 6390)
        password = self._secret(self.data_dir / "redis" / "password")
        self._run(
            "redis-server",
            lambda: start_redis(self.data_dir / "redis", port, log_path=logs / "redis.log", password=password),
        )
        return f"redis://:{password}@127.0.0.1:{port}/0"

    def _start_s3(self, ours: Mapping[str, str], logs: Path) -> dict[str, object]:
        port = _port(ours.get("EARSHOT_S3_ENDPOINT", "").rsplit(":", 1)[-1], 9010)
        access, secret = self._s3_credentials()
        self._run(
            "s3-server",
            lambda: start_s3(
                self.data_dir / "s3", port, access_key=access, secret_key=secret, log_path=logs / "s3.log"
            ),
        )
        return {"s3_endpoint": f"127.0.0.1:{port}", "s3_access_key": access, "s3_secret_key": secret}

    @staticmethod
    def _secret(path: Path) -> str:
        """A random secret made once and kept (0600) at `path`."""
        if path.exists() and path.read_text().strip():
            return path.read_text().strip()
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        value = secrets.token_urlsafe(32)
        write_private(path, value + "\n")
        return value

    def _s3_credentials(self) -> tuple[str, str]:
        path = self.data_dir / "s3" / "credentials.json"
        if path.exists():
            creds = msgspec.json.decode(path.read_bytes())
            return str(creds["access_key"]), str(creds["secret_key"])
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        access, secret = "earshot", secrets.token_urlsafe(24)
        write_private(path, msgspec.json.encode({"access_key": access, "secret_key": secret}).decode())
        return access, secret

    def _prepare(self, ours: Mapping[str, str]) -> None:
        """Bucket, dev API key (kept across restarts while it still works), stack.env."""
        backends = Backends.connect(self.settings)
        try:
            backends.storage.ensure_bucket()
            key, secret = ours.get("EARSHOT_API_KEY", ""), ours.get("EARSHOT_API_SECRET", "")
            if not (key and secret and backends.keys.authenticate(key, secret)):
                issued = backends.keys.create(DEV_TENANT)
                key, secret = issued.api_key, issued.api_secret
            self.api_key, self.api_secret = key, secret
        finally:
            backends.close()
        values = {
            **self.settings.to_env(),
            "EARSHOT_URL": self.url,
            "EARSHOT_API_KEY": self.api_key,
            "EARSHOT_API_SECRET": self.api_secret,
        }
        write_env_file(self.data_dir / STACK_ENV, values)

    @property
    def url(self) -> str:
        return f"http://{self.settings.api_host}:{self.settings.api_port}"

    def tend(self) -> None:
        """Restart whatever died (after its crash-loop backoff); called every half second or so.

        Only the operator stops the stack (SIGINT/SIGTERM): a dead Redis, S3 server, API or worker
        node comes back on the same port with the same data and credentials, and meanwhile the API
        answers 503 for what needs the missing dependency."""
        for unit in self._units:
            if unit.restart_at is None:
                self._notice(unit)
            elif time.monotonic() >= unit.restart_at:
                self._restart(unit)

    def _notice(self, unit: _Supervised) -> None:
        code = unit.proc.popen.poll()
        if code is None:
            return
        delay = unit.backoff.next_delay(time.monotonic() - unit.started)
        unit.restart_at = time.monotonic() + delay
        self._say(f"{unit.name} stopped unexpectedly ({exit_reason(code)}); restarting it in {delay:.0f} s")

    def _restart(self, unit: _Supervised) -> None:
        unit.proc.stop()  # closes its log file
        try:
            unit.proc = unit.start()
        except (StartError, OSError, subprocess.SubprocessError) as exc:
            delay = unit.backoff.next_delay(0)
            unit.restart_at = time.monotonic() + delay
            self._say(f"{unit.name} did not come back ({str(exc).splitlines()[0]}); trying again in {delay:.0f} s")
            return
        unit.started, unit.restart_at = time.monotonic(), None
        unit.restarts += 1
        self._say(f"{unit.name} restarted (pid {unit.proc.popen.pid}, restart {unit.restarts})")
        if self._restarts is not None:
            self._restarts.count(unit.name)

    @property
    def restarts(self) -> dict[str, int]:
        return {unit.name: unit.restarts for unit in self._units}

    def stop(self) -> None:
        for unit in reversed(self._units):
            unit.proc.stop()
        self._units.clear()
        if self._restarts is not None:
            self._restarts.close()
            self._restarts = None

    def instructions(self, *, show_secret: bool = False) -> str:
        """What to do next. The secret only when asked (`earshot up` asks on a terminal): output that
        goes to a file or a journal is a log, and a log never holds a secret."""
        env = self.data_dir / STACK_ENV
        secret = self.api_secret if show_secret else f"in {env} (EARSHOT_API_SECRET)"
        return f"""
Earshot is up: API {self.url}  (OpenAPI at {self.url}/schema)
  dev API key    {self.api_key}
  dev API secret {secret}
  settings       {env}   (join from another shell: set -a; . {env}; set +a)

Upload a file and fetch its transcript:
  set -a; . {env}; set +a
  curl -s -u "$EARSHOT_API_KEY:$EARSHOT_API_SECRET" -F file=@speech.wav "$EARSHOT_URL/v1/recordings"
  curl -s -u "$EARSHOT_API_KEY:$EARSHOT_API_SECRET" "$EARSHOT_URL/v1/recordings/<id>/transcription"

Ctrl-C stops everything.
"""
