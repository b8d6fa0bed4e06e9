"""The diarization stage: speakers for a recording whose transcript is already stored.

A recording uploaded with `diarize=true` is transcribed as any other; the transcription job stores
its transcript, marks the recording `stage=diarization` (still `processing`) and queues this job on
the `diarization` queue, which only workers with the diarization extra consume. This job decodes
the audio, finds speaker turns, labels the stored transcript's words and segments, adds speaker
turns and per-speaker stats, and finishes the recording (`transcribed`, webhook sent).

Like the transcription job it is safe to run twice: every write is a compare-and-set on a
`processing` recording in the diarization stage, under the recording's lease. A worker killed
mid-stage loses nothing: the transcript stays stored, the message is redelivered to another
diarization worker, which runs only this stage again. If diarization fails for good, the recording
still finishes `transcribed`, its transcription document saying `diarization.status = failed` and
why; no word already transcribed is lost.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import msgspec

from engine.clock import utc_now
from engine.diarization import Diarizer, SpeakerCount, SpeakerTurn
from engine.errors import DiarizationFailed, JobFailure, ServiceUnavailable
from engine.index.protocol import Index
from engine.jobs.locks import MAX_DEATHS, RecordingLocks, died_message
from engine.ops.metrics import JobMetrics
from engine.recordings.model import DIARIZATION_STAGE, Features, Recording, RecordingError, Status, transcript_key
from engine.recordings.outcomes import Outcomes
from engine.recordings.speakers import (
    label_segments_by_words,
    label_speakers,
    number_by_appearance,
    speaker_stats,
    utterances,
)
from engine.recordings.transcripts import Diarization, StoredTranscription
from engine.settings import Settings
from engine.storage.protocol import Storage
from engine.transcription import audio
from engine.webhooks.publisher import EventPublisher

__all__ = ["DiarizationJob"]

log = logging.getLogger("earshot.diarization")
_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(StoredTranscription).decode


class DiarizationJob:
    def __init__(
        self,
        *,
        settings: Settings,
        index: Index,
        storage: Storage,
        diarizer: Callable[[], Diarizer],
        events: EventPublisher | None = None,
        metrics: JobMetrics | None = None,
        locks: RecordingLocks | None = None,
    ) -> None:
        self._settings = settings
        self._index = index
        self._storage = storage
        self._diarizer = diarizer
        self._outcomes = Outcomes(index, events=events, metrics=metrics)
        self._locks = locks

    def run(self, recording_id: str) -> Status | None:
        """Diarize one recording; its final status, or None when there was nothing to do."""
        recording = self._index.get(recording_id)
        if recording is None:
            return None
        if recording.status != Status.PROCESSING:
            # Finished by an earlier run: make sure its event went out (that run may have died, or
            # lost Redis, between its index write and its publish; publishing is idempotent).
            self._republish(recording)
            return None
        if recording.stage != DIARIZATION_STAGE or recording.transcript_key is None:
            log.warning("not ready for diarization", extra={"recording_id": recording_id})
            return None  # its transcription job queues this stage once the transcript is stored
        lease = self._locks.hold(recording.id, DIARIZATION_STAGE) if self._locks else contextlib.nullcontext(0)
        with lease as deaths:
            document = self._transcript(recording)
            if deaths >= MAX_DEATHS:
                log.error("diarization runs died mid-stage; given up", extra={"recording_id": recording.id})
                if self._locks is not None:
                    self._locks.forget_deaths(recording.id, DIARIZATION_STAGE)
                return self._finish(recording, _failed(document, DiarizationFailed(died_message(deaths))))
            try:
                labelled = self._diarize(recording, document)
            except JobFailure as exc:
                return self._finish(recording, _failed(document, exc))
            return self._finish(recording, labelled)

    def fail(self, recording_id: str, exc: JobFailure) -> Status | None:
        """Finish the recording with its transcript and the diarization's failure (no-op if it is
        gone, finished or not in this stage)."""
        recording = self._index.get(recording_id)
        if recording is None or recording.status != Status.PROCESSING or recording.stage != DIARIZATION_STAGE:
            return None
        return self._finish(recording, _failed(self._transcript(recording), exc))

    def _republish(self, recording: Recording) -> None:
        if recording.status != Status.TRANSCRIBED or not recording.transcript_key:
            return  # a failed recording's event is its own job's (`Outcomes.fail` publishes it)
        raw = self._storage.get_bytes(recording.transcript_key)
        self._outcomes.publish(recording, None if raw is None else _decode(raw))

    def _transcript(self, recording: Recording) -> StoredTranscription:
        assert recording.transcript_key is not None
        raw = self._storage.get_bytes(recording.transcript_key)
        if raw is None:
            raise ServiceUnavailable("the stored transcript cannot be read")
        return _decode(raw)

    def _diarize(self, recording: Recording, document: StoredTranscription) -> StoredTranscription:
        features = recording.features or Features()
        log.info("diarizing", extra={"recording_id": recording.id, "tenant_id": recording.tenant_id})
        started = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="earshot-diarize-") as tmp:
            path = Path(tmp) / "audio"
            if not self._storage.download(recording.s3_key, path):
                raise DiarizationFailed("the recording's audio is gone")
            samples = audio.decode(path, max_seconds=self._settings.max_audio_seconds)
        count = SpeakerCount(
            expected=features.speakers_expected, minimum=features.min_speakers, maximum=features.max_speakers
        )
        try:
            turns = self._diarizer().diarize(samples, count)
        except (RuntimeError, ValueError, MemoryError) as exc:
            log.exception("diarization failed", extra={"recording_id": recording.id})
            raise DiarizationFailed(f"the diarization model failed: {type(exc).__name__}") from None
        if not turns and (document.words or any(s.text for s in document.segments)):
            # Words, but no stretch of one voice long enough to tell voices apart: one speaker,
            # so that every word still says whose it is.
            log.info("no voices told apart; one speaker", extra={"recording_id": recording.id})
            turns = [SpeakerTurn(0.0, max(document.duration_seconds or 0.0, samples.size / audio.SAMPLE_RATE), 1)]
        labelled = label_speakers(document.words, turns)
        words, segments, raw_words = number_by_appearance(
            labelled,
            label_segments_by_words(label_speakers(document.segments, turns), labelled),
            label_speakers(document.raw_words, turns) if document.raw_words else None,
        )
        spoken = utterances(words, segments)
        stats = speaker_stats(spoken)
        found = len(stats)  # the speakers the transcript shows; the webhook's count is the same
        log.info(
            "diarized",
            extra={
                "recording_id": recording.id,
                "speakers": found,
                "turns": len(turns),
                "ms": int((time.perf_counter() - started) * 1000),
            },
        )
        return msgspec.structs.replace(
            document,
            words=words,
            segments=segments,
            raw_words=raw_words,
            utterances=spoken,
            speakers=stats,
            diarization=Diarization(status="completed", speakers=found),
            updated_at=utc_now(),
        )

    def _finish(self, recording: Recording, document: StoredTranscription) -> Status | None:
        """Store the labelled transcript and finish the recording (compare-and-set: a run that
        lost the race, or a recording deleted meanwhile, removes what it wrote)."""
        key = transcript_key(recording.tenant_id, recording.id, run=uuid.uuid4().hex[:12])
        self._storage.put_bytes(key, _encode(document), "application/json")
        now = utc_now()
        done = msgspec.structs.replace(
            recording,
            status=Status.TRANSCRIBED,
            stage=None,
            transcript_key=key,
            updated_at=now,
            processed_at=now,
            progress=1.0,
        )
        if not self._index.update(done):
            self._storage.delete(key)
            return None
        if recording.transcript_key and recording.transcript_key != key:
            with contextlib.suppress(ServiceUnavailable):  # a leftover is swept by the next run's check
                self._storage.delete(recording.transcript_key)
        self._outcomes.publish(done, document)
        model = (recording.features or Features()).model
        self._outcomes.count("transcribed", model, "", document.duration_seconds, None)
        return Status.TRANSCRIBED


def _failed(document: StoredTranscription, exc: JobFailure) -> StoredTranscription:
    log.warning("diarization failed for good; the transcript completes without speakers", extra={"code": exc.code})
    return msgspec.structs.replace(
        document,
        diarization=Diarization(status="failed", error=RecordingError(code=exc.code, message=exc.message)),
        updated_at=utc_now(),
    )
