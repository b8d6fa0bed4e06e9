"""The console at /console, in a real Chromium against the real stack: sign-in, uploads by drop and
by file picker, the list with its filters and pages, a recording's page (playback that follows the
spoken word, downloads, deletion), errors as messages, tenant isolation, a phone's width."""

from __future__ import annotations

import functools
import math
import re
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from engine.access.keys import IssuedKey
from tests.conftest import Stack
from tests.faults import upload, wait_status, watched_client
from tests.integration.browser.conftest import JFK_WORDS, Browser

pytestmark = pytest.mark.integration

LOW_CONFIDENCE = 0.6  # console.js: words below it are underlined, with their confidence as a title


@pytest.fixture(scope="module")
def key(stack: Stack) -> IssuedKey:
    """The tenant the console signs in as, for the whole module."""
    return stack.tenant(f"console-{uuid.uuid4().hex[:8]}")


@pytest.fixture(scope="module")
def owner(stack: Stack, key: IssuedKey) -> Iterator[httpx.Client]:
    """The same tenant through the API, to check what the console did."""
    with watched_client(stack.url, (key.api_key, key.api_secret)) as client:
        yield client


@pytest.fixture(scope="module")
def dropped_jfk(browser: Browser, key: IssuedKey, owner: httpx.Client, audio_dir: Path) -> str:
    """jfk.flac, dropped onto the console's drop zone with a tag; its recording id once transcribed."""
    browser.sign_in_with_key(key)
    browser.css("#tags").send_keys("jobId=job_drop")
    browser.drop_file(audio_dir / "jfk.flac", "audio/flac")
    browser.wait(lambda: "#/recordings/" in browser.driver.current_url, what="the new recording's page")
    words = browser.wait_for_transcript()
    assert set(words) >= JFK_WORDS, words
    return browser.recording_id()


@pytest.fixture
def jfk(browser: Browser, key: IssuedKey, dropped_jfk: str) -> str:
    """The dropped jfk.flac's recording id, with the console signed in (again, if a test signed out)."""
    if browser.js("return sessionStorage.length") == 0:
        browser.sign_in_with_key(key)
    return dropped_jfk


def test_a_wrong_key_is_refused_with_a_clear_message(browser: Browser, key: IssuedKey) -> None:
    browser.sign_out()
    browser.wait(lambda: browser.visible("#api-key"))
    browser.css("#api-key").send_keys(key.api_key)
    browser.css("#api-secret").send_keys("es_not-the-secret")
    browser.css("#sign-in-button").click()

    message = browser.wait(browser.message, what="a message")
    assert "Wrong API key or secret" in message and "UNAUTHORIZED" in message
    assert browser.visible("#sign-in")  # still on the form, nothing signed in
    assert browser.js("return sessionStorage.length") == 0


def test_a_dropped_file_is_uploaded_transcribed_and_listed(
    browser: Browser, jfk: str, owner: httpx.Client, artifacts: Path
) -> None:
    recording = owner.get(f"/v1/recordings/{jfk}").json()
    assert recording["status"] == "transcribed"
    assert recording["original_filename"] == "jfk.flac"
    assert recording["custom_tags"] == {"jobId": "job_drop"}

    browser.go("#/recordings")
    row = browser.wait(lambda: browser.css_all(f"tr[data-id='{jfk}']"), what="the recording in the list")[0]
    assert "jfk.flac" in row.text and "transcribed" in row.text
    assert "0:11" in row.text  # the duration, from the worker's probe
    assert "jobId=job_drop" in row.text
    browser.screenshot("console-list")


def test_a_file_chosen_with_the_picker_is_uploaded(
    browser: Browser, jfk: str, owner: httpx.Client, audio_dir: Path
) -> None:
    browser.go("#/recordings")
    browser.wait(lambda: browser.css_all("#file-input"))
    browser.css("#file-input").send_keys(str(audio_dir / "espeak_1.wav"))

    browser.wait(lambda: "#/recordings/" in browser.driver.current_url, what="the new recording's page")
    assert browser.wait_for_transcript()
    new_id = browser.recording_id()
    assert new_id != jfk
    assert owner.get(f"/v1/recordings/{new_id}").json()["original_filename"] == "espeak_1.wav"


def test_the_list_filters_and_pages_as_the_api_does(browser: Browser, jfk: str, owner: httpx.Client) -> None:
    total = owner.get("/v1/recordings").json()["total"]
    assert total >= 2  # jfk.flac and the picked file
    newest_first = [r["id"] for r in owner.get("/v1/recordings", params={"limit": 100}).json()["recordings"]]

    browser.go("#/recordings?limit=1")
    first = browser.wait(lambda: browser.css_all("#recordings tbody tr"))
    assert [r.get_attribute("data-id") for r in first] == newest_first[:1]
    assert browser.text("#page-info") == f"Page 1 · 1 shown of {total}"
    assert not browser.css("#previous-page").is_enabled()

    browser.css("#next-page").click()  # follows the API's next_page_uri (a cursor)
    browser.wait(lambda: browser.text("#page-info").startswith("Page 2"))
    assert [r.get_attribute("data-id") for r in browser.css_all("#recordings tbody tr")] == newest_first[1:2]
    assert browser.css("#previous-page").is_enabled()

    # Filters: nothing failed, everything transcribed.
    browser.go("#/recordings")
    browser.wait(lambda: browser.css_all("#filter-status"))
    browser.css("#filter-status option[value=failed]").click()
    browser.css("#filters button[type=submit]").click()
    browser.wait(lambda: "No recordings match" in browser.text("#recordings-results"), what="an empty list")
    assert "status=failed" in browser.driver.current_url

    browser.css("#filter-status option[value=transcribed]").click()
    browser.css("#filters button[type=submit]").click()
    browser.wait(lambda: len(browser.css_all("#recordings tbody tr")) == total)


def test_a_processing_recording_turns_transcribed_without_a_reload(
    browser: Browser, jfk: str, stack: Stack, owner: httpx.Client, audio_dir: Path
) -> None:
    with stack.worker_paused():
        rid = upload(owner, audio_dir / "espeak_3.wav").json()["id"]
        browser.go("#/recordings")
        row = f"tr[data-id='{rid}']"
        browser.wait(lambda: "processing" in browser.text(row), what="the new recording, processing")
        browser.go(f"#/recordings/{rid}")
        browser.wait(lambda: browser.visible("#transcribing"), what="'Transcribing…' on its page")
        assert not browser.css("#download-srt").is_enabled()
        browser.go("#/recordings")
        browser.wait(lambda: "processing" in browser.text(row))
    browser.wait(lambda: "transcribed" in browser.text(row), timeout=60, what="the list to refresh itself")
    browser.go(f"#/recordings/{rid}")
    assert browser.wait_for_transcript()
    assert browser.css("#download-srt").is_enabled()


def test_an_api_error_is_a_message_not_a_blank_page(browser: Browser, jfk: str) -> None:
    browser.go("#/recordings?date_from=2030-01-02&date_to=2030-01-01")
    message = browser.wait(browser.message, what="a message")
    assert "date_from must not be after date_to" in message and "INVALID_PARAMETER" in message
    assert browser.css("h1").text == "Recordings"  # the page is still there

    browser.offline(True)
    try:
        browser.go("#/recordings?limit=10")
        message = browser.wait(browser.message, what="a message")
        assert "Cannot reach the Earshot API" in message
    finally:
        browser.offline(False)


def _player(browser: Browser) -> dict[str, Any]:
    state: dict[str, Any] = browser.js(
        "const p = document.getElementById('player');"
        "return {time: p.currentTime, duration: p.duration, ready: p.readyState, src: p.src};"
    )
    return state


def _playing_from(browser: Browser, seconds: float) -> bool:
    state = browser.js("const p = document.getElementById('player'); return {paused: p.paused, time: p.currentTime};")
    return not state["paused"] and seconds - 0.05 <= state["time"] < seconds + 2


def _seek(browser: Browser, seconds: float) -> None:
    browser.js("document.getElementById('player').currentTime = arguments[0]", seconds)


def _current(browser: Browser) -> int | None:
    index = browser.js("const w = document.querySelector('#transcript .word.current'); return w && w.dataset.index")
    return int(index) if index is not None else None


def test_the_recording_page_plays_the_audio_and_follows_the_spoken_word(
    browser: Browser, jfk: str, owner: httpx.Client
) -> None:
    words = owner.get(f"/v1/recordings/{jfk}/transcription").json()["words"]
    browser.go(f"#/recordings/{jfk}")
    browser.wait_for_transcript()
    # The audio came through the API with the Authorization header, into a blob: URL.
    player = browser.wait(lambda: _player(browser)["ready"] >= 1 and _player(browser), what="the audio")
    assert player["src"].startswith("blob:")
    assert 10.5 < player["duration"] < 11.5

    a, b = len(words) // 4, 3 * len(words) // 4
    for i in (a, b):
        middle = (words[i]["start"] + words[i]["end"]) / 2
        _seek(browser, middle)
        browser.wait(lambda i=i: _current(browser) == i, what=f"word {i} ({words[i]['word']!r}) highlighted")
        assert browser.css("#transcript .word.current").text == words[i]["word"].strip()

    # A click on a word plays from there.
    target = browser.css(f"#transcript .word[data-index='{a}']")
    browser.js("document.getElementById('player').muted = true")
    target.click()
    browser.wait(lambda: _playing_from(browser, words[a]["start"]), what="playing from the word")
    browser.js("document.getElementById('player').pause()")

    # Played (muted), the highlight moves along with the audio.
    seen = browser.js_async(
        """
        const done = arguments[arguments.length - 1];
        const p = document.getElementById("player");
        const seen = [];
        p.muted = true;
        p.currentTime = 0;
        p.play().then(() => {
          const started = performance.now();
          const look = () => {
            const w = document.querySelector("#transcript .word.current");
            const i = w ? Number(w.dataset.index) : null;
            if (i !== null && seen[seen.length - 1] !== i) seen.push(i);
            if (performance.now() - started < 3000) requestAnimationFrame(look);
            else { p.pause(); done(seen); }
          };
          look();
        }, (e) => done(String(e)));
        """
    )
    assert isinstance(seen, list) and len(seen) >= 3, seen
    assert seen == sorted(seen), seen

    # Low-confidence words are marked, and say how confident the model was.
    for i, word in enumerate(words):
        element = browser.css(f"#transcript .word[data-index='{i}']")
        assert ("low" in element.get_attribute("class").split()) == (word["confidence"] < LOW_CONFIDENCE)
        percent = math.floor(word["confidence"] * 100 + 0.5)  # JavaScript's Math.round
        assert f"confidence {percent} %" in element.get_attribute("title")

    # The segments' time buttons seek from the keyboard.
    from selenium.webdriver.common.keys import Keys

    buttons = browser.css_all("#transcript button.time")
    assert len(buttons) >= 2
    buttons[-1].send_keys(Keys.ENTER)
    last_start = owner.get(f"/v1/recordings/{jfk}/transcription").json()["segments"][-1]["start"]
    browser.wait(lambda: _playing_from(browser, last_start), what="playing from the last segment")
    browser.js("document.getElementById('player').pause()")

    _seek(browser, (words[a]["start"] + words[a]["end"]) / 2)
    browser.wait(lambda: _current(browser) == a)
    browser.js("document.activeElement.blur(); window.scrollTo(0, 0)")
    browser.screenshot("console-recording")


LABELLED = """
const [rid, withSpeakers] = arguments;
window.realFetch = window.realFetch || window.fetch;
window.fetch = async (url, init) => {
  const response = await window.realFetch(url, init);
  if (!String(url).endsWith(`/v1/recordings/${rid}/transcription`)) return response;
  // The fields diarization and per-channel transcription add: speaker and channel on every
  // segment and word (here: one speaker and one channel per segment).
  const t = await response.json();
  t.segments.forEach((s, i) => { s.speaker = withSpeakers ? i + 1 : null; s.channel = i + 1; });
  for (const w of t.words) {
    const s = [...t.segments].reverse().find((s) => s.start <= w.start + 0.01) || t.segments[0];
    Object.assign(w, { speaker: s.speaker, channel: s.channel });
  }
  return new Response(JSON.stringify(t), { status: 200, headers: { "content-type": "application/json" } });
};
"""


def test_speakers_and_channels_are_labelled_when_the_transcript_has_them(
    browser: Browser, jfk: str, owner: httpx.Client
) -> None:
    words = owner.get(f"/v1/recordings/{jfk}/transcription").json()["words"]
    browser.go(f"#/recordings/{jfk}")
    browser.wait_for_transcript()
    assert not browser.css_all("#transcript .speaker")  # jfk.flac's own transcript has neither
    try:
        for with_speakers, labels in ((True, ["Speaker 1 (channel 1):", "Speaker 2 (channel 2):"]),
                                      (False, ["Channel 1:", "Channel 2:"])):  # fmt: skip
            browser.go("#/recordings")
            browser.js(LABELLED, jfk, with_speakers)
            browser.go(f"#/recordings/{jfk}")
            browser.wait_for_transcript()
            assert [e.text for e in browser.css_all("#transcript .speaker")] == labels
            assert len(browser.words()) == len(words)  # every word still shown, once
    finally:
        browser.js("if (window.realFetch) window.fetch = window.realFetch")


def test_subtitles_and_text_download_as_files(browser: Browser, jfk: str, owner: httpx.Client) -> None:
    browser.go(f"#/recordings/{jfk}")
    browser.wait_for_transcript()
    for button, name, fmt in (("#download-srt", "jfk.srt", "srt"), ("#download-vtt", "jfk.vtt", "vtt")):
        path = browser.downloads / name
        path.unlink(missing_ok=True)
        browser.wait(lambda button=button: browser.css(button).is_enabled())
        browser.css(button).click()
        browser.wait(lambda path=path: path.exists() and path.stat().st_size > 0, what=f"{name} downloaded")
        time.sleep(0.2)  # the file is complete once Chromium renames it from .crdownload
        content = path.read_text()
        assert content == owner.get(f"/v1/recordings/{jfk}/transcription", params={"format": fmt}).text
    srt = (browser.downloads / "jfk.srt").read_text()
    assert re.search(r"00:00:0\d,\d{3} --> 00:00:\d\d,\d{3}", srt)
    assert "country" in srt.lower()
    assert (browser.downloads / "jfk.vtt").read_text().startswith("WEBVTT")


def test_deleting_asks_first_then_removes_the_recording(
    browser: Browser, jfk: str, owner: httpx.Client, audio_dir: Path
) -> None:
    doomed = upload(owner, audio_dir / "espeak_2.wav").json()["id"]
    wait_status(owner, [doomed])
    browser.go(f"#/recordings/{doomed}")
    browser.wait(lambda: browser.visible("#delete"))

    browser.css("#delete").click()
    assert browser.visible("#delete-confirmation")
    assert browser.driver.switch_to.active_element.get_attribute("id") == "cancel-delete"  # the safe choice
    browser.css("#cancel-delete").click()
    assert not browser.visible("#delete-confirmation")
    assert owner.get(f"/v1/recordings/{doomed}").status_code == 200

    browser.css("#delete").click()
    browser.css("#confirm-delete").click()
    message = browser.wait(browser.message, what="a message")
    assert "Deleted espeak_2.wav" in message
    browser.wait(lambda: browser.css_all("#recordings"), what="the list")
    assert not browser.css_all(f"tr[data-id='{doomed}']")
    assert browser.css_all(f"tr[data-id='{jfk}']")
    assert owner.get(f"/v1/recordings/{doomed}").status_code == 404


def test_a_failed_recording_is_transcribed_again_from_its_page(
    browser: Browser, jfk: str, owner: httpx.Client, audio_dir: Path, tmp_path: Path
) -> None:
    # A provider's recording that was not published yet when Earshot fetched it: failed, then there.
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(SimpleHTTPRequestHandler, directory=tmp_path))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        source = f"http://127.0.0.1:{server.server_address[1]}/late.wav"
        late = owner.post("/v1/recordings", json={"source_url": source}).json()["id"]
        assert wait_status(owner, [late])[late] == "failed"
        browser.go(f"#/recordings/{late}")
        failed = browser.wait(lambda: browser.css_all("#transcription-failed"), what="the failure")[0]
        assert "SOURCE_FETCH_FAILED" in failed.text
        shutil.copy(audio_dir / "espeak_3.wav", tmp_path / "late.wav")
        browser.css("#retry").click()
        browser.wait(lambda: not browser.css_all("#transcription-failed"), what="the page to follow the retry")
        words = browser.wait_for_transcript()
    finally:
        server.shutdown()
        server.server_close()
    assert "report" in " ".join(words).lower(), words
    assert owner.get(f"/v1/recordings/{late}").json()["status"] == "transcribed"


def test_another_tenants_recording_is_not_found(browser: Browser, jfk: str, stack: Stack, audio_dir: Path) -> None:
    other = stack.tenant(f"other-{uuid.uuid4().hex[:8]}")
    with watched_client(stack.url, (other.api_key, other.api_secret)) as client:
        foreign = upload(client, audio_dir / "espeak_3.wav").json()["id"]
    for recording_id in (foreign, str(uuid.uuid4())):
        browser.go(f"#/recordings/{recording_id}")
        browser.wait(lambda: browser.css("h1").text == "Recording not found", what="'Recording not found'")
        assert browser.visible("#not-found")
        assert not browser.css_all("#player") and not browser.css_all("#delete")


def test_the_list_fits_a_phone_screen(browser: Browser, jfk: str, artifacts: Path) -> None:
    phone = {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True}
    browser.cdp("Emulation.setDeviceMetricsOverride", phone)
    try:
        browser.go("#/recordings")
        browser.wait(lambda: browser.css_all(f"tr[data-id='{jfk}']"))
        widths = browser.js("return [document.documentElement.scrollWidth, window.innerWidth]")
        assert widths[0] <= widths[1], f"the page scrolls sideways: {widths}"
        row = browser.css(f"tr[data-id='{jfk}']")
        assert row.is_displayed() and "jfk.flac" in row.text
        browser.screenshot("console-list-phone")
        browser.go(f"#/recordings/{jfk}")
        browser.wait_for_transcript()
        widths = browser.js("return [document.documentElement.scrollWidth, window.innerWidth]")
        assert widths[0] <= widths[1], f"the recording page scrolls sideways: {widths}"
    finally:
        browser.cdp("Emulation.clearDeviceMetricsOverride")


def test_a_link_to_a_recording_opens_it_once_signed_in(browser: Browser, key: IssuedKey, jfk: str) -> None:
    browser.sign_out()
    browser.open(f"#/recordings/{jfk}")  # a link shared in a ticket, say
    browser.wait(lambda: browser.visible("#sign-in"), what="the sign-in form first")
    browser.css("#api-key").send_keys(key.api_key)
    browser.css("#api-secret").send_keys(key.api_secret)
    browser.css("#sign-in-button").click()
    assert set(browser.wait_for_transcript()) >= JFK_WORDS
    assert browser.recording_id() == jfk


def test_secrets_stay_out_of_urls_and_storage_other_than_the_tab(browser: Browser, key: IssuedKey, jfk: str) -> None:
    browser.go(f"#/recordings/{jfk}")
    browser.wait_for_transcript()
    seen = browser.js(
        "return {urls: [location.href, ...performance.getEntriesByType('resource').map((e) => e.name)],"
        " local: localStorage.length, cookies: document.cookie, session: JSON.stringify(sessionStorage)}"
    )
    assert not [u for u in seen["urls"] if key.api_secret in u or key.api_key in u]
    assert seen["local"] == 0 and seen["cookies"] == ""
    assert key.api_secret in seen["session"]  # kept for this tab only

    browser.css("#sign-out").click()
    browser.wait(lambda: browser.visible("#sign-in"))
    assert browser.js("return sessionStorage.length") == 0
