"""Ending a recording failed while something else writes it (a telephony callback bringing the
recording URL at the moment the sweeper gives up on the call)."""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from engine.clock import utc_now
from engine.errors import SourceFetchFailed
from engine.index.memory import MemoryIndex
from engine.recordings.model import Features, Recording, Status, without_audio
from engine.recordings.outcomes import Outcomes


class RacingIndex(MemoryIndex):
    """Runs `meanwhile` once, just before the first `was`-conditioned write lands: another process
    writing the recording between the failing side's read and its write."""

    def __init__(self) -> None:
        super().__init__()
        self.meanwhile: Callable[[], None] | None = None

    def update(
        self, recording: Recording, *, expect: Status | None = Status.PROCESSING, was: Recording | None = None
    ) -> bool:
        if was is not None and self.meanwhile is not None:
            meanwhile, self.meanwhile = self.meanwhile, None
            meanwhile()
        return super().update(recording, expect=expect, was=was)


def call(index: MemoryIndex) -> Recording:
    recording = Recording(
        id="c1", tenant_id="t1", s3_key="t1/c1/audio.bin", s3_bucket="b", features=Features(), created_at=utc_now()
    )
    index.add(recording)
    return recording


def test_a_recording_url_that_lands_while_the_call_is_failed_is_kept_and_the_call_not_failed() -> None:
    index = RacingIndex()
    recording = call(index)

    def callback() -> None:  # the end-of-call callback stores the URL (and queues the job)
        stored = index.get("c1")
        assert stored is not None
        features = msgspec.structs.replace(stored.features or Features(), source_url="https://provider/rec.mp3")
        assert index.update(msgspec.structs.replace(stored, features=features))

    index.meanwhile = callback
    failed = Outcomes(index).fail(recording, SourceFetchFailed("no end-of-call callback"), only_if=without_audio)
    assert failed is None
    stored = index.get("c1")
    assert stored is not None and stored.status == Status.PROCESSING
    assert stored.features is not None and stored.features.source_url == "https://provider/rec.mp3"


def test_a_failure_keeps_what_another_writer_stored_meanwhile() -> None:
    index = RacingIndex()
    recording = call(index)

    def progress() -> None:
        stored = index.get("c1")
        assert stored is not None
        assert index.update(msgspec.structs.replace(stored, progress=0.4))

    index.meanwhile = progress
    failed = Outcomes(index).fail(recording, SourceFetchFailed("the source could not be fetched"))
    assert failed is not None and failed.status == Status.FAILED and failed.progress == 0.4
    assert index.get("c1") == failed
    # Already failed: a second end changes nothing.
    assert Outcomes(index).fail(recording, SourceFetchFailed("again")) is None
