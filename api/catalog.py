"""GET /v1/models: the models this deployment can run, and which worker pools run them.

The same body also answers OpenAI's `client.models.list()`: `object: "list"` and `data` (one
`{"id", "object": "model", "created", "owned_by"}` per name the audio routes accept, `whisper-1`
included) sit beside Earshot's own `models`."""

from __future__ import annotations

import time

import msgspec
from litestar import get

from api.docs import errors
from engine.errors import ModelNotFound
from engine.jobs.routing import ModelCatalog
from engine.settings import Settings

__all__ = [
    "OPENAI_DIARIZE_MODEL",
    "OPENAI_MODEL_ALIASES",
    "ModelInfo",
    "ModelList",
    "OpenAIModel",
    "get_model",
    "list_models",
]

OPENAI_MODEL_ALIASES = ("whisper-1", "gpt-4o-transcribe", "gpt-4o-mini-transcribe")
"""Model names OpenAI clients send; each means this deployment's default model (the first is the
one error messages name)."""
OPENAI_DIARIZE_MODEL = "gpt-4o-transcribe-diarize"
"""OpenAI's speaker-labelling model name: the default model with `diarize=true`, offered while a
diarization worker is alive."""
_STARTED = int(time.time())


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


class OpenAIModel(msgspec.Struct, kw_only=True):
    id: str
    object: str = "model"
    created: int
    """Unix seconds; Earshot reports when this API process started."""
    owned_by: str = "earshot"


class ModelList(msgspec.Struct, kw_only=True):
    models: list[ModelInfo]
    object: str = "list"
    data: list[OpenAIModel] = msgspec.field(default_factory=list)
    """OpenAI's list shape: the names the OpenAI-compatible audio routes accept."""


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
    names = [m.name for m in models] + list(OPENAI_MODEL_ALIASES)
    if catalog.can_diarize():
        names.append(OPENAI_DIARIZE_MODEL)
    return ModelList(models=models, data=[OpenAIModel(id=name, created=_STARTED) for name in names])


@get("/v1/models/{model_id:path}", sync_to_thread=True, tags=["models"], responses=errors("MODEL_NOT_FOUND"))
def get_model(model_id: str, tenant_id: str, catalog: ModelCatalog) -> OpenAIModel:
    """One name the audio routes accept, in OpenAI's model shape (`client.models.retrieve`); a model
    path such as `/models/faster-whisper-large-v3` is a name too."""
    names = catalog.names() | set(OPENAI_MODEL_ALIASES)
    if catalog.can_diarize():
        names.add(OPENAI_DIARIZE_MODEL)
    for name in (model_id, model_id[1:]):  # a path parameter keeps its leading slash
        if name in names:
            return OpenAIModel(id=name, created=_STARTED)
    raise ModelNotFound(f"model {model_id.lstrip('/')[:64]!r} is not available; see GET /v1/models")
