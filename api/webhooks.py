"""/v1/webhooks: endpoints, and the delivery log of each."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import msgspec
from litestar import Controller, Request, Response, delete, get, post, put

from api.bodies import json_body
from api.docs import errors
from api.limits import ApiLimits
from engine.settings import Settings
from engine.webhooks.models import Attempt, Endpoint, validate_endpoint, validate_scheme, validate_secret
from engine.webhooks.store import WebhookStore

__all__ = ["WebhooksController"]


class WebhookOut(msgspec.Struct, kw_only=True):
    id: str
    url: str
    events: list[str]
    description: str | None
    created_at: datetime
    disabled: bool
    disabled_reason: str | None
    signature_scheme: str
    """`standard` (Standard Webhooks headers) or `vocafuse` (those plus the seed's `X-VocaFuse-Signature`)."""
    uri: str


class WebhookCreated(WebhookOut, kw_only=True):
    secret: str
    """Shown only in this response."""


class WebhookList(msgspec.Struct, kw_only=True):
    webhooks: list[WebhookOut]


class DeliveryList(msgspec.Struct, kw_only=True):
    deliveries: list[Attempt]


def _out(endpoint: Endpoint) -> dict[str, Any]:
    return {
        "id": endpoint.id,
        "url": endpoint.url,
        "events": endpoint.events,
        "description": endpoint.description,
        "created_at": endpoint.created_at,
        "disabled": endpoint.disabled,
        "disabled_reason": endpoint.disabled_reason,
        "signature_scheme": endpoint.signature_scheme,
        "uri": f"/v1/webhooks/{endpoint.id}",
    }


def _default_scheme(request: Request[Any, Any, Any]) -> str:
    seed_sdk = "authorization" not in request.headers and "x-vocafuse-api-key" in request.headers
    return "vocafuse" if seed_sdk else "standard"


async def _validated(payload: dict[str, object], settings: Settings) -> tuple[str, list[str], str | None]:
    """`validate_endpoint` resolves the URL's host: off the event loop."""
    return await asyncio.to_thread(
        validate_endpoint, payload, allow_private=settings.webhook_allow_private, allowed=settings.private_allowlist
    )


class WebhooksController(Controller):
    path = "/v1/webhooks"
    tags = ["webhooks"]

    @post("/", status_code=201, responses=errors("INVALID_PARAMETER"))
    async def create_webhook(
        self,
        request: Request[Any, Any, Any],
        tenant_id: str,
        webhooks: WebhookStore,
        settings: Settings,
        limits: ApiLimits,
    ) -> Response[WebhookCreated]:
        """`{"url", "events": ["recording.transcribed", "recording.failed"], "description", "secret",
        "signature_scheme"}`; only `url` is required.

        `secret` (16-128 characters) is the caller's own; without one a `whsec_` secret is generated,
        and it is in this response only. The seed's event name `recording.completed` is accepted for
        `recording.transcribed`. `signature_scheme` defaults to `standard`, or to `vocafuse` when the
        request carries the seed SDK's `X-VocaFuse-API-Key` header (its receivers verify that scheme).

        The URL is judged as a delivery would judge it: a host that resolves to a private or
        loopback address is 400 unless the operator allows it."""
        payload = await json_body(request, timeout_s=limits.body_read_timeout_s)
        url, events, description = await _validated(payload, settings)
        secret = validate_secret(payload.get("secret"))
        scheme = validate_scheme(payload.get("signature_scheme"), _default_scheme(request))
        endpoint = await asyncio.to_thread(
            webhooks.create, tenant_id, url, events, description, secret=secret, signature_scheme=scheme
        )
        body = WebhookCreated(**_out(endpoint), secret=endpoint.secret)
        return Response(body, status_code=201, headers={"Location": body.uri})

    @put("/{webhook_id:str}", responses=errors("WEBHOOK_NOT_FOUND", "INVALID_PARAMETER"))
    async def update_webhook(
        self,
        request: Request[Any, Any, Any],
        webhook_id: str,
        tenant_id: str,
        webhooks: WebhookStore,
        settings: Settings,
        limits: ApiLimits,
    ) -> WebhookOut:
        """The same body as creation: `url` and `events` replace the endpoint's; `description`,
        `secret` and `signature_scheme` change only when given. Re-enables a disabled endpoint."""
        await asyncio.to_thread(webhooks.get_for, tenant_id, webhook_id)  # 404 before any 400
        payload = await json_body(request, timeout_s=limits.body_read_timeout_s)
        url, events, description = await _validated(payload, settings)
        changes: dict[str, object] = {"url": url, "events": events}
        if "description" in payload:
            changes["description"] = description
        if payload.get("secret") is not None:
            changes["secret"] = validate_secret(payload["secret"])
        if payload.get("signature_scheme") is not None:
            changes["signature_scheme"] = validate_scheme(payload["signature_scheme"])
        endpoint = await asyncio.to_thread(lambda: webhooks.update(tenant_id, webhook_id, **changes))
        return WebhookOut(**_out(endpoint))

    @get("/", sync_to_thread=True, responses=errors())
    def list_webhooks(self, tenant_id: str, webhooks: WebhookStore) -> WebhookList:
        return WebhookList(webhooks=[WebhookOut(**_out(e)) for e in webhooks.for_tenant(tenant_id)])

    @get("/{webhook_id:str}", sync_to_thread=True, responses=errors("WEBHOOK_NOT_FOUND"))
    def get_webhook(self, webhook_id: str, tenant_id: str, webhooks: WebhookStore) -> WebhookOut:
        return WebhookOut(**_out(webhooks.get_for(tenant_id, webhook_id)))

    @delete("/{webhook_id:str}", status_code=204, sync_to_thread=True, responses=errors("WEBHOOK_NOT_FOUND"))
    def delete_webhook(self, webhook_id: str, tenant_id: str, webhooks: WebhookStore) -> None:
        webhooks.delete(tenant_id, webhook_id)

    @get("/{webhook_id:str}/deliveries", sync_to_thread=True, responses=errors("WEBHOOK_NOT_FOUND"))
    def list_deliveries(self, webhook_id: str, tenant_id: str, webhooks: WebhookStore) -> DeliveryList:
        """Every attempt, newest first: event id and type, attempt number, status code or error, time."""
        endpoint = webhooks.get_for(tenant_id, webhook_id)
        return DeliveryList(deliveries=webhooks.attempts(endpoint.id))
