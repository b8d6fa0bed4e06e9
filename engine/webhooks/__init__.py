"""Webhooks: signed with at-least-once delivery (Standard Webhooks).

- Endpoints belong to a tenant; their `whsec_` secret (32 random bytes, or the caller's own) is
  shown only at creation. Each endpoint names its `signature_scheme`: `standard` (Standard Webhooks
  headers) or `vocafuse` (those, plus the seed's `X-VocaFuse-Signature` over a body that also
  carries the seed's event name); the seed's event names are accepted as aliases.
- An event is created once per recording outcome with a deterministic id, so a job that runs twice
  publishes the same event (same `webhook-id`) rather than a second one; receivers dedupe on it.
- Each delivery is one actor message (endpoint id, event id, attempt). An attempt is recorded
  whatever happens; failures are retried on the configured schedule with the same `webhook-id`;
  `410 Gone` disables the endpoint; redirects are not followed; private targets are refused unless
  the operator allows them.

Modules: `models` (endpoint, event, attempt, validation), `signing`, `store` (Redis), `publisher`
(one event per outcome), `delivery` (one attempt and its retry).
"""

from engine.webhooks.delivery import Deliverer
from engine.webhooks.models import EVENT_TYPES, Attempt, Endpoint, validate_endpoint
from engine.webhooks.publisher import EnqueueDelivery, EventPublisher, event_id_for
from engine.webhooks.signing import sign
from engine.webhooks.store import WebhookStore

__all__ = [
    "EVENT_TYPES",
    "Attempt",
    "Deliverer",
    "Endpoint",
    "EnqueueDelivery",
    "EventPublisher",
    "WebhookStore",
    "event_id_for",
    "sign",
    "validate_endpoint",
]
