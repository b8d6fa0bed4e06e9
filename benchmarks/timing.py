"""Word-timing accuracy: how many word starts and ends land within 0.1 s of the truth, raw and refined.

`.venv/bin/python -m benchmarks.timing [--clips N] [--seed S]`

Speech with known word boundaries, built here: espeak-ng (Debian package `espeak-ng`; required)
speaks every word of a sentence on its own (voices en-us, en-gb, en+f3, en-us+m3, at 150-190
words a minute); each word's speech is its samples above -40 dB of its loudest 5 ms frame, and
the words are joined with pauses drawn from 50-400 ms (one in eight 600-1000 ms, and 500-1200 ms
between sentences), 0.2-1.0 s of silence first and last, so every word's true start and end is
known to the sample. Three sentences of one voice make a clip of about 20 s (one model window);
a third of the clips are left clean (digital silence between words), a third get white noise at
-60 dBFS and a third pink noise 30 dB under the speech's level.

Each clip is decoded with the bundled tiny.en as the scheduler decodes a recording of one
window (`WindowDecoder`, beam 5, word timestamps), then `refine.refine_words` and
`guard.guard_window` are applied to that result. Hypothesis words are matched to reference
words by their normalised text (difflib, equal runs only) and scored on the matched words.
A last pair of rows does the same on clips whose words run together (0-30 ms apart), where
there are few pauses to snap to.
"""

from __future__ import annotations

import argparse
import difflib
import io
import subprocess
import time
import wave
from dataclasses import dataclass
from typing import Any

import numpy as np

from benchmarks.wer import normalize, wer
from engine.transcription.decoder import WindowDecoder, WindowItem, WindowResult
from engine.transcription.guard import guard_window
from engine.transcription.refine import refine_words

SR = 16000
TOLERANCE = 0.1
VOICES = ["en-us", "en-gb", "en+f3", "en-us+m3"]
SENTENCES = [
    "the quick brown fox jumps over the lazy dog near the river bank",
    "please schedule the budget review meeting for next tuesday afternoon",
    "our team will publish the final report after the customer approves the new design",
    "she opened the window and looked at the garden below",
    "we need more time to finish the project before the deadline",
    "the weather was cold but the children played outside all day",
    "can you send me the documents by email this evening",
    "he walked slowly down the street and stopped at the old bakery",
    "most people prefer coffee in the morning and tea at night",
    "the train arrived late because of heavy snow in the mountains",
    "remember to turn off the lights when you leave the office",
    "my brother bought a new car with a bright red color",
]


@dataclass(frozen=True)
class RefWord:
    word: str
    start: float
    end: float


@dataclass(frozen=True)
class Clip:
    samples: np.ndarray[Any, Any]
    words: list[RefWord]
    voice: str
    noise: str


@dataclass(frozen=True)
class Score:
    matched: int
    reference: int
    starts_within: float
    ends_within: float
    mean_start_error: float
    mean_end_error: float


def speak(word: str, voice: str, speed: int) -> np.ndarray[Any, Any]:
    """espeak-ng's speech of one word, 16 kHz float32 (band-limited resampling from 22.05 kHz)."""
    out = subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(speed), "--stdout", word], check=True, capture_output=True
    ).stdout
    with wave.open(io.BytesIO(out)) as w:
        rate = w.getframerate()
        pcm = np.frombuffer(w.readframes(len(out)), dtype="<i2").astype(np.float64) / 32768.0
    n = round(len(pcm) * SR / rate)
    spectrum = np.fft.rfft(pcm)[: n // 2 + 1]
    return np.asarray(np.fft.irfft(spectrum, n) * n / len(pcm), dtype=np.float32)


def speech_span(samples: np.ndarray[Any, Any], floor_db: float = -40.0) -> tuple[int, int]:
    """First and last (exclusive) sample of the 5 ms frames within `floor_db` of the loudest."""
    hop = SR // 200
    frames = samples[: len(samples) // hop * hop].reshape(-1, hop).astype(np.float64)
    db = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-20)
    loud = np.flatnonzero(db > db.max() + floor_db)
    return int(loud[0]) * hop, (int(loud[-1]) + 1) * hop


def _pink(n: int, rng: np.random.Generator) -> np.ndarray[Any, Any]:
    spectrum = np.fft.rfft(rng.standard_normal(n))
    spectrum /= np.sqrt(np.maximum(np.arange(len(spectrum)), 1))
    noise = np.fft.irfft(spectrum, n)
    return np.asarray(noise / np.sqrt(np.mean(noise**2)))


def _add_noise(samples: np.ndarray[Any, Any], kind: str, rng: np.random.Generator) -> np.ndarray[Any, Any]:
    if kind == "white-60dB":
        return samples + rng.standard_normal(len(samples)) * 10 ** (-60 / 20)
    if kind == "pink-snr30":
        loud = samples[np.abs(samples) > 1e-4]
        level = float(np.sqrt(np.mean(loud**2))) if len(loud) else 0.1
        return samples + _pink(len(samples), rng) * level * 10 ** (-30 / 20)
    return samples


def _pause(rng: np.random.Generator, fluent: bool) -> float:
    if fluent:
        return float(rng.uniform(0.0, 0.03))
    return float(rng.uniform(0.6, 1.0) if rng.random() < 0.125 else rng.uniform(0.05, 0.4))


def build_clip(sentences: list[str], voice: str, noise: str, rng: np.random.Generator, *, fluent: bool = False) -> Clip:
    """The sentences spoken word by word by `voice`, with drawn pauses (`fluent`: 0-30 ms, words
    run together), and the true word spans."""
    speed = int(rng.integers(150, 191))
    pieces: list[np.ndarray[Any, Any]] = [np.zeros(int(rng.uniform(0.2, 1.0) * SR), np.float32)]
    words: list[RefWord] = []
    at = len(pieces[0])
    for n, sentence in enumerate(sentences):
        if n:
            pieces.append(np.zeros(int(rng.uniform(0.5, 1.2) * SR), np.float32))
            at += len(pieces[-1])
        for k, word in enumerate(sentence.split()):
            if k:
                pieces.append(np.zeros(int(_pause(rng, fluent) * SR), np.float32))
                at += len(pieces[-1])
            audio = speak(word, voice, speed)
            a, b = speech_span(audio)
            pieces.append(audio[a:b])
            words.append(RefWord(word, at / SR, (at + b - a) / SR))
            at += b - a
    pieces.append(np.zeros(int(rng.uniform(0.2, 1.0) * SR), np.float32))
    samples = _add_noise(np.concatenate(pieces).astype(np.float64), noise, rng)
    return Clip(np.clip(samples, -1, 1).astype(np.float32), words, voice, noise)


def build_clips(count: int, seed: int, *, fluent: bool = False) -> list[Clip]:
    rng = np.random.default_rng(seed)
    noises = ["clean", "white-60dB", "pink-snr30"]
    clips = []
    for n in range(count):
        voice = VOICES[n % len(VOICES)]
        chosen = [SENTENCES[int(i)] for i in rng.choice(len(SENTENCES), 3, replace=False)]
        clips.append(build_clip(chosen, voice, noises[n % len(noises)], rng, fluent=fluent))
    return clips


def hyp_words(result: WindowResult) -> list[RefWord]:
    return [RefWord(w.word, w.start, w.end) for s in result.segments for w in s.words]


def match(reference: list[RefWord], hypothesis: list[RefWord]) -> list[tuple[RefWord, RefWord]]:
    """Pairs of reference and hypothesis words with the same normalised text, by difflib's alignment."""
    ref = ["".join(normalize(w.word)) for w in reference]
    hyp = ["".join(normalize(w.word)) for w in hypothesis]
    matcher = difflib.SequenceMatcher(a=ref, b=hyp, autojunk=False)
    return [
        (reference[block.a + k], hypothesis[block.b + k])
        for block in matcher.get_matching_blocks()
        for k in range(block.size)
    ]


def score(pairs: list[tuple[RefWord, RefWord]], reference: int) -> Score:
    starts = np.array([h.start - r.start for r, h in pairs])
    ends = np.array([h.end - r.end for r, h in pairs])
    if not len(pairs):
        return Score(0, reference, 0.0, 0.0, 0.0, 0.0)
    return Score(
        matched=len(pairs),
        reference=reference,
        starts_within=float(np.mean(np.abs(starts) <= TOLERANCE)),
        ends_within=float(np.mean(np.abs(ends) <= TOLERANCE)),
        mean_start_error=float(np.mean(starts)),
        mean_end_error=float(np.mean(ends)),
    )


def _row(name: str, s: Score, text_wer: float) -> str:
    return (
        f"{name:<18} {s.matched:>4}/{s.reference:<4} {s.starts_within:>8.1%} {s.ends_within:>8.1%} "
        f"{s.mean_start_error * 1000:>+9.0f} {s.mean_end_error * 1000:>+9.0f} {text_wer:>7.2%}"
    )


def evaluate(clips: list[Clip], raw: list[WindowResult]) -> dict[str, tuple[Score, float]]:
    """Scores and WER of the raw results, refined results and guarded-then-refined results."""
    variants: dict[str, list[WindowResult]] = {"raw": raw, "refined": [], "guarded+refined": []}
    for clip, result in zip(clips, raw, strict=True):
        variants["refined"].append(refine_words(result, clip.samples))
        variants["guarded+refined"].append(refine_words(guard_window(result, clip.samples), clip.samples))
    reference = " ".join(w.word for clip in clips for w in clip.words)
    out = {}
    for name, results in variants.items():
        pairs = [p for clip, r in zip(clips, results, strict=True) for p in match(clip.words, hyp_words(r))]
        hypothesis = " ".join(r.text for r in results)
        out[name] = (score(pairs, sum(len(c.words) for c in clips)), wer(reference, hypothesis))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=12)
    parser.add_argument("--seed", type=int, default=14)
    args = parser.parse_args()

    import models
    from engine.transcription.whisper import WhisperTranscriber

    started = time.perf_counter()
    clips = build_clips(args.clips, args.seed)
    seconds = sum(len(c.samples) for c in clips) / SR
    print(f"{len(clips)} clips, {sum(len(c.words) for c in clips)} words, {seconds:.0f} s of audio")
    model = WhisperTranscriber(models.resolve("tiny.en"), name="tiny.en", cpu_threads=2).model
    raw = WindowDecoder(model).decode([WindowItem(c.samples) for c in clips])
    results = evaluate(clips, raw)
    print(f"{'':<18} {'matched':>9} {'starts':>8} {'ends':>8} {'start ms':>9} {'end ms':>9} {'WER':>7}")
    print(f"{'':<18} {'':>9} {'≤0.1 s':>8} {'≤0.1 s':>8} {'mean':>9} {'mean':>9}")
    for name, (s, text_wer) in results.items():
        print(_row(name, s, text_wer))
    for noise in ("clean", "white-60dB", "pink-snr30"):
        subset = [i for i, c in enumerate(clips) if c.noise == noise]
        part = evaluate([clips[i] for i in subset], [raw[i] for i in subset])
        for name in ("raw", "refined"):
            print(_row(f"{noise} {name}", *part[name]))
    # Words run together (0-30 ms apart): few pauses to snap to; refinement must not hurt.
    fluent = build_clips(max(args.clips // 2, 1), args.seed + 1, fluent=True)
    fluent_results = evaluate(fluent, WindowDecoder(model).decode([WindowItem(c.samples) for c in fluent]))
    for name in ("raw", "refined"):
        print(_row(f"fluent {name}", *fluent_results[name]))
    print(f"({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
