"""The local stack of `earshot up`: Redis, the S3 server, the API and workers on one machine."""

from __future__ import annotations

import secrets
import shlex
from collections.abc import Mapping
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
)
from engine.backends import Backends
from engine.settings import Settings

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


class LocalStack:
    def __init__(self, settings: Settings, env: Mapping[str, str]) -> None:
        self.settings = settings
        self._env = dict(env)
        self.data_dir = Path(settings.data_dir).resolve()
        self.procs: list[Proc] = []
        self.api_key = ""
        self.api_secret = ""

    def _external(self, var: str, ours: Mapping[str, str]) -> bool:
        """Set by the operator (not just left over from sourcing our own stack.env)."""
        value = self._env.get(var)
        return bool(value) and value != ours.get(var)

    def start(self, *, console: bool = False) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        logs = self.data_dir / "logs"
        ours = read_env_file(self.data_dir / STACK_ENV)
        changes: dict[str, object] = {}
        try:
            if not self._external("EARSHOT_REDIS_URL", ours):
                port = _port(ours.get("EARSHOT_REDIS_URL", "").rsplit(":", 1)[-1].split("/")[0], 6390)
                self.procs.append(start_redis(self.data_dir / "redis", port, log_path=logs / "redis.log"))
                changes["redis_url"] = f"redis://127.0.0.1:{port}/0"
            if not self._external("EARSHOT_S3_ENDPOINT", ours):
                port = _port(ours.get("EARSHOT_S3_ENDPOINT", "").rsplit(":", 1)[-1], 9010)
                access, secret = self._s3_credentials()
                self.procs.append(
                    start_s3(
                        self.data_dir / "s3",
                        port,
                        access_key=access,
                        secret_key=secret,
                        log_path=logs / "s3.log",
                    )
                )
                changes.update(s3_endpoint=f"127.0.0.1:{port}", s3_access_key=access, s3_secret_key=secret)
            if not port_is_free(self.settings.api_port):
                raise StartError(f"port {self.settings.api_port} is in use; choose another with --port")
            self.settings = msgspec.structs.replace(self.settings, **changes)
            self._prepare(ours)
            child_env = {**self._env, **self.settings.to_env()}
            self.procs.append(
                start_api(child_env, self.settings.api_port, log_path=None if console else logs / "api.log")
            )
            self.procs.append(
                start_worker(
                    child_env,
                    processes=self.settings.effective_worker_processes,
                    log_path=None if console else logs / "worker.log",
                )
            )
        except BaseException:
            self.stop()
            raise

    def _s3_credentials(self) -> tuple[str, str]:
        path = self.data_dir / "s3" / "credentials.json"
        if path.exists():
            creds = msgspec.json.decode(path.read_bytes())
            return str(creds["access_key"]), str(creds["secret_key"])
        path.parent.mkdir(parents=True, exist_ok=True)
        access, secret = "earshot", secrets.token_urlsafe(24)
        path.write_bytes(msgspec.json.encode({"access_key": access, "secret_key": secret}))
        path.chmod(0o600)
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

    def dead(self) -> str | None:
        for proc in self.procs:
            if not proc.alive:
                return proc.name
        return None

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()
        self.procs.clear()

    def instructions(self) -> str:
        env = self.data_dir / STACK_ENV
        return f"""
Earshot is up: API {self.url}  (OpenAPI at {self.url}/schema)
  dev API key    {self.api_key}
  dev API secret {self.api_secret}
  settings       {env}   (join from another shell: set -a; . {env}; set +a)

Upload a file and fetch its transcript:
  set -a; . {env}; set +a
  curl -s -u "$EARSHOT_API_KEY:$EARSHOT_API_SECRET" -F file=@speech.wav "$EARSHOT_URL/v1/recordings"
  curl -s -u "$EARSHOT_API_KEY:$EARSHOT_API_SECRET" "$EARSHOT_URL/v1/recordings/<id>/transcription"

Ctrl-C stops everything.
"""
