"""OpenAI's own SDK (`openai`), unmodified, against Earshot's OpenAI-compatible routes.

The credential is the one string `api_key:api_secret`; `whisper-1` is the default model; each
request becomes an ordinary recording and is answered once its transcription is done.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from benchmarks.wer import wer
from engine.access.keys import IssuedKey
from tests.conftest import Stack

pytestmark = pytest.mark.integration


@pytest.fixture
def client(stack: Stack, tenant: IssuedKey) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(api_key=tenant.bearer, base_url=f"{stack.url}/v1", max_retries=0, timeout=300) as oai:
        yield oai


def test_the_bearer_credential_of_a_new_key_is_its_key_and_secret(tenant: IssuedKey) -> None:
    assert tenant.bearer == f"{tenant.api_key}:{tenant.api_secret}"  # what `earshot keys create` prints


def error_body(exc: openai.APIStatusError) -> dict[str, object]:
    body = exc.response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["message"].strip()
    return dict(body["error"])


def test_json_is_the_transcript_of_jfk_within_the_wer_bound(client: openai.OpenAI, audio_dir: Path) -> None:
    with (audio_dir / "jfk.flac").open("rb") as audio:
        result = client.audio.transcriptions.create(model="whisper-1", file=audio)
    reference = (audio_dir / "jfk.txt").read_text()
    score = wer(reference, result.text)
    print(f"jfk.flac via the OpenAI SDK, json: WER {score:.3f}: {result.text!r}")
    assert score <= 0.15


def test_verbose_json_has_segments_and_timed_words_when_asked(client: openai.OpenAI, audio_dir: Path) -> None:
    with (audio_dir / "jfk.flac").open("rb") as audio:
        result = client.audio.transcriptions.create(
            model="whisper-1",
            file=audio,
            response_format="verbose_json",
            timestamp_granularities=["word", "segment"],
            language="en",
        )
    assert result.language == "english" and 10.5 < result.duration < 11.5
    assert result.segments and result.segments[0].start >= 0 and result.segments[-1].end <= result.duration + 0.5
    words = result.words or []
    assert len(words) >= 20 and [w.word for w in words[:3]] == ["And", "so", "my"]
    assert all(0 <= w.start <= w.end <= result.duration + 0.5 for w in words)
    assert [w.start for w in words] == sorted(w.start for w in words)
    assert "country" in result.text.lower()


def test_verbose_json_without_word_granularity_has_no_words(client: openai.OpenAI, audio_dir: Path) -> None:
    with (audio_dir / "espeak_1.wav").open("rb") as audio:
        result = client.audio.transcriptions.create(model="whisper-1", file=audio, response_format="verbose_json")
    assert result.words is None and result.segments


@pytest.mark.parametrize("response_format", ["text", "srt", "vtt"])
def test_text_and_subtitle_formats_come_back_as_strings(
    client: openai.OpenAI, audio_dir: Path, response_format: str
) -> None:
    with (audio_dir / "jfk.flac").open("rb") as audio:
        result = client.audio.transcriptions.create(
            model="whisper-1",
            file=audio,
            response_format=response_format,  # type: ignore[call-overload]
            prompt="Kennedy, inaugural address",
        )
    assert isinstance(result, str) and "country" in result.lower()
    first_line = result.splitlines()[0]
    assert {"text": "country" in result.lower(), "srt": first_line == "1", "vtt": first_line == "WEBVTT"}[
        response_format
    ]
    if response_format == "srt":
        assert result.splitlines()[1].startswith("00:00:0") and " --> " in result.splitlines()[1]


def test_the_request_is_an_ordinary_recording(client: openai.OpenAI, api: httpx.Client, audio_dir: Path) -> None:
    with (audio_dir / "espeak_2.wav").open("rb") as audio:
        text = client.audio.transcriptions.create(model="tiny.en", file=audio, response_format="text")
    listed = api.get("/v1/recordings").json()["recordings"]
    assert len(listed) == 1 and listed[0]["status"] == "transcribed" and listed[0]["upload_source"] == "openai"
    assert listed[0]["features"]["model"] == "tiny.en"
    transcript = api.get(f"/v1/recordings/{listed[0]['id']}/transcription").json()
    assert transcript["text"].strip() == text.strip()
    assert api.delete(f"/v1/recordings/{listed[0]['id']}").status_code == 204


@pytest.mark.filterwarnings("ignore:deprecated:DeprecationWarning")  # the SDK marks translations deprecated
def test_translation_with_the_english_only_model_is_a_clear_400(client: openai.OpenAI, audio_dir: Path) -> None:
    with (audio_dir / "jfk.flac").open("rb") as audio, pytest.raises(openai.BadRequestError) as refused:
        client.audio.translations.create(model="whisper-1", file=audio)
    error = error_body(refused.value)
    assert error["param"] == "model" and error["type"] == "invalid_request_error"
    assert "tiny.en" in str(error["message"]) and "English-only" in str(error["message"])


def test_a_file_that_is_not_audio_is_an_openai_style_400(client: openai.OpenAI, api: httpx.Client) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        client.audio.transcriptions.create(model="whisper-1", file=("notes.mp3", b"this is not audio at all" * 50))
    error = error_body(refused.value)
    assert (error["code"], error["param"], error["type"]) == ("invalid_audio", "file", "invalid_request_error")
    assert api.get("/v1/recordings").json()["recordings"][0]["error"]["code"] == "INVALID_AUDIO"

    with pytest.raises(openai.BadRequestError) as empty:
        client.audio.transcriptions.create(model="whisper-1", file=("empty.wav", b""))
    assert error_body(empty.value)["code"] == "empty_file"


def test_bad_parameters_are_openai_style_400s_naming_the_parameter(client: openai.OpenAI, audio_dir: Path) -> None:
    wav = ("a.wav", (audio_dir / "espeak_1.wav").read_bytes())
    cases = [
        ({"model": "gpt-9-transcribe"}, "model"),
        ({"model": "whisper-1", "language": "xx"}, "language"),
        ({"model": "whisper-1", "language": "de"}, "language"),  # tiny.en is English-only
        ({"model": "whisper-1", "temperature": 1.5}, "temperature"),
        ({"model": "whisper-1", "response_format": "diarized_json"}, "response_format"),
    ]
    for kwargs, param in cases:
        with pytest.raises(openai.BadRequestError) as refused:
            client.audio.transcriptions.create(file=wav, **kwargs)  # type: ignore[call-overload]
        assert error_body(refused.value)["param"] == param, kwargs


def test_a_wrong_key_is_401_in_openai_shape(stack: Stack, tenant: IssuedKey, audio_dir: Path) -> None:
    wav = ("a.wav", (audio_dir / "espeak_1.wav").read_bytes())
    for credential in (f"{tenant.api_key}:es_wrong", "sk-not-an-earshot-key", f"ek_{uuid.uuid4().hex}:es_x"):
        with openai.OpenAI(api_key=credential, base_url=f"{stack.url}/v1", max_retries=0) as wrong:
            with pytest.raises(openai.AuthenticationError) as refused:
                wrong.audio.transcriptions.create(model="whisper-1", file=wav)
            assert error_body(refused.value)["code"] == "invalid_api_key"
            with pytest.raises(openai.AuthenticationError):
                wrong.models.list()


def test_models_list_works_and_earshots_own_fields_stay(client: openai.OpenAI, api: httpx.Client) -> None:
    ids = [m.id for m in client.models.list()]
    assert ids[0] == "tiny.en" and "whisper-1" in ids
    assert all(m.owned_by == "earshot" and m.object == "model" for m in client.models.list())
    body = api.get("/v1/models").json()
    assert body["object"] == "list" and body["models"][0]["name"] == "tiny.en" and body["models"][0]["default"]


def test_a_model_is_retrieved_by_name_and_an_unknown_one_is_not_found(
    client: openai.OpenAI, api: httpx.Client, audio_dir: Path
) -> None:
    assert [client.models.retrieve(name).id for name in ("tiny.en", "whisper-1")] == ["tiny.en", "whisper-1"]
    with pytest.raises(openai.NotFoundError) as missing:
        client.models.retrieve("whisper-9")
    assert missing.value.response.json()["error"]["code"] == "MODEL_NOT_FOUND"
    # The newer OpenAI names mean the default model too, so clients written for them work.
    text = client.audio.transcriptions.create(
        model="gpt-4o-mini-transcribe", file=("jfk.flac", (audio_dir / "jfk.flac").read_bytes())
    ).text
    assert "country" in text.lower()


def test_the_openai_routes_are_documented_with_their_errors(stack: Stack) -> None:
    paths = httpx.get(f"{stack.url}/schema/openapi.json").json()["paths"]
    for path in ("/v1/audio/transcriptions", "/v1/audio/translations"):
        assert {"200", "400", "401", "504"} <= set(paths[path]["post"]["responses"])
    for path, method in (("/v1/token", "post"), ("/v1/account/api-keys", "get"), ("/v1/webhooks/{webhook_id}", "put")):
        assert method in paths[path]
