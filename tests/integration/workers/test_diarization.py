"""The diarization stage end to end: a two-speaker recording uploaded with `diarize=true` is
transcribed by a transcription worker, then labelled by a diarization worker (its own queue, its
own extra), and comes back with speakers in every output. A diarization worker killed mid-stage
loses nothing: another process of its node finishes the stage, and the transcript is not redone."""

from __future__ import annotations

import itertools
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import msgspec
import pytest

from earshot.processes import Proc, free_port, start_api, start_worker
from engine.diarization import diarization_available
from engine.jobs.routing import DIARIZATION, PoolRegistry
from tests.conftest import Stack, child_env, require
from tests.faults import REPORT, watched_client
from tests.supervision import events, kill9, wait_for, wait_ready

COLLAR = 0.25


@dataclass
class Diarizing:
    client: httpx.Client
    log: Path
    transcription_log: Path
    url: str
    bearer: str


@pytest.fixture(scope="module")
def diarizing(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Diarizing]:
    """An API on its own transcription queue, a worker for it, and a diarization node of two processes."""
    require("the diarization extra (scripts/setup --diarization)", diarization_available())
    logs = tmp_path_factory.mktemp("diarization")
    settings = msgspec.structs.replace(stack.settings, queues=f"q{time.monotonic_ns()}", batch_size=1)
    env = child_env(settings)
    port = free_port()
    procs: list[Proc] = [start_api(env, port, log_path=logs / "api.log")]
    try:
        procs.append(start_worker(env, log_path=logs / "transcription.log"))
        procs.append(start_worker({**env, "EARSHOT_QUEUES": "diarization"}, processes=2, log_path=logs / "node.log"))
        wait_ready(logs / "node.log", 2, timeout=120)
        registry = PoolRegistry(stack.backends.redis)
        wait_for("diarization pools", lambda: sum(p.model == DIARIZATION for p in registry.live()) >= 2, timeout=30)
        key = stack.tenant("diarization")
        with watched_client(f"http://127.0.0.1:{port}", (key.api_key, key.api_secret)) as client:
            yield Diarizing(
                client, logs / "node.log", logs / "transcription.log", f"http://127.0.0.1:{port}", key.bearer
            )
    finally:
        for proc in reversed(procs):
            proc.stop()


def _upload(client: httpx.Client, path: Path, **fields: str) -> str:
    """Upload, retrying while the API's pool cache has not yet seen the diarization workers."""
    deadline = time.monotonic() + 15
    while True:
        with path.open("rb") as fh:
            response = client.post("/v1/recordings", files={"file": (path.name, fh)}, data=fields)
        if response.status_code == 201 or time.monotonic() > deadline:
            assert response.status_code == 201, response.text
            return str(response.json()["id"])
        time.sleep(0.5)


def _wait(client: httpx.Client, rid: str, timeout: float = 240) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while True:
        body: dict[str, object] = client.get(f"/v1/recordings/{rid}").json()
        if body["status"] != "processing":
            return body
        assert time.monotonic() < deadline, f"{rid} still processing"
        time.sleep(0.3)


def _reference(rttm: Path, name: str) -> list[tuple[float, float, str]]:
    turns = []
    for line in rttm.read_text().splitlines():
        fields = line.split()
        if fields and fields[0] == "SPEAKER" and fields[1] == name:
            start, duration = float(fields[3]), float(fields[4])
            turns.append((start, start + duration, fields[7]))
    return turns


def _agreement(utterances: list[dict[str, object]], reference: list[tuple[float, float, str]]) -> float:
    """Share of the reference's talk time (0.25 s collar off each boundary, overlap excluded) where
    the speaker of the utterance covering it, mapped to the reference speaker it overlaps most,
    is the reference speaker. Talk time no utterance covers counts as a miss."""
    step = 0.02
    overlap: dict[tuple[str, str], float] = {}
    for u in utterances:
        for start, end, ref in reference:
            shared = min(float(u["end"]), end) - max(float(u["start"]), start)  # type: ignore[arg-type]
            if shared > 0:
                key = (str(u["speaker"]), ref)
                overlap[key] = overlap.get(key, 0.0) + shared
    mapping: dict[str, str] = {}
    for (hyp, ref), _ in sorted(overlap.items(), key=lambda item: -item[1]):
        if hyp not in mapping and ref not in mapping.values():
            mapping[hyp] = ref
    scored = agreed = 0
    for start, end, ref in reference:
        t = start + COLLAR
        while t < end - COLLAR:
            if sum(s <= t < e for s, e, _ in reference) == 1:
                scored += 1
                said = [str(u["speaker"]) for u in utterances if float(u["start"]) <= t < float(u["end"])]  # type: ignore[arg-type, call-overload]
                agreed += bool(said) and mapping.get(said[0]) == ref
            t += step
    return agreed / scored


def test_a_diarized_two_speaker_recording_has_two_speakers_in_every_output(
    diarizing: Diarizing, audio_dir: Path
) -> None:
    client = diarizing.client
    rid = _upload(client, audio_dir / "diarization" / "sample.wav", diarize="true")
    done = _wait(client, rid)
    assert done["status"] == "transcribed", done
    doc = client.get(f"/v1/recordings/{rid}/transcription").json()
    both = {"Speaker 1", "Speaker 2"}
    assert doc["diarization"] == {"status": "completed", "speakers": 2, "error": None}
    assert {w["speaker"] for w in doc["words"]} == both and all(s["speaker"] in both for s in doc["segments"])
    utterances = doc["utterances"]
    assert [u["start"] for u in utterances] == sorted(u["start"] for u in utterances)
    assert all(a["speaker"] != b["speaker"] for a, b in itertools.pairwise(utterances))
    assert sum(u["words"] for u in utterances) == len(doc["words"])
    stats = {s["speaker"]: s for s in doc["speakers"]}
    assert set(stats) == both and all(s["talk_seconds"] > 1 and s["words"] > 3 for s in stats.values())
    # The turns line up with the reference for most of the talk time.
    agreement = _agreement(utterances, _reference(audio_dir / "diarization" / "sample.rttm", "sample"))
    print(f"speaker agreement with the reference: {agreement:.1%}")
    assert agreement >= 0.75, agreement

    vtt = client.get(f"/v1/recordings/{rid}/transcription", params={"format": "vtt"}).text
    assert "<v Speaker 1>" in vtt and "<v Speaker 2>" in vtt
    srt = client.get(f"/v1/recordings/{rid}/transcription", params={"format": "srt"}).text
    assert "\nSpeaker 1: " in srt and "\nSpeaker 2: " in srt
    text = client.get(f"/v1/recordings/{rid}/transcription", params={"format": "text"}).text
    lines = text.strip().splitlines()
    assert len(lines) == len(utterances) and all(line.startswith(("Speaker 1: ", "Speaker 2: ")) for line in lines)


def test_a_diarization_worker_killed_mid_stage_loses_nothing(
    diarizing: Diarizing, audio_dir: Path, tmp_path: Path
) -> None:
    # The four diarization files one after another (2 min), so the stage is still running when the
    # kill lands.
    long = tmp_path / "meeting.wav"
    inputs = [
        a
        for name in ("sample", "dev00", "dev01", "trn01")
        for a in ("-i", str(audio_dir / "diarization" / f"{name}.wav"))
    ]
    mix = "".join(f"[{n}:a]aresample=16000,aformat=channel_layouts=mono[a{n}];" for n in range(4))
    subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-v",
            "error",
            *inputs,
            "-filter_complex",
            f"{mix}[a0][a1][a2][a3]concat=n=4:v=0:a=1",
            str(long),
        ],
        check=True,
    )
    client = diarizing.client
    rid = _upload(client, long, diarize="true", max_speakers="8")

    def diarizing_pid() -> int | None:
        started = [int(e["pid"]) for e in events(diarizing.log, "diarizing") if e.get("recording_id") == rid]
        return started[0] if started else None

    victim = wait_for("the diarization stage to start", diarizing_pid, timeout=180)
    kill9(victim)
    REPORT.faults_injected.append("SIGKILL a diarization worker process mid-stage")
    done = _wait(client, rid)
    assert done["status"] == "transcribed", done
    doc = client.get(f"/v1/recordings/{rid}/transcription").json()
    assert doc["diarization"]["status"] == "completed" and 2 <= doc["diarization"]["speakers"] <= 8
    assert len(doc["words"]) > 100 and len({w["speaker"] for w in doc["words"]}) >= 2
    finished_by = {int(e["pid"]) for e in events(diarizing.log, "diarized") if e.get("recording_id") == rid}
    assert finished_by and victim not in finished_by
    # The transcript was not redone: transcribed once, and one transcript object is left.
    assert len([e for e in events(diarizing.transcription_log, "transcribing") if e.get("recording_id") == rid]) == 1


def test_an_openai_client_gets_speaker_turns_from_the_diarize_model(diarizing: Diarizing, audio_dir: Path) -> None:
    """The `openai` SDK, unmodified, as its users call OpenAI's speaker-labelling model."""
    import openai
    from openai.types.audio import TranscriptionDiarized

    sample = audio_dir / "diarization" / "sample.wav"
    with openai.OpenAI(api_key=diarizing.bearer, base_url=f"{diarizing.url}/v1", max_retries=0, timeout=300) as oai:
        wait_for(
            "the diarize model to be offered",
            lambda: "gpt-4o-transcribe-diarize" in {m.id for m in oai.models.list()},
            timeout=15,
        )
        result = oai.audio.transcriptions.create(
            model="gpt-4o-transcribe-diarize",
            file=(sample.name, sample.read_bytes()),
            response_format="diarized_json",
            chunking_strategy="auto",
        )
    assert isinstance(result, TranscriptionDiarized)
    assert result.task == "transcribe" and result.duration == pytest.approx(30.0, abs=0.5) and result.text
    assert {s.speaker for s in result.segments} == {"A", "B"}
    assert [s.start for s in result.segments] == sorted(s.start for s in result.segments)
    assert all(s.type == "transcript.text.segment" and s.text and s.end >= s.start for s in result.segments)
    turns: list[dict[str, object]] = [{"speaker": s.speaker, "start": s.start, "end": s.end} for s in result.segments]
    agreement = _agreement(turns, _reference(audio_dir / "diarization" / "sample.rttm", "sample"))
    assert agreement >= 0.75, agreement
