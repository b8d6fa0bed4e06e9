"""EARSHOT_CORS_ORIGINS on the real stack: a page of an allowed origin gets its preflights answered
and can read every answer, errors included; any other origin, or any origin when the setting is
empty (the session's API), gets no CORS header at all."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import msgspec
import pytest

from engine.access.keys import IssuedKey
from tests.conftest import TEST_MAX_UPLOAD, Stack, api_of_its_own

pytestmark = pytest.mark.integration

APP = "https://app.example.com"
DEV = "http://127.0.0.1:5173"
OTHER = "https://evil.example"
UNKNOWN = "00000000-0000-4000-8000-000000000000"
ROUTES = [
    ("POST", "/v1/recordings"),
    ("GET", f"/v1/recordings/{UNKNOWN}"),
    ("GET", f"/v1/recordings/{UNKNOWN}/transcription"),
    ("POST", "/v1/token"),
    ("POST", "/v1/tokens"),
    ("PATCH", f"/v1/vocabularies/{UNKNOWN}"),
    ("DELETE", f"/v1/recordings/{UNKNOWN}"),
]


@pytest.fixture(scope="module")
def cors_url(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An API of its own allowing two origins (one written with a default port and a slash, as an
    operator might), on the session's Redis, S3 server and worker."""
    settings = msgspec.structs.replace(stack.settings, cors_origins=f"{APP}:443/, {DEV}")
    with api_of_its_own(settings, tmp_path_factory.mktemp("cors") / "api.log") as url:
        yield url


@pytest.fixture(scope="module")
def key(stack: Stack) -> IssuedKey:
    return stack.tenant("cors")


def bearer(url: str, key: IssuedKey, identity: str = "user-cors") -> dict[str, str]:
    """A token minted the way an app's backend does (server to server: no Origin)."""
    issued = httpx.post(f"{url}/v1/tokens", auth=(key.api_key, key.api_secret),
                        json={"identity": identity, "ttl_seconds": 600})  # fmt: skip
    assert issued.status_code == 201, issued.text
    return {"Authorization": f"Bearer {issued.json()['token']}"}


def cors_headers(response: httpx.Response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k.lower().startswith("access-control-")}


def preflight(url: str, origin: str, method: str, path: str) -> httpx.Response:
    return httpx.options(
        url + path,
        headers={"Origin": origin, "Access-Control-Request-Method": method,
                 "Access-Control-Request-Headers": "authorization,content-type"},
    )  # fmt: skip


@pytest.mark.parametrize(("method", "path"), ROUTES)
@pytest.mark.parametrize("origin", [APP, DEV])
def test_a_preflight_from_an_allowed_origin_allows_the_method_and_the_bearer_header(
    cors_url: str, origin: str, method: str, path: str
) -> None:
    response = preflight(cors_url, origin, method, path)
    assert response.status_code == 204, response.text
    assert response.headers["access-control-allow-origin"] == origin
    assert method in response.headers["access-control-allow-methods"].split(", ")
    allowed = {h.strip().lower() for h in response.headers["access-control-allow-headers"].split(",")}
    assert {"authorization", "content-type"} <= allowed
    assert "access-control-allow-credentials" not in response.headers  # a header, never a cookie
    assert int(response.headers["access-control-max-age"]) > 0
    assert "Origin" in response.headers["vary"]


def test_an_allowed_origin_reads_the_upload_the_recording_and_the_token(
    stack: Stack, cors_url: str, key: IssuedKey, audio_dir: Path
) -> None:
    page = {"Origin": APP, **bearer(cors_url, key)}
    with stack.worker_paused():  # still processing: the transcription is a 404 the page must read
        with (audio_dir / "espeak_1.wav").open("rb") as fh:
            created = httpx.post(f"{cors_url}/v1/recordings", headers=page, files={"file": ("a.wav", fh)})
        assert created.status_code == 201, created.text
        assert created.headers["access-control-allow-origin"] == APP
        assert "location" in created.headers["access-control-expose-headers"].lower()
        rid = created.json()["id"]
        got = httpx.get(f"{cors_url}/v1/recordings/{rid}", headers=page)
        assert got.status_code == 200 and got.headers["access-control-allow-origin"] == APP
        pending = httpx.get(f"{cors_url}/v1/recordings/{rid}/transcription", headers=page)
        assert pending.status_code == 404 and pending.headers["access-control-allow-origin"] == APP
        assert pending.json()["error"]["code"] == "TRANSCRIPTION_NOT_READY"
    seed = httpx.post(f"{cors_url}/v1/token", headers={"Origin": APP}, auth=(key.api_key, key.api_secret),
                      json={"user_id": "user-cors", "expires_in": 600})  # fmt: skip
    assert seed.status_code == 201 and seed.headers["access-control-allow-origin"] == APP


def test_errors_carry_the_header_for_an_allowed_origin_so_the_page_reads_their_code(
    cors_url: str, key: IssuedKey
) -> None:
    page = {"Origin": APP, **bearer(cors_url, key)}
    expired = {"Origin": APP, "Authorization": "Bearer et_not-a-token"}
    cases = [
        (httpx.get(f"{cors_url}/v1/recordings/{UNKNOWN}", headers=page), 404, "RECORDING_NOT_FOUND"),
        (httpx.get(f"{cors_url}/v1/recordings/{UNKNOWN}", headers=expired), 401, "UNAUTHORIZED"),
        (httpx.post(f"{cors_url}/v1/recordings", headers=page, files={"file": ("e.wav", b"")}), 400, "EMPTY_FILE"),
        (httpx.post(f"{cors_url}/v1/recordings", headers=page,
                    files={"file": ("big.wav", b"\0" * (TEST_MAX_UPLOAD + 1024))}), 413, "PAYLOAD_TOO_LARGE"),
        (httpx.post(f"{cors_url}/v1/token", headers={"Origin": APP}, json={"user_id": "x"}), 401, "UNAUTHORIZED"),
    ]  # fmt: skip
    for response, status, code in cases:
        assert response.status_code == status, response.text
        assert response.headers["access-control-allow-origin"] == APP, (code, response.headers)
        assert response.json()["error"]["code"] == code


def test_another_origin_gets_no_cors_header_at_all(cors_url: str, key: IssuedKey) -> None:
    for method, path in ROUTES:
        refused = preflight(cors_url, OTHER, method, path)
        assert refused.status_code >= 400 and cors_headers(refused) == {}, (path, refused.headers)
    page = {"Origin": OTHER, **bearer(cors_url, key)}
    for response in (
        httpx.get(f"{cors_url}/v1/recordings/{UNKNOWN}", headers=page),  # an error
        httpx.get(f"{cors_url}/v1/recordings/{UNKNOWN}", headers={"Origin": OTHER}),  # unauthenticated
        httpx.post(f"{cors_url}/v1/recordings", headers=page, files={"file": ("e.wav", b"")}),
    ):
        assert response.status_code in (400, 401, 404)
        assert cors_headers(response) == {}, response.headers
        assert "Origin" in response.headers["vary"]
    # Anything close to an allowed origin is another origin.
    for near in ("http://app.example.com", "https://app.example.com:8443", "https://app.example.com.evil.example"):
        assert cors_headers(preflight(cors_url, near, "POST", "/v1/recordings")) == {}, near


def test_without_the_setting_no_origin_gets_cors_headers(stack: Stack, key: IssuedKey) -> None:
    page = {"Origin": APP, **bearer(stack.url, key)}
    for method, path in ROUTES:
        assert cors_headers(preflight(stack.url, APP, method, path)) == {}, path
    for response in (
        httpx.get(f"{stack.url}/v1/recordings/{UNKNOWN}", headers=page),
        httpx.post(f"{stack.url}/v1/recordings", headers=page, files={"file": ("e.wav", b"")}),
    ):
        assert response.status_code in (400, 404) and cors_headers(response) == {}, response.headers


def test_the_browser_files_keep_their_policy_and_the_module_stays_importable_from_anywhere(cors_url: str) -> None:
    plain = httpx.get(f"{cors_url}/console")
    for origin in (APP, OTHER):
        page = httpx.get(f"{cors_url}/console", headers={"Origin": origin})
        assert page.headers["content-security-policy"] == plain.headers["content-security-policy"]
        assert "connect-src 'self'" in page.headers["content-security-policy"]
        module = httpx.get(f"{cors_url}/sdk/recorder.js", headers={"Origin": origin})
        assert module.status_code == 200
        assert module.headers["access-control-allow-origin"] in (origin, "*")
