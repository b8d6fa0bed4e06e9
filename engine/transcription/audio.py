"""Probing and decoding with ffmpeg (through ffmpeg-python): what the file is, and its samples."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import ffmpeg
import msgspec
import numpy as np

from engine.errors import InvalidAudio

__all__ = ["SAMPLE_RATE", "AudioInfo", "decode", "probe"]

SAMPLE_RATE = 16000
PROBE_TIMEOUT_S = 120


class AudioInfo(msgspec.Struct, kw_only=True):
    duration_seconds: float | None
    sample_rate: int | None
    channels: int | None
    audio_codec: str | None
    bit_rate: int | None
    format_names: list[str]


def _num(value: Any, kind: type[int] | type[float]) -> Any:
    try:
        return kind(float(value)) if kind is int else kind(value)
    except (TypeError, ValueError):
        return None


def probe(path: Path) -> AudioInfo:
    """ffprobe the file. No audio stream, or nothing ffprobe understands, is InvalidAudio.

    ffprobe is run directly rather than through `ffmpeg.probe`: ffmpeg-python 0.2.0's probe
    cannot time out, and a crafted file must not hold a worker for the whole job time limit."""
    argv = ["ffprobe", "-v", "error", "-show_format", "-show_streams", "-of", "json", str(path)]
    try:
        done = subprocess.run(argv, capture_output=True, timeout=PROBE_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise InvalidAudio("ffprobe timed out reading the file") from None
    if done.returncode != 0:
        raise InvalidAudio(f"ffprobe could not read the file: {_last_line(done.stderr)}")
    try:
        info = json.loads(done.stdout)
    except ValueError:
        raise InvalidAudio("ffprobe could not read the file") from None
    streams = [s for s in info.get("streams", []) if s.get("codec_type") == "audio"]
    if not streams:
        raise InvalidAudio("the file has no audio stream")
    stream = streams[0]
    fmt = info.get("format", {})
    duration = _num(fmt.get("duration"), float) or _num(stream.get("duration"), float)
    return AudioInfo(
        duration_seconds=round(duration, 3) if duration else None,
        sample_rate=_num(stream.get("sample_rate"), int),
        channels=_num(stream.get("channels"), int),
        audio_codec=stream.get("codec_name"),
        bit_rate=_num(stream.get("bit_rate"), int) or _num(fmt.get("bit_rate"), int),
        format_names=[n for n in str(fmt.get("format_name", "")).split(",") if n],
    )


def decode(path: Path, max_seconds: float | None = None) -> np.ndarray[Any, np.dtype[np.float32]]:
    """Decode the first audio stream to 16 kHz mono float32, as Whisper wants it.

    With `max_seconds`, ffmpeg stops a little past it: a file whose header hides its length (a
    browser's webm has none) cannot make the decode outgrow memory; the caller sees the length
    is over the limit and fails the recording."""
    limit = {"t": f"{max_seconds + 1:.3f}"} if max_seconds else {}
    try:
        out, _ = (
            ffmpeg.input(str(path))
            .output("pipe:", format="f32le", acodec="pcm_f32le", ac=1, ar=SAMPLE_RATE, map="0:a:0", **limit)
            .global_args("-nostdin", "-hide_banner", "-loglevel", "error")
            .run(capture_stdout=True, capture_stderr=True)
        )
    except ffmpeg.Error as exc:
        raise InvalidAudio(f"ffmpeg could not decode the audio: {_last_line(exc.stderr)}") from None
    samples = np.frombuffer(out, dtype=np.float32)
    if samples.size == 0:
        raise InvalidAudio("the file contains no audio samples")
    return samples


def _last_line(stderr: bytes | None) -> str:
    lines = (stderr or b"").decode("utf-8", "replace").strip().splitlines()
    # ffmpeg names the input path in its messages; keep only what follows it.
    text = lines[-1] if lines else "unknown error"
    return text.rsplit(": ", 1)[-1][:200]
