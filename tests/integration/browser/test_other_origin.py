"""A team's own web app on another origin (a second HTTP server on another port of 127.0.0.1) that
imports /sdk/recorder.js from Earshot and uploads with an upload token, in a real Chromium: with
its origin in EARSHOT_CORS_ORIGINS the upload and the transcript go through and API errors are
readable; with its origin not listed, or no origin listed at all (the session's API), the browser
blocks the upload, the page gets a NetworkError and nothing reaches Earshot."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from engine.access.keys import IssuedKey
from tests.conftest import Stack, api_of_its_own
from tests.integration.browser.conftest import JFK_WORDS, Browser

pytestmark = pytest.mark.integration

UNKNOWN = "00000000-0000-4000-8000-000000000000"
PAGE = b"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Team app</title><link rel="icon" href="data:,"></head>
<body style="font: 16px sans-serif; margin: 2em">
<h1>Team app</h1>
<p>This page's origin: <code id="origin"></code></p>
<p>Status: <strong id="status">starting</strong></p>
<p id="transcript"></p>
<pre id="result" style="white-space: pre-wrap; word-break: break-all"></pre>
<script type="module" src="/app.js"></script>
</body></html>
"""
APP_JS = """
import { EarshotClient } from "%(earshot)s/sdk/recorder.js";

const show = (id, text) => { document.getElementById(id).textContent = text; };
const described = (e) => ({ name: e.name, code: e.code, apiCode: e.apiCode, status: e.status, message: e.message });
show("origin", location.origin);
const token = new URLSearchParams(location.hash.slice(1)).get("token");
const earshot = new EarshotClient({ baseUrl: "%(earshot)s", token });
const result = {};
try {
  // The app's own file, from its own origin; the upload and the polling go to Earshot's.
  const audio = await (await fetch("/jfk.flac")).blob();
  show("status", "uploading");
  result.recording = await earshot.upload(audio, { filename: "jfk.flac", customTags: { app: "other-origin" } });
  show("status", "transcribing");
  result.transcription = await earshot.waitForTranscription(result.recording.id, { intervalMs: 250 });
  show("transcript", result.transcription.text);
  show("status", "transcribed");
} catch (e) {
  result.error = described(e);
  show("status", `failed: ${e.name} (${e.code}): ${e.message}`);
}
// An error answer is readable too (its code), where the origin is allowed.
result.missing = await earshot.getRecording("%(unknown)s").then(() => null, described);
show("result", JSON.stringify(result));
"""


@dataclass
class App:
    """The team's app server: a page and its script, and an audio file the page uploads."""

    server: ThreadingHTTPServer
    files: dict[str, tuple[str, bytes]]

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def serve_for(self, earshot_url: str) -> None:
        script = APP_JS % {"earshot": earshot_url, "unknown": UNKNOWN}
        self.files["/app.js"] = ("text/javascript", script.encode())


@contextmanager
def app_server(audio_dir: Path) -> Iterator[App]:
    files = {"/": ("text/html", PAGE), "/jfk.flac": ("audio/flac", (audio_dir / "jfk.flac").read_bytes())}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            found = files.get(self.path.split("?")[0])
            if found is None:
                self.send_error(404)
                return
            media_type, body = found
            self.send_response(200)
            self.send_header("Content-Type", media_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)  # a free port: another origin
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield App(server, files)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture(scope="module")
def apps(audio_dir: Path) -> Iterator[tuple[App, App]]:
    """Two app origins: the first is allowed by the API of `cors_url`, the second is not."""
    with app_server(audio_dir) as allowed, app_server(audio_dir) as other:
        yield allowed, other


@pytest.fixture(scope="module")
def cors_url(stack: Stack, apps: tuple[App, App], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An API allowing the first app's origin (and one more, unrelated), on the session's stack."""
    allowed, _ = apps
    settings = msgspec.structs.replace(stack.settings, cors_origins=f"https://app.example.com,{allowed.origin}")
    with api_of_its_own(settings, tmp_path_factory.mktemp("cors-api") / "api.log") as url:
        yield url


@pytest.fixture(scope="module")
def key(stack: Stack) -> IssuedKey:
    return stack.tenant(f"other-origin-{uuid.uuid4().hex[:8]}")


def mint(url: str, key: IssuedKey, identity: str) -> str:
    """What the app's backend does: server to server, with the API key."""
    issued = httpx.post(f"{url}/v1/tokens", auth=(key.api_key, key.api_secret),
                        json={"identity": identity, "ttl_seconds": 600})  # fmt: skip
    assert issued.status_code == 201, issued.text
    token: str = issued.json()["token"]
    return token


def run_page(browser: Browser, app: App, earshot_url: str, token: str) -> dict[str, Any]:
    app.serve_for(earshot_url)
    browser.driver.get("about:blank")
    browser.driver.get(f"{app.origin}/#token={token}")
    assert browser.text("#origin") == app.origin and app.origin != earshot_url
    text = browser.wait(lambda: browser.text("#result"), timeout=90, what="the page's result")
    result: dict[str, Any] = json.loads(text)
    return result


def uploads_of(url: str, key: IssuedKey, identity: str) -> list[dict[str, Any]]:
    listed = httpx.get(f"{url}/v1/recordings", auth=(key.api_key, key.api_secret), params={"limit": 100})
    return [r for r in listed.json()["recordings"] if r["user_id"] == identity]


def test_an_allowed_origin_uploads_with_a_token_and_shows_the_transcript(
    browser: Browser, apps: tuple[App, App], cors_url: str, key: IssuedKey
) -> None:
    allowed, _ = apps
    identity = f"user-{uuid.uuid4().hex[:6]}"
    result = run_page(browser, allowed, cors_url, mint(cors_url, key, identity))
    assert "error" not in result, result
    browser.screenshot("other-origin-allowed")
    assert browser.text("#status") == "transcribed"
    words = {w["word"].strip(" .,;:!?").lower() for w in result["transcription"]["words"]}
    assert words >= JFK_WORDS, result["transcription"]["text"]
    assert set(browser.text("#transcript").lower().replace(",", " ").replace(".", " ").split()) >= JFK_WORDS
    recording = result["recording"]
    assert recording["user_id"] == identity and recording["upload_source"] == "token"
    assert recording["custom_tags"] == {"app": "other-origin"}
    # A 404 crosses the origin boundary with its code, so the page can tell it from a network failure.
    missing = result["missing"]
    assert (missing["name"], missing["apiCode"], missing["status"]) == ("ApiError", "RECORDING_NOT_FOUND", 404)


@pytest.mark.parametrize("api", ["origin not listed", "no origins set"])
def test_an_origin_not_allowed_gets_a_network_error_and_nothing_is_uploaded(
    browser: Browser, apps: tuple[App, App], cors_url: str, stack: Stack, key: IssuedKey, api: str
) -> None:
    allowed, other = apps
    app, url = (other, cors_url) if api == "origin not listed" else (allowed, stack.url)
    identity = f"user-{uuid.uuid4().hex[:6]}"
    result = run_page(browser, app, url, mint(url, key, identity))
    browser.screenshot(f"other-origin-refused-{api.replace(' ', '-')}")
    assert (result["error"]["name"], result["error"]["code"]) == ("NetworkError", "NETWORK_ERROR"), result
    assert "recording" not in result
    assert browser.text("#status").startswith("failed: NetworkError")
    # The browser's preflight was refused, so the upload itself was never sent.
    assert uploads_of(url, key, identity) == []
    # The module itself still loads from any origin (that is how the page got this far), but no
    # answer of the API is readable: the 404 is a network error to the page as well.
    assert (result["missing"]["name"], result["missing"]["code"]) == ("NetworkError", "NETWORK_ERROR")
    seen = len(browser.log)
    assert browser.page_problems() == []
    assert any("blocked by CORS policy" in m for m in browser.log[seen:]), browser.log[seen:]
