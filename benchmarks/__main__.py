"""`python -m benchmarks [--tiny] [--write-readme]`: Earshot against plain faster-whisper, one run.

Every row runs on this machine in this process tree: plain faster-whisper in this process, the
stack as real processes (redis-server, the S3 server, the API, workers) on loopback. Each row is
printed as audio-seconds per wall-second and as a ratio to row 1 (plain faster-whisper).
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import msgspec
import numpy as np

import models
from benchmarks.data import AUDIO, make_long_files
from benchmarks.wer import wer
from earshot.processes import Proc, free_port, start_api, start_redis, start_s3, start_worker
from engine.backends import Backends
from engine.index.protocol import PageQuery
from engine.index.redis_index import RedisIndex
from engine.recordings.model import Features, Recording, Status
from engine.settings import Settings
from engine.transcription import audio

README = Path(__file__).with_name("README.md")

# Short clips with references (5-20 s), and English speech without references.
REFERENCED = ["jfk.flac", "espeak_1.wav", "espeak_2.wav", "espeak_3.wav"]
SHORT = [*REFERENCED, "stereo_diarization.wav"]


@dataclass
class Row:
    number: str
    name: str
    audio_s: float = 0.0
    wall_s: float = 0.0
    wer: float | None = None
    words: int | None = None
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def speed(self) -> float:
        return self.audio_s / self.wall_s if self.wall_s else 0.0


def reference_of(name: str) -> str | None:
    ref = AUDIO / (Path(name).stem + ".txt")
    return ref.read_text().strip() if ref.exists() else None


def duration_of(path: Path) -> float:
    return float(audio.probe(path).duration_seconds or 0.0)


# -- plain faster-whisper ----------------------------------------------------------------------


def plain_model(threads: int) -> Any:
    from faster_whisper import WhisperModel

    return WhisperModel(models.resolve("tiny.en"), device="cpu", compute_type="int8", cpu_threads=threads)


def plain_transcribe(model: Any, path: Path, beam_size: int) -> str:
    segments, _ = model.transcribe(str(path), beam_size=beam_size, word_timestamps=True)
    return " ".join(s.text.strip() for s in segments)


def plain_row(number: str, name: str, files: list[Path], threads: int, beam: int) -> tuple[Row, dict[str, str]]:
    model = plain_model(threads)
    texts = {}
    started = time.perf_counter()
    for n, f in enumerate(files):
        texts[f"{n}:{f.name}"] = plain_transcribe(model, f, beam)
    row = Row(number, name, audio_s=sum(duration_of(f) for f in files), wall_s=time.perf_counter() - started)
    row.words = sum(len(t.split()) for t in texts.values())
    return row, texts


# -- the stack ---------------------------------------------------------------------------------


@dataclass
class Stack:
    settings: Settings
    url: str
    auth: tuple[str, str]
    api: Proc
    workers: list[Proc]
    backends: Backends

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, auth=self.auth, timeout=600)


@contextmanager
def services(base: Path) -> Iterator[tuple[Proc, Proc, Settings]]:
    redis_port, s3_port = free_port(), free_port()
    redis = start_redis(base / "redis", redis_port, appendonly=False, log_path=base / "redis.log")
    s3 = start_s3(base / "s3", s3_port, access_key="bench", secret_key="bench-secret-key", log_path=base / "s3.log")
    settings = Settings(
        redis_url=f"redis://127.0.0.1:{redis_port}/0",
        s3_endpoint=f"127.0.0.1:{s3_port}",
        s3_access_key="bench",
        s3_secret_key="bench-secret-key",
        s3_bucket="bench",
        max_upload_bytes=2 * 1024**3,
        data_dir=str(base),
        rate_limit_per_minute=0,  # the benchmark polls hard; limits are tested elsewhere
    )
    try:
        yield redis, s3, settings
    finally:
        s3.stop()
        redis.stop()


@contextmanager
def stack(base: Path, settings: Settings, *, worker_processes: int) -> Iterator[Stack]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EARSHOT_")}
    env.update(settings.to_env())
    backends = Backends.connect(settings)
    backends.storage.ensure_bucket()
    issued = backends.keys.create(f"bench-{uuid.uuid4().hex[:6]}")
    port = free_port()
    logs = base / f"run-{uuid.uuid4().hex[:8]}"
    logs.mkdir()
    api = start_api(env, port, log_path=logs / "api.log")
    workers = [start_worker(env, processes=worker_processes, log_path=logs / "worker.log")]
    try:
        s = Stack(settings, f"http://127.0.0.1:{port}", (issued.api_key, issued.api_secret), api, workers, backends)
        wait_workers_ready(logs / "worker.log", worker_processes)
        yield s
    finally:
        for w in workers:
            w.stop()
        api.stop()
        backends.close()


def wait_workers_ready(log: Path, count: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready = log.read_text().count('"msg":"worker ready"') if log.exists() else 0
        if ready >= count:
            return
        time.sleep(0.2)
    raise RuntimeError("workers did not start:\n" + (log.read_text()[-3000:] if log.exists() else ""))


def run_through_stack(s: Stack, files: list[Path]) -> tuple[float, dict[str, str], list[float]]:
    """Upload every file, wait until all are done; returns wall time, texts, per-file latencies."""
    with s.client() as client:
        started = time.perf_counter()
        pending: dict[str, tuple[str, float]] = {}
        for n, f in enumerate(files):
            with f.open("rb") as fh:
                r = client.post("/v1/recordings", files={"file": (f.name, fh, "application/octet-stream")})
            r.raise_for_status()
            pending[r.json()["id"]] = (f"{n}:{f.name}", time.perf_counter())
        texts: dict[str, str] = {}
        latencies = []
        while pending:
            # Poll gently (the API shares the cores with the workers): the oldest few only.
            for rid, (name, t0) in list(pending.items())[:4]:
                status = client.get(f"/v1/recordings/{rid}").json()["status"]
                if status == "processing":
                    continue
                latencies.append(time.perf_counter() - t0)
                if status != "transcribed":
                    raise RuntimeError(f"{name} ended {status}")
                texts[name] = client.get(f"/v1/recordings/{rid}/transcription").json()["text"]
                del pending[rid]
            time.sleep(0.02 if len(files) == 1 else 0.25)
        return time.perf_counter() - started, texts, latencies


def stack_row(
    number: str, name: str, base: Path, settings: Settings, files: list[Path], processes: int
) -> tuple[Row, dict[str, str]]:
    with stack(base, settings, worker_processes=processes) as s:
        wall, texts, _ = run_through_stack(s, files)
    row = Row(number, name, audio_s=sum(duration_of(f) for f in files), wall_s=wall)
    row.words = sum(len(t.split()) for t in texts.values())
    return row, texts


def clip_wer(texts: dict[str, str]) -> float | None:
    scores = [wer(ref, text) for key, text in texts.items() if (ref := reference_of(key.split(":", 1)[1]))]
    return round(statistics.mean(scores), 4) if scores else None


def long_wer(texts: dict[str, str], anchor: dict[str, str]) -> float:
    """Long files have no human reference: WER against plain faster-whisper's own transcript."""
    return round(statistics.mean(wer(anchor[n], texts[n]) for n in texts), 4)


# -- rows 5-7 ----------------------------------------------------------------------------------


def latency_row(base: Path, settings: Settings, plain_threads: int, beam: int) -> Row:
    clip = AUDIO / "jfk.flac"
    model = plain_model(plain_threads)
    plain_transcribe(model, clip, beam)  # warm
    raw = min(timed(lambda: plain_transcribe(model, clip, beam)) for _ in range(3))
    with stack(base, settings, worker_processes=1) as s:
        run_through_stack(s, [clip])  # warm
        lat = [run_through_stack(s, [clip])[2][0] for _ in range(3)]
    best = min(lat)
    row = Row("5", "one 11 s clip on an idle stack: upload → transcribed", audio_s=duration_of(clip), wall_s=best)
    row.note = (
        f"raw transcription {raw * 1000:.0f} ms; stack {best * 1000:.0f} ms; overhead {(best - raw) * 1000:+.0f} ms"
    )
    row.extra = {"raw_ms": raw * 1000, "stack_ms": best * 1000}
    return row


def timed(fn: Any) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def listing_row(base: Path, settings: Settings, count: int, requests: int) -> Row:
    with stack(base, settings, worker_processes=1) as s:
        tenant = s.backends.keys.authenticate(*s.auth)
        assert tenant is not None
        seed(s.backends, tenant, count)
        some = s.backends.index.page(PageQuery(tenant_id=tenant, limit=1))[0][0].id
        with s.client() as client:
            client.get("/v1/recordings")
            lists = [
                timed(lambda p=p: client.get("/v1/recordings", params={"page": p % 50, "limit": 50}).raise_for_status())
                for p in range(requests)
            ]
            gets = [timed(lambda: client.get(f"/v1/recordings/{some}").raise_for_status()) for _ in range(requests)]
    row = Row("6", f"GET /v1/recordings (limit 50) and /{{id}} with {count:,} recordings in one tenant")
    p = lambda xs, q: sorted(xs)[min(len(xs) - 1, int(q * len(xs)))] * 1000  # noqa: E731
    row.note = (
        f"list p50 {p(lists, 0.5):.1f} ms, p99 {p(lists, 0.99):.1f} ms; "
        f"get p50 {p(gets, 0.5):.1f} ms, p99 {p(gets, 0.99):.1f} ms"
    )
    row.extra = {"list_p99": p(lists, 0.99), "get_p99": p(gets, 0.99)}
    return row


def seed(backends: Backends, tenant: str, count: int) -> None:
    start = datetime.now(UTC) - timedelta(days=30)
    pipe_size = 5000
    for first in range(0, count, pipe_size):
        recs = []
        for i in range(first, min(count, first + pipe_size)):
            rid = str(uuid.uuid4())
            created = start + timedelta(seconds=i * 20)
            recs.append(
                Recording(
                    id=rid,
                    tenant_id=tenant,
                    s3_key=f"{tenant}/{rid}.wav",
                    s3_bucket="bench",
                    status=Status.TRANSCRIBED,
                    features=Features(),
                    file_size_bytes=1000,
                    duration_seconds=5.0,
                    created_at=created,
                    updated_at=created,
                    processed_at=created,
                )
            )
        # Straight into the Redis index: the metadata objects beside the audio do not matter here.
        RedisIndex(backends.redis).add_many(recs)


def rss_row(base: Path, settings: Settings, sizes_mib: list[int]) -> Row:
    peaks = {}
    for size in sizes_mib:
        with stack(base, settings, worker_processes=1) as s:
            pid = s.api.popen.pid
            before = peak_rss_mib(pid)
            chunk = os.urandom(1024 * 1024)

            def body(size: int = size, chunk: bytes = chunk) -> Iterator[bytes]:
                boundary = b"benchBOUNDARY"
                yield b"--" + boundary + b'\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n\r\n'
                for _ in range(size):
                    yield chunk
                yield b"\r\n--" + boundary + b"--\r\n"

            with s.client() as client:
                t0 = time.perf_counter()
                r = client.post(
                    "/v1/recordings",
                    content=body(),
                    headers={"Content-Type": "multipart/form-data; boundary=benchBOUNDARY"},
                )
                r.raise_for_status()
                took = time.perf_counter() - t0
            peaks[size] = (before, peak_rss_mib(pid), took)
    row = Row("7", "API peak RSS while uploading (streamed to S3)")
    row.note = "; ".join(
        f"{size} MiB upload: peak {after:.0f} MiB (idle {before:.0f}), {size / took:.0f} MiB/s"
        for size, (before, after, took) in peaks.items()
    )
    row.extra = {f"peak_{k}": v[1] for k, v in peaks.items()}
    return row


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# -- the run -----------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("--tiny", action="store_true", help="two short files, small sizes: the CI smoke run")
    parser.add_argument("--write-readme", action="store_true", help="write the table into benchmarks/README.md")
    parser.add_argument("--long-files", type=int, default=3)
    parser.add_argument("--long-minutes", type=float, default=3.0)
    parser.add_argument("--short-repeat", type=int, default=5, help="copies of each short clip (5 clips each)")
    parser.add_argument("--recordings", type=int, default=100_000)
    args = parser.parse_args()

    cores = os.cpu_count() or 1
    beam = 5
    work = Path(tempfile.mkdtemp(prefix="earshot-bench-"))
    rows: list[Row] = []
    try:
        if args.tiny:
            long_files = [AUDIO / "jfk.flac", AUDIO / "espeak_1.wav"]
            clips = [AUDIO / n for n in SHORT]
            count, sizes, requests = 2_000, [8, 64], 50
        else:
            long_files = make_long_files(work, args.long_files, args.long_minutes)
            clips = [AUDIO / n for n in SHORT] * args.short_repeat
            count, sizes, requests = args.recordings, [16, 1024], 300
        with services(work) as (_, _, base_settings):
            rows += long_file_rows(work, base_settings, long_files, cores, beam)
            rows += short_clip_rows(work, base_settings, clips, cores, beam)
            same = msgspec.structs.replace(base_settings, decoding="sequential", batch_size=1, cpu_threads=cores)
            rows.append(latency_row(work, same, cores, beam))
            rows.append(listing_row(work, base_settings, count, requests))
            rows.append(rss_row(work, base_settings, sizes))
            print_rows(rows)
        table = render(rows, cores, args.tiny)
        print(table)
        if args.write_readme:
            write_section(README, "results", table)
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


def long_file_rows(work: Path, base_settings: Settings, long_files: list[Path], cores: int, beam: int) -> list[Row]:
    rows: list[Row] = []
    same = msgspec.structs.replace(base_settings, decoding="sequential", batch_size=1, cpu_threads=cores)
    fastest = msgspec.structs.replace(
        base_settings, decoding="sequential", batch_size=8, cpu_threads=1, batched_long=True
    )

    r1, anchor = plain_row(
        "1", f"plain faster-whisper, long files, one process x {cores} threads", long_files, cores, beam
    )
    r1.wer = 0.0
    rows.append(r1)
    print_rows(rows)

    r2, texts = stack_row("2", "stack, same settings (1 worker, sequential decoding)", work, same, long_files, 1)
    r2.wer = long_wer(texts, anchor)
    rows.append(r2)
    print_rows(rows)

    r3, texts = stack_row(
        "3",
        f"stack, fastest ({cores} workers x 1 thread, BatchedInferencePipeline)",
        work,
        fastest,
        long_files,
        cores,
    )
    r3.wer = long_wer(texts, anchor)
    rows.append(r3)
    print_rows(rows)

    per_core = msgspec.structs.replace(fastest, batched_long=False, batch_size=1)
    r3b, texts = stack_row(
        "3b",
        f"stack, {cores} workers x 1 thread, sequential decoding (EARSHOT_DECODING=sequential)",
        work,
        per_core,
        long_files,
        cores,
    )
    r3b.wer = long_wer(texts, anchor)
    rows.append(r3b)
    print_rows(rows)

    return rows


def short_clip_rows(work: Path, base_settings: Settings, clips: list[Path], cores: int, beam: int) -> list[Row]:
    rows: list[Row] = []
    fastest = msgspec.structs.replace(
        base_settings, decoding="sequential", batch_size=8, cpu_threads=1, batched_long=True
    )
    r4a, plain_clips = plain_row("4a", f"plain faster-whisper, {len(clips)} short clips one by one", clips, cores, beam)
    r4a.wer = clip_wer(plain_clips)
    rows.append(r4a)
    r4b, texts = stack_row(
        "4b",
        f"stack, {len(clips)} short clips, multi-recording batching ({cores} workers)",
        work,
        fastest,
        clips,
        cores,
    )
    r4b.wer = clip_wer(texts)
    r4b.note = f"{r4b.speed / r4a.speed:.2f}x row 4a"
    rows.append(r4b)
    unbatched = msgspec.structs.replace(fastest, batch_size=1)
    r4c, texts = stack_row(
        "4c",
        f"stack, {len(clips)} short clips, batching off ({cores} workers x 1 thread)",
        work,
        unbatched,
        clips,
        cores,
    )
    r4c.wer = clip_wer(texts)
    r4c.note = f"{r4c.speed / r4a.speed:.2f}x row 4a"
    rows.append(r4c)
    print_rows(rows)

    return rows


def write_section(readme: Path, name: str, body: str) -> None:
    """Replace what stands between `<!-- name -->` and `<!-- /name -->` (appended if missing)."""
    text = readme.read_text()
    start, end = f"<!-- {name} -->", f"<!-- /{name} -->"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        tail = rest.split(end, 1)[1]
    else:
        head, tail = text.rstrip() + "\n\n", "\n"
    readme.write_text(f"{head}{start}\n\n{body}\n\n{end}{tail}")


def print_rows(rows: list[Row]) -> None:
    last = rows[-1]
    print(f"  row {last.number}: {last.name}: {last.speed:.1f} audio-s/s {last.note}", file=sys.stderr, flush=True)


def render(rows: list[Row], cores: int, tiny: bool) -> str:
    anchor = rows[0].speed
    lines = [
        f"Measured {datetime.now(UTC):%Y-%m-%d} on {platform.machine()}, {cores} cores, Python "
        f"{platform.python_version()}, tiny.en int8, beam 5, word timestamps on{' (--tiny run)' if tiny else ''}.",
        "",
        "| row | what | audio s | wall s | audio-s / wall-s | x row 1 | WER | words | notes |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        speed = f"{r.speed:.1f}" if r.wall_s and r.audio_s else ""
        ratio = f"{r.speed / anchor:.2f}" if r.wall_s and r.audio_s else ""
        werv = "" if r.wer is None else f"{r.wer:.3f}"
        words = "" if r.words is None else str(r.words)
        audio_s = f"{r.audio_s:.1f}" if r.audio_s else ""
        wall_s = f"{r.wall_s:.2f}" if r.wall_s else ""
        lines.append(
            f"| {r.number} | {r.name} | {audio_s} | {wall_s} | {speed} | {ratio} | {werv} | {words} | {r.note} |"
        )
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    lines += ["", f"Benchmark process peak RSS {maxrss:.0f} MiB (plain faster-whisper runs in it)."]
    return "\n".join(lines)


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
