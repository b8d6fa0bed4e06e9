"""The Python client (`earshot_client`) against the real API and worker: the seed's ergonomics end to end."""

from __future__ import annotations

import socket
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from earshot_client import (
    Client,
    ConnectionFailed,
    EarshotError,
    EmptyFile,
    InvalidCustomTags,
    InvalidParameter,
    NotFound,
    RecordingNotFound,
    TranscriptionFailed,
    TranscriptionNotReady,
    Unauthorized,
)
from tests.conftest import Stack

pytestmark = pytest.mark.integration


def client_for(stack: Stack, tenant: str) -> Client:
    key = stack.tenant(tenant)
    return Client(api_key=key.api_key, api_secret=key.api_secret, base_url=stack.url, timeout=30)


def key_words_heard(reference: str, heard: str) -> float:
    """The share of the reference's longer words (4+ letters) that appear in what was heard."""
    said = {w.strip(".,!?").lower() for w in heard.split()}
    wanted = [w.strip(".,!?").lower() for w in reference.split() if len(w.strip(".,!?")) >= 4]
    return sum(w in said for w in wanted) / len(wanted)


def test_the_client_does_the_seeds_round_trip_from_upload_to_delete(stack: Stack, audio_dir: Path) -> None:
    with client_for(stack, "client-roundtrip") as client:
        rec = client.recordings.create(audio_dir / "espeak_1.wav", custom_tags={"jobId": "j1"}, language="en")
        assert rec.status == "processing"
        assert rec.original_filename == "espeak_1.wav"
        assert rec.custom_tags.jobId == "j1"
        assert rec.to_dict()["custom_tags"] == {"jobId": "j1"}
        assert rec.subresource_uris.transcription == f"/v1/recordings/{rec.id}/transcription"

        done = client.recordings.wait(rec.id, timeout=120, poll_interval=0.2)
        assert done.status == "transcribed", done.to_dict()

        fetched = client.recordings.get(rec.id)
        assert fetched.id == rec.id
        assert fetched.custom_tags.to_dict() == {"jobId": "j1"}
        assert fetched.features.language == "en"
        assert fetched.duration_seconds == pytest.approx(4.46, abs=0.3)

        assert rec.id in [r.id for r in client.recordings.list()]

        t = client.recordings(rec.id).transcription.get()
        assert t.recording_id == rec.id
        reference = (audio_dir / "espeak_1.txt").read_text()
        assert key_words_heard(reference, t.text) >= 0.7, t.text
        assert len(t.words) >= 8
        assert all(0.0 <= w.start <= w.end and 0.0 <= w.confidence <= 1.0 for w in t.words)
        assert t.words[0].start < t.words[-1].end

        client.recordings(rec.id).delete()
        with pytest.raises(RecordingNotFound) as caught:
            client.recordings.get(rec.id)
        assert caught.value.code == "RECORDING_NOT_FOUND"
        assert caught.value.status == 404
        assert isinstance(caught.value, NotFound) and isinstance(caught.value, EarshotError)
        with pytest.raises(RecordingNotFound):
            client.recordings(rec.id).delete()


def test_list_iterates_across_pages_yielding_each_recording_once_newest_first(stack: Stack, audio_dir: Path) -> None:
    today = datetime.now(UTC).date()
    clips = ["espeak_1.wav", "espeak_2.wav", "espeak_3.wav", "espeak_1.wav", "espeak_2.wav"]
    with client_for(stack, "client-pages") as client:
        uploaded = []
        for clip in clips:
            with (audio_dir / clip).open("rb") as handle:  # a binary file object, streamed
                uploaded.append(client.recordings.create(handle).id)

        page = client.recordings.list(limit=2)
        assert page.total == 5
        assert page.page == 0 and page.page_size == 2
        assert len(page.recordings) == 2
        assert page.next_page_uri is not None

        walked = [r.id for r in page]
        assert walked == list(reversed(uploaded))
        assert [r.id for r in page] == walked  # iterating again walks again
        assert [p.page for p in page.iter_pages()] == [0, 1, 2]

        assert [r.id for r in client.recordings.list(limit=2, date_from=today)] == walked
        emptied = client.recordings.list(limit=2, date_to="2000-01-01")
        assert emptied.total == 0 and list(emptied) == []
        for rid in uploaded:  # leave the shared worker idle for the next test
            client.recordings.wait(rid, timeout=120, poll_interval=0.2)


def test_errors_are_typed_by_their_code(stack: Stack, audio_dir: Path) -> None:
    key = stack.tenant("client-errors")
    with Client(key.api_key, key.api_secret + "x", stack.url) as wrong:
        with pytest.raises(Unauthorized) as unauthorized:
            wrong.recordings.list()
        assert (unauthorized.value.code, unauthorized.value.status) == ("UNAUTHORIZED", 401)

    with Client(key.api_key, key.api_secret, stack.url) as client:
        with pytest.raises(RecordingNotFound):
            client.recordings.get(str(uuid.uuid4()))
        with pytest.raises(RecordingNotFound):
            client.recordings(str(uuid.uuid4())).transcription.get()

        with pytest.raises(EmptyFile) as empty:
            client.recordings.create(b"", filename="empty.wav")
        assert (empty.value.code, empty.value.status) == ("EMPTY_FILE", 400)

        with pytest.raises(InvalidCustomTags) as tags:
            client.recordings.create(audio_dir / "espeak_2.wav", custom_tags={"bad key!": "x"})
        assert isinstance(tags.value, InvalidParameter)
        assert (tags.value.code, tags.value.status) == ("INVALID_CUSTOM_TAGS", 400)

        with pytest.raises(InvalidParameter) as bad_limit:
            client.recordings.list(limit=1000)
        assert bad_limit.value.code == "INVALID_PARAMETER"
        assert client.recordings.list().total == 0  # nothing was stored by the rejected uploads

        with stack.worker_paused():
            pending = client.recordings.create(audio_dir / "espeak_2.wav")
            assert client.recordings.get(pending.id).status == "processing"
            with pytest.raises(TranscriptionNotReady) as not_ready:
                client.recordings(pending.id).transcription.get()
        assert (not_ready.value.code, not_ready.value.status) == ("TRANSCRIPTION_NOT_READY", 404)

        not_audio = client.recordings.create(b"this is a text file, not audio\n" * 50, filename="notes.wav")
        failed = client.recordings.wait(not_audio.id, timeout=120, poll_interval=0.2)
        assert failed.status == "failed"
        assert failed.error.code == "INVALID_AUDIO"
        with pytest.raises(TranscriptionFailed) as failure:
            client.recordings(not_audio.id).transcription.get()
        assert (failure.value.code, failure.value.status) == ("TRANSCRIPTION_FAILED", 404)

        assert client.recordings.wait(pending.id, timeout=120, poll_interval=0.2).status == "transcribed"


def test_a_connection_to_a_closed_port_raises_connection_failed() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Nothing listens on the port once the probe socket is closed.
    client = Client("ek_x", "es_x", f"http://127.0.0.1:{port}", timeout=5)
    with client, pytest.raises(ConnectionFailed) as caught:
        client.recordings.list()
    assert caught.value.code == "CONNECTION_FAILED"
    assert caught.value.status is None
    assert isinstance(caught.value, EarshotError)
