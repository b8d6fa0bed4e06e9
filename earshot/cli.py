"""The `earshot` command: `up`, `api`, `worker`, `keys`.

This package is the composition root: the one place that may import both `api` and `workers`.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Sequence

import msgspec

from engine.settings import Settings, SettingsError

__all__ = ["main"]


def _settings(**overrides: object) -> Settings:
    return Settings.from_env(None, **{k: v for k, v in overrides.items() if v is not None})


def cmd_api(args: argparse.Namespace) -> int:
    import uvicorn

    from api import create_app
    from engine.logs import setup_logging

    settings = _settings(api_host=args.host, api_port=args.port)
    setup_logging(settings.log_level, "api")
    app = create_app(settings)
    uvicorn.run(
        app,
        host=settings.api_host,
        port=settings.api_port,
        log_config=None,
        access_log=False,
        proxy_headers=False,
        timeout_graceful_shutdown=10,
    )
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from workers.runner import run

    settings = _settings(queues=args.queues, worker_processes=args.processes)
    return run(settings, settings.worker_processes)


def cmd_keys(args: argparse.Namespace) -> int:
    from engine.backends import Backends

    backends = Backends.connect(_settings())
    try:
        if args.keys_cmd == "create":
            issued = backends.keys.create(args.tenant)
            if args.json:
                print(msgspec.json.encode(issued).decode())
            else:
                print(f"tenant_id  {issued.tenant_id}  ({issued.tenant_name})")
                print(f"api_key    {issued.api_key}")
                print(f"api_secret {issued.api_secret}")
                print("The secret is shown only now; Earshot stores only its hash.", file=sys.stderr)
        elif args.keys_cmd == "list":
            for key, tenant in backends.keys.list(args.tenant):
                name = tenant.name if tenant else "?"
                print(f"{key.key}  tenant={name}  created={key.created_at.isoformat()}")
        elif args.keys_cmd == "revoke":
            if not backends.keys.revoke(args.key):
                print(f"no such key: {args.key}", file=sys.stderr)
                return 1
            print(f"revoked {args.key}")
    finally:
        backends.close()
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    from earshot.processes import StartError
    from earshot.stack import LocalStack

    settings = _settings(api_port=args.port, data_dir=args.data_dir, worker_processes=args.processes)
    stack = LocalStack(settings, env=os.environ)
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        try:
            stack.start(console=True)
        except StartError as exc:
            print(f"earshot up: {exc}", file=sys.stderr)
            return 1
        print(stack.instructions(), flush=True)
        while not stop.is_set():
            dead = stack.dead()
            if dead:
                print(f"earshot up: {dead} stopped unexpectedly; stopping the stack", file=sys.stderr)
                return 1
            stop.wait(0.5)
        return 0
    finally:
        print("earshot up: stopping", file=sys.stderr)
        stack.stop()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="earshot", description="Self-hosted transcription engine.")
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="run the whole stack locally: Redis, S3 server, API and a worker")
    up.add_argument("--port", type=int, help="API port (default 8000)")
    up.add_argument("--data-dir", help="where data, logs and stack.env go (default .earshot)")
    up.add_argument("--processes", type=int, help="worker processes (default 1)")
    up.set_defaults(func=cmd_up)

    api = sub.add_parser("api", help="run the HTTP API")
    api.add_argument("--host")
    api.add_argument("--port", type=int)
    api.set_defaults(func=cmd_api)

    worker = sub.add_parser("worker", help="run transcription workers against the configured Redis and S3")
    worker.add_argument("--processes", type=int, help="worker processes (default: EARSHOT_WORKER_PROCESSES)")
    worker.add_argument("--queues", help="comma-separated queues to consume (default: EARSHOT_QUEUES)")
    worker.set_defaults(func=cmd_worker)

    keys = sub.add_parser("keys", help="manage API keys")
    keys_sub = keys.add_subparsers(dest="keys_cmd", required=True)
    create = keys_sub.add_parser("create", help="create a key (and the tenant if needed)")
    create.add_argument("--tenant", required=True)
    create.add_argument("--json", action="store_true", help="print JSON")
    listing = keys_sub.add_parser("list", help="list keys (never secrets)")
    listing.add_argument("--tenant")
    revoke = keys_sub.add_parser("revoke", help="revoke a key")
    revoke.add_argument("key")
    keys.set_defaults(func=cmd_keys)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except SettingsError as exc:
        print(f"earshot: {exc}", file=sys.stderr)
        return 2
