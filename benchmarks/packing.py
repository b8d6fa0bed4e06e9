"""`python -m benchmarks.packing [--gap S]`: would packing several short clips into one 30 s window pay?

A rejected idea, kept measurable. Every window costs one encoder pass over 30 s whatever it holds,
so a 5 s clip pays for 25 s of padding; packing clips (with `--gap` seconds of silence between them)
into one window shares that pass. This decodes 13 short clips from `../shared/audio` (the throughput
benchmark's kinds: read speech, synthetic speech, meeting slices) each alone and then packed, on one
thread with tiny.en, and prints the model time of both and, per clip, the WER of the packed words
(assigned to clips by time) against the clip decoded alone. Packing conditions each clip on the
text of the clips before it in the window, which is what changes the words.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np

import models
from benchmarks.data import AUDIO
from benchmarks.wer import wer
from engine.transcription import audio
from engine.transcription.decoder import WindowDecoder, WindowItem, WindowResult
from engine.transcription.whisper import WhisperTranscriber

SR = 16000
WINDOW_S = 30.0


def _slice(name: str, start: float, end: float) -> np.ndarray[Any, Any]:
    return audio.decode(AUDIO / name)[int(start * SR) : int(end * SR)]


def clips() -> list[tuple[str, np.ndarray[Any, Any]]]:
    whole = ["jfk.flac", "espeak_1.wav", "espeak_2.wav", "espeak_3.wav"]
    out = [(name, audio.decode(AUDIO / name)) for name in whole]
    spans = [
        ("silero_speech.wav", 0, 7), ("silero_speech.wav", 7, 16), ("silero_speech.wav", 16, 28),
        ("silero_speech.wav", 28, 38), ("diarization/dev00.wav", 0, 12), ("diarization/dev00.wav", 12, 18),
        ("diarization/dev01.wav", 0, 14), ("diarization/sample.wav", 9, 21),
    ]  # fmt: skip
    out += [(f"{Path(n).stem}-{a:02d}-{b:02d}", _slice(n, a, b)) for n, a, b in spans]
    out.append(("hotwords.mp3", audio.decode(AUDIO / "hotwords.mp3")))
    return out


def _words(result: WindowResult, start: float | None = None, end: float | None = None) -> str:
    return " ".join(
        w.word.strip()
        for s in result.segments
        for w in s.words
        if start is None or end is None or start <= (w.start + w.end) / 2 < end
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--gap", type=float, default=1.0, help="seconds of silence between packed clips")
    args = parser.parse_args()
    gap = int(args.gap * SR)
    decoder = WindowDecoder.from_transcriber(
        WhisperTranscriber(models.resolve("tiny.en"), name="tiny.en", cpu_threads=1)
    )
    pieces = clips()
    decoder.decode([WindowItem(samples=pieces[0][1])])  # warm
    started = time.perf_counter()
    alone = {name: _words(decoder.decode([WindowItem(samples=x)])[0]) for name, x in pieces}
    alone_s = time.perf_counter() - started

    packs: list[list[tuple[str, np.ndarray[Any, Any]]]] = [[]]
    for name, x in pieces:
        used = sum(len(p) + gap for _, p in packs[-1])
        if packs[-1] and used + len(x) > WINDOW_S * SR:
            packs.append([])
        packs[-1].append((name, x))
    packed: dict[str, str] = {}
    started = time.perf_counter()
    for pack in packs:
        parts, spans, at = [], [], 0
        for name, x in pack:
            spans.append((name, at / SR, (at + len(x)) / SR))
            parts += [x, np.zeros(gap, np.float32)]
            at += len(x) + gap
        result = decoder.decode([WindowItem(samples=np.concatenate(parts)[: int(WINDOW_S * SR)])])[0]
        for name, a, b in spans:
            packed[name] = _words(result, a - args.gap / 2, b + args.gap / 2)
    packed_s = time.perf_counter() - started

    print(f"{len(pieces)} clips, gap {args.gap:g} s: alone {alone_s:.2f} s, packed into {len(packs)} windows "
          f"{packed_s:.2f} s: {alone_s / packed_s:.2f}x")  # fmt: skip
    print("| clip | words alone | words packed | WER packed vs alone |")
    print("|---|---:|---:|---:|")
    scores = []
    for name, _ in pieces:
        scores.append(wer(alone[name], packed[name]))
        print(f"| {name} | {len(alone[name].split())} | {len(packed[name].split())} | {scores[-1]:.3f} |")
    print(f"mean WER packed vs alone {sum(scores) / len(scores):.3f}, worst {max(scores):.3f}")


if __name__ == "__main__":
    main()
