"""The scheduler's cursor over a recording: windows from any position, memory flat in length."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from engine.transcription.decoder import CONTEXT_AFTER, CONTEXT_BEFORE
from engine.transcription.scheduler import SAMPLE_RATE, _Cursor

SECOND = SAMPLE_RATE


def blocks(seconds: int, block_seconds: int = 1) -> Iterator[np.ndarray[Any, Any]]:
    rng = np.random.default_rng(3)
    for _ in range(seconds // block_seconds):
        yield (rng.standard_normal(block_seconds * SECOND) * 0.1).astype(np.float32)


def test_the_cursor_covers_every_sample_and_holds_one_window_at_a_time() -> None:
    audio = np.concatenate(list(blocks(600)))
    cursor = _Cursor(blocks(600), max_seconds=30.0)
    covered, held = 0, 0
    while (window := cursor.next_window()) is not None:
        start, samples, final, before, after = window
        assert start == covered and 0 < len(samples) <= 30 * SECOND
        assert final == (start + len(samples) == 600 * SECOND)  # only a window reaching the end is the last
        # The audio either side is the recording's own, for the features at the window's edges.
        assert len(before) == min(start, CONTEXT_BEFORE) and len(after) == min(
            600 * SECOND - start - len(samples), CONTEXT_AFTER
        )
        assert np.array_equal(
            np.concatenate([before, samples, after]), audio[start - len(before) : start + len(samples) + len(after)]
        )
        held = max(held, len(cursor._buffer))
        # The model accounts for all but the last 3 s: the next window starts there again.
        consumed = start + len(samples) - (3 * SECOND if len(samples) > 10 * SECOND else 0)
        covered = consumed
        cursor.advance_to(consumed)
    assert covered == cursor.total == 600 * SECOND
    assert held <= 31 * SECOND + CONTEXT_BEFORE + CONTEXT_AFTER  # one window and one block, whatever the length


def test_a_window_the_model_accounts_for_none_of_still_moves_on() -> None:
    cursor = _Cursor(iter([np.zeros(5, dtype=np.float32)]), max_seconds=30.0)
    window = cursor.next_window()
    assert window is not None
    cursor.advance_to(window[0])  # no progress reported
    assert cursor.position == 1


def test_digital_silence_before_sound_is_a_window_of_its_own() -> None:
    # 95 s of digital silence, then 3 s of sound: the window with the sound opens just before it,
    # never on seconds of nothing (Whisper's first timestamp must fall in a window's first second).
    sound = (np.random.default_rng(1).standard_normal(3 * SECOND) * 0.1).astype(np.float32)
    cursor = _Cursor(iter([np.zeros(95 * SECOND, np.float32), sound]), max_seconds=30.0)
    windows = []
    while (window := cursor.next_window()) is not None:
        windows.append((window.start, len(window.samples), bool(np.any(window.samples))))
        cursor.advance_to(window.start + len(window.samples))
    loud = [(start, length) for start, length, any_sound in windows if any_sound]
    assert len(loud) == 1 and 95 * SECOND - SECOND // 2 <= loud[0][0] < 95 * SECOND
    assert loud[0][0] + loud[0][1] == 98 * SECOND  # the sound is whole, and nothing is left out
    assert sum(length for _, length, _ in windows) == 98 * SECOND
