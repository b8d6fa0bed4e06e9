"""Run worker processes: one Dramatiq `Worker` per process, supervised by `run`."""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType

import dramatiq
import msgspec
import redis

from engine.backends import Backends
from engine.diarization import Diarizer, load_diarizer
from engine.errors import DiarizationUnavailable, ServiceUnavailable
from engine.jobs.diarization import DiarizationJob
from engine.jobs.locks import RecordingLocks
from engine.jobs.pipeline import TranscriptionJob
from engine.jobs.queue import DIARIZATION_QUEUE, WEBHOOK_QUEUE, DramatiqQueue, make_broker
from engine.jobs.routing import DIARIZATION, ModelCatalog, PoolRegistry
from engine.jobs.sweeper import Fail, sweep
from engine.ops.logs import setup_logging
from engine.ops.metrics import JobMetrics
from engine.recordings.model import Recording
from engine.recordings.outcomes import Outcomes
from engine.settings import Settings
from engine.transcription.device import cuda_problem, resolve_device
from engine.webhooks.delivery import Deliverer
from engine.webhooks.publisher import EventPublisher
from workers.actors import declare_actors
from workers.model_cache import ModelCache

__all__ = ["Backoff", "RestartCounter", "exit_reason", "run", "serve"]

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
    cache = ModelCache(settings, cpu_threads=settings.threads_per_model_call(processes))
    broker = make_broker(settings)
    jobs = DramatiqQueue(broker)
    locks = RecordingLocks(backends.redis, ttl_s=2 * settings.job_heartbeat_timeout_s)
    diarizing = DIARIZATION_QUEUE in settings.queue_list
    diarizer = _diarizer(settings, processes) if diarizing else None
    if diarizing and diarizer is None:
        return FATAL_EXIT
    diarization = _diarization_job(settings, backends, jobs, locks, diarizer) if diarizer else None
    declare_actors(
        broker,
        settings,
        _job(settings, backends, cache, jobs, locks),
        _deliverer(settings, backends, jobs),
        diarization,
    )
    workers = []
    if set(settings.transcription_queues) & set(settings.queue_list):
        workers.append(_transcription_worker(settings, broker, backends, cache, jobs, locks, stop))
    if diarizing:
        diarization_pool = (DIARIZATION, "cpu", "float32")
        _background(
            "earshot-announce-diarization",
            _announce,
            PoolRegistry(backends.redis),
            [DIARIZATION_QUEUE],
            diarization_pool,
            stop,
        )
        # One job at a time: the networks use every thread this process has.
        workers.append(dramatiq.Worker(broker, queues={DIARIZATION_QUEUE}, worker_threads=1, worker_timeout=100))
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
    if set(settings.queue_list) <= {WEBHOOK_QUEUE, DIARIZATION_QUEUE}:
        return settings  # a webhook or diarization worker loads no Whisper model
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
        enqueue_diarization=jobs.enqueue_diarization,
        can_diarize=ModelCatalog(
            settings.model, settings.transcription_queues[0], PoolRegistry(backends.redis)
        ).can_diarize,
    )


def _diarizer(settings: Settings, processes: int) -> Diarizer | None:
    """Load the diarization model before taking jobs; None (and why, on stderr) when this machine
    lacks the extra: such a worker must not take diarization jobs it would fail."""
    try:
        return load_diarizer(threads=settings.threads_per_model_call(processes))
    except DiarizationUnavailable as exc:
        log.error("the diarization worker cannot start", extra={"reason": exc.message})
        print(f"earshot worker: {exc.message}", file=sys.stderr)
        return None


def _diarization_job(
    settings: Settings, backends: Backends, jobs: DramatiqQueue, locks: RecordingLocks, diarizer: Diarizer
) -> DiarizationJob:
    return DiarizationJob(
        settings=settings,
        index=backends.index,
        storage=backends.storage,
        diarizer=lambda: diarizer,
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
        recording_gone=lambda recording_id: backends.index.get(recording_id) is None,
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
    pool = (model.name, model.device, model.compute_type)
    _background("earshot-announce", _announce, PoolRegistry(backends.redis), sorted(queues), pool, stop)
    catalog = ModelCatalog(settings.model, settings.transcription_queues[0], PoolRegistry(backends.redis))

    def requeue(recording: Recording) -> None:
        jobs.enqueue_transcription(recording.id, catalog.queue_for_recording(recording))

    events = EventPublisher(backends.webhooks, jobs.enqueue_delivery)
    outcomes = Outcomes(backends.index, events=events, metrics=JobMetrics(backends.redis))
    _background("earshot-sweeper", _sweep_forever, settings, backends, locks, requeue, outcomes.fail, stop)
    # Job threads download, probe and decode in parallel while the model runs one batch at a time
    # (see Settings.job_threads).
    # worker_timeout is how long an idle consumer waits between polls: it adds to idle latency.
    return dramatiq.Worker(broker, queues=queues, worker_threads=settings.job_threads, worker_timeout=100)


def _background(name: str, target: Callable[..., None], *args: object) -> None:
    threading.Thread(target=target, args=args, name=name, daemon=True).start()


# -- supervision: a worker node restarts its dead processes ------------------------------------------

FATAL_EXIT = 2
"""What `serve` (and argparse) exit with when a process cannot run on this machine at all (CUDA
missing, a bad argument): restarting it cannot help, so the node stops and says why."""

PR_SET_PDEATHSIG = 1


@dataclass
class Backoff:
    """Crash-loop backoff: 1 s before the first restart, doubling up to 60 s while the process keeps
    dying young; once a run lasted 60 s, the next restart waits 1 s again."""

    first_s: float = 1.0
    max_s: float = 60.0
    reset_after_s: float = 60.0
    current_s: float = 0.0

    def next_delay(self, uptime_s: float) -> float:
        """Seconds to wait before restarting a process that ran `uptime_s` before it died."""
        if self.current_s == 0.0 or uptime_s >= self.reset_after_s:
            self.current_s = self.first_s
        else:
            self.current_s = min(self.max_s, self.current_s * 2)
        return self.current_s


def exit_reason(returncode: int) -> str:
    """`killed by SIGKILL` (what the OOM killer does) or `exit code 1`."""
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit code {returncode}"


class RestartCounter:
    """Counts restarts in the cluster metrics (Redis), best effort: Redis may be what died."""

    def __init__(self, redis_url: str) -> None:
        self._url = redis_url
        self._client: redis.Redis | None = None

    def count(self, process: str) -> None:
        try:
            if self._client is None:
                # Short timeouts: a supervisor must never hang on its bookkeeping.
                self._client = redis.Redis.from_url(self._url, socket_connect_timeout=1, socket_timeout=1)
            JobMetrics(self._client).restart(process)
        except (ServiceUnavailable, redis.RedisError):
            log.warning("cannot count the restart: redis unavailable", extra={"restarted": process})

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


@dataclass
class _Slot:
    """One of a node's worker processes, across its restarts."""

    number: int
    popen: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    restart_at: float | None = None
    restarts: int = 0
    backoff: Backoff = field(default_factory=Backoff)


def run(settings: Settings, processes: int) -> int:
    """A worker node: `processes` worker processes (each `python -m workers`) under this parent,
    which restarts any that dies (an OOM kill, a crash) after a crash-loop backoff while the others
    keep working, until SIGTERM/SIGINT stops them all. A single process is supervised the same way."""
    setup_logging(settings.log_level, "worker")
    stop = threading.Event()
    _on_signals(lambda: stop.set())
    argv = [sys.executable, "-m", "workers", "--processes", str(processes)]
    env = {**os.environ, **settings.to_env()}
    slots = [_Slot(number) for number in range(max(1, processes))]
    counter = RestartCounter(settings.redis_url)
    fatal = False
    try:
        for slot in slots:
            _start_child(slot, argv, env)
        while not fatal and not stop.wait(0.2):
            fatal = any([_tend(slot, argv, env, counter) for slot in slots])
    finally:
        log.info("worker node stopping", extra={"restarts": sum(s.restarts for s in slots)})
        _stop_children(slots)
        counter.close()
    return FATAL_EXIT if fatal else 0


def _tend(slot: _Slot, argv: list[str], env: dict[str, str], counter: RestartCounter) -> bool:
    """Notice a dead process and schedule its restart, or restart it when its backoff is over.
    True when it cannot run here at all."""
    now = time.monotonic()
    if slot.popen is None:
        return False
    if slot.restart_at is None:
        code = slot.popen.poll()
        if code is None:
            return False
        uptime = now - slot.started
        if code == FATAL_EXIT:
            log.error("worker process cannot run here; stopping the node", extra={"slot": slot.number})
            return True
        delay = slot.backoff.next_delay(uptime)
        slot.restart_at = now + delay
        log.warning(
            "worker process died; restarting it",
            extra={
                "slot": slot.number,
                "child_pid": slot.popen.pid,
                "exit": exit_reason(code),
                "exit_code": code,
                "uptime_s": round(uptime, 1),
                "restart_in_s": delay,
            },
        )
    elif now >= slot.restart_at:
        slot.restarts += 1
        _start_child(slot, argv, env)
        counter.count("worker")
    return False


def _start_child(slot: _Slot, argv: list[str], env: dict[str, str]) -> None:
    libc = ctypes.CDLL(None) if sys.platform == "linux" else None

    def die_with_parent() -> None:
        # Before exec, in the child: SIGTERM it if this supervisor dies (even by SIGKILL), so that
        # no orphan keeps taking jobs beside the node that replaces us. This parent has no threads.
        if libc is not None:
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)

    slot.popen = subprocess.Popen(argv, env=env, preexec_fn=die_with_parent)
    slot.started = time.monotonic()
    slot.restart_at = None
    log.info(
        "worker process started", extra={"slot": slot.number, "child_pid": slot.popen.pid, "restarts": slot.restarts}
    )


def _stop_children(slots: list[_Slot]) -> None:
    live = [s.popen for s in slots if s.popen is not None and s.popen.poll() is None]
    for child in live:
        child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 20
    for child in live:
        try:
            child.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def _sweep_forever(
    settings: Settings,
    backends: Backends,
    locks: RecordingLocks,
    requeue: Callable[[Recording], None],
    fail: Fail,
    stop: threading.Event,
) -> None:
    # Every process sweeps at a random phase; the lease check and idempotent jobs make overlap harmless.
    stale_s = settings.job_stale_s
    while not stop.wait(max(1.0, stale_s / 2) * random.uniform(0.5, 1.0)):  # noqa: S311 - jitter, not secrets
        try:
            sweep(
                backends.redis_index, locks, requeue, stale_s=stale_s, storage=backends.storage,
                call_max_s=settings.call_max_s, fail=fail,
            )  # fmt: skip
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


def _announce(registry: PoolRegistry, queues: list[str], pool: tuple[str, str, str], stop: threading.Event) -> None:
    """Tell the API what this process serves on which queues (`pool`: model, device, compute type:
    a Whisper model, or `diarization`), until it stops."""
    worker_id = f"{os.getpid()}"
    while True:
        for queue in queues:
            try:
                registry.announce(queue, *pool, worker_id)
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
