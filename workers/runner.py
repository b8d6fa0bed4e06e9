"""Run worker processes: one Dramatiq `Worker` per process, supervised by `run`."""

from __future__ import annotations

import contextlib
import logging
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from types import FrameType

import dramatiq
import msgspec
import redis

from engine.backends import Backends
from engine.errors import ServiceUnavailable
from engine.jobs.locks import RecordingLocks
from engine.jobs.pipeline import TranscriptionJob
from engine.jobs.queue import WEBHOOK_QUEUE, DramatiqQueue, make_broker
from engine.jobs.routing import ModelCatalog, PoolRegistry
from engine.jobs.sweeper import sweep
from engine.ops.logs import setup_logging
from engine.ops.metrics import JobMetrics
from engine.recordings.model import Recording
from engine.settings import Settings
from engine.transcription.device import cuda_problem, resolve_device
from engine.transcription.whisper import Transcriber
from engine.webhooks.delivery import Deliverer
from engine.webhooks.publisher import EventPublisher
from workers.actors import declare_actors
from workers.model_cache import ModelCache, default_cpu_threads

__all__ = ["run", "serve"]

log = logging.getLogger("earshot.worker")


def serve(settings: Settings, *, processes: int = 1, stop: threading.Event | None = None) -> int:
    """One worker process: load the model, consume the queues until SIGTERM/SIGINT or `stop`."""
    setup_logging(settings.log_level, "worker")
    usable = _usable_device(settings)
    if usable is None:
        return 2
    settings = usable
    stop = stop or threading.Event()
    _on_signals(lambda: stop.set())
    backends = Backends.connect(settings)
    cache = ModelCache(settings, cpu_threads=default_cpu_threads(settings, processes))
    broker = make_broker(settings)
    jobs = DramatiqQueue(broker)
    locks = RecordingLocks(backends.redis, ttl_s=2 * settings.job_heartbeat_timeout_s)
    declare_actors(broker, settings, _job(settings, backends, cache, jobs, locks), _deliverer(settings, backends, jobs))
    workers = []
    if set(settings.transcription_queues) & set(settings.queue_list):
        workers.append(_transcription_worker(settings, broker, backends, cache, jobs, locks, stop))
    if WEBHOOK_QUEUE in settings.queue_list:
        # Webhooks have threads of their own, so a slow receiver never delays a transcription.
        workers.append(
            dramatiq.Worker(broker, queues={WEBHOOK_QUEUE}, worker_threads=settings.webhook_threads, worker_timeout=500)
        )
    for worker in workers:
        worker.start()
    _background(
        "earshot-heartbeat", _heartbeat, broker, settings.queue_list[0], settings.job_heartbeat_timeout_s / 3, stop
    )
    log.info("worker ready", extra={"queues": settings.queues})
    stop.wait()
    log.info("worker stopping")
    for worker in workers:
        worker.stop(timeout=10_000)
    broker.close()
    backends.close()
    return 0


def _usable_device(settings: Settings) -> Settings | None:
    """Resolve `auto`; on `cuda`, refuse to start (saying what is missing) rather than fail every job."""
    if WEBHOOK_QUEUE in settings.queue_list and len(settings.queue_list) == 1:
        return settings  # a webhook-only worker loads no model
    device = resolve_device(settings.device)
    if device != settings.device:
        log.info("device resolved", extra={"device": device})
        settings = msgspec.structs.replace(settings, device=device)
    problem = cuda_problem() if device == "cuda" else None
    if problem is not None:
        log.error("the CUDA worker cannot start", extra={"reason": problem})
        print(f"earshot worker: {problem}", file=sys.stderr)
        return None
    return settings


def _job(
    settings: Settings, backends: Backends, cache: ModelCache, jobs: DramatiqQueue, locks: RecordingLocks
) -> TranscriptionJob:
    return TranscriptionJob(
        settings=settings,
        index=backends.index,
        storage=backends.storage,
        transcriber_for=cache.get,
        events=EventPublisher(backends.webhooks, jobs.enqueue_delivery),
        metrics=JobMetrics(backends.redis),
        locks=locks,
    )


def _deliverer(settings: Settings, backends: Backends, jobs: DramatiqQueue) -> Deliverer:
    return Deliverer(
        backends.webhooks,
        schedule=settings.retry_schedule,
        allow_private=settings.webhook_allow_private,
        allowed=settings.private_allowlist,
        enqueue=jobs.enqueue_delivery,
        timeout_s=settings.webhook_timeout_s,
        metrics=JobMetrics(backends.redis),
    )


def _transcription_worker(
    settings: Settings,
    broker: dramatiq.Broker,
    backends: Backends,
    cache: ModelCache,
    jobs: DramatiqQueue,
    locks: RecordingLocks,
    stop: threading.Event,
) -> dramatiq.Worker:
    """The consumer of every transcription queue, plus the threads that announce its pool and
    sweep for stuck recordings."""
    queues = set(settings.transcription_queues) & set(settings.queue_list)
    model = cache.get(settings.model)  # load before taking jobs: the first job should not pay for it
    _background("earshot-announce", _announce, PoolRegistry(backends.redis), sorted(queues), model, stop)
    catalog = ModelCatalog(settings.model, settings.transcription_queues[0], PoolRegistry(backends.redis))

    def requeue(recording: Recording) -> None:
        jobs.enqueue_transcription(recording.id, catalog.queue_for_recording(recording))

    _background("earshot-sweeper", _sweep_forever, backends, locks, requeue, settings.job_stale_s, stop)
    # Job threads download, probe and decode in parallel while the model runs one batch at a time
    # (see Settings.job_threads).
    # worker_timeout is how long an idle consumer waits between polls: it adds to idle latency.
    return dramatiq.Worker(broker, queues=queues, worker_threads=settings.job_threads, worker_timeout=100)


def _background(name: str, target: Callable[..., None], *args: object) -> None:
    threading.Thread(target=target, args=args, name=name, daemon=True).start()


def run(settings: Settings, processes: int) -> int:
    """`processes` worker processes (each `python -m workers`); restarts none, stops all on a signal."""
    if processes <= 1:
        return serve(settings)
    env = settings.to_env()
    children = [
        subprocess.Popen([sys.executable, "-m", "workers", "--processes", str(processes)], env={**os.environ, **env})
        for _ in range(processes)
    ]
    stop = threading.Event()
    _on_signals(lambda: stop.set())
    while not stop.is_set() and all(c.poll() is None for c in children):
        stop.wait(0.5)
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 20
    for child in children:
        try:
            child.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
    return 0 if stop.is_set() else 1


def _sweep_forever(
    backends: Backends,
    locks: RecordingLocks,
    requeue: Callable[[Recording], None],
    stale_s: int,
    stop: threading.Event,
) -> None:
    # Every process sweeps at a random phase; the lease check and idempotent jobs make overlap harmless.
    while not stop.wait(max(1.0, stale_s / 2) * random.uniform(0.5, 1.0)):  # noqa: S311 - jitter, not secrets
        try:
            sweep(backends.redis_index, locks, requeue, stale_s=stale_s, storage=backends.storage)
        except ServiceUnavailable:
            log.warning("cannot sweep for stale recordings: a dependency is unavailable")
        except Exception:  # a background loop must outlive any one bad round
            log.exception("sweep failed")


def _heartbeat(broker: dramatiq.Broker, queue: str, every_s: float, stop: threading.Event) -> None:
    """Keep this process's broker heartbeat fresh while a long job runs.

    Dramatiq's Redis broker refreshes a worker's heartbeat only when one of its consumers talks to
    Redis; a consumer whose prefetch is used up by a long job stops polling, so after the timeout
    another worker would think this one dead and run its job a second time (Dramatiq issue #692).
    An empty `requeue` is a no-op that still refreshes the heartbeat."""
    while not stop.wait(every_s):
        try:
            broker.do_requeue(queue)  # type: ignore[attr-defined]
        except redis.RedisError:
            log.warning("cannot refresh the worker heartbeat: redis unavailable")
        except Exception:  # a background loop must outlive any one bad round
            log.exception("heartbeat failed")


def _announce(registry: PoolRegistry, queues: list[str], model: Transcriber, stop: threading.Event) -> None:
    """Tell the API which model this process serves on which queues, until it stops."""
    worker_id = f"{os.getpid()}"
    while True:
        for queue in queues:
            try:
                registry.announce(queue, model.name, model.device, model.compute_type, worker_id)
            except ServiceUnavailable:
                log.warning("cannot announce the worker pool: redis unavailable")
            except Exception:  # a background loop must outlive any one bad round
                log.exception("announcing the worker pool failed")
        if stop.wait(10):
            break
    for queue in queues:
        with contextlib.suppress(ServiceUnavailable):
            registry.withdraw(queue, worker_id)


def _on_signals(handler: object) -> None:
    def on_signal(signum: int, frame: FrameType | None) -> None:
        handler()  # type: ignore[operator]

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
