"""The diarization stage on a stored transcript, with in-memory index and storage, real ffmpeg and
a diarizer that answers fixed turns: what the words end up labelled with."""

from __future__ import annotations

from typing import Any

import pytest

from engine.diarization import SpeakerCount, SpeakerTurn
from engine.errors import ServiceUnavailable
from engine.jobs.diarization import DiarizationJob
from engine.recordings.model import Features, Status
from engine.settings import Settings
from tests.unit.engine.jobs.conftest import World

# FakeTranscriber's words: hello 0.0-0.4, brave 0.5-0.9, new 1.0-1.4, world 1.5-1.9.


class FixedTurns:
    def __init__(self, turns: list[SpeakerTurn]) -> None:
        self.turns = turns

    def diarize(self, samples: Any, count: SpeakerCount) -> list[SpeakerTurn]:
        return self.turns


def _diarized(jfk: bytes, turns: list[SpeakerTurn]) -> World:
    world = World()
    rec = world.add(jfk, features=Features(model="fake", diarize=True))
    assert world.job.run(rec.id) == Status.PROCESSING
    stage = DiarizationJob(
        settings=Settings(), index=world.index, storage=world.storage, diarizer=lambda: FixedTurns(turns)
    )
    assert stage.run(rec.id) == Status.TRANSCRIBED
    world.rec = rec  # type: ignore[attr-defined]
    return world


def test_words_are_labelled_and_the_counts_agree(jfk: bytes) -> None:
    world = _diarized(jfk, [SpeakerTurn(0.0, 0.95, 1), SpeakerTurn(0.95, 2.0, 2)])
    doc = world.transcript(world.rec)  # type: ignore[attr-defined]
    assert doc is not None and doc.diarization is not None
    assert [w.speaker for w in doc.words] == ["Speaker 1", "Speaker 1", "Speaker 2", "Speaker 2"]
    assert doc.speakers is not None and [s.speaker for s in doc.speakers] == ["Speaker 1", "Speaker 2"]
    assert doc.diarization.speakers == 2


def test_no_voice_told_apart_still_gives_every_word_one_speaker(jfk: bytes) -> None:
    world = _diarized(jfk, [])
    doc = world.transcript(world.rec)  # type: ignore[attr-defined]
    assert doc is not None and doc.diarization is not None
    assert {w.speaker for w in doc.words} == {"Speaker 1"}
    assert {s.speaker for s in doc.segments} == {"Speaker 1"}
    assert doc.utterances is not None and [u.speaker for u in doc.utterances] == ["Speaker 1"]
    assert (doc.diarization.status, doc.diarization.speakers) == ("completed", 1)


def test_a_speaker_heard_without_words_leaves_no_gap_in_the_numbering(jfk: bytes) -> None:
    # Speaker 2 talks only in the silence after the words (the transcript has none of theirs).
    turns = [SpeakerTurn(0.0, 0.95, 1), SpeakerTurn(5.0, 6.0, 2), SpeakerTurn(0.95, 2.0, 3)]
    world = _diarized(jfk, turns)
    doc = world.transcript(world.rec)  # type: ignore[attr-defined]
    assert doc is not None and doc.diarization is not None
    assert [w.speaker for w in doc.words] == ["Speaker 1", "Speaker 1", "Speaker 2", "Speaker 2"]
    assert doc.diarization.speakers == 2 and doc.speakers is not None and len(doc.speakers) == 2


class PublishFailsOnce:
    """Redis goes away between the stage's index write and its webhook event, once."""

    def __init__(self) -> None:
        self.published: list[tuple[str, Status, int | None]] = []
        self.failed = False

    def publish(self, recording: Any, transcription: Any) -> str | None:
        if not self.failed:
            self.failed = True
            raise ServiceUnavailable("redis is unavailable")
        speakers = len(transcription.speakers) if transcription and transcription.speakers else None
        self.published.append((recording.id, recording.status, speakers))
        return "evt"


def test_a_stage_finished_without_its_event_sends_it_on_the_redelivery(jfk: bytes) -> None:
    world = World()
    rec = world.add(jfk, features=Features(model="fake", diarize=True))
    assert world.job.run(rec.id) == Status.PROCESSING
    events = PublishFailsOnce()
    turns = [SpeakerTurn(0.0, 0.95, 1), SpeakerTurn(0.95, 2.0, 2)]
    stage = DiarizationJob(
        settings=Settings(),
        index=world.index,
        storage=world.storage,
        diarizer=lambda: FixedTurns(turns),
        events=events,  # type: ignore[arg-type]
    )
    with pytest.raises(ServiceUnavailable):
        stage.run(rec.id)  # the recording is transcribed, the webhook not sent
    done = world.index.get(rec.id)
    assert done is not None and done.status == Status.TRANSCRIBED
    assert stage.run(rec.id) is None  # the queue's retry: nothing to diarize ...
    assert events.published == [(rec.id, Status.TRANSCRIBED, 2)]  # ... but the event goes out
