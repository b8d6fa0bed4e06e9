"""api.auth.credentials: the three ways an API key and secret may travel, and what is refused."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from litestar import Request, get
from litestar.testing import create_test_client

from api.auth import credentials
from api.errors import exception_handlers


@get("/who", sync_to_thread=False)
def who(request: Request[Any, Any, Any]) -> dict[str, str]:
    key, secret = credentials(request)
    return {"key": key, "secret": secret}


def ask(headers: dict[str, str]) -> Any:
    with create_test_client([who], exception_handlers=exception_handlers) as client:  # type: ignore[arg-type]
        return client.get("/who", headers=headers)


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Basic " + base64.b64encode(b"ek_1:es_2").decode()},
        {"Authorization": "Bearer ek_1:es_2"},
        {"X-VocaFuse-API-Key": "ek_1", "X-VocaFuse-API-Secret": "es_2"},
        {"X-VocaFuse-API-Key": "ek_1", "X-VocaFuse-API-Secret": "es_2", "Content-Type": "application/json"},
    ],
    ids=["basic", "bearer", "seed-headers", "seed-headers-json-get"],
)
def test_each_accepted_form_gives_the_same_pair(headers: dict[str, str]) -> None:
    response = ask(headers)
    assert response.status_code == 200 and response.json() == {"key": "ek_1", "secret": "es_2"}


def test_the_authorization_header_wins_over_the_seed_headers() -> None:
    both = {"Authorization": "Bearer ek_a:es_b", "X-VocaFuse-API-Key": "ek_1", "X-VocaFuse-API-Secret": "es_2"}
    assert ask(both).json() == {"key": "ek_a", "secret": "es_b"}


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer et_payload.signature"},  # an upload token reads nothing
        {"Authorization": "Bearer ek_only"},
        {"Authorization": "Bearer :es_2"},
        {"X-VocaFuse-API-Key": "ek_1"},
        {"X-VocaFuse-API-Secret": "es_2"},
        {"Authorization": "Digest abc"},
    ],
)
def test_anything_else_is_401(headers: dict[str, str]) -> None:
    response = ask(headers)
    assert response.status_code == 401 and response.json()["error"]["code"] == "UNAUTHORIZED"
