"""TranscriptionJob with in-memory index and storage, a fake model and real ffmpeg (`conftest.World`)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import ffmpeg
import msgspec
import pytest

from engine.clock import utc_now
from engine.errors import AudioTooLong, ServiceUnavailable
from engine.index.memory import MemoryIndex
from engine.jobs.locks import MAX_DEATHS
from engine.jobs.pipeline import TranscriptionJob, transcription_id_for
from engine.recordings.model import Features, Recording, Status
from engine.settings import Settings
from tests.conftest import AUDIO, require_audio
from tests.unit.engine.jobs.conftest import World
from tests.unit.fakes import FakeTranscriber


def test_a_recording_is_probed_transcribed_and_stored(jfk: bytes) -> None:
    world = World()
    rec = world.add(jfk)
    assert world.job.run(rec.id) == Status.TRANSCRIBED
    done = world.index.get(rec.id)
    assert done is not None and done.status == Status.TRANSCRIBED
    assert (done.sample_rate, done.channels, done.audio_codec) == (44100, 2, "flac")
    assert done.duration_seconds == pytest.approx(11.0, abs=0.05)
    assert done.processed_at is not None
    transcript = world.transcript(rec)
    assert transcript is not None
    assert transcript.id == transcription_id_for(rec.id)
    assert transcript.text == "hello brave new world"
    assert transcript.language == "english" and transcript.language_code == "en"
    assert transcript.confidence == pytest.approx(0.9)
    assert [w.word for w in transcript.words] == ["hello", "brave", "new", "world"]


def test_the_features_asked_for_reach_the_model(jfk: bytes) -> None:
    world = World()
    rec = world.add(jfk, features=Features(model="fake", language="en", word_timestamps=False, initial_prompt="JFK"))
    world.job.run(rec.id)
    (options,) = world.transcriber.calls
    assert (options.language, options.word_timestamps, options.initial_prompt) == ("en", False, "JFK")
    transcript = world.transcript(rec)
    assert transcript is not None and transcript.words == []
    assert 0 < transcript.confidence <= 1  # from the segments when words were not asked for


def test_running_a_job_twice_does_the_work_once(jfk: bytes) -> None:
    world = World()
    rec = world.add(jfk)
    world.job.run(rec.id)
    first = dict(world.storage.objects)
    assert world.job.run(rec.id) is None
    assert len(world.transcriber.calls) == 1
    assert world.storage.objects == first  # no second transcript object


def test_a_job_for_a_deleted_recording_writes_nothing(jfk: bytes) -> None:
    world = World()
    rec = world.add(jfk)
    world.index.delete(rec.id)
    world.storage.delete(rec.s3_key)
    assert world.job.run(rec.id) is None
    assert world.index.get(rec.id) is None
    assert world.storage.objects == {}


def test_a_delete_during_transcription_leaves_no_transcript_behind(jfk: bytes) -> None:
    world = World()
    rec = world.add(jfk)

    def user_deletes() -> None:
        world.index.delete(rec.id)
        world.storage.delete(rec.s3_key)

    world.transcriber.on_call = user_deletes
    assert world.job.run(rec.id) is None
    assert world.index.get(rec.id) is None
    assert world.storage.objects == {}


def test_bytes_that_are_not_audio_fail_invalid_audio() -> None:
    world = World()
    rec = world.add(b"%PDF-1.4 definitely not audio" * 100, ext="wav")
    assert world.job.run(rec.id) == Status.FAILED
    failed = world.index.get(rec.id)
    assert failed is not None and failed.error is not None
    assert failed.error.code == "INVALID_AUDIO"
    assert world.transcriber.calls == []
    assert world.transcript(rec) is None


def test_audio_longer_than_the_limit_fails_audio_too_long(jfk: bytes) -> None:
    world = World(settings=Settings(max_audio_seconds=5))
    rec = world.add(jfk)
    assert world.job.run(rec.id) == Status.FAILED
    failed = world.index.get(rec.id)
    assert failed is not None and failed.error is not None and failed.error.code == "AUDIO_TOO_LONG"
    assert failed.duration_seconds == pytest.approx(11.0, abs=0.05)  # probed fields are kept


def test_a_model_error_fails_transcription_error(jfk: bytes) -> None:
    def boom() -> None:
        raise RuntimeError("CUDA out of memory")

    world = World(transcriber=FakeTranscriber(on_call=boom))
    rec = world.add(jfk)
    assert world.job.run(rec.id) == Status.FAILED
    failed = world.index.get(rec.id)
    assert failed is not None and failed.error is not None
    assert failed.error.code == "TRANSCRIPTION_ERROR"
    assert failed.error.message == "the model failed: RuntimeError"


def test_storage_outage_propagates_for_retry_and_keeps_the_recording_processing(jfk: bytes) -> None:
    world = World()
    rec = world.add(jfk)

    def down(*args: object) -> bool:
        raise ServiceUnavailable("object storage is unavailable")

    world.storage.download = down  # type: ignore[method-assign]
    with pytest.raises(ServiceUnavailable):
        world.job.run(rec.id)
    current = world.index.get(rec.id)
    assert current is not None and current.status == Status.PROCESSING


def test_audio_without_words_is_transcribed_as_empty_text_with_zero_confidence() -> None:
    require_audio()
    world = World(transcriber=FakeTranscriber(text=""))
    rec = world.add((AUDIO / "espeak_1.wav").read_bytes(), ext="wav")
    assert world.job.run(rec.id) == Status.TRANSCRIBED
    transcript = world.transcript(rec)
    assert transcript is not None and transcript.text == "" and transcript.confidence == 0.0


def test_progress_is_written_while_transcribing_and_is_1_when_done(jfk: bytes) -> None:
    seen: list[float | None] = []
    world = World(progress_every_s=0.0)
    rec = world.add(jfk)

    original = world.index.update

    def spy(recording: Recording, **kwargs: object) -> bool:
        seen.append(recording.progress)
        return original(recording, **kwargs)  # type: ignore[arg-type]

    world.index.update = spy  # type: ignore[method-assign]
    assert world.job.run(rec.id) == Status.TRANSCRIBED
    assert [p for p in seen if p is not None] == [0.25, 0.5, 0.75, 1.0]
    done = world.index.get(rec.id)
    assert done is not None and done.progress == 1.0


def test_two_runs_racing_leave_exactly_one_transcript(jfk: bytes) -> None:
    # The second run starts while the first is inside the model (a redelivered job whose first
    # worker is still alive, or paused): whichever finishes second must leave nothing behind.
    world = World()
    rec = world.add(jfk)
    nested: list[Status | None] = []

    def second_run() -> None:
        if not nested:
            nested.append(None)  # mark first, so the nested run's own model call does not recurse
            nested.append(world.job.run(rec.id))

    world.transcriber.on_call = second_run
    assert world.job.run(rec.id) is None  # the first run lost the race to the nested second one
    assert nested[1] == Status.TRANSCRIBED
    transcripts = [k for k in world.storage.objects if ".transcript" in k]
    current = world.index.get(rec.id)
    assert current is not None and current.status == Status.TRANSCRIBED
    assert transcripts == [current.transcript_key]


def test_audio_whose_header_hides_its_length_is_still_held_to_the_limit(tmp_path: Path) -> None:
    # A browser's MediaRecorder webm has no duration in its header; ffmpeg writing to a pipe makes
    # one like it. The decode must stop near the limit rather than decode everything.
    import subprocess

    require_audio()
    webm = subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-i", str(AUDIO / "jfk.flac"), "-c:a", "libopus",
         "-f", "webm", "pipe:1"],
        capture_output=True, check=True,
    ).stdout  # fmt: skip
    world = World(settings=Settings(max_audio_seconds=3))
    rec = world.add(webm, ext="webm")
    assert world.job.run(rec.id) == Status.FAILED
    failed = world.index.get(rec.id)
    assert failed is not None and failed.error is not None and failed.error.code == "AUDIO_TOO_LONG"
    assert failed.duration_seconds is None  # ffprobe could not tell; the decode found out
    assert world.transcriber.calls == []

    from engine.transcription import audio

    path = tmp_path / "a.webm"
    path.write_bytes(webm)
    decoded = 0
    with pytest.raises(AudioTooLong):  # blocks come as they are decoded, and stop at the limit
        for block in audio.decode_stream(path, max_seconds=3, block_seconds=1):
            decoded += len(block)
    assert 2 * audio.SAMPLE_RATE <= decoded <= 3 * audio.SAMPLE_RATE


class ClaimFailsOnce(MemoryIndex):
    """Redis goes away between storing a transcript and claiming the recording, once."""

    def __init__(self) -> None:
        super().__init__()
        self.failed = False

    def update(self, recording: Recording, *, expect: Status | None = Status.PROCESSING) -> bool:
        if recording.status == Status.TRANSCRIBED and not self.failed:
            self.failed = True
            raise ServiceUnavailable("redis is unavailable")
        return super().update(recording, expect=expect)


def test_a_transcript_whose_claim_failed_is_not_left_behind_by_the_retry(jfk: bytes) -> None:
    world = World()
    world.index = ClaimFailsOnce()
    world.job = TranscriptionJob(
        settings=Settings(),
        index=world.index,
        storage=world.storage,
        transcriber_for=lambda name: world.transcriber,
        locks=NoLocks(),  # type: ignore[arg-type]
    )
    rec = world.add(jfk)
    with pytest.raises(ServiceUnavailable):
        world.job.run(rec.id)
    assert len(list(world.storage.list_keys("t/rec-0.transcript."))) == 1  # the orphan, for now
    assert world.job.run(rec.id) == Status.TRANSCRIBED  # the queue's retry
    done = world.index.get(rec.id)
    assert done is not None
    assert list(world.storage.list_keys("t/rec-0.transcript.")) == [done.transcript_key]


class NoLocks:
    """A lease that always holds (one run at a time is the test's own doing)."""

    def hold(self, recording_id: str, stage: str = "transcription") -> contextlib.AbstractContextManager[int]:
        return contextlib.nullcontext(0)


class CountingLocks:
    """RecordingLocks' count of runs begun and never ended, in memory; `die()` makes the next run's
    process die mid-run (its hold is never left)."""

    def __init__(self) -> None:
        self.runs: dict[tuple[str, str], int] = {}
        self.dying = False

    def die(self) -> None:
        self.dying = True

    @contextlib.contextmanager
    def hold(self, recording_id: str, stage: str = "transcription") -> Iterator[int]:
        key = (recording_id, stage)
        self.runs[key] = self.runs.get(key, 0) + 1
        if self.dying:
            self.dying = False
            raise SystemExit("killed")  # stands for SIGKILL: the count is not taken back
        try:
            yield self.runs[key] - 1
        finally:
            self.runs[key] = max(self.runs.get(key, 0) - 1, 0)

    def forget_deaths(self, recording_id: str, stage: str = "transcription") -> None:
        self.runs.pop((recording_id, stage), None)


def test_a_recording_whose_runs_keep_killing_the_worker_fails_after_three_deaths_and_a_retry_starts_afresh(
    jfk: bytes,
) -> None:
    world = World()
    locks = CountingLocks()
    world.job = TranscriptionJob(
        settings=Settings(),
        index=world.index,
        storage=world.storage,
        transcriber_for=lambda name: world.transcriber,
        locks=locks,  # type: ignore[arg-type]
    )
    rec = world.add(jfk)
    for _ in range(MAX_DEATHS):  # out of memory, say: Dramatiq redelivers it every time
        locks.die()
        with pytest.raises(SystemExit):
            world.job.run(rec.id)
        current = world.index.get(rec.id)
        assert current is not None and current.status == Status.PROCESSING
    assert world.job.run(rec.id) == Status.FAILED  # the next delivery gives up, before any work
    failed = world.index.get(rec.id)
    assert failed is not None and failed.error is not None
    assert failed.error.code == "TRANSCRIPTION_ERROR" and "died 3 times" in failed.error.message
    assert world.transcriber.calls == []
    # A user's retry gets a fresh count: one clean run transcribes it.
    world.index.update(msgspec.structs.replace(failed, status=Status.PROCESSING, error=None), expect=Status.FAILED)
    assert world.job.run(rec.id) == Status.TRANSCRIBED


def test_a_diarize_recording_waits_for_its_stage_and_finishes_without_speakers_when_no_worker_is_left(
    jfk: bytes,
) -> None:
    world = World()
    rec = world.add(jfk, features=Features(model="fake", diarize=True))
    assert world.job.run(rec.id) == Status.PROCESSING  # transcript stored, handed to diarization
    assert world.handed_over == [rec.id]
    waiting = world.index.get(rec.id)
    assert waiting is not None and (waiting.status, waiting.stage) == (Status.PROCESSING, "diarization")
    # The sweeper queues it again while a diarization worker lives: handed over again, nothing else.
    assert world.job.run(rec.id) is None and world.handed_over == [rec.id, rec.id]
    # None left: a redelivery right after the hand-over still hands over (one may be restarting) ...
    world.diarization_workers = False
    assert world.job.run(rec.id) is None and world.handed_over == [rec.id] * 3
    # ... but once the stage has waited EARSHOT_JOB_STALE_S (the sweeper's requeue), the recording
    # finishes with its words and says why it has no speakers.
    stale = msgspec.structs.replace(waiting, updated_at=utc_now() - timedelta(seconds=Settings().job_stale_s + 1))
    assert world.index.update(stale, expect=Status.PROCESSING)
    assert world.job.run(rec.id) == Status.TRANSCRIBED
    transcript = world.transcript(rec)
    assert transcript is not None and transcript.text == "hello brave new world"
    assert transcript.diarization is not None and transcript.diarization.status == "failed"
    assert transcript.diarization.error is not None
    assert transcript.diarization.error.code == "DIARIZATION_UNAVAILABLE"
    assert world.handed_over == [rec.id] * 3


def test_channels_split_on_a_one_channel_file_still_labels_channel_0(tmp_path: Path) -> None:
    require_audio()
    mono = tmp_path / "mono.wav"
    ffmpeg.input(str(AUDIO / "jfk.flac")).output(str(mono), ac=1, ar=16000).run(quiet=True)
    world = World()
    rec = world.add(mono.read_bytes(), ext="wav", features=Features(model="fake", channels="split"))
    assert world.job.run(rec.id) == Status.TRANSCRIBED
    transcript = world.transcript(rec)
    assert transcript is not None and transcript.words
    assert {(w.channel, w.speaker) for w in transcript.words} == {(0, "Channel 0")}
    assert {(s.channel, s.speaker) for s in transcript.segments} == {(0, "Channel 0")}
    assert transcript.utterances is not None and [u.channel for u in transcript.utterances] == [0]
    assert transcript.speakers is not None and [s.words for s in transcript.speakers] == [4]


def test_a_by_url_recording_fetched_by_a_run_that_died_before_storing_its_size_gets_its_size(jfk: bytes) -> None:
    world = World()
    rec = world.add(jfk, features=Features(model="fake", source_url="https://calls.example.com/r.flac"))
    # As the earlier run left it: the fetched audio stored, its size not yet in the index.
    world.index.update(msgspec.structs.replace(rec, file_size_bytes=None))
    assert world.job.run(rec.id) == Status.TRANSCRIBED
    done = world.index.get(rec.id)
    assert done is not None and done.file_size_bytes == len(jfk)  # its audio link works again
