"""What an upload token may read: the recordings its own identity uploaded, and their transcripts
(a browser shows its user the transcript), nothing else; and how a refused Bearer credential is
answered (a Bearer challenge, which browsers never turn into a login dialog)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.conftest import Stack
from tests.faults import upload, wait_status

pytestmark = pytest.mark.integration


def token(api: httpx.Client, identity: str) -> dict[str, str]:
    issued = api.post("/v1/tokens", json={"identity": identity, "ttl_seconds": 600})
    assert issued.status_code == 201, issued.text
    return {"Authorization": f"Bearer {issued.json()['token']}"}


def test_an_upload_token_reads_back_its_own_identitys_recording_and_transcript(
    stack: Stack, api: httpx.Client, audio_dir: Path
) -> None:
    alice = token(api, "alice")
    with httpx.Client(base_url=stack.url, headers=alice, timeout=30) as browser:
        with (audio_dir / "espeak_1.wav").open("rb") as fh:
            created = browser.post("/v1/recordings", files={"file": ("a.wav", fh)})
        assert created.status_code == 201, created.text
        rid = created.json()["id"]
        assert wait_status(browser, [rid]) == {rid: "transcribed"}
        recording = browser.get(f"/v1/recordings/{rid}").json()
        assert recording["user_id"] == "alice"
        assert browser.get(f"/v1/recordings/{rid}/transcription").json()["text"].strip()
        assert "-->" in browser.get(f"/v1/recordings/{rid}/transcription", params={"format": "srt"}).text
        # A second token of the same identity reads it too (a page reloaded with a fresh token).
        again = token(api, "alice")
        assert browser.get(f"/v1/recordings/{rid}", headers=again).status_code == 200
        # Anything else a token may not do: list, fetch the audio, delete.
        for method, path in (("GET", "/v1/recordings"), ("GET", f"/v1/recordings/{rid}/audio"),
                             ("DELETE", f"/v1/recordings/{rid}")):  # fmt: skip
            refused = browser.request(method, path)
            assert refused.status_code == 401, (method, path, refused.text)
        # Nor have the engine fetch a URL for it: a token sends its own audio.
        fetch = browser.post("/v1/recordings", json={"source_url": "https://example.com/a.wav"})
        assert fetch.status_code == 401, fetch.text
        assert "source_url" in fetch.json()["error"]["message"]
    assert api.get(f"/v1/recordings/{rid}").status_code == 200  # still there


def test_a_token_reads_no_other_identitys_recordings_nor_the_tenants_own(
    stack: Stack, api: httpx.Client, audio_dir: Path
) -> None:
    alice = token(api, "alice")
    with (audio_dir / "espeak_1.wav").open("rb") as fh:
        alices = httpx.post(f"{stack.url}/v1/recordings", headers=alice, files={"file": ("a.wav", fh)}).json()["id"]
    keys_own = upload(api, audio_dir / "espeak_2.wav").json()["id"]  # user_id null
    other_tenant = stack.tenant("token-reads-other")
    with stack.client(other_tenant) as other:
        foreign_alice = token(other, "alice")
    unknown = "00000000-0000-4000-8000-000000000000"
    cases = [
        (token(api, "bob"), alices),
        (token(api, "alice"), keys_own),
        (foreign_alice, alices),  # the same identity name in another tenant
        (token(api, "alice"), unknown),
    ]
    for headers, rid in cases:
        for path in (f"/v1/recordings/{rid}", f"/v1/recordings/{rid}/transcription"):
            response = httpx.get(f"{stack.url}{path}", headers=headers)
            assert response.status_code == 404, (path, response.text)
            assert response.json()["error"]["code"] == "RECORDING_NOT_FOUND"


def test_a_refused_bearer_credential_gets_a_bearer_challenge_and_basic_a_basic_one(stack: Stack) -> None:
    bearer = httpx.get(f"{stack.url}/v1/recordings/x", headers={"Authorization": "Bearer et_not.valid"})
    assert bearer.status_code == 401
    assert bearer.headers["www-authenticate"].startswith("Bearer ")
    pair = httpx.get(f"{stack.url}/v1/recordings", headers={"Authorization": "Bearer ek_no:es_no"})
    assert pair.status_code == 401 and pair.headers["www-authenticate"].startswith("Bearer ")
    basic = httpx.get(f"{stack.url}/v1/recordings", auth=("ek_no", "es_no"))
    assert basic.status_code == 401 and basic.headers["www-authenticate"].startswith("Basic ")
    nothing = httpx.get(f"{stack.url}/v1/recordings")
    assert nothing.status_code == 401 and nothing.headers["www-authenticate"].startswith("Basic ")
