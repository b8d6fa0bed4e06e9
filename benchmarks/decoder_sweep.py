"""`python -m benchmarks.decoder_sweep`: per-window cost of `WindowDecoder` by batch size and threads.

Audio: (silero_speech, jfk, espeak_1, espeak_2, espeak_3) decoded to 16 kHz and concatenated three
times (about 4 minutes), cut with `cut_windows` (≤ 30 s, cuts at quiet points); the first 8 windows
are the work. For each `cpu_threads` (a model loaded per setting) and batch size, the 8 windows are
decoded in consecutive batches of that size (encode_batch = batch size): encoder, generation with
fallback, word alignment, all timed together, after one warm-up batch. Printed per window, in ms.

`bucket 1 s` is the decoder's default (timestamps past a window's audio suppressed, rounded up to
1 s, so windows of different lengths generate in separate calls); `bucket 30 s` lets every window
of a batch share one generate call. `same` says whether the text equals that of batch size 1.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

import models
from engine.transcription.audio import decode
from engine.transcription.decoder import WindowDecoder, WindowItem
from engine.transcription.whisper import WhisperTranscriber
from engine.transcription.windows import cut_windows

AUDIO = Path(os.environ.get("EARSHOT_TEST_AUDIO", Path(__file__).resolve().parents[2] / "shared" / "audio"))
CLIPS = ("silero_speech.wav", "jfk.flac", "espeak_1.wav", "espeak_2.wav", "espeak_3.wav")


def windows(count: int) -> list[WindowItem]:
    audio = np.concatenate([decode(AUDIO / name) for name in CLIPS] * 3)
    cut = cut_windows(audio)[:count]
    return [WindowItem(np.ascontiguousarray(w.take(audio)), w.start_seconds) for w in cut]


def run(decoder: WindowDecoder, items: list[WindowItem], batch: int) -> tuple[float, list[str]]:
    decoder.decode(items[:batch])  # warm-up
    texts: list[str] = []
    start = time.perf_counter()
    for i in range(0, len(items), batch):
        texts.extend(r.text for r in decoder.decode(items[i : i + batch]))
    return (time.perf_counter() - start) * 1000 / len(items), texts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[2, 1])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--windows", type=int, default=8)
    args = parser.parse_args()
    items = windows(args.windows)
    lengths = ", ".join(f"{len(i.samples) / 16000:.1f}" for i in items)
    print(f"{len(items)} windows of speech, seconds: {lengths}; {os.cpu_count()} CPUs")
    print(f"{'threads':>7} {'batch':>5} {'ms/window (bucket 1 s)':>23} {'ms/window (bucket 30 s)':>24} {'same':>5}")
    for threads in args.threads:
        model: Any = WhisperTranscriber(models.resolve("tiny.en"), name="tiny.en", cpu_threads=threads)._model
        reference: list[str] | None = None
        for batch in args.batches:
            default_ms, texts = run(WindowDecoder(model, encode_batch=batch), items, batch)
            shared_ms, _ = run(WindowDecoder(model, encode_batch=batch, timestamp_bucket_seconds=30.0), items, batch)
            reference = reference or texts
            same = "yes" if texts == reference else "no"
            print(f"{threads:>7} {batch:>5} {default_ms:>23.0f} {shared_ms:>24.0f} {same:>5}")


if __name__ == "__main__":
    main()
