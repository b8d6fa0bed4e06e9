"""Issue 12, the API side: every hostile input a 4xx, never a 500, a traceback or a repr.

One table of hostile requests (malformed JSON and forms, path-like telephony session ids, SSRF
targets in every disguise, control characters in URLs), each answered 4xx with the spec's body and
nothing stored; then what a hostile client does over time: stalled uploads (408, bounded per key
and per node, threads and memory back after they go), a hung Redis (/ready answers in time and
names it), and guessing credentials (throttled per address).

These run against an API of their own: its own Redis (so that SIGSTOP and the failed-auth
counter touch nothing else), the session's S3 server, the SSRF guard on (the shared stack allows
loopback targets for its webhook receivers), and short limits so that timeouts take seconds.
"""

from __future__ import annotations

import base64
import concurrent.futures
import contextlib
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from earshot.processes import Proc, free_port, start_redis, wait_until
from engine.access.keys import IssuedKey
from engine.backends import Backends
from engine.keyspace import KEYS
from engine.settings import Settings
from tests.conftest import child_env, require_binary
from tests.faults import REPORT, watched_client

pytestmark = pytest.mark.integration

READ_TIMEOUT_S = 5.0
MAX_UPLOADS = 24
MAX_UPLOADS_PER_KEY = 16
AUTH_FAILURES = 20
LIMITS = {
    "body_read_timeout_s": READ_TIMEOUT_S,
    "max_concurrent_uploads": MAX_UPLOADS,
    "max_concurrent_uploads_per_key": MAX_UPLOADS_PER_KEY,
    "auth_failures_per_minute": AUTH_FAILURES,
}
# Runs `earshot api` with the memory trim interval shortened, so the RSS test need not wait long.
LAUNCH = """
import sys
import api.memory
api.memory.TRIM_INTERVAL_S = 1.0
from earshot.cli import main
sys.exit(main(["api", "--port", sys.argv[1]]))
"""
NO_LEAKS = re.compile(r"Traceback|File \"|b'|b\"|Error\(|Exception|0x[0-9a-f]{6,}", re.IGNORECASE)


@dataclass
class Hostile:
    url: str
    api: Proc
    redis: Proc
    backends: Backends
    settings: Settings

    def tenant(self) -> IssuedKey:
        return self.backends.keys.create(f"h-{uuid.uuid4().hex[:10]}")

    def client(self, key: IssuedKey | None) -> httpx.Client:
        return watched_client(self.url, (key.api_key, key.api_secret) if key else None)


def _start_api(env: dict[str, str], port: int, log_path: Path) -> Proc:
    argv = [sys.executable, "-c", LAUNCH, str(port)]
    log = log_path.open("ab")
    popen = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env)
    proc = Proc(name="api", popen=popen, log_path=log_path, port=port, _log=log)

    def healthy() -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(healthy, proc, timeout=60)
    except BaseException:
        proc.stop()
        raise
    return proc


@pytest.fixture(scope="module")
def hostile(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hostile]:
    require_binary("redis-server")
    base = tmp_path_factory.mktemp("hostile")
    redis_port = free_port()
    redis = start_redis(base / "redis", redis_port, appendonly=False)
    mine = msgspec.structs.replace(
        settings,
        redis_url=f"redis://127.0.0.1:{redis_port}/0",
        webhook_allow_private=False,
        allow_private_urls=False,
        allowed_private_networks="",
        rate_limit_per_minute=100_000,  # on, never reached
        **LIMITS,
    )
    backends = Backends.connect(mine)
    port = free_port()
    try:
        api = _start_api(child_env(mine), port, base / "api.log")
    except BaseException:
        redis.stop()
        raise
    yield Hostile(f"http://127.0.0.1:{port}", api, redis, backends, mine)
    api.stop()
    backends.close()
    redis.stop()


@pytest.fixture
def key(hostile: Hostile) -> IssuedKey:
    return hostile.tenant()


@pytest.fixture
def client(hostile: Hostile, key: IssuedKey) -> Iterator[httpx.Client]:
    with hostile.client(key) as c:
        yield c


# -- the table ------------------------------------------------------------------------------------

DEEP_ARRAY = b"[" * 1000 + b"]" * 1000
DEEP_OBJECT = b'{"a":' * 1000 + b"1" + b"}" * 1000
BAD_UTF8 = b'{"identity": "\xff\xfe", "url": "\xff", "sessionId": "\xc3\x28"}'
JSON = {"content-type": "application/json"}
FORM = {"content-type": "application/x-www-form-urlencoded"}
WAV = ("a.wav", b"RIFF" + b"\0" * 64, "audio/wav")


@dataclass(frozen=True)
class Case:
    name: str
    method: str
    path: str
    kwargs: dict[str, Any]
    status: int = 400
    code: str = "INVALID_PARAMETER"
    """For /api/v1/voice routes: a word the `detail` must contain instead."""

    @property
    def voice(self) -> bool:
        return self.path.startswith("/api/v1/voice")


def _json_cases() -> list[Case]:
    bodies = {
        "nested 1000 deep (array)": DEEP_ARRAY,
        "nested 1000 deep (object)": DEEP_OBJECT,
        "invalid UTF-8": BAD_UTF8,
    }
    routes = [
        ("POST", "/v1/recordings"),
        ("POST", "/v1/tokens"),
        ("POST", "/v1/token"),
        ("POST", "/v1/webhooks"),
        ("PUT", "/v1/webhooks/{webhook}"),
        ("POST", "/v1/account/api-keys"),
        ("POST", "/api/v1/voice/callback"),
    ]
    return [
        Case(f"{method} {path} JSON {what}", method, path, {"content": body, "headers": JSON},
             code="JSON" if path.startswith("/api") else "INVALID_PARAMETER")
        for method, path in routes
        for what, body in bodies.items()
    ]  # fmt: skip


def _form_cases() -> list[Case]:
    tags = "INVALID_CUSTOM_TAGS"
    return [
        Case("custom_tags nested 1000 deep", "POST", "/v1/recordings",
             {"files": {"file": WAV, "custom_tags": (None, DEEP_OBJECT)}}, code=tags),
        Case("custom_tags invalid UTF-8", "POST", "/v1/recordings",
             {"files": {"file": WAV, "custom_tags": (None, b'{"a": "\xff"}')}}, code="INVALID_PARAMETER"),
        Case("custom_tags a JSON list", "POST", "/v1/recordings",
             {"json": {"source_url": "https://93.184.215.14/a.wav", "custom_tags": ["a"]}}, code=tags),
        Case("speakers_expected a superscript digit", "POST", "/v1/recordings",
             {"files": {"file": WAV, "diarize": (None, b"true"), "speakers_expected": (None, "²".encode())}}),
        Case("min_speakers an Arabic-Indic digit", "POST", "/v1/recordings",
             {"json": {"source_url": "https://93.184.215.14/a.wav", "diarize": True, "min_speakers": "٣"}}),
        Case("voice form, invalid UTF-8 escape", "POST", "/api/v1/voice/callback",
             {"content": b"sessionId=%ff%fe&isActive=1", "headers": FORM}, code="UTF-8"),
        Case("voice form, raw invalid UTF-8", "POST", "/api/v1/voice/callback",
             {"content": b"sessionId=\xff\xfe&isActive=1", "headers": FORM}, code="UTF-8"),
        Case("voice multipart form, invalid UTF-8", "POST", "/api/v1/voice/callback",
             {"files": {"sessionId": (None, b"\xff\xfe"), "isActive": (None, b"1")}}, code="UTF-8"),
        Case("voice callback as text/plain", "POST", "/api/v1/voice/callback",
             {"content": b"sessionId=x", "headers": {"content-type": "text/plain"}}, status=415, code="JSON"),
        Case("multipart segment header without a colon", "POST", "/v1/recordings",
             {"content": b"--B\r\nno colon here\r\n\r\nx\r\n--B--\r\n",
              "headers": {"content-type": "multipart/form-data; boundary=B"}}),
        Case("multipart with a bad boundary", "POST", "/v1/recordings",
             {"content": b"--\r\n", "headers": {"content-type": b"multipart/form-data; boundary=\xe9\xe9\xe9"}}),
    ]  # fmt: skip


SESSION_IDS = ["a/./b", "..", "a/../b", ".", "...", "a/b", "a\nb", "a\x00b", " ", "x" * 129, "é", "a b", "a%2fb"]


def _session_cases() -> list[Case]:
    return [
        Case(f"voice sessionId {sid[:20]!r}", "POST", "/api/v1/voice/callback",
             {"json": {"sessionId": sid, "isActive": True}}, code="sessionId")
        for sid in SESSION_IDS
    ]  # fmt: skip


LOOPBACK_WEBHOOKS = [
    "http://[::1]:18081/h",
    "http://[::1]/h",
    "http://2130706433/h",
    "http://0x7f000001/h",
    "http://0177.0.0.1/h",
    "http://127.1/h",
    "http://127.0.0.1:18081/h",
    "http://localhost:18081/h",
    "http://user@localhost/h",
    "http://[::ffff:127.0.0.1]/h",
    "http://[::127.0.0.1]/h",
    "http://[::ffff:0:7f00:1]/h",
    "http://[64:ff9b::a9fe:a9fe]/h",
    "http://[64:ff9b::7f00:1]/h",
    "http://[64:ff9b:1::a9fe:a9fe]/h",
    "http://[2002:a9fe:a9fe::1]/h",
    "http://[2002:7f00:1::1]/h",
    "http://[2001:0::1]/h",
    "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/h",
    "http://169.254.169.254/latest/meta-data",
    "http://[fe80::1]/h",
    "http://0.0.0.0:18081/h",
]
BAD_URLS = [
    "https://hooks.example.com/h\r\nX-Injected: 1",
    "https://hooks.example.com/h\nx",
    "https://hooks.example.com/\x00h",
    "https://hooks.example.com/h\tx",
    "https://hooks.exa mple.com/h",
    "http://[::1/",
    "http://[::1]:99999/h",
    "http://host:port/h",
    "ftp://hooks.example.com/h",
    "file:///etc/passwd",
    "http:///h",
]


def _url_cases() -> list[Case]:
    cases = [
        Case(f"webhook url {url}", method, path, {"json": {"url": url}}, code="INVALID_PARAMETER")
        for url in LOOPBACK_WEBHOOKS + BAD_URLS
        for method, path in (("POST", "/v1/webhooks"), ("PUT", "/v1/webhooks/{webhook}"))
    ]
    cases += [Case(f"source_url {url!r}", "POST", "/v1/recordings", {"json": {"source_url": url}}) for url in BAD_URLS]
    cases += [
        Case(f"source_url {url}", "POST", "/v1/recordings", {"json": {"source_url": url}}, code="INVALID_PARAMETER")
        for url in LOOPBACK_WEBHOOKS
    ]  # refused while the client waits, not accepted and failed later
    cases += [
        Case(f"voice recordingUrl {url!r}", "POST", "/api/v1/voice/callback",
             {"json": {"sessionId": f"s{i}", "isActive": False, "recordingUrl": url}}, code="recordingUrl")
        for i, url in enumerate(BAD_URLS[:6])
    ]  # fmt: skip
    return cases


CASES = _json_cases() + _form_cases() + _session_cases() + _url_cases()


def _send(client: httpx.Client, case: Case, webhook: str) -> httpx.Response:
    return client.request(case.method, case.path.format(webhook=webhook), **case.kwargs)


@pytest.fixture
def webhook(client: httpx.Client) -> str:
    created = client.post("/v1/webhooks", json={"url": "https://93.184.215.14/hook"})
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_a_hostile_request_is_a_4xx_with_the_spec_body_and_stores_nothing(
    hostile: Hostile, client: httpx.Client, key: IssuedKey, webhook: str, case: Case
) -> None:
    REPORT.bad_inputs.append(case.name)
    response = _send(client, case, webhook)

    assert response.status_code == case.status, response.text
    body = response.json()
    if case.voice:
        assert set(body) == {"detail"} and case.code.lower() in body["detail"].lower(), body
        message = body["detail"]
    else:
        assert body["error"]["code"] == case.code and body["error"]["status"] == case.status, body
        message = body["error"]["message"]
    assert not NO_LEAKS.search(message), message
    assert "\\x" not in message and "\r" not in message and "\n" not in message
    # Nothing stored: no recording, the one webhook unchanged, no alias (Redis or its copy).
    assert client.get("/v1/recordings").json()["total"] == 0
    hooks = client.get("/v1/webhooks").json()["webhooks"]
    assert [h["url"] for h in hooks] == ["https://93.184.215.14/hook"]
    assert hostile.backends.redis.keys(KEYS.alias(key.tenant_id, "*")) == []
    assert list(hostile.backends.storage.list_keys(f"_system/aliases/{key.tenant_id}:")) == []
    assert list(hostile.backends.storage.list_keys(f"{key.tenant_id}/")) == []


def test_the_table_covers_every_route_of_the_probe() -> None:
    names = " ".join(c.name for c in CASES)
    for route in (
        "POST /v1/recordings",
        "/v1/tokens",
        "/v1/token ",
        "POST /v1/webhooks",
        "PUT /v1/webhooks",
        "callback",
    ):
        assert route in names
    assert len(CASES) >= 100


def test_provider_session_ids_are_accepted_and_backed_up(
    hostile: Hostile, client: httpx.Client, key: IssuedKey
) -> None:
    for sid in (
        "ATVId_8f2c1e",
        "conf_42",
        "v3:AbC-123_x.y",
        "user@pbx.example",
        "3f1e6c2a-1b2c-4d5e-8f90-1a2b3c4d5e6f",
        "a..b",
    ):
        response = client.post("/api/v1/voice/callback", json={"sessionId": sid, "isActive": True})
        assert response.status_code == 200, response.text
        assert response.json()["session_id"] == sid
        assert hostile.backends.storage.get_bytes(f"_system/aliases/{key.tenant_id}:{sid}.json") is not None
        assert client.get(f"/api/v1/voice/recordings/{sid}").json()["status"] == "recording"
    numeric = client.post("/api/v1/voice/callback", data={"sessionId": "12345", "isActive": "1"})
    assert numeric.status_code == 200 and numeric.json()["session_id"] == "12345"


def test_a_public_webhook_target_is_still_accepted(client: httpx.Client) -> None:
    for url in ("https://93.184.215.14/h", "http://[2606:2800:220:1:248:1893:25c8:1946]:8443/h",
                "https://[2002:5db8:d70e::1]/h", "https://hooks.example.invalid/h"):  # fmt: skip
        response = client.post("/v1/webhooks", json={"url": url})
        assert response.status_code == 201, (url, response.text)


# -- stalled uploads ------------------------------------------------------------------------------

PART = b'--BB\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\nContent-Type: audio/wav\r\n\r\n'


def _stall(url: str, key: IssuedKey, body: bytes = PART + b"x" * 65536) -> socket.socket:
    """An upload that sends its headers and part of its body, then nothing more."""
    host, port = url.rsplit("//", 1)[1].split(":")
    auth = base64.b64encode(f"{key.api_key}:{key.api_secret}".encode()).decode()
    head = (
        f"POST /v1/recordings HTTP/1.1\r\nHost: {host}\r\nAuthorization: Basic {auth}\r\n"
        "Content-Type: multipart/form-data; boundary=BB\r\nContent-Length: 1048576\r\n\r\n"
    )
    sock = socket.create_connection((host, int(port)), timeout=10)
    sock.sendall(head.encode() + body)
    return sock


def _answer(sock: socket.socket, timeout: float) -> bytes:
    """The response as far as it comes: headers, then the body the headers announce (it may
    arrive in a segment of its own)."""
    sock.settimeout(timeout)
    answer = b""
    try:
        while chunk := sock.recv(4096):
            answer += chunk
            head, sep, body = answer.partition(b"\r\n\r\n")
            length = re.search(rb"content-length: *(\d+)", head, re.IGNORECASE)
            if sep and (length is None or len(body) >= int(length.group(1))):
                break
    except (TimeoutError, ConnectionError):
        pass
    return answer


def _answers(socks: list[socket.socket], want: int, timeout: float = 10) -> dict[int, bytes]:
    """The answers that have arrived (socket index -> first bytes), once `want` have or time is up."""
    got: dict[int, bytes] = {}
    deadline = time.monotonic() + timeout
    while len(got) < want and time.monotonic() < deadline:
        for i, sock in enumerate(socks):
            if i in got:
                continue
            sock.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                got[i] = sock.recv(4096)
        time.sleep(0.1)
    return got


def _threads_and_rss(pid: int) -> tuple[int, int]:
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    return int(fields["Threads"]), int(fields["VmRSS"].split()[0]) * 1024


def _upload(url: str, key: IssuedKey) -> int:
    with httpx.Client(base_url=url, auth=(key.api_key, key.api_secret), timeout=30) as c:
        return c.post("/v1/recordings", files={"file": WAV}).status_code


def _storm(url: str, key: IssuedKey, count: int) -> list[socket.socket]:
    return [_stall(url, key) for _ in range(count)]


def _close_all(socks: list[socket.socket]) -> None:
    for sock in socks:
        with contextlib.suppress(OSError):
            sock.close()


def _warm_up(hostile: Hostile) -> None:
    """Bring the process to its working size: its thread pools used, every upload code path run,
    and one burst of stalled connections served. The first burst leaves the allocator about 35 KB
    per connection bigger for good (fragmentation: tracemalloc finds no Python object kept); what
    must not happen is growth that stays with every burst, or threads that stay."""
    keys = [hostile.tenant() for _ in range(4)]
    with concurrent.futures.ThreadPoolExecutor(32) as pool:
        list(pool.map(lambda i: _upload(hostile.url, keys[i % 4]), range(64)))
    socks = _storm(hostile.url, keys[0], 500)
    _answers(socks, 500 - MAX_UPLOADS_PER_KEY)
    _close_all(socks)
    time.sleep(3)  # the allocator's trim runs every second here


def _wait_back(pid: int, threads: int, rss: int, timeout: float = 20) -> tuple[int, int]:
    deadline = time.monotonic() + timeout
    while True:
        now = _threads_and_rss(pid)
        if (now[0] <= threads * 1.1 and now[1] <= rss * 1.1) or time.monotonic() > deadline:
            return now
        time.sleep(0.5)


def test_500_stalled_uploads_are_bounded_and_leave_nothing_behind(hostile: Hostile) -> None:
    pid = hostile.api.popen.pid
    _warm_up(hostile)
    base_threads, base_rss = _threads_and_rss(pid)
    attacker, other, third = hostile.tenant(), hostile.tenant(), hostile.tenant()
    REPORT.bad_inputs.append("500 stalled uploads from one key")

    socks = _storm(hostile.url, attacker, 500)
    refused = _answers(socks, 500 - MAX_UPLOADS_PER_KEY)
    assert len(refused) == 500 - MAX_UPLOADS_PER_KEY, f"{len(refused)} answered"
    assert all(a.startswith(b"HTTP/1.1 429") and b"retry-after:" in a.lower() for a in refused.values())
    peak_threads, _ = _threads_and_rss(pid)
    assert peak_threads <= base_threads + MAX_UPLOADS_PER_KEY + 4, (base_threads, peak_threads)
    assert _upload(hostile.url, other) == 201, "a normal upload from another key must succeed meanwhile"

    # The node's bound: another key's stalls take the node's remaining slots, the rest is 503.
    more = _storm(hostile.url, third, MAX_UPLOADS_PER_KEY)
    spare = MAX_UPLOADS - MAX_UPLOADS_PER_KEY
    busy = _answers(more, MAX_UPLOADS_PER_KEY - spare)
    assert len(busy) == MAX_UPLOADS_PER_KEY - spare
    assert all(a.startswith(b"HTTP/1.1 503") and b"retry-after:" in a.lower() for a in busy.values()), busy

    _close_all(socks + more)
    threads, rss = _wait_back(pid, base_threads, base_rss)
    mib = 1 << 20
    print(f"stalled uploads: threads {base_threads} -> {peak_threads} -> {threads}", end=", ")
    print(f"RSS {base_rss // mib} -> {rss // mib} MiB")
    assert threads <= base_threads * 1.1, (base_threads, threads)
    assert rss <= base_rss * 1.1, (base_rss, rss)
    # Nothing of the stalled uploads was stored, and the attacker's slots are free again.
    assert list(hostile.backends.storage.list_keys(f"{attacker.tenant_id}/")) == []
    assert list(hostile.backends.storage.list_keys(f"{third.tenant_id}/")) == []
    assert _upload(hostile.url, attacker) == 201


def test_an_upload_that_stalls_gets_408_and_stores_nothing(hostile: Hostile, key: IssuedKey) -> None:
    REPORT.bad_inputs.append("an upload body that stalls")
    started = time.monotonic()
    sock = _stall(hostile.url, key)
    answer = _answer(sock, READ_TIMEOUT_S + 10)
    sock.close()
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert b'"REQUEST_TIMEOUT"' in answer
    assert time.monotonic() - started < READ_TIMEOUT_S + 5
    assert list(hostile.backends.storage.list_keys(f"{key.tenant_id}/")) == []


def test_a_json_body_that_stalls_gets_408(hostile: Hostile, key: IssuedKey) -> None:
    REPORT.bad_inputs.append("a JSON body that stalls")
    host, port = hostile.url.rsplit("//", 1)[1].split(":")
    auth = base64.b64encode(f"{key.api_key}:{key.api_secret}".encode()).decode()
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(
            f"POST /v1/webhooks HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {auth}\r\n"
            'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"url": '.encode()
        )
        assert _answer(sock, READ_TIMEOUT_S + 10).startswith(b"HTTP/1.1 408")


# -- a hung Redis ---------------------------------------------------------------------------------


def test_ready_names_a_hung_redis_within_three_seconds(hostile: Hostile) -> None:
    REPORT.faults_injected.append("redis SIGSTOP (/ready)")
    assert httpx.get(f"{hostile.url}/ready", timeout=10).status_code == 200
    hostile.redis.signal(signal.SIGSTOP)
    try:
        for _ in range(3):
            started = time.monotonic()
            response = httpx.get(f"{hostile.url}/ready", timeout=30)
            took = time.monotonic() - started
            assert took <= 3.0, f"/ready took {took:.1f} s"
            assert response.status_code == 503
            body = response.json()
            assert body["failing"] == ["redis"] and body["checks"] == {"redis": "unavailable", "storage": "ok"}
    finally:
        hostile.redis.signal(signal.SIGCONT)
    wait_until(lambda: httpx.get(f"{hostile.url}/ready", timeout=10).status_code == 200, hostile.api, timeout=20)


# -- guessing credentials -------------------------------------------------------------------------


def test_failed_authentication_is_throttled_per_address(hostile: Hostile, key: IssuedKey) -> None:
    REPORT.bad_inputs.append(f"{AUTH_FAILURES + 5} wrong secrets from one address")
    try:
        with httpx.Client(base_url=hostile.url, timeout=10) as anon:
            wrong = (key.api_key, "es_wrong")
            codes = [anon.get("/v1/recordings", auth=wrong).status_code for _ in range(AUTH_FAILURES)]
            assert codes == [401] * AUTH_FAILURES
            blocked = anon.get("/v1/recordings", auth=wrong)
            assert blocked.status_code == 429 and blocked.json()["error"]["code"] == "RATE_LIMITED"
            assert 1 <= int(blocked.headers["retry-after"]) <= 60
            # Valid credentials from that address are refused too until the minute ends: a guess
            # that happens to be right is not confirmed.
            right = anon.get("/v1/recordings", auth=(key.api_key, key.api_secret))
            assert right.status_code == 429
            assert anon.post("/v1/recordings", files={"file": WAV}, auth=wrong).status_code == 429
            voice = anon.post("/api/v1/voice/callback", json={"sessionId": "s"}, auth=wrong)
            assert voice.status_code == 429 and set(voice.json()) == {"detail"}
            assert "retry-after" in voice.headers
            bearer = anon.post("/v1/recordings", headers={"Authorization": "Bearer et_x.y"}, files={"file": WAV})
            assert bearer.status_code == 429
    finally:
        for name in hostile.backends.redis.scan_iter(KEYS.auth_failures("*", 0)[:-1] + "*"):
            hostile.backends.redis.delete(name)
    with hostile.client(key) as ok:
        assert ok.get("/v1/recordings").status_code == 200


def test_the_shared_stack_without_rate_limits_does_not_throttle(stack: Any, tenant: IssuedKey) -> None:
    """Rate limiting off (EARSHOT_RATE_LIMIT_PER_MINUTE=0) turns the failed-auth throttle off too."""
    with httpx.Client(base_url=stack.url, timeout=10) as anon:
        codes = {
            anon.get("/v1/recordings", auth=(tenant.api_key, "nope")).status_code for _ in range(AUTH_FAILURES + 3)
        }
    assert codes == {401}
