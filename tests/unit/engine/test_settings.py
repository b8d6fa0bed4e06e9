"""engine.settings: EARSHOT_* variables in, one typed Settings out, and the README in step."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from engine.settings import CLIENT_VARS, PREFIX, Settings, SettingsError, describe

REPO_ROOT = Path(__file__).resolve().parents[3]


def test_no_variables_gives_the_defaults() -> None:
    assert Settings.from_env({}) == Settings()


def test_variables_are_converted_to_their_setting_types() -> None:
    settings = Settings.from_env(
        {
            "EARSHOT_API_PORT": "8080",
            "EARSHOT_MAX_UPLOAD_BYTES": "1048576",
            "EARSHOT_MAX_AUDIO_SECONDS": "90.5",
            "EARSHOT_S3_SECURE": "true",
            "EARSHOT_VAD_FILTER": "false",
            "EARSHOT_REDIS_URL": "redis://cache:6380/2",
        }
    )

    assert settings.api_port == 8080
    assert settings.max_upload_bytes == 1048576
    assert settings.max_audio_seconds == 90.5
    assert settings.s3_secure is True
    assert settings.vad_filter is False
    assert settings.redis_url == "redis://cache:6380/2"


@pytest.mark.parametrize(("raw", "value"), [("true", True), ("false", False), ("1", True), ("0", False)])
def test_booleans_are_read_from_their_usual_spellings(raw: str, value: bool) -> None:
    assert Settings.from_env({"EARSHOT_S3_SECURE": raw}).s3_secure is value


def test_other_variables_in_the_environment_are_ignored() -> None:
    env = {"PATH": "/usr/bin", "HOME": "/root", "REDIS_URL": "redis://elsewhere", "EARSHOTX": "1"}

    assert Settings.from_env(env) == Settings()


@pytest.mark.parametrize("name", sorted(CLIENT_VARS))
def test_the_client_variables_are_ignored(name: str) -> None:
    assert Settings.from_env({name: "for-the-client", "EARSHOT_API_PORT": "9000"}).api_port == 9000


@pytest.mark.parametrize("name", ["EARSHOT_API_PROT", "EARSHOT_REDIS", "EARSHOT_QUEUE_LIST", "EARSHOT_"])
def test_an_unknown_earshot_variable_is_an_error_naming_it(name: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({name: "1"})

    assert name in str(caught.value)


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("EARSHOT_API_PORT", "0"),
        ("EARSHOT_API_PORT", "abc"),
        ("EARSHOT_API_PORT", "65536"),
        ("EARSHOT_API_PORT", "80.5"),
        ("EARSHOT_API_PORT", ""),
        ("EARSHOT_MAX_UPLOAD_BYTES", "-1"),
        ("EARSHOT_MAX_AUDIO_SECONDS", "0"),
        ("EARSHOT_BEAM_SIZE", "0"),
        ("EARSHOT_JOB_TIME_LIMIT_S", "59"),
        ("EARSHOT_S3_SECURE", "maybe"),
    ],
)
def test_an_invalid_value_is_an_error_naming_the_setting(name: str, raw: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({name: raw})

    assert name.removeprefix(PREFIX).lower() in str(caught.value).lower()


def test_without_a_mapping_the_process_environment_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(PREFIX):
            monkeypatch.delenv(name)
    monkeypatch.setenv("EARSHOT_BEAM_SIZE", "2")

    assert Settings.from_env().beam_size == 2


def test_the_defaults_round_trip_through_the_environment() -> None:
    settings = Settings()

    assert Settings.from_env(settings.to_env()) == settings


def test_changed_settings_round_trip_through_the_environment() -> None:
    settings = Settings(
        redis_url="redis://:p%40ss@cache:6380/2",
        s3_endpoint="s3.example.com:443",
        s3_secure=True,
        s3_region="eu-west-1",
        api_port=9443,
        max_upload_bytes=12345,
        max_audio_seconds=0.25,
        vad_filter=True,
        cpu_threads=3,
        beam_size=1,
        queues="transcribe, webhooks",
        job_time_limit_s=60,
        job_max_retries=0,
        log_level="DEBUG",
    )

    assert Settings.from_env(settings.to_env()) == settings


def test_to_env_writes_one_string_variable_per_setting_with_lowercase_booleans() -> None:
    env = Settings(s3_secure=True).to_env()

    assert set(env) == {name for name, _, _ in describe()}
    assert all(isinstance(value, str) for value in env.values())
    assert (env["EARSHOT_S3_SECURE"], env["EARSHOT_VAD_FILTER"]) == ("true", "false")


def test_every_setting_has_a_description() -> None:
    undocumented = [name for name, _, text in describe() if not text.strip()]

    assert undocumented == []


def test_every_setting_is_documented_in_the_readme() -> None:
    readme = REPO_ROOT / "README.md"
    assert readme.is_file(), f"{readme} is missing"
    text = readme.read_text(encoding="utf-8")

    missing = [name for name, _, _ in describe() if name not in text]

    assert missing == []


def test_the_readme_settings_table_says_what_the_settings_say() -> None:
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| `(EARSHOT_[A-Z0-9_]+)` \| .*? \| (.*?) \|$", text, re.M))

    stale = [name for name, _, description in describe() if rows.get(name) != description]

    assert stale == []
