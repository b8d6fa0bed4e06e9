"""Multi-recording batching: short recordings waiting at the same time share one model batch.

faster-whisper batches the chunks of one file; it has no way to batch several files (its issue
#1264). Here each worker process runs several job threads (download, probe and decode overlap),
and every model call goes through one scheduler thread. Requests for short audio (≤ 30 s) that
are waiting together, with the same options, are decoded as one batch; long audio is decoded on
its own. Under load batches fill by themselves; when idle a request waits at most `wait_s`.

Every short clip goes through the same batched path even when it is alone, so a recording's
transcript does not depend on what else happened to be in the queue.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import msgspec
import numpy as np

from engine.transcription.whisper import (
    MAX_CLIP_SECONDS,
    SAMPLE_RATE,
    Progress,
    TranscribeOptions,
    TranscriptResult,
    WhisperTranscriber,
)

__all__ = ["BatchingTranscriber"]

log = logging.getLogger("earshot.batching")


@dataclass
class _Request:
    audio: np.ndarray[Any, Any]
    options: TranscribeOptions
    on_progress: Progress | None
    future: Future[TranscriptResult] = field(default_factory=Future)

    @property
    def short(self) -> bool:
        return len(self.audio) / SAMPLE_RATE <= MAX_CLIP_SECONDS


class BatchingTranscriber:
    def __init__(self, inner: WhisperTranscriber, *, batch_size: int = 8, wait_s: float = 0.05) -> None:
        self.name = inner.name
        self.device = inner.device
        self.compute_type = inner.compute_type
        self._inner = inner
        self._batch_size = batch_size
        self._wait_s = wait_s
        self._pending: queue.Queue[_Request] = queue.Queue()
        self.batches: list[int] = []
        """Sizes of the batches run so far (kept short; for logs, metrics and tests)."""
        threading.Thread(target=self._loop, name="earshot-batcher", daemon=True).start()

    def transcribe(
        self, audio: np.ndarray[Any, Any], options: TranscribeOptions, on_progress: Progress | None = None
    ) -> TranscriptResult:
        request = _Request(audio, options, on_progress)
        if request.short and options.language is None:
            if self._inner.multilingual:
                # Batch-mates must share a language: detect it first (one encoder pass).
                language, probability = self._inner.detect_language(audio)
                request.options = msgspec.structs.replace(options, language=language)
                result = self._submit(request)
                result.language_probability = round(probability, 4)
                return result
            request.options = msgspec.structs.replace(options, language="en")
        return self._submit(request)

    def _submit(self, request: _Request) -> TranscriptResult:
        self._pending.put(request)
        return request.future.result()

    def _loop(self) -> None:
        held: list[_Request] = []
        while True:
            first = held.pop(0) if held else self._pending.get()
            if not first.short:
                self._run_alone(first)
                continue
            batch = [first]
            deadline = time.monotonic() + self._wait_s
            while len(batch) < self._batch_size:
                try:
                    nxt = self._pending.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if nxt.short and nxt.options == first.options:
                    batch.append(nxt)
                else:
                    held.append(nxt)
            self._run_batch(batch)

    def _run_alone(self, request: _Request) -> None:
        try:
            request.future.set_result(self._inner.transcribe(request.audio, request.options, request.on_progress))
        except Exception as exc:  # noqa: BLE001 - handed to the waiting job thread
            request.future.set_exception(exc)

    def _run_batch(self, batch: list[_Request]) -> None:
        self.batches = [*self.batches[-99:], len(batch)]
        try:
            results = self._inner.transcribe_clips([r.audio for r in batch], batch[0].options)
        except Exception as exc:  # noqa: BLE001 - every waiting job thread gets the error
            for request in batch:
                request.future.set_exception(exc)
            return
        log.debug("batch", extra={"size": len(batch)})
        for request, result in zip(batch, results, strict=True):
            request.future.set_result(result)
