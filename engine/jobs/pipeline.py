"""One transcription job, written to run twice: fetch → probe → decode → transcribe → store.

Every write goes through `Index.update(..., expect=PROCESSING)`, so a run for a recording that was
deleted, or already finished by another run, changes nothing; a transcript written by a run that
lost that race is removed again. Permanent problems (`JobFailure`) end the recording `failed`;
`ServiceUnavailable` propagates so that the queue retries the job later.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import msgspec
import numpy as np
from numpy.typing import NDArray

from engine.clock import utc_now
from engine.diarization import Diarizer
from engine.errors import AudioTooLong, DiarizationUnavailable, JobFailure, ServiceUnavailable, TranscriptionError
from engine.index.protocol import Index
from engine.jobs.diarization import DiarizationJob
from engine.jobs.locks import MAX_DEATHS, RecordingLocks, died_message
from engine.ops.metrics import JobMetrics
from engine.outbound.fetch import fetch_to_storage
from engine.recordings.languages import LANGUAGES, language_name
from engine.recordings.model import DIARIZATION_STAGE, Features, Recording, Status, transcript_key
from engine.recordings.outcomes import Outcomes
from engine.recordings.speakers import speaker_stats, utterances
from engine.recordings.transcripts import StoredTranscription, Transcription, language_summary, weighted_confidence
from engine.settings import Settings
from engine.storage.protocol import Storage
from engine.transcription import audio
from engine.transcription.channels import merge_channels
from engine.transcription.whisper import (
    StreamingTranscriber,
    TranscribeOptions,
    Transcriber,
    TranscriptResult,
    segment_confidence,
)
from engine.vocabularies.apply import apply_replacements, apply_to_text
from engine.vocabularies.model import Replacement
from engine.webhooks.publisher import EventPublisher

__all__ = ["TranscriptionJob", "transcription_id_for"]

log = logging.getLogger("earshot.pipeline")
_encode = msgspec.json.Encoder().encode
MAX_CHANNEL_THREADS = 8
"""Channels transcribed at once (`channels=split`); more channels wait their turn."""
_NS = uuid.UUID("5f0e8d8e-6a3e-4f0c-9a34-2f1c1e0f7a11")


def _no_diarizer() -> Diarizer:
    raise DiarizationUnavailable("this transcription worker does not diarize")


def transcription_id_for(recording_id: str) -> str:
    """Stable per recording, so that a rerun writes the same document, not a second one."""
    return str(uuid.uuid5(_NS, recording_id))


class TranscriptionJob:
    def __init__(
        self,
        *,
        settings: Settings,
        index: Index,
        storage: Storage,
        transcriber_for: Callable[[str], Transcriber],
        events: EventPublisher | None = None,
        progress_every_s: float = 2.0,
        metrics: JobMetrics | None = None,
        locks: RecordingLocks | None = None,
        enqueue_diarization: Callable[[str], None] | None = None,
        can_diarize: Callable[[], bool] | None = None,
    ) -> None:
        self._enqueue_diarization = enqueue_diarization
        self._can_diarize = can_diarize
        self._events = events
        self._metrics = metrics
        self._outcomes = Outcomes(index, events=events, metrics=metrics)
        self._locks = locks
        self._progress_every_s = progress_every_s
        self._settings = settings
        self._index = index
        self._storage = storage
        self._transcriber_for = transcriber_for

    def run(self, recording_id: str) -> Status | None:
        """Transcribe one recording; returns its final status, or None if there was nothing to do."""
        recording = self._index.get(recording_id)
        if recording is None:
            log.info("skip", extra={"recording_id": recording_id, "reason": "deleted"})
            return None
        if recording.status != Status.PROCESSING:
            # Done by an earlier run; make sure its event went out (that run may have died first).
            self._drop_stale_transcripts(recording)
            self._publish(recording)
            return None
        if recording.stage == DIARIZATION_STAGE and recording.transcript_key:
            # Transcribed already; only the diarization stage is left (its job may have been lost,
            # or, when the sweeper finds it stale, no diarization worker may be left to run it: a
            # redelivery soon after the hand-over never gives up, a diarization worker may be restarting).
            waited = (utc_now() - (recording.updated_at or utc_now())).total_seconds()
            if waited >= self._settings.job_stale_s and self._can_diarize is not None and not self._can_diarize():
                return self._without_diarization(recording)
            self._hand_over(recording)
            return None
        lease = self._locks.hold(recording.id) if self._locks else contextlib.nullcontext(0)
        with lease as deaths, tempfile.TemporaryDirectory(prefix="earshot-") as tmp:
            if deaths >= MAX_DEATHS:
                return self._give_up(recording, deaths)
            if self._locks is not None and recording.sample_rate is not None:
                # An earlier run got as far as probing, so it may have stored a transcript it never
                # claimed; a first run has nothing to look for (no LIST on the common path). Under
                # the lease no other run is writing.
                self._drop_stale_transcripts(recording)
            try:
                return self._transcribe(recording, Path(tmp) / "audio")
            except JobFailure as exc:
                return self._fail(recording, exc)

    def _drop_stale_transcripts(self, recording: Recording) -> None:
        """Remove transcript objects the index does not name: left by a run whose claim could not
        be made (Redis went away between storing its transcript and claiming the recording)."""
        prefix = transcript_key(recording.tenant_id, recording.id, run="")[: -len(".json")]
        with contextlib.suppress(ServiceUnavailable):  # best effort: the next run looks again
            for key in list(self._storage.list_keys(prefix)):
                if key != recording.transcript_key:
                    log.info("stale transcript removed", extra={"recording_id": recording.id, "key": key})
                    self._storage.delete(key)

    def _transcribe(self, recording: Recording, path: Path) -> Status | None:
        """fetch → probe → decode → model → store, each a step below."""
        fetched = self._obtain_audio(recording, path)
        probed = None if fetched is None else self._probe(fetched, path)
        if probed is None:
            return None
        features = probed.features or Features(model=self._settings.model)
        transcriber = self._transcriber_for(features.model)
        options = self._options(features)
        log.info(
            "transcribing",
            extra={"recording_id": probed.id, "tenant_id": probed.tenant_id, "audio_s": probed.duration_seconds},
        )
        started = time.perf_counter()
        result = _replaced(self._run_model(probed, transcriber, path, options), features.replacements)
        elapsed_ms = int((time.perf_counter() - started) * 1000)
        transcription = self._document(probed, transcriber, options, result, result.duration, elapsed_ms)
        return self._store(probed, transcription, transcriber.name)

    def _obtain_audio(self, recording: Recording, path: Path) -> Recording | None:
        """Download the audio (fetching a by-URL recording's source first); None if it is gone."""
        if self._storage.download(recording.s3_key, path):
            if recording.file_size_bytes is None and recording.features and recording.features.source_url:
                # Fetched by an earlier run that died (or lost Redis) before it stored the size.
                return self._sized(recording, path.stat().st_size)
            return recording
        fetched = self._fetch_source(recording)
        if fetched is None or not self._storage.download(fetched.s3_key, path):
            # The audio is gone: deleted while queued. Nothing to bring back.
            log.info("skip", extra={"recording_id": recording.id, "reason": "audio object missing"})
            return None
        return fetched

    def _probe(self, recording: Recording, path: Path) -> Recording | None:
        """Store what ffprobe says; None if the recording was deleted or finished meanwhile."""
        info = audio.probe(path)
        probed = msgspec.structs.replace(
            recording,
            duration_seconds=info.duration_seconds,
            sample_rate=info.sample_rate,
            channels=info.channels,
            bit_rate=info.bit_rate,
            audio_codec=info.audio_codec,
            audio_format=_format_of(recording.audio_format, info.format_names),
            updated_at=utc_now(),
        )
        if not self._index.update(probed):
            return None
        limit = self._settings.max_audio_seconds
        if info.duration_seconds and info.duration_seconds > limit:
            raise AudioTooLong(f"the audio lasts {info.duration_seconds:.0f} s; the limit is {limit:.0f} s")
        return probed

    def _decode(self, path: Path, channel: int | None = None) -> NDArray[np.float32]:
        samples = audio.decode(path, max_seconds=self._settings.max_audio_seconds, channel=channel)
        if _seconds(samples) > self._settings.max_audio_seconds:
            raise AudioTooLong(f"the audio lasts {_seconds(samples):.0f} s")
        return samples

    def _options(self, features: Features) -> TranscribeOptions:
        return TranscribeOptions(
            language=None if features.language == "auto" else features.language,
            task=features.task,
            word_timestamps=features.word_timestamps,
            initial_prompt=features.initial_prompt,
            hotwords=features.hotwords,
            beam_size=self._settings.beam_size,
            vad_filter=self._settings.vad_filter,
            batched=self._settings.batched_long,
            batch_size=self._settings.effective_batch_size,
        )

    def _run_model(
        self, recording: Recording, transcriber: Transcriber, path: Path, options: TranscribeOptions
    ) -> TranscriptResult:
        """Decode the audio and run the model: as a stream of blocks where the transcriber takes
        one (the window scheduler: memory flat in audio length), else whole. `channels=split`:
        each channel on a thread of its own (the scheduler batches their windows), then merged."""
        progress = self._progress_reporter(recording)
        features = recording.features or Features()
        count = recording.channels or 1
        try:
            if features.channels != "split":
                return self._run_channel(recording, transcriber, path, options, None, progress)
            if count < 2:  # one channel asked to be split: labelled as channel 0 all the same
                return merge_channels([self._run_channel(recording, transcriber, path, options, None, progress)])
            shares = [0.0] * count

            def report(channel: int) -> Callable[[float], None]:
                def share(fraction: float) -> None:
                    shares[channel] = fraction
                    progress(sum(shares) / count)

                return share

            with ThreadPoolExecutor(min(count, MAX_CHANNEL_THREADS), thread_name_prefix="earshot-channel") as pool:
                runs = [
                    pool.submit(self._run_channel, recording, transcriber, path, options, c, report(c))
                    for c in range(count)
                ]
                return merge_channels([run.result() for run in runs])
        except (RuntimeError, ValueError, MemoryError) as exc:
            log.exception("model failed", extra={"recording_id": recording.id})
            raise TranscriptionError(f"the model failed: {type(exc).__name__}") from None

    def _run_channel(
        self,
        recording: Recording,
        transcriber: Transcriber,
        path: Path,
        options: TranscribeOptions,
        channel: int | None,
        progress: Callable[[float], None],
    ) -> TranscriptResult:
        limit = self._settings.max_audio_seconds
        if isinstance(transcriber, StreamingTranscriber):
            return transcriber.transcribe_stream(
                lambda: audio.decode_stream(path, max_seconds=limit, channel=channel),
                options,
                progress,
                recording.duration_seconds,
            )
        return transcriber.transcribe(self._decode(path, channel), options, progress)

    def _document(
        self,
        recording: Recording,
        transcriber: Transcriber,
        options: TranscribeOptions,
        result: TranscriptResult,
        decoded_seconds: float,
        elapsed_ms: int,
    ) -> Transcription:
        now = utc_now()
        # The header's length is a claim; the decoded samples are the fact (a truncated file's
        # header still announces its full length).
        duration = recording.duration_seconds or decoded_seconds
        if abs(duration - decoded_seconds) > 1.0:
            duration = decoded_seconds
        confidence = (
            weighted_confidence(result.words) if options.word_timestamps else segment_confidence(result.segments)
        )
        languages = language_summary(result.segments, LANGUAGES)
        split = (recording.features or Features()).channels == "split"
        turns = utterances(result.words, result.segments) if split else None
        # The recording's language is the one most of its speech is in (windows detect their own).
        code = languages[0].language_code if languages else result.language
        return StoredTranscription(
            id=transcription_id_for(recording.id),
            recording_id=recording.id,
            tenant_id=recording.tenant_id,
            text=result.text,
            confidence=confidence,
            language=language_name(code),
            language_code=code,
            language_probability=result.language_probability if code == result.language else None,
            languages=languages or None,
            model=transcriber.name,
            device=transcriber.device,
            compute_type=transcriber.compute_type,
            processing_duration_ms=elapsed_ms,
            duration_seconds=duration,
            words=result.words,
            segments=result.segments,
            raw_words=result.raw_words or None,
            utterances=turns,
            speakers=speaker_stats(turns) if turns is not None else None,
            created_at=now,
            updated_at=now,
        )

    def _store(self, recording: Recording, transcription: Transcription, model: str) -> Status | None:
        """Write this run's transcript, then claim the recording by compare-and-set; the loser of
        a race (deleted meanwhile, or finished by another run) removes its transcript again."""
        key = transcript_key(recording.tenant_id, recording.id, run=uuid.uuid4().hex[:12])
        self._storage.put_bytes(key, _encode(transcription), "application/json")
        now = transcription.created_at
        done = msgspec.structs.replace(
            recording,
            status=Status.TRANSCRIBED,
            duration_seconds=transcription.duration_seconds,
            updated_at=now,
            processed_at=now,
            progress=1.0,
            transcript_key=key,
        )
        diarize = recording.features is not None and recording.features.diarize
        if diarize:
            # Stored, not finished: the diarization stage labels the speakers, then finishes it.
            done = msgspec.structs.replace(
                done, status=Status.PROCESSING, processed_at=None, progress=0.99, stage=DIARIZATION_STAGE
            )
        if not self._index.update(done):
            self._storage.delete(key)
            return None
        if diarize:
            log.info("transcribed; diarization next", extra={"recording_id": recording.id})
            self._hand_over(done)
            return Status.PROCESSING
        elapsed_ms = transcription.processing_duration_ms
        log.info(
            "transcribed", extra={"recording_id": recording.id, "tenant_id": recording.tenant_id, "ms": elapsed_ms}
        )
        self._publish(done, transcription)
        self._outcomes.count("transcribed", model, "", transcription.duration_seconds, elapsed_ms / 1000)
        return Status.TRANSCRIBED

    def _without_diarization(self, recording: Recording) -> Status | None:
        """No diarization worker is alive to run the stage: finish with the transcript, the
        diarization failed with DIARIZATION_UNAVAILABLE (a retry runs only that stage again)."""
        log.warning("no diarization worker; finishing without speakers", extra={"recording_id": recording.id})
        stage = DiarizationJob(
            settings=self._settings,
            index=self._index,
            storage=self._storage,
            diarizer=_no_diarizer,
            events=self._events,
            metrics=self._metrics,
            locks=self._locks,
        )
        return stage.fail(
            recording.id,
            DiarizationUnavailable(
                "no diarization worker took the diarization stage and none is running now; "
                "the transcript is complete without speakers (retry once a diarization worker runs)"
            ),
        )

    def _hand_over(self, recording: Recording) -> None:
        if self._enqueue_diarization is None:
            raise ServiceUnavailable("this worker cannot queue the diarization stage")
        self._enqueue_diarization(recording.id)

    def _progress_reporter(self, recording: Recording) -> Callable[[float], None]:
        """Write `progress` to the index at most every `progress_every_s` (it matters for long audio)."""
        last = [time.monotonic() - self._progress_every_s]

        def report(fraction: float) -> None:
            now = time.monotonic()
            if now - last[0] < self._progress_every_s:
                return
            last[0] = now
            # Progress is informational: a blip in Redis or S3 must not throw the transcription away.
            with contextlib.suppress(ServiceUnavailable):
                current = self._index.get(recording.id)
                if current is not None and current.status == Status.PROCESSING:
                    self._index.update(msgspec.structs.replace(current, progress=round(fraction, 3)))

        return report

    def _fetch_source(self, recording: Recording) -> Recording | None:
        """Bring the audio of a by-URL recording into storage (once: a stored size means done)."""
        source = recording.features.source_url if recording.features else None
        if source is None or recording.file_size_bytes is not None:
            return None
        size = fetch_to_storage(
            source,
            self._storage,
            recording.s3_key,
            max_bytes=self._settings.max_upload_bytes,
            allow_private=self._settings.allow_private_urls,
            allowed=self._settings.private_allowlist,
        )
        return self._sized(recording, size)

    def _sized(self, recording: Recording, size: int) -> Recording | None:
        """The by-URL recording with its fetched audio's size stored (None if deleted meanwhile)."""
        fetched = msgspec.structs.replace(recording, file_size_bytes=size, updated_at=utc_now())
        if not self._index.update(fetched):
            self._storage.delete(recording.s3_key)  # deleted while we fetched
            return None
        return fetched

    def fail(self, recording_id: str, exc: JobFailure) -> Status | None:
        """End a recording `failed` with `exc`'s code (no-op if it is gone or already done)."""
        recording = self._index.get(recording_id)
        return None if recording is None else self._fail(recording, exc)

    def _give_up(self, recording: Recording, deaths: int) -> Status | None:
        """Fail a recording whose runs killed the process running them, `deaths` times over."""
        log.error("runs died mid-job; given up", extra={"recording_id": recording.id, "deaths": deaths})
        if self._locks is not None:
            self._locks.forget_deaths(recording.id)
        return self._fail(recording, TranscriptionError(died_message(deaths)))

    def _fail(self, recording: Recording, exc: JobFailure) -> Status | None:
        return None if self._outcomes.fail(recording, exc) is None else Status.FAILED

    def _publish(self, recording: Recording, transcription: Transcription | None = None) -> None:
        if transcription is None and recording.transcript_key:
            raw = self._storage.get_bytes(recording.transcript_key)
            transcription = None if raw is None else msgspec.json.decode(raw, type=Transcription)
        self._outcomes.publish(recording, transcription)


def _replaced(result: TranscriptResult, replacements: list[Replacement] | None) -> TranscriptResult:
    """The vocabulary's "heard → written" replacements on every word and segment of the file."""
    if not replacements:
        return result
    segments = [msgspec.structs.replace(s, text=apply_to_text(s.text, replacements)) for s in result.segments]
    return msgspec.structs.replace(
        result,
        text=" ".join(s.text for s in segments if s.text).strip(),
        words=apply_replacements(result.words, replacements),
        raw_words=apply_replacements(result.raw_words, replacements),
        segments=segments,
    )


def _seconds(samples: NDArray[np.float32]) -> float:
    return round(samples.size / audio.SAMPLE_RATE, 3)


def _format_of(uploaded: str | None, probed: list[str]) -> str | None:
    """Keep the upload's extension when ffprobe agrees it is one of the container's names."""
    if uploaded and uploaded in probed:
        return uploaded
    return probed[0] if probed else uploaded
