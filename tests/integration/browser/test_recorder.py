"""The recorder module (/sdk/recorder.js) in a real Chromium whose microphone plays jfk.flac: it
records, uploads with an upload token minted the way an app's backend would, follows the
transcription, and fails with typed errors (denied microphone, expired token, too large, offline)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from engine.access.keys import IssuedKey
from tests.conftest import TEST_MAX_UPLOAD, Stack
from tests.faults import watched_client
from tests.integration.browser.conftest import JFK_WORDS, Browser

pytestmark = pytest.mark.integration

RECORD_SECONDS = 12  # jfk.flac is 11 s: the whole speech


@pytest.fixture(scope="module")
def backend(stack: Stack) -> Iterator[httpx.Client]:
    """The app's backend: it holds the API key and mints upload tokens for its users' browsers."""
    key: IssuedKey = stack.tenant(f"recorder-{uuid.uuid4().hex[:8]}")
    with watched_client(stack.url, (key.api_key, key.api_secret)) as client:
        yield client


def mint(backend: httpx.Client, identity: str, ttl_seconds: int = 600) -> dict[str, Any]:
    response = backend.post("/v1/tokens", json={"identity": identity, "ttl_seconds": ttl_seconds})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def run_module(browser: Browser, body: str, *args: Any) -> Any:
    """Runs `body` (an async function body that sees `m`, the imported module, and `args`) in the
    page; answers its result, or {"error": {name, code, status, message, ...}} for what it threw."""
    result = browser.js_async(
        f"""
        const done = arguments[arguments.length - 1];
        const args = [...arguments].slice(0, -1);
        import("/sdk/recorder.js").then(async (m) => {{
          {body}
        }}).then(done, (e) => done({{ error: {{ name: e.name, code: e.code, status: e.status,
          apiCode: e.apiCode, message: e.message, typed: e instanceof Error && e.name !== "Error"
            && typeof e.code === "string" }} }}));
        """,
        *args,
    )
    return result


@pytest.fixture
def page(browser: Browser) -> Browser:
    """The console's page (any page of Earshot's origin would do: the module is imported into it)."""
    browser.sign_out()
    browser.wait(lambda: browser.visible("#sign-in"))
    browser.microphone("granted")
    return browser


def test_a_page_records_the_microphone_uploads_with_a_token_and_shows_the_transcript(
    browser: Browser, backend: httpx.Client, artifacts: Path
) -> None:
    identity = f"user-{uuid.uuid4().hex[:6]}"
    token = mint(backend, identity)["token"]
    browser.sign_in_with_token(token)  # the console, signed in as the user's browser would be
    browser.microphone("granted")
    browser.css("#tags").send_keys("jobId=job_mic")

    browser.css("#record").click()
    browser.wait(lambda: "Stop recording" in browser.text("#record"), what="recording to start")
    time.sleep(RECORD_SECONDS)
    assert "0:1" in browser.text("#record")  # the elapsed time shows
    browser.css("#record").click()

    browser.wait(lambda: "#/recordings/" in browser.driver.current_url, timeout=60, what="the recording's page")
    words = browser.wait_for_transcript()
    assert set(words) >= JFK_WORDS, words
    browser.screenshot("recorder-token-page")
    # A token can read back what it uploaded, and no more: no player, no delete.
    assert "needs an API key" in browser.text("#player-note")
    assert not browser.css_all("#delete")

    recording = backend.get(f"/v1/recordings/{browser.recording_id()}").json()
    assert recording["user_id"] == identity
    assert recording["upload_source"] == "token"
    assert recording["custom_tags"] == {"jobId": "job_mic"}
    assert recording["original_filename"].endswith(".webm")  # webm/opus, Chromium's first choice
    assert 10 < recording["duration_seconds"] < RECORD_SECONDS + 2


def test_the_module_reports_upload_progress_and_hands_back_the_transcription(
    page: Browser, backend: httpx.Client
) -> None:
    identity = f"user-{uuid.uuid4().hex[:6]}"
    token = mint(backend, identity)["token"]
    result = run_module(
        page,
        """
        const [token] = args;
        const recorder = new m.Recorder();
        await recorder.start();
        const states = [recorder.state];
        await new Promise((resolve) => setTimeout(resolve, 4000));
        const audio = await recorder.stop();
        states.push(recorder.state);
        const earshot = new m.EarshotClient({ token });
        const progress = [];
        const recording = await earshot.upload(audio, {
          customTags: { jobId: "job_sdk" },
          onProgress: (p) => progress.push([p.loaded, p.total, p.fraction]),
        });
        const statuses = [];
        const transcription = await earshot.waitForTranscription(recording.id, {
          intervalMs: 250, onStatus: (r) => statuses.push(r.status),
        });
        return { states, type: audio.type, size: audio.size, progress, recording, statuses, transcription };
        """,
        token,
    )
    assert "error" not in result, result
    assert result["states"] == ["recording", "inactive"]
    assert result["type"].startswith("audio/webm")
    loaded, total, fraction = result["progress"][-1]
    assert fraction == 1 and loaded == total >= result["size"] > 0
    recording, transcription = result["recording"], result["transcription"]
    assert recording["status"] == "processing" and recording["user_id"] == identity
    assert recording["custom_tags"] == {"jobId": "job_sdk"}
    assert result["statuses"][-1] == "transcribed"
    assert transcription["recording_id"] == recording["id"]
    spoken = {w["word"].strip(" .,").lower() for w in transcription["words"]}
    assert {"fellow", "americans"} & spoken, transcription["text"]  # the first 4 s of jfk.flac


def test_a_denied_microphone_is_a_microphone_denied_error(page: Browser) -> None:
    page.microphone("denied")
    result = run_module(page, "await new m.Recorder().start(); return 'recording';")
    assert result["error"]["name"] == "MicrophoneDeniedError"
    assert result["error"]["code"] == "MICROPHONE_DENIED" and result["error"]["typed"]


def test_the_console_says_so_when_the_microphone_is_denied(browser: Browser, backend: httpx.Client) -> None:
    browser.sign_in_with_token(mint(backend, "someone")["token"])
    browser.microphone("denied")
    browser.css("#record").click()
    assert "Microphone access was denied" in browser.wait(browser.message, what="a message")
    assert "Record from the microphone" in browser.text("#record")


UPLOAD = """
const [token, size] = args;
const audio = new Blob([new Uint8Array(size)], { type: "audio/wav" });
return await new m.EarshotClient({ token }).upload(audio);
"""


def test_an_expired_token_is_a_token_expired_error(page: Browser, backend: httpx.Client) -> None:
    issued = mint(backend, "late", ttl_seconds=1)
    expires = datetime.fromisoformat(issued["expires_at"].replace("Z", "+00:00"))
    while datetime.now(UTC) <= expires:
        time.sleep(0.05)
    error = run_module(page, UPLOAD, issued["token"], 1000)["error"]
    assert (error["name"], error["code"], error["status"]) == ("TokenExpiredError", "TOKEN_EXPIRED", 401)
    assert "expired" in error["message"]


def test_a_file_over_the_limit_is_a_file_too_large_error(page: Browser, backend: httpx.Client) -> None:
    token = mint(backend, "big")["token"]
    error = run_module(page, UPLOAD, token, TEST_MAX_UPLOAD + 1024 * 1024)["error"]
    assert (error["name"], error["code"], error["status"]) == ("FileTooLargeError", "PAYLOAD_TOO_LARGE", 413)


def test_no_network_is_a_network_error(page: Browser, backend: httpx.Client) -> None:
    token = mint(backend, "offline")["token"]
    page.offline(True)
    try:
        error = run_module(page, UPLOAD, token, 1000)["error"]
    finally:
        page.offline(False)
    assert (error["name"], error["code"]) == ("NetworkError", "NETWORK_ERROR")


def test_a_token_reads_only_its_own_identitys_recordings(page: Browser, backend: httpx.Client) -> None:
    mine, theirs = mint(backend, "alice")["token"], mint(backend, "bob")["token"]
    result = run_module(
        page,
        """
        const [mine, theirs] = args;
        const audio = new Blob([new Uint8Array(2000)], { type: "audio/wav" });
        const recording = await new m.EarshotClient({ token: mine }).upload(audio);
        const own = await new m.EarshotClient({ token: mine }).getRecording(recording.id);
        try {
          await new m.EarshotClient({ token: theirs }).getRecording(recording.id);
          return { own, other: "read" };
        } catch (e) {
          return { own, other: [e.name, e.code, e.status] };
        }
        """,
        mine,
        theirs,
    )
    assert result["own"]["user_id"] == "alice"
    assert result["other"] == ["ApiError", "RECORDING_NOT_FOUND", 404]


def test_a_take_whose_token_ran_out_is_kept_and_sent_after_signing_in_again(
    browser: Browser, backend: httpx.Client
) -> None:
    identity = f"user-{uuid.uuid4().hex[:6]}"
    browser.sign_in_with_token(mint(backend, identity, ttl_seconds=5)["token"])
    browser.microphone("granted")
    browser.css("#record").click()
    browser.wait(lambda: "Stop recording" in browser.text("#record"), what="recording to start")
    time.sleep(7)  # longer than the token lives
    browser.css("#record").click()
    browser.wait(lambda: browser.visible("#api-key"), what="the sign-in form: the token was refused")
    assert "upload token was refused" in browser.message()

    # Signed in again in the same tab, as a user would, the take is still there to send.
    browser.css("input[name=mode][value=token]").click()
    browser.css("#token").send_keys(mint(backend, identity)["token"])
    browser.css("#sign-in-button").click()
    browser.wait(lambda: browser.visible("#unsent"), what="the take that was not sent")
    assert "was not uploaded" in browser.text("#unsent")
    assert browser.css("#save-unsent").get_attribute("href").startswith("blob:")
    assert browser.css("#save-unsent").get_attribute("download").endswith(".webm")
    browser.css("#resend").click()

    browser.wait(lambda: "#/recordings/" in browser.driver.current_url, timeout=60, what="the recording's page")
    words = browser.wait_for_transcript()
    assert len(set(words) & (JFK_WORDS | {"and", "so", "my", "fellow", "americans"})) >= 3, words
    recording = backend.get(f"/v1/recordings/{browser.recording_id()}").json()
    assert recording["user_id"] == identity and 5 < recording["duration_seconds"] < 9


def test_a_recording_the_browser_ends_itself_keeps_what_was_recorded(page: Browser) -> None:
    result = run_module(
        page,
        """
        let heard = null;
        const recorder = new m.Recorder({ onended: (blob) => { heard = blob.size; } });
        await recorder.start();
        await new Promise((r) => setTimeout(r, 2500));
        // What unplugging the microphone does: its track ends, and MediaRecorder stops by itself.
        recorder._stream.getAudioTracks().forEach((track) => track.stop());
        await new Promise((r) => setTimeout(r, 1000));
        const state = recorder.state;
        const blob = await recorder.stop();
        let again = null;
        try { await recorder.stop(); } catch (err) { again = err.code; }
        return { heard, state, size: blob.size, type: blob.type, again };
        """,
    )
    assert result["state"] == "inactive"
    assert result["size"] > 10_000 and result["heard"] == result["size"], result  # 2.5 s of opus
    assert result["type"].startswith("audio/webm") and result["again"] == "NOT_RECORDING"
