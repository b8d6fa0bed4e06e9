"""`python -m benchmarks.throughput`: Earshot end to end against the best plain faster-whisper
script on this machine, with accuracy against sequential decoding printed per file.

Sides, all with the same model (tiny.en), compute type (int8 on CPU), beam 5, word timestamps on:
- plain sequential: one process, `WhisperModel(cpu_threads=cores).transcribe`, files one by one;
  its transcripts are the accuracy reference ("sequential decoding");
- best plain script: one process per core, `cpu_threads=1`, files shared out through a queue
  (a `multiprocessing.Pool`, models loaded and warmed before the clock starts);
- Earshot: the whole stack as real processes (redis-server, the S3 server, the API, workers with
  their defaults), every file uploaded over HTTP, the clock stopped when the last is transcribed.

Workloads (made from ../shared/audio, see benchmarks/README.md): 24+ short uploads of 3-16 s and
4 files of 100 s, one of which has long pauses, noise and music, and one a change of speakers.
Also: idle latency of one 11 s clip, and a worker's peak RSS for a 2-hour file against a 10-minute one.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
import wave
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

from benchmarks.__main__ import Stack, duration_of, peak_rss_mib, run_through_stack, services, stack, write_section
from benchmarks.data import AUDIO
from benchmarks.wer import wer
from engine.settings import Settings
from engine.transcription import audio

README = Path(__file__).with_name("README.md")
SR = audio.SAMPLE_RATE
BEAM = 5


# -- inputs ------------------------------------------------------------------------------------


def write_wav(path: Path, samples: np.ndarray[Any, Any]) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SR)
        w.writeframes((np.clip(samples, -1.0, 1.0) * 32767).astype("<i2").tobytes())
    return path


def load(name: str) -> np.ndarray[Any, Any]:
    return audio.decode(AUDIO / name)


def silence(seconds: float) -> np.ndarray[Any, Any]:
    return np.zeros(int(seconds * SR), dtype=np.float32)


def pink_noise(seconds: float, level: float = 0.05, seed: int = 1) -> np.ndarray[Any, Any]:
    rng = np.random.default_rng(seed)
    white = rng.standard_normal(int(seconds * SR))
    spectrum = np.fft.rfft(white)
    spectrum /= np.sqrt(np.maximum(np.arange(len(spectrum)), 1))
    pink = np.fft.irfft(spectrum, n=len(white))
    return (pink / np.abs(pink).max() * level).astype(np.float32)


def music(seconds: float, level: float = 0.1) -> np.ndarray[Any, Any]:
    """Chords of sines with a beat envelope: tonal, rhythmic, no words."""
    t = np.arange(int(seconds * SR)) / SR
    chords = [(261.6, 329.6, 392.0), (220.0, 261.6, 329.6), (174.6, 220.0, 261.6), (196.0, 246.9, 293.7)]
    out = np.zeros_like(t)
    for i, chord in enumerate(chords * int(seconds // 2 + 1)):
        part = (t >= i * 0.5) & (t < (i + 1) * 0.5)
        for f in chord:
            out[part] += np.sin(2 * np.pi * f * t[part])
    envelope = 0.6 + 0.4 * np.cos(2 * np.pi * 2 * t)
    return (out / 3 * envelope * level).astype(np.float32)


def fit(parts: list[np.ndarray[Any, Any]], seconds: float) -> np.ndarray[Any, Any]:
    """Concatenate `parts` (cycling) and cut to exactly `seconds`."""
    out: list[np.ndarray[Any, Any]] = []
    total, i = 0, 0
    while total < seconds * SR:
        out.append(parts[i % len(parts)])
        total += len(parts[i % len(parts)])
        i += 1
    return np.concatenate(out)[: int(seconds * SR)]


def short_clips(work: Path) -> list[Path]:
    """Uploads of 3-16 s: the referenced clips as they are, plus slices of longer speech
    (silero_speech, the diarization recordings) cut at fixed points."""
    files = [AUDIO / n for n in ("jfk.flac", "espeak_1.wav", "espeak_2.wav", "espeak_3.wav", "hotwords.mp3")]
    files.append(AUDIO / "stereo_diarization.wav")
    cuts = {
        "silero_speech.wav": [(0, 7), (7, 16), (16, 28), (28, 38), (38, 52), (52, 60)],
        "diarization/sample.wav": [(0, 9), (9, 21), (21, 30)],
        "diarization/dev00.wav": [(0, 12), (12, 18), (18, 30)],
        "diarization/dev01.wav": [(0, 14), (14, 30)],
        "diarization/trn01.wav": [(0, 10), (10, 20), (20, 30)],
        "multilingual.mp3": [(0, 9)],
    }
    for name, spans in cuts.items():
        samples = load(name)
        for a, b in spans:
            piece = samples[int(a * SR) : int(b * SR)]
            files.append(write_wav(work / f"short-{Path(name).stem}-{a:02d}-{b:02d}.wav", piece))
    return files


def long_files(work: Path, seconds: float = 100.0) -> list[Path]:
    speech = [load(n) for n in ("silero_speech.wav", "jfk.flac", "espeak_1.wav", "espeak_2.wav", "espeak_3.wav")]
    meeting = [load(f"diarization/{n}.wav") for n in ("sample", "dev00", "dev01", "trn01")]
    mixed = [
        speech[1], silence(8), speech[2], pink_noise(6), speech[0][: 20 * SR], music(6), silence(10),
        speech[3], meeting[0][: 12 * SR], silence(5), speech[4],
    ]  # fmt: skip
    specs = {
        "long-read-speech": speech,
        "long-meeting-speakers": meeting,
        "long-pauses-noise-music": mixed,
        "long-rotated": [*meeting[2:], *speech[::-1]],
    }
    return [write_wav(work / f"{name}.wav", fit(parts, seconds)) for name, parts in specs.items()]


def hours_file(work: Path, hours: float, name: str) -> Path:
    """A long recording made of the read-speech file repeated (as 16-bit WAV, streamed to disk)."""
    unit = fit([load("silero_speech.wav"), load("jfk.flac"), silence(2), load("espeak_2.wav")], 600.0)
    pcm = (np.clip(unit, -1, 1) * 32767).astype("<i2").tobytes()
    path = work / name
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SR)
        for _ in range(max(1, round(hours * 6))):
            w.writeframes(pcm)
    return path


# -- plain faster-whisper ------------------------------------------------------------------------


_model: Any = None


def _load(threads: int) -> None:
    global _model
    from faster_whisper import WhisperModel

    import models

    _model = WhisperModel(models.resolve("tiny.en"), device="cpu", compute_type="int8", cpu_threads=threads)
    _transcribe(str(AUDIO / "jfk.flac"))  # warm


def _transcribe(path: str) -> tuple[str, str]:
    segments, _ = _model.transcribe(path, beam_size=BEAM, word_timestamps=True)
    return path, " ".join(s.text.strip() for s in segments)


def plain_sequential(files: list[Path], cores: int) -> tuple[float, dict[str, str]]:
    _load(cores)
    started = time.perf_counter()
    texts = dict(_transcribe(str(f)) for f in files)
    return time.perf_counter() - started, texts


def best_plain_script(files: list[Path], cores: int) -> tuple[float, dict[str, str]]:
    """One process per core with one thread each; files handed out one at a time as processes
    free up (longest first, so no process is left with a long file at the end)."""
    ordered = sorted(files, key=duration_of, reverse=True)
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(cores, initializer=_load, initargs=(1,)) as pool:
        pool.map(_noop, range(cores * 4))  # every process has loaded and warmed its model
        started = time.perf_counter()
        texts = dict(pool.imap_unordered(_transcribe, [str(f) for f in ordered], chunksize=1))
        return time.perf_counter() - started, texts


def _noop(_: int) -> None:
    time.sleep(0.2)


# -- Earshot ---------------------------------------------------------------------------------------


def earshot(work: Path, settings: Settings, files: list[Path], processes: int) -> tuple[float, dict[str, str]]:
    with stack(work, settings, worker_processes=processes) as s:
        run_through_stack(s, [AUDIO / "jfk.flac"] * processes)  # warm
        wall, texts, _ = run_through_stack(s, files)
    return wall, {str(files[int(k.split(":", 1)[0])]): v for k, v in texts.items()}


def idle_latency(work: Path, settings: Settings, cores: int) -> tuple[float, float]:
    clip = AUDIO / "jfk.flac"
    _load(cores)
    raw = min(_timed(lambda: _transcribe(str(clip))) for _ in range(3))
    with stack(work, settings, worker_processes=settings.effective_worker_processes) as s:
        run_through_stack(s, [clip])
        best = min(run_through_stack(s, [clip])[2][0] for _ in range(3))
    return raw, best


def worker_peak_rss(work: Path, settings: Settings, path: Path) -> tuple[float, float]:
    with stack(work, settings, worker_processes=1) as s:
        wall, _, _ = run_through_stack(s, [path])
        return _peak_mib(s), wall


def _peak_mib(s: Stack) -> float:
    """The worker process's peak RSS (`earshot worker` is a supervisor and its worker child)."""
    peaks = [peak_rss_mib(p) for p in s.workers[0].children()]
    return max(peaks) if peaks else float("nan")


def _timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


# -- report ----------------------------------------------------------------------------------------


@dataclass
class Workload:
    name: str
    files: list[Path]
    audio_s: float = 0.0
    walls: dict[str, float] = field(default_factory=dict)
    texts: dict[str, dict[str, str]] = field(default_factory=dict)

    def speed(self, side: str) -> float:
        return self.audio_s / self.walls[side]


def per_file(w: Workload, side: str) -> Iterator[tuple[str, float, int, int, float | None]]:
    for f in w.files:
        ref = w.texts["sequential"][str(f)]
        hyp = w.texts[side][str(f)]
        human = AUDIO / f"{f.stem}.txt"
        human_wer = wer(human.read_text(), hyp) if f.parent == AUDIO and human.exists() else None
        yield f.name, wer(ref, hyp), len(ref.split()), len(hyp.split()), human_wer


def render(workloads: list[Workload], extras: list[str], cores: int) -> str:
    lines = [
        f"Measured {time.strftime('%Y-%m-%d')} on {os.uname().machine}, {cores} cores, tiny.en int8, beam 5, "
        "word timestamps on, each side warm, one run.",
        "",
        "| workload | plain, 1 process | best plain script | Earshot (windows) | Earshot (sequential) "
        "| Earshot ÷ best | WER vs sequential | words (seq → Earshot) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for w in workloads:
        rows = list(per_file(w, "windows"))
        seq_words, words = sum(r[2] for r in rows), sum(r[3] for r in rows)
        lines.append(
            f"| {w.name} ({len(w.files)} files, {w.audio_s:.0f} s) | {w.speed('sequential'):.1f} | "
            f"{w.speed('best'):.1f} | {w.speed('windows'):.1f} | {w.speed('earshot-sequential'):.1f} | "
            f"**{w.speed('windows') / w.speed('best'):.2f}** | {statistics.mean(r[1] for r in rows):.3f} | "
            f"{seq_words} → {words} ({(words - seq_words) / max(seq_words, 1):+.1%}) |"
        )
    lines += [
        "",
        "Speeds are audio-seconds per wall-second. Per file, Earshot (windows) against sequential decoding:",
        "",
    ]
    lines += [
        "| file | WER vs sequential | words seq | words Earshot | WER vs reference "
        "| sequential again: best plain script | sequential again: Earshot (sequential) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for w in workloads:
        again = {side: {r[0]: r[1] for r in per_file(w, side)} for side in ("best", "earshot-sequential")}
        for name, score, a, b, human in per_file(w, "windows"):
            lines.append(
                f"| {name} | {score:.3f} | {a} | {b} | {'' if human is None else f'{human:.3f}'} "
                f"| {again['best'][name]:.3f} | {again['earshot-sequential'][name]:.3f} |"
            )
    lines += [
        "",
        "The last two columns are sequential decoding run again, in other processes (WER against the "
        "first run): how far sequential decoding itself moves from run to run, the floor under "
        '"WER vs sequential".',
    ]
    return "\n".join([*lines, "", *extras])


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.throughput")
    parser.add_argument("--write-readme", action="store_true", help="write the results into benchmarks/README.md")
    parser.add_argument("--rss-hours", type=float, default=2.0, help="length of the long RSS file (0 skips)")
    parser.add_argument("--skip", default="", help="comma-separated: short,long,latency,rss")
    args = parser.parse_args()
    skip = set(args.skip.split(","))
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="earshot-throughput-") as tmp:
        work = Path(tmp)
        workloads = []
        if "short" not in skip:
            workloads.append(Workload("short clips", short_clips(work)))
        if "long" not in skip:
            workloads.append(Workload("long files", long_files(work)))
        extras: list[str] = []
        with services(work) as (_, _, base):
            for w in workloads:
                measure(work, base, w, cores)
            if "latency" not in skip:
                raw, best = idle_latency(work, base, cores)
                extras.append(
                    f"Idle latency, one 11 s clip (best of 3): plain transcription {raw * 1000:.0f} ms, Earshot "
                    f"upload → transcribed {best * 1000:.0f} ms ({(best - raw) * 1000:+.0f} ms; target ≤ +300 ms)."
                )
                print(extras[-1], file=sys.stderr)
            if "rss" not in skip and args.rss_hours > 0:
                extras.append(rss_line(work, base, args.rss_hours))
                print(extras[-1], file=sys.stderr)
    table = render(workloads, extras, cores)
    print(table)
    if args.write_readme:
        write_section(README, "throughput", table)
    return 0


def measure(work: Path, base: Settings, w: Workload, cores: int) -> None:
    w.audio_s = sum(duration_of(f) for f in w.files)
    sides: dict[str, Callable[[], tuple[float, dict[str, str]]]] = {
        "sequential": lambda: plain_sequential(w.files, cores),
        "best": lambda: best_plain_script(w.files, cores),
        "windows": lambda: earshot(work, base, w.files, cores),
        "earshot-sequential": lambda: earshot(
            work, msgspec.structs.replace(base, decoding="sequential"), w.files, cores
        ),
    }
    for side, run in sides.items():
        w.walls[side], w.texts[side] = run()
        print(f"  {w.name}: {side}: {w.speed(side):.1f} audio-s/s", file=sys.stderr, flush=True)


def rss_line(work: Path, base: Settings, hours: float) -> str:
    short = hours_file(work, 10 / 60, "ten-minutes.wav")
    long = hours_file(work, hours, "hours.wav")
    (rss_short, wall_short), (rss_long, wall_long) = (worker_peak_rss(work, base, p) for p in (short, long))
    return (
        f"Worker peak RSS (one process): {rss_short:.0f} MiB for a 10-minute file ({wall_short:.0f} s), "
        f"{rss_long:.0f} MiB for a {hours:g}-hour file ({wall_long:.0f} s): {rss_long / rss_short:.2f}x "
        "(target ≤ 1.5x)."
    )


if __name__ == "__main__":
    sys.exit(main())
