"""Service routes: liveness and readiness."""

from __future__ import annotations

from litestar import Response, get

from engine.backends import Backends
from engine.errors import ServiceUnavailable

__all__ = ["health", "ready"]


@get("/health", sync_to_thread=False, tags=["service"])
def health() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@get("/ready", sync_to_thread=True, tags=["service"])
def ready(backends: Backends) -> Response[dict[str, object]]:
    """Redis and object storage answer; otherwise 503 naming the failing dependency."""
    checks: dict[str, str] = {}
    for name, ping in (("redis", backends.index.ping), ("storage", backends.storage.ping)):
        try:
            ping()
            checks[name] = "ok"
        except ServiceUnavailable:
            checks[name] = "unavailable"
    ok = all(v == "ok" for v in checks.values())
    failing = [k for k, v in checks.items() if v != "ok"]
    body: dict[str, object] = {"status": "ready" if ok else "unavailable", "checks": checks}
    if failing:
        body["failing"] = failing
    return Response(body, status_code=200 if ok else 503)
