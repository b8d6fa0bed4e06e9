"""EARSHOT_CORS_ORIGINS: exact origins, as browsers send them, or '*'; and what the app answers
with them (the real stack's answers: tests/integration/api/test_cors.py)."""

from __future__ import annotations

import httpx
import pytest
from litestar import Litestar, get
from litestar.exceptions import NotFoundException
from litestar.testing import TestClient

from api.cors import cors
from engine.settings import Settings, SettingsError

APP = "https://app.example.com"
OTHER = "https://evil.example"


@pytest.mark.parametrize(
    ("raw", "origins"),
    [
        ("", ()),
        (" , ", ()),
        (APP, (APP,)),
        ("HTTPS://App.Example.com/", (APP,)),
        ("https://app.example.com:443, http://127.0.0.1:80", (APP, "http://127.0.0.1")),
        ("http://127.0.0.1:5173,http://[::1]:8080", ("http://127.0.0.1:5173", "http://[::1]:8080")),
        (f"{APP},{APP}", (APP,)),
        ("*", ("*",)),
    ],
)
def test_origins_are_read_as_browsers_spell_them(raw: str, origins: tuple[str, ...]) -> None:
    assert Settings.from_env({"EARSHOT_CORS_ORIGINS": raw}).cors_origin_list == origins


@pytest.mark.parametrize(
    "raw",
    [
        "app.example.com",  # no scheme
        "ftp://app.example.com",
        "https://app.example.com/path",
        "https://app.example.com?x=1",
        "https://*.example.com",  # exact origins, never patterns
        "https://user@app.example.com",
        "https://app.example.com:99999",
        "https://",
        f"*,{APP}",
    ],
)
def test_anything_but_an_origin_is_refused_at_start_up(raw: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"EARSHOT_CORS_ORIGINS": raw})
    assert "cors_origins" in str(caught.value).lower()


@get("/v1/thing", sync_to_thread=False)
def thing() -> dict[str, str]:
    return {"ok": "yes"}


@get("/v1/missing", sync_to_thread=False)
def missing() -> None:
    raise NotFoundException("no such thing")


def client(origins: str) -> TestClient[Litestar]:
    config, hooks = cors(Settings(cors_origins=origins))
    return TestClient(Litestar([thing, missing], cors_config=config, before_send=hooks))


def cors_headers(response: httpx.Response) -> dict[str, str]:
    return {k.lower(): v for k, v in response.headers.items() if k.lower().startswith("access-control-")}


def test_without_origins_there_is_no_cors_at_all() -> None:
    assert cors(Settings()) == (None, [])
    with client("") as c:
        assert cors_headers(c.get("/v1/thing", headers={"Origin": APP})) == {}


def test_an_allowed_origin_gets_its_headers_on_answers_and_errors_and_no_credentials() -> None:
    with client(APP) as c:
        for path in ("/v1/thing", "/v1/missing"):
            headers = cors_headers(c.get(path, headers={"Origin": APP}))
            assert headers["access-control-allow-origin"] == APP
            assert "access-control-allow-credentials" not in headers
        preflight = c.options(
            "/v1/thing",
            headers={"Origin": APP, "Access-Control-Request-Method": "POST",
                     "Access-Control-Request-Headers": "authorization,content-type"},
        )  # fmt: skip
        assert preflight.status_code == 204
        assert preflight.headers["access-control-allow-origin"] == APP
        assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
        assert "access-control-allow-credentials" not in preflight.headers


def test_another_origin_gets_no_cors_header_at_all() -> None:
    with client(APP) as c:
        for path in ("/v1/thing", "/v1/missing"):
            response = c.get(path, headers={"Origin": OTHER})
            assert cors_headers(response) == {}
            assert "Origin" in response.headers.get("vary", "")
        preflight = c.options("/v1/thing", headers={"Origin": OTHER, "Access-Control-Request-Method": "GET"})
        assert preflight.status_code >= 400 and cors_headers(preflight) == {}


def test_any_origin_is_answered_with_a_star_and_no_credentials() -> None:
    with client("*") as c:
        headers = cors_headers(c.get("/v1/missing", headers={"Origin": OTHER}))
        assert headers["access-control-allow-origin"] == "*"
        assert "access-control-allow-credentials" not in headers
