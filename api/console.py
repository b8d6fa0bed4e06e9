"""The browser side, served as static files: the recorder module (`/sdk/recorder.js`) and the
console (`/console`, its script and style under `/console/`). Public code: fetching them needs no
credentials. Everything they do goes through the public /v1 API with the user's own credentials."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

from litestar import Request, Response, get
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.types import ControllerRouterHandler

from engine.backends import Backends

__all__ = ["BROWSER_ROUTES", "content_security_policy"]

_JS = "text/javascript"


def content_security_policy(storage_origin: str | None = None) -> str:
    """No inline script or style and nothing from another origin. The console's page may also
    fetch from object storage: the audio endpoint redirects there (a presigned link)."""
    connect = f"'self' {storage_origin}" if storage_origin else "'self'"
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        f"media-src 'self' blob:; connect-src {connect}; object-src 'none'; base-uri 'none'; "
        "frame-ancestors 'none'; form-action 'self'"
    )


@dataclass(frozen=True, slots=True)
class _Asset:
    body: bytes
    media_type: str
    etag: str


def _load(name: str, media_type: str) -> _Asset:
    body = resources.files("api").joinpath("static", name).read_bytes()
    return _Asset(body, media_type, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')


_PAGE = _load("console.html", "text/html")
_RECORDER = _load("recorder.js", _JS)
_CONSOLE_ASSETS = {
    "app.js": _load("console.js", _JS),
    "app.css": _load("console.css", "text/css"),
}


def _serve(
    request: Request[Any, Any, Any], asset: _Asset, policy: str, extra: dict[str, str] | None = None
) -> Response[bytes]:
    headers = {
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-cache",  # revalidate (ETag) so that an upgrade is picked up at once
        "ETag": asset.etag,
        **(extra or {}),
    }
    if request.headers.get("if-none-match") == asset.etag:
        return Response(b"", status_code=304, headers=headers)
    return Response(asset.body, media_type=asset.media_type, headers=headers)


def _storage_origin(backends: Backends) -> str | None:
    """Where presigned audio links point (signing is local: no request is made)."""
    link = urlsplit(backends.storage.presign_get("console-origin-probe", 60))
    return f"{link.scheme}://{link.netloc}" if link.scheme in ("http", "https") and link.netloc else None


@get("/console", include_in_schema=False, sync_to_thread=False)
def console_page(request: Request[Any, Any, Any], backends: NamedDependency[Backends]) -> Response[bytes]:
    """The console: one page whose views follow the URL's fragment (`#/recordings/{id}`)."""
    return _serve(request, _PAGE, content_security_policy(_storage_origin(backends)), {"X-Frame-Options": "DENY"})


@get("/console/{name:str}", include_in_schema=False, sync_to_thread=False)
def console_asset(request: Request[Any, Any, Any], name: FromPath[str]) -> Response[bytes]:
    asset = _CONSOLE_ASSETS.get(name)
    if asset is None:
        raise NotFoundException()
    return _serve(request, asset, content_security_policy())


@get("/sdk/recorder.js", include_in_schema=False, sync_to_thread=False)
def recorder_module(request: Request[Any, Any, Any]) -> Response[bytes]:
    """The recorder ES module. Pages of other origins may import it (module scripts are fetched
    with CORS); their requests to the API then need that API reachable from their origin."""
    return _serve(request, _RECORDER, content_security_policy(), {"Access-Control-Allow-Origin": "*"})


BROWSER_ROUTES: list[ControllerRouterHandler] = [console_page, console_asset, recorder_module]
