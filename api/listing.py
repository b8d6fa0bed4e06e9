"""GET /v1/recordings query parsing and the pagination fields of the response."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from urllib.parse import urlencode

from engine.clock import to_ms
from engine.errors import InvalidParameter
from engine.index.protocol import PageQuery
from engine.recordings.model import Status

__all__ = ["ListParams", "parse_list_params"]

MAX_LIMIT = 100
DEFAULT_LIMIT = 50
_FILTERS = ("status", "date_from", "date_to")
STATUS_ALIASES = {"completed": "transcribed"}
"""The seed's status names (its SDK filters on `completed`)."""


@dataclass(frozen=True)
class ListParams:
    page: int
    limit: int
    filters: dict[str, str]
    query: PageQuery
    after: str | None = None

    def uri(self, page: int, after: str | None = None) -> str:
        params = {"page": str(page), "limit": str(self.limit), **self.filters}
        if after:
            params["after"] = after
        return "/v1/recordings?" + urlencode(params)


def _int(params: Mapping[str, str], name: str, default: int, low: int, high: int | None) -> int:
    raw = params.get(name)
    if raw is None:
        return default
    if not re.fullmatch(r"[0-9]{1,9}", raw.strip()):
        raise InvalidParameter(f"{name} must be an integer" + (f" from {low} to {high}" if high else f" ≥ {low}"))
    value = int(raw)
    if value < low or (high is not None and value > high):
        raise InvalidParameter(f"{name} must be from {low} to {high}" if high else f"{name} must be ≥ {low}")
    return value


def _day(raw: str) -> date | None:
    try:
        return date.fromisoformat(raw)
    except ValueError:
        return None


def _moment(name: str, raw: str, *, end_of_day: bool) -> int:
    raw = raw.strip()
    try:
        day = _day(raw)  # a date alone (2025-10-01, 20251001, 2025-W40-3) is that whole day
        if day is not None:
            if end_of_day:
                return to_ms(datetime.combine(day, time.max, UTC))
            return to_ms(datetime.combine(day, time(), UTC))
        moment = datetime.fromisoformat(raw)
    except (ValueError, OverflowError):
        raise InvalidParameter(f"{name} must be an ISO 8601 date or datetime, e.g. 2025-10-01") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return to_ms(moment)


def parse_list_params(params: Mapping[str, str], tenant_id: str) -> ListParams:
    page = _int(params, "page", 0, 0, None)
    limit = _int(params, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    status = params.get("status")
    status = STATUS_ALIASES.get(status, status) if status is not None else None
    if status is not None and status not in {s.value for s in Status}:
        raise InvalidParameter("status must be one of processing, transcribed (or completed), failed")
    from_ms = _moment("date_from", params["date_from"], end_of_day=False) if "date_from" in params else None
    to_ms_ = _moment("date_to", params["date_to"], end_of_day=True) if "date_to" in params else None
    if from_ms is not None and to_ms_ is not None and from_ms > to_ms_:
        raise InvalidParameter("date_from must not be after date_to")
    if page * limit > 10**9:
        raise InvalidParameter("page is too large")
    query = PageQuery(
        tenant_id=tenant_id,
        offset=page * limit,
        limit=limit,
        status=Status(status) if status else None,
        from_ms=from_ms,
        to_ms=to_ms_,
    )
    after = params.get("after")
    if after is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", after):
        raise InvalidParameter("after must be a recording id")
    filters = {k: params[k] for k in _FILTERS if k in params}
    return ListParams(
        page=page, limit=limit, filters=filters, query=dataclasses.replace(query, after=after), after=after
    )
