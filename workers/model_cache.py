"""One loaded model per (name) per worker process, loaded once and reused by every job."""

from __future__ import annotations

import logging
import threading
import time

import models
from engine.settings import Settings
from engine.transcription.batching import BatchingTranscriber
from engine.transcription.scheduler import WindowScheduler
from engine.transcription.whisper import Transcriber, WhisperTranscriber

__all__ = ["ModelCache"]

log = logging.getLogger("earshot.worker")


class ModelCache:
    def __init__(self, settings: Settings, *, cpu_threads: int) -> None:
        self._settings = settings
        self._threads = cpu_threads
        self._models: dict[str, Transcriber] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> Transcriber:
        with self._lock:
            model = self._models.get(name)
            if model is None:
                started = time.perf_counter()
                whisper = WhisperTranscriber(
                    models.resolve(name, self._settings.models_path),
                    name=name,
                    device=self._settings.device,
                    compute_type=self._settings.compute_type,
                    cpu_threads=self._threads,
                    num_workers=self._settings.model_threads,
                )
                model = whisper
                if self._settings.decoding == "windows":
                    model = WindowScheduler(
                        whisper,
                        batch_size=self._settings.effective_batch_size,
                        model_threads=self._settings.model_threads,
                    )
                elif self._settings.effective_batch_size > 1:
                    model = BatchingTranscriber(
                        whisper,
                        batch_size=self._settings.effective_batch_size,
                        wait_s=self._settings.batch_wait_ms / 1000,
                    )
                self._models[name] = model
                log.info(
                    "model loaded",
                    extra={
                        "model": name,
                        "device": model.device,
                        "compute_type": model.compute_type,
                        "cpu_threads": self._threads,
                        "seconds": round(time.perf_counter() - started, 2),
                    },
                )
            return model
