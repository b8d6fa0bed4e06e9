"""The jobs' world: in-memory index and storage, a fake model, real ffmpeg."""

from __future__ import annotations

import msgspec
import pytest

from engine.clock import utc_now
from engine.index.memory import MemoryIndex
from engine.jobs.pipeline import TranscriptionJob
from engine.recordings.model import Features, Recording, audio_key
from engine.recordings.transcripts import Transcription
from engine.settings import Settings
from engine.storage.memory import MemoryStorage
from tests.conftest import AUDIO, require_audio, require_binary
from tests.unit.fakes import FakeTranscriber


@pytest.fixture(autouse=True)
def ffmpeg_installed() -> None:
    require_binary("ffprobe")  # skips on a laptop without ffmpeg, fails under CI=true


class World:
    def __init__(
        self,
        settings: Settings | None = None,
        transcriber: FakeTranscriber | None = None,
        progress_every_s: float = 2.0,
        diarization_workers: bool = True,
    ) -> None:
        self.index = MemoryIndex()
        self.storage = MemoryStorage()
        self.transcriber = transcriber or FakeTranscriber()
        self.handed_over: list[str] = []
        self.diarization_workers = diarization_workers
        self.job = TranscriptionJob(
            settings=settings or Settings(),
            index=self.index,
            storage=self.storage,
            transcriber_for=lambda name: self.transcriber,
            progress_every_s=progress_every_s,
            enqueue_diarization=self.handed_over.append,
            can_diarize=lambda: self.diarization_workers,
        )

    def add(self, data: bytes, ext: str = "flac", features: Features | None = None) -> Recording:
        now = utc_now()
        rid = "rec-" + str(len(self.index._items))
        rec = Recording(
            id=rid, tenant_id="t", s3_key=audio_key("t", rid, ext), s3_bucket="memory", audio_format=ext,
            features=features or Features(model="fake"), created_at=now, updated_at=now,
        )  # fmt: skip
        self.storage.put_bytes(rec.s3_key, data, "audio/flac")
        self.index.add(rec)
        return rec

    def transcript(self, rec: Recording) -> Transcription | None:
        current = self.index.get(rec.id)
        if current is None or current.transcript_key is None:
            return None
        raw = self.storage.get_bytes(current.transcript_key)
        return None if raw is None else msgspec.json.decode(raw, type=Transcription)


@pytest.fixture
def jfk() -> bytes:
    require_audio()
    return (AUDIO / "jfk.flac").read_bytes()
