"""Cluster-wide job metrics, kept in Redis so that one scrape of the API's /metrics sees them all.

Workers are many processes on many machines; instead of each exposing a port that Prometheus must
discover, every job adds its numbers to a few Redis hashes (HINCRBY, HINCRBYFLOAT: atomic, one
round trip per job), and the API's /metrics exports them as counters and histograms. Counters are
totals since the Redis data began, which is what Prometheus' rate() expects.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from dataclasses import dataclass

import redis

from engine.keyspace import KEYS, KeySpace
from engine.redisio import redis_errors, text_of

__all__ = ["PROCESSING_BUCKETS", "RTF_BUCKETS", "JobMetrics", "Snapshot"]

PROCESSING_BUCKETS = (0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
RTF_BUCKETS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0)


@dataclass(frozen=True)
class Snapshot:
    jobs: dict[tuple[str, str, str], int]
    """(outcome, model, error code) -> count"""
    audio_seconds: dict[str, float]
    """model -> seconds transcribed"""
    processing: dict[str, tuple[list[int], float, int]]
    """model -> (cumulative bucket counts, sum, count) of processing seconds"""
    rtf: dict[str, tuple[list[int], float, int]]
    """model -> the same for the real-time factor (processing seconds / audio seconds)"""
    webhooks: dict[str, int]
    """outcome -> deliveries"""
    restarts: dict[str, int]
    """process -> restarts by a supervisor"""


class JobMetrics:
    def __init__(self, client: redis.Redis, keys: KeySpace = KEYS) -> None:
        self._r = client
        self._k = keys

    def job(
        self,
        outcome: str,
        model: str,
        code: str = "",
        audio_s: float | None = None,
        processing_s: float | None = None,
    ) -> None:
        with redis_errors():
            pipe = self._r.pipeline(transaction=False)
            pipe.hincrby(self._k.job_counts, f"{outcome}|{model}|{code}", 1)
            if audio_s and processing_s is not None:
                pipe.hincrbyfloat(self._k.audio_seconds, model, audio_s)
                self._observe(pipe, "processing", model, processing_s, PROCESSING_BUCKETS)
                self._observe(pipe, "rtf", model, processing_s / audio_s, RTF_BUCKETS)
            pipe.execute()

    def webhook(self, outcome: str) -> None:
        with redis_errors():
            self._r.hincrby(self._k.webhook_counts, outcome, 1)

    def restart(self, process: str) -> None:
        """A supervisor restarted a process that died (`worker`, `redis-server`, `s3-server`, `api`)."""
        with redis_errors():
            self._r.hincrby(self._k.restart_counts, process, 1)

    def _observe(
        self, pipe: redis.client.Pipeline, name: str, model: str, value: float, buckets: tuple[float, ...]
    ) -> None:
        key = self._k.histogram(name, model)
        index = bisect.bisect_left(buckets, value)
        pipe.hincrby(key, str(buckets[index]) if index < len(buckets) else "+Inf", 1)
        pipe.hincrbyfloat(key, "sum", value)
        pipe.hincrby(key, "count", 1)

    def snapshot(self) -> Snapshot:
        with redis_errors():
            jobs = {tuple(text_of(k).split("|", 2)): int(v) for k, v in self._r.hgetall(self._k.job_counts).items()}
            audio = {text_of(k): float(v) for k, v in self._r.hgetall(self._k.audio_seconds).items()}
            webhooks = {text_of(k): int(v) for k, v in self._r.hgetall(self._k.webhook_counts).items()}
            restarts = {text_of(k): int(v) for k, v in self._r.hgetall(self._k.restart_counts).items()}
            processing = dict(self._histograms("processing", PROCESSING_BUCKETS))
            rtf = dict(self._histograms("rtf", RTF_BUCKETS))
        return Snapshot(
            jobs=jobs,  # type: ignore[arg-type]
            audio_seconds=audio,
            processing=processing,
            rtf=rtf,
            webhooks=webhooks,
            restarts=restarts,
        )

    def _histograms(self, name: str, buckets: tuple[float, ...]) -> Iterator[tuple[str, tuple[list[int], float, int]]]:
        for key in self._r.scan_iter(match=self._k.histogram_pattern(name), count=100):
            model = text_of(key)[len(self._k.histogram(name, "")) :]
            raw = {text_of(k): text_of(v) for k, v in self._r.hgetall(key).items()}
            cumulative, running = [], 0
            for bound in (*buckets, "+Inf"):
                running += int(raw.get(str(bound), 0))
                cumulative.append(running)
            yield model, (cumulative, float(raw.get("sum", 0)), int(raw.get("count", 0)))
