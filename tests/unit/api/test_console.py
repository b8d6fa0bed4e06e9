"""api.console: the console and the recorder module as static files, with a policy that allows no
inline script or style and no other origin; and the files themselves keep to that policy."""

from __future__ import annotations

import re
from importlib import resources
from typing import Any

import pytest
from litestar import Litestar
from litestar.di import Provide
from litestar.testing import TestClient

from api.console import BROWSER_ROUTES, content_security_policy
from api.errors import exception_handlers
from engine.backends import Backends
from engine.settings import Settings
from engine.storage.s3 import S3Storage

STATIC = resources.files("api").joinpath("static")


def client(**storage: Any) -> TestClient[Litestar]:
    """The browser routes alone, with a real S3 storage's presigner (signing makes no request)."""
    backends = Backends.__new__(Backends)  # only `storage` is used by these routes
    backends.storage = S3Storage.from_settings(Settings(**storage))
    app = Litestar(
        route_handlers=BROWSER_ROUTES,
        dependencies={"backends": Provide(lambda: backends, sync_to_thread=False)},
        exception_handlers=exception_handlers,  # type: ignore[arg-type]
    )
    return TestClient(app)


def directives(response: Any) -> dict[str, str]:
    policy = response.headers["content-security-policy"]
    return {d.strip().split(" ", 1)[0]: d.strip().partition(" ")[2] for d in policy.split(";") if d.strip()}


@pytest.mark.parametrize(
    ("path", "content_type", "marker"),
    [
        ("/console", "text/html", b'<script type="module" src="/console/app.js">'),
        ("/console/app.js", "text/javascript", b'from "/sdk/recorder.js"'),
        ("/console/app.css", "text/css", b"@media"),
        ("/sdk/recorder.js", "text/javascript", b"export class Recorder"),
    ],
)
def test_each_file_is_served_without_credentials_with_its_type_and_policy(
    path: str, content_type: str, marker: bytes
) -> None:
    with client() as c:
        response = c.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].split(";")[0] == content_type
    assert marker in response.content
    assert response.headers["x-content-type-options"] == "nosniff"
    policy = directives(response)
    assert policy["default-src"] == "'self'" and policy["script-src"] == "'self'" and policy["style-src"] == "'self'"
    assert policy["object-src"] == "'none'" and policy["frame-ancestors"] == "'none'"
    assert "unsafe" not in response.headers["content-security-policy"]


def test_the_page_may_fetch_audio_from_object_storage_and_nowhere_else() -> None:
    with client(s3_endpoint="minio.internal:9000", s3_public_url="https://s3.example.com:8443") as c:
        policy = directives(c.get("/console"))
    assert policy["connect-src"] == "'self' https://s3.example.com:8443"  # where presigned links point
    assert policy["media-src"] == "'self' blob:"
    with client(s3_endpoint="127.0.0.1:9000") as c:
        assert directives(c.get("/console"))["connect-src"] == "'self' http://127.0.0.1:9000"


def test_the_module_may_be_imported_by_other_origins() -> None:
    with client() as c:
        assert c.get("/sdk/recorder.js").headers["access-control-allow-origin"] == "*"
        assert "access-control-allow-origin" not in c.get("/console").headers


def test_an_unchanged_file_is_revalidated_not_sent_again() -> None:
    with client() as c:
        first = c.get("/console/app.js")
        again = c.get("/console/app.js", headers={"If-None-Match": first.headers["etag"]})
    assert first.headers["cache-control"] == "no-cache"
    assert again.status_code == 304 and again.content == b""


def test_no_other_file_is_served() -> None:
    with client() as c:
        for path in ("/console/console.html", "/console/../app.py", "/console/recorder.js.map", "/sdk/other.js"):
            response = c.get(path)
            assert response.status_code == 404, path
            assert response.json()["error"]["code"] == "NOT_FOUND"


def test_the_policy_names_no_other_origin_by_default() -> None:
    assert "http" not in content_security_policy()


def test_the_page_has_no_inline_script_style_or_handler_and_loads_nothing_from_elsewhere() -> None:
    html = STATIC.joinpath("console.html").read_text()
    for script in re.findall(r"<script\b[^>]*>(.*?)</script>", html, flags=re.S):
        assert script.strip() == "", "inline script"
    assert all("src=" in tag for tag in re.findall(r"<script\b[^>]*>", html))
    assert not re.search(r"\sstyle\s*=", html) and "<style" not in html
    assert not re.search(r"\son[a-z]+\s*=", html), "inline event handler"
    assert not re.search(r"(?:src|href)\s*=\s*[\"']?(?:https?:)?//", html), "a resource from another origin"


@pytest.mark.parametrize("name", ["console.js", "recorder.js", "console.css"])
def test_the_scripts_and_style_load_nothing_from_elsewhere(name: str) -> None:
    code = [line for line in STATIC.joinpath(name).read_text().splitlines() if not line.lstrip().startswith("//")]
    text = "\n".join(code)  # the usage example in recorder.js's opening comment imports from a URL
    assert not re.search(r"""(?:import\s[^;]*from\s*|import\(\s*|url\(\s*)["']?(?:https?:)?//""", text)
    assert "innerHTML" not in text and "eval(" not in text and "new Function" not in text
    assert not re.search(r"setAttribute\(\s*[\"']style", text)
