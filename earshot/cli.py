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
    from engine.ops.logs import setup_logging

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
    from engine.transcription.device import resolve_device
    from workers.runner import run

    settings = _settings(queues=args.queues, worker_processes=args.processes)
    # `auto` is settled before processes are counted: one process owns a GPU, one per core on CPU.
    settings = msgspec.structs.replace(settings, device=resolve_device(settings.device))
    return run(settings, settings.effective_worker_processes)


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
                print(f"bearer     {issued.bearer}")
                print(
                    "OpenAI SDKs: OpenAI(api_key=<bearer>, base_url=<EARSHOT_URL>/v1)",
                    file=sys.stderr,
                )
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
    os.umask(0o077)  # what the stack and its children write (Redis, S3 data, logs) is for us alone
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
        # The secret on a terminal only: redirected output is a log, and logs hold no secrets.
        print(stack.instructions(show_secret=sys.stdout.isatty()), flush=True)
        while not stop.wait(0.5):
            stack.tend()  # restarts what died; only SIGINT/SIGTERM stop the stack
        return 0
    finally:
        print("earshot up: stopping", file=sys.stderr)
        stack.stop()


def cmd_reindex(args: argparse.Namespace) -> int:
    """Rebuild the Redis index (and keys, tenants, webhooks) from object storage."""
    from engine.backends import Backends
    from engine.errors import ServiceUnavailable
    from engine.jobs.queue import DramatiqQueue, make_broker
    from engine.jobs.routing import ModelCatalog, PoolRegistry
    from engine.recordings.model import Recording

    settings = _settings()
    backends = Backends.connect(settings)
    jobs = DramatiqQueue(make_broker(settings))
    catalog = ModelCatalog(settings.model, settings.transcription_queues[0], PoolRegistry(backends.redis))

    def requeue(recording: Recording) -> None:
        jobs.enqueue_transcription(recording.id, catalog.queue_for_recording(recording))

    try:
        report = backends.reindex(requeue)
    except ServiceUnavailable as exc:
        print(f"earshot reindex: {exc.message}", file=sys.stderr)
        return 1
    finally:
        backends.close()
    restored = ", ".join(f"{n} {kind}" for kind, n in (report.restored or {}).items())
    print(f"reindexed {report.recordings} recordings ({report.requeued} requeued); restored {restored}")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    import models

    settings = _settings()
    if args.models_cmd == "list":
        for entry in models.entries(settings.models_path, settings.model):
            default = "  (default)" if entry.name == settings.model else ""
            print(f"{entry.name:<24} {entry.source:<8} {entry.path or 'downloaded by faster-whisper'}{default}")
        return 0
    if args.models_cmd == "add":
        try:
            target = models.add(args.source, args.name, settings.models_path)
        except models.ModelNotFound as exc:
            print(f"earshot models add: {exc}", file=sys.stderr)
            return 1
        print(f"added {args.name} at {target}; use it with EARSHOT_MODEL={args.name}")
        return 0
    return _verify(settings, args.name or settings.model)


def _verify(settings: Settings, name: str) -> int:
    """Files and checksums present, the model loads, and it transcribes a 1 s clip."""
    import numpy as np

    import models
    from engine.transcription.whisper import TranscribeOptions, WhisperTranscriber

    entry = models.locate(name, settings.models_path)
    problems, compared = models.checksums(entry)
    if problems:
        print(f"earshot models verify: {name}: " + "; ".join(problems), file=sys.stderr)
        return 1
    try:
        path = models.resolve(name, settings.models_path)
        model = WhisperTranscriber(path, name=name, device=settings.device, compute_type=settings.compute_type)
        tone = (0.1 * np.sin(2 * np.pi * 440 * np.arange(16000) / 16000)).astype(np.float32)
        model.transcribe(tone, TranscribeOptions(beam_size=1))
    except (models.ModelNotFound, RuntimeError, ValueError, OSError) as exc:
        print(f"earshot models verify: {name}: does not load or run: {exc}", file=sys.stderr)
        return 1
    checks = "checksums match" if compared else "no checksums recorded"
    print(f"{name}: ok ({entry.source}, {checks}, loads on {model.device}/{model.compute_type}, transcribed 1 s)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="earshot", description="Self-hosted transcription engine.")
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="run the whole stack locally: Redis, S3 server, API and a worker")
    up.add_argument("--port", type=int, help="API port (default 8000)")
    up.add_argument("--data-dir", help="where data, logs and stack.env go (default .earshot)")
    up.add_argument("--processes", type=int, help="worker processes (default: one per core on CPU)")
    up.set_defaults(func=cmd_up)

    api = sub.add_parser("api", help="run the HTTP API")
    api.add_argument("--host")
    api.add_argument("--port", type=int)
    api.set_defaults(func=cmd_api)

    worker = sub.add_parser("worker", help="run transcription workers against the configured Redis and S3")
    worker.add_argument("--processes", type=int, help="processes (default: EARSHOT_WORKER_PROCESSES, 0 = per core)")
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

    reindexing = sub.add_parser("reindex", help="rebuild the Redis index from object storage")
    reindexing.set_defaults(func=cmd_reindex)

    model_cmd = sub.add_parser("models", help="list, add and verify models")
    models_sub = model_cmd.add_subparsers(dest="models_cmd", required=True)
    models_sub.add_parser("list", help="the bundled model, added models and the configured one")
    adding = models_sub.add_parser("add", help="copy a CTranslate2 model directory (or a hub id) in")
    adding.add_argument("source", help="a CTranslate2 Whisper model directory, or a Hugging Face id")
    adding.add_argument("--name", required=True, help="the name to use in EARSHOT_MODEL and uploads")
    verify = models_sub.add_parser("verify", help="files, checksums, load, and a 1 s transcription")
    verify.add_argument("name", nargs="?", help="a model name or path (default: EARSHOT_MODEL)")
    model_cmd.set_defaults(func=cmd_models)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except SettingsError as exc:
        print(f"earshot: {exc}", file=sys.stderr)
        return 2
