"""Response objects: attribute access over the JSON the server sent, so new fields never break them."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Mapping
from typing import Any

__all__ = ["Recording", "RecordingPage", "Resource", "Transcription"]


def _wrap(value: Any) -> Any:
    if isinstance(value, Mapping):
        return Resource(value)
    if isinstance(value, list):
        return [_wrap(v) for v in value]
    return value


class Resource:
    """A JSON object: `r.field` or `r["field"]`; nested objects and lists are wrapped too.

    A field the server did not send raises `AttributeError` (`KeyError` for `r["field"]`);
    `r.get("field")` returns a default instead. `to_dict()` gives a copy of the raw JSON.
    """

    __slots__ = ("_data", "_wrapped")
    _repr_fields: tuple[str, ...] = ()

    def __init__(self, data: Mapping[str, Any]) -> None:
        self._data: dict[str, Any] = dict(data)
        self._wrapped: dict[str, Any] = {}

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):  # private and dunder lookups (copy, pickle) never reach the data
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"{type(self).__name__} has no field {name!r}") from None

    def __getitem__(self, key: str) -> Any:
        # Wrapped once per field: `t.words[i]` in a loop must not re-wrap the whole list each time.
        if key not in self._wrapped:
            self._wrapped[key] = _wrap(self._data[key])
        return self._wrapped[key]

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Resource):
            return self._data == other._data
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable mapping underneath

    def __dir__(self) -> list[str]:
        return sorted({*super().__dir__(), *(k for k in self._data if k.isidentifier())})

    def __getstate__(self) -> dict[str, Any]:
        return self._data

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._data = state
        self._wrapped = {}

    def get(self, key: str, default: Any = None) -> Any:
        return self[key] if key in self._data else default

    def to_dict(self) -> dict[str, Any]:
        """A deep copy of the JSON object as the server sent it."""
        return copy.deepcopy(self._data)

    def __repr__(self) -> str:
        keys = [k for k in self._repr_fields if k in self._data] or list(self._data)
        parts = []
        for key in keys:
            value = self._data[key]
            if isinstance(value, str) and len(value) > 60:
                value = value[:57] + "..."
            parts.append(f"{key}={value!r}")
        return f"{type(self).__name__}({', '.join(parts)})"


class Recording(Resource):
    """A recording: `id`, `status` (processing, transcribed, failed), `custom_tags`, `error`, ..."""

    __slots__ = ()
    _repr_fields = ("id", "status", "original_filename", "duration_seconds", "created_at")


class Transcription(Resource):
    """A transcription: `text`, `language_code`, `confidence`, `words`, `segments`, ..."""

    __slots__ = ()
    _repr_fields = ("id", "recording_id", "language_code", "confidence", "text")


class RecordingPage(Resource):
    """One page of `GET /v1/recordings`; iterating it walks this page and every later one.

    `recordings`, `total`, `page`, `page_size`, `next_page_uri` describe this page only. Iteration
    follows `next_page_uri` and skips an id already yielded (an upload during the walk shifts the
    pages of a newest-first list by one).
    """

    __slots__ = ("_fetch",)

    def __init__(self, data: Mapping[str, Any], fetch: Callable[[str], RecordingPage]) -> None:
        super().__init__(data)
        self._fetch = fetch

    @property
    def recordings(self) -> list[Recording]:
        return [Recording(r) for r in self._data.get("recordings") or []]

    @property
    def total(self) -> int:
        return int(self._data.get("total") or 0)

    @property
    def page(self) -> int:
        return int(self._data.get("page") or 0)

    @property
    def page_size(self) -> int:
        return int(self._data.get("page_size") or 0)

    @property
    def next_page_uri(self) -> str | None:
        uri = self._data.get("next_page_uri")
        return uri if isinstance(uri, str) and uri else None

    def __getstate__(self) -> dict[str, Any]:
        raise TypeError("a RecordingPage holds a connection; pickle page.to_dict() instead")

    def next_page(self) -> RecordingPage | None:
        """The following page, fetched now, or None on the last page."""
        uri = self.next_page_uri
        return self._fetch(uri) if uri else None

    def iter_pages(self) -> Iterator[RecordingPage]:
        """This page, then each following page as it is fetched."""
        page: RecordingPage | None = self
        fetched: set[str] = set()
        while page is not None:
            yield page
            uri = page.next_page_uri
            if uri is None or not page.recordings or uri in fetched:  # never loop on a bad server
                return
            fetched.add(uri)
            page = self._fetch(uri)

    def __iter__(self) -> Iterator[Recording]:
        seen: set[str] = set()
        for page in self.iter_pages():
            for recording in page.recordings:
                rid = recording.get("id")
                if isinstance(rid, str):
                    if rid in seen:
                        continue
                    seen.add(rid)
                yield recording

    def __repr__(self) -> str:
        return (
            f"RecordingPage(page={self.page}, page_size={self.page_size}, total={self.total}, "
            f"next_page_uri={self.next_page_uri!r})"
        )
