"""A real Chromium (Debian's `chromium`, driven by Selenium through Debian's `chromedriver`) against
the real stack of tests/conftest.py. One browser per test module; only 127.0.0.1 is ever reached.

The fake microphone plays ../shared/audio/jfk.flac (as WAV) to every capture from its start. The
microphone permission is granted or denied per test through the DevTools protocol (rather than
`--use-fake-ui-for-media-stream`, which would grant it always), so a denied microphone is testable.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from engine.access.keys import IssuedKey
from tests.conftest import ROOT, Stack, require, require_binary

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
DESKTOP = (1280, 900)
JFK_WORDS = {"ask", "not", "what", "your", "country", "can", "do", "for", "you"}
"""From "ask not what your country can do for you": what the transcript must show, word by word."""


def _selenium_installed() -> bool:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Where screenshots go: $EARSHOT_ARTIFACTS, or .artifacts/screenshots in the repository."""
    path = Path(os.environ.get("EARSHOT_ARTIFACTS") or ROOT / ".artifacts" / "screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def microphone_wav(audio_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """jfk.flac as the 16-bit PCM WAV Chromium's fake capture device reads."""
    require_binary("ffmpeg")
    wav = tmp_path_factory.mktemp("microphone") / "jfk.wav"
    subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-i", str(audio_dir / "jfk.flac"),
         "-ac", "1", "-ar", "48000", "-sample_fmt", "s16", str(wav)],
        check=True, timeout=60,
    )  # fmt: skip
    return wav


@dataclass
class Browser:
    """The Selenium driver plus what the tests do with it, in the words of the tests."""

    driver: Any
    base_url: str
    downloads: Path
    artifacts: Path
    log: list[str] = field(default_factory=list)

    def open(self, fragment: str = "") -> None:
        """Loads the console afresh (a new document, the tab's sessionStorage kept)."""
        self.driver.get("about:blank")
        self.driver.get(f"{self.base_url}/console{fragment}")

    def go(self, fragment: str) -> None:
        """Another view of the loaded console, as a click on a link would."""
        self.js("location.hash = arguments[0]", fragment)

    def wait(self, condition: Callable[[], Any], timeout: float = 30, what: str = "") -> Any:
        deadline = time.monotonic() + timeout
        while True:
            try:
                value = condition()
            except Exception:  # stale or not-yet-present elements: look again
                value = None
            if value:
                return value
            if time.monotonic() > deadline:
                self.screenshot("failed-wait")
                message = self.text("#message") if self.css_all("#message") else ""
                pytest.fail(f"timed out waiting for {what or condition}; page message: {message!r}")
            time.sleep(0.05)

    def css(self, selector: str) -> Any:
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.CSS_SELECTOR, selector)

    def css_all(self, selector: str) -> list[Any]:
        from selenium.webdriver.common.by import By

        return list(self.driver.find_elements(By.CSS_SELECTOR, selector))

    def visible(self, selector: str) -> bool:
        found = self.css_all(selector)
        return bool(found) and found[0].is_displayed()

    def text(self, selector: str) -> str:
        return str(self.css(selector).text)

    def message(self) -> str:
        return self.text("#message") if self.visible("#message") else ""

    def js(self, script: str, *args: Any) -> Any:
        return self.driver.execute_script(script, *args)

    def js_async(self, script: str, *args: Any) -> Any:
        return self.driver.execute_async_script(script, *args)

    def cdp(self, command: str, params: dict[str, Any] | None = None) -> Any:
        return self.driver.execute_cdp_cmd(command, params or {})

    def microphone(self, setting: str) -> None:
        """'granted' or 'denied', as a user's answer to the browser's prompt would be."""
        self.cdp(
            "Browser.setPermission",
            {"permission": {"name": "microphone"}, "setting": setting, "origin": self.base_url},
        )

    def offline(self, offline: bool) -> None:
        self.cdp("Network.enable")
        conditions = {"offline": offline, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1}
        self.cdp("Network.emulateNetworkConditions", conditions)

    def screenshot(self, name: str) -> Path:
        path = self.artifacts / f"{name}.png"
        self.driver.save_screenshot(str(path))
        return path

    def page_problems(self) -> list[str]:
        """Content-Security-Policy violations and uncaught script errors seen since the last call."""
        entries = self.driver.get_log("browser")
        self.log.extend(e["message"] for e in entries)
        return [
            e["message"]
            for e in entries
            if "Content Security Policy" in e["message"] or "Uncaught" in e["message"] or "Refused to" in e["message"]
        ]

    def sign_in_with_key(self, key: IssuedKey) -> None:
        """The sign-in form, filled and sent from the keyboard."""
        from selenium.webdriver.common.keys import Keys

        self.sign_out()
        self.wait(lambda: self.visible("#api-key"), what="the sign-in form")
        self.css("#api-key").send_keys(key.api_key)
        self.css("#api-secret").send_keys(key.api_secret + Keys.ENTER)
        self.wait(lambda: self.css_all("#recordings, #recordings-results .empty"), what="the list of recordings")

    def sign_in_with_token(self, token: str) -> None:
        self.sign_out()
        self.wait(lambda: self.visible("#api-key"), what="the sign-in form")
        self.css("input[name=mode][value=token]").click()
        self.css("#token").send_keys(token)
        self.css("#sign-in-button").click()
        self.wait(lambda: self.visible("#record"), what="the record button")

    def sign_out(self) -> None:
        self.open()
        self.js("sessionStorage.clear()")
        self.open("#/sign-in")

    def drop_file(self, path: Path, mime_type: str) -> None:
        """Drags a file onto the drop zone: the events a real drop fires, with a real DataTransfer."""
        self.js(
            """
            const [b64, name, type] = arguments;
            const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
            const data = new DataTransfer();
            data.items.add(new File([bytes], name, { type }));
            const zone = document.getElementById("drop-zone");
            for (const kind of ["dragenter", "dragover", "drop"]) {
              zone.dispatchEvent(new DragEvent(kind, { bubbles: true, cancelable: true, dataTransfer: data }));
            }
            """,
            base64.b64encode(path.read_bytes()).decode(),
            path.name,
            mime_type,
        )

    def words(self) -> list[str]:
        """The transcript's words as shown, lower case, without punctuation."""
        texts = self.js("return [...document.querySelectorAll('#transcript .word')].map((w) => w.textContent)")
        return [t.strip(" .,;:!?\"'").lower() for t in texts]

    def wait_for_transcript(self, timeout: float = 90) -> list[str]:
        self.wait(lambda: self.css_all("#transcript .word, #transcription-failed"), timeout, "the transcript")
        assert not self.css_all("#transcription-failed"), self.text("#transcription-failed")
        return self.words()

    def recording_id(self) -> str:
        url = str(self.driver.current_url)
        assert "#/recordings/" in url, url
        return url.rsplit("/", 1)[1]


def _options(microphone: Path, downloads: Path) -> Any:
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root
        "--disable-dev-shm-usage",
        "--disable-gpu",
        f"--window-size={DESKTOP[0]},{DESKTOP[1]}",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={microphone}%noloop",
        "--autoplay-policy=no-user-gesture-required",
        # Only loopback: no name resolves except 127.0.0.1, and the browser's own services are off.
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-domain-reliability",
        "--disable-sync",
        "--no-pings",
        "--disable-features=MediaRouter,OptimizationHints,Translate",
    ):
        options.add_argument(argument)
    options.add_experimental_option(
        "prefs",
        {"download.default_directory": str(downloads), "download.prompt_for_download": False},
    )
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return options


@pytest.fixture(scope="module")
def browser(
    stack: Stack, microphone_wav: Path, artifacts: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Browser]:
    require(f"chromium ({CHROMIUM})", os.access(CHROMIUM, os.X_OK))
    require(f"chromedriver ({CHROMEDRIVER})", os.access(CHROMEDRIVER, os.X_OK))
    require("selenium (the dev extra)", _selenium_installed())
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    downloads = tmp_path_factory.mktemp("downloads")
    # An explicit driver path: Selenium Manager (which would go to the network) never runs.
    service = Service(executable_path=CHROMEDRIVER)
    driver = webdriver.Chrome(options=_options(microphone_wav, downloads), service=service)
    driver.set_script_timeout(90)
    try:
        yield Browser(driver, stack.url, downloads, artifacts)
    finally:
        driver.quit()


@pytest.fixture(autouse=True)
def page_behaves(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every browser test also fails on a Content-Security-Policy violation or an uncaught error."""
    if "browser" not in request.fixturenames:
        yield
        return
    browser: Browser = request.getfixturevalue("browser")
    browser.page_problems()
    yield
    assert browser.page_problems() == []
