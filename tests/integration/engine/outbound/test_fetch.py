"""Ingest by URL: the SSRF guard, limits and redirects, against a real HTTP server on loopback.

Only loopback is ever contacted: private and link-local literals are refused before connecting."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from engine.errors import SourceFetchFailed
from engine.outbound.fetch import fetch_to_storage
from engine.outbound.guard import parse_networks
from engine.storage.memory import MemoryStorage

BODY = b"RIFF" + bytes(range(256)) * 40


SEEN: list[str] = []


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        SEEN.append(self.path)
        if self.path == "/audio.wav":
            self.send_response(200)
            self.send_header("Content-Length", str(len(BODY)))
            self.end_headers()
            self.wfile.write(BODY)
        elif self.path == "/chunked":  # no Content-Length: the limit must hold while streaming
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for _ in range(20):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(BODY), BODY))
            self.wfile.write(b"0\r\n\r\n")
        elif self.path == "/loop":
            self.send_response(302)
            self.send_header("Location", "/loop")
            self.end_headers()
        elif self.path == "/to-metadata":
            self.send_response(302)
            self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
            self.end_headers()
        elif self.path == "/empty":
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self.send_error(500)

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def fetch(url: str, *, allow_private: bool = True, max_bytes: int = 10**6) -> MemoryStorage:
    storage = MemoryStorage()
    fetch_to_storage(url, storage, "t/r.wav", max_bytes=max_bytes, allow_private=allow_private)
    return storage


def test_a_source_is_streamed_into_storage(server: str) -> None:
    assert fetch(f"{server}/audio.wav").objects == {"t/r.wav": BODY}


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:1/a.wav", "http://localhost/a.wav", "http://10.0.0.1/a.wav", "http://192.168.1.10/a",
     "http://169.254.169.254/latest/meta-data/", "http://[::1]/a", "http://[fd00::1]/a", "http://0.0.0.0/a"],
)  # fmt: skip
def test_private_and_loopback_targets_are_refused_by_default(url: str) -> None:
    with pytest.raises(SourceFetchFailed, match="private or loopback"):
        fetch(url, allow_private=False)


def test_a_redirect_to_a_private_address_is_refused(server: str) -> None:
    # Loopback is allowed by name (as an operator would allow one internal host), so the first hop
    # is fetched; its redirect to the cloud metadata address is refused before any connection.
    storage = MemoryStorage()
    SEEN.clear()
    with pytest.raises(SourceFetchFailed, match="private or loopback"):
        fetch_to_storage(
            f"{server}/to-metadata",
            storage,
            "k",
            max_bytes=10**6,
            allow_private=False,
            allowed=parse_networks("127.0.0.1"),
        )
    assert SEEN == ["/to-metadata"] and storage.objects == {}


def test_an_allowed_private_network_is_reachable_and_others_stay_refused(server: str) -> None:
    storage = MemoryStorage()
    size = fetch_to_storage(
        f"{server}/audio.wav", storage, "k", max_bytes=10**6, allow_private=False, allowed=parse_networks("127.0.0.0/8")
    )
    assert size == len(BODY)
    with pytest.raises(SourceFetchFailed, match="private or loopback"):
        fetch_to_storage(
            "http://10.0.0.1/a.wav",
            storage,
            "j",
            max_bytes=10**6,
            allow_private=False,
            allowed=parse_networks("127.0.0.0/8"),
        )


def test_sources_over_the_limit_are_refused_and_store_nothing(server: str) -> None:
    for path in ("/audio.wav", "/chunked"):
        storage = MemoryStorage()
        with pytest.raises(SourceFetchFailed, match="larger than the limit"):
            fetch_to_storage(f"{server}{path}", storage, "k", max_bytes=len(BODY) - 1, allow_private=True)
        assert storage.objects == {}


def test_redirect_loops_errors_and_empty_bodies_fail_clearly(server: str) -> None:
    with pytest.raises(SourceFetchFailed, match="redirects"):
        fetch(f"{server}/loop")
    with pytest.raises(SourceFetchFailed, match="HTTP 500"):
        fetch(f"{server}/nothing")
    with pytest.raises(SourceFetchFailed, match="empty"):
        fetch(f"{server}/empty")
    with pytest.raises(SourceFetchFailed, match="failed"):
        fetch("http://127.0.0.1:1/refused")
