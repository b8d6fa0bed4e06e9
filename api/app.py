"""The Litestar application factory."""

from __future__ import annotations

import logging
from typing import Any

from litestar import Litestar, Request
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.types import ControllerRouterHandler

from api.account import AccountController
from api.auth import Principal, authenticate, authenticate_upload
from api.catalog import get_model, list_models
from api.console import BROWSER_ROUTES
from api.cors import cors
from api.errors import exception_handlers
from api.health import health, ready
from api.limits import ApiLimits, UploadSlots
from api.memory import MemoryTrimmer
from api.metrics import Metrics, metrics_endpoint
from api.openai_compat import OpenAIAudioController
from api.recordings import RecordingsController
from api.tokens import create_seed_token, create_token
from api.vocabularies import VocabulariesController
from api.voice import VoiceController
from api.webhooks import WebhooksController
from engine.access.keys import KeyStore
from engine.access.ratelimit import AuthThrottle, RateLimiter
from engine.access.tokens import TokenSigner
from engine.backends import Backends
from engine.errors import ServiceUnavailable
from engine.jobs.queue import DramatiqQueue, JobQueue, make_broker
from engine.jobs.routing import ModelCatalog, PoolRegistry
from engine.ops.metrics import JobMetrics
from engine.recordings.outcomes import Outcomes
from engine.recordings.service import RecordingService
from engine.recordings.telephony import VoiceService
from engine.settings import Settings
from engine.webhooks.publisher import EventPublisher

__all__ = ["create_app"]

log = logging.getLogger("earshot.api")

ROUTES: list[ControllerRouterHandler] = [
    RecordingsController,
    WebhooksController,
    VocabulariesController,
    AccountController,
    OpenAIAudioController,
    VoiceController,
    create_token,
    create_seed_token,
    list_models,
    get_model,
    health,
    ready,
    metrics_endpoint,
    *BROWSER_ROUTES,
]


def create_app(settings: Settings, *, backends: Backends | None = None, jobs: JobQueue | None = None) -> Litestar:
    """Build the API around `settings`; tests may pass their own backends and job queue."""
    backends = backends or Backends.connect(settings)
    jobs = jobs or DramatiqQueue(make_broker(settings))
    metrics = Metrics(backends.redis, settings.transcription_queues[0])

    def ensure_bucket() -> None:
        try:
            backends.storage.ensure_bucket()
        except ServiceUnavailable:
            log.warning("object storage is not reachable at start-up; /ready will say so")

    trimmer = MemoryTrimmer()
    cors_config, cors_hooks = cors(settings)
    return Litestar(
        route_handlers=ROUTES,
        dependencies=_dependencies(settings, backends, jobs, metrics),
        exception_handlers=exception_handlers,  # type: ignore[arg-type]
        middleware=[metrics.middleware],
        cors_config=cors_config,  # outside the exception handlers: errors carry the headers too
        before_send=cors_hooks,
        on_startup=[ensure_bucket, trimmer.start],
        on_shutdown=[trimmer.stop, backends.close],
        openapi_config=OpenAPIConfig(title="Earshot", version="0.1.0", path="/schema"),
        debug=False,
        logging_config=None,
    )


def _dependencies(settings: Settings, backends: Backends, jobs: JobQueue, metrics: Metrics) -> dict[str, Provide]:
    """The domain services the routes receive by name, built once per app."""
    catalog = ModelCatalog(settings.model, settings.transcription_queues[0], PoolRegistry(backends.redis))
    service = RecordingService(
        settings=settings,
        index=backends.index,
        storage=backends.storage,
        jobs=jobs,
        models=catalog,
        vocabularies=backends.vocabularies,
    )
    events = EventPublisher(backends.webhooks, jobs.enqueue_delivery)
    outcomes = Outcomes(backends.index, events=events, metrics=JobMetrics(backends.redis))
    tokens = TokenSigner(backends.redis)
    limiter = RateLimiter(backends.redis, settings.rate_limit_per_minute)
    limits = ApiLimits.from_settings(settings)
    throttle = AuthThrottle(backends.redis, limits.auth_failures_per_minute)

    def tenant_id(request: Request[Any, Any, Any], keys: KeyStore) -> str:
        return authenticate(request, keys, limiter, throttle)

    def principal(request: Request[Any, Any, Any], keys: KeyStore) -> Principal:
        return authenticate_upload(request, keys, tokens, limiter, throttle)

    def const(value: object) -> Provide:
        return Provide(lambda: value, use_cache=True, sync_to_thread=False)

    return {
        "settings": const(settings),
        "backends": const(backends),
        "keys": const(backends.keys),
        "service": const(service),
        "voice": const(VoiceService(index=backends.index, recordings=service, outcomes=outcomes)),
        "tokens": const(tokens),
        "webhooks": const(backends.webhooks),
        "vocabularies": const(backends.vocabularies),
        "catalog": const(catalog),
        "metrics": const(metrics),
        "limits": const(limits),
        "uploads": const(UploadSlots(limits.max_uploads, limits.max_uploads_per_key)),
        "tenant_id": Provide(tenant_id, sync_to_thread=True),
        "principal": Provide(principal, sync_to_thread=True),
    }
