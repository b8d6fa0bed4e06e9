"""`python -m benchmarks.diarization [--threads N] [--runs N] [--write-readme]`: speaker diarization
(engine.diarization, the `diarization` extra) scored against the shared references.

Audio: `../shared/audio/diarization/` (`EARSHOT_TEST_AUDIO` overrides `../shared/audio`): sample.wav
(two speakers, reference sample.rttm) and the AMI excerpts dev00, dev01 (two speakers) and trn01 (four,
with overlap), references in ami.rttm; each decoded with `engine.transcription.audio.decode` to 16 kHz
mono float32, as the worker does.

Per file: DER from pyannote.metrics (`DiarizationErrorRate(collar=0.25, skip_overlap=False)`, the
whole file as the scored region, overlapped speech counted) and its parts (missed speech, false alarm,
speaker confusion, in seconds), the number of speakers found against the reference's, all without
telling the diarizer the count; then DER when told the exact count (`SpeakerCount(expected=N)`).
pyannote.metrics' `collar` is the collar's whole width (0.125 s each side of a reference boundary);
NIST's md-eval (`-c 0.25`) and dscore, which the RT and VoxSRC evaluations use, take 0.25 s on each
side. Both are printed: the headline DER is pyannote's (the stricter), the "md-eval" column
pyannote's `collar=0.5`, the same 0.25 s each side as md-eval.
Speed: audio seconds per wall second of `diarize()` alone, the best of `--runs` timed runs after one
warm-up call (model loading is timed and reported on its own line). Then a long recording:
sample.wav over and over to `--long-minutes` (30 by default, about 20 min of speech; each repeat
cut, scaled and noised a little differently) with its reference shifted along, scored and timed
once: its two speakers must stay two past the clusterer's subsampling.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.diarization import SpeakerCount, SpeakerTurn, diarization_available, load_diarizer, missing_modules
from engine.transcription.audio import SAMPLE_RATE, decode

AUDIO = Path(os.environ.get("EARSHOT_TEST_AUDIO", Path(__file__).resolve().parents[2] / "shared" / "audio"))
DIARIZATION = AUDIO / "diarization"
FILES = (("sample", "sample.rttm"), ("dev00", "ami.rttm"), ("dev01", "ami.rttm"), ("trn01", "ami.rttm"))
JOINED = (("dev00", "dev01"), ("sample", "dev00", "dev01"), ("sample", "sample"), ("dev00", "dev00"))
"""Longer recordings of real voices: two people over 60 s, four over 90 s without repeats; and two
recordings joined to themselves (`ffmpeg` concat), the usual way to make a longer test file, where
every word is said twice."""
README = Path(__file__).resolve().parent / "README.md"
COLLAR = 0.25
"""pyannote.metrics' collar: its whole width, 0.125 s each side of every reference boundary."""
MD_EVAL_COLLAR = 0.5
"""The same scorer with 0.25 s each side, as NIST md-eval's `-c 0.25` (and dscore's `--collar 0.25`)."""


@dataclass(frozen=True, slots=True)
class Row:
    name: str
    seconds: float
    der: float
    der_md_eval: float
    missed: float
    false_alarm: float
    confusion: float
    speech: float
    found: int
    true: int
    der_known: float
    found_known: int
    speed_best: float
    speed_median: float


def read_rttm(path: Path) -> dict[str, list[tuple[float, float, str]]]:
    turns: dict[str, list[tuple[float, float, str]]] = defaultdict(list)
    for line in path.read_text(encoding="utf-8").splitlines():
        fields = line.split()
        if len(fields) >= 8 and fields[0] == "SPEAKER":
            start, duration = float(fields[3]), float(fields[4])
            turns[fields[1]].append((start, start + duration, fields[7]))
    return turns


def score(
    reference: list[tuple[float, float, str]], turns: list[SpeakerTurn], seconds: float, collar: float = COLLAR
) -> dict[str, float]:
    from pyannote.core import Annotation, Segment
    from pyannote.metrics.diarization import DiarizationErrorRate

    ref, hyp = Annotation(), Annotation()
    for start, end, speaker in reference:
        ref[Segment(start, end)] = speaker
    for turn in turns:
        hyp[Segment(turn.start, turn.end)] = f"S{turn.speaker}"
    metric = DiarizationErrorRate(collar=collar, skip_overlap=False)
    parts: dict[str, float] = metric(ref, hyp, uem=Segment(0.0, seconds), detailed=True)
    return parts


def long_recording(minutes: float) -> tuple[np.ndarray[Any, Any], list[tuple[float, float, str]]]:
    """sample.wav (two speakers) over and over to `minutes`, its reference shifted along: a long
    meeting of the same two people, past the clusterer's subsampling (`clustering.MAX_CLUSTERED`
    pieces). Each repeat loses up to 1 s at its start, gets its own gain (0.5-1) and noise (-50 dB),
    seeded, so that no two repeats give the same pieces."""
    one = decode(DIARIZATION / "sample.wav")
    base = read_rttm(DIARIZATION / "sample.rttm")["sample"]
    rng = np.random.default_rng(0)
    parts: list[np.ndarray[Any, Any]] = []
    reference: list[tuple[float, float, str]] = []
    at = 0.0
    while at < minutes * 60:
        cut = int(rng.integers(0, SAMPLE_RATE))
        noise = rng.normal(0.0, 0.003, len(one) - cut)
        parts.append((one[cut:] * rng.uniform(0.5, 1.0) + noise).astype(np.float32))
        shift = at - cut / SAMPLE_RATE
        reference += [(max(a + shift, at), b + shift, who) for a, b, who in base if b + shift > at]
        at += len(parts[-1]) / SAMPLE_RATE
    return np.concatenate(parts), reference


def joined(
    names: tuple[str, ...], references: dict[str, list[tuple[float, float, str]]], folder: Path = DIARIZATION
) -> tuple[np.ndarray[Any, Any], list[tuple[float, float, str]]]:
    """The recordings one after another, their references shifted along: more people than any one
    of them has (sample's two and the two AMI speakers of dev00 and dev01 make four)."""
    parts: list[np.ndarray[Any, Any]] = []
    reference: list[tuple[float, float, str]] = []
    at = 0.0
    for name in names:
        parts.append(decode(folder / f"{name}.wav"))
        reference += [(a + at, b + at, who) for a, b, who in references[name]]
        at += len(parts[-1]) / SAMPLE_RATE
    return np.concatenate(parts), reference


def measure(
    diarizer: Any,
    name: str,
    reference: list[tuple[float, float, str]],
    runs: int,
    samples: np.ndarray[Any, Any] | None = None,
) -> Row:
    samples = decode(DIARIZATION / f"{name}.wav") if samples is None else samples
    seconds = len(samples) / SAMPLE_RATE
    true = len({speaker for _, _, speaker in reference})
    timings: list[float] = []
    turns: list[SpeakerTurn] = []
    for _ in range(max(runs, 1)):
        start = time.perf_counter()
        turns = diarizer.diarize(samples, SpeakerCount())
        timings.append(time.perf_counter() - start)
    parts = score(reference, turns, seconds)
    known = diarizer.diarize(samples, SpeakerCount(expected=true))
    return Row(
        name=name,
        seconds=seconds,
        der=parts["diarization error rate"],
        der_md_eval=score(reference, turns, seconds, MD_EVAL_COLLAR)["diarization error rate"],
        missed=parts["missed detection"],
        false_alarm=parts["false alarm"],
        confusion=parts["confusion"],
        speech=parts["total"],
        found=len({t.speaker for t in turns}),
        true=true,
        der_known=score(reference, known, seconds)["diarization error rate"],
        found_known=len({t.speaker for t in known}),
        speed_best=seconds / min(timings),
        speed_median=seconds / statistics.median(timings),
    )


def table(rows: list[Row]) -> str:
    lines = [
        "| file | audio s | speech s (ref) | DER | DER, md-eval collar | missed s | false alarm s | confusion s "
        "| speakers found / true | DER told the count | speed (best) | speed (median) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.name} | {r.seconds:.1f} | {r.speech:.1f} | **{r.der:.1%}** | {r.der_md_eval:.1%} | {r.missed:.2f} | "
            f"{r.false_alarm:.2f} | {r.confusion:.2f} | {r.found} / {r.true} | {r.der_known:.1%} "
            f"({r.found_known}) | {r.speed_best:.1f}x | {r.speed_median:.1f}x |"
        )
    return "\n".join(lines)


def write_readme(text: str) -> None:
    readme = README.read_text(encoding="utf-8")
    begin, end = "<!-- diarization -->", "<!-- /diarization -->"
    if begin not in readme or end not in readme:
        raise SystemExit(f"{README} has no {begin} … {end} block to replace")
    pattern = re.compile(re.escape(begin) + ".*?" + re.escape(end), re.DOTALL)
    README.write_text(pattern.sub(lambda _: f"{begin}\n\n{text}\n\n{end}", readme), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1, the loader's default)")
    parser.add_argument("--runs", type=int, default=3, help="timed runs per file (after one warm-up call)")
    parser.add_argument("--write-readme", action="store_true", help="replace the table in benchmarks/README.md")
    parser.add_argument(
        "--long-minutes", type=float, default=30.0, help="length of the long recording (sample.wav repeated; 0 skips)"
    )
    args = parser.parse_args()
    if not diarization_available():
        raise SystemExit(
            f"the diarization extra is missing ({', '.join(missing_modules())}): scripts/setup --diarization"
        )
    import torch

    start = time.perf_counter()
    diarizer = load_diarizer(threads=args.threads)
    load_s = time.perf_counter() - start
    diarizer.diarize(decode(DIARIZATION / "sample.wav"), SpeakerCount())  # warm-up
    references: dict[str, list[tuple[float, float, str]]] = {}
    for _, rttm in FILES:
        references.update(read_rttm(DIARIZATION / rttm))
    rows = [measure(diarizer, name, references[name], args.runs) for name, _ in FILES]
    for names in JOINED:
        samples, reference = joined(names, references)
        rows.append(measure(diarizer, " + ".join(names), reference, args.runs, samples))
    if args.long_minutes > 0:
        samples, reference = long_recording(args.long_minutes)
        rows.append(measure(diarizer, f"sample, {args.long_minutes:g} min", reference, 1, samples))
    plural = "s" if args.threads != 1 else ""
    machine = f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, {args.threads} thread{plural}"
    head = (
        f"Measured {time.strftime('%Y-%m-%d')} on {machine}; model load {load_s:.1f} s (not in the speeds); "
        f"best and median of {args.runs} runs after a warm-up; load average at the end {os.getloadavg()[0]:.1f}."
    )
    body = table(rows)
    print(head, "", body, "", sep="\n")
    two = [r for r in rows[: len(FILES)] if r.true == 2]
    wall = sum(r.seconds / r.speed_best for r in rows)
    print(
        f"two-speaker files: DER <= 15 % on {sum(r.der <= 0.15 for r in two)} of {len(two)} "
        f"({sum(r.der_md_eval <= 0.15 for r in two)} with md-eval's collar), right count on "
        f"{sum(r.found == r.true for r in two)} of {len(two)}; all files {sum(r.seconds for r in rows) / wall:.1f}x "
        f"real time (best runs), slowest file {min(r.speed_best for r in rows):.1f}x"
    )
    if args.write_readme:
        write_readme(f"{head}\n\n{body}")


if __name__ == "__main__":
    main()
