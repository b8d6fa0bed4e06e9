"""The Litestar application factory."""

from __future__ import annotations

import logging

from litestar import Litestar, Request
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig

from api.auth import authenticate
from api.errors import exception_handlers
from api.health import health, ready
from api.recordings import RecordingsController
from engine.backends import Backends
from engine.errors import ServiceUnavailable
from engine.jobs import DramatiqQueue, JobQueue, make_broker
from engine.keys import KeyStore
from engine.service import RecordingService
from engine.settings import Settings

__all__ = ["create_app"]

log = logging.getLogger("earshot.api")


def create_app(
    settings: Settings, *, backends: Backends | None = None, jobs: JobQueue | None = None
) -> Litestar:
    """Build the API around `settings`; tests may pass their own backends and job queue."""
    backends = backends or Backends.connect(settings)
    jobs = jobs or DramatiqQueue(make_broker(settings))
    service = RecordingService(
        settings=settings,
        index=backends.index,
        storage=backends.storage,
        jobs=jobs,
        models=[settings.model],
    )

    def tenant_id(request: Request[object, object, State], keys: KeyStore) -> str:
        return authenticate(request, keys)

    def ensure_bucket() -> None:
        try:
            backends.storage.ensure_bucket()
        except ServiceUnavailable:
            log.warning("object storage is not reachable at start-up; /ready will say so")

    return Litestar(
        route_handlers=[RecordingsController, health, ready],
        dependencies={
            "settings": Provide(lambda: settings, use_cache=True, sync_to_thread=False),
            "backends": Provide(lambda: backends, use_cache=True, sync_to_thread=False),
            "keys": Provide(lambda: backends.keys, use_cache=True, sync_to_thread=False),
            "service": Provide(lambda: service, use_cache=True, sync_to_thread=False),
            "tenant_id": Provide(tenant_id, sync_to_thread=True),
        },
        exception_handlers=exception_handlers,  # type: ignore[arg-type]
        on_startup=[ensure_bucket],
        on_shutdown=[backends.close],
        openapi_config=OpenAPIConfig(title="Earshot", version="0.1.0", path="/schema"),
        debug=False,
        logging_config=None,
    )
