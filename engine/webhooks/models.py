"""What a webhook endpoint, an event and a delivery attempt are, and what a valid endpoint is."""

from __future__ import annotations

import uuid
from datetime import datetime

import msgspec

from engine.errors import InvalidParameter
from engine.outbound.guard import Network, TargetRefused, check_url, judge_url
from engine.recordings.views import RecordingOut

__all__ = [
    "EVENT_ALIASES",
    "EVENT_TYPES",
    "SIGNATURE_SCHEMES",
    "Attempt",
    "Endpoint",
    "Event",
    "EventData",
    "TranscriptionSummary",
    "canonical_event",
    "seed_event_name",
    "validate_endpoint",
    "validate_scheme",
    "validate_secret",
]

EVENT_TYPES: tuple[str, ...] = ("recording.transcribed", "recording.failed")
EVENT_ALIASES: dict[str, str] = {"recording.completed": "recording.transcribed"}
"""The seed's event names, accepted on endpoints and matched as the event they name."""
SIGNATURE_SCHEMES: tuple[str, ...] = ("standard", "vocafuse")
"""`standard`: Standard Webhooks headers only. `vocafuse`: those plus the seed's `X-VocaFuse-Signature`."""
MIN_SECRET, MAX_SECRET = 16, 128
SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret
TIMEOUT_S = 10.0
MAX_ENDPOINTS = 50
KEEP_ATTEMPTS = 500
EVENT_TTL_S = 8 * 86400  # longer than any retry schedule (dramatiq delays are capped at 7 days)
EVENT_NS = uuid.UUID("1d7c54b0-4c8e-4d36-8f0b-3a6f7c2e9b15")


class Endpoint(msgspec.Struct, kw_only=True):
    id: str
    tenant_id: str
    url: str
    events: list[str]
    description: str | None = None
    secret: str
    created_at: datetime
    disabled: bool = False
    disabled_reason: str | None = None
    signature_scheme: str = "standard"


class Attempt(msgspec.Struct, kw_only=True):
    event_id: str
    event_type: str
    attempt: int
    timestamp: datetime
    success: bool
    status_code: int | None = None
    error: str | None = None
    duration_ms: int
    next_retry_at: datetime | None = None


class TranscriptionSummary(msgspec.Struct, kw_only=True, omit_defaults=True):
    id: str
    text: str
    language: str | None
    confidence: float
    uri: str
    speakers: int | None = None
    """How many speakers (`diarize=true`) or channels (`channels=split`) the transcript has."""


class EventData(msgspec.Struct, kw_only=True):
    recording: RecordingOut
    transcription: TranscriptionSummary | None


class Event(msgspec.Struct, kw_only=True):
    type: str
    timestamp: datetime
    data: EventData


def validate_endpoint(
    payload: object, *, allow_private: bool, allowed: tuple[Network, ...] = ()
) -> tuple[str, list[str], str | None]:
    """`url`, `events` and `description` of an endpoint. The URL is judged by the SSRF guard as a
    delivery would judge it (its host resolved now: `127.1`, `0x7f000001` or `localhost` are
    loopback), so an endpoint that could never be delivered to is refused here, not stored.
    Resolves DNS: call it from a thread."""
    if not isinstance(payload, dict):
        raise InvalidParameter("the body must be a JSON object")
    try:
        url = check_url(payload.get("url"))
        judge_url(url, allow_private=allow_private, allowed=allowed)
    except ValueError as exc:
        raise InvalidParameter(f"url {exc}") from None
    except TargetRefused:
        raise InvalidParameter("url points to a private or loopback address, which is not allowed") from None
    events = _events(payload.get("events", list(EVENT_TYPES)))
    description = payload.get("description")
    if description is not None and (not isinstance(description, str) or len(description) > 256):
        raise InvalidParameter("description must be a string of at most 256 characters")
    return url, events, description


def canonical_event(name: str) -> str:
    return EVENT_ALIASES.get(name, name)


def seed_event_name(event_type: str) -> str:
    """The seed's name for one of our event types (`recording.transcribed` → `recording.completed`)."""
    return next((alias for alias, ours in EVENT_ALIASES.items() if ours == event_type), event_type)


def _events(events: object) -> list[str]:
    """The names as the caller gave them (the seed's aliases included), one per event, in our order."""
    known = (*EVENT_TYPES, *EVENT_ALIASES)
    if not isinstance(events, list) or not events or not all(isinstance(e, str) and e in known for e in events):
        raise InvalidParameter(f"events must be a non-empty list of {', '.join(known)}")
    first: dict[str, str] = {}
    for name in events:
        first.setdefault(canonical_event(name), name)
    return [first[t] for t in EVENT_TYPES if t in first]


def validate_secret(secret: object) -> str | None:
    """A caller-chosen signing secret: 16-128 printable characters, no spaces. None: generate one."""
    if secret is None:
        return None
    if (
        not isinstance(secret, str)
        or not MIN_SECRET <= len(secret) <= MAX_SECRET
        or not all(33 <= ord(c) <= 126 for c in secret)
    ):
        raise InvalidParameter(f"secret must be {MIN_SECRET}-{MAX_SECRET} printable ASCII characters without spaces")
    return secret


def validate_scheme(scheme: object, default: str = "standard") -> str:
    if scheme is None:
        return default
    if scheme not in SIGNATURE_SCHEMES:
        raise InvalidParameter(f"signature_scheme must be one of {', '.join(SIGNATURE_SCHEMES)}")
    return str(scheme)


class _RecordingRef(msgspec.Struct):
    id: str | None = None


class _EventDataRef(msgspec.Struct):
    recording: _RecordingRef | None = None


class EventType(msgspec.Struct):
    """What a delivery reads of a stored event: its type, and whose recording it is about."""

    type: str
    data: _EventDataRef | None = None
