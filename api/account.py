"""/v1/account: the calling tenant, and its own API keys (rotation without shell access).

A new key's secret is in the creation response only. A tenant sees and deletes only its own keys;
another tenant's key id answers exactly like an unknown one. The key that authenticates a request
cannot delete itself (409 API_KEY_IN_USE), so a tenant cannot lock itself out by accident: rotate
by creating a key, switching to it, then deleting the old one with the new one."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime
from typing import Any

import msgspec
from litestar import Controller, Request, Response, delete, get, post

from api.auth import credentials
from api.bodies import json_body
from api.docs import errors
from api.limits import ApiLimits
from engine.access.keys import ApiKey, KeyStore
from engine.errors import ApiKeyInUse, ApiKeyNotFound, InvalidParameter

__all__ = ["AccountController"]

MAX_KEYS = 20
_NAME = re.compile(r"[^\x00-\x1f\x7f-\x9f]{1,64}")


class AccountOut(msgspec.Struct, kw_only=True):
    id: str
    name: str
    created_at: datetime
    api_keys: int
    uri: str


class ApiKeyOut(msgspec.Struct, kw_only=True):
    id: str
    """The API key itself (it names the key; the secret is what proves it)."""
    name: str | None
    created_at: datetime
    current: bool
    """True for the key that authenticated this request."""


class ApiKeyCreated(ApiKeyOut, kw_only=True):
    api_key: str
    api_secret: str
    """Shown only in this response; Earshot stores only its hash."""


class ApiKeyList(msgspec.Struct, kw_only=True):
    api_keys: list[ApiKeyOut]


def _out(record: ApiKey, current: str) -> ApiKeyOut:
    return ApiKeyOut(id=record.key, name=record.name, created_at=record.created_at, current=record.key == current)


def _name(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise InvalidParameter("name must be a string of 1-64 characters without control characters")
    return value


class AccountController(Controller):
    path = "/v1/account"
    tags = ["account"]

    @get("/", sync_to_thread=True, responses=errors())
    def get_account(self, tenant_id: str, keys: KeyStore) -> AccountOut:
        """The tenant the credentials belong to."""
        tenant = keys.tenant(tenant_id)
        if tenant is None:  # deleted by an operator between authentication and now
            raise ApiKeyNotFound("the tenant of this api key no longer exists")
        count = len(keys.for_tenant(tenant_id))
        return AccountOut(id=tenant.id, name=tenant.name, created_at=tenant.created_at, api_keys=count, uri=self.path)

    @get("/api-keys", sync_to_thread=True, responses=errors())
    def list_keys(self, request: Request[Any, Any, Any], tenant_id: str, keys: KeyStore) -> ApiKeyList:
        """This tenant's keys, oldest first; never a secret."""
        current, _ = credentials(request)
        return ApiKeyList(api_keys=[_out(k, current) for k in keys.for_tenant(tenant_id)])

    @post("/api-keys", status_code=201, responses=errors("INVALID_PARAMETER"))
    async def create_key(
        self, request: Request[Any, Any, Any], tenant_id: str, keys: KeyStore, limits: ApiLimits
    ) -> Response[ApiKeyCreated]:
        """`{"name": "ci"}` (optional) → a new key and its secret, shown only here."""
        payload = await json_body(request, timeout_s=limits.body_read_timeout_s, empty_ok=True)
        name = _name(payload.get("name"))
        if len(await asyncio.to_thread(keys.for_tenant, tenant_id)) >= MAX_KEYS:
            raise InvalidParameter(f"a tenant may have at most {MAX_KEYS} api keys; delete one first")
        record, issued = await asyncio.to_thread(keys.create_for, tenant_id, name)
        out = _out(record, "")
        body = ApiKeyCreated(**msgspec.structs.asdict(out), api_key=issued.api_key, api_secret=issued.api_secret)
        return Response(body, status_code=201, headers={"Location": f"{self.path}/api-keys/{record.key}"})

    @delete(
        "/api-keys/{key_id:str}",
        status_code=204,
        sync_to_thread=True,
        responses=errors("API_KEY_NOT_FOUND", "API_KEY_IN_USE"),
    )
    def delete_key(self, request: Request[Any, Any, Any], key_id: str, tenant_id: str, keys: KeyStore) -> None:
        """Revoke one of this tenant's keys (and the upload tokens it issued) at once."""
        current, _ = credentials(request)
        keys.get_for(tenant_id, key_id)  # another tenant's key is 404 before anything else is said
        if key_id == current:
            raise ApiKeyInUse()
        keys.revoke_for(tenant_id, key_id)
