"""api.listing: the query string of GET /v1/recordings."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest

from api.listing import ListParams, parse_list_params
from engine.errors import InvalidParameter
from engine.recordings.model import Status

TENANT = "tenant-1"


def parse(**params: str) -> ListParams:
    return parse_list_params(params, TENANT)


def ms(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp() * 1000)


def test_without_parameters_the_first_page_of_fifty_is_asked_for() -> None:
    params = parse()

    assert (params.page, params.limit) == (0, 50)
    assert params.query.tenant_id == TENANT
    assert (params.query.offset, params.query.limit) == (0, 50)
    assert (params.query.status, params.query.from_ms, params.query.to_ms) == (None, None, None)


def test_page_and_limit_become_an_offset() -> None:
    params = parse(page="3", limit="20")

    assert (params.page, params.limit) == (3, 20)
    assert (params.query.offset, params.query.limit) == (60, 20)


@pytest.mark.parametrize("limit", ["1", "100"])
def test_limits_at_either_end_of_the_range_are_accepted(limit: str) -> None:
    assert parse(limit=limit).limit == int(limit)


@pytest.mark.parametrize("limit", ["0", "101", "-1", "abc", "1.5", "", " ", "1e2", "0x10"])
def test_a_limit_out_of_range_or_not_an_integer_is_rejected_naming_limit(limit: str) -> None:
    with pytest.raises(InvalidParameter, match="limit"):
        parse(limit=limit)


@pytest.mark.parametrize("page", ["-1", "x", "1.0", ""])
def test_a_negative_or_non_integer_page_is_rejected_naming_page(page: str) -> None:
    with pytest.raises(InvalidParameter, match="page"):
        parse(page=page)


def test_a_page_so_far_out_that_its_offset_is_absurd_is_rejected_naming_page() -> None:
    with pytest.raises(InvalidParameter, match="page"):
        parse(page="999999999", limit="100")


@pytest.mark.parametrize("status", ["processing", "transcribed", "failed"])
def test_each_recording_status_can_be_filtered_on(status: str) -> None:
    assert parse(status=status).query.status == Status(status)


def test_the_seeds_completed_is_an_alias_of_transcribed() -> None:
    params = parse(status="completed")
    assert params.query.status == Status.TRANSCRIBED and params.filters == {"status": "completed"}


@pytest.mark.parametrize("status", ["done", "PROCESSING", "", "Completed"])
def test_any_other_status_is_rejected_naming_status(status: str) -> None:
    with pytest.raises(InvalidParameter, match="status"):
        parse(status=status)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2025-10-01", ms(2025, 10, 1)),
        ("2025-10-01T12:00:00Z", ms(2025, 10, 1, 12)),
        ("2025-10-01T12:00:00+02:00", ms(2025, 10, 1, 10)),
        ("2025-10-01T12:00:00", ms(2025, 10, 1, 12)),
        ("2025-10-01T12:00:00.250Z", ms(2025, 10, 1, 12) + 250),
    ],
    ids=["date", "utc-datetime", "offset-datetime", "naive-datetime-is-utc", "milliseconds"],
)
def test_date_from_accepts_dates_and_datetimes(raw: str, expected: int) -> None:
    assert parse(date_from=raw).query.from_ms == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2025-10-01T12:00:00Z", ms(2025, 10, 1, 12)),
        ("2025-10-01T12:00:00", ms(2025, 10, 1, 12)),
    ],
    ids=["utc-datetime", "naive-datetime-is-utc"],
)
def test_date_to_with_a_time_is_that_exact_moment(raw: str, expected: int) -> None:
    assert parse(date_to=raw).query.to_ms == expected


@pytest.mark.parametrize("raw", ["2025-10-01", "20251001", "2025-W40-3"])
def test_a_date_only_date_to_covers_the_whole_day(raw: str) -> None:
    query = parse(date_to=raw).query

    assert query.to_ms == ms(2025, 10, 2) - 1
    assert query.to_ms == ms(2025, 10, 1, 23, 59, 59) + 999


def test_the_same_day_as_date_from_and_date_to_is_that_whole_day() -> None:
    query = parse(date_from="2025-10-01", date_to="2025-10-01").query

    assert (query.from_ms, query.to_ms) == (ms(2025, 10, 1), ms(2025, 10, 2) - 1)


@pytest.mark.parametrize("name", ["date_from", "date_to"])
@pytest.mark.parametrize(
    "raw", ["yesterday", "2025-13-01", "2025-02-30", "01/10/2025", "", "2025-10-01T25:00:00Z", "1727740800"]
)
def test_a_malformed_date_is_rejected_naming_the_parameter(name: str, raw: str) -> None:
    with pytest.raises(InvalidParameter, match=name):
        parse(**{name: raw})


@pytest.mark.parametrize("name", ["date_from", "date_to"])
@pytest.mark.parametrize("raw", ["0001-01-01", "9999-12-31"])
def test_dates_at_the_ends_of_the_calendar_never_crash(name: str, raw: str) -> None:
    # Either accepted or a 400; an OverflowError here would be a 500.
    try:
        parse(**{name: raw})
    except InvalidParameter as exc:
        assert name in exc.message


def test_date_from_after_date_to_is_rejected() -> None:
    with pytest.raises(InvalidParameter, match="date_from"):
        parse(date_from="2025-10-02", date_to="2025-10-01")


def test_date_from_after_a_date_to_with_a_time_on_the_same_day_is_rejected() -> None:
    with pytest.raises(InvalidParameter, match="date_from"):
        parse(date_from="2025-10-01T12:00:00Z", date_to="2025-10-01T11:59:59Z")


def test_the_page_uri_keeps_every_filter_and_the_limit() -> None:
    params = parse(page="1", limit="10", status="failed", date_from="2025-10-01", date_to="2025-10-31T00:00:00Z")

    uri = urlsplit(params.uri(2))

    assert uri.path == "/v1/recordings"
    assert parse_qs(uri.query) == {
        "page": ["2"],
        "limit": ["10"],
        "status": ["failed"],
        "date_from": ["2025-10-01"],
        "date_to": ["2025-10-31T00:00:00Z"],
    }


def test_a_page_uri_parses_back_to_the_same_query_for_that_page() -> None:
    params = parse(limit="10", status="transcribed", date_from="2025-10-01T00:00:00+02:00")

    again = parse_list_params({k: v[0] for k, v in parse_qs(urlsplit(params.uri(4)).query).items()}, TENANT)

    assert again.page == 4
    assert again.filters == params.filters
    assert again.query.offset == 40
    assert (again.query.status, again.query.from_ms) == (params.query.status, params.query.from_ms)


def test_unknown_query_parameters_do_not_leak_into_page_uris() -> None:
    params = parse(status="failed", secret="x")

    assert "secret" not in params.uri(0)
