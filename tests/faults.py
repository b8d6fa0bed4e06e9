"""What the fault suite did, printed at the end of the test run (see conftest.pytest_terminal_summary)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx


@dataclass
class FaultReport:
    faults_injected: list[str] = field(default_factory=list)
    bad_inputs: list[str] = field(default_factory=list)
    recordings_lost: int = 0
    server_errors: list[str] = field(default_factory=list)
    """5xx other than 503 SERVICE_UNAVAILABLE (which is the expected answer during an outage)."""
    unavailable_during_outages: int = 0
    recovery_seconds: dict[str, float] = field(default_factory=dict)
    restarts: list[str] = field(default_factory=list)
    """Processes a supervisor (a worker node, `earshot up`) restarted after a fault killed them."""

    def watch(self, response: httpx.Response) -> None:
        if response.status_code == 503:
            self.unavailable_during_outages += 1
        elif response.status_code >= 500:
            self.server_errors.append(
                f"{response.request.method} {response.request.url.path} -> {response.status_code}"
            )

    def lines(self) -> list[str]:
        return [
            f"faults injected: {len(self.faults_injected)} ({', '.join(self.faults_injected) or 'none'})",
            f"bad inputs tried: {len(self.bad_inputs)}",
            f"recordings lost: {self.recordings_lost}",
            f"5xx seen (other than 503 during outages): {len(self.server_errors)} {self.server_errors[:5]}",
            f"503 answers during outages: {self.unavailable_during_outages}",
            f"restarts: {len(self.restarts)} ({', '.join(self.restarts) or 'none'})",
            *(f"recovery after {k}: {v:.1f} s" for k, v in self.recovery_seconds.items()),
        ]


REPORT = FaultReport()


def watched_client(base_url: str, auth: tuple[str, str] | None, timeout: float = 30) -> httpx.Client:
    """An httpx client whose every response is checked for unexpected 5xx."""
    return httpx.Client(
        base_url=base_url,
        auth=auth,
        timeout=timeout,
        event_hooks={"response": [lambda r: REPORT.watch(r)]},
    )


def upload(client: httpx.Client, path: Path) -> httpx.Response:
    with path.open("rb") as fh:
        return client.post("/v1/recordings", files={"file": (path.name, fh)})


def wait_status(client: httpx.Client, ids: list[str], timeout: float = 120) -> dict[str, str]:
    """Each recording's status once none is `processing` (5xx answers meanwhile are waited out)."""
    deadline = time.monotonic() + timeout
    while True:
        statuses = {}
        for rid in ids:
            response = client.get(f"/v1/recordings/{rid}")
            statuses[rid] = response.json()["status"] if response.status_code == 200 else f"http {response.status_code}"
        if all(s != "processing" and not s.startswith("http 5") for s in statuses.values()):
            return statuses
        assert time.monotonic() < deadline, f"still waiting: {statuses}"
        time.sleep(0.2)
