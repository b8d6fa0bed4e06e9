"""/v1/vocabularies through real HTTP against the running stack: CRUD, pages, every refusal, tenant scope."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest

from engine.access.keys import IssuedKey
from tests.conftest import Stack
from tests.faults import watched_client

pytestmark = pytest.mark.integration

BODY: dict[str, Any] = {
    "name": "Product terms",
    "phrases": ["Earshot", "Litestar"],
    "replacements": [{"heard": "cooper netties", "written": "Kubernetes"}, {"heard": "um", "written": ""}],
}
FIELDS = {"id", "name", "phrases", "replacements", "created_at", "updated_at", "uri"}


@pytest.fixture
def other(stack: Stack) -> Iterator[httpx.Client]:
    """A second tenant's client."""
    key = stack.tenant(f"t-{uuid.uuid4().hex[:10]}")
    with watched_client(stack.url, (key.api_key, key.api_secret)) as client:
        yield client


def create(api: httpx.Client, body: dict[str, Any] | None = None) -> dict[str, Any]:
    response = api.post("/v1/vocabularies", json=body or BODY)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def assert_error(response: httpx.Response, status: int, code: str, mentions: str = "") -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert (error["code"], error["status"]) == (code, status)
    assert mentions in error["message"]


# -- create, read, replace, update, delete ---------------------------------------------------------


def test_a_created_vocabulary_is_answered_with_its_location(api: httpx.Client) -> None:
    response = api.post("/v1/vocabularies", json=BODY)

    assert response.status_code == 201
    body = response.json()
    assert set(body) == FIELDS
    assert body["name"] == "Product terms"
    assert body["phrases"] == ["Earshot", "Litestar"]
    assert body["replacements"] == {"cooper netties": "Kubernetes", "um": ""}
    assert body["created_at"] == body["updated_at"] and body["created_at"].endswith("Z")
    assert response.headers["location"] == body["uri"] == f"/v1/vocabularies/{body['id']}"
    assert api.get(body["uri"]).json() == body


def test_replacements_may_be_sent_as_the_contracts_object_of_heard_to_written(api: httpx.Client) -> None:
    body = create(api, {"name": "n", "replacements": {"cooper netties": "Kubernetes", "uh": ""}})

    assert body["replacements"] == {"cooper netties": "Kubernetes", "uh": ""}
    assert body["phrases"] == []


def test_put_replaces_every_field(api: httpx.Client) -> None:
    created = create(api)

    response = api.put(created["uri"], json={"name": "Renamed", "phrases": ["Redis"]})

    assert response.status_code == 200
    body = response.json()
    assert (body["name"], body["phrases"], body["replacements"]) == ("Renamed", ["Redis"], {})
    assert body["created_at"] == created["created_at"]
    assert datetime.fromisoformat(body["updated_at"]) >= datetime.fromisoformat(created["updated_at"])
    assert api.get(created["uri"]).json() == body


def test_patch_changes_only_the_fields_given(api: httpx.Client) -> None:
    created = create(api)

    body = api.patch(created["uri"], json={"replacements": {"read is": "Redis"}}).json()

    assert body["name"] == created["name"] and body["phrases"] == created["phrases"]
    assert body["replacements"] == {"read is": "Redis"}
    assert api.patch(created["uri"], json={}).json()["replacements"] == {"read is": "Redis"}


def test_a_deleted_vocabulary_is_not_found_and_deleting_again_is_404(api: httpx.Client) -> None:
    created = create(api)

    response = api.delete(created["uri"])

    assert response.status_code == 204 and response.content == b""
    assert_error(api.get(created["uri"]), 404, "VOCABULARY_NOT_FOUND")
    assert_error(api.delete(created["uri"]), 404, "VOCABULARY_NOT_FOUND")
    assert api.get("/v1/vocabularies").json()["total"] == 0


# -- the list ----------------------------------------------------------------------------------------


def test_the_list_pages_newest_first_like_the_recordings_list(api: httpx.Client) -> None:
    ids = [create(api, {"name": f"v{i}"})["id"] for i in range(5)]

    first = api.get("/v1/vocabularies", params={"limit": 2}).json()
    second = api.get(first["next_page_uri"]).json()
    last = api.get(second["next_page_uri"]).json()

    assert set(first) == {
        "vocabularies", "uri", "first_page_uri", "next_page_uri", "previous_page_uri", "page", "page_size", "total"
    }  # fmt: skip
    seen = [v["id"] for page in (first, second, last) for v in page["vocabularies"]]
    assert seen == ids[::-1]
    assert (first["page"], first["page_size"], first["total"]) == (0, 2, 5)
    assert first["previous_page_uri"] is None and first["uri"] == "/v1/vocabularies?page=0&limit=2"
    assert second["previous_page_uri"] == first["uri"] == second["first_page_uri"]
    assert (last["page"], last["page_size"], last["next_page_uri"]) == (2, 1, None)
    everything = api.get("/v1/vocabularies").json()
    assert everything["page_size"] == 5 and everything["next_page_uri"] is None


def test_a_page_past_the_end_is_empty(api: httpx.Client) -> None:
    create(api)

    body = api.get("/v1/vocabularies", params={"page": 7}).json()

    assert (body["vocabularies"], body["total"], body["next_page_uri"]) == ([], 1, None)


@pytest.mark.parametrize(
    ("params", "mentions"),
    [({"limit": 0}, "limit"), ({"limit": 101}, "limit"), ({"limit": "x"}, "limit"), ({"page": -1}, "page")],
)
def test_bad_paging_parameters_are_400(api: httpx.Client, params: dict[str, Any], mentions: str) -> None:
    assert_error(api.get("/v1/vocabularies", params=params), 400, "INVALID_PARAMETER", mentions)


# -- refusals ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "mentions"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": "n", "phrases": "Earshot"}, "phrases"),
        ({"name": "n", "phrases": ["ok", ""]}, "phrases[1]"),
        ({"name": "n", "phrases": ["p" * 101]}, "phrases[0]"),
        ({"name": "n", "phrases": [f"p{i}" for i in range(101)]}, "phrases"),
        ({"name": "n", "phrases": ["Earshot", "earshot"]}, "phrases[1]"),
        ({"name": "n", "replacements": [{"heard": "", "written": "x"}]}, "replacements[0].heard"),
        ({"name": "n", "replacements": [{"heard": "h" * 101}]}, "replacements[0].heard"),
        ({"name": "n", "replacements": [{"heard": "ok", "written": "w" * 101}]}, "replacements[0].written"),
        ({"name": "n", "replacements": [{"heard": f"h{i}"} for i in range(201)]}, "replacements"),
        ({"name": "n", "replacements": [{"heard": "Cooper"}, {"heard": "cooper."}]}, "replacements[1].heard"),
        ({"name": "n", "replacements": 5}, "replacements"),
    ],
)
def test_each_invalid_field_is_400_naming_it(api: httpx.Client, body: dict[str, Any], mentions: str) -> None:
    assert_error(api.post("/v1/vocabularies", json=body), 400, "INVALID_PARAMETER", mentions)
    assert api.get("/v1/vocabularies").json()["total"] == 0


@pytest.mark.parametrize(
    "content",
    [b"{", b"[]", b'"name"', b"", b"\xff\xfe", b'{"name": "n"' + b"]" * 10, b"[" * 5000 + b"]" * 5000],
)
def test_a_body_that_is_not_a_json_object_is_400_without_a_trace(api: httpx.Client, content: bytes) -> None:
    response = api.post("/v1/vocabularies", content=content, headers={"content-type": "application/json"})

    assert_error(response, 400, "INVALID_PARAMETER")
    assert "Traceback" not in response.text and "msgspec" not in response.text


def test_an_oversized_body_is_413(api: httpx.Client) -> None:
    response = api.post("/v1/vocabularies", json={"name": "n", "phrases": ["x" * 1024] * 300})

    assert_error(response, 413, "PAYLOAD_TOO_LARGE")


def test_a_put_with_an_invalid_body_changes_nothing(api: httpx.Client) -> None:
    created = create(api)

    assert_error(api.put(created["uri"], json={"phrases": ["x"]}), 400, "INVALID_PARAMETER", "name")
    assert_error(api.patch(created["uri"], json={"name": ""}), 400, "INVALID_PARAMETER", "name")
    assert api.get(created["uri"]).json() == created


def test_a_tenant_may_have_100_vocabularies(api: httpx.Client) -> None:
    for i in range(100):
        create(api, {"name": f"v{i}"})

    assert_error(api.post("/v1/vocabularies", json=BODY), 400, "INVALID_PARAMETER", "at most 100 vocabularies")
    assert api.get("/v1/vocabularies").json()["total"] == 100


# -- tenant scope and credentials --------------------------------------------------------------------


def test_another_tenants_vocabulary_is_not_found_for_every_verb(api: httpx.Client, other: httpx.Client) -> None:
    mine = create(api)
    unknown = f"/v1/vocabularies/{uuid.uuid4()}"

    for client, uri in ((other, mine["uri"]), (api, unknown), (api, "/v1/vocabularies/not-an-id")):
        assert_error(client.get(uri), 404, "VOCABULARY_NOT_FOUND")
        assert_error(client.put(uri, json=BODY), 404, "VOCABULARY_NOT_FOUND")
        assert_error(client.patch(uri, json={"name": "x"}), 404, "VOCABULARY_NOT_FOUND")
        assert_error(client.delete(uri), 404, "VOCABULARY_NOT_FOUND")
    # A foreign id answers exactly as an unknown one, and its owner's vocabulary is untouched.
    assert other.get(mine["uri"]).json() == api.get(unknown).json()
    assert other.get("/v1/vocabularies").json()["vocabularies"] == []
    assert api.get(mine["uri"]).json() == mine


def test_a_404_comes_before_a_400_on_another_tenants_vocabulary(api: httpx.Client, other: httpx.Client) -> None:
    mine = create(api)

    assert_error(other.put(mine["uri"], json={"name": ""}), 404, "VOCABULARY_NOT_FOUND")


def test_vocabularies_need_an_api_key_not_an_upload_token(stack: Stack, api: httpx.Client) -> None:
    token = api.post("/v1/tokens", json={"identity": "user-42", "ttl_seconds": 600}).json()["token"]

    with watched_client(stack.url, None) as anonymous:
        assert_error(anonymous.get("/v1/vocabularies"), 401, "UNAUTHORIZED")
        assert_error(anonymous.post("/v1/vocabularies", json=BODY), 401, "UNAUTHORIZED")
        bearer = {"authorization": f"Bearer {token}"}
        assert_error(anonymous.get("/v1/vocabularies", headers=bearer), 401, "UNAUTHORIZED")
        assert_error(anonymous.post("/v1/vocabularies", json=BODY, headers=bearer), 401, "UNAUTHORIZED")


def test_the_seed_sdks_headers_authenticate_too(stack: Stack, tenant: IssuedKey) -> None:
    headers = {"X-VocaFuse-API-Key": tenant.api_key, "X-VocaFuse-API-Secret": tenant.api_secret}
    with watched_client(stack.url, None) as client:
        assert client.post("/v1/vocabularies", json=BODY, headers=headers).status_code == 201


# -- OpenAPI -----------------------------------------------------------------------------------------


def test_the_openapi_document_has_every_route_with_its_bodies_and_errors(stack: Stack) -> None:
    schema = httpx.get(f"{stack.url}/schema/openapi.json").json()
    paths = schema["paths"]

    expected = {
        ("/v1/vocabularies", "post"): {"201", "400", "401", "413"},
        ("/v1/vocabularies", "get"): {"200", "400", "401"},
        ("/v1/vocabularies/{vocabulary_id}", "get"): {"200", "401", "404"},
        ("/v1/vocabularies/{vocabulary_id}", "put"): {"200", "400", "401", "404"},
        ("/v1/vocabularies/{vocabulary_id}", "patch"): {"200", "400", "401", "404"},
        ("/v1/vocabularies/{vocabulary_id}", "delete"): {"204", "401", "404"},
    }
    for (path, method), statuses in expected.items():
        assert statuses <= set(paths[path][method]["responses"]), (path, method)
    for method in ("post", "put", "patch"):
        path = "/v1/vocabularies" if method == "post" else "/v1/vocabularies/{vocabulary_id}"
        assert "application/json" in paths[path][method]["requestBody"]["content"]
    created = schema["components"]["schemas"]["VocabularyIn"]
    assert created["required"] == ["name"] and {"name", "phrases", "replacements"} <= set(created["properties"])
