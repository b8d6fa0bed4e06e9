"""Time in one place: UTC, millisecond precision, so that created_at and the index scores agree."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["from_ms", "to_ms", "utc_now"]


def utc_now() -> datetime:
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def to_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)
