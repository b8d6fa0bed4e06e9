"""GET /v1/models: the models this deployment can run, and which worker pools run them."""

from __future__ import annotations

import msgspec
from litestar import get

from api.docs import errors
from engine.jobs.routing import ModelCatalog
from engine.settings import Settings

__all__ = ["ModelInfo", "ModelList", "list_models"]


class PoolOut(msgspec.Struct, kw_only=True):
    queue: str
    device: str
    compute_type: str
    workers: int


class ModelInfo(msgspec.Struct, kw_only=True):
    name: str
    default: bool
    queue: str
    pools: list[PoolOut]
    """Live worker pools for this model; empty means jobs wait until a worker for it starts."""


class ModelList(msgspec.Struct, kw_only=True):
    models: list[ModelInfo]


@get("/v1/models", sync_to_thread=True, tags=["models"], responses=errors())
def list_models(tenant_id: str, settings: Settings, catalog: ModelCatalog) -> ModelList:
    """Names accepted by the `model` upload field, with the worker pools serving each."""
    grouped: dict[tuple[str, str, str, str], int] = {}
    for pool in catalog.pools():
        key = (pool.model, pool.queue, pool.device, pool.compute_type)
        grouped[key] = grouped.get(key, 0) + 1
    models = []
    for name in sorted(catalog.names(), key=lambda n: (n != settings.model, n)):
        pools = [
            PoolOut(queue=q, device=d, compute_type=c, workers=n) for (m, q, d, c), n in grouped.items() if m == name
        ]
        models.append(ModelInfo(name=name, default=name == settings.model, queue=catalog.queue_for(name), pools=pools))
    return ModelList(models=models)
