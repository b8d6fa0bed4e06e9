"""engine.recordings.telephony: which provider session ids a callback may carry."""

from __future__ import annotations

import pytest

from engine.errors import InvalidParameter
from engine.recordings.telephony import check_session_id, parse_callback

GOOD = ["ATVId_8f2c1e", "conf_42", "v3:AbC-123_x.y", "user@pbx.example", "a..b", "x" * 128, "12345", "a.", ".a"]
BAD = ["a/./b", "..", "a/../b", ".", "...", "a/b", "a\nb", "a\x00b", "", " ", "x" * 129, "é", "a b", "a%2fb", "a\\b"]


@pytest.mark.parametrize("session", GOOD)
def test_provider_ids_are_accepted(session: str) -> None:
    assert check_session_id(session) == session


@pytest.mark.parametrize("session", BAD)
def test_path_segments_separators_and_control_characters_are_refused(session: str) -> None:
    with pytest.raises(InvalidParameter, match="sessionId"):
        check_session_id(session)


def test_numbers_are_ids_but_booleans_and_objects_are_not() -> None:
    assert check_session_id(12345) == "12345"
    for value in (True, None, {"a": 1}, ["a"], 1.5):
        with pytest.raises(InvalidParameter):
            check_session_id(value)


def test_a_recording_url_with_control_characters_is_refused_naming_it() -> None:
    with pytest.raises(InvalidParameter, match="recordingUrl"):
        parse_callback({"sessionId": "s1", "recordingUrl": "https://h.example/a\r\nX: y"})
    with pytest.raises(InvalidParameter, match="recordingUrl"):
        parse_callback({"sessionId": "s1", "recordingUrl": "http://[::1/"})
