"""/v1/vocabularies: a tenant's names and product terms, for uploads to name with `vocabulary_id`."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode

import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post, put
from litestar.di import Provide

from api.bodies import json_object, read_body
from api.docs import errors
from api.limits import ApiLimits
from engine.errors import InvalidParameter
from engine.vocabularies.model import (
    MAX_NAME,
    MAX_PHRASES,
    MAX_REPLACEMENTS,
    MAX_TEXT,
    Vocabulary,
    VocabularyFields,
    parse_fields,
)
from engine.vocabularies.store import VocabularyStore

__all__ = ["VocabulariesController"]

MAX_BODY_BYTES = 256 * 1024
"""A vocabulary at its limits is about 55 KB of ASCII JSON; room for any script's characters."""
DEFAULT_LIMIT, MAX_LIMIT = 50, 100
AnyRequest = Request[Any, Any, Any]
_NUMBER = re.compile(r"[0-9]{1,9}")

Text = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_TEXT)]


class ReplacementIn(msgspec.Struct, kw_only=True):
    heard: Text
    """One or more words as the model writes them (matched whole, ignoring case and punctuation)."""
    written: Annotated[str, msgspec.Meta(max_length=MAX_TEXT)] = ""
    """What to write instead, capitalised as it should appear; empty removes the words."""


Replacements = Annotated[list[ReplacementIn], msgspec.Meta(max_length=MAX_REPLACEMENTS)] | dict[str, str]


class VocabularyIn(msgspec.Struct, kw_only=True):
    """The body of POST and PUT: `replacements` as a list of `{"heard", "written"}` or as one
    object `{heard: written}`; text is stripped of surrounding spaces."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_NAME)]
    phrases: Annotated[list[Text], msgspec.Meta(max_length=MAX_PHRASES)] = msgspec.field(default_factory=list)
    replacements: Replacements = msgspec.field(default_factory=list)


class VocabularyPatch(msgspec.Struct, kw_only=True):
    """The body of PATCH: the fields given replace the vocabulary's, the others stay."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_NAME)] | msgspec.UnsetType = msgspec.UNSET
    phrases: Annotated[list[Text], msgspec.Meta(max_length=MAX_PHRASES)] | msgspec.UnsetType = msgspec.UNSET
    replacements: Replacements | msgspec.UnsetType = msgspec.UNSET


class VocabularyOut(msgspec.Struct, kw_only=True):
    id: str
    name: str
    phrases: list[str]
    replacements: dict[str, str]
    """`heard` → `written`, in the order given."""
    created_at: datetime
    updated_at: datetime
    uri: str


class VocabularyList(msgspec.Struct, kw_only=True):
    vocabularies: list[VocabularyOut]
    uri: str
    first_page_uri: str
    next_page_uri: str | None
    previous_page_uri: str | None
    page: int
    page_size: int
    """The number of vocabularies in this page."""
    total: int


def _out(vocabulary: Vocabulary) -> VocabularyOut:
    return VocabularyOut(
        id=vocabulary.id,
        name=vocabulary.name,
        phrases=vocabulary.phrases,
        replacements={r.heard: r.written for r in vocabulary.replacements},
        created_at=vocabulary.created_at,
        updated_at=vocabulary.updated_at,
        uri=f"/v1/vocabularies/{vocabulary.id}",
    )


# The routes read their bodies themselves (`api.bodies`: a deadline per chunk, the spec's errors).
# Litestar documents the `data` parameter of a route's dependencies as its request body, so each
# body is declared by a dependency that no route asks for, and that is therefore never called.
def _full_body(data: VocabularyIn) -> None:
    return None


def _partial_body(data: VocabularyPatch) -> None:
    return None


FULL_BODY = {"request_body": Provide(_full_body, sync_to_thread=False)}
PARTIAL_BODY = {"request_body": Provide(_partial_body, sync_to_thread=False)}


async def _fields(request: AnyRequest, limits: ApiLimits, base: VocabularyFields | None = None) -> VocabularyFields:
    raw = await read_body(request, timeout_s=limits.body_read_timeout_s, limit=MAX_BODY_BYTES)
    return parse_fields(json_object(raw), base=base)


def _page_params(params: Mapping[str, str]) -> tuple[int, int]:
    """`page` (from 0) and `limit` (1-100), as `GET /v1/recordings` takes them."""
    page, limit = params.get("page", "0").strip(), params.get("limit", str(DEFAULT_LIMIT)).strip()
    if not _NUMBER.fullmatch(page):
        raise InvalidParameter("page must be an integer ≥ 0")
    if not _NUMBER.fullmatch(limit) or not 1 <= int(limit) <= MAX_LIMIT:
        raise InvalidParameter(f"limit must be an integer from 1 to {MAX_LIMIT}")
    return int(page), int(limit)


def _uri(page: int, limit: int) -> str:
    return "/v1/vocabularies?" + urlencode({"page": page, "limit": limit})


class VocabulariesController(Controller):
    path = "/v1/vocabularies"
    tags = ["vocabularies"]

    @post(
        "/",
        status_code=201,
        dependencies=FULL_BODY,
        responses=errors("INVALID_PARAMETER", "PAYLOAD_TOO_LARGE", "REQUEST_TIMEOUT"),
    )
    async def create_vocabulary(
        self, request: AnyRequest, tenant_id: str, vocabularies: VocabularyStore, limits: ApiLimits
    ) -> Response[VocabularyOut]:
        """`{"name", "phrases": [...], "replacements": [{"heard", "written"}] or {heard: written}}`;
        only `name` is required. Limits: name 1-100 characters; up to 100 phrases of 1-100; up to
        200 replacements, `heard` 1-100 (each once, ignoring case and punctuation), `written` 0-100
        (empty removes the words); up to 100 vocabularies per tenant."""
        fields = await _fields(request, limits)
        vocabulary = await asyncio.to_thread(vocabularies.create, tenant_id, fields)
        body = _out(vocabulary)
        return Response(body, status_code=201, headers={"Location": body.uri})

    @get("/", sync_to_thread=True, responses=errors("INVALID_PARAMETER"))
    def list_vocabularies(self, request: AnyRequest, tenant_id: str, vocabularies: VocabularyStore) -> VocabularyList:
        """Newest first; pages with `page` (from 0) and `limit` (1-100, default 50)."""
        page, limit = _page_params(dict(request.query_params.items()))
        items, total = vocabularies.page(tenant_id, offset=page * limit, limit=limit)
        return VocabularyList(
            vocabularies=[_out(v) for v in items],
            uri=_uri(page, limit),
            first_page_uri=_uri(0, limit),
            next_page_uri=_uri(page + 1, limit) if (page + 1) * limit < total else None,
            previous_page_uri=_uri(page - 1, limit) if page > 0 else None,
            page=page,
            page_size=len(items),
            total=total,
        )

    @get("/{vocabulary_id:str}", sync_to_thread=True, responses=errors("VOCABULARY_NOT_FOUND"))
    def get_vocabulary(self, vocabulary_id: str, tenant_id: str, vocabularies: VocabularyStore) -> VocabularyOut:
        return _out(vocabularies.get(tenant_id, vocabulary_id))

    @put(
        "/{vocabulary_id:str}",
        dependencies=FULL_BODY,
        responses=errors("VOCABULARY_NOT_FOUND", "INVALID_PARAMETER", "PAYLOAD_TOO_LARGE", "REQUEST_TIMEOUT"),
    )
    async def replace_vocabulary(
        self, request: AnyRequest, vocabulary_id: str, tenant_id: str, vocabularies: VocabularyStore, limits: ApiLimits
    ) -> VocabularyOut:
        """The creation body: every field is replaced (`phrases` and `replacements` left out are emptied)."""
        await asyncio.to_thread(vocabularies.get, tenant_id, vocabulary_id)  # 404 before any 400
        fields = await _fields(request, limits)
        return _out(await asyncio.to_thread(vocabularies.update, tenant_id, vocabulary_id, fields))

    @patch(
        "/{vocabulary_id:str}",
        dependencies=PARTIAL_BODY,
        responses=errors("VOCABULARY_NOT_FOUND", "INVALID_PARAMETER", "PAYLOAD_TOO_LARGE", "REQUEST_TIMEOUT"),
    )
    async def update_vocabulary(
        self, request: AnyRequest, vocabulary_id: str, tenant_id: str, vocabularies: VocabularyStore, limits: ApiLimits
    ) -> VocabularyOut:
        """Any of `name`, `phrases`, `replacements`: those given replace the vocabulary's."""
        current = await asyncio.to_thread(vocabularies.get, tenant_id, vocabulary_id)
        fields = await _fields(request, limits, base=current.fields)
        return _out(await asyncio.to_thread(vocabularies.update, tenant_id, vocabulary_id, fields))

    @delete("/{vocabulary_id:str}", status_code=204, sync_to_thread=True, responses=errors("VOCABULARY_NOT_FOUND"))
    def delete_vocabulary(self, vocabulary_id: str, tenant_id: str, vocabularies: VocabularyStore) -> None:
        vocabularies.delete(tenant_id, vocabulary_id)
