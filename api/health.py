"""Service routes: liveness and readiness."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from litestar import Response, get

from engine.backends import Backends
from engine.errors import ServiceUnavailable

__all__ = ["READY_DEADLINE_S", "health", "ready"]

log = logging.getLogger("earshot.api")

READY_DEADLINE_S = 2.5
"""/ready answers within this time whatever its dependencies do; a check still running then fails."""


@get("/health", sync_to_thread=False, tags=["service"])
def health() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


async def _check(name: str, ping: Callable[[], None]) -> str:
    try:
        await asyncio.wait_for(asyncio.to_thread(ping), READY_DEADLINE_S)
    except ServiceUnavailable:
        return "unavailable"
    except TimeoutError:
        return "unavailable"
    except Exception:
        log.exception("readiness check of %s failed", name)
        return "unavailable"
    return "ok"


@get("/ready", tags=["service"])
async def ready(backends: Backends) -> Response[dict[str, object]]:
    """Redis and object storage answer (each within a second or two: a hung dependency is a failing
    one); otherwise 503 naming the failing dependency."""
    checks = backends.readiness_checks()
    results = await asyncio.gather(*(_check(name, ping) for name, ping in checks.items()))
    states = dict(zip(checks, results, strict=True))
    failing = [name for name, state in states.items() if state != "ok"]
    body: dict[str, object] = {"status": "unavailable" if failing else "ready", "checks": states}
    if failing:
        body["failing"] = failing
    return Response(body, status_code=503 if failing else 200)
