"""/v1/webhooks: endpoints, and the delivery log of each."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import msgspec
from litestar import Controller, Request, Response, delete, get, post

from api.bodies import json_object
from api.docs import errors
from engine.settings import Settings
from engine.webhooks.models import Attempt, Endpoint, validate_endpoint
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
        "uri": f"/v1/webhooks/{endpoint.id}",
    }


class WebhooksController(Controller):
    path = "/v1/webhooks"
    tags = ["webhooks"]

    @post("/", status_code=201, responses=errors("INVALID_PARAMETER"))
    async def create_webhook(
        self, request: Request[Any, Any, Any], tenant_id: str, webhooks: WebhookStore, settings: Settings
    ) -> Response[WebhookCreated]:
        """`{"url", "events": ["recording.transcribed", "recording.failed"], "description"}`.

        The `whsec_` signing secret is in this response only."""
        payload = json_object(await request.body())
        url, events, description = validate_endpoint(
            payload, allow_private=settings.webhook_allow_private, allowed=settings.private_allowlist
        )
        endpoint = await asyncio.to_thread(webhooks.create, tenant_id, url, events, description)
        body = WebhookCreated(**_out(endpoint), secret=endpoint.secret)
        return Response(body, status_code=201, headers={"Location": body.uri})

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
