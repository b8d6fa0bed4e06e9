"""Outbound requests to addresses users give us (source URLs, webhook endpoints): SSRF guard.

Every address a host resolves to must be public unless the operator allows private ones, and the
request then goes to the address that was checked, so a second DNS answer cannot rebind it.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

__all__ = ["Network", "Pinned", "TargetRefused", "is_public", "parse_networks", "permitted", "pin"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class TargetRefused(Exception):
    """The URL may not be requested (scheme, port, resolution, or a private address)."""


@dataclass(frozen=True, slots=True)
class Pinned:
    url: str
    """The URL with the checked address in place of the host name."""
    host_header: str
    server_name: str
    """For TLS SNI and certificate checks: the original host name."""


def is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def parse_networks(text: str) -> tuple[Network, ...]:
    """`10.1.2.0/24, fd00::/8` -> networks; a bare address is a /32 (or /128)."""
    try:
        return tuple(ipaddress.ip_network(part.strip(), strict=False) for part in text.split(",") if part.strip())
    except ValueError as exc:
        raise ValueError(f"invalid network list {text!r}: {exc}") from None


def permitted(address: str, *, allow_private: bool, allowed: tuple[Network, ...] = ()) -> bool:
    if allow_private or is_public(address):
        return True
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return any(ip in network for network in allowed)


def _resolve(host: str, port: int, allow_private: bool, allowed: tuple[Network, ...]) -> str:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise TargetRefused(f"cannot resolve host {host[:100]!r}") from None
    addresses = [str(info[4][0]) for info in infos]
    if not addresses:
        raise TargetRefused(f"cannot resolve host {host[:100]!r}")
    if not all(permitted(a, allow_private=allow_private, allowed=allowed) for a in addresses):
        raise TargetRefused("the URL points to a private or loopback address, which is not allowed")
    return addresses[0]


def pin(url: str, *, allow_private: bool, allowed: tuple[Network, ...] = ()) -> Pinned:
    """Check `url` (every address its host resolves to must be public, or private and allowed)
    and return it with the checked address in place of the name."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetRefused("only http and https URLs with a host are allowed")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise TargetRefused("the URL has an invalid port") from None
    address = _resolve(parts.hostname, port, allow_private, allowed)
    literal = f"[{address}]" if ":" in address else address
    netloc = f"{literal}:{parts.port}" if parts.port else literal
    host_header = parts.netloc.rsplit("@", 1)[-1]
    return Pinned(
        url=urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, "")),
        host_header=host_header,
        server_name=parts.hostname,
    )
