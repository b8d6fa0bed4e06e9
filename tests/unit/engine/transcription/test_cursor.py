"""The scheduler's cursor over a recording: windows from any position, memory flat in length."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from engine.transcription.scheduler import SAMPLE_RATE, _Cursor

SECOND = SAMPLE_RATE


def blocks(seconds: int, block_seconds: int = 1) -> Iterator[np.ndarray[Any, Any]]:
    rng = np.random.default_rng(3)
    for _ in range(seconds // block_seconds):
        yield (rng.standard_normal(block_seconds * SECOND) * 0.1).astype(np.float32)


def test_the_cursor_covers_every_sample_and_holds_one_window_at_a_time() -> None:
    cursor = _Cursor(blocks(600), max_seconds=30.0)
    covered, held = 0, 0
    while (window := cursor.next_window()) is not None:
        start, samples = window
        assert start == covered and 0 < len(samples) <= 30 * SECOND
        held = max(held, len(cursor._buffer))
        # The model accounts for all but the last 3 s: the next window starts there again.
        consumed = start + len(samples) - (3 * SECOND if len(samples) > 10 * SECOND else 0)
        covered = consumed
        cursor.advance_to(consumed)
    assert covered == cursor.total == 600 * SECOND
    assert held <= 31 * SECOND + 1  # one window and one block, whatever the length


def test_a_window_the_model_accounts_for_none_of_still_moves_on() -> None:
    cursor = _Cursor(iter([np.zeros(5, dtype=np.float32)]), max_seconds=30.0)
    window = cursor.next_window()
    assert window is not None
    cursor.advance_to(window[0])  # no progress reported
    assert cursor.position == 1
