"""GET /metrics: Prometheus text. HTTP counts come from this process; job, queue and webhook
numbers come from Redis, where every worker adds its own (engine.metrics), so one scrape of any
API node sees the whole cluster."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import redis
from litestar import Response, get
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from engine.errors import ServiceUnavailable
from engine.jobs.routing import PoolRegistry
from engine.keyspace import BROKER_NAMESPACE
from engine.ops.metrics import PROCESSING_BUCKETS, RTF_BUCKETS, JobMetrics
from engine.redisio import redis_errors

__all__ = ["Metrics", "metrics_endpoint"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _ClusterCollector(Collector):
    def __init__(self, jobs: JobMetrics, client: redis.Redis, pools: PoolRegistry, default_queue: str) -> None:
        self._jobs = jobs
        self._r = client
        self._pools = pools
        self._default_queue = default_queue

    def collect(self) -> Iterator[Any]:
        try:
            snap = self._jobs.snapshot()
            queues = self._queue_depths()
        except ServiceUnavailable:
            return
        jobs = CounterMetricFamily(
            "earshot_jobs", "Transcription jobs by outcome (and error code)", labels=["outcome", "model", "code"]
        )
        for (outcome, model, code), n in sorted(snap.jobs.items()):
            jobs.add_metric([outcome, model, code], n)
        yield jobs
        audio = CounterMetricFamily("earshot_audio_seconds", "Audio seconds transcribed", labels=["model"])
        for model, seconds in sorted(snap.audio_seconds.items()):
            audio.add_metric([model], seconds)
        yield audio
        for name, doc, data, bounds in (
            ("earshot_processing_seconds", "Model time per recording", snap.processing, PROCESSING_BUCKETS),
            ("earshot_real_time_factor", "Processing seconds per audio second", snap.rtf, RTF_BUCKETS),
        ):
            family = HistogramMetricFamily(name, doc, labels=["model"])
            for model, (cumulative, total, _count) in sorted(data.items()):
                edges = [str(b) for b in bounds] + ["+Inf"]
                family.add_metric([model], list(zip(edges, cumulative, strict=True)), total)
            yield family
        hooks = CounterMetricFamily("earshot_webhook_deliveries", "Webhook delivery attempts", labels=["outcome"])
        for outcome, n in sorted(snap.webhooks.items()):
            hooks.add_metric([outcome], n)
        yield hooks
        restarts = CounterMetricFamily(
            "earshot_process_restarts", "Processes restarted by a supervisor after they died", labels=["process"]
        )
        for process, n in sorted(snap.restarts.items()):
            restarts.add_metric([process], n)
        yield restarts
        depth = GaugeMetricFamily("earshot_queue_depth", "Messages waiting per queue", labels=["queue"])
        for queue, n in sorted(queues.items()):
            depth.add_metric([queue], n)
        yield depth

    def _queue_depths(self) -> dict[str, int]:
        names = {self._default_queue, "webhooks"} | {p.queue for p in self._pools.live()}
        with redis_errors():
            pipe = self._r.pipeline(transaction=False)
            for name in sorted(names):
                pipe.llen(f"{BROKER_NAMESPACE}:{name}")
                pipe.zcard(f"{BROKER_NAMESPACE}:{name}.DQ")  # delayed (retries, webhook backoff)
            counts = pipe.execute()
        return {name: int(counts[2 * i]) + int(counts[2 * i + 1]) for i, name in enumerate(sorted(names))}


class Metrics:
    """This API process's registry: HTTP requests plus the cluster collector."""

    def __init__(self, client: redis.Redis, default_queue: str) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.requests = Counter(
            "earshot_http_requests", "HTTP requests", ["method", "route", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "earshot_http_request_duration_seconds",
            "HTTP request duration",
            ["route"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
        )
        self.registry.register(_ClusterCollector(JobMetrics(client), client, PoolRegistry(client), default_queue))

    def middleware(self, app: ASGIApp) -> ASGIApp:
        async def measured(scope: Scope, receive: Receive, send: Send) -> None:
            if str(scope["type"]) != "http":
                await app(scope, receive, send)
                return
            started = time.perf_counter()
            status = [500]

            async def capture(message: Message) -> None:
                if message["type"] == "http.response.start":
                    status[0] = int(message["status"])
                await send(message)

            try:
                await app(scope, receive, capture)
            finally:
                route = scope.get("path_template") or "unmatched"
                self.requests.labels(scope.get("method", ""), route, str(status[0])).inc()
                self.latency.labels(route).observe(time.perf_counter() - started)

        return measured

    def render(self) -> bytes:
        return generate_latest(self.registry)


@get("/metrics", sync_to_thread=True, include_in_schema=True, tags=["service"])
def metrics_endpoint(metrics: Metrics) -> Response[bytes]:
    """Prometheus text exposition: requests, queue depth, jobs by outcome, audio seconds, real-time
    factor and processing time histograms, webhook deliveries by outcome."""
    return Response(metrics.render(), media_type=CONTENT_TYPE)
