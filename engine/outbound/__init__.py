"""Requests Earshot makes to the outside: the SSRF guard that judges and pins targets (`guard`) and
fetching audio by URL (`fetch`).
"""

from engine.outbound.fetch import check_source_url, fetch_to_storage
from engine.outbound.guard import (
    Network,
    Pinned,
    TargetRefused,
    check_url,
    is_public,
    judge_url,
    parse_networks,
    permitted,
    pin,
)

__all__ = [
    "Network",
    "Pinned",
    "TargetRefused",
    "check_source_url",
    "check_url",
    "fetch_to_storage",
    "is_public",
    "judge_url",
    "parse_networks",
    "permitted",
    "pin",
]
