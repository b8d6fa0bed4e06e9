"""`Client`: credentials, one pooled HTTP connection, and the `recordings` resource."""

from __future__ import annotations

import json
import mimetypes
import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Literal, Self, TypeAlias, overload
from urllib.parse import quote

import httpx

from earshot_client._resources import Recording, RecordingPage, Transcription
from earshot_client._version import __version__
from earshot_client.errors import ConnectionFailed, ServerError, WaitTimeout, error_from_response

__all__ = ["DEFAULT_BASE_URL", "DEFAULT_TIMEOUT", "Client", "FileInput", "RecordingContext", "Recordings"]

DEFAULT_BASE_URL = "http://127.0.0.1:8000"
DEFAULT_TIMEOUT = 60.0

FileInput: TypeAlias = "str | os.PathLike[str] | bytes | bytearray | memoryview | IO[bytes]"
DateInput: TypeAlias = "str | date | datetime"
TextFormat: TypeAlias = Literal["srt", "vtt", "text"]


def _raw_id(recording_id: str | Recording) -> str:
    rid = recording_id.get("id") if isinstance(recording_id, Recording) else recording_id
    if not isinstance(rid, str) or not rid:
        raise ValueError("a recording id must be a non-empty string")
    return rid


def _path_id(recording_id: str | Recording) -> str:
    """The id as one path segment: a `/` or `..` in it can never reach another route."""
    return quote(_raw_id(recording_id), safe="")


def _date(value: DateInput) -> str:
    return value.isoformat() if isinstance(value, date) else value


class Client:
    """An Earshot API client.

    Credentials and the server come from the arguments or, when omitted, from `EARSHOT_API_KEY`,
    `EARSHOT_API_SECRET` and `EARSHOT_URL` (default `http://127.0.0.1:8000`). `timeout` is in seconds
    (or an `httpx.Timeout`). Close it with `close()` or use it as a context manager.
    """

    def __init__(
        self,
        api_key: str | None = None,
        api_secret: str | None = None,
        base_url: str | None = None,
        *,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        api_key = api_key or os.environ.get("EARSHOT_API_KEY")
        api_secret = api_secret or os.environ.get("EARSHOT_API_SECRET")
        if not api_key or not api_secret:
            raise ValueError(
                "api_key and api_secret are required: pass them, or set EARSHOT_API_KEY and EARSHOT_API_SECRET"
            )
        self.api_key = api_key
        self.base_url = (base_url or os.environ.get("EARSHOT_URL") or DEFAULT_BASE_URL).rstrip("/")
        self._http = httpx.Client(
            base_url=self.base_url,
            auth=httpx.BasicAuth(api_key, api_secret),
            timeout=timeout,
            headers={"User-Agent": f"earshot-client/{__version__}", "Accept": "application/json"},
            follow_redirects=False,
            transport=transport,
        )
        self.recordings = Recordings(self)

    def close(self) -> None:
        """Close the pooled connections; the client cannot be used afterwards."""
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Client(base_url={self.base_url!r}, api_key={self.api_key!r})"

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send one request; a 4xx/5xx raises its typed `EarshotError`, no answer `ConnectionFailed`."""
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            raise ConnectionFailed(f"{method} {self.base_url}{path} timed out: {type(exc).__name__}") from exc
        except httpx.TransportError as exc:
            detail = str(exc) or type(exc).__name__
            raise ConnectionFailed(f"{method} {self.base_url}{path} failed: {detail}") from exc
        if response.status_code >= 400:
            raise error_from_response(response)
        return response

    def request_json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """`request`, then the JSON object of the body."""
        response = self.request(method, path, **kwargs)
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise ServerError("INVALID_RESPONSE", f"expected a JSON object from {method} {path}", response.status_code)
        return body


@contextmanager
def _upload_part(
    file: FileInput, filename: str | None, content_type: str | None
) -> Iterator[tuple[str, bytes | IO[bytes], str]]:
    """The multipart `file` part; a path is opened here (and closed after) so it streams from disk."""
    if isinstance(file, bytes | bytearray | memoryview):
        name = filename or "upload"
        yield name, bytes(file), content_type or _guess_type(name)
        return
    if isinstance(file, str | os.PathLike):
        path = Path(file)
        name = filename or path.name
        with path.open("rb") as handle:
            yield name, handle, content_type or _guess_type(name)
        return
    if not hasattr(file, "read"):
        raise TypeError("file must be a path, bytes, or a binary file object")
    name = filename or Path(str(getattr(file, "name", "") or "upload")).name
    yield name, file, content_type or _guess_type(name)


def _guess_type(filename: str) -> str:
    return mimetypes.guess_type(filename)[0] or "application/octet-stream"


class TranscriptionContext:
    """`client.recordings(id).transcription`."""

    def __init__(self, client: Client, path: str) -> None:
        self._client = client
        self._path = path

    @overload
    def get(self, format: None = None) -> Transcription: ...
    @overload
    def get(self, format: Literal["json"]) -> Transcription: ...
    @overload
    def get(self, format: TextFormat) -> str: ...
    @overload
    def get(self, format: str) -> Transcription | str: ...

    def get(self, format: str | None = None) -> Transcription | str:
        """The transcription; with `format="srt"`, `"vtt"` or `"text"` the document as a string.

        Raises `TranscriptionNotReady` while the recording is processing, `TranscriptionFailed` if it
        failed, `RecordingNotFound` if there is no such recording.
        """
        if format is None or format == "json":
            params = {"format": format} if format else None
            return Transcription(self._client.request_json("GET", self._path, params=params))
        return self._client.request("GET", self._path, params={"format": format}).text


class RecordingContext:
    """`client.recordings(id)`: one recording's actions."""

    def __init__(self, recordings: Recordings, recording_id: str | Recording) -> None:
        self._recordings = recordings
        self.id = _raw_id(recording_id)
        path = f"/v1/recordings/{_path_id(self.id)}/transcription"
        self.transcription = TranscriptionContext(recordings.client, path)

    def get(self) -> Recording:
        return self._recordings.get(self.id)

    def delete(self) -> None:
        self._recordings.delete(self.id)

    def wait(self, *, timeout: float | None = 300.0, poll_interval: float = 1.0) -> Recording:
        return self._recordings.wait(self.id, timeout=timeout, poll_interval=poll_interval)


class Recordings:
    """`client.recordings`: upload, list, get, delete and wait; `client.recordings(id)` for one."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def __call__(self, recording_id: str | Recording) -> RecordingContext:
        return RecordingContext(self, recording_id)

    def create(
        self,
        file: FileInput,
        *,
        filename: str | None = None,
        content_type: str | None = None,
        custom_tags: Mapping[str, str] | None = None,
        language: str | None = None,
        model: str | None = None,
        word_timestamps: bool | None = None,
        initial_prompt: str | None = None,
    ) -> Recording:
        """Upload audio (a path, bytes, or a binary file object, streamed) and queue its transcription.

        The Recording comes back with status `processing`; `wait(id)` or a webhook tells when it is
        done. Options left as None take the server's defaults.
        """
        data: dict[str, str] = {}
        if custom_tags is not None:
            data["custom_tags"] = json.dumps(dict(custom_tags), separators=(",", ":"))
        if language is not None:
            data["language"] = language
        if model is not None:
            data["model"] = model
        if word_timestamps is not None:
            data["word_timestamps"] = "true" if word_timestamps else "false"
        if initial_prompt is not None:
            data["initial_prompt"] = initial_prompt
        with _upload_part(file, filename, content_type) as part:
            body = self.client.request_json("POST", "/v1/recordings", data=data, files={"file": part})
        return Recording(body)

    def list(
        self,
        *,
        limit: int | None = None,
        page: int | None = None,
        status: str | None = None,
        date_from: DateInput | None = None,
        date_to: DateInput | None = None,
    ) -> RecordingPage:
        """The first page (`page`, default 0) of recordings, newest first; iterate it to walk all pages."""
        params: dict[str, str] = {}
        if page is not None:
            params["page"] = str(page)
        if limit is not None:
            params["limit"] = str(limit)
        if status is not None:
            params["status"] = status
        if date_from is not None:
            params["date_from"] = _date(date_from)
        if date_to is not None:
            params["date_to"] = _date(date_to)
        return RecordingPage(self.client.request_json("GET", "/v1/recordings", params=params), self._page)

    def _page(self, uri: str) -> RecordingPage:
        return RecordingPage(self.client.request_json("GET", uri), self._page)

    def get(self, recording_id: str | Recording) -> Recording:
        return Recording(self.client.request_json("GET", f"/v1/recordings/{_path_id(recording_id)}"))

    def delete(self, recording_id: str | Recording) -> None:
        """Delete the recording, its audio and its transcription; a second delete is `RecordingNotFound`."""
        self.client.request("DELETE", f"/v1/recordings/{_path_id(recording_id)}")

    def wait(
        self, recording_id: str | Recording, *, timeout: float | None = 300.0, poll_interval: float = 1.0
    ) -> Recording:
        """Poll until the recording is no longer `processing` and return it (check `.status`).

        Raises `WaitTimeout` (with the last `.recording` seen) after `timeout` seconds; None waits forever.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            recording = self.get(recording_id)
            if recording.get("status") != "processing":
                return recording
            pause = poll_interval
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise WaitTimeout(f"recording {recording.get('id')} still processing after {timeout} s", recording)
                pause = min(pause, remaining)
            time.sleep(max(pause, 0.0))
