"""Telephony recordings (the `002` seed): a provider tells us about a call, then its recording URL.

A callback with an active call creates the recording in status `recording` (no audio yet); the
callback that ends the call brings `recordingUrl`, and the recording is fetched and transcribed
like a by-URL upload. The provider's session id names the recording too, so status lookups work
with either id. Callbacks are idempotent: providers retry them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import msgspec

from engine.clock import utc_now
from engine.errors import InvalidParameter, RecordingNotFound, SourceFetchFailed
from engine.index.protocol import Index
from engine.outbound.guard import check_url
from engine.recordings.model import Features, Recording, Status, audio_key, new_id, without_audio
from engine.recordings.outcomes import Outcomes
from engine.recordings.service import RecordingService, UploadContext

__all__ = ["SESSION_ID", "CallbackEvent", "VoiceService", "check_session_id", "parse_callback", "voice_status"]

_SESSION_FIELDS = ("sessionId", "session_id", "recordingId", "recording_id", "callSessionId")
_TRUE = {"1", "true", "yes", "active"}
SESSION_ID = re.compile(r"[A-Za-z0-9_.:@-]{1,128}")
"""A provider's session id (`ATVId_…`, `conf_…`, `v3:…`, UUIDs): letters, digits and `_ . : @ -`,
not only dots. It names a Redis key and an object in storage (`_system/aliases/…`), so no `/`, no
path segment `.` or `..`, no whitespace or control characters."""


class CallbackEvent(msgspec.Struct, kw_only=True, frozen=True):
    session_id: str
    active: bool
    recording_url: str | None = None


def check_session_id(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InvalidParameter("sessionId is required")
    session = str(value).strip()
    if not SESSION_ID.fullmatch(session) or not session.strip("."):
        raise InvalidParameter("sessionId must be 1-128 letters, digits or _ . : @ - (and not only dots)")
    return session


def parse_callback(payload: Mapping[str, object]) -> CallbackEvent:
    session = check_session_id(next((payload[k] for k in _SESSION_FIELDS if payload.get(k)), None))
    raw_active = payload.get("isActive", payload.get("is_active", "0"))
    active = raw_active is True or str(raw_active).strip().lower() in _TRUE
    url = payload.get("recordingUrl") or payload.get("recording_url")
    try:
        recording_url = check_url(url) if url else None
    except ValueError as exc:
        raise InvalidParameter(f"recordingUrl {exc}") from None
    return CallbackEvent(session_id=session, active=active, recording_url=recording_url)


def _ended_without_audio(recording: Recording) -> bool:
    """Failed because no recording URL came: no audio stored, no URL known."""
    return (
        recording.status == Status.FAILED
        and recording.error is not None
        and recording.error.code == SourceFetchFailed.code
        and without_audio(recording)
    )


def voice_status(recording: Recording) -> str:
    if recording.status == Status.TRANSCRIBED:
        return "completed"
    if recording.status == Status.FAILED:
        return "failed"
    return "recording" if without_audio(recording) else "processing"


class VoiceService:
    def __init__(self, *, index: Index, recordings: RecordingService, outcomes: Outcomes) -> None:
        self._index = index
        self._recordings = recordings
        self._outcomes = outcomes

    def find(self, tenant_id: str, any_id: str) -> Recording:
        """By our recording id or by the provider's session id."""
        recording_id = self._index.get_alias(tenant_id, any_id) or any_id
        return self._recordings.get(tenant_id, recording_id)

    def callback(self, ctx: UploadContext, event: CallbackEvent) -> Recording:
        recording = self._recording_for(ctx, event.session_id)
        if event.recording_url is not None and not event.active and _ended_without_audio(recording):
            # Its recording URL comes after all: the call was failed for lack of one (an end callback
            # without it, or none within EARSHOT_CALL_MAX_S). Providers that report the end of the
            # call and the recording separately do this.
            return self._revive(recording, event.recording_url)
        if event.active or recording.status != Status.PROCESSING:
            return recording
        features = recording.features or Features()
        if event.recording_url is None:
            if features.source_url is None:
                return self._fail_without_audio(recording)
            return recording
        if features.source_url is None:
            updated = msgspec.structs.replace(
                recording,
                features=msgspec.structs.replace(features, source_url=event.recording_url),
                updated_at=utc_now(),
            )
            if not self._index.update(updated):
                raise RecordingNotFound("the recording was deleted")
            recording = updated
        if recording.file_size_bytes is None:
            # Also on a retried callback: the job is idempotent, a lost enqueue is not.
            self._recordings.enqueue(recording)
        return recording

    def _revive(self, recording: Recording, url: str) -> Recording:
        features = recording.features or Features()
        again = msgspec.structs.replace(
            recording,
            status=Status.PROCESSING,
            error=None,
            processed_at=None,
            updated_at=utc_now(),
            retries=recording.retries + 1,  # a new run: its outcome is a new event
            features=msgspec.structs.replace(features, source_url=url),
        )
        if not self._index.update(again, expect=Status.FAILED):
            current = self._index.get(recording.id)  # another callback revived it first, or a DELETE
            if current is None:
                raise RecordingNotFound("the recording was deleted")
            return current
        self._recordings.enqueue(again)  # should this fail, the sweeper queues it (it has its URL now)
        return again

    def _recording_for(self, ctx: UploadContext, session_id: str) -> Recording:
        existing = self._index.get_alias(ctx.tenant_id, session_id)
        if existing is None:
            existing = self._index.set_alias(ctx.tenant_id, session_id, new_id())
        recording = self._index.get(existing)
        if recording is not None:
            if recording.tenant_id != ctx.tenant_id:
                raise RecordingNotFound("recording not found")
            return recording
        if self._index.was_deleted(existing):
            # The session's recording was deleted (during the call, or after): its end callback,
            # or a provider's retry of one, must not bring it back under the same id.
            raise RecordingNotFound("the recording was deleted")
        recording = self._recordings.new_recording(
            ctx,
            existing,
            key=audio_key(ctx.tenant_id, existing, "bin"),
            fields={},
            filename=None,
            extension=None,
            size=None,
        )
        if not self._index.add(recording):
            # A simultaneous callback for the same session created it first: use that one.
            current = self._index.get(existing)
            if current is None or current.tenant_id != ctx.tenant_id:
                raise RecordingNotFound("recording not found")
            return current
        return recording

    def _fail_without_audio(self, recording: Recording) -> Recording:
        failed = self._outcomes.fail(
            recording, SourceFetchFailed("the call ended without a recording URL"), only_if=without_audio
        )
        if failed is not None:
            return failed
        # Another callback or a DELETE got there first: answer with what is stored now.
        current = self._index.get(recording.id)
        if current is None:
            raise RecordingNotFound("the recording was deleted")
        return current
