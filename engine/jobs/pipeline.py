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
from pathlib import Path

import msgspec

from engine.clock import utc_now
from engine.errors import AudioTooLong, JobFailure, ServiceUnavailable, TranscriptionError
from engine.index.protocol import Index
from engine.jobs.locks import RecordingLocks
from engine.ops.metrics import JobMetrics
from engine.outbound.fetch import fetch_to_storage
from engine.recordings.languages import language_name
from engine.recordings.model import Features, Recording, Status, transcript_key
from engine.recordings.outcomes import Outcomes
from engine.recordings.transcripts import Transcription, weighted_confidence
from engine.settings import Settings
from engine.storage.protocol import Storage
from engine.transcription import audio
from engine.transcription.whisper import TranscribeOptions, Transcriber, segment_confidence
from engine.webhooks.publisher import EventPublisher

__all__ = ["TranscriptionJob", "transcription_id_for"]

log = logging.getLogger("earshot.pipeline")
_encode = msgspec.json.Encoder().encode
_NS = uuid.UUID("5f0e8d8e-6a3e-4f0c-9a34-2f1c1e0f7a11")


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
    ) -> None:
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
            self._publish(recording)
            return None
        lease = self._locks.hold(recording.id) if self._locks else contextlib.nullcontext()
        with lease, tempfile.TemporaryDirectory(prefix="earshot-") as tmp:
            try:
                return self._transcribe(recording, Path(tmp) / "audio")
            except JobFailure as exc:
                return self._fail(recording, exc)

    def _transcribe(self, recording: Recording, path: Path) -> Status | None:
        if not self._storage.download(recording.s3_key, path):
            fetched = self._fetch_source(recording)
            if fetched is None or not self._storage.download(fetched.s3_key, path):
                # The audio is gone: deleted while queued. Nothing to bring back.
                log.info("skip", extra={"recording_id": recording.id, "reason": "audio object missing"})
                return None
            recording = fetched
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
        recording = probed
        if info.duration_seconds and info.duration_seconds > self._settings.max_audio_seconds:
            raise AudioTooLong(
                f"the audio lasts {info.duration_seconds:.0f} s; the limit is {self._settings.max_audio_seconds:.0f} s"
            )
        samples = audio.decode(path, max_seconds=self._settings.max_audio_seconds)
        decoded_seconds = round(samples.size / audio.SAMPLE_RATE, 3)
        if decoded_seconds > self._settings.max_audio_seconds:
            raise AudioTooLong(f"the audio lasts {decoded_seconds:.0f} s")

        features = recording.features or Features(model=self._settings.model)
        transcriber = self._transcriber_for(features.model)
        options = TranscribeOptions(
            language=None if features.language == "auto" else features.language,
            word_timestamps=features.word_timestamps,
            initial_prompt=features.initial_prompt,
            beam_size=self._settings.beam_size,
            vad_filter=self._settings.vad_filter,
            batched=self._settings.batched_long,
            batch_size=self._settings.effective_batch_size,
        )
        log.info(
            "transcribing",
            extra={"recording_id": recording.id, "tenant_id": recording.tenant_id, "audio_s": decoded_seconds},
        )
        started = time.perf_counter()
        try:
            result = transcriber.transcribe(samples, options, self._progress_reporter(recording))
        except (RuntimeError, ValueError, MemoryError) as exc:
            log.exception("model failed", extra={"recording_id": recording.id})
            raise TranscriptionError(f"the model failed: {type(exc).__name__}") from None
        elapsed_ms = int((time.perf_counter() - started) * 1000)

        now = utc_now()
        # The header's length is a claim; the decoded samples are the fact (a truncated file's
        # header still announces its full length).
        duration = recording.duration_seconds or decoded_seconds
        if abs(duration - decoded_seconds) > 1.0:
            duration = decoded_seconds
        transcription = Transcription(
            id=transcription_id_for(recording.id),
            recording_id=recording.id,
            tenant_id=recording.tenant_id,
            text=result.text,
            confidence=(
                weighted_confidence(result.words) if options.word_timestamps else segment_confidence(result.segments)
            ),
            language=language_name(result.language),
            language_code=result.language,
            language_probability=result.language_probability,
            model=transcriber.name,
            device=transcriber.device,
            compute_type=transcriber.compute_type,
            processing_duration_ms=elapsed_ms,
            duration_seconds=duration,
            words=result.words,
            segments=result.segments,
            created_at=now,
            updated_at=now,
        )
        key = transcript_key(recording.tenant_id, recording.id, run=uuid.uuid4().hex[:12])
        self._storage.put_bytes(key, _encode(transcription), "application/json")
        done = msgspec.structs.replace(
            recording,
            status=Status.TRANSCRIBED,
            duration_seconds=duration,
            updated_at=now,
            processed_at=now,
            progress=1.0,
            transcript_key=key,
        )
        if not self._index.update(done):
            # Deleted while we worked, or finished by another run: ours is not the transcript.
            self._storage.delete(key)
            return None
        log.info(
            "transcribed",
            extra={"recording_id": recording.id, "tenant_id": recording.tenant_id, "ms": elapsed_ms},
        )
        self._publish(done, transcription)
        self._outcomes.count("transcribed", transcriber.name, "", duration, elapsed_ms / 1000)
        return Status.TRANSCRIBED

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
        fetched = msgspec.structs.replace(recording, file_size_bytes=size, updated_at=utc_now())
        if not self._index.update(fetched):
            self._storage.delete(recording.s3_key)  # deleted while we fetched
            return None
        return fetched

    def fail(self, recording_id: str, exc: JobFailure) -> Status | None:
        """End a recording `failed` with `exc`'s code (no-op if it is gone or already done)."""
        recording = self._index.get(recording_id)
        return None if recording is None else self._fail(recording, exc)

    def _fail(self, recording: Recording, exc: JobFailure) -> Status | None:
        return None if self._outcomes.fail(recording, exc) is None else Status.FAILED

    def _publish(self, recording: Recording, transcription: Transcription | None = None) -> None:
        if transcription is None and recording.transcript_key:
            raw = self._storage.get_bytes(recording.transcript_key)
            transcription = None if raw is None else msgspec.json.decode(raw, type=Transcription)
        self._outcomes.publish(recording, transcription)


def _format_of(uploaded: str | None, probed: list[str]) -> str | None:
    """Keep the upload's extension when ffprobe agrees it is one of the container's names."""
    if uploaded and uploaded in probed:
        return uploaded
    return probed[0] if probed else uploaded
