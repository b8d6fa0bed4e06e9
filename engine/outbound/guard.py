"""Outbound requests to addresses users give us (source URLs, webhook endpoints): SSRF guard.

Every address a host resolves to must be public unless the operator allows private ones, and the
request then goes to the address that was checked, so a second DNS answer cannot rebind it.

An IPv6 address that carries an IPv4 address (IPv4-mapped `::ffff:a.b.c.d`, IPv4-compatible
`::a.b.c.d`, IPv4-translated `::ffff:0:a.b.c.d`, NAT64 `64:ff9b::a.b.c.d`, 6to4 `2002:AABB:CCDD::`)
is judged by that IPv4 address, since that is where the packets end up. Teredo (`2001::/32`) and the
local-use NAT64 prefix (`64:ff9b:1::/48`) are never public: they tunnel to addresses we cannot judge.

URLs are checked for syntax first (`check_url`): http or https, a host, a valid port, and no
whitespace or control characters anywhere (a CR/LF in a stored URL would be a header injection
waiting for a client that sends it raw).
"""

from __future__ import annotations

import base64
import ipaddress
import re
import socket
from dataclasses import dataclass
from typing import NamedTuple
from urllib.parse import SplitResult, unquote, urlsplit, urlunsplit

__all__ = [
    "MAX_URL",
    "Network",
    "Pinned",
    "TargetRefused",
    "TargetUnresolved",
    "check_url",
    "embedded_ipv4",
    "is_public",
    "judge_url",
    "parse_networks",
    "permitted",
    "pin",
]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_URL = 2048
_UNSAFE_URL_CHARS = re.compile(r"[\x00-\x20\x7f-\x9f\u2028\u2029]")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
_IPV4_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NEVER_PUBLIC = (ipaddress.ip_network("2001::/32"), ipaddress.ip_network("64:ff9b:1::/48"))


class TargetRefused(Exception):
    """The URL may not be requested (scheme, port, resolution, or a private address)."""


class TargetUnresolved(TargetRefused):
    """Its host name does not resolve now: a DNS outage or a name not live yet may pass."""


@dataclass(frozen=True, slots=True)
class Pinned:
    url: str
    """The URL with the checked address in place of the host name."""
    host_header: str
    server_name: str
    """For TLS SNI and certificate checks: the original host name."""
    authorization: str | None = None
    """`Basic …` from credentials in the URL (`https://user:secret@host/…`), which the pinned URL drops."""


class _Target(NamedTuple):
    parts: SplitResult
    host: str
    port: int


def check_url(url: object) -> str:
    """Syntax only: an http(s) URL of at most MAX_URL characters with a host and a valid port,
    and no whitespace or control characters. Raises ValueError with a message for the caller."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL:
        raise ValueError(f"must be an http or https URL of at most {MAX_URL} characters")
    if _UNSAFE_URL_CHARS.search(url):
        raise ValueError("must not contain whitespace or control characters")
    _target(url, ValueError)
    return url


def _target(url: str, error: type[Exception]) -> _Target:
    try:
        parts = urlsplit(url)
        port = parts.port
        host = parts.hostname
    except ValueError:  # "Invalid IPv6 URL", a port out of range or not a number
        raise error("is not a valid URL (check the host and the port)") from None
    if parts.scheme not in ("http", "https") or not host:
        raise error("must be an http or https URL with a host")
    return _Target(parts, host, port or (443 if parts.scheme == "https" else 80))


def _address(address: str) -> IPAddress:
    return ipaddress.ip_address(address.split("%", 1)[0])


def embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, compatible, translated, NAT64, 6to4)."""
    if isinstance(ip, ipaddress.IPv4Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _IPV4_COMPATIBLE or ip in _IPV4_TRANSLATED or ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def is_public(address: str) -> bool:
    """A global unicast address; an IPv6 form of an IPv4 address is judged by that IPv4 address.
    Raises ValueError when `address` is not an IP address."""
    ip = _address(address)
    if any(ip in network for network in _NEVER_PUBLIC):
        return False
    inner = embedded_ipv4(ip)
    judged: IPAddress = inner if inner is not None else ip
    return judged.is_global and not judged.is_multicast


def parse_networks(text: str) -> tuple[Network, ...]:
    """`10.1.2.0/24, fd00::/8` -> networks; a bare address is a /32 (or /128)."""
    try:
        return tuple(ipaddress.ip_network(part.strip(), strict=False) for part in text.split(",") if part.strip())
    except ValueError as exc:
        raise ValueError(f"invalid network list {text!r}: {exc}") from None


def permitted(address: str, *, allow_private: bool, allowed: tuple[Network, ...] = ()) -> bool:
    if allow_private or is_public(address):
        return True
    ip = _address(address)
    inner = embedded_ipv4(ip)
    return any(ip in network or (inner is not None and inner in network) for network in allowed)


def _resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        raise TargetUnresolved(f"cannot resolve host {host[:100]!r}") from None
    except UnicodeError:
        raise TargetRefused(f"cannot resolve host {host[:100]!r}") from None
    addresses = [str(info[4][0]) for info in infos]
    if not addresses:
        raise TargetUnresolved(f"cannot resolve host {host[:100]!r}")
    return addresses


def _judge(addresses: list[str], allow_private: bool, allowed: tuple[Network, ...]) -> None:
    if not all(permitted(a, allow_private=allow_private, allowed=allowed) for a in addresses):
        raise TargetRefused("the URL points to a private or loopback address, which is not allowed")


def judge_url(url: str, *, allow_private: bool, allowed: tuple[Network, ...] = ()) -> None:
    """What `pin` would decide now, for a URL stored to be requested later (a webhook endpoint):
    refused if any address its host resolves to is refused. A host that does not resolve (yet)
    passes: it is judged again, like every target, when it is requested."""
    target = _target(url, TargetRefused)
    if allow_private:
        return
    try:
        addresses = _resolve(target.host, target.port)
    except TargetRefused:
        return
    _judge(addresses, allow_private, allowed)


def pin(url: str, *, allow_private: bool, allowed: tuple[Network, ...] = ()) -> Pinned:
    """Check `url` (every address its host resolves to must be public, or private and allowed)
    and return it with the checked address in place of the name: the request goes to exactly the
    address that was judged."""
    if _UNSAFE_URL_CHARS.search(url):
        raise TargetRefused("the URL contains whitespace or control characters")
    target = _target(url, TargetRefused)
    addresses = _resolve(target.host, target.port)
    _judge(addresses, allow_private, allowed)
    address = addresses[0]
    parts = target.parts
    literal = f"[{address}]" if ":" in address else address
    netloc = f"{literal}:{parts.port}" if parts.port else literal
    host_header = parts.netloc.rsplit("@", 1)[-1]
    authorization = None
    if parts.username is not None or parts.password is not None:
        pair = f"{unquote(parts.username or '')}:{unquote(parts.password or '')}"
        authorization = "Basic " + base64.b64encode(pair.encode()).decode()
    return Pinned(
        url=urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, "")),
        host_header=host_header,
        server_name=target.host,
        authorization=authorization,
    )
