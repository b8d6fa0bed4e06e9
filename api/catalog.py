"""GET /v1/models: the models this deployment runs."""

from __future__ import annotations

import msgspec
from litestar import get

from api.docs import errors
from engine.settings import Settings

__all__ = ["ModelInfo", "ModelList", "list_models"]


class ModelInfo(msgspec.Struct, kw_only=True):
    name: str
    default: bool
    queue: str
    device: str
    compute_type: str


class ModelList(msgspec.Struct, kw_only=True):
    models: list[ModelInfo]


@get("/v1/models", sync_to_thread=False, tags=["models"], responses=errors())
def list_models(tenant_id: str, settings: Settings) -> ModelList:
    """Names accepted by the `model` upload field."""
    compute = settings.compute_type
    if compute == "default":
        compute = "float16" if settings.device == "cuda" else "int8"
    return ModelList(
        models=[
            ModelInfo(
                name=settings.model,
                default=True,
                queue=settings.transcription_queues[0],
                device=settings.device,
                compute_type=compute,
            )
        ]
    )
