"""Benchmark inputs made from the shared recordings (../shared/audio), described where they are used."""

from __future__ import annotations

import os
import wave
from pathlib import Path
from typing import Any

import numpy as np

from engine.transcription import audio

__all__ = ["AUDIO", "LONG_PARTS", "make_long_files"]

AUDIO = Path(os.environ.get("EARSHOT_TEST_AUDIO", Path(__file__).resolve().parents[2] / "shared" / "audio"))
LONG_PARTS = ["silero_speech.wav", "jfk.flac", "espeak_1.wav", "espeak_2.wav", "espeak_3.wav", "stereo_diarization.wav"]


def make_long_files(out: Path, count: int, minutes: float) -> list[Path]:
    """Long English recordings: the shared clips decoded to 16 kHz mono and concatenated, each file
    in a rotated order, written as 16-bit WAV."""
    parts = [audio.decode(AUDIO / p) for p in LONG_PARTS]
    files = []
    for n in range(count):
        order = parts[n:] + parts[:n]
        pieces: list[np.ndarray[Any, Any]] = []
        total = 0
        while total < minutes * 60 * audio.SAMPLE_RATE:
            for piece in order:
                pieces.append(piece)
                total += len(piece)
        samples = np.clip(np.concatenate(pieces), -1.0, 1.0)
        target = out / f"long{n}.wav"
        with wave.open(str(target), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(audio.SAMPLE_RATE)
            w.writeframes((samples * 32767).astype("<i2").tobytes())
        files.append(target)
    return files
