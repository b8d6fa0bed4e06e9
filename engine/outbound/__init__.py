"""Requests Earshot makes to the outside: the SSRF guard that judges and pins targets (`guard`) and
fetching audio by URL (`fetch`).
"""

from engine.outbound.fetch import check_source_url, fetch_to_storage
from engine.outbound.guard import Network, Pinned, TargetRefused, is_public, parse_networks, permitted, pin

__all__ = [
    "Network",
    "Pinned",
    "TargetRefused",
    "check_source_url",
    "fetch_to_storage",
    "is_public",
    "parse_networks",
    "permitted",
    "pin",
]
