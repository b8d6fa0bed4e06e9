"""Probing with ffprobe (through ffmpeg-python): what the file is; decoding with FFmpeg's libraries
in process (PyAV): its samples, as a stream."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ffmpeg
import msgspec
import numpy as np

from engine.errors import AudioTooLong, InvalidAudio

__all__ = ["SAMPLE_RATE", "AudioInfo", "decode", "decode_stream", "probe"]

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


def decode(
    path: Path, max_seconds: float | None = None, channel: int | None = None
) -> np.ndarray[Any, np.dtype[np.float32]]:
    """Decode the first audio stream to 16 kHz mono float32, as Whisper wants it (whole, for
    sequential decoding; `decode_stream` gives the same samples block by block)."""
    return np.concatenate(list(decode_stream(path, max_seconds=max_seconds, channel=channel)))


def decode_stream(
    path: Path, max_seconds: float | None = None, block_seconds: float = 10.0, channel: int | None = None
) -> Iterator[np.ndarray[Any, np.dtype[np.float32]]]:
    """Decode the first audio stream to 16 kHz mono float32 blocks of `block_seconds`, as they are
    decoded, so a long file is never whole in memory.

    Decoding runs in this process with FFmpeg's own libraries (through PyAV, which faster-whisper
    already uses to read files): spawning an `ffmpeg` process per recording costs about 65 ms of
    CPU, as much as the model spends on a second of audio. Packets FFmpeg cannot decode are skipped
    (a truncated file gives what it holds); a file with no decodable audio raises `InvalidAudio`.
    Past `max_seconds` it raises `AudioTooLong`: the length a header claims is not trusted.
    `channel` (0-based): that channel alone instead of the mix of all (per-channel transcription)."""
    import av  # FFmpeg's libraries: only where audio is decoded

    block = int(block_seconds * SAMPLE_RATE)
    limit = None if max_seconds is None else int(max_seconds * SAMPLE_RATE)
    pending: list[np.ndarray[Any, np.dtype[np.float32]]] = []
    held = total = 0
    for samples in _pcm(path, av, max_seconds, channel):
        total += samples.size
        if limit is not None and total > limit:
            raise AudioTooLong(f"the audio lasts more than {max_seconds:.0f} s")
        pending.append(samples)
        held += samples.size
        if held >= block:
            yield np.concatenate(pending)
            pending, held = [], 0
    if held:
        yield np.concatenate(pending)
    if total == 0:
        raise InvalidAudio("the file contains no audio samples")


def _pcm(
    path: Path, av: Any, max_seconds: float | None, channel: int | None = None
) -> Iterator[np.ndarray[Any, np.dtype[np.float32]]]:
    """PyAV's FFmpeg first; where its build cannot open the file or has no decoder for the
    stream, the system's `ffmpeg` command (through ffmpeg-python), whose codecs may differ."""
    try:
        container = av.open(str(path), metadata_errors="ignore")
        if container.streams.audio:
            container.streams.audio[0].codec_context  # noqa: B018 - raises when no decoder exists
    except (av.FFmpegError, UnicodeDecodeError, ValueError):
        yield from _pcm_ffmpeg(path, max_seconds, channel)
        return
    with container:
        if not container.streams.audio:
            raise InvalidAudio("the file has no audio stream")
        stream = container.streams.audio[0]
        if channel is not None and channel >= stream.codec_context.channels:
            raise InvalidAudio(f"the audio has no channel {channel + 1}")
        # One channel: planar at the source's layout, then that plane; else FFmpeg's downmix.
        resampler = av.AudioResampler(
            format="flt" if channel is None else "fltp", layout="mono" if channel is None else None, rate=SAMPLE_RATE
        )
        for packet in container.demux(stream):
            try:
                frames = packet.decode()
            except av.FFmpegError:
                continue  # a damaged packet: skip it, as the ffmpeg command line does
            for frame in frames:
                for out in resampler.resample(frame):
                    yield _plane(out.to_ndarray(), channel)
        for out in resampler.resample(None):
            yield _plane(out.to_ndarray(), channel)


def _plane(array: np.ndarray[Any, Any], channel: int | None) -> np.ndarray[Any, np.dtype[np.float32]]:
    return np.ascontiguousarray(array.reshape(-1) if channel is None else array[channel], dtype=np.float32)


def _pcm_ffmpeg(
    path: Path, max_seconds: float | None, channel: int | None = None
) -> Iterator[np.ndarray[Any, np.dtype[np.float32]]]:
    limit: dict[str, str] = {"t": f"{max_seconds + 1:.3f}"} if max_seconds else {}
    if channel is not None:
        limit["af"] = f"pan=mono|c0=c{channel}"
    process = (
        ffmpeg.input(str(path))
        .output("pipe:", format="f32le", acodec="pcm_f32le", ac=1, ar=SAMPLE_RATE, map="0:a:0", **limit)
        .global_args("-nostdin", "-hide_banner", "-loglevel", "error")
        .run_async(pipe_stdout=True, pipe_stderr=True)
    )
    try:
        while chunk := process.stdout.read(1 << 20):
            yield np.frombuffer(chunk[: len(chunk) // 4 * 4], dtype=np.float32)
        stderr = process.stderr.read()
        if process.wait() != 0:
            raise InvalidAudio(f"ffmpeg could not decode the audio: {_last_line(stderr)}")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
        process.stderr.close()


def _last_line(stderr: bytes | None) -> str:
    lines = (stderr or b"").decode("utf-8", "replace").strip().splitlines()
    # ffmpeg names the input path in its messages; keep only what follows it.
    text = lines[-1] if lines else "unknown error"
    return text.rsplit(": ", 1)[-1][:200]
