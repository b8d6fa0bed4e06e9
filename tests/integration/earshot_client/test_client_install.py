"""`earshot_client` installs on its own: a fresh virtual environment gets httpx and nothing of the
server, and a round trip against the live stack works from there."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import venv
from pathlib import Path

import pytest

from tests.conftest import ROOT, Stack, require

pytestmark = pytest.mark.integration

WHEELHOUSE = ROOT / ".venv" / "wheelhouse"
SERVER_PACKAGES = {
    "earshot",
    "faster-whisper",
    "ctranslate2",
    "litestar",
    "dramatiq",
    "redis",
    "minio",
    "msgspec",
    "numpy",
    "uvicorn",
    "ffmpeg-python",
    "prometheus-client",
    "onnxruntime",
    "av",
}

ROUND_TRIP = textwrap.dedent(
    """
    import sys
    import earshot_client
    from earshot_client import Client

    url, key, secret, audio = sys.argv[1:5]
    with Client(api_key=key, api_secret=secret, base_url=url) as client:
        recording = client.recordings.create(audio)
        done = client.recordings.wait(recording.id, timeout=120)
        text = client.recordings(recording.id).transcription.get().text
        listed = [r.id for r in client.recordings.list(limit=10)]
        client.recordings(recording.id).delete()
    print(earshot_client.__file__)
    print(done.status, recording.id in listed)
    print(text)
    """
)


def run(*args: str | Path, cwd: Path) -> str:
    result = subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_the_client_installs_alone_and_round_trips(stack: Stack, tmp_path: Path, audio_dir: Path) -> None:
    require(f"the client's dependency wheels in {WHEELHOUSE}", WHEELHOUSE.is_dir())
    dist = tmp_path / "dist"
    run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", dist,
        ROOT / "earshot_client", cwd=tmp_path)  # fmt: skip
    env_dir = tmp_path / "client-venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    run(python, "-m", "pip", "install", "-q", "--no-index", "--find-links", WHEELHOUSE, "--find-links", dist,
        "earshot-client", cwd=tmp_path)  # fmt: skip
    installed = {p["name"].lower() for p in json.loads(run(python, "-m", "pip", "list", "--format=json", cwd=tmp_path))}
    assert "earshot-client" in installed and "httpx" in installed
    assert installed & SERVER_PACKAGES == set(), installed
    key = stack.tenant("client-only")
    script = tmp_path / "round_trip.py"
    script.write_text(ROUND_TRIP)
    out = run(python, "-I", script, stack.url, key.api_key, key.api_secret, audio_dir / "jfk.flac", cwd=tmp_path)
    location, outcome, text = out.splitlines()[:3]
    assert str(env_dir) in location  # imported from the fresh venv, not the checkout
    assert outcome == "transcribed True"
    assert "country" in text.lower()
